"""The red team's findings on the ways in (proxy, judge, ContractMiddleware, repository config), each on its class.

H1: the curl lines reproduce a request without running anything of it; M1: credentials by shape;
M2: a body just over the middleware's cap; M3: an upstream header the server stack cannot send;
L1, L2: what a repository's config may choose; L4, L5: the proxy's request target, Host and Origin.
"""

import json
import os
import re
import subprocess
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from migma_contract.core.redact import Redactor, strip_credentials
from migma_contract.run.records import CURL_GUARDS, PLACEHOLDER_BASE, make_records
from migma_contract.wire.client import Exchange

from .helpers import raw_exchange

KEY = "mc_live_RedTeamKey_0123456789"
ENV = {"MIGMA_CONTRACT_BASE_URL": "http://base.test", "MIGMA_CONTRACT_API_KEY": KEY, "PATH": os.environ["PATH"]}
HOSTILE = ["$(touch pwned)", "`touch pwned`", "${IFS}", "$HOME", "'", '"', "\\", ";touch pwned;", "|", "&", "\n", "\t", " ",
           "*", "?", "!", "#", "%", "~", "{a,b}", "\x1b]0;x\x07", "\u202e", "\xe9", "\x7f", "\ufeff", "a", "b", "/", "="]


@dataclass(frozen=True)
class _Case:
    id: str = "h1"


def _hostile(min_size=0):
    return st.lists(st.sampled_from(HOSTILE), min_size=min_size, max_size=8).map("".join)


def _run(line, tmp_path):
    """The line as a shell runs it, with curl a function that prints its arguments (NUL-separated)."""
    (tmp_path / "decoy").write_text("")  # a glob left unquoted would expand to it
    script = "curl() { printf '%s\\0' \"$@\"; }; " + line
    done = subprocess.run(["bash", "-c", script], cwd=tmp_path, env=ENV, capture_output=True, check=False)
    return done, done.stdout.split(b"\0")[:-1]


def _records(url, headers, body, *, base=PLACEHOLDER_BASE):
    exchange = Exchange(_Case(), "POST", url, headers, body, 200)
    redactor = Redactor([KEY])
    request, _ = make_records(exchange, redactor, {KEY: "MIGMA_CONTRACT_API_KEY"}, None, curl_base=base)
    return request.curl, redactor


