"""`migma-contract proxy`: traffic forwarded unchanged, judged both ways, reported on shutdown."""

import gzip
import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import anyio
import httpx
import pytest
from click.testing import CliRunner

from migma_contract import contract_for
from migma_contract.cli import main
from migma_contract.mock import create_app
from migma_contract.traffic.proxy import TrafficProxy
from migma_contract.traffic.tally import TrafficJudge
from migma_contract.wire.serve import serve_in_thread

from .faulty_servers import FAULTS, FULL_KEY, Variant, accept_when
from .helpers import read_body

ROOT = Path(__file__).resolve().parent.parent
AUTH = {"Authorization": f"Bearer {FULL_KEY}"}
VALID = {"recipientType": "email", "recipientEmail": "ann@example.com", "from": "news@example.com", "fromName": "News",
         "subject": "Hello", "emailId": "email_welcome"}
TAG_WITHOUT_ID = {"recipientType": "tag", "from": "news@example.com", "fromName": "News", "subject": "Hi", "emailId": "email_welcome"}


def proxied(upstream_app, *, timeout=10.0, level="documented"):
    """The upstream served on a loopback port, a judging proxy in front of it; yields (proxy URL, judge)."""
    class Both:
        def __enter__(self):
            self.upstream = serve_in_thread(upstream_app, server_header=False, date_header=False)
            url = self.upstream.__enter__()
            self.judge = TrafficJudge(contract_for(), level, kind="proxy", label="test proxy", url=url, timeout=timeout)
            self.proxy = serve_in_thread(TrafficProxy(url, self.judge, timeout=timeout), server_header=False, date_header=False)
            return self.proxy.__enter__(), self.judge

        def __exit__(self, *exc):
            self.proxy.__exit__(*exc)
            self.upstream.__exit__(*exc)

    return Both()


@pytest.mark.e2e
def test_in_front_of_the_mock_a_faulty_client_is_named_and_the_server_is_right():
    with proxied(create_app({"open_world": True})) as (url, judge), httpx.Client(base_url=url) as client:
        assert client.post("/v1/sending", json=VALID, headers=AUTH).status_code == 200
        refused = client.post("/v1/sending", json=TAG_WITHOUT_ID, headers=AUTH)
        assert refused.status_code == 400 and "recipientId" in refused.json()["error"]  # the mock's own answer, through
        assert client.post("/v1/sending", json=VALID).status_code == 401
        assert client.get("/_mock/health").json()["requests"] == 3  # other paths are forwarded too
    result = judge.result()
    assert result.traffic.judged == 3 and result.traffic.other == 1
    assert {(f.rule, f.broken_by) for f in result.findings} == {("batch-needs-recipientId", "client"), ("auth-required", "client")}
    assert result.rule("accepts-valid").passed == 1
    assert result.target.kind == "proxy"


@pytest.mark.e2e
def test_in_front_of_a_faulty_server_the_server_is_named():
    lax = Variant("tag-send-without-recipientId", "batch-needs-recipientId", after=accept_when("batch-needs-recipientId"))
    status_done = next(v for v in FAULTS if v.name == "status-done")
    for variant, rule in ((lax, "batch-needs-recipientId"), (status_done, "result-status-known")):
        with proxied(variant.app()) as (url, judge), httpx.Client(base_url=url) as client:
            client.post("/v1/sending", json=VALID, headers=AUTH)
            client.post("/v1/sending", json=TAG_WITHOUT_ID, headers=AUTH)
        servers = {f.rule for f in judge.result().findings if f.broken_by == "server"}
        assert servers == {rule}, (variant.name, servers)


async def _echo(scope, receive, send):
    """An upstream that answers with what it received, gzip-compressed, with headers a proxy must keep."""
    body = await read_body(receive)
    seen = {"method": scope["method"], "path": scope["path"], "query": scope["query_string"].decode(), "body": body.decode(),
            "headers": sorted([k.decode(), v.decode()] for k, v in scope["headers"] if k not in (b"host", b"content-length"))}
    payload = gzip.compress(json.dumps({"success": True, "data": {"id": "m1", "status": "queued", "seen": seen}, "error": None}).encode())
    await send({"type": "http.response.start", "status": 200, "headers": [
        (b"content-type", b"application/json"), (b"content-encoding", b"gzip"), (b"x-upstream", b"kept"),
        (b"set-cookie", b"a=1"), (b"set-cookie", b"b=2"), (b"content-length", str(len(payload)).encode())]})
    await send({"type": "http.response.body", "body": payload})


