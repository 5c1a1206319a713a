"""ContractMiddleware, pass X3: sends still in flight are counted (F1), an exception a handler outside it answers is
never blamed (F2), and the app's writes into its copy of the scope reach the server's (F3)."""

import contextlib
import json

import anyio
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from migma_contract.asgi import ContractMiddleware

from .faulty_servers import FULL_KEY

VALID = {"recipientType": "email", "recipientEmail": "ann@example.com", "from": "news@example.com", "fromName": "News",
         "subject": "Hello", "emailId": "email_welcome"}
RAW_VALID = json.dumps(VALID).encode()
ACCEPTED = json.dumps({"success": True, "data": {"id": "msg_1", "status": "queued"}}).encode()


def _scope(extensions=None):
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": "/v1/sending", "raw_path": b"/v1/sending", "root_path": "", "query_string": b"",
             "headers": [(b"host", b"app"), (b"authorization", f"Bearer {FULL_KEY}".encode()),
                         (b"content-type", b"application/json"), (b"content-length", str(len(RAW_VALID)).encode())],
             "server": ("127.0.0.1", 80), "client": ("127.0.0.1", 5)}
    if extensions is not None:
        scope["extensions"] = extensions
    return scope


def _client():
    """A receive giving the valid send's body, then the client's leaving (as a server says once it has)."""
    messages = [{"type": "http.request", "body": RAW_VALID, "more_body": False}]

    async def receive():
        return messages.pop(0) if messages else {"type": "http.disconnect"}
    return receive


# -- F3: the app's writes into its copy of the scope ------------------------------------------------------------------


async def _endpoint(request):
    await request.body()
    return JSONResponse({"success": False, "error": "bad"}, status_code=400)


@pytest.mark.parametrize("raises", [False, True], ids=["returns", "raises"])
@pytest.mark.parametrize("extension", ["http.response.pathsend", "http.response.zerocopysend"])
def test_pass_x3_f3_what_the_router_writes_into_the_scope_reaches_the_middleware_outside(extension, raises):
    """Pass X3, F3: under a server offering a file send, the app ran on a copy of the scope: the route, endpoint and
    path parameters Starlette's Router writes were lost to every middleware outside ContractMiddleware. They are put
    back once the app returns or raises; the server's extensions stay its own."""
    async def endpoint(request):
        await request.body()
        if raises:
            raise RuntimeError("boom")
        return JSONResponse({"success": False, "error": "bad"}, status_code=400)

    app = Starlette(routes=[Route("/v1/sending", endpoint, methods=["POST"])])
    app.add_middleware(ContractMiddleware)
    extensions = {extension: {}, "http.response.trailers": {}}
    scope = _scope(extensions)
    seen = {}

    async def outer():
        async def sink(message):
            pass
        with contextlib.suppress(RuntimeError):
            await app(scope, _client(), sink)
        seen.update(route=getattr(scope.get("route"), "path", None), endpoint=getattr(scope.get("endpoint"), "__name__", None))

    anyio.run(outer)
    assert seen == {"route": "/v1/sending", "endpoint": "endpoint"}
    assert scope["extensions"] is extensions and extension in extensions  # the server's own, untouched
    assert scope["path_params"] == {}


# -- F2: an exception a handler outside the middleware answers --------------------------------------------------------


async def _raising(request: Request):
    await request.body()
    raise PermissionError("this key may not send from this domain")


async def _envelope(request, exc):
    return JSONResponse({"success": False, "error": str(exc)}, status_code=403)


def _served(app):
    """One send through `app` (a Starlette app with ContractMiddleware added) in process; (the status read, the result)."""
    import httpx

    async def main():
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            return await client.post("/v1/sending", content=RAW_VALID,
                                     headers={"authorization": f"Bearer {FULL_KEY}", "content-type": "application/json"})
    response = anyio.run(main)
    return response.status_code, ContractMiddleware.of(app).result()


@pytest.mark.parametrize("key", [Exception, 500], ids=["Exception", "500"])
def test_pass_x3_f2_an_exception_handler_outside_answers_so_no_server_error_is_judged_in_part(key):
    """Pass X3, F2: `add_middleware` puts ContractMiddleware inside Starlette's ServerErrorMiddleware, where an
    `exception_handlers` entry for Exception or 500 answers what the app raises: the client read the handler's answer
    (a documented 403 here), the middleware blamed the app for no complete response. No-server-error is left judged in
    part, never blamed, never passed."""
    app = Starlette(routes=[Route("/v1/sending", _raising, methods=["POST"])], exception_handlers={key: _envelope})
    app.add_middleware(ContractMiddleware)
    status, result = _served(app)
    assert status == 403
    assert result.findings == []
    assert result.rule("no-server-error").failed == 0
    assert result.exit_code == 3 and result.traffic.partly_judged == 1