@pytest.mark.e2e
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=_hostile(), name=_hostile(1), before=_hostile(), after=_hostile(), other=_hostile(), body=_hostile())
def test_h1_a_curl_line_runs_nothing_of_the_request_and_passes_it_literally(tmp_path, path, name, before, after, other, body):
    """H1: a recorded path/query and a header holding the key were pasted raw between double quotes: `$(...)` ran."""
    name = "x-note" + name.replace(":", "")
    value = f"{before}{KEY}{after}"
    headers = {name: value, "x-other": other, "content-type": "text/plain"}
    curl, redactor = _records(f"http://recorded.test/v1/sending?q={path}", headers, body.encode())
    assert KEY not in curl
    done, args = _run(curl, tmp_path)
    assert not (tmp_path / "pwned").exists(), curl
    assert done.returncode == 0, (curl, done.stderr)
    sent = strip_credentials(f"http://h/v1/sending?q={path}").split("/", 3)[-1]  # as the URL was stored (no tab, no newline)
    assert args[:8] == [b"-sS", b"-i", *(g.encode() for g in CURL_GUARDS), b"-X", b"POST", ("http://base.test/" + redactor.text(sent)).encode()]
    headers = [args[i + 1] for i, arg in enumerate(args) if arg == b"-H"]
    # a header a command line cannot send as it was (a line break; a name that is no HTTP token) is left out, and said
    whole = re.fullmatch(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+", name) and "\n" not in value
    assert (f"{redactor.text(name)}: {redactor.text(before)}{KEY}{redactor.text(after)}".encode() in headers) == bool(whole), curl
    assert (f"x-other: {redactor.text(other)}".encode() in headers) == ("\n" not in other), curl
    assert ("left out: a line break" in curl) == (not whole or "\n" in other)
    body_at = args.index(b"--data-raw") + 1
    assert args[body_at] == redactor.text(body).encode()


@pytest.mark.e2e
@pytest.mark.parametrize("base", [PLACEHOLDER_BASE, None])
def test_h1_the_red_teams_payloads_create_no_file(tmp_path, base):
    payload = "$(touch${IFS}pwned)`touch pwned2`"
    curl, _ = _records(f"http://h/v1/sending?a={payload}", {"x-note": f"{KEY} $(touch pwned3)", f"x-{payload}": "1",
                                                            "authorization": "Basic " + __import__("base64").b64encode(f"u'$(touch pwned4)':{KEY}".encode()).decode()},
                       payload.encode(), base=base)
    done, args = _run(curl, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["decoy"], curl
    assert done.returncode == 0 and payload.encode() in args[7] and args[args.index(b"--data-raw") + 1] == payload.encode()
    assert f"x-note: {KEY} $(touch pwned3)".encode() in args
    assert ("authorization: Basic " + __import__("base64").b64encode(f"u'$(touch pwned4)':{KEY}".encode()).decode()).encode() in args


@pytest.mark.e2e
def test_h1_the_judge_commands_reports_carry_curl_lines_that_run_nothing(tmp_path, monkeypatch):
    """H1 as the red team ran it: a HAR entry's URL and header; every curl line of every report format."""
    from click.testing import CliRunner

    from migma_contract.cli import main

    from .test_recordings import TAG_WITHOUT_ID, har, har_entry

    entry = har_entry("POST", "http://h/v1/sending?a=$(touch${IFS}pwned)`touch pwned2`", TAG_WITHOUT_ID, 200,
                      {"success": True, "data": {"id": "m1", "status": "queued"}, "error": None}, auth=f"Bearer {KEY}")
    entry["request"]["headers"].append({"name": "x-note", "value": f"{KEY} $(touch pwned3)"})
    (tmp_path / "t.har").write_text(json.dumps(har([entry])))
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["judge", "t.har", "--report-dir", "out", "--format", "json"])
    assert result.exit_code == 1, result.output
    lines = [f["request"]["curl"] for f in json.loads((tmp_path / "out" / "conformance.json").read_text())["findings"]]
    assert lines
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    for line in lines:
        done, args = _run(line, run_dir)
        assert done.returncode == 0, done.stderr
        assert sorted(p.name for p in run_dir.iterdir()) == ["decoy"], line
        assert b"http://base.test/v1/sending?a=$(touch${IFS}pwned)`touch pwned2`" in args
        assert f"x-note: {KEY} $(touch pwned3)".encode() in args and f"authorization: Bearer {KEY}".encode() in args


def test_h1_a_curl_line_a_later_mask_would_cut_is_withheld_whole():
    """Masking part of a finished line (a credential learned later) could take a closing quote: all or nothing."""
    curl, _ = _records("http://h/v1/sending", {"x-note": "abc' ; touch pwned ; '"}, b"{}")
    later = Redactor(["touch pwned"])
    assert later.shell_line(curl).startswith("# curl line withheld")
    assert Redactor(["unrelated-secret"]).shell_line(curl) == curl


# --- M2: a body just over the middleware's cap ----------------------------------------------------------------


@pytest.mark.parametrize("chunks", [[b"x" * (1 << 20), b"y"], [b"x" * ((1 << 20) + 1)], [b"x" * 1_000_000, b"y" * 60_000]],
                         ids=["cap-then-one-byte", "one-message-of-cap-plus-one", "two-messages-ending-past-the-cap"])
def test_m2_a_body_slightly_over_the_cap_reaches_the_app_whole_and_the_answer_comes(chunks):
    """M2: the chunk crossing the cap was the last, yet the replay said more_body: the app waited for ever."""
    import anyio
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from migma_contract.asgi import ContractMiddleware

    async def sending(request: Request) -> JSONResponse:
        return JSONResponse({"size": len(await request.body())}, status_code=413)

    wrapped = ContractMiddleware(Starlette(routes=[Route("/v1/sending", sending, methods=["POST"])]))
    messages = [{"type": "http.request", "body": chunk, "more_body": i < len(chunks) - 1} for i, chunk in enumerate(chunks)]
    sent = []

    async def receive():
        if not messages:  # a server waits here (for the disconnect) for as long as the connection lives
            raise AssertionError("the app asked for more body after the last chunk")
        return messages.pop(0)

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/v1/sending", "raw_path": b"/v1/sending", "query_string": b"",
             "headers": [(b"host", b"app"), (b"content-type", b"application/json")], "scheme": "http", "root_path": "",
             "http_version": "1.1"}
    anyio.run(wrapped, scope, receive, send)
    assert sent[0]["status"] == 413 and json.loads(sent[1]["body"]) == {"size": sum(map(len, chunks))}
    assert wrapped.result().traffic.judged == 1


# --- M1: credentials by shape ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["X-Access-Key", "Authentication", "Ocp-Apim-Subscription-Key", "X-Goog-Api-Key", "X-Session-Id",
                                  "X-Client-Secret", "X-Hub-Signature-256", "Private-Token", "X-Credential", "x_user_password"])
