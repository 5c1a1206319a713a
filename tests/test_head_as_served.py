"""A request head read as a server's HTTP layer reads it, on every way in (attack pass T3, issue 24).

- F1: a header value is trimmed of its optional whitespace wherever the judge compares or keys on it (RFC 9110 §5.5):
  requests sends `Idempotency-Key: k ` as given, every server reads the key `k` and replays.
- F2: a request head RFC 9112/9110 make or let a server's HTTP layer refuse (a name that is no token, a control in a
  value, framing it may not read, a Host that is none) leaves a refusal's status and body rules unjudged: the 400
  (or 501) may be uvicorn's, not the API's.
- F4: no statement of the package stands after a `return`, `raise`, `continue` or `break` in its block.
- F5: a vcrpy cassette of an iterator (chunked) request body is read as vcrpy plays it, never by running its tag.
"""

from __future__ import annotations

import ast
import base64
import json
from itertools import pairwise
from pathlib import Path

import pytest

import migma_contract
from migma_contract import contract_for
from migma_contract.contract.rules import Replay
from migma_contract.core import fields
from migma_contract.core.fields import joined
from migma_contract.judge.verdict import SERVER
from migma_contract.traffic.recordings import open_recording
from migma_contract.traffic.tally import ObservedExchange, TrafficJudge

from .test_recorded_bounds import judge_cli

VALID = {"recipientType": "email", "recipientEmail": "ada@example.com", "from": "hello@yourbrand.migma.email",
         "fromName": "Your Brand", "subject": "Welcome!", "emailId": "email_welcome"}
URL = "http://127.0.0.1:8080/v1/sending"


def _answer(message_id):
    return json.dumps({"success": True, "data": {"id": message_id, "provider": "migma", "status": "queued", "sentCount": 1,
                                                 "message": "Email queued for delivery (transactional)"}, "error": None})


def _requests_item(key=None, *, body=None, extra=(), answer=None, status=200, media="application/json"):
    """One vcrpy item as requests + vcrpy record it (the request's own headers, the answer's lower-cased ones)."""
    lines = ["- request:"]
    if body is None:
        lines.append(f"    body: {json.dumps(json.dumps(VALID))}")
    else:
        lines += ["    body: " + body[0], *("    " + line for line in body[1:])]
    lines += ["    headers:", "      Accept: ['*/*']", "      Authorization: [Bearer mc_test_full_access]",
              "      Content-Type: [application/json]"]
    if key is not None:
        lines.append(f"      Idempotency-Key: [{json.dumps(key)}]")
    lines += [f"      {json.dumps(name)}: [{json.dumps(value)}]" for name, value in extra]
    lines += ["      User-Agent: [python-requests/2.34.2]", "    method: POST", f"    uri: {URL}", "  response:",
              f"    body: {{string: {json.dumps(answer if answer is not None else _answer('msg_1'))}}}",
              f"    headers: {{content-type: [{json.dumps(media)}], server: [uvicorn]}}",
              f"    status: {{code: {status}, message: x}}"]
    return lines


def _cassette(tmp_path, *items, name="c.yaml"):
    path = tmp_path / name
    path.write_text("\n".join(["interactions:", *(line for item in items for line in item), "version: 1", ""]))
    return path


def _result(tmp_path, *items):
    path = _cassette(tmp_path, *items)
    judge = TrafficJudge(contract_for(), "documented", kind="recording", label=str(path))
    for exchange in open_recording(path).exchanges():
        judge.observe(exchange)
    return judge.result()


def _server_findings(result):
    return {f.rule for f in result.findings if f.broken_by == "server"}


# --- F1: an Idempotency-Key with trailing whitespace is the key a server reads ---------------------------------------


@pytest.mark.parametrize(("first", "second"), [("k-1", "k-1 "), ("k-1", "k-1\t"), ("k-1 ", "k-1"), ("\tk-1", "k-1 \t")],
                         ids=["SP after the retry's", "HTAB after the retry's", "SP after the first's", "both"])
def test_pass_t3_f1_a_replay_under_a_key_with_optional_whitespace_is_no_server_finding(tmp_path, first, second):
    """Pass T3, F1: requests sends `Idempotency-Key: k-1 ` as given (vcrpy records it so); every server reads `k-1`
    (RFC 9110 §5.5) and the mock replayed the first answer: `judge` compared `k-1` with `k-1 ` and blamed the server on
    result-id-unique ("got it again under another ... Idempotency-Key"), exit 1."""
    path = _cassette(tmp_path, _requests_item(first), _requests_item(second))
    result = judge_cli(path, "--report-dir", tmp_path / "r")
    assert result.exit_code == 0, result.output
    findings = json.loads((tmp_path / "r" / "conformance.json").read_text())["findings"]
    assert not findings
    # a key that differs beyond whitespace is another key: the repeated id is the server's break, as before
    path = _cassette(tmp_path, _requests_item("k-1"), _requests_item("k-1 2"), name="other.yaml")
    assert judge_cli(path, "--report-dir", tmp_path / "r2").exit_code == 1


