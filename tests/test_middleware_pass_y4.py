"""ContractMiddleware, pass Y4: a send whose read-ahead `receive` raises is handed to the app and counted, never dropped
(F1); an exception out of an outer `send` that is not its server's leaves the answer judged in part, never blamed (F2);
under a server offering a file send the app runs on the server's own scope (F3)."""

import asyncio
import json

import anyio
import pytest
from starlette.applications import Starlette
from starlette.middleware.body_limit import RequestBodyLimitMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from migma_contract.asgi import ContractMiddleware

from .faulty_servers import FULL_KEY
from .test_asgi_middleware import served

VALID = {"recipientType": "email", "recipientEmail": "ann@example.com", "from": "news@example.com", "fromName": "News",
         "subject": "Hello", "emailId": "email_welcome"}
RAW_VALID = json.dumps(VALID).encode()
BIG_VALID = json.dumps({**VALID, "subject": "S" * 3000}).encode()  # a valid send of about 3 KB (far under 1 MiB)
AUTH = {"Authorization": f"Bearer {FULL_KEY}"}
ACCEPTED = {"success": True, "data": {"id": "msg_1", "status": "queued", "provider": "migma"}, "error": None}


def _scope(body_length=None, extensions=None, expect=False):
    headers = [(b"host", b"app"), (b"authorization", AUTH["Authorization"].encode()), (b"content-type", b"application/json")]
    if body_length is not None:
        headers.append((b"content-length", str(body_length).encode()))
    if expect:
        headers.append((b"expect", b"100-continue"))
    scope = {"type": "http", "asgi": {"version": "3.0", "spec_version": "2.4"}, "http_version": "1.1", "method": "POST",
             "scheme": "http", "path": "/v1/sending", "raw_path": b"/v1/sending", "root_path": "", "query_string": b"",
             "headers": headers, "server": ("127.0.0.1", 80), "client": ("127.0.0.1", 5)}
    if extensions is not None:
        scope["extensions"] = extensions
    return scope


def _client(*messages):
    queue = [{"type": "http.request", "body": body, "more_body": more} for body, more in messages]

    async def receive():
        return queue.pop(0) if queue else {"type": "http.disconnect"}
    return receive


class _Server:
    """A server's `send`: keeps what it took."""

    def __init__(self):
        self.taken = []

    async def __call__(self, message):
        self.taken.append(message)

    @property
    def status(self):
        return next((m["status"] for m in self.taken if m["type"] == "http.response.start"), None)


async def _accept(request):
    await request.body()
    return JSONResponse(ACCEPTED)


def _starlette():
    return Starlette(routes=[Route("/v1/sending", _accept, methods=["POST"])])


# -- F1: a raise from `receive` while the body is read ahead -----------------------------------------------------------


def test_pass_y4_f1_a_body_limit_raising_in_the_read_ahead_reaches_the_app_and_the_send_is_counted():
    """Pass Y4, F1: Starlette's RequestBodyLimitMiddleware outside the middleware raises from `receive` once a chunked
    body passes its limit; the read-ahead ran into it, the send vanished uncounted and a run was green while the client
    read a 413. The app now gets the raise at its first read (its own exception handling answers 413, as without the
    middleware), and the send is counted: its body's size not known (no Content-Length, its end never read), its 413
    may be a front end's: judged in part, never green."""
    middleware = ContractMiddleware(_starlette())
    app = RequestBodyLimitMiddleware(middleware, max_body_size=2048)
    server = _Server()
    halves = (BIG_VALID[:1500], True), (BIG_VALID[1500:], False)  # (chunked: no Content-Length, so read until past it)
    anyio.run(app, _scope(), _client(*halves), server)
    assert server.status == 413  # the premise: the client reads a 413
    result = middleware.result()
    assert result.traffic.exchanges == 1 and result.traffic.partly_judged == 1 and result.exit_code == 3, result.headline
    assert any("`receive` raised _RequestBodyTooLarge while its body was read ahead" in n for n in result.traffic.notes)


def test_pass_y4_f1_an_apps_413_to_a_small_send_whose_read_ahead_raised_is_judged():
    """Pass Y4, F1: `receive` raising a 413 HTTPException (a limit outside the app) on a valid 3 KB send with its
    Content-Length: the app's exception handling answers the 413 (text/plain) itself, as without the middleware, and
    that answer is judged as the docs say (a 413 to a body under 1 MiB stays judged): never green."""
    from starlette.exceptions import HTTPException

    async def receive():
        raise HTTPException(413, "Content Too Large")

    middleware = ContractMiddleware(_starlette())
    server = _Server()
    anyio.run(middleware, _scope(len(BIG_VALID)), receive, server)
    assert server.status == 413  # the premise: the app answered it
    result = middleware.result()
    assert result.traffic.exchanges == 1 and result.exit_code == 1, result.headline
    assert [(f.rule, f.broken_by) for f in result.findings] == [("status-documented", "server")]  # its 413, judged


