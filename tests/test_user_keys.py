"""The user's own keys are masked by every way in that writes anything (issue 24's red-team pass, M1).

Every face builds its redactor from one place (`config.options.user_secrets`: each secret row of the
options table, from the options, the command's arguments and the environment). Here each face that writes
output (console, the four reports, $GITHUB_STEP_SUMMARY, violation lines) runs with all three keys in the
environment while traffic (a recording, a client, a server) carries and echoes them; none may appear.
`test_every_command_that_writes_is_listed` keeps the list whole: a new command must join it.
"""

import json

import anyio
import httpx
import pytest
from click.testing import CliRunner

from migma_contract.asgi import ContractMiddleware
from migma_contract.cli import main
from migma_contract.config.options import OPTIONS, user_secrets
from migma_contract.wire.serve import serve_in_thread

pytestmark = pytest.mark.e2e  # loopback servers, whole checks, pytest runs

pytest_plugins = ["pytester"]

# no issuer prefix (sk_live_, ghp_...): only the redactor's knowledge of the key can mask it
KEYS = {"MIGMA_CONTRACT_API_KEY": "Zq9VerySecretKey12345xyz", "MIGMA_CONTRACT_RESTRICTED_API_KEY": "Rs7RestrictedKey67890abc",
        "MIGMA_CONTRACT_SECOND_API_KEY": "Se2SecondFullKey24680def"}
ECHO = " ".join(KEYS.values())
TAG_WITHOUT_ID = {"recipientType": "tag", "from": "news@example.com", "fromName": "News", "subject": "Hi", "emailId": "email_welcome"}
ANSWER = json.dumps({"success": True, "data": {"id": "m1", "status": f"echo {ECHO}", "provider": "migma"}, "error": None}).encode()
# commands that write nothing a key could reach: no traffic, no result (lint prints a document's own text)
SILENT = {"lint", "rules", "spec", "mock", "diff"}


@pytest.fixture
def keys_in_env(monkeypatch, tmp_path):
    for name, value in KEYS.items():
        monkeypatch.setenv(name, value)
    summary = tmp_path / "step-summary.md"
    summary.write_text("")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    monkeypatch.chdir(tmp_path)
    return summary


async def echoing(scope, receive, send):
    """A server that echoes every key it knows of, on every path, in a body that breaks result-status-known."""
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"x-echo", ECHO.encode())]})
    await send({"type": "http.response.body", "body": ANSWER})


def _har(path):
    entry = {"startedDateTime": "2026-01-01T00:00:00Z", "time": 5,
             "request": {"method": "POST", "url": "https://api.example.test/v1/sending?trace=" + KEYS["MIGMA_CONTRACT_SECOND_API_KEY"],
                         "httpVersion": "HTTP/1.1", "headers": [{"name": "Authorization", "value": "[Filtered]"},
                                                                {"name": "Content-Type", "value": "application/json"},
                                                                {"name": "X-Trace", "value": ECHO}],
                         "queryString": [], "cookies": [], "headersSize": -1, "bodySize": -1,
                         "postData": {"mimeType": "application/json", "text": json.dumps({**TAG_WITHOUT_ID, "subject": ECHO})}},
             "response": {"status": 200, "statusText": "OK", "httpVersion": "HTTP/1.1",
                          "headers": [{"name": "Content-Type", "value": "application/json"}, {"name": "X-Echo", "value": ECHO}],
                          "cookies": [], "content": {"size": len(ANSWER), "mimeType": "application/json", "text": ANSWER.decode()},
                          "redirectURL": "", "headersSize": -1, "bodySize": -1},
             "cache": {}, "timings": {"send": 0, "wait": 5, "receive": 0}}
    path.write_text(json.dumps({"log": {"version": "1.2", "creator": {"name": "t", "version": "1"}, "entries": [entry]}}))
    return path


def _written(*places):
    """Every file under (or at) `places`, as text."""
    texts = []
    for place in places:
        for path in [place] if place.is_file() else sorted(p for p in place.rglob("*") if p.is_file()):
            texts.append(path.read_text(encoding="utf-8", errors="replace"))
    return texts


def _cli(*args):
    return CliRunner().invoke(main, [*map(str, args)], catch_exceptions=False)


def face_check(tmp_path):
    with serve_in_thread(echoing) as url:
        done = _cli("check", "--base-url", url, "--plan", "minimal", "--max-requests", "12", "--report-dir", tmp_path / "r")
    assert done.exit_code == 1, done.output
    return [done.output]


def face_judge(tmp_path):
    done = _cli("judge", _har(tmp_path / "t.har"), "--report-dir", tmp_path / "r")
    assert done.exit_code == 1, done.output
    return [done.output]