def test_m1_a_header_named_for_a_credential_is_masked_whatever_its_prefix(name):
    from migma_contract.core.redact import REDACTED

    assert Redactor().header_value(name, "someones-value-4242") == REDACTED
    assert Redactor().header_value(name, "Bearer someones-value-4242") == f"Bearer {REDACTED}"


@pytest.mark.parametrize("name", ["Idempotency-Key", "X-Request-Id", "Keep-Alive", "WWW-Authenticate", "Content-Type", "X-Monkey",
                                  "Access-Control-Allow-Credentials"])
def test_m1_ordinary_headers_stay_readable(name):
    assert Redactor().header_value(name, "value-4242") == "value-4242"


@pytest.mark.parametrize("text", [
    "https://h/v1?x_api_key={s}&page=2", "https://h/v1?X-Amz-Signature={s}", "https://h/cb?code={s}&state=1",
    "password={s}&user=ann", "user=ann&clientSecret={s}",
    '{{"authorization": "{s}"}}', '{{"key": "{s}"}}', '{{"apiSecret": "{s}"}}', '{{"userPassword": "{s}"}}',
    '{{"stripeApiKey": "{s}"}}', '{{"nested": {{"x-access-token": "{s}"}}}}', '{{"password": {s}}}',
    '"{{\\"apiSecret\\": \\"{s}\\"}}"'])
def test_m1_a_value_under_a_credential_name_is_masked_and_learned(text):
    secret = "12345678901" if "{s}}}" in text and '"{s}"' not in text else "val-Secret-0042"
    written = text.format(s=secret)
    assert secret not in Redactor().text(written), written
    assert secret in __import__("migma_contract.core.redact", fromlist=["x"]).secrets_by_shape(written)


def test_m1_ordinary_parameters_and_keys_stay_readable():
    text = '{"code": "invalid_request", "emailId": "email_welcome", "sentCount": 12345} ?page=2&error_code=E1234&keyboard=qwerty'
    assert Redactor().text(text) == text


def test_m1_a_value_learned_by_shape_is_masked_where_the_server_echoes_it(tmp_path):
    """M1: a credential the shapes missed went verbatim into reports; one found by shape must be masked in the echo too."""
    from migma_contract import contract_for
    from migma_contract.reports import write_reports
    from migma_contract.traffic.tally import ObservedExchange, TrafficJudge

    secrets = ["hdr-access-key-01", "hdr-authn-bearer-02", "hdr-ocp-sub-key-03", "q-x-api-key-04", "q-amz-sig-05",
               "q-oauth-code-06", "body-api-secret-07", "12345678901"]
    judge = TrafficJudge(contract_for(), kind="recorded", label="t")
    body = json.dumps({"recipientType": "tag", "from": "news@example.com", "fromName": "News", "subject": "Hi",
                       "emailId": "email_welcome", "apiSecret": secrets[6], "userPassword": 12345678901}).encode()
    echo = " ".join(secrets)
    judge.observe(ObservedExchange(
        "POST", f"https://recorded.test/v1/sending?x_api_key={secrets[3]}&X-Amz-Signature={secrets[4]}&code={secrets[5]}",
        [("Content-Type", "application/json"), ("X-Access-Key", secrets[0]), ("Authentication", f"Bearer {secrets[1]}"),
         ("Ocp-Apim-Subscription-Key", secrets[2])], body, 200,
        [("content-type", "application/json"), ("x-debug", echo)],
        json.dumps({"success": False, "error": f"echo {echo}"}).encode(), where="recording entry 1"))
    judge.observe(ObservedExchange("POST", "https://recorded.test/v1/sending", [("Content-Type", "application/x-www-form-urlencoded")],
                                   b"password=form-pass-word-08&user=ann", 200, [("content-type", "application/json")],
                                   b'{"success": false, "error": "echo form-pass-word-08"}', where="recording entry 2"))
    secrets.append("form-pass-word-08")
    result = judge.result()
    assert result.findings
    written = "".join(path.read_text(encoding="utf-8") for path in write_reports(result, tmp_path, ("json", "junit", "md", "html")))
    for secret in secrets:
        assert secret not in written, secret


# --- M3: an upstream header the server stack cannot send ----------------------------------------------------


_raw = raw_exchange


def _send_request(proxy_url, body=b"{}"):
    return _raw(proxy_url, b"POST /v1/sending HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                b"Content-Length: " + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n" + body)


