"""What a recorder hid, and what a label leaves unread, is not judged as what was sent (red-team pass M2: 5, 6, 9, 10).

- vcrpy's documented `filter_headers=["authorization"]` drops the header from the cassette, `[("authorization",
  "XXXXXX")]` replaces it: a send answered 200 is neither the server's auth break nor the client's (credentials
  hidden, said in a traffic note); one answered 401 is judged as recorded.
- A recorder's mask word standing for a JSON value (`filter_post_data_parameters=[("recipientEmail", "REDACTED")]`,
  a `before_record_response` hook writing `"id": "REDACTED"`) leaves that body unjudged: judged in part, never the
  server's break. A field removed leaves no trace and is judged as recorded (docs/traffic.md).
- A JSON answer labelled with another charset than UTF-8 is judged in part on every way in (the one judge).
- summary.md mentions no one and references no issue on GitHub; every format and default-ignorable character is
  shown as a marker.
"""

import json
import sys
import unicodedata

import pytest
from click.testing import CliRunner

from migma_contract import contract_for
from migma_contract.cli import main
from migma_contract.contract.rules import Level
from migma_contract.core.untrusted import clean_text
from migma_contract.judge.verdict import SERVER
from migma_contract.reports._markdown import md_text
from migma_contract.traffic.tally import ObservedExchange
from migma_contract.traffic.tally import judge_exchange as judge_observed

URL = "https://staging.example.test/v1/sending"
VALID = {"recipientType": "email", "recipientEmail": "ann@example.com", "from": "news@example.com", "fromName": "News",
         "subject": "Hello", "emailId": "email_welcome"}
OK = {"success": True, "data": {"id": "msg_1", "status": "queued"}, "error": None}
TAG = {"recipientType": "tag", "from": "news@example.com", "fromName": "News", "subject": "Hi", "emailId": "email_welcome"}
KEY_LINE = "      Authorization: [Bearer mc_live_recorded_0123456789]"


def _item(body, answer, *, auth=KEY_LINE, status=200):
    lines = ["- request:", f"    body: {json.dumps(json.dumps(body))}", "    headers:"]
    if auth:
        lines.append(auth)
    return [*lines, "      Content-Type: [application/json]", "    method: POST", f"    uri: {URL}", "  response:",
            f"    body: {{string: {json.dumps(json.dumps(answer))}}}", "    headers: {Content-Type: [application/json]}",
            f"    status: {{code: {status}, message: OK}}"]


def _judge(tmp_path, *items):
    path = tmp_path / "cassette.yaml"
    path.write_text("\n".join(["interactions:", *(line for item in items for line in item), "version: 1", ""]))
    result = CliRunner().invoke(main, ["judge", str(path), "--report-dir", str(tmp_path / "r"), "--format", "json"],
                                catch_exceptions=False)
    return result, json.loads((tmp_path / "r" / "conformance.json").read_text())


def _findings(data):
    return {(f["rule"], f["broken_by"]) for f in data["findings"]}


# --- 5: credentials a recorder filtered -----------------------------------------------------------------------------


@pytest.mark.parametrize("auth", [None, "      Authorization: [XXXXXX]", "      Authorization: [DUMMY]",
                                  "      authorization: ['Bearer']"], ids=["dropped", "XXXXXX", "DUMMY", "no key"])
def test_a_vcrpy_send_whose_credentials_were_filtered_is_no_auth_break(tmp_path, auth):
    result, data = _judge(tmp_path, _item(VALID, OK, auth=auth))
    assert result.exit_code == 0, result.output
    assert not data["findings"]
    assert any("credentials masked or possibly left out by the recorder" in note for note in data["traffic"]["notes"])
    auth_required = next(r for r in data["rules"] if r["id"] == "auth-required")
    assert auth_required["exercised"] == 0


@pytest.mark.parametrize("auth", [None, "      Authorization: [XXXXXX]", "      Authorization: [DUMMY]"],
                         ids=["dropped", "XXXXXX", "DUMMY"])