def test_pass_y4_f1_the_app_gets_the_bytes_read_then_the_very_exception_receive_raised():
    """Pass Y4, F1, transparency: what `receive` gave before it raised is replayed, then its own exception object is
    raised from the app's next `receive`; out of the app, it is not the app's failure (whoever raised it in `receive`
    answers it): no-server-error is judged in part, never blamed; the send is counted, never green."""
    class Refused(Exception):
        pass

    refusal = Refused("too large")
    given = [{"type": "http.request", "body": b'{"recipientType": ', "more_body": True}]

    async def receive():
        if given:
            return given.pop(0)
        raise refusal

    seen = []

    async def app(scope, receive, send):
        seen.append(await receive())
        try:
            await receive()
        except Refused as exc:
            seen.append(exc)
            raise

    middleware = ContractMiddleware(app)
    with pytest.raises(Refused) as raised:
        anyio.run(middleware, _scope(), receive, _Server())
    assert raised.value is refusal
    assert seen[0]["body"] == b'{"recipientType": ' and seen[0]["more_body"] is True and seen[1] is refusal
    result = middleware.result()
    assert result.findings == [] and result.traffic.exchanges == 1 and result.exit_code == 3, result.headline
    assert result.rule("no-server-error").failed == 0 and result.traffic.partly_judged == 1


def test_pass_y4_f1_a_send_passed_unjudged_for_its_framing_gets_receives_raise_too():
    """Pass Y4, F1: a send whose framing the server may not have handed on as the client framed it (an Upgrade) passes
    to the app unjudged; what `receive` raised in the read-ahead reaches its first read there too, never lost."""
    class Refused(Exception):
        pass

    refusal = Refused("too large")
    raised = []

    async def receive():  # (raises once: what comes after is the client's leaving)
        if not raised:
            raised.append(refusal)
            raise refusal
        return {"type": "http.disconnect"}

    seen = []

    async def app(scope, receive, send):
        try:
            seen.append(await receive())
        except Refused as exc:
            seen.append(exc)

    scope = _scope(len(RAW_VALID))
    scope["headers"] += [(b"connection", b"upgrade"), (b"upgrade", b"h2c")]
    middleware = ContractMiddleware(app)
    anyio.run(middleware, scope, receive, _Server())
    assert seen == [refusal]
    result = middleware.result()
    assert result.traffic.exchanges == 1 and result.traffic.unjudged == 1 and result.exit_code == 3, result.headline


def test_pass_y4_f1_receives_raise_out_of_an_apps_task_group_is_not_the_apps_failure():
    """Pass Y4, F1: the raise handed to the app comes out of it wrapped in an ExceptionGroup (the app reads its body in a
    task group; FastAPI's body limit unwraps such a group and answers 413): not the app's own failure either."""
    class Refused(Exception):
        pass

    async def receive():
        raise Refused("too large")

    async def app(scope, receive, send):
        async with anyio.create_task_group() as group:
            group.start_soon(receive)

    middleware = ContractMiddleware(app)
    with pytest.raises(BaseExceptionGroup):
        anyio.run(middleware, _scope(len(RAW_VALID)), receive, _Server())
    result = middleware.result()
    assert result.findings == [] and result.exit_code == 3 and result.traffic.partly_judged == 1, result.headline


def test_pass_y4_f1_a_cancellation_during_the_read_ahead_is_counted_never_dropped():
    """Pass Y4, F1, its neighbour: an outer timeout cancelling the send while its slow body is read ahead (the app
    never ran) dropped it uncounted: a run with another judged send was green. Counted now, passed unjudged, noted."""
    middleware = ContractMiddleware(_starlette())

    async def main():
        await middleware(_scope(len(RAW_VALID)), _client((RAW_VALID, False)), _Server())
        waiting = asyncio.Event()

        async def slow():
            waiting.set()
            await asyncio.Event().wait()  # (the client's next bytes never come)

        task = asyncio.ensure_future(middleware(_scope(), slow, _Server()))
        await waiting.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    result = middleware.result()
    assert result.traffic.exchanges == 2 and result.traffic.unjudged == 1 and result.exit_code == 3, result.headline
    assert result.findings == []
    assert any("cancelled" in note and "while its body was read ahead" in note for note in result.traffic.notes)


