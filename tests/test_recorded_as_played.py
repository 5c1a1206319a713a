"""A recording read as its recorder wrote it (pass R3): a Schemathesis answer stored decoded under the server's own
`Content-Encoding`, a text decoded by a one-byte charset, a Content-Type judged whatever the body, and one exchange
recorded in two files judged once."""

from __future__ import annotations

import base64
import gzip
import json

import pytest

from migma_contract import contract_for
from migma_contract.traffic.recordings import open_recording
from migma_contract.traffic.tally import ObservedExchange, TrafficJudge

from .test_recorded_bounds import _SCHEMATHESIS_ITEM, OK, URL, VALID, _vcr_item, entry, har, judge_cli
from .test_recordings import schemathesis_recordings  # noqa: F401  (a fixture: the real tool's cassette and HAR)

# a 200 whose body breaks result-has-id (no data.id): the server's break, whatever the recorder
NO_ID = '{"success": true, "data": {"status": "queued"}, "error": null}'


def _schemathesis(path, answer, *, headers=("      Content-Type: ['application/json']",), encoding="'utf-8'",
                  layout="string", request=VALID, recorded_at="2026-12-06T00:00:00.123456+00:00"):
    """A Schemathesis cassette of one send answered 200 with `answer` (text) under `headers` (its lines)."""
    lines = []
    for line in _SCHEMATHESIS_ITEM:
        if line.startswith("  recorded_at:"):
            line = f"  recorded_at: '{recorded_at}'"
        elif line.startswith("      string: ") and lines[-1] == "      encoding: 'utf-8'" and "  response:" not in lines:
            line = f"      string: {json.dumps(json.dumps(request))}"
        elif line == "      Content-Type: ['application/json']" and "  response:" in lines:
            lines.extend(headers)
            continue
        elif line == f"      string: {json.dumps(OK)}":
            lines[-1] = f"      encoding: {encoding}"
            line = (f"      base64_string: '{base64.b64encode(answer if isinstance(answer, bytes) else answer.encode()).decode()}'"
                    if layout == "base64" else f"      string: {json.dumps(answer)}")
        lines.append(line)
    path.write_text("\n".join(["http_interactions:", *lines, ""]))
    return path


def _findings(report_dir):
    data = json.loads((report_dir / "conformance.json").read_text())
    return {(f["rule"], f["broken_by"]) for f in data["findings"]}, data


# --- F3: a Schemathesis answer is stored decoded under the server's Content-Encoding ------------------------------------


@pytest.mark.parametrize("layout", ["string", "base64"])
@pytest.mark.parametrize("coding", ["gzip", "br", "deflate"])
def test_r3_f3_a_schemathesis_answer_of_a_compressing_server_is_judged_as_stored_decoded(tmp_path, layout, coding):
    """Pass R3, F3: Schemathesis writes `response.content` (requests and httpx decoded it) under the server's own
    `Content-Encoding: gzip`; the toolkit read a cassette as the bytes as sent, tried to gunzip JSON text, and left
    every answer of a compressing server judged in part: a 200 without data.id was exit 3, never the server's break."""
    headers = ("      Content-Type: ['application/json']", f"      Content-Encoding: ['{coding}']")
    path = _schemathesis(tmp_path / "st.yaml", NO_ID, headers=headers, layout=layout)
    (exchange,) = open_recording(path).exchanges()
    assert exchange.response_body == NO_ID.encode() and exchange.unread is None, exchange
    result = judge_cli(path, "--report-dir", tmp_path / "r")
    found, _ = _findings(tmp_path / "r")
    assert result.exit_code == 1 and ("result-has-id", "server") in found, result.output


def test_r3_f3_a_schemathesis_answer_kept_compressed_is_judged_in_part(tmp_path):
    """Schemathesis' WSGI client keeps the app's bytes, its requests client decodes them: the file does not say which.
    A gzip stream under `Content-Encoding: gzip` was decoded by its look; since pass Z3, F4 (a server gzipping twice
    under one label passed that way) it is never decoded again: judged in part, "it may still be coded"."""
    headers = ("      Content-Type: ['application/json']", "      Content-Encoding: ['gzip']")
    path = _schemathesis(tmp_path / "wsgi.yaml", gzip.compress(OK.encode()), headers=headers, layout="base64")
    (exchange,) = open_recording(path).exchanges()
    assert exchange.response_body is None and "may still be coded" in (exchange.unread or ""), exchange