def test_n2_f2_a_vcrpy_send_whose_credentials_were_filtered_answered_401_blames_no_client(tmp_path, auth):
    """Pass N2, F2: a send recorded with `filter_headers=["authorization"]` (or a replacement) and answered 401 (a
    revoked or expired key: the usual "rejects a bad key" test) was auth-required "broken by the client", exit 1. The
    live request may have carried `Bearer <key>`: the credentials are hidden whatever the status, the 401 the server's
    answer (right for no key and for a refused key alike)."""
    answer = {"success": False, "data": None, "error": "invalid API key"}
    result, data = _judge(tmp_path, _item(VALID, answer, auth=auth, status=401))
    assert result.exit_code == 0, result.output
    assert not data["findings"]
    assert any("credentials masked or possibly left out by the recorder" in note for note in data["traffic"]["notes"])
    # a key in the cassette answered 401 is judged as recorded (not hidden): a key the server may refuse
    result, data = _judge(tmp_path, _item(VALID, answer, status=401))
    assert result.exit_code == 0 and not data["findings"], result.output
    assert not any("credentials masked" in note for note in data["traffic"]["notes"])


def test_a_schemathesis_cassette_keeps_what_it_left_out_as_not_sent(tmp_path):
    """Schemathesis masks with `[Filtered]` and never drops a header: a send it recorded without one had none."""
    path = tmp_path / "st.yaml"
    path.write_text("\n".join([
        "command: st run", "recorded_with: Schemathesis", "http_interactions:", "- id: '1'", "  status: SUCCESS",
        "  request:", f"    uri: '{URL}'", "    method: 'POST'", "    headers:", "      Content-Type:",
        "        - 'application/json'", "    body:", "      encoding: 'utf-8'", f"      string: {json.dumps(json.dumps(VALID))}",
        "  response:", "    status:", "      code: '200'", "      message: 'OK'", "    headers:", "      Content-Type:",
        "        - 'application/json'", "    body:", "      encoding: 'utf-8'", f"      string: {json.dumps(json.dumps(OK))}",
        "    http_version: '1.1'", "    elapsed: 0.01", ""]))
    result = CliRunner().invoke(main, ["judge", str(path), "--report-dir", str(tmp_path / "r"), "--format", "json"],
                                catch_exceptions=False)
    data = json.loads((tmp_path / "r" / "conformance.json").read_text())
    assert result.exit_code == 1 and ("auth-required", "server") in _findings(data)


# --- 5 and 9: bodies a recorder scrubbed ----------------------------------------------------------------------------


@pytest.mark.parametrize("mask", ["REDACTED", "[Filtered]", "<masked>", "[hidden]", "***", "XXXXXX",
                                  # pass N2, F3: masks the whole-string list missed were read as what was sent
                                  "***REDACTED***", "**REDACTED**", "[REDACTED EMAIL]", "REDACTED_EMAIL",
                                  "<email redacted>", "-REDACTED-", "xxxx", "a***@example.com", "<email removed>",
                                  "scrubbed@example.com", "Anonymized"])
def test_a_request_field_a_recorder_replaced_leaves_the_request_unjudged(tmp_path, mask):
    result, data = _judge(tmp_path, _item({**VALID, "recipientEmail": mask}, OK))
    assert result.exit_code == 3, result.output  # judged in part: no verdict, no break
    assert not data["findings"]
    assert data["traffic"]["partly_judged"] == 1
    assert any("recorder's mask" in note and "recipientEmail" in note for note in data["traffic"]["notes"])


def test_n2_f3_an_answer_field_a_recorder_replaced_with_a_mask_word_inside_is_not_judged(tmp_path):
    scrubbed = {**OK, "data": {"id": "***REDACTED***", "status": "[status filtered]"}}
    result, data = _judge(tmp_path, _item(VALID, scrubbed))
    assert result.exit_code == 3, result.output
    assert not data["findings"] and data["traffic"]["partly_judged"] == 1