def test_pass_t3_f1_every_way_in_reads_a_header_value_trimmed():
    """Pass T3, F1, the class: every map of headers the judge reads (recordings, the proxy and the middleware through
    `ObservedExchange`, the check's own exchanges, the Schemathesis adapter: `joined`) holds each value as a server reads
    it, and a replay's key is the trimmed one whoever builds it."""
    assert joined([("Idempotency-Key", "k \t"), ("X", "\ta"), ("x", "b ")]) == {"idempotency-key": "k", "x": "a, b"}
    assert joined({"Content-Type": " application/json "}) == {"content-type": "application/json"}
    assert joined([("A", "v\xa0")]) == {"a": "v\xa0"}  # OWS only (no other whitespace: `core.fields.trimmed`)
    assert Replay.of("k ", "Bearer a").scope() == Replay.of("k", "Bearer a").scope()
    assert Replay.of("k2", "Bearer a").scope() != Replay.of("k", "Bearer a").scope()
    exchange = ObservedExchange("POST", URL, [("Idempotency-Key", "k\t")], b"{}", 200)
    assert exchange.sent_headers["idempotency-key"] == "k"

    from migma_contract.wire.client import Exchange

    checked = Exchange(case=None, method="POST", url=URL, request_headers={"Idempotency-Key": "k "}, request_content=b"")
    assert checked.sent_headers == {"idempotency-key": "k", "content-length": "0"}  # (as httpx frames it)


def test_pass_t3_f1_the_middleware_in_process_reads_the_key_as_a_server_does():
    """Pass T3, F1 on the middleware: in process (httpx's ASGI transport, the plugin's and `testing`'s way) no HTTP
    server trims the value; an app that replays `k-1 ` as `k-1` (as it would behind any server) is right."""
    import httpx
    from starlette.applications import Starlette
    from starlette.responses import Response
    from starlette.routing import Route

    from migma_contract.asgi import ContractMiddleware
    from migma_contract.wire.asgi_transport import SyncASGITransport

    async def send(request):
        key = request.headers.get("idempotency-key", "").strip(" \t")
        return Response(_answer(f"msg_{key}"), media_type="application/json")

    middleware = ContractMiddleware(Starlette(routes=[Route("/v1/sending", send, methods=["POST"])]))
    with httpx.Client(transport=SyncASGITransport(middleware), base_url="http://app") as client:
        for key in ("k-1", "k-1 "):
            headers = {"Authorization": "Bearer mc_test_full_access", "Idempotency-Key": key}
            assert client.post("/v1/sending", json=VALID, headers=headers).status_code == 200
    result = middleware.result()
    assert not result.findings, result.findings


# --- F2: a head a server's HTTP layer refuses leaves its refusal unjudged --------------------------------------------

REFUSABLE = {
    "space before the colon": [("X-Trace ", "1")],
    "space in a name": [("X Trace", "1")],
    "( in a name": [("X-Trace(1)", "1")],
    "@ in a name": [("X@Trace", "1")],
    "Idempotency-Key with a space before its colon": [("Idempotency-Key ", "k")],
    "NUL in a value": [("X-Trace", "a\x00b")],
    "DEL in a value": [("X-Trace", "a\x7fb")],
    "SOH in a value": [("X-Trace", "a\x01b")],
    "CR LF in a value": [("X-Trace", "a\r\n b")],
    "Transfer-Encoding beside Content-Length": [("Transfer-Encoding", "chunked"), ("Content-Length", "179")],
    "Transfer-Encoding gzip": [("Transfer-Encoding", "gzip")],
    "chunked not last": [("Transfer-Encoding", "chunked, gzip")],
    "chunked twice": [("Transfer-Encoding", "chunked"), ("Transfer-Encoding", "chunked")],
    "Content-Length with a sign": [("Content-Length", "+179")],
    "Content-Length twice": [("Content-Length", "179"), ("Content-Length", "179")],
    "Content-Length listed": [("Content-Length", "179, 179")],
    "Content-Length empty": [("Content-Length", "")],
    "Content-Length past any count": [("Content-Length", "9" * 25)],
    "Host twice": [("Host", "api.example"), ("Host", "api.example")],
    "Host with a space": [("Host", "api example")],
    "Host with userinfo": [("Host", "user@api.example")],
}
UVICORN_400 = "Invalid HTTP request received."