def _vcrpy(path, body_line, *, length=None, stub="requests"):
    """A vcrpy cassette of one send answered gzip; `stub`: "requests" records the client's own headers (User-Agent,
    Accept-Encoding), "aiohttp" only those its caller passed (vcrpy's aiohttp stub)."""
    headers = "{Content-Type: [application/json], Content-Encoding: [gzip]" + (
        f", Content-Length: ['{length}']" if length is not None else "") + "}"
    answer = [f"    body: {body_line}", f"    headers: {headers}", "    status: {code: 200, message: OK}"]
    lines = _vcr_item(VALID, answer=answer)
    if stub == "aiohttp":
        lines = [line for line in lines if "User-Agent" not in line and "Accept-Encoding" not in line]
    path.write_text("\n".join(["interactions:", *lines, "version: 1", ""]))
    return path


def test_r3_f3_a_vcrpy_aiohttp_answer_stored_decoded_is_told_by_its_content_length(tmp_path):
    """Pass R3, F3: vcrpy's aiohttp stub records `await response.read()` (decoded) under the server's headers, its
    Content-Length the compressed size kept: a body not that long was stored decoded and is judged as it is. A body as
    long as its Content-Length, or with none (chunked), is taken as sent: not in its coding, judged in part."""
    zipped = gzip.compress(NO_ID.encode())
    path = _vcrpy(tmp_path / "aiohttp.yaml", "{string: " + json.dumps(NO_ID) + "}", length=len(zipped), stub="aiohttp")
    (exchange,) = open_recording(path).exchanges()
    assert exchange.response_body == NO_ID.encode() and exchange.unread is None, exchange
    result = judge_cli(path, "--report-dir", tmp_path / "r")
    assert result.exit_code == 1 and ("result-has-id", "server") in _findings(tmp_path / "r")[0], result.output
    for name, length in (("same.yaml", len(NO_ID)), ("none.yaml", None)):
        (exchange,) = open_recording(_vcrpy(tmp_path / name, "{string: " + json.dumps(NO_ID) + "}", length=length)).exchanges()
        assert exchange.response_body is None and "Content-Encoding" in (exchange.unread or ""), exchange
    # the bytes as sent, in their coding (requests', urllib3's and httpx's stubs): decoded
    binary = "{string: !!binary " + base64.b64encode(zipped).decode() + "}"
    (exchange,) = open_recording(_vcrpy(tmp_path / "raw.yaml", binary, length=len(zipped))).exchanges()
    assert exchange.response_body == NO_ID.encode() and exchange.unread is None, exchange


def test_s1_f3_a_vcrpy_aiohttp_answer_without_a_length_is_told_by_the_headers_its_stub_records(tmp_path):
    """Pass S1, F3 and S3, F2/F5: a compressing server that streams (nginx gzip: chunked, no Content-Length) recorded by
    vcrpy's aiohttp stub (decoded) was read as bytes as sent, gunzipped, and judged in part: a 200 without data.id was
    exit 3. The first fix looked for aiohttp's User-Agent, which that stub never records (a real aiohttp 3.14 + vcrpy
    9.4 cassette still exit 3), and a requests cassette whose User-Agent merely held `aiohttp/` went green. The stub
    records only the headers its caller passed: no User-Agent and no Accept-Encoding (requests', urllib3's and httpx's
    stubs record the client's own) was the next mark, but a recorder filtering those made a lying gzip server green
    (S4, F4): the mark is positive, a request body kept as a mapping (aiohttp's `json=`, this cassette's real shape)."""
    path = tmp_path / "aiohttp.yaml"
    path.write_text("\n".join([
        "interactions:", "- request:", "    body:", "      emailId: email_welcome", "      from: news@example.com",
        "      fromName: News", "      recipientEmail: ann@example.com", "      recipientType: email", "      subject: Hello",
        "    headers:", "      Authorization:", "      - Bearer mc_live_recorded_9f8e7d6c5b4a", "    method: POST",
        f"    uri: {URL}", "  response:", "    body:", "      string: " + json.dumps(NO_ID), "    headers:",
        "      Content-Encoding:", "      - gzip", "      Content-Type:", "      - application/json", "      Transfer-Encoding:",
        "      - chunked", "    status:", "      code: 200", "      message: OK", "version: 1", ""]))
    (exchange,) = open_recording(path).exchanges()
    assert exchange.response_body == NO_ID.encode() and exchange.unread is None, exchange
    result = judge_cli(path, "--report-dir", tmp_path / "r")
    assert result.exit_code == 1 and ("result-has-id", "server") in _findings(tmp_path / "r")[0], result.output
    # a requests cassette (its own User-Agent recorded, whatever it says) of plain JSON labelled gzip: not its coding,
    # judged in part, never green
    spoofed = _vcrpy(tmp_path / "spoof.yaml", "{string: " + json.dumps(OK) + "}")
    spoofed.write_text(spoofed.read_text().replace("python-requests/2.32.3", "python-requests/2.32.3 aiohttp/3.10"))
    (exchange,) = open_recording(spoofed).exchanges()
    assert exchange.response_body is None and "Content-Encoding" in (exchange.unread or ""), exchange
    # Pass S4, F4: a cassette whose recorder filtered User-Agent and Accept-Encoding (or one written by hand) is no
    # evidence of the aiohttp stub: a server's plain JSON under a gzip label is not its coding, never green
    filtered = _vcrpy(tmp_path / "filtered.yaml", "{string: " + json.dumps(OK) + "}", stub="aiohttp")
    (exchange,) = open_recording(filtered).exchanges()
    assert exchange.response_body is None and "Content-Encoding" in (exchange.unread or ""), exchange