def test_a_request_field_a_recorder_removed_is_judged_as_recorded(tmp_path):
    """No trace of the removal: the send is judged as the cassette holds it (docs/traffic.md says so)."""
    result, data = _judge(tmp_path, _item({k: v for k, v in VALID.items() if k != "recipientEmail"}, OK))
    assert result.exit_code == 1
    assert _findings(data) == {("email-needs-recipientEmail", "client"), ("email-needs-recipientEmail", "server")}


def test_a_value_that_merely_holds_a_mask_word_is_read(tmp_path):
    """A longer text holding a recorder's word, a word a value may be without brackets, and a word of `x` inside a
    longer one are read as sent (a short value holding a recorder's word anywhere is a mask: pass N2, F3)."""
    subject = "the redacted minutes of the quarterly board meeting, for everyone"
    result, data = _judge(tmp_path, _item({**VALID, "subject": subject, "fromName": "Hidden Gems Maxxxxine"}, OK))
    assert result.exit_code == 0, result.output
    assert data["traffic"]["partly_judged"] == 0


def _har_judge(tmp_path, body, answer, *, status=200, auth="Bearer mc_live_recorded_0123456789", creator="Playwright"):
    entry = {"startedDateTime": "2026-12-06T00:00:00Z", "time": 5,
             "request": {"method": "POST", "url": URL, "httpVersion": "HTTP/1.1", "headers": [
                 {"name": "Authorization", "value": auth},
                 {"name": "Content-Type", "value": "application/json"}], "queryString": [], "cookies": [], "headersSize": -1,
                 "bodySize": -1, "postData": {"mimeType": "application/json", "text": json.dumps(body)}},
             "response": {"status": status, "statusText": "", "httpVersion": "HTTP/1.1", "cookies": [], "redirectURL": "",
                          "headers": [{"name": "Content-Type", "value": "application/json"}], "headersSize": -1,
                          "bodySize": -1, "content": {"size": -1, "mimeType": "application/json", "text": json.dumps(answer)}},
             "cache": {}, "timings": {"send": 0, "wait": 5, "receive": 0}}
    path = tmp_path / "t.har"
    path.write_text(json.dumps({"log": {"version": "1.2", "creator": {"name": creator, "version": "1"}, "entries": [entry]}}))
    result = CliRunner().invoke(main, ["judge", str(path), "--report-dir", str(tmp_path / "h"), "--format", "json"],
                                catch_exceptions=False)
    return result, json.loads((tmp_path / "h" / "conformance.json").read_text())


def _schemathesis_judge(tmp_path, answer, *, auth="Bearer mc_live_recorded_0123456789", status=200):
    path = tmp_path / "st.yaml"
    path.write_text("\n".join([
        "command: st run", "recorded_with: Schemathesis", "http_interactions:", "- id: '1'", "  status: SUCCESS",
        "  request:", f"    uri: '{URL}'", "    method: 'POST'", "    headers:", "      Content-Type:",
        "        - 'application/json'", "      Authorization:", f"        - {json.dumps(auth)}", "    body:",
        "      encoding: 'utf-8'", f"      string: {json.dumps(json.dumps(VALID))}",
        "  response:", "    status:", f"      code: '{status}'", "      message: 'OK'", "    headers:", "      Content-Type:",
        "        - 'application/json'", "    body:", "      encoding: 'utf-8'", f"      string: {json.dumps(json.dumps(answer))}",
        "    http_version: '1.1'", "    elapsed: 0.01", ""]))
    result = CliRunner().invoke(main, ["judge", str(path), "--report-dir", str(tmp_path / "s"), "--format", "json"],
                                catch_exceptions=False)
    return result, json.loads((tmp_path / "s" / "conformance.json").read_text())


