"""The checker against hostile or broken targets: bounded, clear, a report still written."""

import json
import re
import socket
import subprocess
import sys
import threading

import anyio
import httpx
import pytest

from migma_contract import ConfigError, TargetUnreachable, contract_for
from migma_contract.config.options import CheckOptions
from migma_contract.generate.bodies import BodyFactory
from migma_contract.generate.cases import Case, CaseAuth
from migma_contract.mock import create_app
from migma_contract.reports import write_reports
from migma_contract.run.runner import run_check
from migma_contract.run.state import RunState
from migma_contract.wire.client import Target, TargetSettings
from migma_contract.wire.serve import serve_in_thread

from . import hostile_servers as hostile
from .faulty_servers import Req, Variant
from .helpers import tls_mock_url

pytestmark = pytest.mark.e2e  # hostile servers served on loopback, checked whole

KEY = "mc_live_HOSTILE_SECRET_42"


def bounded(options: CheckOptions, tmp_path, app=None):
    """Run the check in a thread; it must finish (a hang here is the bug being tested for)."""
    outcome: dict = {}

    def target():
        try:
            outcome["result"] = run_check(options, app=app)
        except Exception as exc:
            outcome["error"] = exc

    worker = threading.Thread(target=target, daemon=True)
    worker.start()
    worker.join(timeout=120)
    assert not worker.is_alive(), "the check did not end"
    if "error" in outcome:
        raise outcome["error"]
    result = outcome["result"]
    write_reports(result, tmp_path)
    assert json.loads((tmp_path / "conformance.json").read_text())["verdict"] == result.verdict
    return result


def options(url, **extra):
    base = {"base_url": url, "api_key": KEY, "timeout": 0.5, "explore": False, "max_requests": 25}
    return CheckOptions(**{**base, **extra})


def failed(result):
    return {r.id for r in result.rules if r.status == "failed"}


def test_a_server_that_never_answers_ends_after_three_timeouts(tmp_path):
    with hostile.raw_server(hostile.hang) as url:
        result = bounded(options(url), tmp_path)
    assert result.exit_code == 1 and "3 requests timed out" in result.aborted
    assert failed(result) == {"responds-in-time"} and result.requests_sent == 3


def test_a_server_trickling_a_byte_at_a_time_is_cut_at_the_timeout(tmp_path):
    with hostile.raw_server(hostile.trickle) as url:
        result = bounded(options(url), tmp_path)
    assert "responds-in-time" in failed(result) and result.exit_code == 1
    assert all(f.response.elapsed_ms < 5000 for f in result.findings)


@pytest.mark.parametrize("handler", [hostile.close_mid_body, hostile.reset], ids=["closed-mid-body", "reset"])
def test_broken_connections_are_findings(tmp_path, handler):
    with hostile.raw_server(handler) as url:
        result = bounded(options(url), tmp_path)
    assert "no-server-error" in failed(result)
    finding = next(f for f in result.findings if f.rule == "no-server-error")
    assert finding.response.error and "no complete response" in finding.actual


def _cut_at_the_cap(result):
    """A body over the run's cap is read up to it and judged in part: no body rule judged, no finding, no verdict."""
    assert result.exit_code == 3 and result.verdict == "incomplete", result.headline
    assert result.completion == "partial" or result.completion == "cut"  # (a budget that also cut the plan is said first)
    assert "judged in part" in result.stopped, result.stopped
    assert "over the run's 1048576-byte cap" in result.stopped and not result.findings
    assert "content-type-json" not in failed(result)


def test_a_300_mb_body_is_read_with_a_cap(tmp_path):
    with hostile.raw_server(hostile.endless_body) as url:
        result = bounded(options(url, max_requests=5), tmp_path)
    _cut_at_the_cap(result)
    assert result.requests_sent == 5  # each answer ended at the cap, none read whole


def test_a_gzip_bomb_is_inflated_only_up_to_the_cap(tmp_path):
    with hostile.raw_server(hostile.gzip_bomb) as url:
        result = bounded(options(url, max_requests=5), tmp_path)
    _cut_at_the_cap(result)