# --- F6: a one-byte charset's text gives its bytes back; content-type-json judged from the header ----------------------


@pytest.mark.parametrize(("content_type", "text"), [
    ("text/html", "<html><body>app</body></html>"),
    ("text/plain", OK),
])
def test_r3_f6_a_schemathesis_text_answer_without_charset_is_judged_on_its_content_type(tmp_path, content_type, text):
    """Pass R3, F6: requests decodes a `text/*` answer without a charset as ISO-8859-1 (every byte one character:
    lossless) and Schemathesis writes `encoding: 'ISO-8859-1'`; the toolkit called any charset but UTF-8 lossy, and
    left content-type-json unjudged with the body: a server answering a send with its SPA's HTML page was exit 3."""
    headers = (f"      Content-Type: ['{content_type}']",)
    path = _schemathesis(tmp_path / "html.yaml", text, headers=headers, encoding="'ISO-8859-1'")
    (exchange,) = open_recording(path).exchanges()
    assert exchange.response_body == text.encode("latin-1") and exchange.unread is None, exchange
    result = judge_cli(path, "--report-dir", tmp_path / "r")
    assert result.exit_code == 1 and ("content-type-json", "server") in _findings(tmp_path / "r")[0], result.output


def test_r3_f6_latin1_text_gives_back_its_bytes(tmp_path):
    """A Latin-1 answer (`ü` one byte) written as the text it decodes to is its bytes again: no UTF-8, so no JSON
    (RFC 8259 §8.1: a client's `.json()` fails), content-type-json broken by the server."""
    text = OK.replace('"queued"', '"Ung\u00fcltig"')
    path = _schemathesis(tmp_path / "latin.yaml", text, encoding="'ISO-8859-1'")
    (exchange,) = open_recording(path).exchanges()
    assert exchange.response_body == text.encode("latin-1") and exchange.unread is None, exchange
    result = judge_cli(path, "--report-dir", tmp_path / "r")
    assert result.exit_code == 1 and ("content-type-json", "server") in _findings(tmp_path / "r")[0], result.output


def _not_recorded(content_type, *, status=200):
    return ObservedExchange("POST", URL, [("Content-Type", "application/json"), ("Authorization", "Bearer k_recorded_0123")],
                            json.dumps(VALID).encode(), status, [("Content-Type", content_type)], None, elapsed=0.01,
                            where="test exchange")


def test_r3_f6_a_content_type_that_is_no_jsons_breaks_content_type_json_whatever_the_body():
    """Pass R3, F6: an answer whose body was not recorded (or not read) left content-type-json unjudged, though a
    `Content-Type: text/html` breaks it whatever the body. A JSON Content-Type leaves it to the body: unjudged."""
    judge = TrafficJudge(contract_for(), "documented", kind="recorded", label="test")
    verdict = judge.observe(_not_recorded("text/html; charset=utf-8"))
    broken = {(j.rule_id, j.party) for j in verdict.judgements if not j.ok}
    assert broken == {("content-type-json", "server")}, verdict.judgements
    verdict = judge.observe(_not_recorded("application/json"))
    assert "content-type-json" not in {j.rule_id for j in verdict.judgements}, verdict.judgements
    assert all(j.ok for j in verdict.judgements)
    result = judge.result()
    assert result.exit_code == 1 and result.traffic is not None and result.traffic.partly_judged == 2