@pytest.mark.parametrize("value", ["filtered", "masked", "Redacted", "xxxxx", "***"])
def test_n2_f5_a_servers_own_value_in_a_har_or_a_schemathesis_cassette_is_no_mask(tmp_path, value):
    """Pass N2, F5: mask words were read in every format, though only vcrpy's recorder scrubs bodies (its hooks): a
    faulty answer `data.status: "filtered"` in a HAR or a Schemathesis cassette left every body rule unjudged, exit 3
    where `"bounced"` is exit 1."""
    faulty = {**OK, "data": {"id": "msg_1", "status": value}}
    result, data = _har_judge(tmp_path, VALID, faulty)
    assert result.exit_code == 1 and ("result-status-known", "server") in _findings(data), result.output
    result, data = _schemathesis_judge(tmp_path, faulty)
    assert result.exit_code == 1 and ("result-status-known", "server") in _findings(data), result.output
    # ...while a vcrpy cassette's is read as its recorder's mask
    result, data = _judge(tmp_path, _item(VALID, faulty))
    assert result.exit_code == 3 and not data["findings"], result.output


@pytest.mark.parametrize("subject", ["XXXXXXXX", "*****", "[hidden]", "Filtered"])
def test_n2_f5_a_clients_placeholder_in_a_har_hides_no_wrong_accept(tmp_path, subject):
    result, data = _har_judge(tmp_path, {**TAG, "subject": subject}, OK)
    assert result.exit_code == 1, result.output
    assert ("batch-needs-recipientId", "server") in _findings(data)


def test_answers_whose_ids_a_recorder_scrubbed_are_no_repeated_id(tmp_path):
    scrubbed = {**OK, "data": {"id": "REDACTED", "status": "queued"}}
    result, data = _judge(tmp_path, _item({**VALID, "subject": "One"}, scrubbed), _item({**VALID, "subject": "Two"}, scrubbed))
    assert result.exit_code == 3, result.output
    assert not data["findings"]
    assert data["traffic"]["partly_judged"] == 2
    # ...while two different sends answered with one real id still are
    same = {**OK, "data": {"id": "msg_same", "status": "queued"}}
    result, data = _judge(tmp_path, _item({**VALID, "subject": "One"}, same), _item({**VALID, "subject": "Two"}, same))
    assert result.exit_code == 1 and ("result-id-unique", "server") in _findings(data)


# --- 6: an answer's charset -----------------------------------------------------------------------------------------


ANSWER = json.dumps(OK).encode()


def _observed(content_type, answer=ANSWER):
    exchange = ObservedExchange("POST", URL, [("Content-Type", "application/json"), ("Authorization", "Bearer mc_live_0123456789")],
                                json.dumps(VALID).encode(), 200, [("Content-Type", content_type)], answer, elapsed=0.05)
    return judge_observed(contract_for(), Level.DOCUMENTED, exchange)


ACCENTED = json.dumps({**OK, "data": {"id": "msg_ü", "status": "queued"}}, ensure_ascii=False).encode()


@pytest.mark.parametrize("content_type, answer", [
    ("application/json; charset=utf-16", ANSWER), ("application/json;charset=UTF-32", ANSWER),
    ('application/json; charset="cp037"', ANSWER), ('application/json; charset="utf-8,x"', ANSWER),
    ("application/json; charset=iso-8859-1", ACCENTED),  # UTF-8 bytes that Latin-1 reads as other text
])
def test_a_json_answer_in_another_charset_is_judged_in_part(content_type, answer):
    verdict = _observed(content_type, answer)
    assert verdict.partly is not None and "another charset than UTF-8" in verdict.partly
    server = {j.rule_id for j in verdict.judgements if j.party == SERVER}
    assert "content-type-json" not in server and "success-schema" not in server
    assert not verdict.breaches


@pytest.mark.parametrize("content_type", ["application/json", "application/json; charset=utf-8", 'application/json; charset="UTF-8"',
                                          "application/json;charset=utf8", "application/json; profile=x"])