@pytest.mark.parametrize(
    ("body", "rule"),
    [
        (b"{not json", "content-type-json"),
        (b"[" * 100_000 + b"]" * 100_000, "content-type-json"),
        (b'{"success": false, "error": "\xff\xfe"}', "content-type-json"),
        (b'{"success": true, "success": false, "error": "dup", "error": ""}', "envelope-consistent"),
    ],
    ids=["invalid-json", "deep-nesting", "not-utf8", "duplicate-keys"],
)
def test_garbage_bodies_are_findings_not_crashes(tmp_path, body, rule):
    with hostile.raw_server(hostile.each_request(lambda request: hostile.response("400 Bad Request", body))) as url:
        result = bounded(options(url), tmp_path)
    assert rule in failed(result)


def test_a_wrong_content_length_neither_hangs_nor_crashes(tmp_path):
    with hostile.raw_server(hostile.short_content_length) as url:
        result = bounded(options(url), tmp_path)
    assert result.requests_sent >= 2 and failed(result)


def test_a_redirect_is_a_configuration_error_and_never_carries_the_key_elsewhere(tmp_path):
    seen: list[dict] = []

    async def record(request: Req):
        seen.append(request.headers)

    elsewhere = Variant("elsewhere", None, before=record)
    with serve_in_thread(elsewhere.app()) as other:
        port = other.rsplit(":", 1)[1]
        location = f"http://localhost:{port}/v1/sending"  # another origin (host differs)
        answer = hostile.each_request(lambda request: hostile.response("307 Temporary Redirect", b"", Location=location))
        with hostile.raw_server(answer) as url:
            with pytest.raises(ConfigError, match=rf"was answered 307 \(Location: {re.escape(location)}\).*--base-url"):
                bounded(options(url), tmp_path / "default")  # issue 25: not 13 rule failures
            followed = bounded(options(url, follow_redirects=True), tmp_path / "followed")
    assert seen, "with --follow-redirects the request reached the other origin"
    assert all("authorization" not in headers for headers in seen)
    assert followed.settings.follow_redirects is True


def test_redirects_are_not_followed_by_default(tmp_path):
    calls: list[str] = []
    elsewhere = Variant("elsewhere", None, before=lambda request: calls.append(request.path) or _none())
    with serve_in_thread(elsewhere.app()) as other:
        answer = hostile.each_request(lambda request: hostile.response("302 Found", b"", Location=f"{other}/v1/sending"))
        with hostile.raw_server(answer) as url, pytest.raises(ConfigError, match="answered 302"):
            bounded(options(url), tmp_path)
    assert calls == []


async def _none():
    return None


_TLS_DIRECTORY = {}  # the TLS mock's URL -> the directory holding its authority's certificate


@pytest.fixture(scope="module")
def tls_mock(tmp_path_factory):
    directory = tmp_path_factory.mktemp("tls")
    with tls_mock_url(directory) as url:
        _TLS_DIRECTORY[url] = directory
        yield url


def test_tls_is_verified_by_default(tmp_path, tls_mock):
    assert tls_mock.startswith("https://127.0.0.1:")
    with pytest.raises(TargetUnreachable, match=r"CERTIFICATE_VERIFY_FAILED|certificate verify failed"):
        bounded(options(tls_mock, api_key="mc_test_full_access"), tmp_path)


def test_tls_is_verified_against_the_authorities_the_environment_names(tmp_path, tls_mock, monkeypatch):
    # httpx's own trust (SSL_CERT_FILE, SSL_CERT_DIR, else certifi's bundle), read at the first handshake
    monkeypatch.setenv("SSL_CERT_FILE", str(_TLS_DIRECTORY[tls_mock] / "ca.pem"))
    result = bounded(options(tls_mock, api_key="mc_test_full_access", restricted_api_key="mc_test_no_email_send",
                             max_requests=200, timeout=5), tmp_path)
    assert result.exit_code == 0 and result.settings.verify_tls is True


def test_a_check_of_an_http_url_reads_no_certificate_authorities(tmp_path, monkeypatch):
    # reading certifi's bundle is ~19 ms of CPU: a run that never shakes hands does not pay it
    import ssl

    from migma_contract.mock import create_app
    from migma_contract.wire.serve import serve_in_thread

    loaded = []
    real = ssl.SSLContext.load_verify_locations

    def spy(self, *args, **kwargs):
        loaded.append(args or kwargs)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(ssl.SSLContext, "load_verify_locations", spy)
    with serve_in_thread(create_app({"open_world": True})) as url:
        result = bounded(options(url, api_key="mc_test_full_access", restricted_api_key="mc_test_no_email_send",
                                 max_requests=200, timeout=5), tmp_path)
    assert result.exit_code == 0 and loaded == []