def _observed(extra, status, answer, media="text/plain; charset=utf-8"):
    headers = [("Authorization", "Bearer mc_test_full_access"), ("Content-Type", "application/json"), *extra]
    return ObservedExchange("POST", URL, headers, json.dumps(VALID).encode(), status, [("Content-Type", media)],
                            answer.encode(), elapsed=0.01, where="test exchange")


def _judged(extra, status=400, answer=UVICORN_400, media="text/plain; charset=utf-8"):
    judge = TrafficJudge(contract_for(), "documented", kind="recording", label="test")
    verdict = judge.observe(_observed(extra, status, answer, media))
    return judge.result(), verdict


@pytest.mark.parametrize("name", REFUSABLE)
def test_pass_t3_f2_a_head_a_server_must_or_may_refuse_answered_400_is_no_server_finding(name):
    """Pass T3, F2: requests sends a name with a space before its colon, a value with NUL, DEL or another control,
    Transfer-Encoding beside its own Content-Length, `Transfer-Encoding: gzip`; uvicorn's HTTP layer answered 400
    text/plain before any app (RFC 9112 §5.1, §6.1, §6.3; RFC 9110 §5.5, §8.6, RFC 9112 §3.2 for Host), and `judge`
    blamed the server on content-type-json. Its status and body rules are left unjudged (judged in part, exit 3)."""
    result, verdict = _judged(REFUSABLE[name])
    assert not verdict.breaches and not result.findings, result.findings
    assert (result.exit_code, result.traffic.partly_judged) == (3, 1)
    assert any("HTTP layer" in note for note in result.traffic.notes), result.traffic.notes


@pytest.mark.parametrize("name", REFUSABLE)
def test_pass_t3_f2_the_same_head_answered_by_the_app_is_judged_in_full(name):
    """The head refused by none (the app answered 200): judged as ever."""
    result, verdict = _judged(REFUSABLE[name], 200, _answer("msg_1"), "application/json")
    assert SERVER in {j.party for j in verdict.judgements} and not result.findings
    assert not result.traffic.partly_judged


@pytest.mark.parametrize("extra", [[], [("X-Trace", "a\tb ü")], [("Host", "api.example:8443")], [("Host", "[::1]:80")],
                                   [("Transfer-Encoding", " Chunked ")], [("Content-Length", "0179")],
                                   [(":authority", "api.example"), (":method", "POST")]],
                         ids=["plain", "HTAB and obs-text", "host:port", "IP literal", "chunked", "zeros", "HTTP/2"])
def test_pass_t3_f2_a_refusal_of_a_head_servers_read_stays_the_servers(extra):
    """What RFC 9112/9110 let no server refuse (HTAB and non-ASCII in a value, a Host with a port, `chunked` in any
    case, an HTTP/2 recording's pseudo-headers) is the API's answer: a 400 text/plain breaks content-type-json."""
    assert fields.request_head_refusable(joined(extra).items()) is None
    result, _ = _judged(extra)
    assert "content-type-json" in _server_findings(result), result.findings


def test_pass_t3_f2_a_501_to_a_transfer_coding_is_the_http_layers_and_to_anything_else_the_servers():
    """RFC 9112 §6.1: a server SHOULD answer 501 to a transfer coding it does not know (h11 does); no-server-error is
    not judged on it. A 501 to an ordinary head, or to a head refused for another reason, stays the server's break."""
    result, _ = _judged([("Transfer-Encoding", "gzip")], 501)
    assert not result.findings and result.traffic.partly_judged == 1
    for extra in ([], [("X-Trace ", "1")]):
        result, _ = _judged(extra, 501)
        assert "no-server-error" in _server_findings(result)


def test_pass_t3_f2_a_recorded_cassette_of_a_name_with_a_space_before_its_colon(tmp_path):
    """Pass T3, F2 as recorded (f5_name_ws.py): a requests + vcrpy cassette whose `X-Trace ` header uvicorn refused."""
    path = _cassette(tmp_path, _requests_item(extra=[("X-Trace ", "1")], answer=UVICORN_400, status=400,
                                              media="text/plain; charset=utf-8"))
    result = judge_cli(path, "--report-dir", tmp_path / "r")
    assert result.exit_code == 3 and "broken by the server" not in result.output, result.output