# --- F2b: one exchange recorded in two files is judged once ------------------------------------------------------------


@pytest.mark.e2e
def test_r3_f2b_a_schemathesis_runs_cassette_and_har_judged_together_are_each_exchange_once(
        schemathesis_recordings, tmp_path):  # noqa: F811  (the fixture, imported)
    """Pass R3, F2b: Schemathesis' `--report vcr,har` writes every exchange twice, and docs/traffic.md judges them in one
    run: each answered send's data.id was "repeated" (result-id-unique broken by the server, a correct mock, exit 1).
    Judged together, each exchange counts once and the verdict is the cassette's alone."""
    cassette, har_path = schemathesis_recordings
    alone = judge_cli(cassette, "--report-dir", tmp_path / "one", "--format", "json")
    found_alone, data_alone = _findings(tmp_path / "one")
    both = judge_cli(cassette, har_path, "--report-dir", tmp_path / "both", "--format", "json")
    found, data = _findings(tmp_path / "both")
    assert both.exit_code == alone.exit_code == 1 and found == found_alone, both.output
    assert {party for _, party in found} == {"client"}, found  # the mock is right
    assert data["traffic"]["judged"] == data_alone["traffic"]["judged"] > 50
    assert data["traffic"]["exchanges"] == data_alone["traffic"]["exchanges"]
    assert any("judged and counted once" in note for note in data["traffic"]["notes"]), data["traffic"]["notes"]
    rules = {r["id"]: r for r in data["rules"]}
    assert rules["result-id-unique"]["failed"] == 0 and rules["result-id-unique"]["exercised"] > 0
    # the same file given twice is judged once
    twice = judge_cli(cassette, cassette, "--report-dir", tmp_path / "twice", "--format", "json")
    assert twice.exit_code == 1 and _findings(tmp_path / "twice")[0] == found_alone and "given more than once" in twice.output


def _har_at(path, started):
    sent = entry(VALID)
    sent["startedDateTime"] = started
    path.write_text(har(sent))
    return path


def test_r3_f2b_one_exchange_in_a_cassette_and_a_har_is_judged_once_two_sends_stay_two(tmp_path):
    """Pass R3, F2b: a Schemathesis cassette and its HAR hold one exchange at one instant (`recorded_at`,
    `startedDateTime`): judged together, its data.id was "repeated", result-id-unique broken by the server (exit 1).
    At two instants in two files it may be one exchange on two clocks or two sends: the repeat is not judged."""
    cassette = _schemathesis(tmp_path / "vcr.yaml", OK, recorded_at="2026-12-06T10:00:00.123456+00:00")
    same = _har_at(tmp_path / "same.har", "2026-12-06T10:00:00.123456+00:00")
    result = judge_cli(cassette, same, "--report-dir", tmp_path / "r", "--format", "json")
    found, data = _findings(tmp_path / "r")
    assert result.exit_code == 0 and found == set(), result.output
    assert data["traffic"]["judged"] == data["traffic"]["exchanges"] == 1
    # the same instant written otherwise (`Z`, milliseconds) is the same instant
    zulu = _har_at(tmp_path / "zulu.har", "2026-12-06T12:00:00.123456+02:00")
    assert judge_cli(cassette, zulu, "--report-dir", tmp_path / "z").exit_code == 0
    # another instant in another file: one exchange on two recorders' clocks (pass S3, F1: a proxy's HAR a few
    # milliseconds after its client's cassette blamed the server), or another send given the first one's id: it does
    # not show, so the repeated id is not judged (judged in part), never the server's break nor green
    for name, at in (("skewed.har", "2026-12-06T10:00:00.125Z"), ("later.har", "2026-12-06T10:00:05.000Z")):
        result = judge_cli(cassette, _har_at(tmp_path / name, at), "--report-dir", tmp_path / f"r-{name}", "--format", "json")
        assert result.exit_code == 3 and _findings(tmp_path / f"r-{name}")[0] == set(), result.output


