"""Every way in is held to the same boundary: the proxy, `judge`, the middleware and the repository's config.

Each test below reproduces one finding of issue 24 (named in its docstring) on the class,
not the one payload: a bounded loader for every file handed in, one capped body reader,
one bounded server configuration and one Host/Origin guard for every server, one
redactor whose cost is linear, secrets recognised by shape, and a repository file that
chooses neither where a key goes nor where reports are written.
"""

import base64
import json
import re
import tracemalloc

import anyio
import httpx
import pytest
from click.testing import CliRunner

from migma_contract import ConfigError, contract_for
from migma_contract.asgi import ContractMiddleware
from migma_contract.cli import main
from migma_contract.config.options import resolve_options
from migma_contract.core.untrusted import clean_text
from migma_contract.mock import create_app
from migma_contract.reports import write_reports
from migma_contract.traffic.proxy import TrafficProxy
from migma_contract.traffic.tally import ObservedExchange, TrafficJudge
from migma_contract.wire.serve import PROTOCOLS, serve_in_thread

from .faulty_servers import FULL_KEY
from .helpers import proxy_started, raw_exchange, read_body

pytestmark = pytest.mark.e2e  # processes, loopback servers, whole checks: the end-to-end tier

AUTH = {"Authorization": f"Bearer {FULL_KEY}"}
VALID = {"recipientType": "email", "recipientEmail": "ann@example.com", "from": "news@example.com", "fromName": "News",
         "subject": "Hello", "emailId": "email_welcome"}
TAG_WITHOUT_ID = {"recipientType": "tag", "from": "news@example.com", "fromName": "News", "subject": "Hi", "emailId": "email_welcome"}
STACKS = sorted(PROTOCOLS)


def judge_cli(*args):
    return CliRunner().invoke(main, ["judge", *map(str, args)], catch_exceptions=False)


# --- a recording server: what reached it ----------------------------------------------------------------


class Recorder:
    """An upstream that records every request it receives (headers as raw bytes) and answers a fixed status."""

    def __init__(self, status=200, headers=(), body=None):
        self.seen = []
        self.status, self.headers = status, list(headers)
        self.body = body if body is not None else json.dumps(
            {"success": True, "data": {"id": "m1", "status": "queued", "provider": "migma"}, "error": None}).encode()

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return
        body = await read_body(receive)
        self.seen.append({"path": scope["path"], "raw_path": scope.get("raw_path"), "query": scope["query_string"],
                          "headers": list(scope["headers"]), "body": body})
        await send({"type": "http.response.start", "status": self.status,
                    "headers": [(b"content-type", b"application/json"), *self.headers]})
        await send({"type": "http.response.body", "body": self.body})

    def header(self, index, name):
        return [v for k, v in self.seen[index]["headers"] if k == name.encode()]


_raw = raw_exchange


def _judge(url=None):
    return TrafficJudge(contract_for(), "documented", kind="proxy", label="test proxy", url=url)


# --- finding 1: a YAML cassette alias bomb ---------------------------------------------------------------


def _alias_bomb(levels=5, fan=10):
    lines = ["interactions:", "- request:", "    method: POST", "    uri: http://127.0.0.1/v1/sending", "    body: '{}'",
             "    headers:", "      a0: &a0 [x]"]
    for level in range(1, levels + 1):
        lines.append(f"      a{level}: &a{level} [" + ", ".join([f"*a{level - 1}"] * fan) + "]")
    lines += ["  response:", "    status: {code: 200, message: OK}", "    headers: {}", "    body: {string: '{}'}", ""]
    return "\n".join(lines)


def test_finding_1_a_cassette_alias_bomb_is_refused_before_it_expands(tmp_path):
    """Finding 1: cassettes went through plain yaml.load; now through the documents' bounded loader."""
    path = tmp_path / "bomb.yaml"
    path.write_text(_alias_bomb())
    tracemalloc.start()
    try:
        result = judge_cli(path, "--report-dir", tmp_path / "r")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert result.exit_code == 2, result.output
    assert "alias" in result.output and "Traceback" not in result.output
    assert peak < 64 << 20


# --- finding 2: the redactor's cost with many distinct credentials ---------------------------------------


def test_finding_2_distinct_credentials_cost_what_one_does(monkeypatch):
    """Finding 2: each new credential rebuilt the whole redactor (quadratic); now it grows by what is new."""
    import migma_contract.core.redact as redact

    compiled = []
    real = redact.re.compile

    def counting(pattern, *args, **kwargs):
        compiled.append(len(pattern))
        return real(pattern, *args, **kwargs)

    monkeypatch.setattr(redact.re, "compile", counting)

    def run(keys):
        compiled.clear()
        judge = _judge()
        for number, key in enumerate(keys):
            judge.observe(ObservedExchange("POST", "http://127.0.0.1/v1/sending", [("Authorization", f"Bearer {key}")],
                                           json.dumps(TAG_WITHOUT_ID if number % 2 else VALID).encode(), 400,
                                           [("content-type", "application/json")], json.dumps({"success": False, "error": key}).encode()))
        judge.result()
        return sum(compiled)

    one = run([f"{7:040x}"] * 150)
    many = run([f"{n * 7919 + 1:040x}" for n in range(150)])
    assert many < 3 * 150 * max(one, 1)  # linear in the keys; a rebuild per new key was ~75 times this


