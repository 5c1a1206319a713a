"""ContractMiddleware, pass X3: sends still in flight are counted (F1), an exception a handler outside it answers is
never blamed (F2), and the app's writes into its copy of the scope reach the server's (F3)."""

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
        try:
            await app(scope, _client(), sink)
        except RuntimeError:
            pass
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