def test_s1_f2_sends_of_one_file_or_with_other_bodies_are_never_one_exchange_however_alike(tmp_path):
    """Pass S1, F2: the twins were told by method, URL, status, answer and start instant alone, within one file too: two
    concurrent sends of one HAR (same millisecond, other recipients) that a faulty server gave one data.id were the
    server's result-id-unique break alone, and green beside any second file; two workers' files, one send each at the
    same millisecond with other bodies, counted one exchange. Only an exchange of another file, with the same request
    body where both hold one, is the same exchange."""
    started = "2026-12-06T10:00:00.123Z"
    first, second = entry(VALID), entry({**VALID, "recipientEmail": "bob@example.com"})
    for sent in (first, second):
        sent["startedDateTime"] = started
    concurrent = tmp_path / "concurrent.har"
    concurrent.write_text(har(first, second))
    unrelated = _har_at(tmp_path / "unrelated.har", "2026-12-06T11:00:00Z")
    result = judge_cli(concurrent, unrelated, "--report-dir", tmp_path / "r", "--format", "json")
    found, data = _findings(tmp_path / "r")
    assert result.exit_code == 1 and ("result-id-unique", "server") in found, result.output  # 0 before: green
    assert data["traffic"]["exchanges"] == 3
    one, other = tmp_path / "worker1.har", tmp_path / "worker2.har"
    one.write_text(har(first))
    other.write_text(har(second))
    result = judge_cli(one, other, "--report-dir", tmp_path / "w", "--format", "json")
    found, data = _findings(tmp_path / "w")
    assert result.exit_code == 1 and data["traffic"]["exchanges"] == 2, result.output  # one exchange, green, before
    # the same send in two files (a body in each) stays one exchange
    again = tmp_path / "again.har"
    again.write_text(har(first))
    result = judge_cli(one, again, "--report-dir", tmp_path / "a", "--format", "json")
    assert result.exit_code == 0 and _findings(tmp_path / "a")[1]["traffic"]["judged"] == 1, result.output


def test_s4_f2_a_send_whose_body_is_not_recorded_makes_no_twin_of_later_sends(tmp_path):
    """Pass S4, F2: one send of a first file whose request body was not recorded (a HAR's `_file`, a recorder's mask),
    answered with the same bytes, made every later send answered alike a possible twin: a server giving one data.id to
    every send was exit 1 on the second file alone and exit 3, no finding, beside the first. A body not recorded matches
    nothing on the untimed path."""
    unread = entry(VALID)
    unread["startedDateTime"] = "2026-12-06T09:00:00Z"
    unread["request"]["postData"] = {"mimeType": "application/json", "_file": "body.bin"}
    first = tmp_path / "first.har"
    first.write_text(har(unread))
    sends = [entry(VALID), entry({**VALID, "recipientEmail": "bob@example.com"})]
    for number, sent in enumerate(sends):
        sent["startedDateTime"] = f"2026-12-06T10:00:0{number}Z"
    second = tmp_path / "second.har"
    second.write_text(har(*sends))
    alone = judge_cli(second, "--report-dir", tmp_path / "alone", "--format", "json")
    assert alone.exit_code == 1 and ("result-id-unique", "server") in _findings(tmp_path / "alone")[0], alone.output
    both = judge_cli(first, second, "--report-dir", tmp_path / "both", "--format", "json")
    assert both.exit_code == 1 and ("result-id-unique", "server") in _findings(tmp_path / "both")[0], both.output


def test_s7_f2_one_send_in_two_files_one_without_its_body_is_never_blamed_once(tmp_path):
    """Pass S7, F2: the S4 F2 fix made a body not recorded match nothing: one send in a client's cassette and in a HAR
    that did not keep its body (a `_file`, a mask) blamed a correct server for result-id-unique. A body not recorded on
    one side matches once: the repeat is not judged (judged in part); a second such match is another send (S4 F2)."""
    cassette = tmp_path / "vcrpy.yaml"
    cassette.write_text("\n".join(["interactions:", *_vcr_item(VALID), "version: 1", ""]))
    unread = entry(VALID)
    unread["startedDateTime"] = "2026-12-06T10:00:00Z"
    unread["request"]["postData"] = {"mimeType": "application/json", "_file": "body.bin"}
    proxy = tmp_path / "proxy.har"
    proxy.write_text(har(unread))
    result = judge_cli(cassette, proxy, "--report-dir", tmp_path / "r", "--format", "json")
    assert result.exit_code == 3 and _findings(tmp_path / "r")[0] == set(), result.output  # 1 before: blamed
    # Pass S8, F1: a third recording of the send (a browser's HAR, its body kept): whatever the files' order, never blamed
    browser = entry(VALID)
    browser["startedDateTime"] = "2026-12-06T10:00:00.003Z"
    third = tmp_path / "browser.har"
    third.write_text(har(browser))
    for order in ((cassette, proxy, third), (proxy, cassette, third), (third, proxy, cassette)):
        result = judge_cli(*order, "--report-dir", tmp_path / f"o-{order[0].name}", "--format", "json")
        assert result.exit_code == 3 and _findings(tmp_path / f"o-{order[0].name}")[0] == set(), (order, result.output)