@pytest.mark.e2e
def test_requests_and_answers_pass_unchanged():
    body = json.dumps(VALID, indent=1).encode()  # its own formatting, byte for byte
    headers = {**AUTH, "Content-Type": "application/json", "X-Client": "mine", "Accept-Encoding": "gzip"}
    with proxied(_echo) as (url, judge), httpx.Client() as client:
        response = client.post(f"{url}/v1/sending?trace=1&x=%20y", content=body, headers=headers)
    raw = gzip.decompress(response.content) if response.headers.get("content-encoding") == "gzip" and response.content[:2] == b"\x1f\x8b" else response.content
    seen = json.loads(raw)["data"]["seen"]
    assert seen["body"] == body.decode() and seen["query"] == "trace=1&x=%20y" and seen["method"] == "POST"
    sent = sorted([k, v] for k, v in response.request.headers.items() if k not in ("host", "content-length", "connection"))
    assert [h for h in seen["headers"] if h[0] != "connection"] == sent  # every header the client sent, nothing added
    assert response.headers.multi_items() == [  # the upstream's headers, in order, and nothing of the proxy's own
        ("content-type", "application/json"), ("content-encoding", "gzip"), ("x-upstream", "kept"),
        ("set-cookie", "a=1"), ("set-cookie", "b=2"), ("content-length", response.headers["content-length"])]
    # judged on the decoded body: a gzip success is a success
    assert judge.result().rule("content-type-json").passed == 1 and not judge.result().findings


async def _slow(scope, receive, send):
    while (await receive()).get("more_body"):
        pass
    await anyio.sleep(1.0)
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": b"{}"})


@pytest.mark.e2e
def test_an_upstream_that_does_not_answer_in_time_is_a_504_and_a_finding():
    with proxied(_slow, timeout=0.3) as (url, judge), httpx.Client(base_url=url) as client:
        response = client.post("/v1/sending", json=VALID, headers=AUTH)
    assert response.status_code == 504 and "migma-contract proxy" in response.json()["error"]
    assert [(f.rule, f.broken_by) for f in judge.result().findings] == [("responds-in-time", "server")]


@pytest.mark.e2e
def test_an_upstream_that_goes_away_is_a_502_and_a_finding():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}"
    judge = TrafficJudge(contract_for(), kind="proxy", label="t")
    with serve_in_thread(TrafficProxy(closed, judge, timeout=2.0)) as url, httpx.Client(base_url=url) as client:
        response = client.post("/v1/sending", json=VALID, headers=AUTH)
    assert response.status_code == 502
    assert [(f.rule, f.broken_by) for f in judge.result().findings] == [("no-server-error", "server")]


@pytest.mark.e2e
def test_a_request_body_over_the_cap_is_answered_413_by_the_proxy_and_never_forwarded():
    seen = []

    async def upstream(scope, receive, send):
        seen.append(scope["path"])
        await _echo(scope, receive, send)

    with serve_in_thread(upstream) as upstream_url:
        judge = TrafficJudge(contract_for(), kind="proxy", label="t", url=upstream_url)
        with serve_in_thread(TrafficProxy(upstream_url, judge, max_request_bytes=1000)) as url, httpx.Client(base_url=url) as client:
            def chunks():  # streamed in pieces: the cap holds whatever the framing
                for _ in range(40):
                    yield b" " * 100
            refused = client.post("/v1/sending", content=chunks(), headers={**AUTH, "Content-Type": "application/json"})
            small = client.post("/v1/sending", json=VALID, headers=AUTH)
    assert refused.status_code == 413 and "over 1,000 bytes" in refused.json()["error"]
    assert small.status_code == 200 and seen == ["/v1/sending"]  # only the small one reached the upstream
    result = judge.result()
    assert any("answered 413 by the proxy" in note for note in result.traffic.notes)
    # a send the proxy refused itself was never judged: it passes unjudged, and no green verdict rests on it
    assert result.traffic.unjudged == 1 and result.findings == [] and result.exit_code == 3


