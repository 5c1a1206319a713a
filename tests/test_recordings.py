"""`migma-contract judge`: recorded traffic (HAR 1.2, Schemathesis and vcrpy cassettes) judged like live traffic.

The HAR file is written by hand following the HAR 1.2 specification; the cassettes are
written by the real tools: Schemathesis (`--report vcr,har`) and vcrpy, both recording
traffic to the reference mock on a loopback port.
"""

import base64
import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from migma_contract.cli import main
from migma_contract.mock import create_app
from migma_contract.traffic.recordings import open_recording
from migma_contract.wire.serve import serve_in_thread

from .faulty_servers import FULL_KEY, Resp, Variant, accept_when

SPEC = Path(__file__).resolve().parent.parent / "spec" / "openapi.yaml"
KEY = "mc_live_recorded_9f8e7d6c5b4a"
VALID = {"recipientType": "email", "recipientEmail": "ann@example.com", "from": "news@example.com", "fromName": "News",
         "subject": "Hello", "emailId": "email_welcome"}
TAG_WITHOUT_ID = {"recipientType": "tag", "from": "news@example.com", "fromName": "News", "subject": "Hi", "emailId": "email_welcome"}
OK = {"success": True, "data": {"id": "msg_1", "provider": "migma", "status": "queued", "sentCount": 1}, "error": None}


def judge(*args):
    return CliRunner().invoke(main, ["judge", *map(str, args)], catch_exceptions=False)


def har_entry(method, url, request_body, status, response_body, *, auth=f"Bearer {KEY}", base64_response=False, time_ms=42.5):
    """One HAR 1.2 entry (http://www.softwareishard.com/blog/har-12-spec/#entries), every required field present."""
    headers = [{"name": "Content-Type", "value": "application/json"}] + ([{"name": "Authorization", "value": auth}] if auth else [])
    text = json.dumps(response_body)
    content = {"size": len(text), "mimeType": "application/json", "text": text}
    if base64_response:
        content.update(text=base64.b64encode(text.encode()).decode(), encoding="base64")
    request = {"method": method, "url": url, "httpVersion": "HTTP/1.1", "cookies": [], "headers": headers, "queryString": [],
               "headersSize": -1, "bodySize": 0}
    if request_body is not None:
        raw = json.dumps(request_body)
        request.update(postData={"mimeType": "application/json", "params": [], "text": raw}, bodySize=len(raw))
    return {
        "startedDateTime": "2026-01-05T10:00:00.000+00:00", "time": time_ms, "request": request,
        "response": {"status": status, "statusText": "", "httpVersion": "HTTP/1.1", "cookies": [],
                     "headers": [{"name": "Content-Type", "value": "application/json"}], "content": content,
                     "redirectURL": "", "headersSize": -1, "bodySize": len(text)},
        "cache": {}, "timings": {"send": 1, "wait": time_ms - 2, "receive": 1},
    }


def har(entries, creator="migma-contract tests"):
    return {"log": {"version": "1.2", "creator": {"name": creator, "version": "1.0"}, "pages": [], "entries": entries}}


STAGING = "https://staging.example.test/v1/sending"
ENTRIES = [
    har_entry("POST", STAGING, VALID, 200, OK),
    har_entry("POST", STAGING, TAG_WITHOUT_ID, 200, {**OK, "data": {**OK["data"], "id": "msg_2"}}, base64_response=True),  # a server accepting a bad request
    har_entry("GET", "https://staging.example.test/v1/contacts", None, 200, {"contacts": []}),
    har_entry("OPTIONS", STAGING, None, 204, {}),
    har_entry("POST", STAGING, VALID, 400, {"success": False, "error": f"emailId unknown for key {KEY}"}),
]


@pytest.fixture
def har_file(tmp_path):
    path = tmp_path / "staging.har"
    path.write_text(json.dumps(har(ENTRIES), indent=2))
    return path