def face_proxy(tmp_path, monkeypatch):
    """The command in-process: its server replaced by one that sends one request through the app, then Ctrl-C."""
    import uvicorn

    class Server:
        def __init__(self, config):
            self.app = config.app

        def run(self, sockets):
            async def one():
                transport = httpx.ASGITransport(app=self.app)
                async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:4011") as client:
                    await client.post("/v1/sending", json={**TAG_WITHOUT_ID, "subject": ECHO}, headers={"X-Trace": ECHO})

            anyio.run(one)
            raise KeyboardInterrupt  # Ctrl-C: the command writes its reports

    with serve_in_thread(echoing) as url:  # the upstream on a real server, before the proxy's is replaced
        monkeypatch.setattr(uvicorn, "Server", Server)
        done = _cli("proxy", "--upstream", url, "--port", "0", "--report-dir", tmp_path / "r")
    assert done.exit_code == 1, done.output
    return [done.output]


def face_report(tmp_path, monkeypatch):
    """A conformance.json that holds the keys (written elsewhere, without them), re-rendered with them in the environment."""
    from migma_contract import contract_for
    from migma_contract.reports import write_reports
    from migma_contract.traffic.tally import ObservedExchange, TrafficJudge

    judge = TrafficJudge(contract_for(), kind="recorded", label=f"run of {ECHO}")
    judge.observe(ObservedExchange("POST", "https://h.example.test/v1/sending", [("X-Trace", ECHO)],
                                   json.dumps(TAG_WITHOUT_ID).encode(), 200, [("content-type", "application/json")], ANSWER))
    result = judge.result()
    with monkeypatch.context() as elsewhere:
        for name in KEYS:
            elsewhere.delenv(name)
        write_reports(result, tmp_path / "saved", ("json",))
    assert KEYS["MIGMA_CONTRACT_API_KEY"] in (tmp_path / "saved" / "conformance.json").read_text()  # the premise
    done = _cli("report", tmp_path / "saved" / "conformance.json", "--format", "json,junit,md,html", "--out", tmp_path / "r")
    compared = _cli("report", tmp_path / "saved" / "conformance.json", tmp_path / "saved" / "conformance.json",
                    "--out", tmp_path / "r2")
    assert done.exit_code == 0 and compared.exit_code == 0, done.output + compared.output
    (tmp_path / "saved" / "conformance.json").unlink()  # the input, not an output
    return [done.output, compared.output]


def face_middleware(tmp_path):
    lines = []
    app = ContractMiddleware(echoing, report_dir=tmp_path / "r", on_violation=lines.append, label=f"app of {ECHO}")

    async def one():
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://app.test") as client:
            await client.post(f"/v1/sending?trace={KEYS['MIGMA_CONTRACT_API_KEY']}", json={**TAG_WITHOUT_ID, "subject": ECHO},
                              headers={"X-Trace": ECHO})

    anyio.run(one)
    app.write_report()
    findings = app.findings
    assert findings and lines
    return [*lines, json.dumps([f.to_dict() if hasattr(f, "to_dict") else repr(f) for f in findings])]


def face_pytest_plugin(tmp_path, pytester):
    with serve_in_thread(echoing) as url:
        # the key also in the target's path (a gateway's route): a label and a report path may carry it too
        result = pytester.runpytest_inprocess("--migma-conformance", "--migma-base-url",
                                              f"{url}/{KEYS['MIGMA_CONTRACT_RESTRICTED_API_KEY']}", "--migma-plan", "minimal",
                                              "--migma-max-requests", "12", "--migma-report-dir", str(tmp_path / "r"))
    assert result.ret == 1, result.outlines[-30:]
    return [*result.outlines, *result.errlines]


FACES = {"check": face_check, "judge": face_judge, "proxy": face_proxy, "report": face_report, "middleware": face_middleware,
         "pytest plugin": face_pytest_plugin}


@pytest.mark.parametrize("face", FACES)
def test_no_face_writes_the_users_own_keys(face, tmp_path, monkeypatch, keys_in_env, request):
    """M1: `judge` (and the proxy) gave their writers none of the environment's keys: a key a recording held in a
    header, or a server echoed, was in the console's curl lines, all four reports and the step summary."""
    run = FACES[face]
    wanted = {"tmp_path": tmp_path, "monkeypatch": monkeypatch}
    if face == "pytest plugin":
        wanted["pytester"] = request.getfixturevalue("pytester")
    names = run.__code__.co_varnames[:run.__code__.co_argcount]
    console = run(**{name: wanted[name] for name in names})
    texts = [*console, *_written(tmp_path / "r", keys_in_env)]
    if (tmp_path / "r2").exists():
        texts += _written(tmp_path / "r2")
    assert any("[REDACTED]" in text for text in texts), face  # something was masked: the keys were there to leak
    for name, key in KEYS.items():
        leaked = [text[max(0, text.find(key) - 80):text.find(key) + 40] for text in texts if key in text]
        assert not leaked, (face, name, leaked[:2])


def test_every_command_that_writes_is_listed():
    """A new command that writes output joins FACES (and so this test's proof) or is named silent."""
    assert set(main.commands) == SILENT | (set(FACES) - {"middleware", "pytest plugin"})


def test_the_users_secrets_come_from_every_secret_row_and_source():
    secret_rows = [option for option in OPTIONS if option.secret]
    assert {o.name for o in secret_rows} == {"api_key", "restricted_api_key", "second_api_key"}
    environ = {o.env: f"env-key-of-{o.name}" for o in secret_rows}
    given = {"api_key": "given-key-0001", "level": "strict"}
    found = user_secrets(given, None, environ=environ)
    assert set(found) == {"given-key-0001", *environ.values()}
    assert user_secrets(environ={}) == ()