@pytest.mark.e2e
def test_pass_y4_f1_fastapi_max_body_size_413_to_a_valid_send_is_never_green():
    """Pass Y4, F1, end to end (uvicorn): FastAPI(max_body_size=2048) answers a valid 3 KB send 413; the middleware
    dropped the send and the run was green (exit 0). It is counted now, and the run is not green."""
    fastapi = pytest.importorskip("fastapi")

    app = fastapi.FastAPI(max_body_size=2048)

    @app.post("/v1/sending")
    async def send(request: fastapi.Request):
        await request.body()
        return JSONResponse(ACCEPTED)

    app.add_middleware(ContractMiddleware)
    with served(app) as client:
        small = client.post("/v1/sending", content=RAW_VALID, headers={**AUTH, "Content-Type": "application/json"})
        big = client.post("/v1/sending", content=BIG_VALID, headers={**AUTH, "Content-Type": "application/json"})
    assert (small.status_code, big.status_code) == (200, 413)  # the premise
    result = ContractMiddleware.of(app).result()
    assert result.traffic.exchanges == 2 and result.exit_code != 0, result.headline
    assert result.rule("no-server-error").failed == 0


# -- F2: an exception out of an outer `send` that is not the server's -------------------------------------------------


def test_pass_y4_f2_the_body_limits_own_413_after_the_apps_head_is_never_blamed_on_the_app():
    """Pass Y4, F2: under `Expect: 100-continue` (never read ahead) the app refuses from the head; Starlette's body limit,
    outside, sees a Content-Length past its limit at the app's start, sends its own 413, then raises
    `_RequestBodyLimitResponseSent` out of `send`. That was read as the server refusing the app's answer (no-server-error
    blamed). It does not show what went out: no-server-error and the status are judged in part."""
    async def refuse(request: Request):
        return JSONResponse({"success": False, "error": "Invalid API key"}, status_code=401)

    middleware = ContractMiddleware(Starlette(routes=[Route("/v1/sending", refuse, methods=["POST"])]))
    app = RequestBodyLimitMiddleware(middleware, max_body_size=2048)
    server = _Server()
    anyio.run(app, _scope(len(BIG_VALID), expect=True), _client((BIG_VALID, False)), server)
    assert server.status == 413  # the premise: the client reads the limit's 413, not the app's 401
    result = middleware.result()
    assert result.findings == [] and result.exit_code == 3 and result.traffic.partly_judged == 1, result.headline
    assert any("_RequestBodyLimitResponseSent came out of `send`" in note for note in result.traffic.notes)


def test_pass_y4_f2_any_middleware_answering_then_raising_out_of_send_is_not_the_servers_refusal():
    """Pass Y4, F2, the class: a middleware outside answers itself and raises its own exception out of `send`: not the
    server's refusal, never blamed; a server's own refusal (a built-in RuntimeError, as uvicorn's) still is."""
    class Answered(Exception):
        pass

    async def app(scope, receive, send):
        await receive()
        body = json.dumps(ACCEPTED).encode()
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]})
        await send({"type": "http.response.body", "body": body})

    import types

    def raising(exc):
        raise exc

    # (raised in a server's own code: since Pass Z4, F1, where it was raised tells a server's refusal, not its type)
    in_uvicorn = types.FunctionType(raising.__code__, {"__name__": "uvicorn.protocols.http.h11_impl"}, "raising")

    def outer(inner, exc, server_raises=False):
        async def wrapped(scope, receive, send):
            async def answering(message):
                if message["type"] == "http.response.start":
                    await send({"type": "http.response.start", "status": 503, "headers": []})
                    await send({"type": "http.response.body", "body": b""})
                    if server_raises:
                        in_uvicorn(exc)
                    raise exc
                await send(message)
            try:
                await inner(scope, receive, answering)
            except type(exc):
                pass
        return wrapped

    middleware = ContractMiddleware(app)
    anyio.run(outer(middleware, Answered()), _scope(len(RAW_VALID)), _client((RAW_VALID, False)), _Server())
    result = middleware.result()
    assert result.findings == [] and result.exit_code == 3 and result.traffic.partly_judged == 1, result.headline

    for server_raises in (False, True):  # a built-in RuntimeError: the middleware's own (Pass Z4, F1), or a server's
        refusing = ContractMiddleware(app)
        anyio.run(outer(refusing, RuntimeError("Response content shorter than Content-Length"), server_raises),
                  _scope(len(RAW_VALID)), _client((RAW_VALID, False)), _Server())
        result = refusing.result()
        if server_raises:
            assert [(f.rule, f.broken_by) for f in result.findings] == [("no-server-error", "server")], result.headline
        else:
            assert result.findings == [] and result.exit_code == 3 and result.traffic.partly_judged == 1, result.headline