def test_a_hand_written_har_file_is_judged_both_ways(har_file, tmp_path):
    reports = tmp_path / "reports"
    result = judge(har_file, "--report-dir", reports)
    assert result.exit_code == 1, result.output
    assert "VIOLATIONS OBSERVED" in result.output and "staging.har: HAR 1.2, 5 exchange(s)" in result.output
    data = json.loads((reports / "conformance.json").read_text())
    assert data["target"]["kind"] == "recorded"
    assert data["traffic"]["exchanges"] == 5 and data["traffic"]["judged"] == 3 and data["traffic"]["other"] == 2
    rules = {r["id"]: r for r in data["rules"]}
    assert rules["batch-needs-recipientId"]["status"] == "failed"
    assert rules["accepts-valid"]["status"] == "passed" and rules["accepts-valid"]["exercised"] == 1  # the 400 is not judged
    assert rules["auth-scope"]["status"] == "not_exercised"
    broken = {(f["rule"], f["broken_by"]) for f in data["findings"]}
    assert broken == {("batch-needs-recipientId", "client"), ("batch-needs-recipientId", "server")}
    for report in reports.iterdir():
        assert KEY not in report.read_text(encoding="utf-8"), report.name
    assert KEY not in result.output


def test_a_truncated_har_judges_what_it_holds_and_says_where_it_stopped(tmp_path):
    text = json.dumps(har(ENTRIES))
    cut = text.rindex('{"startedDateTime"') + 60  # inside the last entry
    path = tmp_path / "cut.har"
    path.write_text(text[:cut])
    reports = tmp_path / "reports"
    result = judge(path, "--report-dir", reports)
    assert result.exit_code == 1  # the two entries it holds include the server's fault
    assert "warning" in result.output and "the file ends inside item 5" in result.output
    data = json.loads((reports / "conformance.json").read_text())
    assert data["traffic"]["exchanges"] == 4
    assert any("cut.har: the file ends inside item 5" in note for note in data["traffic"]["notes"])


def test_a_large_har_streams_one_entry_at_a_time(tmp_path):
    # 2,000 entries through a small read size: the reader never holds the file (see test_json_stream for the bound)
    path = tmp_path / "large.har"
    path.write_text(json.dumps(har([har_entry("POST", STAGING, VALID, 200, {**OK, "data": {**OK["data"], "id": f"msg_{n}"}})
                                    for n in range(2000)])))  # each its own data.id, as 2,000 sends get
    result = judge(path, "--report-dir", tmp_path / "r", "--format", "json")
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "r" / "conformance.json").read_text())["traffic"]["judged"] == 2000


def test_a_browser_export_without_credentials_is_not_blamed_on_the_client(tmp_path):
    path = tmp_path / "chrome.har"
    path.write_text(json.dumps(har([har_entry("POST", STAGING, VALID, 200, OK, auth=None)], creator="WebInspector")))
    result = judge(path, "--report-dir", tmp_path / "r", "--format", "json")
    assert result.exit_code == 0, result.output
    path.write_text(json.dumps(har([har_entry("POST", STAGING, VALID, 200, OK, auth=None)], creator="mitmproxy")))
    result = judge(path, "--report-dir", tmp_path / "r", "--format", "json")
    assert result.exit_code == 1 and "client broke auth-required" not in result.output
    data = json.loads((tmp_path / "r" / "conformance.json").read_text())
    assert {(f["rule"], f["broken_by"]) for f in data["findings"]} == {("auth-required", "client"), ("auth-required", "server")}


@pytest.mark.parametrize("content, message", [
    ("", "empty"),
    ("<html><body>not a recording</body></html>", "unrecognised content"),
    ('{"openapi": "3.1.0"}', "JSON without log.entries or interactions"),
    ("name: a YAML file\nitems: []\n", "unrecognised content"),
])
def test_anything_else_is_one_clear_line_and_exit_2(tmp_path, content, message):
    path = tmp_path / "input.txt"
    path.write_text(content)
    result = judge(path, "--report-dir", tmp_path / "r")
    assert result.exit_code == 2
    assert result.output.count("\n") == 1 and "not a HAR 1.2 file or a VCR cassette" in result.output and message in result.output
    assert not (tmp_path / "r").exists()