def test_a_json_answer_in_utf8_is_judged_in_full(content_type):
    verdict = _observed(content_type)
    assert verdict.partly is None
    assert {"content-type-json", "success-schema"} <= {j.rule_id for j in verdict.judgements if j.ok}


def test_an_answer_that_is_no_json_fails_whatever_its_charset():
    verdict = _observed("text/html; charset=iso-8859-1", b"<html></html>")
    assert any(j.rule_id == "content-type-json" and not j.ok for j in verdict.judgements)
    # bytes that are no UTF-8 are no JSON text (RFC 8259 §8.1), even labelled with the charset they are in
    latin1 = json.dumps({**OK, "data": {"id": "msg_ü", "status": "queued"}}, ensure_ascii=False).encode("latin-1")
    verdict = _observed("application/json; charset=iso-8859-1", latin1)
    assert any(j.rule_id == "content-type-json" and not j.ok for j in verdict.judgements) and verdict.partly is None


@pytest.mark.parametrize("content_type", ["application/json; charset=iso-8859-1", "application/json; charset=us-ascii",
                                          "application/json; charset=windows-1252"])
def test_an_ascii_answer_under_an_ascii_compatible_charset_reads_alike_and_is_judged_in_full(content_type):
    verdict = _observed(content_type)
    assert verdict.partly is None and not verdict.breaches


# --- 10: summary.md and invisible characters ------------------------------------------------------------------------


def test_markdown_mentions_no_one_and_references_no_issue():
    text = md_text("ask @octocat and @org/security, see #1, GH-2, gh-3 and owner/repo#4; write to ann@example.com")
    for live in ("@octocat", "@org", "#1", "GH-2", "gh-3", "#4"):
        assert live not in text
    assert "@&#8203;octocat" in text and "#&#8203;1" in text and "GH-&#8203;2" in text
    assert "ann@example.com" in text  # an address mentions no one: left as it is


# The default-ignorable code points that are no format character (Unicode's DerivedCoreProperties.txt, 16.0),
# less the emoji variation selectors U+FE00-FE0F (`core.untrusted` leaves them)
_IGNORABLE = [0x034F, 0x115F, 0x1160, 0x17B4, 0x17B5, *range(0x180B, 0x1810), 0x2065, 0x3164, 0xFFA0, *range(0xFFF0, 0xFFF9),
              0xE0000, *range(0xE0002, 0xE0020), *range(0xE0080, 0xE1000)]


def test_every_format_and_default_ignorable_character_is_shown_as_a_marker():
    format_characters = [c for c in range(sys.maxunicode + 1) if unicodedata.category(chr(c)) == "Cf"]
    assert {0xFFF9, 0xFFFA, 0xFFFB, 0x1D173, 0x1D17A} <= set(format_characters)
    for code in (*format_characters, *_IGNORABLE):
        assert clean_text(f"a{chr(code)}b") != f"a{chr(code)}b", hex(code)
    assert clean_text("⚠\ufe0f") == "⚠\ufe0f"  # an emoji's look is no hidden text


def test_a_credential_in_a_send_counted_as_hidden_is_still_learned_and_masked(tmp_path):
    """A vcrpy send under another scheme than Bearer counts as hidden; its credential is masked wherever it shows."""
    basic = "Basic c2VjcmV0dXNlcjpzM2NyM3RQYXNzd29yZDk5"  # secretuser:s3cr3tPassword99
    echo = {"success": False, "data": None, "error": "bad body for secretuser:s3cr3tPassword99"}
    result, data = _judge(tmp_path, _item(TAG, echo, auth=f"      Authorization: [{basic}]", status=500))
    assert data["findings"]
    for report in (tmp_path / "r").iterdir():
        assert "s3cr3tPassword99" not in report.read_text(encoding="utf-8"), report.name
    assert "s3cr3tPassword99" not in result.output