@pytest.mark.e2e
@pytest.mark.parametrize("stack", sorted(__import__("migma_contract.wire.serve", fromlist=["PROTOCOLS"]).PROTOCOLS))
@pytest.mark.parametrize("value", [b"\xff\x1b]0;pwn\x07", b"a\x07b", b"a\x7fb", b"a\x01", b"\xe9 \tfine"],
                         ids=["osc", "bel", "del", "soh", "fine"])
def test_m3_an_upstream_header_the_server_cannot_send_is_dropped_noted_and_the_answer_judged(stack, value):
    """M3: uvicorn refused the upstream's header, the fallback 502 failed too: an empty reply, the exchange unjudged."""
    from migma_contract.traffic.proxy import TrafficProxy
    from migma_contract.wire.serve import serve_in_thread

    from .hostile_servers import each_request, raw_server
    from .test_ways_in import _judge

    body = b'{"success": false, "error": "boom"}'
    answer_bytes = (b"HTTP/1.1 500 Internal Server Error\r\nContent-Type: application/json\r\nX-Weird: " + value
                    + b"\r\nContent-Length: " + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n" + body)
    judge = _judge()
    with raw_server(each_request(lambda request: answer_bytes)) as up_url, \
            serve_in_thread(TrafficProxy(up_url, judge), stack=stack) as proxy_url:
        answer = _send_request(proxy_url)
    result = judge.result()
    assert answer.startswith(b"HTTP/1.1 500"), answer[:200]
    assert "no-server-error" in {f.rule for f in result.findings}
    assert result.traffic.judged == 1
    sendable = not any(b < 9 or 9 < b < 32 or b == 127 for b in value)
    assert (b"x-weird: " in answer.lower()) == sendable
    assert any("x-weird" in note.lower() and "dropped" in note for note in result.traffic.notes) == (not sendable), result.traffic.notes
    assert not any("502" in note for note in result.traffic.notes)


# --- L4, L5: the proxy's request target, Host and Origin --------------------------------------------------------


@pytest.mark.e2e
@pytest.mark.parametrize("stack", sorted(__import__("migma_contract.wire.serve", fromlist=["PROTOCOLS"]).PROTOCOLS))
@pytest.mark.parametrize("target", [b"http://evil.example/x", b"http://evil.example:80/v1/sending?a=1", b"https://127.0.0.2/x",
                                    b"http://evil.example"])
def test_l4_an_absolute_form_target_naming_another_authority_is_a_400_on_every_stack(stack, target):
    """L4: httptools dropped the authority of `GET http://evil.com/x`: the proxy forwarded `/x` to its upstream."""
    from migma_contract.traffic.proxy import TrafficProxy
    from migma_contract.wire.serve import serve_in_thread

    from .test_ways_in import Recorder, _judge

    upstream = Recorder()
    with serve_in_thread(upstream) as up_url, serve_in_thread(TrafficProxy(up_url, _judge()), stack=stack) as proxy_url:
        refused = _raw(proxy_url, b"GET " + target + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        own = _raw(proxy_url, b"GET " + up_url.encode() + b"/v1/x?a=1 HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
    assert refused.startswith(b"HTTP/1.1 400"), refused[:200]
    assert own.startswith(b"HTTP/1.1 200") and [(s["path"], s["query"]) for s in upstream.seen] == [("/v1/x", b"a=1")]


@pytest.mark.parametrize("headers", [
    [(b"host", b"127.0.0.1"), (b"host", b"evil.example")], [(b"host", b"evil.example"), (b"host", b"127.0.0.1")],
    [(b"host", b"127.0.0.1"), (b"host", b"127.0.0.1")],
    [(b"host", b"127.0.0.1"), (b"origin", b"http://printer")], [(b"host", b"127.0.0.1"), (b"origin", b"http://intranet:3000")],
    [(b"host", b"127.0.0.1"), (b"origin", b"http://localhost:3000"), (b"origin", b"http://evil.example")]])
def test_l5_several_hosts_and_a_dotless_origin_are_refused(headers):
    """L5: a second Host slipped past the guard (a dict kept one); a dotless Origin counted as local."""
    from migma_contract.wire.boundary import foreign_request

    assert foreign_request(headers, local_origins=True) is not None


@pytest.mark.parametrize("origin", [b"http://localhost:3000", b"http://127.0.0.5:8080", b"http://[::1]:3000", b"http://app.localhost"])
def test_l5_loopback_origins_stay_local(origin):
    from migma_contract.wire.boundary import foreign_request

    assert foreign_request([(b"host", b"127.0.0.1:8080"), (b"origin", origin)], local_origins=True) is None
    assert foreign_request([(b"host", b"mock:4010")], local_origins=True) is None  # a container's service name as Host


@pytest.mark.e2e
def test_l5_the_proxy_refuses_a_request_with_two_hosts():
    from migma_contract.traffic.proxy import TrafficProxy
    from migma_contract.wire.serve import serve_in_thread

    from .test_ways_in import Recorder, _judge

    upstream = Recorder()
    with serve_in_thread(upstream) as up_url, serve_in_thread(TrafficProxy(up_url, _judge())) as proxy_url:
        answer = _raw(proxy_url, b"GET /v1/x HTTP/1.1\r\nHost: rebind.attacker.example\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 403") and upstream.seen == []


# --- L1: the default report dir ------------------------------------------------------------------------------


def _linked_repo(tmp_path, monkeypatch):
    repo, elsewhere = tmp_path / "repo", tmp_path / "elsewhere"
    repo.mkdir()
    elsewhere.mkdir()
    (repo / "reports").symlink_to(elsewhere)
    monkeypatch.chdir(repo)
    return repo, elsewhere


def test_l1_a_default_report_dir_linked_out_of_the_working_directory_is_refused(tmp_path, monkeypatch):
    """L1: a `reports` link committed to the repository made the reports land wherever it pointed."""
    from migma_contract import ConfigError
    from migma_contract.config.options import resolve_options

    _linked_repo(tmp_path, monkeypatch)
    with pytest.raises(ConfigError) as refused:
        resolve_options({}, environ={}, pyproject=tmp_path / "none.toml")
    assert "--report-dir" in str(refused.value) and "\n" not in str(refused.value)
    # named by the user: written there
    assert resolve_options({"report_dir": "reports"}, environ={}, pyproject=tmp_path / "none.toml").report_dir == "reports"
    assert resolve_options({}, environ={"MIGMA_CONTRACT_REPORT_DIR": "reports"}, pyproject=tmp_path / "none.toml").report_dir == "reports"
    (tmp_path / "repo" / "inside").mkdir()
    (tmp_path / "repo" / "reports").unlink()
    (tmp_path / "repo" / "reports").symlink_to(tmp_path / "repo" / "inside")  # a link inside the working directory is fine
    assert resolve_options({}, environ={}, pyproject=tmp_path / "none.toml").report_dir == "reports"


@pytest.mark.e2e
@pytest.mark.parametrize("command", [["check"], ["judge", "t.har"]])
def test_l1_the_commands_exit_2_with_one_line(tmp_path, monkeypatch, command):
    from click.testing import CliRunner

    from migma_contract.cli import main

    repo, elsewhere = _linked_repo(tmp_path, monkeypatch)
    (repo / "t.har").write_text(json.dumps({"log": {"version": "1.2", "entries": []}}))
    result = CliRunner().invoke(main, command)
    assert result.exit_code == 2, result.output
    assert "link out of the working directory" in result.output and len(result.output.strip().splitlines()) == 1
    assert list(elsewhere.iterdir()) == []


# --- L2: options a repository file may not weaken ------------------------------------------------------------


@pytest.mark.parametrize("key, value", [("insecure", "true"), ("allow-production", "true"), ("follow-redirects", "true"),
                                        ("recipient-domain", "real-company.com")])
def test_l2_a_repository_file_cannot_weaken_a_run_that_carries_the_ci_key(tmp_path, key, value):
    """L2: [tool.migma-contract] could set insecure, allow-production... for a run carrying the CI's key."""
    from migma_contract import ConfigError
    from migma_contract.config.options import resolve_options

    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(f'[tool.migma-contract]\n{key} = "{value}"\n')
    env = {"MIGMA_CONTRACT_API_KEY": "mc_ci_secret_key_1", "MIGMA_CONTRACT_BASE_URL": "https://staging.example.test"}
    with pytest.raises(ConfigError) as refused:
        resolve_options({}, environ=env, pyproject=pyproject)
    assert key in str(refused.value) and "mc_ci_secret_key_1" not in str(refused.value)
    # the user's own choice, an explicit trust, or no key to protect: accepted
    name = key.replace("-", "_")
    assert resolve_options({name: value}, environ=env, pyproject=tmp_path / "none.toml")
    assert resolve_options({}, environ={**env, "MIGMA_CONTRACT_TRUST_CONFIG_TARGET": "1"}, pyproject=pyproject)
    assert resolve_options({}, environ={}, pyproject=pyproject)
    # harmless values from the file stay fine
    pyproject.write_text('[tool.migma-contract]\nmax-requests = 500\nrecipient-domain = "example.com"\ninsecure = false\n')
    assert resolve_options({}, environ=env, pyproject=pyproject).max_requests == 500