def test_pass_x3_f2_an_unknown_middleware_outside_may_answer_so_it_is_never_blamed():
    """Pass X3, F2: a middleware outside ContractMiddleware that is not one of Starlette's own may answer what the app
    raises: the middleware cannot know what the client read, so no-server-error is judged in part."""
    class Answering:
        def __init__(self, app):
            self.app = app

        async def __call__(self, scope, receive, send):
            try:
                await self.app(scope, receive, send)
            except PermissionError:
                await JSONResponse({"success": False, "error": "no"}, status_code=403)(scope, receive, send)

    app = Starlette(routes=[Route("/v1/sending", _raising, methods=["POST"])])
    app.add_middleware(ContractMiddleware)
    app.add_middleware(Answering)  # (added last: outside ContractMiddleware)
    status, result = _served(app)
    assert status == 403
    assert result.findings == [] and result.exit_code == 3


def test_pass_x3_f2_without_a_handler_starlette_answers_500_and_the_app_is_still_blamed():
    """Pass X3, F2 (held): with no Exception or 500 handler and only Starlette's own middleware outside, Starlette's
    ServerErrorMiddleware answers 500: the app's raise is still its no-server-error."""
    from starlette.middleware.cors import CORSMiddleware

    app = Starlette(routes=[Route("/v1/sending", _raising, methods=["POST"])],
                    exception_handlers={404: _envelope})
    app.add_middleware(ContractMiddleware)
    app.add_middleware(CORSMiddleware, allow_origins=["https://example.com"])
    status, result = _served(app)
    assert status == 500
    assert [(f.rule, f.broken_by) for f in result.findings] == [("no-server-error", "server")]


# -- F1: sends still in flight ----------------------------------------------------------------------------------------


async def _read(receive):
    while (await receive()).get("more_body"):
        pass


def _held(answer_first, **options):
    """A middleware around an app that reads the send, does `answer_first(send)`, then waits to be released before it
    ends its answer (its last body message, a whole JSON 200 if it sent nothing). Returns (middleware, run) where
    `run(while_held)` serves one send and calls `while_held()` (on the event loop) once the app waits, then releases it."""
    reached, released = anyio.Event(), None

    async def app(scope, receive, send):
        if scope["type"] == "lifespan":  # (it speaks lifespan: its startup answered, its shutdown awaited)
            assert (await receive())["type"] == "lifespan.startup"
            await send({"type": "lifespan.startup.complete"})
            await receive()
            return
        await _read(receive)
        started = await answer_first(send)
        reached.set()
        await released.wait()
        if not started:
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(ACCEPTED)).encode())]})
            await send({"type": "http.response.body", "body": ACCEPTED})
        else:
            await send({"type": "http.response.body", "body": b"", "more_body": False})

    middleware = ContractMiddleware(app, **options)

    def run(while_held):
        async def main():
            nonlocal reached, released
            reached, released = anyio.Event(), anyio.Event()
            seen = {}

            async def sink(message):
                pass

            async with anyio.create_task_group() as tasks:
                tasks.start_soon(middleware, _scope(), _client(), sink)
                await reached.wait()
                seen.update(while_held())
                released.set()
            return seen
        return anyio.run(main)
    return middleware, run


async def _nothing(send):
    return False


async def _whole_500(send):
    body = b'{"success": false, "error": "internal"}'
    await send({"type": "http.response.start", "status": 500,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body, "more_body": True})
    return True


def test_pass_x3_f1_a_send_in_flight_within_the_timeout_leaves_no_green_verdict(tmp_path):
    """Pass X3, F1: an exchange reached the judge only when the app returned: a send the app never answered was in no
    result and no report (green, "0 without an answer"). In flight, it is counted and noted, and no verdict is green;
    once the app answers, it is judged as usual, counted once."""
    middleware, run = _held(_nothing, timeout=10.0)
    seen = run(lambda: {"result": middleware.result(), "written": middleware.write_report(tmp_path)})
    held = seen["result"]
    assert held.verdict == "incomplete" and held.exit_code == 3
    assert held.traffic.exchanges == 1 and held.traffic.unjudged == 1 and held.traffic.judged == 0
    assert any("1 send(s) still in flight" in note for note in held.traffic.notes)
    assert json.loads((tmp_path / "conformance.json").read_text())["exit_code"] == 3  # the report written then: not green
    after = middleware.result()
    assert after.verdict == "passed" and after.traffic.exchanges == 1 and after.traffic.judged == 1
    assert after.traffic.unjudged == 0