def test_finding_2_past_the_bound_on_credentials_a_note_says_so():
    import migma_contract.traffic.tally as traffic

    judge = _judge()
    for n in range(traffic.MAX_CREDENTIALS + traffic._MAX_KEYS_PAST + 5):  # (keys have room past the bound: Pass Z2, F9)
        judge.observe(ObservedExchange("GET", "http://127.0.0.1/other", [("Authorization", f"Bearer key{n:08d}")], b"", 200))
        judge._learn(ObservedExchange("POST", "/v1/sending", [("Authorization", f"Bearer key{n:08d}")], b"", 200))
    assert len(judge.redactor.secrets) <= 2 * traffic.MAX_CREDENTIALS
    assert any("distinct credentials" in note for note in judge.result().traffic.notes)


# --- finding 3 and 13: the proxy's request target ---------------------------------------------------------


@pytest.mark.parametrize("stack", STACKS)
@pytest.mark.parametrize("target", [b"*@127.0.0.1:{evil}/steal", b"http://127.0.0.1:{evil}/steal", b"*", b"*/x",
                                    b"//127.0.0.1:{evil}/steal", b"@127.0.0.1:{evil}/steal"])
def test_finding_3_a_request_target_naming_another_host_reaches_nothing(stack, target):
    """Finding 3 (and 13's `*`): the proxy joined upstream + raw path as text; now origin-form only, built from parts."""
    evil, upstream = Recorder(), Recorder()
    with serve_in_thread(evil) as evil_url, serve_in_thread(upstream) as up_url:
        up_with_user = up_url.replace("://", "://svcuser:PASS@")
        judge = _judge(up_with_user)
        with serve_in_thread(TrafficProxy(up_with_user, judge), stack=stack) as proxy_url:
            port = evil_url.rsplit(":", 1)[1].encode()
            answer = _raw(proxy_url, b"GET " + target.replace(b"{evil}", port) + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                          b"Cookie: session=abc123\r\nX-Api-Key: k-123456\r\nConnection: close\r\n\r\n")
    assert evil.seen == []
    status = answer.split(b" ", 2)[1]
    if upstream.seen:  # absolute-form to another authority may only be read as its path on the upstream
        assert all(seen["path"].startswith("/") for seen in upstream.seen)
    else:
        assert status == b"400", answer[:200]
    assert b"Traceback" not in answer


@pytest.mark.parametrize("stack", STACKS)
@pytest.mark.parametrize("path", [b"/../admin", b"/v1/../../admin", b"/%2e%2e/admin", b"/.%2E/admin", b"/..%5cadmin",
                                  b"/./admin"])
