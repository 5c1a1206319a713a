"""The red team's findings on the ways in (proxy, judge, ContractMiddleware, repository config), each on its class.

H1: the curl lines reproduce a request without running anything of it; M1: credentials by shape;
M2: a body just over the middleware's cap; M3: an upstream header the server stack cannot send;
L1, L2: what a repository's config may choose; L4, L5: the proxy's request target, Host and Origin.
"""

import json
import os
import subprocess
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from migma_contract.core.redact import Redactor, strip_credentials
from migma_contract.run.records import PLACEHOLDER_BASE, make_records
from migma_contract.wire.client import Exchange

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
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=_hostile(), name=_hostile(1), before=_hostile(), after=_hostile(), body=_hostile())
def test_h1_a_curl_line_runs_nothing_of_the_request_and_passes_it_literally(tmp_path, path, name, before, after, body):
    """H1: a recorded path/query and a header holding the key were pasted raw between double quotes: `$(...)` ran."""
    name = "x-note" + name.replace(":", "")
    value = f"{before}{KEY}{after}"
    curl, redactor = _records(f"http://recorded.test/v1/sending?q={path}", {name: value, "content-type": "text/plain"}, body.encode())
    assert KEY not in curl
    done, args = _run(curl, tmp_path)
    assert not (tmp_path / "pwned").exists(), curl
    assert done.returncode == 0, (curl, done.stderr)
    sent = strip_credentials(f"http://h/v1/sending?q={path}").split("/", 3)[-1]  # as the URL was stored (no tab, no newline)
    assert args[:5] == [b"-sS", b"-i", b"-X", b"POST", ("http://base.test/" + redactor.text(sent)).encode()]
    headers = [args[i + 1] for i, arg in enumerate(args) if arg == b"-H"]
    assert f"{redactor.text(name)}: {redactor.text(before)}{KEY}{redactor.text(after)}".encode() in headers, curl
    assert args[-1] == redactor.text(body).encode()


@pytest.mark.e2e
@pytest.mark.parametrize("base", [PLACEHOLDER_BASE, None])
def test_h1_the_red_teams_payloads_create_no_file(tmp_path, base):
    payload = "$(touch${IFS}pwned)`touch pwned2`"
    curl, _ = _records(f"http://h/v1/sending?a={payload}", {"x-note": f"{KEY} $(touch pwned3)", f"x-{payload}": "1",
                                                            "authorization": "Basic " + __import__("base64").b64encode(f"u'$(touch pwned4)':{KEY}".encode()).decode()},
                       payload.encode(), base=base)
    done, args = _run(curl, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["decoy"], curl
    assert done.returncode == 0 and payload.encode() in args[4] and args[-1] == payload.encode()
    assert f"x-note: {KEY} $(touch pwned3)".encode() in args
    assert ("authorization: Basic " + __import__("base64").b64encode(f"u'$(touch pwned4)':{KEY}".encode()).decode()).encode() in args


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