def test_insecure_tls_works_and_the_report_says_so(tmp_path, tls_mock):
    result = bounded(options(tls_mock, api_key="mc_test_full_access", restricted_api_key="mc_test_no_email_send",
                             insecure=True, max_requests=200, timeout=5), tmp_path)
    assert result.exit_code == 0
    assert result.settings.verify_tls is False
    assert "OFF (--insecure)" in (tmp_path / "index.html").read_text()


def test_dns_failure_is_unreachable_before_any_case(tmp_path, monkeypatch):
    real = socket.getaddrinfo

    def fake(host, *args, **kwargs):
        if host == "staging.nowhere.invalid":
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", fake)
    with pytest.raises(TargetUnreachable, match=re.escape("cannot reach http://staging.nowhere.invalid:4010")):
        bounded(options("http://staging.nowhere.invalid:4010"), tmp_path)


def test_refused_connection_is_unreachable_with_nothing_judged(tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(TargetUnreachable):
        bounded(options(f"http://127.0.0.1:{port}"), tmp_path)


def test_option_errors_are_config_errors():
    with pytest.raises(ConfigError, match="--max-requests"):
        run_check(CheckOptions(max_requests=0))
    with pytest.raises(ConfigError, match="http:// or https://"):
        run_check(CheckOptions(base_url="ftp://x", api_key="k"))


# --- bad input to the toolkit: exit 2, one line, no traceback -----------------------------------------


def cli(*args, env=None, cwd=None):
    return subprocess.run([sys.executable, "-m", "migma_contract.cli", *args], capture_output=True, text=True,
                          timeout=120, env={"PATH": "/usr/bin:/bin", **(env or {})}, cwd=cwd)


@pytest.mark.parametrize(
    ("args", "files", "message"),
    [
        (["check", "--spec", "not-openapi.yaml"], {"not-openapi.yaml": "name: just some yaml\n"}, "'openapi' must be"),
        (["check", "--spec", "missing.yaml"], {}, "no such file"),
        (["check", "--mock-config", "bad.yaml"], {"bad.yaml": "keys: [oops\n"}, "not valid YAML"),
        (["mock", "--config", "bad.json"], {"bad.json": "{\"keys\": 1}"}, "keys"),
        (["check"], {"pyproject.toml": "[tool.migma-contract\nlevel='x'"}, "cannot read [tool.migma-contract]"),
        (["check", "--base-url", "localhost:4010", "--api-key", KEY], {}, "http:// or https://"),
        (["check", "--max-requests", "0"], {}, "--max-requests"),
        (["check", "--level", "loud"], {}, "--level"),
        (["report", "nothing.json"], {}, "no such file"),
    ],
    ids=["not-openapi", "missing-spec", "bad-mock-config", "bad-mock-config-cli", "bad-pyproject", "no-scheme",
         "zero-budget", "unknown-level", "missing-report"],
)
def test_bad_input_exits_2_with_one_line(tmp_path, args, files, message):
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    done = cli(*args, cwd=tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    assert message in done.stderr and "Traceback" not in done.stderr + done.stdout
    assert len(done.stderr.strip().splitlines()) <= 3


# --- secrets, on every error path --------------------------------------------------------------------


@pytest.mark.parametrize("path", ["unreachable", "key-in-url", "timeouts", "tls", "findings", "bad-spec"])
def test_the_key_appears_in_no_output_on_any_path(tmp_path, path, tls_mock):
    env = {"MIGMA_CONTRACT_API_KEY": KEY, "MIGMA_CONTRACT_RESTRICTED_API_KEY": KEY + "_R"}
    # a short timeout only where the server hangs: an answering server given 0.5 s failed under a loaded machine
    timeout = "0.5" if path == "timeouts" else "30"
    args = ["check", "--report-dir", str(tmp_path / "reports"), "--timeout", timeout, "--no-explore", "--max-requests", "40"]
    with hostile.raw_server(hostile.hang) as hanging, \
            hostile.raw_server(hostile.each_request(lambda r: hostile.response("400 Bad Request", b'{"error": "' + r[:300].replace(b'"', b"'").replace(b"\r\n", b" ") + b'"}'))) as echo:
        closed = f"http://127.0.0.1:{_free_port()}"
        extra = {
            "unreachable": ["--base-url", closed],
            "key-in-url": ["--base-url", closed.replace("http://", f"http://user:{KEY}@") + f"/?api_key={KEY}"],
            "timeouts": ["--base-url", hanging],
            "tls": ["--base-url", tls_mock],
            "findings": ["--base-url", echo],
            "bad-spec": ["--spec", str(tmp_path / f"{KEY}.yaml")],
        }[path]
        done = cli(*args, *extra, env=env, cwd=tmp_path)
    outputs = [done.stdout, done.stderr]
    if (tmp_path / "reports").exists():
        outputs += [p.read_text() for p in (tmp_path / "reports").iterdir()]
    assert done.returncode in (1, 2, 3)
    for text in outputs:
        assert KEY not in text, path
    if path == "findings":
        assert "[REDACTED]" in (tmp_path / "reports" / "conformance.json").read_text()


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- the mock under load and abuse ------------------------------------------------------------------------


def test_mock_under_concurrent_load_stays_correct_and_bounded():
    """50 concurrent clients, 2,000 sends: no error, no 5xx, the log capped and saying so."""
    mock = create_app({"limits": {"sent_log": 500}})
    body = {"recipientType": "email", "recipientEmail": "a@example.com", "from": "a@example.com", "fromName": "A",
            "subject": "S", "emailId": "email_welcome"}
    statuses: list[int] = []
    lock = threading.Lock()

    def client(index):
        with httpx.Client(base_url=url, headers={"Authorization": "Bearer mc_test_full_access", "Idempotency-Key": ""}) as c:
            for n in range(40):
                status = c.post("/v1/sending", json=body, headers={"Idempotency-Key": f"{index}-{n}"}).status_code
                with lock:
                    statuses.append(status)

    with mock.running() as url:
        threads = [threading.Thread(target=client, args=(i,)) for i in range(50)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        listed = httpx.get(f"{url}/_mock/sent").json()
    assert statuses == [200] * 2000
    assert listed["count"] == 500 and listed["dropped"] == 1500
    assert len(mock.state._replies) <= 1000  # idempotent replies are capped too


def test_raw_garbage_on_the_socket_does_not_take_the_mock_down():
    with create_app().running() as url:
        host, port = url.removeprefix("http://").split(":")
        for garbage in (b"\x00\xff" * 1000, b"GET / HTTP/9.9\r\n\r\n", b"POST /v1/sending HTTP/1.1\r\nContent-Length: -5\r\n\r\n", b"\r\n" * 100):
            with socket.create_connection((host, int(port)), timeout=5) as sock:
                sock.sendall(garbage)
                sock.shutdown(socket.SHUT_WR)
                while sock.recv(65536):
                    pass
        assert httpx.post(f"{url}/v1/sending", json={}).status_code == 401


@pytest.mark.parametrize("value", ["Bearer a\nb", "Bearer ключ"], ids=["newline", "not-ascii"])
def test_a_request_the_client_refuses_to_send_is_a_usage_error_never_a_finding(value):
    """An error raised before the request leaves says nothing about the server: one line, exit 2."""
    contract = contract_for()

    async def send(url):
        async with Target(TargetSettings(url)) as target:
            run = RunState(CheckOptions(), contract, target, BodyFactory(contract.spec), None, None)
            await run.send(Case("x", "accepts-valid", "x", {}, frozenset({200}), CaseAuth.EXPLICIT, (("Authorization", value),)))

    with serve_in_thread(create_app()) as url, pytest.raises(ConfigError) as refused:
        anyio.run(send, url)
    assert str(refused.value).startswith("the request could not be sent (") and "nothing was judged" in str(refused.value)
    assert refused.value.exit_code == 2


def test_a_fractional_retry_after_is_honoured_not_recorded_as_a_failure(tmp_path):
    """A 429 with `Retry-After: 0.05` (the mock's rate windows under a second send such values) is retried."""
    from migma_contract.mock import create_app

    mock = create_app({"open_world": True})
    answered = {"n": 0}

    async def app(scope, receive, send):
        if scope["type"] == "http" and scope["path"] == "/v1/sending":
            answered["n"] += 1
            if answered["n"] % 3 == 0:
                while (await receive()).get("more_body"):
                    pass
                await send({"type": "http.response.start", "status": 429,
                            "headers": [(b"content-type", b"application/json"), (b"retry-after", b"0.05")]})
                await send({"type": "http.response.body", "body": b'{"success": false, "error": "slow down"}'})
                return
        await mock(scope, receive, send)

    result = run_check(CheckOptions(api_key="mc_test_full_access", explore=False, max_requests=60), app=app)
    assert result.rule("status-documented").status == "passed", result.findings_for("status-documented")


@pytest.mark.parametrize("url", ["https://api.migma.ai./v1/sending", "https://API.migma.ai", "https://api\u3002migma.ai"],
                         ids=["trailing-dot", "upper-case", "ideographic-full-stop"])
def test_the_production_guard_sees_the_host_httpx_would_connect_to(url):
    # pure functions only: a guard that let these through would send real email to production
    from migma_contract.testing import production_guard
    from migma_contract.wire.urls import guard_production, host_of

    assert host_of(url) == "api.migma.ai"
    with pytest.raises(ConfigError, match="production host"):
        production_guard(url, allow_production=False, servers=["https://api.migma.ai"])
    with pytest.raises(ConfigError, match="production host"):  # the check and the proxy share this guard
        guard_production(url, ["https://api.migma.ai"], allowed=False)


# --- exploration's blocking sends meet a hostile server as the plan's async sends do ----------------------

_REDIRECT_AWAY = hostile.each_request(lambda request: hostile.response(
    "307 Temporary Redirect", b"{}", Location="http://127.0.0.2:9/v1/sending"))
_ANSWERED = [0]


def _throttled_then_ok(request):
    """Every other request is a 429 (Retry-After: 0): each send is throttled once, then answered."""
    _ANSWERED[0] += 1
    if _ANSWERED[0] % 2:
        return hostile.response("429 Too Many Requests", b'{"success": false, "error": "slow"}', Retry_After="0")
    return hostile.response("200 OK", b'{"success": true, "data": {"id": "m_1", "status": "queued"}}')


def _outcome(exchange):
    """What the run judges of an exchange (error texts differ in the transport's words, not in kind; a
    timeout's are the checker's own, read in the reports: the same)."""
    kind = (exchange.error or "").split(":")[0].split(" within ")[0]
    return {"status": exchange.status, "timed_out": exchange.timed_out, "truncated": exchange.truncated,
            "error": exchange.error if exchange.timed_out else kind, "body": exchange.body[:64], "kept": len(exchange.body),
            "throttled": [a.status for a in exchange.throttled], "redirects": exchange.redirects}


@pytest.mark.parametrize("handler", [hostile.trickle, hostile.hang, hostile.close_mid_body, hostile.reset, hostile.endless_body,
                                     hostile.gzip_bomb, hostile.short_content_length, _REDIRECT_AWAY,
                                     hostile.each_request(_throttled_then_ok)],
                         ids=["trickle", "hang", "close-mid-body", "reset", "endless-body", "gzip-bomb", "short-content-length",
                              "redirect-away", "429-then-200"])
def test_a_blocking_send_meets_a_hostile_server_as_the_async_one_does(handler):
    case = Case("c", "", "", {"recipientType": "email"}, frozenset({200}), CaseAuth.FULL)
    outcomes = []
    with hostile.raw_server(handler) as url:
        settings = TargetSettings(url, api_key=KEY, timeout=0.5, max_response_bytes=1 << 16, follow_redirects=True)

        async def by_loop():
            async with Target(settings) as target:
                return await target.send(case)

        outcomes.append(_outcome(anyio.run(by_loop)))
        target = Target(settings)
        with target.blocking() as blocking:
            assert blocking
            exchange = target.send_now(case)
        outcomes.append(_outcome(exchange))
    if handler is hostile.trickle:  # cut at the one deadline (each byte's read succeeds: only the deadline ends it)
        assert exchange.timed_out and exchange.error == "no complete answer within 0.5 s"
    assert outcomes[0] == outcomes[1]
    assert KEY not in repr(exchange.redirects)


def _each_way(settings, case):
    """The exchange of `case` sent by the plan's driver (async), then by exploration's (blocking)."""

    async def by_loop():
        async with Target(settings) as target:
            return await target.send(case)

    target = Target(settings)
    with target.blocking() as blocking:
        assert blocking
        return anyio.run(by_loop), target.send_now(case)


def _never_reads(conn, stop):
    stop.wait()


def test_a_server_that_never_reads_a_large_body_times_out_each_way_in_the_same_words():
    # the write is cut at the deadline: the checker's words ("no complete answer within"), not httpcore's ("timed out")
    case = Case("c", "", "", {"recipientType": "email", "pad": "x" * (16 << 20)}, frozenset({200}), CaseAuth.FULL)
    with hostile.raw_server(_never_reads) as url:
        exchanges = _each_way(TargetSettings(url, api_key=KEY, timeout=0.5), case)
    assert [_outcome(e) for e in exchanges] == [_outcome(exchanges[0])] * 2
    assert exchanges[1].error == "no complete answer within 0.5 s"


def _trickle_briefly(conn, stop):
    """An answer a byte every 10 ms: complete in ~1 s, after the 0.5 s deadline."""
    hostile.read_request(conn)
    for byte in hostile.response("200 OK", b'{"via": "the proxy"}'):
        if stop.wait(0.01):
            return
        conn.sendall(bytes([byte]))


@pytest.mark.parametrize("proxy_handler", [hostile.each_request(lambda request: hostile.response("200 OK", b'{"via": "the proxy"}')),
                                           _trickle_briefly], ids=["answers", "trickles"])
def test_a_blocking_send_goes_through_the_environment_s_proxy_as_the_async_one_does(monkeypatch, proxy_handler):
    # httpx.AsyncClient honours HTTP_PROXY / NO_PROXY (trust_env); exploration's client must too, held to the deadline,
    # for a target that is not loopback (the proxy answers for it: nothing leaves loopback); a loopback target is
    # reached directly by both, never through the proxy (pass X4, F7)
    case = Case("c", "", "", {"recipientType": "email"}, frozenset({200}), CaseAuth.FULL)
    for name in ("ALL_PROXY", "all_proxy", "HTTPS_PROXY", "https_proxy", "NO_PROXY", "no_proxy", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    direct = hostile.each_request(lambda request: hostile.response("418 I'm a teapot", b'{"via": "no proxy"}'))
    with hostile.raw_server(proxy_handler) as proxy, hostile.raw_server(direct) as url:
        monkeypatch.setenv("HTTP_PROXY", proxy)
        # the deadline is short only where it is the point (the trickling proxy); a loaded machine never flips the rest
        settings = TargetSettings("http://contract.invalid", api_key=KEY,
                                  timeout=0.5 if proxy_handler is _trickle_briefly else 10.0)
        through = _each_way(settings, case)
        around = _each_way(TargetSettings(url, api_key=KEY, timeout=10.0), case)
    assert [_outcome(e) for e in through] == [_outcome(through[0])] * 2
    assert through[1].timed_out if proxy_handler is _trickle_briefly else through[1].body == b'{"via": "the proxy"}'
    assert [e.status for e in around] == [418, 418]


def test_pass_r1_f6_the_check_judges_a_gzip_body_without_its_end_as_httpx_reads_it(tmp_path):
    """Pass R1, F6: a gzip body flushed and never finished (no final block, no CRC): httpx and curl read the JSON whole;
    the check's client took it for an exchange error (no-server-error, the body rules unjudged). Read, judged, said."""
    import zlib

    from migma_contract.contract.catalogue import NO_SERVER_ERROR

    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    body = json.dumps({"success": False, "error": "invalid request"}).encode()
    unended = packer.compress(body) + packer.flush(zlib.Z_SYNC_FLUSH)
    answer = (b"HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\n"
              b"Content-Length: %d\r\n\r\n" % len(unended) + unended)
    with hostile.raw_server(hostile.each_request(lambda request: answer)) as url:
        result = bounded(options(url, max_requests=5), tmp_path)
    assert NO_SERVER_ERROR.id not in failed(result) and result.requests_sent == 5, failed(result)
    assert any("gzip stream that stops before its end" in warning for warning in result.warnings), result.warnings