def test_missing_files_and_recordings_without_the_endpoint_exit_2(tmp_path):
    result = judge(tmp_path / "nope.har")
    assert result.exit_code == 2 and "no such file" in result.output
    path = tmp_path / "other.har"
    path.write_text(json.dumps(har([ENTRIES[2]])))
    result = judge(path, "--report-dir", tmp_path / "r")
    assert result.exit_code == 2 and "no POST /v1/sending exchange in the 1 recorded exchange(s)" in result.output


def test_a_bad_option_is_one_line_and_exit_2(har_file, tmp_path):
    result = judge(har_file, "--level", "extreme", "--report-dir", tmp_path)
    assert result.exit_code == 2 and "--level" in result.output


# --- cassettes written by the real tools ------------------------------------------------------------------


@pytest.fixture(scope="module")
def schemathesis_recordings(tmp_path_factory):
    """A cassette and a HAR file written by `schemathesis run` against the reference mock (sanitizing off: keys kept)."""
    out = tmp_path_factory.mktemp("schemathesis")
    with serve_in_thread(create_app({"open_world": True})) as url:
        done = subprocess.run(
            [sys.executable, "-m", "schemathesis.cli", "run", str(SPEC), "--url", url, "-H", f"Authorization: Bearer {FULL_KEY}",
             "--phases", "coverage", "-n", "5", "--generation-deterministic", "-c", "not_a_server_error",
             "--output-sanitize", "false", "--report", "vcr,har", "--report-vcr-path", str(out / "cassette.yaml"),
             "--report-har-path", str(out / "recorded.har"), "--no-color"],
            capture_output=True, text=True, timeout=120, cwd=out,
        )
    assert (out / "cassette.yaml").is_file(), done.stdout + done.stderr
    return out / "cassette.yaml", out / "recorded.har"


@pytest.mark.e2e
def test_a_schemathesis_cassette_and_its_har_give_the_same_judgement(schemathesis_recordings, tmp_path):
    cassette, har_path = schemathesis_recordings
    assert open_recording(cassette).format == "Schemathesis cassette" and open_recording(har_path).format == "HAR 1.2"
    results = {}
    for path in (cassette, har_path):
        reports = tmp_path / path.suffix
        result = judge(path, "--report-dir", reports, "--format", "json,html")
        assert result.exit_code == 1, result.output  # Schemathesis sends requests that break rules on purpose
        data = json.loads((reports / "conformance.json").read_text())
        results[path.suffix] = {r["id"]: (r["status"], r["exercised"], r["failed"]) for r in data["rules"]}
        assert data["traffic"]["judged"] > 50
        # the mock is right: every finding is the client's, never the server's
        assert {f["broken_by"] for f in data["findings"]} == {"client"}
        # the coverage phase sends one request without Authorization: the client's fault, a 401 from the server
        assert data["rules"][[r["id"] for r in data["rules"]].index("auth-required")]["observed"].endswith("server right in 1")
        for report in reports.iterdir():
            assert FULL_KEY not in report.read_text(encoding="utf-8")
    assert results[".yaml"] == results[".har"]


@pytest.mark.e2e
def test_a_schemathesis_cassette_with_masked_keys_is_not_judged_on_credentials(schemathesis_recordings, tmp_path):
    cassette, _ = schemathesis_recordings
    masked = tmp_path / "masked.yaml"
    masked.write_text(cassette.read_text().replace(f"Bearer {FULL_KEY}", "[Filtered]"))
    result = judge(masked, "--report-dir", tmp_path / "r", "--format", "json")
    data = json.loads((tmp_path / "r" / "conformance.json").read_text())
    auth = next(r for r in data["rules"] if r["id"] == "auth-required")
    assert auth["exercised"] == 1  # only the request that had no header at all
    assert result.exit_code == 1