def test_a_dot_segment_cannot_leave_the_upstreams_base_path(stack, path):
    """An upstream named with a path (`http://staging/api`) is all the proxy forwards to: `..` would climb out of it."""
    upstream = Recorder()
    with serve_in_thread(upstream) as up_url, \
            serve_in_thread(TrafficProxy(up_url + "/api", _judge()), stack=stack) as proxy_url:
        answer = _raw(proxy_url, b"GET " + path + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        kept = _raw(proxy_url, b"GET /v1/sending..x/.well HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
    assert answer.split(b" ", 2)[1] == b"400", answer[:200]
    assert kept.startswith(b"HTTP/1.1 200") and [seen["path"] for seen in upstream.seen] == ["/api/v1/sending..x/.well"]


def test_finding_3_absolute_form_to_the_upstreams_own_authority_is_forwarded():
    upstream = Recorder()
    with serve_in_thread(upstream) as up_url, serve_in_thread(TrafficProxy(up_url, None), stack="h11") as proxy_url:
        answer = _raw(proxy_url, f"GET {up_url}/v1/x?a=1 HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
    assert answer.startswith(b"HTTP/1.1 200") and [(s["path"], s["query"]) for s in upstream.seen] == [("/v1/x", b"a=1")]


def test_finding_13_connection_named_headers_are_dropped_and_the_clients_authorization_is_kept():
    """Finding 13: headers named in Connection were forwarded; userinfo replaced the client's own Authorization."""
    upstream = Recorder()
    with serve_in_thread(upstream) as up_url, \
                serve_in_thread(TrafficProxy(up_url.replace("://", "://svcuser:PASS@"), _judge())) as proxy_url, httpx.Client() as client:
            client.post(f"{proxy_url}/v1/sending", json=VALID, headers={**AUTH, "Connection": "keep-alive, X-Secret-Hop",
                                                                        "X-Secret-Hop": "1", "Keep-Alive": "timeout=5"})
            client.get(f"{proxy_url}/other")
    assert upstream.header(0, "x-secret-hop") == [] and upstream.header(0, "keep-alive") == []
    assert upstream.header(0, "authorization") == [f"Bearer {FULL_KEY}".encode()]  # the client's own, unchanged
    basic = base64.b64encode(b"svcuser:PASS")
    assert upstream.header(1, "authorization") == [b"Basic " + basic]  # the upstream's, only where the client sent none


# --- finding 4: the middleware's body -------------------------------------------------------------------


def test_finding_4_a_huge_body_through_the_middleware_is_never_buffered_and_the_apps_413_comes_early():
    """Finding 4: the middleware read the whole body before the app saw any of it."""
    limit, chunk, total = 1 << 20, b"x" * (64 << 10), 200 << 20

    async def app(scope, receive, send):  # an app that refuses past 1 MiB, as it reads
        size = 0
        while True:
            message = await receive()
            size += len(message.get("body", b""))
            if size > limit:
                await send({"type": "http.response.start", "status": 413, "headers": []})
                await send({"type": "http.response.body", "body": b"too large"})
                return
            if not message.get("more_body"):
                break
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    wrapped = ContractMiddleware(app)
    pulled, sent = [0], []
    scope = {"type": "http", "method": "POST", "path": "/v1/sending", "raw_path": b"/v1/sending", "query_string": b"",
             "headers": [(b"host", b"app"), (b"content-type", b"application/json")], "scheme": "http", "root_path": ""}

    async def receive():
        pulled[0] += 1
        return {"type": "http.request", "body": chunk, "more_body": pulled[0] * len(chunk) < total}

    async def send(message):
        sent.append(message)

    async def go():
        await wrapped(scope, receive, send)

    tracemalloc.start()
    try:
        anyio.run(go)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert sent[0]["status"] == 413
    assert pulled[0] * len(chunk) <= 3 * limit  # the app's own cap, plus the middleware's bounded look-ahead
    assert peak < 16 << 20
    assert wrapped.result().traffic.judged == 1


# --- finding 5: the proxy command's server ----------------------------------------------------------------


def test_finding_5_the_proxy_command_serves_on_the_bounded_configuration(monkeypatch, tmp_path):
    """Finding 5: `proxy` ran on a plain uvicorn.Config: no deadline, no head bound, trailers became headers."""
    from migma_contract.wire.serve import BoundedH11Protocol

    result, configs, _ = proxy_started(monkeypatch, lambda url: url, "--report-dir", tmp_path / "r")
    assert result.exit_code == 3, result.output  # no send judged: no verdict (pass R2, F4)
    protocol = configs[0].http
    assert isinstance(protocol, type) and issubclass(protocol, tuple(PROTOCOLS.values())), protocol
    assert protocol.request_timeout > 0 and configs[0].h11_max_incomplete_event_size <= 64 << 10
    assert BoundedH11Protocol in PROTOCOLS.values()


@pytest.mark.parametrize("stack", STACKS)
def test_finding_5_trailers_never_reach_the_upstream(stack):
    upstream = Recorder()
    with serve_in_thread(upstream) as up_url, serve_in_thread(TrafficProxy(up_url, _judge()), stack=stack) as proxy_url:
        body = json.dumps(VALID).encode()
        answer = _raw(proxy_url, b"POST /v1/sending HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                      b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n" + f"{len(body):x}\r\n".encode() + body
                      + b"\r\n0\r\nAuthorization: Bearer smuggled\r\nX-Injected-Trailer: 1\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 200"), answer[:200]
    assert upstream.header(0, "authorization") == [] and upstream.header(0, "x-injected-trailer") == []


# --- finding 6: Host and Origin at the proxy ----------------------------------------------------------------


@pytest.mark.parametrize("headers", [{"Host": "rebind.attacker.example"},
                                     {"Host": "attacker:4011"},  # a search domain's name: rebinding without a dot
                                     {"Origin": "http://rebind.attacker.example"},
                                     {"Sec-Fetch-Site": "cross-site"}])
def test_finding_6_a_foreign_host_or_origin_is_refused_by_the_proxy(headers):
    """Finding 6: a web page could drive an authenticated upstream through the proxy (DNS rebinding, CSRF)."""
    upstream = Recorder()
    with serve_in_thread(upstream) as up_url, \
                serve_in_thread(TrafficProxy(up_url.replace("://", "://svcuser:PASS@"), _judge())) as proxy_url, httpx.Client() as client:
            refused = client.post(f"{proxy_url}/v1/sending", content=b"{}", headers={"Content-Type": "text/plain", **headers})
            local = client.post(f"{proxy_url}/v1/sending", json=VALID, headers={**AUTH, "Origin": "http://localhost:3000"})
    assert refused.status_code == 403 and "migma-contract proxy" in refused.text
    assert local.status_code == 200 and len(upstream.seen) == 1


# --- finding 7: the repository's own config -------------------------------------------------------------


def _pyproject(tmp_path, **keys):
    path = tmp_path / "pyproject.toml"
    path.write_text("[tool.migma-contract]\n" + "".join(f'{k} = "{v}"\n' for k, v in keys.items()))
    return path


@pytest.mark.parametrize("url", ["https://evil.example", "http://10.0.0.8:8080"])
def test_finding_7_a_target_named_only_by_a_repository_file_gets_no_key_from_the_environment(tmp_path, url):
    """Finding 7: pyproject's base-url received the CI's key from the environment."""
    env = {"MIGMA_CONTRACT_API_KEY": "mc_ci_secret_key_1"}
    with pytest.raises(ConfigError) as refused:
        resolve_options({}, environ=env, pyproject=_pyproject(tmp_path, **{"base-url": url}))
    assert "mc_ci_secret_key_1" not in str(refused.value) and "base-url" in str(refused.value)
    with pytest.raises(ConfigError):  # a pytest ini file is the repository's too
        resolve_options({}, environ=env, pyproject=tmp_path / "none.toml",
                        ini=lambda option: url if option.name == "base_url" else None)
    # named by the environment or the command line, or explicitly trusted: sent
    assert resolve_options({"base_url": url}, environ=env, pyproject=tmp_path / "none.toml").base_url == url
    assert resolve_options({}, environ={**env, "MIGMA_CONTRACT_BASE_URL": url}, pyproject=_pyproject(tmp_path, **{"base-url": url})).base_url == url
    trusted = {**env, "MIGMA_CONTRACT_TRUST_CONFIG_TARGET": "1"}
    assert resolve_options({}, environ=trusted, pyproject=_pyproject(tmp_path, **{"base-url": url})).base_url == url
    # and the opt-in cannot come from the repository itself
    with pytest.raises(ConfigError):
        resolve_options({}, environ=env, pyproject=_pyproject(tmp_path, **{"base-url": url, "trust-config-target": "true"}))


def test_finding_7_a_loopback_target_from_a_repository_file_is_fine(tmp_path):
    env = {"MIGMA_CONTRACT_API_KEY": "mc_ci_secret_key_1"}
    for url in ("http://127.0.0.1:4010", "http://localhost:8000", "http://[::1]:4010"):
        assert resolve_options({}, environ=env, pyproject=_pyproject(tmp_path, **{"base-url": url})).base_url == url


@pytest.mark.parametrize("where", ["/tmp/elsewhere", "../outside", "reports/../../outside"])
def test_finding_7_report_paths_from_a_repository_file_stay_inside_it(tmp_path, where):
    repo = tmp_path / "repo"
    repo.mkdir()
    with pytest.raises(ConfigError) as refused:
        resolve_options({}, environ={}, pyproject=_pyproject(repo, **{"report-dir": where}))
    assert "report-dir" in str(refused.value)
    assert resolve_options({}, environ={}, pyproject=_pyproject(repo, **{"report-dir": "out/reports"})).report_dir.endswith("reports")
    assert resolve_options({"report_dir": where}, environ={}, pyproject=_pyproject(repo)).report_dir == where  # the user's own choice


def test_finding_7_a_report_dir_that_is_a_link_out_of_the_repository_is_refused(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "reports").symlink_to(tmp_path)
    with pytest.raises(ConfigError):
        resolve_options({}, environ={}, pyproject=_pyproject(repo, **{"report-dir": "reports"}))


PATH_ROWS = {"spec": "doc.yaml", "report-dir": "out", "baseline": "known.txt", "write-baseline": "new.txt",
             "mock-config": "world.yaml"}


def test_pass_r3_f5_every_path_a_repository_file_sets_is_the_one_checked_wherever_the_command_runs(tmp_path, monkeypatch):
    """Pass R3, F5 (the class): a path row a repository file set was checked against the file's folder and then used
    against the working directory (a link of the same name there led out of the repository). Each path row, from
    [tool.migma-contract] or an ini key (checked against the cwd before: against the ini file's folder now), comes
    back as the path checked: resolved against the file's folder, links followed."""
    from migma_contract.config.options import OPTIONS

    assert {o.pyproject_key for o in OPTIONS if o.kind == "path"} == set(PATH_ROWS)  # a new path row is tested here
    repo, elsewhere = tmp_path / "repo", tmp_path / "elsewhere"
    (repo / "sub").mkdir(parents=True)
    elsewhere.mkdir()
    for name in PATH_ROWS.values():  # the same names, links out of the repository, where the command runs
        (repo / "sub" / name).symlink_to(elsewhere / name)
    monkeypatch.chdir(repo / "sub")
    options = resolve_options({}, environ={}, pyproject=_pyproject(repo, **PATH_ROWS))
    by_key = {o.pyproject_key: o.name for o in OPTIONS}
    for key, name in PATH_ROWS.items():
        assert getattr(options, by_key[key]) == str((repo / name).resolve()), key
    # the CLI's commands read ./pyproject.toml: the same
    monkeypatch.chdir(repo)
    assert resolve_options({}, environ={}).report_dir == str((repo / "out").resolve())
    # the ini keys: against the ini file's folder, not the cwd (a cwd above the repository let one name a sibling)
    monkeypatch.chdir(tmp_path)
    ini = {o.name: value for o in OPTIONS if (value := PATH_ROWS.get(str(o.pyproject_key)))}
    options = resolve_options({}, environ={}, pyproject=tmp_path / "none.toml", ini=lambda o: ini.get(o.name), ini_folder=repo)
    assert options.report_dir == str((repo / "out").resolve())
    with pytest.raises(ConfigError, match="outside the repository"):
        resolve_options({}, environ={}, pyproject=tmp_path / "none.toml", ini=lambda o: {"report_dir": "../elsewhere"}.get(o.name),
                        ini_folder=repo)
    # the user's own paths are as given, relative to where they run
    assert resolve_options({"report_dir": "out"}, environ={}, pyproject=tmp_path / "none.toml").report_dir == "out"


# --- finding 8: upstream header bytes ---------------------------------------------------------------------


def test_finding_8_upstream_header_bytes_pass_through_and_the_answer_is_still_judged():
    """Finding 8: a non-Latin-1 header crashed the proxy's answer and hid the upstream's 500."""
    upstream = Recorder(500, [(b"x-evil", "\u00e9\u6f22\u202e".encode())], b'{"success": false, "error": "boom"}')
    judge = _judge()
    with serve_in_thread(upstream) as up_url, serve_in_thread(TrafficProxy(up_url, judge)) as proxy_url:
        answer = _raw(proxy_url, b"POST /v1/sending HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                      b"Authorization: Bearer " + FULL_KEY.encode() + b"\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}")
    assert answer.startswith(b"HTTP/1.1 500")
    assert "x-evil: \u00e9\u6f22\u202e".encode() in answer.lower()
    assert "no-server-error" in {f.rule for f in judge.result().findings}


def test_finding_8_a_proxy_side_failure_is_a_502_and_a_note(monkeypatch):
    upstream = Recorder()
    judge = _judge()
    proxy = TrafficProxy("http://127.0.0.1:9", judge)

    def broken(*args, **kwargs):
        raise RuntimeError("a bug of the proxy's")

    monkeypatch.setattr(proxy, "_http", broken)
    with serve_in_thread(upstream), serve_in_thread(proxy) as proxy_url, httpx.Client() as client:
        response = client.post(f"{proxy_url}/v1/sending", json=VALID, headers=AUTH)
    assert response.status_code == 502 and "migma-contract proxy" in response.text
    assert any("RuntimeError" in note for note in judge.result().traffic.notes)


# --- finding 9 and 11: what reports carry ---------------------------------------------------------------------


def _observed(url="https://recorded.example.test/v1/sending", body=None, headers=(), status=200, answer=None):
    return ObservedExchange("POST", url, [("Content-Type", "application/json"), *headers],
                            json.dumps(body if body is not None else TAG_WITHOUT_ID).encode(), status,
                            [("content-type", "application/json")],
                            answer if answer is not None else json.dumps({"success": True, "data": {"id": "m", "status": "queued"}, "error": None}).encode(),
                            where="recording entry 1")


def test_finding_9_a_huge_body_makes_small_reports(tmp_path):
    """Finding 9: a 20 MB fromName put the whole body in every curl line, four reports of 42 MB."""
    lines = []
    judge = TrafficJudge(contract_for(), kind="recorded", label="t", on_breach=lines.append)
    judge.observe(_observed(body={**TAG_WITHOUT_ID, "fromName": "N" * (4 << 20)}))
    judge.observe(_observed(url="https://h.example/v1/sending?q=" + "u" * (1 << 20), body={"recipientType": "tag"},
                            headers=[("X-Big", "v" * (1 << 20)), ("N" * (1 << 16), "1")]))
    findings = judge.result().findings
    assert findings and all(len(f.request.curl) < 17 << 10 and len(f.request.url) < 4 << 10 for f in findings)
    assert all("cut" in f.request.curl for f in findings)
    assert all(len(name) < 1024 and len(value) < 1024 for f in findings for name, value in f.request.headers.items())
    paths = write_reports(judge.result(), tmp_path, ("json", "junit", "md", "html"))
    assert all(path.stat().st_size < 512 << 10 for path in paths), [(p.name, p.stat().st_size) for p in paths]
    assert all(len(line) < 4096 for line in lines)


def test_finding_11_credentials_are_redacted_by_shape(tmp_path):
    """Finding 11: X-Auth-Token, auth=, sig=, token=, a body's apiKey appeared verbatim."""
    secrets = ["hdr-secret-0001", "q-auth-secret-02", "q-sig-secret-003", "q-token-secret-4", "body-apikey-secret-5",
               "body-password-6x", "x-api-token-77"]
    judge = TrafficJudge(contract_for(), kind="recorded", label="t")
    judge.observe(_observed(
        url=f"https://recorded.example.test/v1/sending?auth={secrets[1]}&sig={secrets[2]}&token={secrets[3]}",
        body={**TAG_WITHOUT_ID, "apiKey": secrets[4], "nested": {"password": secrets[5]}},
        headers=[("X-Auth-Token", secrets[0]), ("X-Api-Token", secrets[6])],
        answer=json.dumps({"success": False, "error": f"echo {secrets[0]} {secrets[3]} {secrets[4]}"}).encode(), status=200))
    result = judge.result()
    assert result.findings
    written = "".join(path.read_text(encoding="utf-8") for path in write_reports(result, tmp_path, ("json", "junit", "md", "html")))
    for secret in secrets:
        assert secret not in written, secret


def test_finding_11_a_curl_line_from_a_recording_does_not_aim_the_users_key_at_the_recorded_host():
    judge = TrafficJudge(contract_for(), kind="recorded", label="t")
    judge.observe(_observed(url="https://attacker.example/v1/sending", headers=[("Authorization", "Bearer mc_recorded_key_1")]))
    curl = judge.result().findings[0].request.curl
    assert "attacker.example" not in curl and "$MIGMA_CONTRACT_API_KEY" in curl
    assert "MIGMA_CONTRACT_BASE_URL" in curl  # the user chooses where it goes


def test_a_curl_line_from_a_recording_puts_the_users_key_only_where_a_bearer_key_stood():
    """A recorded cookie or another service's token is masked, not replaced by $MIGMA_CONTRACT_API_KEY."""
    judge = TrafficJudge(contract_for(), kind="recorded", label="t")
    judge.observe(_observed(url="https://recorded.example.test/v1/sending", headers=[
        ("Authorization", "Bearer mc_recorded_key_1"), ("Cookie", "session=recorded-cookie-value-9"),
        ("X-Other-Token", "other-service-token-77")]))
    curl = judge.result().findings[0].request.curl
    assert "-H 'authorization: Bearer '\"$MIGMA_CONTRACT_API_KEY\"" in curl
    assert curl.count("$MIGMA_CONTRACT_API_KEY") == 1, curl
    assert "recorded-cookie-value-9" not in curl and "other-service-token-77" not in curl and "[REDACTED]" in curl


def test_finding_11_the_upstreams_userinfo_is_never_written(tmp_path):
    """Finding 11: an upstream echoing the Basic credential the proxy sent put it in every report."""
    async def echoing(scope, receive, send):  # answers 200 to anything, with the credentials it received
        while (await receive()).get("more_body"):
            pass
        seen = [v.decode() for k, v in scope["headers"] if k == b"authorization"]
        decoded = [base64.b64decode(v.split()[1]).decode() for v in seen if v.startswith("Basic ")]
        body = json.dumps({"success": True, "data": {"id": "m", "status": "queued", "provider": "migma", "seen": seen,
                                                     "decoded": decoded}, "error": None}).encode()
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": body})

    with serve_in_thread(echoing) as up_url:
        url = up_url.replace("://", "://svcuser:Sup3rPASSword@")
        judge = TrafficJudge(contract_for(), kind="proxy", label="proxy", url=url)
        with serve_in_thread(TrafficProxy(url, judge)) as proxy_url, httpx.Client() as client:
            client.post(f"{proxy_url}/v1/sending", json=TAG_WITHOUT_ID)
    result = judge.result()
    assert result.findings
    written = "".join(path.read_text(encoding="utf-8") for path in write_reports(result, tmp_path, ("json", "junit", "md", "html")))
    for secret in ("Sup3rPASSword", base64.b64encode(b"svcuser:Sup3rPASSword").decode()):
        assert secret not in written


# --- finding 10: a deeply nested HAR entry ------------------------------------------------------------------


def test_finding_10_a_deeply_nested_har_entry_is_reported_and_the_others_judged(tmp_path):
    """Finding 10: 3,000 nested arrays in one entry: RecursionError, exit 3, nothing judged."""
    entry = {"request": {"method": "POST", "url": "http://h/v1/sending", "headers": [], "postData": {"text": json.dumps(TAG_WITHOUT_ID)}},
             "response": {"status": 200, "headers": [], "content": {"text": "{}"}}}
    deep = "[" * 3000 + "]" * 3000
    text = json.dumps({"log": {"entries": ["__DEEP__", entry]}}).replace('"__DEEP__"', '{"request": ' + deep + "}")
    path = tmp_path / "deep.har"
    path.write_text(text)
    result = judge_cli(path, "--report-dir", tmp_path / "r", "--format", "json")
    assert result.exit_code == 1, result.output
    assert "entry 1" in result.output and "nested" in result.output
    data = json.loads((tmp_path / "r" / "conformance.json").read_text())
    assert data["traffic"]["judged"] == 1


# --- finding 12: invisible characters -------------------------------------------------------------------------


@pytest.mark.parametrize("ch", ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad", "\U000e0041", "\U000e007f", "\u180e"])
def test_finding_12_invisible_characters_are_marked(ch):
    """Finding 12: zero-width, soft hyphen, BOM and tag characters passed raw into every output."""
    for multiline in (False, True):
        shown = clean_text(f"a{ch}b", multiline=multiline)
        assert ch not in shown and shown.startswith("a\\") and shown.endswith("b")


# --- every way in, every bound ------------------------------------------------------------------------------
# The ways in, listed. A new way in (a file kind, a server, a body reader) is added here, with its bounds.

DEEP_JSON = "[" * 3000 + "]" * 3000
ALIAS_BOMB = "a0: &a0 [x]\n" + "".join(f"a{n}: &a{n} [" + ", ".join([f"*a{n - 1}"] * 10) + "]\n" for n in range(1, 7))


def _document(path):
    from migma_contract.document.spec import load_spec

    load_spec(path)


def _cassette(path):
    from migma_contract.traffic.recordings import open_recording

    list(open_recording(path).exchanges())


def _baseline(path):
    from migma_contract.run.runner import load_baseline

    load_baseline(str(path))


def _report(path):
    from migma_contract.reports import load_result

    load_result(path)


def _mock_world(path):
    from migma_contract.mock._config import load_mock_config

    load_mock_config(path)


def _pyproject_file(path):
    from migma_contract.config.options import pyproject_table

    pyproject_table(path)


FILE_KINDS = {  # kind: (loader, hostile contents)
    "document": (_document, {"deep.json": DEEP_JSON, "bomb.yaml": ALIAS_BOMB}),
    "cassette": (_cassette, {"bomb.yaml": "interactions:\n- " + ALIAS_BOMB.replace("\n", "\n  ")}),
    "baseline": (_baseline, {"deep.json": DEEP_JSON}),
    "report": (_report, {"deep.json": DEEP_JSON}),
    "mock world": (_mock_world, {"deep.json": '{"a": ' + DEEP_JSON + "}", "bomb.yaml": ALIAS_BOMB}),
    "pyproject": (_pyproject_file, {"pyproject.toml": "[tool.migma-contract]\nlevel = " + DEEP_JSON + "\n"}),
}


@pytest.mark.parametrize("kind", FILE_KINDS)
def test_every_file_handed_in_goes_through_the_bounded_loader(kind, tmp_path):
    from migma_contract.core.exceptions import MigmaContractError

    load, contents = FILE_KINDS[kind]
    for name, content in contents.items():
        path = tmp_path / name
        path.write_text(content)
        tracemalloc.start()
        try:
            with pytest.raises(MigmaContractError) as refused:
                load(path)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert "\n" not in str(refused.value) and peak < 64 << 20, (kind, name)
        assert re.search(r"nested|alias|deep", str(refused.value)), (kind, name, str(refused.value))
    # HAR: an entry too deep is stepped over and reported (test_finding_10); every kind of file is size-capped on read


ENDLESS = 1 << 40


def _endless_post(app, scope_headers=()):
    """POST /v1/sending to `app` with a body that never ends; how many chunks the app pulled, and the status."""
    pulled, sent = [0], []
    scope = {"type": "http", "method": "POST", "path": "/v1/sending", "raw_path": b"/v1/sending", "query_string": b"",
             "headers": [(b"host", b"127.0.0.1"), (b"content-type", b"application/json"), *scope_headers], "scheme": "http",
             "root_path": "", "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80), "http_version": "1.1",
             "asgi": {"version": "3.0"}}

    async def receive():
        pulled[0] += 1
        return {"type": "http.request", "body": b" " * 65536, "more_body": True}

    async def send(message):
        sent.append(message)

    async def go():
        await app(scope, receive, send)

    anyio.run(go)
    return pulled[0], next(m["status"] for m in sent if m["type"] == "http.response.start")


async def _refusing_app(scope, receive, send):  # an app with its own 1 MiB limit
    size = 0
    while size <= 1 << 20:
        size += len((await receive()).get("body", b""))
    await send({"type": "http.response.start", "status": 413, "headers": []})
    await send({"type": "http.response.body", "body": b""})


BODY_READERS = {  # way in: (app, its cap in bytes, the status past it)
    "mock": (lambda: create_app({"limits": {"max_body_bytes": 1 << 20}}), 1 << 20, 400),
    "proxy": (lambda: TrafficProxy("http://127.0.0.1:9", _judge(), max_request_bytes=1 << 20), 1 << 20, 413),
    "middleware": (lambda: ContractMiddleware(_refusing_app), 2 << 20, 413),
}


@pytest.mark.parametrize("way", BODY_READERS)
def test_every_body_is_read_through_the_capped_reader(way):
    make, cap, status = BODY_READERS[way]
    pulled, answered = _endless_post(make(), [(b"authorization", f"Bearer {FULL_KEY}".encode())])
    assert answered == status and pulled * 65536 <= cap + 2 * 65536, (way, pulled)


def _mock_server():
    return create_app().running()


def _proxy_server():
    return serve_in_thread(TrafficProxy("http://127.0.0.1:9", _judge()))


SERVERS = {"mock (and the pytest plugin's served mock)": (_mock_server, "/_mock/health"), "proxy": (_proxy_server, "/v1/sending")}


@pytest.mark.parametrize("way", SERVERS)
def test_every_server_is_bounded_and_guarded(way):
    from migma_contract.wire.serve import MAX_HEADER_BYTES

    serve, path = SERVERS[way]
    with serve() as url:
        foreign = _raw(url, f"GET {path} HTTP/1.1\r\nHost: rebind.attacker.example\r\nConnection: close\r\n\r\n".encode())
        huge = _raw(url, f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: {'a' * (2 * MAX_HEADER_BYTES)}\r\n\r\n".encode())
    assert foreign.startswith(b"HTTP/1.1 403"), foreign[:100]
    assert huge.startswith(b"HTTP/1.1 400") or huge == b"", huge[:100]  # refused at the head's bound, not buffered


def test_a_document_without_the_production_server_does_not_lift_the_production_guard(tmp_path):
    """Second attack pass: a repository's own `spec` leaving out api.migma.ai took the production host off the guard."""
    from migma_contract.core.exceptions import ConfigError
    from migma_contract.wire.urls import guard_production

    with pytest.raises(ConfigError, match="production host"):
        guard_production("https://api.migma.ai/v1", ["https://example.invalid"], allowed=False)
    guard_production("https://api.migma.ai/v1", ["https://example.invalid"], allowed=True)  # on purpose: allowed
    guard_production("http://127.0.0.1:4010", ["https://example.invalid"], allowed=False)


def test_traffic_is_judged_off_the_event_loop_and_large_bodies_as_not_recorded():
    """Second attack pass: judging ran on the proxy's and the app's event loop (a 15 MB body stalled every client)."""
    import threading

    from migma_contract import contract_for
    from migma_contract.traffic.tally import JUDGED_BODY_BYTES, ObservedExchange, TrafficJudge

    judge = TrafficJudge(contract_for(), "documented", kind="proxy", label="t")
    threads = []
    real = judge.observe

    def spy(exchange):
        threads.append(threading.current_thread())
        return real(exchange)

    judge.observe = spy
    big = b'{"recipientType": "email", "pad": "' + b"x" * JUDGED_BODY_BYTES + b'"}'
    judge.observe_later(lambda: ObservedExchange("POST", "/v1/sending", [("Authorization", "Bearer k")], big, 400,
                                                 [("content-type", "application/json")], b'{"success": false, "error": "no"}'))
    result = judge.result()  # a reader waits for what was handed over
    assert threads and threads[0] is not threading.main_thread()
    assert any("judged in part: a request body over" in note for note in result.traffic.notes), result.traffic.notes
    assert result.traffic.partly_judged == 1 and (result.verdict, result.exit_code) == ("incomplete", 3)  # no green on it


def test_a_dotted_localhost_name_from_a_repository_file_is_not_loopback():
    """Second attack pass: `http://evil.localhost` passed the loopback exception, and the resolver may ask DNS for it."""
    from migma_contract.config.options import _is_loopback

    assert _is_loopback("http://127.0.0.1:4010") and _is_loopback("http://[::1]:4010") and _is_loopback("http://localhost:4010")
    assert not _is_loopback("http://evil.localhost:9") and not _is_loopback("http://localhost.evil.example")


def test_past_the_bound_on_credentials_an_echoed_key_is_still_masked_in_its_own_finding(monkeypatch):
    """Second attack pass: the 1,401st distinct key, echoed by the server in a finding, was written in plain text."""
    import json as _json

    from migma_contract import contract_for
    from migma_contract.traffic import tally
    from migma_contract.traffic.tally import ObservedExchange, TrafficJudge

    monkeypatch.setattr(tally, "MAX_CREDENTIALS", 3)
    judge = TrafficJudge(contract_for(), "documented", kind="recorded", label="t")
    valid = _json.dumps({"recipientType": "email", "recipientEmail": "b@example.com", "from": "a@example.com",
                         "fromName": "A", "subject": "S", "emailId": "e"}).encode()
    broken = _json.dumps({"recipientType": "tag", "from": "a@example.com", "fromName": "A", "subject": "S"}).encode()
    for n in range(6):  # the last breaks a rule, answered 200 by a server that echoes its key: its finding is recorded
        key = f"sk_live_{n:08d}_abcdefgh"
        judge.observe(ObservedExchange("POST", "/v1/sending", [("Authorization", f"Bearer {key}")], broken if n == 5 else valid, 200,
                                       [("content-type", "application/json")],
                                       _json.dumps({"success": True, "data": {"id": f"m{n}", "status": "queued"},
                                                    "error": None, "echo": key}).encode()))
    text = _json.dumps(judge.result().to_dict())
    assert not any(f"sk_live_{n:08d}_abcdefgh" in text for n in range(6)), "a key written in plain text"


def test_judging_past_its_cpu_share_lets_traffic_pass_unjudged_and_says_so(monkeypatch):
    """Fourth attack pass: a stream of sends kept the judge thread busy, and its GIL stalled every other client."""
    from migma_contract import contract_for
    from migma_contract.traffic import tally
    from migma_contract.traffic.tally import ObservedExchange, TrafficJudge

    monkeypatch.setattr(tally, "JUDGE_CPU_SHARE", 0.0)  # nothing drains: the burst is all judging may spend
    monkeypatch.setattr(tally, "JUDGE_CPU_BURST", 0.0)
    judge = TrafficJudge(contract_for(), "documented", kind="proxy", label="t")
    exchange = ObservedExchange("POST", "/v1/sending", [("Authorization", "Bearer k")], b"{}", 400,
                                [("content-type", "application/json")], b'{"success": false, "error": "no"}')
    judge.observe_later(lambda: exchange)
    judge.settle()  # the first is judged; its CPU is now over the (empty) share
    for _ in range(5):
        judge.observe_later(lambda: exchange)
    result = judge.result()
    assert result.traffic.judged == 1 and judge.unjudged_behind == 5
    assert any("judging fell behind: 5 exchange(s) passed through unjudged" in note for note in result.traffic.notes)


def test_a_long_address_is_judged_in_linear_time_and_huge_headers_never_quoted_whole():
    """Fifth attack pass: a 50 KB `from` held the GIL ~3 s in a backtracking pattern; 9,000 aliases of a 1 MB header
    value were each quoted and redacted whole for the report (gigabytes)."""
    from migma_contract.contract.email import NOT_MAILBOX, is_clearly_not_address

    hostile = "a" * 30000 + "@" + "b." * 10000 + "com"
    display = next(k for k in NOT_MAILBOX if k.name == "a display name")
    assert not display.matches(hostile) and not is_clearly_not_address("ann@example.com")
    assert display.matches("Contract Check <ann@example.com>") and not display.matches("<ann@example.com>")

    from migma_contract.generate.cases import Case, CaseAuth
    from migma_contract.run.records import CURL_LINE, curl_line
    from migma_contract.wire.client import Exchange

    big = "A" * (1 << 20)
    headers = {"Content-Type": "application/json", **{f"X-B{n}": big for n in range(50)}}
    exchange = Exchange(Case("c", "", "", {}, frozenset(), CaseAuth.FULL), "POST", "http://h/v1/sending", headers, b"{}")
    line = curl_line(exchange, "http://h/v1/sending", {})
    assert len(line) < 2 * CURL_LINE and "50 header(s) left out" in line


# --- the seventh attack pass (C) --------------------------------------------------------------------------------


def test_a_url_the_options_cannot_read_is_refused_without_quoting_its_password():
    """Pass C, finding 6: an unencoded `#` in a password made urllib's error quote the password in the one-line error."""
    result = CliRunner().invoke(main, ["proxy", "--upstream", "http://svc:hunter2#hunter2@127.0.0.1:9/", "--port", "0"])
    assert result.exit_code == 2 and "hunter2" not in result.output and "--upstream" in result.output


def test_a_credential_that_is_a_word_is_not_remembered_for_every_report(tmp_path):
    """Pass C, finding 7: `x-api-key: recipientId` masked the field's and the rules' names in every report."""
    judge = TrafficJudge(contract_for(), kind="recorded", label="t")
    judge.observe(ObservedExchange("POST", "https://h.test/v1/sending", [("X-Api-Key", "recipientId")],
                                   json.dumps(TAG_WITHOUT_ID).encode(), 200, [("content-type", "application/json")],
                                   b'{"success": true, "data": {"id": "m", "status": "queued"}, "error": null}'))
    written = "".join(p.read_text(encoding="utf-8") for p in write_reports(judge.result(), tmp_path, ("json", "md")))
    assert "batch-needs-recipientId" in written and "batch-needs-[REDACTED]" not in written


@pytest.mark.parametrize("path", [b"/..;/secret", b"/%252e%252e/secret", b"/x/..;jsessionid=1/secret", b"/%25252e%25252e/s"])
def test_a_dot_segment_any_server_would_resolve_is_refused(path):
    """Pass C, finding 8: `..;` (Tomcat, Spring) and twice-encoded dots passed the proxy's dot-segment refusal."""
    from migma_contract.traffic.proxy import _path_problem

    assert _path_problem(path) is not None
    assert _path_problem(b"/v1/sending") is None and _path_problem(b"/a;b/c") is None and _path_problem(b"/a%2520b") is None


@pytest.mark.parametrize("headers", [[(b"host", b"evil.invalid@127.0.0.1")], [(b"host", b"127.0.0.1#.evil.invalid")],
                                     [(b"host", b"127.0.0.1"), (b"origin", b"http://evil.invalid\\@localhost")]])
def test_host_and_origin_forms_no_browser_sends_are_refused(headers):
    """Pass C, finding 9: a Host with userinfo or a fragment, an Origin with `\\@`, read as loopback by urlsplit."""
    from migma_contract.wire.boundary import foreign_request

    assert foreign_request(headers, local_origins=True, dotless_hosts=False) is not None
    assert foreign_request([(b"host", b"127.0.0.1:4011"), (b"origin", b"http://localhost:3000")], local_origins=True) is None