@pytest.mark.e2e
def test_pass_y4_f2_fastapi_max_body_size_refusing_from_the_head_under_expect_is_not_blamed():
    """Pass Y4, F2, end to end (uvicorn): an app refusing a send with no key from its head (401) under
    `Expect: 100-continue`, FastAPI(max_body_size=2048) answering 413 in its place: no-server-error was blamed
    ("the server could not send the app's answer"); only the client's missing key is its finding now."""
    fastapi = pytest.importorskip("fastapi")

    app = fastapi.FastAPI(max_body_size=2048)

    @app.post("/v1/sending")
    async def send(request: fastapi.Request):
        if "authorization" not in request.headers:
            return JSONResponse({"success": False, "error": "Missing API key"}, status_code=401)
        await request.body()
        return JSONResponse(ACCEPTED)

    app.add_middleware(ContractMiddleware)
    with served(app) as client:
        answer = client.post("/v1/sending", content=BIG_VALID,
                             headers={"Content-Type": "application/json", "Expect": "100-continue"})
    assert answer.status_code == 413  # the premise
    result = ContractMiddleware.of(app).result()
    assert "no-server-error" not in [f.rule for f in result.findings], result.headline
    assert result.rule("no-server-error").failed == 0


# -- F3: the server's own scope under a file send ---------------------------------------------------------------------


def _route_logging():
    """A FastAPI-like stack: a route-logging `BaseHTTPMiddleware` (FastAPI's `@app.middleware("http")`) outside
    ContractMiddleware, and a pure ASGI middleware outside both recording the status into the scope in its send wrapper."""
    from starlette.middleware.base import BaseHTTPMiddleware

    async def route_logger(request, call_next):
        response = await call_next(request)  # (returns at the app's start, before the app returns)
        response.headers["x-route"] = getattr(request.scope.get("route"), "path", "NONE")
        return response

    app = Starlette(routes=[Route("/v1/sending", _accept, methods=["POST"])])
    app.add_middleware(ContractMiddleware)
    app.add_middleware(BaseHTTPMiddleware, dispatch=route_logger)

    async def outer(scope, receive, send):
        async def recording(message):
            if message["type"] == "http.response.start":
                scope["x_status"] = message["status"]
            await send(message)
        await app(scope, receive, recording)
        scope["seen_after"] = scope.get("x_status", "LOST")

    return app, outer


@pytest.mark.parametrize("extension", ["http.response.pathsend", "http.response.zerocopysend"])
def test_pass_y4_f3_under_a_file_send_the_app_runs_on_the_servers_own_scope(extension):
    """Pass Y4, F3: under a server offering a file send the app ran on a copy of the scope: a middleware outside reading
    the router's `route` while the app ran saw none ('NONE'), and one writing the scope in its send wrapper lost its
    write ('LOST'). The app runs on the server's scope now, the file sends hidden from its `extensions` while it runs
    and put back after."""
    app, outer = _route_logging()
    extensions = {extension: {}, "http.response.trailers": {}}
    scope = _scope(len(RAW_VALID), extensions=extensions)
    server = _Server()
    anyio.run(outer, scope, _client((RAW_VALID, False)), server)
    start = next(m for m in server.taken if m["type"] == "http.response.start")
    assert (dict(start["headers"]).get(b"x-route"), scope["seen_after"]) == (b"/v1/sending", 200)
    assert scope["extensions"] is extensions and set(extensions) == {extension, "http.response.trailers"}
    assert "http.response.pathsend" not in [m["type"] for m in server.taken]  # the app sent its body as messages
    result = ContractMiddleware.of(app).result()
    assert result.findings == [] and result.traffic.judged == 1 and result.exit_code == 0, result.headline


def test_pass_y4_f3_a_file_send_the_middleware_cannot_read_is_passed_unjudged_never_blamed(tmp_path):
    """Pass Y4, F3: an app sending `http.response.pathsend` all the same (it kept the extensions from before the
    middleware hid them) answers with a file whose bytes never pass here: it was 'ended without a complete response'
    (no-server-error blamed). Passed unjudged now, noted; what is sent goes to the server as given."""
    target = tmp_path / "answer.json"
    target.write_text(json.dumps(ACCEPTED))

    async def app(scope, receive, send):
        await receive()
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.pathsend", "path": str(target)})

    middleware = ContractMiddleware(app)
    server = _Server()
    anyio.run(middleware, _scope(len(RAW_VALID), extensions={"http.response.pathsend": {}}), _client((RAW_VALID, False)),
              server)
    assert [m["type"] for m in server.taken] == ["http.response.start", "http.response.pathsend"]
    result = middleware.result()
    assert result.findings == [] and result.traffic.unjudged == 1 and result.exit_code == 3, result.headline