def test_the_users_secrets_include_each_key_without_the_quotes_around_it():
    """Red-team pass N2, F1: a key kept quoted (`docker run --env-file`: MIGMA_CONTRACT_API_KEY='"k_live_..."'), as
    `judge` and `proxy` read it from their environment, was masked only quotes and all; a server echoes it bare."""
    found = user_secrets(environ={"MIGMA_CONTRACT_API_KEY": '"k_live_SECRETQUOTED12345"',
                                  "MIGMA_CONTRACT_SECOND_API_KEY": "'Se2SecondFullKey24680def'"})
    assert {"k_live_SECRETQUOTED12345", "Se2SecondFullKey24680def"} <= set(found)


def test_pass_r3_f4_the_users_secrets_include_the_credentials_of_every_url_given():
    """Pass R3, F4 (the class): `--base-url https://svc:<password>@staging` is sent as a Basic pair a server may echo,
    and the proxy's `$MIGMA_CONTRACT_UPSTREAM` likewise: each URL's userinfo is the user's secret, masked by every writer
    and error line (the run's options, a command's arguments, the toolkit's environment)."""
    from migma_contract.config.options import CheckOptions

    found = user_secrets(CheckOptions(base_url="https://svc:BaseUrlPassw0rd1@staging.example"), environ={})
    assert {"BaseUrlPassw0rd1", "svc:BaseUrlPassw0rd1"} <= set(found)
    found = user_secrets({"upstream": "http://svc:Upstr%40amPassw0rd@127.0.0.1:9", "from_address": "news@example.com"},
                         environ={"MIGMA_CONTRACT_UPSTREAM": "https://tok_0123456789abcdef@staging.example"})
    assert {"Upstr@amPassw0rd", "tok_0123456789abcdef"} <= set(found) and "news@example.com" not in found
    assert user_secrets(CheckOptions(base_url="https://staging.example/v1"), environ={}) == ()


@pytest.mark.parametrize("quoted", ['"Zq9VerySecretKey12345xyz"', "'Zq9VerySecretKey12345xyz'", "`Zq9VerySecretKey12345xyz`",
                                    '"Zq9VerySecretKey12345xyz'])
def test_a_quoted_key_is_refused_not_sent_quoted(quoted, tmp_path, monkeypatch):
    """Red-team pass N2, F1 (n8b_check_quoted_key.sh): a key kept in its quotes passed the key check and was sent as
    `Bearer "k..."`; a server answering 401 with the key unquoted put it on the console. A quoted key is never what the
    user meant: refused, exit 2, one line, the value not shown."""
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["check", "--base-url", "http://127.0.0.1:9", "--dry-run"],
                                env={"MIGMA_CONTRACT_API_KEY": quoted})
    assert result.exit_code == 2, result.output
    assert "the key is quoted: remove the quotes" in result.output and "Zq9VerySecret" not in result.output
    given = CliRunner().invoke(main, ["check", "--base-url", "http://127.0.0.1:9", "--dry-run", "--api-key", quoted])
    assert given.exit_code == 2 and "the key is quoted" in given.output and "Zq9VerySecret" not in given.output



def test_the_plugins_assert_helpers_mask_the_users_keys(keys_in_env):
    """`migma_validate.assert_response` (the plugin's fixture) quotes what the server answered: an echoed key is masked."""
    from migma_contract.testing import ContractBreach, Validators

    validators = Validators()
    with pytest.raises(ContractBreach) as breach:
        validators.assert_response(httpx.Response(200, headers={"content-type": "application/json"}, content=ANSWER))
    with pytest.raises(ContractBreach) as request_breach:
        validators.assert_request({**TAG_WITHOUT_ID, "recipientType": ECHO})
    for text in (str(breach.value), str(request_breach.value)):
        assert "[REDACTED]" in text and not any(key in text for key in KEYS.values()), text


def test_a_base_url_holding_a_user_or_password_is_refused_it_would_replace_the_key(tmp_path, monkeypatch):
    """Found while fixing pass R3, F4: httpx sends a URL's `user:password@` as `Authorization: Basic`, in place of the
    run's `Bearer <key>`, so `--base-url https://svc:pw@staging` checked a server with no request carrying the key (every
    401 then the server's "fault"). Refused, exit 2, one line, the password not shown; the same host without it runs."""
    monkeypatch.chdir(tmp_path)
    env = {"MIGMA_CONTRACT_API_KEY": "mc_test_full_access"}
    result = CliRunner().invoke(main, ["check", "--base-url", "http://svc:Passw0rdInUrl@127.0.0.1:9", "--dry-run"], env=env)
    assert result.exit_code == 2, result.output
    assert "must not hold a user name or password" in result.output and "Passw0rdInUrl" not in result.output
    result = CliRunner().invoke(main, ["check", "--base-url", "http://127.0.0.1:9", "--dry-run"], env=env)
    assert result.exit_code == 0, result.output