def test_the_diff_in_markdown_mentions_no_one_either():
    from migma_contract.diff.render import md_cell

    cell = md_cell("owned by @octocat, see #12 and GH-3")
    assert "@octocat" not in cell and "#12" not in cell and "GH-3" not in cell
    assert "@&#8203;octocat" in cell


@pytest.mark.parametrize("padding", [100, 70_000, 2_000_000], ids=["small", "past-64KiB", "past-1MiB"])
def test_pass_w1_f1_a_credential_in_a_large_request_body_is_masked_in_the_echo(tmp_path, padding):
    """Pass W1, F1: a request body over 64 KiB was not searched for credentials at all (JSON keys, a URL's userinfo):
    a server echoing one wrote it in clear in every report. The judge searches a body whole up to 1 MiB, and the
    first 1 MiB of a larger one."""
    secret, secret2 = "Zq9vR2xT7pLm4Kc8Wn3Yb6Hd", "Uu7Pp3Ss9Ww2Dd5Gg8Hh1Jj"
    body = {"recipientType": "email", "recipientEmail": "ann@example.com", "from": "news@example.com", "fromName": "N",
            "subject": "Hello", "emailId": "email_welcome", "password": secret,
            "callback": f"https://bob:{secret2}@hooks.example.com/x", "pad": "x" * padding}
    text = json.dumps(body)
    answer = json.dumps({"success": False, "error": f"bad credential {secret} for {secret2}"})
    entry = {"startedDateTime": "2026-12-06T00:00:00Z", "time": 5,
             "request": {"method": "POST", "url": "https://staging.example.test/v1/sending", "httpVersion": "HTTP/1.1",
                         "headers": [{"name": "Authorization", "value": "Bearer k_recorded_0123"},
                                     {"name": "Content-Type", "value": "application/json"}],
                         "queryString": [], "cookies": [], "headersSize": -1, "bodySize": len(text),
                         "postData": {"mimeType": "application/json", "text": text}},
             "response": {"status": 500, "statusText": "", "httpVersion": "HTTP/1.1", "cookies": [],
                          "headers": [{"name": "Content-Type", "value": "application/json"}],
                          "content": {"size": len(answer), "mimeType": "application/json", "text": answer},
                          "redirectURL": "", "headersSize": -1, "bodySize": len(answer)},
             "cache": {}, "timings": {"send": 0, "wait": 5, "receive": 0}}
    har = tmp_path / "r.har"
    har.write_text(json.dumps({"log": {"version": "1.2", "creator": {"name": "tests", "version": "1"}, "entries": [entry]}}))
    result = CliRunner().invoke(main, ["judge", str(har), "--report-dir", str(tmp_path / "rep")])
    outputs = result.output + "".join(path.read_text(errors="replace") for path in (tmp_path / "rep").iterdir())
    assert "no-server-error" in outputs  # (the 500 is judged and written)
    assert secret not in outputs and secret2 not in outputs


# --- pass X2, F1: a credential a sanitizer masked, in every format --------------------------------------------------

# Cloudflare's har-sanitizer writes `[${word} redacted]`, Schemathesis its `[output.sanitization] replacement` (any
# text), others a scheme and a mask
SANITIZER_MASKS = ["[Authorization redacted]", "[Token redacted]", "***REDACTED***", "[SANITIZED]", "Bearer [REDACTED]",
                   "Bearer ***", "Bearer <token removed>", "Bearer xxxx"]
REFUSED = {"success": False, "data": None, "error": "invalid API key"}


def _judged_with(tmp_path, fmt, auth, status):
    answer = OK if status == 200 else REFUSED
    if fmt == "har":
        return _har_judge(tmp_path, VALID, answer, status=status, auth=auth, creator="WebInspector")
    if fmt == "schemathesis":
        return _schemathesis_judge(tmp_path, answer, auth=auth, status=status)
    return _judge(tmp_path, _item(VALID, answer, auth=f"      Authorization: [{json.dumps(auth)}]", status=status))