@pytest.mark.parametrize("second_at", ["2026-12-06T10:00:00Z", "2026-12-06T10:00:07Z"], ids=["same-instant", "later"])
def test_s9_an_entry_of_a_file_is_a_copy_at_most_once_for_that_file(tmp_path, second_at):
    """Pass S9, F1/F2: two alike sends of one file (concurrent, one data.id given to both: the server's break) were both
    taken for copies of one entry of an earlier file: at one instant both skipped, green (exit 0); at another instant
    both left unjudged (exit 3). One entry of an earlier file excuses one entry of each later file; the second is
    another send, its repeated id the server's break, whatever the files' order."""
    earlier = entry(VALID)
    earlier["startedDateTime"] = "2026-12-06T10:00:00Z"
    first = tmp_path / "a.har"
    first.write_text(har(earlier))
    twice = [entry(VALID), entry(VALID)]
    for sent in twice:
        sent["startedDateTime"] = second_at
    second = tmp_path / "b.har"
    second.write_text(har(*twice))
    for order in ((first, second), (second, first)):
        result = judge_cli(*order, "--report-dir", tmp_path / f"r-{order[0].name}", "--format", "json")
        found, _ = _findings(tmp_path / f"r-{order[0].name}")
        assert result.exit_code == 1 and ("result-id-unique", "server") in found, (order, result.output)


def test_r3_f2b_a_file_without_start_times_beside_another_leaves_a_repeat_unjudged_never_blamed(tmp_path):
    """A vcrpy cassette records no start time: the same request line and answer in a HAR may be one exchange or two
    sends answered alike. Its repeated data.id is not judged on result-id-unique (judged in part, exit 3), never the
    server's break; within one file, two such entries are two sends (the server's break)."""
    cassette = tmp_path / "vcrpy.yaml"
    cassette.write_text("\n".join(["interactions:", *_vcr_item(VALID), "version: 1", ""]))
    result = judge_cli(cassette, _har_at(tmp_path / "proxy.har", "2026-12-06T10:00:00Z"), "--report-dir", tmp_path / "r",
                       "--format", "json")
    found, data = _findings(tmp_path / "r")
    assert result.exit_code == 3 and found == set(), result.output
    assert any("records no start time" in note for note in data["traffic"]["notes"]), data["traffic"]["notes"]
    cassette.write_text("\n".join(["interactions:", *_vcr_item(VALID), *_vcr_item(VALID), "version: 1", ""]))
    result = judge_cli(cassette, "--report-dir", tmp_path / "one", "--format", "json")
    assert result.exit_code == 1 and _findings(tmp_path / "one")[0] == {("result-id-unique", "server")}, result.output


def test_r3_f6_the_middleware_judges_an_answer_over_its_cap_on_its_content_type():
    """Pass R3, F6, the one judge's other ways in: an app's `text/html` answer over the middleware's cap (its body not
    read) left content-type-json unjudged (exit 3); the header alone breaks it."""
    import httpx

    from migma_contract.asgi import ContractMiddleware
    from migma_contract.wire.asgi_transport import SyncASGITransport

    async def app(scope, receive, send):
        while (await receive()).get("more_body"):
            pass
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/html")]})
        await send({"type": "http.response.body", "body": b"<html>" + b"x" * 2000 + b"</html>"})

    wrapped = ContractMiddleware(app, max_response_bytes=100)
    with httpx.Client(transport=SyncASGITransport(wrapped), base_url="http://app") as client:
        client.post("/v1/sending", json=VALID, headers={"Authorization": "Bearer k_recorded_0123"})
    result = wrapped.result()
    assert result.exit_code == 1 and {(f.rule, f.broken_by) for f in result.findings} == {("content-type-json", "server")}