@pytest.mark.parametrize("extra", [{"X Trace": "1"}, {"X-Trace": "a\x01b"}, {"Host": "a b"}], ids=["name", "value", "host"])
def test_pass_t3_f2_the_middleware_reads_a_refusable_head_as_judge_does(extra):
    """Pass T3, F2 on the other ways in: the middleware (in process, where no HTTP layer refused the head first) and the
    proxy judge through the same reading (`core.fields.request_head_refusable`): the 400 text/plain is left unjudged; to
    an ordinary head it is the app's break."""
    import httpx
    from starlette.applications import Starlette
    from starlette.responses import Response
    from starlette.routing import Route

    from migma_contract.asgi import ContractMiddleware
    from migma_contract.wire.asgi_transport import SyncASGITransport

    async def refuse(request):
        return Response(UVICORN_400, status_code=400, media_type="text/plain")

    for headers, blamed in ((extra, False), ({}, True)):
        middleware = ContractMiddleware(Starlette(routes=[Route("/v1/sending", refuse, methods=["POST"])]))
        with httpx.Client(transport=SyncASGITransport(middleware), base_url="http://app") as client:
            sent = {"Authorization": "Bearer mc_test_full_access", **headers}
            assert client.post("/v1/sending", json=VALID, headers=sent).status_code == 400
        assert ("content-type-json" in _server_findings(middleware.result())) is blamed


# --- F4: no unreachable statement --------------------------------------------------------------------------------


def _unreachable(tree):
    for node in ast.walk(tree):
        for field in ("body", "orelse", "finalbody", "handlers"):
            block = getattr(node, field, None)
            if not isinstance(block, list):
                continue
            for before, after in pairwise(block):
                if isinstance(before, (ast.Return, ast.Raise, ast.Continue, ast.Break)):
                    yield after.lineno


def test_pass_t3_f4_no_statement_follows_a_return_raise_continue_or_break():
    """Pass T3, F4: `Twins.seen` held a second copy of its bookkeeping after `return found` (storing a tuple where the
    live code stores a list): dead now, a crash of every twin exchange once the first `return` is edited away."""
    root = Path(migma_contract.__file__).parent
    found = [f"{path.relative_to(root)}:{line}" for path in sorted(root.rglob("*.py"))
             for line in _unreachable(ast.parse(path.read_text(encoding="utf-8")))]
    assert not found, found


# --- F5: a vcrpy iterator body ---------------------------------------------------------------------------------------


def _iterated(data, state="0"):
    encoded = base64.b64encode(data).decode()
    return ["!!python/object/apply:builtins.iter", "  args:", "  - - !!binary |", f"      {encoded}", f"  state: {state}"]


def test_pass_t3_f5_a_generator_body_is_read_as_vcrpy_plays_it(tmp_path):
    """Pass T3, F5: `requests.post(data=(chunk for ...))` recorded by vcrpy is `!!python/object/apply:builtins.iter` of
    its chunks; `judge` said the interaction "cannot be read" (exit 3 at best). vcrpy plays (and sent) the chunks
    joined: the body is judged, a client's break in it too."""
    accepted = _result(tmp_path, _requests_item(body=_iterated(json.dumps(VALID).encode()),
                                                extra=[("Transfer-Encoding", "chunked")]))
    assert (accepted.exit_code, accepted.traffic.partly_judged) == (0, 0), accepted.traffic.notes
    wrong = dict(VALID, recipientEmail="nope")
    broken = _result(tmp_path, _requests_item(body=_iterated(json.dumps(wrong).encode()),
                                              extra=[("Transfer-Encoding", "chunked")]))
    assert ("email-format", "client") in {(f.rule, f.broken_by) for f in broken.findings}


def test_pass_t3_f5_an_iterator_body_that_is_no_list_of_chunks_is_not_recorded_and_the_answer_still_judged(tmp_path):
    """A list iterator part-way through (what vcrpy plays is not what it sent) is a body not recorded: the request rules
    are not judged, the answer is (a 200 without data.id is the server's break)."""
    item = _requests_item(body=_iterated(json.dumps(VALID).encode(), state="1"), answer='{"success": true, "data": {}}')
    result = _result(tmp_path, item)
    assert "result-has-id" in _server_findings(result), result.findings
    assert not any(f.broken_by == "client" for f in result.findings)


def test_pass_t3_f5_a_tag_inside_an_iterator_body_is_never_run(tmp_path):
    """Only the chunks are read, by the one safe loader: any other Python tag inside is an unreadable item, never run."""
    marker = tmp_path / "ran"
    body = ["!!python/object/apply:builtins.iter", "  args:",
            f"  - - !!python/object/apply:os.system [{json.dumps('touch ' + str(marker))}]"]
    path = _cassette(tmp_path, _requests_item(body=body), _requests_item())
    result = judge_cli(path, "--report-dir", tmp_path / "r")
    assert not marker.exists()
    assert result.exit_code == 3 and "cannot be read" in result.output, result.output