@pytest.mark.parametrize("status", [200, 401])
@pytest.mark.parametrize("fmt", ["har", "schemathesis", "vcrpy"])
@pytest.mark.parametrize("mask", SANITIZER_MASKS)
def test_pass_x2_f1_a_credential_a_sanitizer_masked_blames_no_one(tmp_path, mask, fmt, status):
    """Pass X2, F1: an Authorization value a sanitizer replaced with a mask not in the reader's exact list (Cloudflare's
    har-sanitizer `[Authorization redacted]`, Schemathesis' configured `***REDACTED***`, `[SANITIZED]`) was read as the
    client's credential: a correct client and server were both blamed on auth-required, exit 1; `Bearer [REDACTED]`
    was judged as an unknown key, the credentials not said hidden. Every format: hidden, the auth rules unjudged."""
    result, data = _judged_with(tmp_path, fmt, mask, status)
    assert result.exit_code == 0, result.output
    assert not data["findings"]
    assert any("credentials masked or possibly left out by the recorder" in note for note in data["traffic"]["notes"])
    assert next(r for r in data["rules"] if r["id"] == "auth-required")["exercised"] == 0


@pytest.mark.parametrize("fmt", ["har", "schemathesis"])
@pytest.mark.parametrize("value", ["mc_live_recorded_0123456789", "Basic dXNlcjpwYXNz", "[garbage]", "Token abc123",
                                   "Bearer", "Hidden Gems mc_live_recorded_0123456789"])
def test_pass_x2_f1_a_real_looking_credential_is_still_judged(tmp_path, fmt, value):
    """Pass X2, F1 (its other side): only a mask's shape hides the credentials. A plain token, another scheme, an odd
    value or a bare scheme a client sent, answered 200, still breaks auth-required on both sides."""
    result, data = _judged_with(tmp_path, fmt, value, 200)
    assert result.exit_code == 1, result.output
    assert {("auth-required", "client"), ("auth-required", "server")} <= _findings(data)
    assert not any("credentials masked" in note for note in data["traffic"]["notes"])


@pytest.mark.parametrize("fmt", ["har", "schemathesis", "vcrpy"])
def test_pass_x2_f1_a_bearer_key_is_judged_as_a_key(tmp_path, fmt):
    """Pass X2, F1: a real-looking Bearer key (short, with no mask word) is no mask: judged as sent, not hidden."""
    result, data = _judged_with(tmp_path, fmt, "Bearer abc", 200)
    assert result.exit_code == 0 and not data["findings"], result.output
    assert not any("credentials masked" in note for note in data["traffic"]["notes"])


def test_pass_x2_f1_one_notion_of_a_mask_for_headers_and_bodies():
    """Pass X2, F1: the recordings' reader had an exact list for headers, a shape for bodies and the tally a third
    pattern: one notion (`traffic.masks`) now, so a mask that hides a body's value hides a credential too."""
    from migma_contract.traffic import masks, recordings, tally

    body_masks = ["REDACTED", "[Filtered]", "<masked>", "[hidden]", "***", "XXXXXX", "***REDACTED***", "[REDACTED EMAIL]",
                  "<email removed>", "-REDACTED-", *[m for m in SANITIZER_MASKS if " " not in m or m.startswith("[")]]
    for mask in body_masks:
        assert masks.mask_text(mask) and masks.masked_credential(mask), mask
        assert recordings._mask_in(json.dumps({"recipientEmail": mask}).encode()) is not None, mask
        assert tally._masked_value(mask), mask
    for value in ["Bearer mc_live_recorded_0123456789", "Basic dXNlcjpwYXNz", "[garbage]", "abc123", "Hidden Gems"]:
        assert not masks.masked_credential(value), value
    assert not hasattr(recordings, "_MASKS") and not hasattr(tally, "_MASK_LIKE")