def test_pass_x3_f1_a_send_in_flight_past_the_timeout_is_a_responds_in_time_breach_counted_once(fake_time):
    """Pass X3, F1: a send the app has not answered after more than `timeout` of its own time breaks responds-in-time
    when the run is read, as the proxy's deadline blames its upstream; its late answer is not judged again."""
    middleware, run = _held(_nothing, timeout=1.0)

    def late():
        fake_time.now += 5
        return {"result": middleware.result()}
    held = run(late)["result"]
    assert held.exit_code == 1
    assert [(f.rule, f.broken_by) for f in held.findings] == [("responds-in-time", "server")]
    assert held.traffic.unanswered == 1 and held.traffic.unjudged == 0
    after = middleware.result()
    assert after.traffic.exchanges == 1 and after.traffic.judged == 1
    assert [(f.rule, f.broken_by) for f in after.findings] == [("responds-in-time", "server")]


def test_pass_x3_f1_an_answer_whole_by_its_length_is_judged_on_what_went_out_while_the_app_hangs(fake_time):
    """Pass X3, F1: a 500 the client read whole (by its Content-Length), the app then stuck before its last message,
    was in no result: green. It is judged on what went out (its 500 breaks no-server-error) while the app still runs."""
    middleware, run = _held(_whole_500, timeout=1.0)
    held = run(lambda: {"result": middleware.result()})["result"]
    assert held.exit_code == 1
    assert [(f.rule, f.broken_by) for f in held.findings] == [("no-server-error", "server")]
    assert middleware.result().traffic.exchanges == 1  # (its end, later, is not judged again)


def test_pass_x3_f1_a_forced_quit_after_a_lifespan_still_writes_the_reports_and_never_leaves_a_green_one(tmp_path, monkeypatch):
    """Pass X3, F1: with a lifespan spoken, no at-exit writer was registered: a forced quit (uvicorn's second Ctrl-C,
    which skips the lifespan's shutdown while a send is stuck) wrote no report, and one written earlier stayed green.
    The writer is registered at the first call; a report written while a send was in flight is written again at exit,
    as the run then stands."""
    import migma_contract.asgi as asgi

    registered = []
    monkeypatch.setattr(asgi.atexit, "register", lambda *args: registered.append(args))
    middleware, run = _held(_nothing, timeout=10.0, report_dir=tmp_path)

    async def startup():
        messages = [{"type": "lifespan.startup"}]

        async def receive():
            if messages:
                return messages.pop(0)
            await anyio.sleep_forever()

        async def send(message):
            assert message["type"] == "lifespan.startup.complete"
            tasks.cancel_scope.cancel()  # (the server going on serving; its shutdown never comes: a forced quit)

        async with anyio.create_task_group() as tasks:
            tasks.start_soon(middleware, {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}, receive, send)
    anyio.run(startup)
    assert middleware._spoken
    run(lambda: {"written": middleware.write_report()})  # while the send was in flight
    assert json.loads((tmp_path / "conformance.json").read_text())["exit_code"] == 3
    [(at_exit, *args)] = registered
    at_exit(*args)  # the process exits (no shutdown): the send was answered since, the reports say so
    assert json.loads((tmp_path / "conformance.json").read_text())["exit_code"] == 0
    (tmp_path / "conformance.json").unlink()
    at_exit(*args)  # never twice: nothing seen since
    assert not (tmp_path / "conformance.json").exists()


@pytest.mark.parametrize("handled", [True, False], ids=["catch-all-handler", "no-handler"])
def test_pass_x3_f2_in_fastapi_a_catch_all_handler_is_never_blamed_and_without_one_the_500_is(handled):
    """Pass X3, F2: FastAPI's own stack (ServerErrorMiddleware, its telemetry and body-limit middleware outside the
    user's): `@app.exception_handler(Exception)` answering a documented 403 leaves no-server-error judged in part;
    without it FastAPI answers 500 and the app's raise is blamed."""
    from fastapi import FastAPI

    app = FastAPI()
    app.add_middleware(ContractMiddleware)
    app.post("/v1/sending")(_raising)
    if handled:
        app.exception_handler(Exception)(_envelope)
    status, result = _served(app)
    assert status == (403 if handled else 500)
    assert [(f.rule, f.broken_by) for f in result.findings] == ([] if handled else [("no-server-error", "server")])
    assert result.exit_code == (3 if handled else 1)