@pytest.mark.e2e
def test_a_truncated_schemathesis_cassette_stops_at_the_cut(schemathesis_recordings, tmp_path):
    cassette, _ = schemathesis_recordings
    text = cassette.read_text()
    cut = text.index("http_version", len(text) // 2)
    path = tmp_path / "cut.yaml"
    path.write_text(text[:cut])
    result = judge(path, "--report-dir", tmp_path / "r", "--format", "json")
    assert "the file ends inside interaction" in result.output
    data = json.loads((tmp_path / "r" / "conformance.json").read_text())
    recorded = text[:cut].count("\n- id:")
    assert data["traffic"]["exchanges"] == recorded - 1


@pytest.mark.e2e
def test_a_vcrpy_cassette_of_a_faulty_server_and_a_faulty_client(tmp_path):
    vcr = pytest.importorskip("vcr")
    lax = Variant("tag-send-without-recipientId", "batch-needs-recipientId", after=accept_when("batch-needs-recipientId"))
    path = tmp_path / "cassette.yaml"
    with serve_in_thread(lax.app()) as url, vcr.use_cassette(str(path), record_mode="all"), httpx.Client(base_url=url) as client:
        auth = {"Authorization": f"Bearer {FULL_KEY}"}
        assert client.post("/v1/sending", json=VALID, headers=auth).status_code == 200
        assert client.post("/v1/sending", json=TAG_WITHOUT_ID, headers=auth).status_code == 200  # the fault
        # a client that forgot its key: a vcrpy cassette cannot tell it from a key its filter_headers dropped, so
        # the 401 is the server's answer and the client's credentials are not judged (red-team N2 F2)
        assert client.post("/v1/sending", json=VALID).status_code == 401
        client.get("/_mock/health")
    assert open_recording(path).format == "vcrpy cassette"
    reports = tmp_path / "reports"
    result = judge(path, "--report-dir", reports, "--format", "json")
    assert result.exit_code == 1, result.output
    data = json.loads((reports / "conformance.json").read_text())
    assert data["traffic"]["judged"] == 3 and data["traffic"]["other"] == 1
    assert {(f["rule"], f["broken_by"]) for f in data["findings"]} == {
        ("batch-needs-recipientId", "client"), ("batch-needs-recipientId", "server")}
    assert any("credentials masked or possibly left out" in note for note in data["traffic"]["notes"])
    assert FULL_KEY not in (reports / "conformance.json").read_text()
    # the same cassette, cut inside its last interaction
    text = path.read_text()
    path.write_text(text[: text.rindex("status:")])
    result = judge(path, "--report-dir", reports, "--format", "json")
    assert "the file ends inside interaction 4" in result.output
    assert json.loads((reports / "conformance.json").read_text())["traffic"]["exchanges"] == 3


@pytest.mark.e2e
def test_pass_r3_f4_a_cassette_of_a_url_with_a_password_never_writes_the_password(tmp_path):
    """Pass R3, F4: httpx keeps `user:password@` in the request URL vcrpy records (the Basic header it sends for it
    dropped by the usual filter_headers); a server echoing the password had it in conformance.json, junit.xml and
    index.html: a URL's userinfo was hidden where the URL is shown, never learned as a credential."""
    vcr = pytest.importorskip("vcr")
    password = "Sup3rS3cretPassw0rd"

    async def echoing(scope, receive, send):  # a 400 quoting the Basic credential it was sent, decoded
        while (await receive()).get("more_body"):
            pass
        basic = dict(scope["headers"]).get(b"authorization", b"").split(b" ")[-1]
        body = json.dumps({"success": False, "error": f"bad request from {base64.b64decode(basic).decode()}"}).encode()
        await send({"type": "http.response.start", "status": 400, "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": body})

    path = tmp_path / "cassette.yaml"
    with serve_in_thread(echoing) as url, vcr.use_cassette(str(path), record_mode="all", filter_headers=["authorization"]):
        sent = httpx.post(url.replace("://", f"://svcuser:{password}@") + "/v1/sending", json=TAG_WITHOUT_ID)
        assert password in sent.text
    assert f"svcuser:{password}@" in path.read_text()  # the URL as the client sent it; no Authorization kept
    reports = tmp_path / "reports"
    result = judge(path, "--report-dir", reports, "--format", "json,junit,md,html")
    assert result.exit_code == 1, result.output
    assert "batch-needs-recipientId" in (reports / "conformance.json").read_text()
    for written in reports.rglob("*"):
        assert not written.is_file() or password not in written.read_text(errors="replace"), written
    assert password not in result.output


@pytest.mark.e2e
def test_a_vcrpy_cassette_in_json(tmp_path):
    vcr = pytest.importorskip("vcr")
    path = tmp_path / "cassette.json"
    with serve_in_thread(create_app({"open_world": True})) as url, vcr.use_cassette(str(path), serializer="json", record_mode="all"), \
            httpx.Client(base_url=url) as client:
        client.post("/v1/sending", json=TAG_WITHOUT_ID, headers={"Authorization": f"Bearer {FULL_KEY}"})
    assert open_recording(path).format == "vcrpy cassette (JSON)"
    result = judge(path, "--report-dir", tmp_path / "r", "--format", "json")
    assert result.exit_code == 1
    data = json.loads((tmp_path / "r" / "conformance.json").read_text())
    assert {(f["rule"], f["broken_by"]) for f in data["findings"]} == {("batch-needs-recipientId", "client")}


def test_a_key_the_server_echoes_across_the_error_excerpt_cut_is_masked_whole(tmp_path):
    # the error text is shortened for the finding: redacting after that cut left the key's first 20 characters
    entry = har_entry("POST", STAGING, TAG_WITHOUT_ID, 422, {"success": False, "error": "x" * 140 + KEY})
    path = tmp_path / "echo.har"
    path.write_text(json.dumps(har([entry])))
    result = judge(path, "--report-dir", tmp_path / "reports")
    assert result.exit_code == 1 and "(error: xxx" in result.output
    pieces = {KEY[i:i + 12] for i in range(len(KEY) - 11)}
    outputs = {"stdout": result.output} | {p.name: p.read_text(encoding="utf-8") for p in (tmp_path / "reports").iterdir()}
    assert not [(name, piece) for name, text in outputs.items() for piece in pieces if piece in text]


# --- recorded bodies in their content coding, and exchanges that waited past the timeout (issue 25) -------------


def _gzipped(request, response):
    import gzip

    return Resp(response.status, {**response.headers, "content-encoding": "gzip"}, gzip.compress(response.body))


@pytest.mark.e2e
def test_a_vcrpy_cassette_of_a_server_that_gzips_its_answers_is_judged_on_the_decoded_bodies(tmp_path):
    vcr = pytest.importorskip("vcr")
    path = tmp_path / "gzip.yaml"
    gzipping = Variant("gzips-its-answers", None, after=_gzipped, config={"open_world": True})
    with serve_in_thread(gzipping.app()) as url, vcr.use_cassette(str(path), record_mode="all"), httpx.Client(base_url=url) as client:
        auth = {"Authorization": f"Bearer {FULL_KEY}"}
        assert client.post("/v1/sending", json=VALID, headers=auth).status_code == 200
        assert client.post("/v1/sending", json=VALID, headers=auth).status_code == 200  # an identical resend: a new id
        assert client.post("/v1/sending", json=TAG_WITHOUT_ID, headers=auth).status_code == 400
    assert "!!binary" in path.read_text() and "gzip" in path.read_text()  # vcrpy kept the compressed bytes
    reports = tmp_path / "reports"
    result = judge(path, "--report-dir", reports, "--format", "json")
    data = json.loads((reports / "conformance.json").read_text())
    rules = {r["id"]: r for r in data["rules"]}
    assert rules["content-type-json"]["status"] == "passed" and rules["content-type-json"]["exercised"] == 3
    assert rules["success-schema"]["status"] == "passed" and rules["result-id-unique"]["exercised"] == 2
    assert {(f["rule"], f["broken_by"]) for f in data["findings"]} == {("batch-needs-recipientId", "client")}, result.output


def test_a_recorded_body_is_decompressed_within_the_bound_and_a_bomb_is_not_judged_as_a_body(tmp_path):
    import gzip

    from migma_contract.traffic.recordings import Recording

    ok = json.dumps(OK).encode()
    bomb = gzip.compress(b"{" + b" " * (4 << 20) + b"}")  # 4 MiB of JSON from a few KiB
    cassette = {"interactions": [
        {"request": {"method": "POST", "uri": STAGING, "body": json.dumps(VALID),
                     "headers": {"Authorization": [f"Bearer {KEY}"], "Content-Type": ["application/json"],
                                 "User-Agent": ["python-requests/2.32.3"], "Accept-Encoding": ["gzip, deflate"]}},
         "response": {"status": {"code": 200, "message": "OK"}, "body": {"base64_string": base64.b64encode(body).decode()},
                      "headers": {"Content-Type": ["application/json"], "Content-Encoding": [coding]}}}
        for body, coding in ((gzip.compress(ok), "gzip"), (bomb, "gzip"), (ok, "gzip"))]}
    path = tmp_path / "cassette.json"
    path.write_text(json.dumps(cassette))
    first, second, third = Recording(path, "vcrpy cassette (JSON)", max_body_bytes=1 << 20).exchanges()
    assert first.response_body == ok
    assert second.response_body is None and second.response_size is not None  # over the bound: not recorded in full
    # marked gzip but stored as plain text: a cassette keeps the bytes as sent, so the answer is not read (pass J, F6)
    assert third.response_body is None and "could not be decoded" in (third.unread or "")


def test_a_recorded_body_in_a_coding_clients_read_differently_is_left_unread(tmp_path):
    """Pass I, 3: a cassette keeps an answer's bytes as sent: `x-gzip` (httpx, a common recorder's client, does not
    decode it) or a gzip body of two members (httpx and curl read the first only) is not judged as a body: what the
    recording's client read does not show."""
    import gzip

    from migma_contract.traffic.recordings import Recording

    ok = json.dumps(OK).encode()
    cassette = {"interactions": [
        {"request": {"method": "POST", "uri": STAGING, "body": json.dumps(VALID),
                     "headers": {"Authorization": [f"Bearer {KEY}"], "Content-Type": ["application/json"]}},
         "response": {"status": {"code": 200, "message": "OK"}, "body": {"base64_string": base64.b64encode(body).decode()},
                      "headers": {"Content-Type": ["application/json"], "Content-Encoding": [coding]}}}
        for body, coding in ((gzip.compress(ok), "x-gzip"), (gzip.compress(ok[:9]) + gzip.compress(ok[9:]), "gzip"))]}
    path = tmp_path / "cassette.json"
    path.write_text(json.dumps(cassette))
    for exchange, why in zip(Recording(path, "vcrpy cassette (JSON)", max_body_bytes=1 << 20).exchanges(),
                             ("x-gzip", "more than one member"), strict=True):
        assert exchange.response_body is None and why in (exchange.unread or ""), exchange.unread
    result = judge(path, "--report-dir", tmp_path / "reports")
    assert result.exit_code == 3 and "2 send(s) judged in part" in result.output, result.output


def test_a_har_entry_that_waited_past_the_timeout_without_an_answer_fails_responds_in_time(tmp_path):
    timed_out = har_entry("POST", STAGING, VALID, 0, {}, time_ms=30_000)
    timed_out["response"].update(content={"size": 0, "mimeType": "", "text": ""}, _error="net::ERR_TIMED_OUT")
    path = tmp_path / "hang.har"
    # (Chrome's export: a recorder known to time the server's `wait` apart, pass X2, F2)
    path.write_text(json.dumps(har([timed_out, har_entry("POST", STAGING, VALID, 200, OK)], creator="WebInspector")))
    reports = tmp_path / "reports"
    result = judge(path, "--report-dir", reports, "--format", "json", "--timeout", "10")
    data = json.loads((reports / "conformance.json").read_text())
    rules = {r["id"]: r for r in data["rules"]}
    assert (rules["responds-in-time"]["status"], rules["responds-in-time"]["failed"]) == ("failed", 1), result.output
    assert rules["no-server-error"]["failed"] == 0


def test_a_recorded_answer_with_a_lone_surrogate_is_judged_not_a_crash(tmp_path):
    """Third attack pass: `"\\udcff"` in a recorded body stopped `judge` (exit 3, no reports)."""
    import json as _json

    from migma_contract import contract_for
    from migma_contract.traffic.recordings import open_recording
    from migma_contract.traffic.tally import TrafficJudge

    body = '{"recipientType": "email", "recipientEmail": "a@example.com", "from": "b@example.com", "fromName": "B", "subject": "S"}'
    answer = '{"success": true, "data": {"id": "m\\udcff", "status": "queued"}, "error": null}'
    entry = {"startedDateTime": "2026-12-06T00:00:00Z", "time": 5,
             "request": {"method": "POST", "url": "http://h/v1/sending", "httpVersion": "HTTP/1.1",
                         "headers": [{"name": "Authorization", "value": "Bearer k_test"},
                                     {"name": "Content-Type", "value": "application/json"}],
                         "queryString": [], "cookies": [], "headersSize": -1, "bodySize": len(body),
                         "postData": {"mimeType": "application/json", "text": body}},
             "response": {"status": 200, "statusText": "OK", "httpVersion": "HTTP/1.1",
                          "headers": [{"name": "Content-Type", "value": "application/json"}], "cookies": [],
                          "content": {"size": len(answer), "mimeType": "application/json", "text": answer},
                          "redirectURL": "", "headersSize": -1, "bodySize": len(answer)},
             "cache": {}, "timings": {"send": 0, "wait": 5, "receive": 0}}
    path = tmp_path / "s.har"
    path.write_text(_json.dumps({"log": {"version": "1.2", "creator": {"name": "t", "version": "1"}, "entries": [entry]}}))
    judge = TrafficJudge(contract_for(), "documented", kind="recorded", label="s.har")
    for exchange in open_recording(path).exchanges():
        judge.observe(exchange)
    result = judge.result()
    assert result.traffic.judged == 1
    # JSON whose reading RFC 8259 §8.2 leaves open (JSON.parse and Python read it, a strict parser refuses it): judged
    # in part, never content-type-json's "not JSON" (attack pass M1, F6)
    assert result.traffic.partly_judged == 1 and not result.findings


def test_a_cassette_item_over_the_cap_is_passed_over_not_kept(tmp_path, monkeypatch):
    """Fourth attack pass: one YAML interaction of millions of lines grew without bound (1.5 GB for a 40 MB file)."""
    from migma_contract.traffic import recordings

    monkeypatch.setattr(recordings, "MAX_YAML_ITEM", 2000)
    path = tmp_path / "c.yaml"
    good = ("- request:\n    body: '{}'\n    headers: {}\n    method: POST\n    uri: http://h/v1/sending\n"
            "  response:\n    body: {string: '{}'}\n    headers: {}\n    status: {code: 400, message: Bad}\n")
    path.write_text("interactions:\n" + "- request:\n" + "    #\n" * 5000 + good + "version: 1\n")
    recording = recordings.open_recording(path)
    exchanges = list(recording.exchanges())
    assert len(exchanges) == 1 and any("the cap on one recorded item" in s for s in recording.skipped), recording.skipped