# --- the command --------------------------------------------------------------------------------------


def proxy_cli(*args):
    return CliRunner().invoke(main, ["proxy", *map(str, args)], catch_exceptions=False)


def test_the_production_host_is_refused_without_allow_production(tmp_path):
    result = proxy_cli("--upstream", "https://api.migma.ai", "--report-dir", tmp_path)
    assert result.exit_code == 2 and "production host" in result.output and "--allow-production" in result.output


def test_an_unreachable_upstream_at_start_exits_3(tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = proxy_cli("--upstream", f"http://127.0.0.1:{port}", "--port", "0", "--report-dir", tmp_path)
    assert result.exit_code == 3 and "cannot reach the upstream" in result.output


def test_the_upstream_and_its_credentials_can_come_from_the_environment(tmp_path):
    """A password on the command line is visible in the process list; $MIGMA_CONTRACT_UPSTREAM keeps it out."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = CliRunner(env={"MIGMA_CONTRACT_UPSTREAM": f"http://svc:Hunter2Password@127.0.0.1:{port}"}).invoke(
        main, ["proxy", "--port", "0", "--report-dir", str(tmp_path)], catch_exceptions=False)
    assert result.exit_code == 3 and f"cannot reach the upstream http://127.0.0.1:{port}" in result.output
    assert "Hunter2Password" not in result.output


@pytest.mark.parametrize("args, message", [
    (["--upstream", "ftp://x"], "--upstream"),
    (["--upstream", "http://127.0.0.1:9", "--report-every", "0"], "--report-every"),
    (["--upstream", "http://127.0.0.1:9", "--format", "pdf"], "--format"),
])
def test_bad_options_are_one_line_and_exit_2(tmp_path, args, message):
    result = proxy_cli(*args, "--report-dir", tmp_path)
    assert result.exit_code == 2 and message in result.output and result.output.count("\n") == 1


def _lines_until(stream, text):
    """The lines a child process writes, up to the first holding `text` (blocking reads: no sleep, no poll)."""
    lines = []
    while not lines or text not in lines[-1]:
        line = stream.readline()
        assert line, f"the process ended before writing {text!r}: {lines}"
        lines.append(line)
    return lines


@pytest.mark.e2e
def test_the_command_logs_violations_as_they_happen_and_reports_on_interrupt(tmp_path):
    lax = Variant("tag-send-without-recipientId", "batch-needs-recipientId", after=accept_when("batch-needs-recipientId"))
    reports = tmp_path / "reports"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200"}
    with serve_in_thread(lax.app()) as upstream:
        process = subprocess.Popen(
            [sys.executable, "-m", "migma_contract.cli", "proxy", "--upstream", upstream, "--port", "0",
             "--report-dir", str(reports), "--report-every", "0.2"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path)
        try:
            url = process.stdout.readline().split("listening on ", 1)[1].split(",", 1)[0]
            with httpx.Client(base_url=url) as client:
                assert client.post("/v1/sending", json=TAG_WITHOUT_ID, headers=AUTH).status_code == 200
            logged = [line for line in _lines_until(process.stderr, "✗ server broke") if line.startswith("✗")]
            assert [line.split(":", 1)[0] for line in logged] == ["✗ client broke batch-needs-recipientId", "✗ server broke batch-needs-recipientId"]
            _lines_until(process.stderr, "(1 exchange(s) judged)")  # a periodic write, before any interrupt
            assert json.loads((reports / "conformance.json").read_text())["traffic"]["judged"] == 1
            process.send_signal(signal.SIGINT)
            out, err = process.communicate(timeout=30)
        finally:
            if process.poll() is None:
                process.kill()
    assert process.returncode == 1, err
    assert "VIOLATIONS OBSERVED" in out and "report:" in out
    data = json.loads((reports / "conformance.json").read_text())
    assert data["target"]["kind"] == "proxy" and data["exit_code"] == 1
    for text in (out, err, *(p.read_text(encoding="utf-8") for p in reports.iterdir())):
        assert FULL_KEY not in text
