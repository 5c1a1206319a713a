"""`ContractMiddleware` mounted in a provider's own app: FastAPI, plain Starlette, and the reference mock."""

import contextlib
import json
import socket
import threading
from contextlib import contextmanager

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from migma_contract import ConfigError, Status
from migma_contract.asgi import ContractMiddleware
from migma_contract.mock import create_app
from migma_contract.wire.asgi_transport import SyncASGITransport
from migma_contract.wire.serve import bind_socket, url_of

from .faulty_servers import FULL_KEY

AUTH = {"Authorization": f"Bearer {FULL_KEY}"}
VALID = {"recipientType": "email", "recipientEmail": "ann@example.com", "from": "news@example.com", "fromName": "News",
         "subject": "Hello", "emailId": "email_welcome"}
TAG_WITHOUT_ID = {"recipientType": "tag", "from": "news@example.com", "fromName": "News", "subject": "Hi", "emailId": "email_welcome"}


@contextmanager
def served(app):
    """`app` served by uvicorn on a loopback port with its lifespan, as in production; a client to it."""
    sock = bind_socket()
    server = uvicorn.Server(uvicorn.Config(app, log_level="critical", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        with httpx.Client(base_url=url_of(sock)) as client:
            yield client
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def lax_provider(request_seen):
    """A provider's own send handler that forgets the batch rule, and records what it received."""

    async def send(request: Request) -> Response:
        raw = await request.body()
        request_seen.append(raw)
        body = json.loads(raw)
        if request.headers.get("authorization") != f"Bearer {FULL_KEY}":
            return JSONResponse({"success": False, "error": "unauthorized"}, status_code=401)
        if body.get("recipientType") == "email" and "recipientEmail" not in body:
            return JSONResponse({"success": False, "error": "recipientEmail is required"}, status_code=400)
        sent = f"msg_{len(request_seen)}"  # one id per send (result-id-unique is judged on this traffic too)
        return JSONResponse({"success": True, "data": {"id": sent, "status": "queued", "provider": "migma"}, "error": None})

    return send


@pytest.mark.e2e
def test_in_a_fastapi_app_it_judges_without_changing_anything(tmp_path):
    fastapi = pytest.importorskip("fastapi")
    seen = []
    app = fastapi.FastAPI()
    app.add_api_route("/v1/sending", lax_provider(seen), methods=["POST"])

    @app.get("/health")
    def health():
        return {"ok": True}

    app.add_middleware(ContractMiddleware, level="documented", report_dir=tmp_path / "reports")
    raw = json.dumps(TAG_WITHOUT_ID, indent=3).encode()
    with served(app) as client:  # with its lifespan: the reports are written at shutdown
        accepted = client.post("/v1/sending", content=raw, headers={**AUTH, "Content-Type": "application/json"})
        assert accepted.status_code == 200 and accepted.json()["data"]["id"] == "msg_1"
        assert client.post("/v1/sending", json=VALID, headers=AUTH).status_code == 200
        assert client.get("/health").json() == {"ok": True}
        assert seen[0] == raw  # the app got the body byte for byte
        middleware = ContractMiddleware.of(app)
        assert middleware.tallies["batch-needs-recipientId"].by_server == 1
        assert not (tmp_path / "reports").exists()
    data = json.loads((tmp_path / "reports" / "conformance.json").read_text())
    assert data["target"]["kind"] == "middleware" and data["traffic"]["judged"] == 2 and data["traffic"]["exchanges"] == 2
    assert {(f["rule"], f["broken_by"]) for f in data["findings"]} == {("batch-needs-recipientId", "client"), ("batch-needs-recipientId", "server")}
    assert FULL_KEY not in (tmp_path / "reports" / "index.html").read_text(encoding="utf-8")
    result = middleware.result()
    assert result.rule("accepts-valid").status == Status.PASSED and result.rule("result-has-id").passed == 2


@pytest.mark.e2e
def test_in_a_plain_starlette_app_with_a_streamed_body_and_a_crash():
    seen = []

    lax = lax_provider(seen)

    async def crash(request):
        if "crash" not in request.query_params:
            return await lax(request)
        await request.body()
        raise RuntimeError("boom")

    # (the crash was at /api/v1/sending, another route: pass I, finding 4, made a path before /v1/sending one the
    # middleware does not judge unless told its base path; `test_a_base_path_..._is_the_send` judges one there)
    app = Starlette(routes=[Route("/v1/sending", crash, methods=["POST"])])
    app.add_middleware(ContractMiddleware)

    def chunks():
        raw = json.dumps(VALID).encode()
        yield raw[:10]
        yield raw[10:]

    with served(app) as client:
        assert client.post("/v1/sending", content=chunks(), headers={**AUTH, "Content-Type": "application/json"}).status_code == 200
        assert client.post("/v1/sending?crash=1", json=VALID, headers=AUTH).status_code == 500
    assert seen == [json.dumps(VALID).encode()]
    middleware = ContractMiddleware.of(app)
    assert [(f.rule, f.broken_by) for f in middleware.findings] == [("no-server-error", "server")]
    assert middleware.tallies["accepts-valid"].passed == 1


def test_around_the_reference_mock_it_finds_nothing_and_changes_nothing():
    mock = create_app({"open_world": True})
    wrapped = ContractMiddleware(mock, level="strict")
    with httpx.Client(transport=SyncASGITransport(wrapped), base_url="http://mock") as client:
        for body in (VALID, TAG_WITHOUT_ID, [VALID], {**VALID, "providerType": "ses"}):
            response = client.post("/v1/sending", json=body, headers=AUTH)
            assert response.headers["content-type"] == "application/json"
        assert client.post("/v1/sending", json=VALID).status_code == 401
    assert len(mock.sent) == 2
    result = wrapped.result()
    assert {f.broken_by for f in result.findings} == {"client"}
    assert result.rule("result-provider").status == Status.PASSED


def test_bad_settings_fail_at_mount_time_and_a_report_needs_a_directory():
    with pytest.raises(ConfigError, match="level"):
        ContractMiddleware(create_app(), level="extreme")
    with pytest.raises(ConfigError, match="formats"):
        ContractMiddleware(create_app(), formats=("pdf",))
    with pytest.raises(ConfigError, match="no report directory"):
        ContractMiddleware(create_app()).write_report()
    with pytest.raises(LookupError):
        ContractMiddleware.of(Starlette())


def _drive(app, body):
    """One POST /v1/sending through `app` on an asyncio loop; the messages it sent back."""
    import anyio

    sent = []
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": "/v1/sending", "raw_path": b"/v1/sending", "query_string": b"", "root_path": "", "client": ("127.0.0.1", 1),
             "server": ("127.0.0.1", 80), "headers": [(b"host", b"app"), (b"content-type", b"application/json"),
                                                       (b"authorization", f"Bearer {FULL_KEY}".encode())]}

    async def main():
        async def receive():
            return {"type": "http.request", "body": json.dumps(body).encode(), "more_body": False}

        async def send(message):
            sent.append(message)

        await app(scope, receive, send)
        return app.judge.stats.judged  # right after the app returned: not judged yet

    return anyio.run(main), sent


def test_the_judgement_comes_after_the_response_and_every_reader_sees_it():
    wrapped = ContractMiddleware(create_app({"open_world": True}))
    judged_when_answered, sent = _drive(wrapped, TAG_WITHOUT_ID)
    assert judged_when_answered == 0 and sent[0]["status"] == 400  # the client had its answer before any judging
    assert wrapped.tallies["batch-needs-recipientId"].by_client == 1  # a reader gets everything answered so far


def test_a_judging_failure_never_reaches_the_app():
    wrapped = ContractMiddleware(create_app({"open_world": True}))

    def broken(exchange):
        raise RuntimeError("a bug")

    wrapped.judge.observe = broken
    _, sent = _drive(wrapped, VALID)
    assert sent[0]["status"] == 200
    assert any("could not be judged (RuntimeError)" in note for note in wrapped.result().traffic.notes)


class _HeldByTheReportWriter:
    """Judging's lock while a long redaction holds it: records every thread that would have waited for it.

    The event loop (the test's own thread) must never try: were it to, it would wait for as long as
    the redaction ran (the attack held it ~30 s); here it raises instead of deadlocking.
    """

    def __init__(self):
        self.inner = threading.Lock()
        self.waiters = []

    def __enter__(self):
        if not self.inner.acquire(blocking=False):
            self.waiters.append(threading.current_thread())
            if threading.current_thread() is threading.main_thread():
                raise AssertionError("the app's event loop waited for judging's lock")
            self.inner.acquire()

    def __exit__(self, *exc):
        self.inner.release()


def test_the_apps_event_loop_never_waits_for_judging():
    """Attack pass (M1): ~4 MB of long credentials kept the judge compiling patterns under its lock for ~30 s, and the
    event loop took the same lock for every request it handed over: the whole app froze, other paths too."""
    wrapped = ContractMiddleware(create_app({"open_world": True}), max_request_bytes=64)
    held = _HeldByTheReportWriter()
    wrapped.judge._lock = held
    with held.inner:  # a report is being redacted: judging's lock is held throughout
        answered = [_drive(wrapped, body)[1][0]["status"] for body in (VALID, TAG_WITHOUT_ID)]
        wrapped.judge.skip()
        wrapped.judge.pass_unjudged("a client stopped reading")
    assert answered == [200, 400]  # the over-64-byte bodies were noted on the event loop too
    assert threading.main_thread() not in held.waiters
    result = wrapped.result()
    assert (result.traffic.judged, result.traffic.other, result.traffic.unjudged) == (2, 1, 1)
    assert any("over 64 bytes" in note for note in result.traffic.notes)


def test_a_burst_of_sends_waits_to_be_judged_by_what_it_holds_not_by_a_guess():
    """Under load the judge's thread runs behind the app's event loop: the middleware counted every exchange it handed
    over at 1 MiB (its size unsaid), so 64 could wait and a burst under 50 connections passed ~15% of its sends
    unjudged (the verdict incomplete). Each is counted at what it holds: a burst of 200 small sends waits and is judged."""
    wrapped = ContractMiddleware(create_app({"open_world": True}))
    held = _HeldByTheReportWriter()
    wrapped.judge._lock = held
    with held.inner:  # judging is busy: every send answered meanwhile waits
        answered = [_drive(wrapped, VALID)[1][0]["status"] for _ in range(200)]
    assert answered == [200] * 200
    traffic = wrapped.result().traffic
    assert (traffic.judged, traffic.unjudged) == (200, 0)


# --- the app is blamed only for what the app did (red-team pass G: 3, 4, 9) ----------------------------------------------

SCOPE = {"type": "http", "method": "POST", "path": "/v1/sending", "raw_path": b"/v1/sending", "query_string": b"",
         "headers": [(b"host", b"app"), (b"authorization", AUTH["Authorization"].encode()), (b"content-type", b"application/json")],
         "scheme": "http", "root_path": "", "http_version": "1.1"}
RAW_VALID = json.dumps(VALID).encode()
ACCEPTED = json.dumps({"success": True, "data": {"id": "msg_1", "status": "queued"}}).encode()


def _run(app, *messages, send=None, scope=SCOPE, **options):
    """`app` inside a ContractMiddleware, called once with a client sending these messages; (the middleware, what the
    call raised or None). Past the messages, receive says the client left, as a server does once it has."""
    import anyio

    queue = list(messages)

    async def receive():
        return queue.pop(0) if queue else {"type": "http.disconnect"}

    async def sink(message):
        pass

    wrapped = ContractMiddleware(app, **options)
    raised = []

    async def main():
        try:
            await wrapped(dict(scope), receive, send or sink)
        except BaseException as exc:  # what the app raised goes out as without the middleware: kept to look at
            raised.append(exc)

    anyio.run(main)
    return wrapped, (raised or [None])[0]


def _as_server(function, module="uvicorn.protocols.http.h11_impl"):
    """`function` as if a server's module defined it: what it raises is raised in a server's own code (the middleware
    tells a server's refusal from a middleware's exception by where it was raised, Pass Z4, F1)."""
    import types

    return types.FunctionType(function.__code__, {**function.__globals__, "__name__": module}, function.__name__,
                              function.__defaults__, function.__closure__)


def _body(raw=RAW_VALID, more=False):
    return {"type": "http.request", "body": raw, "more_body": more}


async def _read_all(receive):
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            from starlette.requests import ClientDisconnect

            raise ClientDisconnect
        if not message.get("more_body"):
            return


async def _answer(send, body=ACCEPTED, headers=((b"content-type", b"application/json"),)):
    await send({"type": "http.response.start", "status": 200, "headers": list(headers)})
    await send({"type": "http.response.body", "body": body})


class _Gone(OSError):
    """What an ASGI server raises from `send` once the client is gone (ASGI 2.4: a subclass of OSError)."""


def test_a_client_that_hangs_up_mid_body_leaves_the_exchange_unjudged_never_the_apps_failure():
    seen = []
    app = Starlette(routes=[Route("/v1/sending", lax_provider(seen), methods=["POST"])])
    middleware, raised = _run(app, _body(RAW_VALID[:20], more=True), {"type": "http.disconnect"})
    assert type(raised).__name__ == "ClientDisconnect" and seen == []  # out of the app as without the middleware
    result = middleware.result()
    assert result.findings == [] and result.traffic.unjudged == 1 and result.traffic.judged == 0
    assert any("client went away before its request's body ended" in note for note in result.traffic.notes)
    assert result.exit_code == 3  # no green verdict rests on it


@pytest.mark.parametrize("how", ["send-raises-oserror", "app-told-disconnect", "server-cancels"])
def test_a_client_that_leaves_before_taking_the_answer_leaves_it_unjudged(how):
    import anyio

    async def app(scope, receive, send):
        await _read_all(receive)
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
        if how == "app-told-disconnect":  # as Starlette's StreamingResponse: it listens, hears the client go, and stops
            assert (await receive())["type"] == "http.disconnect"
            return
        if how == "server-cancels":  # as a server that cancels the app when its client leaves (Hypercorn)
            await anyio.sleep_forever()
        await send({"type": "http.response.body", "body": ACCEPTED[:5], "more_body": True})

    server = []

    async def send(message):
        if how == "send-raises-oserror" and message["type"] == "http.response.body":
            raise _Gone("the client is gone")
        if how == "server-cancels" and message["type"] == "http.response.start":
            server[0].cancel_scope.cancel()  # the server cancels the app's task (asyncio: `Task.cancel`)

    if how == "server-cancels":
        middleware, queue = ContractMiddleware(app), [_body()]

        async def receive():
            return queue.pop(0) if queue else {"type": "http.disconnect"}

        async def serving():
            async with anyio.create_task_group() as group:
                server.append(group)
                group.start_soon(middleware, dict(SCOPE), receive, send)

        anyio.run(serving)
        raised = None
    else:
        middleware, raised = _run(app, _body(), send=send)
    assert (type(raised).__name__ if raised else None) == {"send-raises-oserror": "_Gone", "app-told-disconnect": None,
                                                           "server-cancels": None}[how]
    result = middleware.result()
    assert result.findings == [] and result.traffic.unjudged == 1
    # (a cancellation with no disconnect seen is not read as the client leaving: pass U1, F1)
    said = "cut off by something outside it" if how == "server-cancels" else "client went away before the answer was complete"
    assert any(said in note for note in result.traffic.notes)


@pytest.mark.parametrize("how", ["raises-its-own-error", "raises-clientdisconnect-itself", "ends-without-answering"])
def test_an_app_that_fails_on_its_own_is_still_the_servers_no_server_error(how):
    from starlette.requests import ClientDisconnect

    async def app(scope, receive, send):
        await _read_all(receive)  # the client sent its whole body and stays
        if how == "raises-its-own-error":
            raise RuntimeError("boom")
        if how == "raises-clientdisconnect-itself":  # the exception's name decides nothing: the client is still there
            raise ClientDisconnect

    middleware, raised = _run(app, _body(), send=None)
    assert (raised is None) == (how == "ends-without-answering")
    result = middleware.result()
    assert [(f.rule, f.broken_by) for f in result.findings] == [("no-server-error", "server")]
    assert result.traffic.unjudged == 0


@pytest.mark.parametrize("cap", [1 << 20, 4], ids=["body-read-ahead", "body-streamed-on-past-the-cap"])
def test_a_client_trickling_its_body_or_reading_slowly_is_not_the_apps_time(fake_time, cap):
    async def app(scope, receive, send):
        await _read_all(receive)
        await _answer(send)

    parts = [_body(RAW_VALID[:10], more=True), _body(RAW_VALID[10:])]

    async def receive():  # the client takes 5 s to send the rest of its body
        if len(parts) == 1:
            fake_time.now += 5
        return parts.pop(0) if parts else {"type": "http.disconnect"}

    async def slow_reader(message):  # and 5 s to take each part of the answer's body (the server's flow control waits)
        if message["type"] == "http.response.body":
            fake_time.now += 5

    import anyio

    middleware = ContractMiddleware(app, timeout=1.0, max_request_bytes=cap)
    anyio.run(middleware, dict(SCOPE), receive, slow_reader)
    result = middleware.result()
    assert result.findings == [] and result.rule("responds-in-time").status == Status.PASSED


@pytest.mark.parametrize("when", ["before-the-head", "between-head-and-body"])
def test_an_app_that_itself_takes_past_the_timeout_still_breaks_responds_in_time(fake_time, when):
    async def app(scope, receive, send):
        await _read_all(receive)
        if when == "before-the-head":
            fake_time.now += 5  # the app's own work, after the whole body was in
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
        if when == "between-head-and-body":
            fake_time.now += 5
        await send({"type": "http.response.body", "body": ACCEPTED})
        fake_time.now += 50  # work after the answer is out (background tasks) is not the answer's time

    middleware, raised = _run(app, _body(), timeout=1.0)
    assert raised is None
    assert [(f.rule, f.broken_by) for f in middleware.result().findings] == [("responds-in-time", "server")]
    assert "answered after 5.00 s" in middleware.result().findings[0].actual


def test_headers_given_as_any_iterable_are_read_once_judged_and_forwarded_alike():
    sent = []

    async def app(scope, receive, send):
        await _read_all(receive)
        pairs = [(b"content-type", b"application/json"), (b"content-length", str(len(ACCEPTED)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": (pair for pair in pairs)})  # a generator
        await send({"type": "http.response.body", "body": ACCEPTED})

    async def server(message):
        sent.append({**message, "headers": list(message["headers"])} if "headers" in message else message)

    middleware, raised = _run(app, _body(), send=server)
    assert raised is None
    assert sent[0]["headers"] == [(b"content-type", b"application/json"), (b"content-length", str(len(ACCEPTED)).encode())]
    result = middleware.result()
    assert result.findings == [] and result.rule("accepts-valid").status == Status.PASSED


def test_a_body_buffer_the_app_reuses_after_sending_is_judged_as_it_was_sent():
    """Pass I, finding 6: the middleware kept a reference to each chunk; an app reusing its bytearray after `send`
    returned had the judge read what it wrote later (a valid answer judged as `"data": null`, or the reverse)."""
    async def app(scope, receive, send):
        await _read_all(receive)
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
        buffer = bytearray(ACCEPTED)
        await send({"type": "http.response.body", "body": buffer})
        buffer[:] = b" " * len(buffer)  # reused once sent

    middleware, raised = _run(app, _body())
    assert raised is None
    result = middleware.result()
    assert result.findings == [] and result.rule("accepts-valid").status == Status.PASSED


def test_the_servers_time_leaves_out_the_clients_and_counts_overlapping_sends_once():
    from migma_contract.traffic.timing import ServerTime

    now = [10.0]
    clock = ServerTime(lambda: now[0])
    now[0] = 11.0  # one second of the server's own
    clock.sending()
    clock.sending()  # two sends at once (an app sending from two tasks): their time in the client's hands counts once
    now[0] = 15.0
    clock.sent()
    assert clock.elapsed() == pytest.approx(1.0)  # (a send still under way is the client's too)
    clock.sent()
    now[0] = 16.5
    assert clock.client_wait == pytest.approx(4.0) and clock.elapsed() == pytest.approx(2.5)


def test_a_header_list_the_app_reuses_after_sending_is_judged_as_it_was_sent():
    """The class of pass I's finding 6 for the headers: the middleware keeps what the answer's start said as it was
    sent (an app rewriting its header list, or a bytearray in it, once `send` returned is not judged on the rewrite)."""
    async def app(scope, receive, send):
        await _read_all(receive)
        kind = bytearray(b"application/json")
        headers = [(b"content-type", kind)]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        kind[:] = b"text/plain; x=1 "  # reused once sent
        headers.append((b"content-type", b"text/html"))
        await send({"type": "http.response.body", "body": ACCEPTED})

    middleware, raised = _run(app, _body())
    assert raised is None
    result = middleware.result()
    assert result.findings == [] and result.rule("content-type-json").status == Status.PASSED


def test_an_app_raising_after_its_answer_was_complete_is_judged_on_the_answer_that_went_out():
    async def app(scope, receive, send):  # a background task that fails once the answer is out (Starlette's run after)
        await _read_all(receive)
        await _answer(send)
        raise RuntimeError("audit log unavailable")

    middleware, raised = _run(app, _body())
    assert type(raised) is RuntimeError  # out of the app as without the middleware
    result = middleware.result()
    assert result.findings == [] and result.traffic.judged == 1 and result.exit_code == 0
    assert any("RuntimeError after its answer was complete" in note for note in result.traffic.notes)


def test_an_answer_the_server_could_not_send_whole_is_the_apps_no_server_error_never_green():
    """Final pass L1, finding 1: a Content-Length off by a few bytes (`len(str)` for `len(bytes)`): uvicorn raises inside
    `send` of the last body message and closes the connection; the middleware took the answer as complete (the raise
    read as a background task's) and the verdict was green while no client could read the answer."""
    async def server(message):  # as uvicorn does: the body does not match the Content-Length the app declared
        if message["type"] == "http.response.body" and not message.get("more_body", False):
            raise RuntimeError("Response content shorter than Content-Length")

    async def app(scope, receive, send):
        await _read_all(receive)
        await _answer(send)

    middleware, raised = _run(app, _body(), send=_as_server(server))
    assert type(raised) is RuntimeError  # out of the app as without the middleware
    result = middleware.result()
    assert result.exit_code == 1 and [f.rule for f in result.findings] == ["no-server-error"]
    assert "could not send the app's answer (RuntimeError)" in result.findings[0].actual


def _refusing(status):
    async def app(scope, receive, send):
        await _read_all(receive)
        body = json.dumps({"success": False, "error": "not here"}).encode()
        await send({"type": "http.response.start", "status": status, "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": body})
    return app


def test_a_lowercase_post_is_no_send_and_a_server_refusing_it_is_never_blamed():
    # methods are case-sensitive (RFC 9110 §9.1): `post` is not POST; a server may refuse it (405) or read it as POST
    middleware, raised = _run(_refusing(405), _body(), scope={**SCOPE, "method": "post"})  # (httpx upper-cases it)
    assert raised is None
    result = middleware.result()
    assert result.findings == [] and result.traffic.judged == 0 and result.traffic.unjudged == 1
    assert result.exit_code == 3
    assert any("'post' /v1/sending is not exactly POST" in note for note in result.traffic.notes)


@pytest.mark.parametrize("headers, query, status", [
    ({"X-HTTP-Method-Override": "PUT"}, "", 405),
    ({"X-HTTP-Method": "delete"}, "", 405),
    ({"X-Method-Override": "PATCH, POST"}, "", 405),
    ({}, "?_method=PUT", 405),
    ({"Expect": "foo"}, "", 417),
])
def test_a_send_asking_for_another_method_or_expectation_is_judged_in_part_never_blamed(headers, query, status):
    middleware = ContractMiddleware(_refusing(status))
    with httpx.Client(transport=SyncASGITransport(middleware), base_url="http://app") as client:
        client.post(f"/v1/sending{query}", json=VALID, headers={**AUTH, **headers})
    result = middleware.result()
    # an override header makes it no send (`route_of`: passes unjudged); `_method` and `Expect`: judged in part
    assert result.findings == [] and result.exit_code == 3
    assert (result.traffic.partly_judged, result.traffic.unjudged) == ((0, 1) if headers and "Expect" not in headers else (1, 0))


@pytest.mark.parametrize("query, extra", [("?%5Fmethod=PUT", {}), ("?.method=DELETE", {}), ("?_method=PUT&x=1", {}),
                                          ("", {"_method": "PUT"})])
def test_a_method_override_as_php_or_laravel_reads_it_is_judged_in_part_never_blamed(query, extra):
    """Final pass L1 (2): only the literal `_method=` was read; PHP decodes query names and turns `.` and space into `_`
    (`%5Fmethod`, `.method`), and Laravel reads a JSON body's `_method`: a Symfony/Laravel server's 405 was blamed."""
    middleware = ContractMiddleware(_refusing(405))
    with httpx.Client(transport=SyncASGITransport(middleware), base_url="http://app") as client:
        client.post(f"/v1/sending{query}", json={**VALID, **extra}, headers=AUTH)
    result = middleware.result()
    assert result.findings == [] and result.exit_code == 3 and result.traffic.partly_judged == 1


@pytest.mark.parametrize("headers", [{"X-HTTP-Method-Override": " post "}, {"Expect": "100-Continue"}])
def test_an_override_naming_post_or_expect_100_continue_is_judged_in_full(headers):
    middleware = ContractMiddleware(_refusing(405))
    with httpx.Client(transport=SyncASGITransport(middleware), base_url="http://app") as client:
        client.post("/v1/sending", json=VALID, headers={**AUTH, **headers})
    result = middleware.result()
    assert result.traffic.partly_judged == 0 and [f.broken_by for f in result.findings] == ["server", "server"]


def _judged_through_middleware(status, headers, content=None):
    """The middleware's result for one send with `headers` (and `content`, else VALID as JSON) answered `status`."""
    middleware = ContractMiddleware(_refusing(status))
    with httpx.Client(transport=SyncASGITransport(middleware), base_url="http://app") as client:
        client.post("/v1/sending", content=json.dumps(VALID).encode() if content is None else content,
                    headers={**AUTH, "Content-Type": "application/json", **headers})
    return middleware.result()


def _compressed(coding):
    import gzip
    import zlib

    raw = json.dumps(VALID).encode()
    return gzip.compress(raw) if coding == "gzip" else zlib.compress(raw) if coding == "deflate" else b"\x8b\x02\x80" + raw + b"\x03"


@pytest.mark.parametrize("coding", ["gzip", "deflate", "br", "GZIP", "gzip, identity"])
def test_pass_t1_f1_a_send_with_a_content_coding_answered_415_is_judged_in_part_never_blamed(coding):
    """Pass T1, F1: a send whose body has a content coding (Content-Encoding gzip, deflate, br) answered 415, HTTP's answer
    to a coding the server does not decode (RFC 9110 §8.4, §15.5.16), was blamed: "status 415 is not documented"."""
    result = _judged_through_middleware(415, {"Content-Encoding": coding}, _compressed(coding.split(",")[0].lower()))
    assert result.findings == [] and result.exit_code == 3 and result.traffic.partly_judged == 1
    assert any("content coding" in note and "415" in note for note in result.traffic.notes), result.traffic.notes


def test_pass_t1_f1_only_the_status_http_names_is_left_unjudged():
    """Pass T1, F1: the refusal opens its own status only: a coded send answered an undocumented 418 is still blamed, and
    a plain send answered 415 is blamed as before."""
    coded = _judged_through_middleware(418, {"Content-Encoding": "gzip"}, _compressed("gzip"))
    assert "status-documented" in {f.rule for f in coded.findings}
    plain = _judged_through_middleware(415, {})
    assert {"status-documented", "accepts-valid"} <= {f.rule for f in plain.findings}


@pytest.mark.parametrize("headers", [
    {"Accept": "application/xml"}, {"Accept": "text/html"}, {"Accept": "application/json;q=0"},
    {"Accept": "application/json;q=0, */*;q=0.5"}, {"Accept": "application/*;q=0, text/*"},
    {"Accept": "application/json;version=2"}, {"Accept": "application/json;q=x"},
    {"Accept-Encoding": "br;q=1, identity;q=0, *;q=0"}, {"Accept-Encoding": "gzip, *;q=0"},
    {"Accept-Charset": "iso-8859-5"}, {"Accept-Charset": "utf-8;q=0, *"},
    {"Accept-Language": "xx"}, {"Accept-Language": "fr, en;q=0"},
])
def test_pass_t1_f2_a_send_excluding_what_the_answers_are_answered_406_is_judged_in_part_never_blamed(headers):
    """Pass T1, F2: a send whose Accept excludes application/json (or whose Accept-Encoding excludes identity, whose
    Accept-Charset excludes UTF-8, whose Accept-Language excludes English) answered 406, as Spring MVC answers it
    (RFC 9110 §12.5, §15.5.7), was blamed on accepts-valid and status-documented."""
    result = _judged_through_middleware(406, headers)
    assert result.findings == [] and result.exit_code == 3 and result.traffic.partly_judged == 1
    assert any("406" in note and "RFC 9110 §12.5" in note for note in result.traffic.notes), result.traffic.notes


@pytest.mark.parametrize("headers", [
    {}, {"Accept": "*/*"}, {"Accept": "application/json"}, {"Accept": "text/html, *;q=.2"},
    {"Accept": "application/problem+json, application/*;q=0.1"}, {"Accept-Encoding": "gzip"}, {"Accept-Encoding": ""},
    {"Accept-Charset": "utf-8"}, {"Accept-Language": "en-US,en;q=0.9"}, {"Accept-Language": "fr, *;q=0.1"},
])
def test_pass_t1_f2_a_send_admitting_json_answered_406_is_blamed(headers):
    """Pass T1, F2: a request that admits the answers (`Accept: */*`, no Accept at all) answered 406 is rightly blamed."""
    result = _judged_through_middleware(406, headers)
    assert {"status-documented", "accepts-valid"} <= {f.rule for f in result.findings} and result.exit_code == 1


@pytest.mark.parametrize("status, headers", [
    (417, {"Expect": "foo"}), (412, {"If-Match": '"v1"'}), (412, {"If-None-Match": "*"}),
    (412, {"If-Unmodified-Since": "Sat, 29 Oct 1994 19:43:31 GMT"}),
])
def test_pass_t1_f2_every_feature_http_lets_a_server_refuse_leaves_that_status_unjudged(status, headers):
    """Pass T1, F2 (the class): an expectation (417) and a precondition (412, evaluated on a POST: RFC 9110 §13.2.1) are
    refused with a status of their own; that status is never blamed, and a status of another refusal still is."""
    result = _judged_through_middleware(status, headers)
    assert result.findings == [] and result.exit_code == 3 and result.traffic.partly_judged == 1
    other = _judged_through_middleware(406 if status != 406 else 417, headers)
    assert "status-documented" in {f.rule for f in other.findings}


# --- what is judged is what came in; the reports are written whatever the lifespan (attack pass R2: F2, F10, F11) -----------


@pytest.mark.parametrize("edit", ["checked-then-stripped", "added-from-a-cookie", "a-pair-blanked-in-place"])
def test_pass_r2_f2_an_inner_middleware_editing_the_scope_in_place_never_changes_what_is_judged(edit):
    """Pass R2, F2: the request was read from the live scope after the app returned. An inner middleware that checks the
    key and deletes it from the scope (Starlette's `MutableHeaders(scope=scope)`) got a correct client and server blamed
    for auth-required; one that builds the key from a cookie and appends it made a server answering 200 to a send without
    a key green. What is judged is what the client sent, as the middleware saw it when the send came in."""
    from starlette.datastructures import MutableHeaders

    async def app(scope, receive, send):
        if edit == "checked-then-stripped":
            headers = MutableHeaders(scope=scope)
            assert headers["authorization"] == AUTH["Authorization"]
            del headers["authorization"]  # so that nothing downstream logs it
        elif edit == "a-pair-blanked-in-place":  # a server giving each pair as a list (as Daphne does)
            next(pair for pair in scope["headers"] if pair[0] == b"authorization")[1] = b"[checked]"
        else:  # the key from the session cookie, appended to the list the server gave
            scope["headers"].append((b"authorization", AUTH["Authorization"].encode()))
        scope.update(root_path="/elsewhere", path="/elsewhere/v1/sending", query_string=b"x=1", method="PUT")  # a router
        await _read_all(receive)
        await _answer(send)

    sent = [[k, v] for k, v in SCOPE["headers"] if edit != "added-from-a-cookie" or k != b"authorization"]
    scope = {**SCOPE, "headers": [*sent, [b"cookie", b"session=s1"]]}
    middleware, raised = _run(app, _body(), scope=scope)
    assert raised is None
    result = middleware.result()
    if edit != "added-from-a-cookie":  # a client that sent its key, a server that answered it: nothing to say
        assert result.findings == [] and result.traffic.judged == 1, result.headline
    else:  # no key sent, 200 answered: the client broke auth-required and the server accepted it
        assert sorted((f.rule, f.broken_by) for f in result.findings) == [("auth-required", "client"), ("auth-required", "server")]
    assert all(f.request.url == "http://app/v1/sending" and f.request.method == "POST" for f in result.findings)


@pytest.mark.parametrize("where", ["uvicorn-root-path", "root-path-outside-path", "starlette-mount"])
def test_pass_r2_f10_a_findings_url_shows_the_root_path_once(where):
    """Pass R2, F10: the URL a finding showed was root_path + path, and uvicorn (--root-path) and Starlette's Mount put
    the root path in `path` too: /api/api/v1/sending. It is the path the client asked for, as the route is read."""
    from starlette.routing import Mount

    async def app(scope, receive, send):  # an envelope that says success without its data: the server's finding
        await _read_all(receive)
        await _answer(send, body=b'{"success": true}')

    options: dict = {}
    if where == "uvicorn-root-path":
        scope = {**SCOPE, "root_path": "/api", "path": "/api/v1/sending", "raw_path": b"/api/v1/sending"}
    elif where == "root-path-outside-path":  # a server that keeps the root path out of `path` (a proxy stripped it)
        scope = {**SCOPE, "root_path": "/api", "path": "/v1/sending", "raw_path": b"/v1/sending"}
    else:  # the API mounted at /api in the app: Mount sets root_path to /api on its way in
        app, options = Starlette(routes=[Mount("/api", app=app)]), {"base_path": "/api"}
        scope = {**SCOPE, "path": "/api/v1/sending", "raw_path": b"/api/v1/sending"}
    middleware, raised = _run(app, _body(), scope=scope, **options)
    assert raised is None
    findings = middleware.result().findings
    assert findings and {f.request.url for f in findings} == {"http://app/api/v1/sending"}


def _lifespan(middleware, between=None):
    """The server's side of an ASGI lifespan with `middleware`: startup, `between()` once it completed, shutdown; what
    the app (or the middleware for it) sent back, and what it raised."""
    import anyio

    sent, raised, asked = [], [], ["lifespan.startup", "lifespan.shutdown"]

    async def receive():
        if asked[0] == "lifespan.shutdown" and between is not None:
            await between()
        return {"type": asked.pop(0)}

    async def send(message):
        sent.append(message["type"])

    async def main():
        try:
            await middleware({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}, receive, send)
        except Exception as exc:
            raised.append(exc)

    anyio.run(main)
    return sent, (raised or [None])[0]


async def _plain_app(scope, receive, send):
    """A plain ASGI app that speaks no lifespan (it returns on it), answering every send."""
    if scope["type"] != "http":
        return
    await _read_all(receive)
    await _answer(send, body=b'{"success": true}')


def _one_send(middleware):
    async def between():
        async def receive():
            return _body()

        async def sink(message):
            pass

        await middleware(dict(SCOPE), receive, sink)

    return between


REPORTS = ["conformance.json", "index.html", "junit.xml", "summary.md"]
WRITTEN = [".migma-contract", *REPORTS]  # the reports, and the state of the process that wrote them (reports.processes)


def test_pass_r2_f11_an_app_that_speaks_no_lifespan_has_it_spoken_for_and_its_reports_written_at_shutdown(tmp_path, monkeypatch):
    """Pass R2, F11: with `report_dir`, the reports were written only when the app completed its lifespan's shutdown: an
    app that does not speak lifespan (a plain ASGI app returning on it) wrote none, and nothing said so. The middleware
    answers the lifespan for it (as a server goes on without one) and writes the reports at shutdown."""
    import migma_contract.asgi as asgi

    registered = []
    monkeypatch.setattr(asgi.atexit, "register", lambda *args: registered.append(args))
    middleware = ContractMiddleware(_plain_app, report_dir=tmp_path)
    sent, raised = _lifespan(middleware, between=_one_send(middleware))
    assert raised is None and sent == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    assert sorted(p.name for p in tmp_path.iterdir()) == WRITTEN
    assert json.loads((tmp_path / "conformance.json").read_text())["traffic"]["judged"] == 1
    [(at_exit, *args)] = registered  # (registered at the first call: a forced quit skips the shutdown, pass X3, F1)
    (tmp_path / "conformance.json").unlink()
    at_exit(*args)  # written at shutdown, nothing seen since: nothing left for the process's exit
    assert not (tmp_path / "conformance.json").exists()

    async def refuses(scope, receive, send):  # an app raising on the lifespan: its server decides (as without the middleware)
        assert scope["type"] == "http"

    assert isinstance(_lifespan(ContractMiddleware(refuses, report_dir=tmp_path / "r"))[1], AssertionError)


def test_pass_r2_f11_an_app_speaking_lifespan_is_passed_through_and_a_report_it_cannot_write_is_one_line(tmp_path, caplog):
    async def app(scope, receive, send):
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        await _plain_app(scope, receive, send)

    middleware = ContractMiddleware(app, report_dir=tmp_path / "r")
    assert _lifespan(middleware, between=_one_send(middleware)) == (["lifespan.startup.complete", "lifespan.shutdown.complete"], None)
    assert (tmp_path / "r" / "conformance.json").is_file()
    (tmp_path / "file").write_text("")
    middleware = ContractMiddleware(app, report_dir=tmp_path / "file" / "r")  # under a file: cannot be written
    assert _lifespan(middleware) == (["lifespan.startup.complete", "lifespan.shutdown.complete"], None)  # never a traceback
    [line] = [r.getMessage() for r in caplog.records if r.name == "migma_contract.asgi"]
    assert "the reports could not be written" in line and "at shutdown" in line and "\n" not in line


def test_pass_r2_f11_without_a_lifespan_the_reports_are_written_at_process_exit(tmp_path, monkeypatch):
    """Pass R2, F11: a server that sends no lifespan (uvicorn --lifespan off, an in-process transport) wrote no report;
    they are written when the process exits, once, and not again when nothing was judged since they were written."""
    import migma_contract.asgi as asgi

    registered = []
    monkeypatch.setattr(asgi.atexit, "register", lambda *args: registered.append(args))
    middleware = ContractMiddleware(_plain_app, report_dir=tmp_path)
    with httpx.Client(transport=SyncASGITransport(middleware), base_url="http://app") as client:
        for _ in range(2):
            client.post("/v1/sending", json=VALID, headers=AUTH)
    assert list(tmp_path.iterdir()) == [] and len(registered) == 1  # registered once, at the first send
    at_exit, *args = registered[0]
    at_exit(*args)
    assert sorted(p.name for p in tmp_path.iterdir()) == WRITTEN
    assert json.loads((tmp_path / "conformance.json").read_text())["traffic"]["judged"] == 2
    (tmp_path / "conformance.json").unlink()
    at_exit(*args)  # nothing judged since: not written again
    assert not (tmp_path / "conformance.json").exists()


@pytest.mark.e2e
def test_pass_r2_f11_a_process_serving_without_a_lifespan_writes_its_reports_as_it_exits(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    script = f"""
import anyio, httpx
from migma_contract.asgi import ContractMiddleware
from tests.test_asgi_middleware import VALID, AUTH, _plain_app
middleware = ContractMiddleware(_plain_app, report_dir={str(tmp_path / "r")!r})
async def main():
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=middleware), base_url="http://app") as client:
        await client.post("/v1/sending", json=VALID, headers=AUTH)
anyio.run(main)
"""
    root = Path(__file__).resolve().parent.parent
    done = subprocess.run([sys.executable, "-c", script], cwd=root, capture_output=True, text=True, timeout=120,
                          env={**__import__("os").environ, "PYTHONPATH": str(root)})
    assert done.returncode == 0 and "Traceback" not in done.stderr and "could not be written" not in done.stderr, done.stderr[-2000:]
    assert sorted(p.name for p in (tmp_path / "r").iterdir()) == WRITTEN


# --- the answer as a client reads what the server writes, on either uvicorn stack (red-team pass M1: F1, F3, F8) ------------

ANSWER = json.dumps({"success": True, "data": {"id": "msg_1", "status": "queued", "provider": "migma"}, "error": None}).encode()
N = len(ANSWER)
# heads uvicorn's httptools protocol writes as given (its Content-Length read by Python's int(), a second one written,
# any Transfer-Encoding but chunked written and its own chunked added, names checked against a short list), h11 refuses
UNREADABLE = {
    "content-length-plus-sign": [(b"content-length", b"+%d" % N)],
    "content-length-underscore": [(b"content-length", b"%d_%d" % (N // 10, N % 10))],
    "content-length-arabic-indic-digits": [(b"content-length", "".join(chr(0x660 + int(d)) for d in str(N)).encode())],
    "two-different-content-lengths": [(b"content-length", b"%d" % N), (b"content-length", b"%d" % (N + 5))],
    # pass N1, F1: one number written two ways: h11 (httpx) compares the texts, "conflicting Content-Length headers"
    "content-lengths-differing-by-a-leading-zero": [(b"content-length", b"%d" % N), (b"content-length", b"0%d" % N)],
    "content-length-list-differing-by-a-leading-zero": [(b"content-length", b"%d, 0%d" % (N, N))],
    "transfer-encoding-gzip": [(b"transfer-encoding", b"gzip")],
    "transfer-encoding-identity": [(b"transfer-encoding", b"identity")],
    "transfer-encoding-gzip-chunked": [(b"transfer-encoding", b"gzip, chunked")],
    "name-with-slash": [(b"content-length", b"%d" % N), (b"x/y", b"1")],
    "name-not-ascii": [(b"content-length", b"%d" % N), (b"x-\xc3\xa9", b"1")],
}
WHY = {"content-length-plus-sign": "not digits only", "content-length-underscore": "not digits only",
       "content-length-arabic-indic-digits": "not digits only", "two-different-content-lengths": "two different Content-Lengths",
       "content-lengths-differing-by-a-leading-zero": "two different Content-Lengths",
       "content-length-list-differing-by-a-leading-zero": "two different Content-Lengths",
       "transfer-encoding-gzip": "Transfer-Encoding other than chunked", "transfer-encoding-identity": "Transfer-Encoding other than chunked",
       "transfer-encoding-gzip-chunked": "Transfer-Encoding other than chunked", "name-with-slash": "not a token ('x/y')",
       "name-not-ascii": r"not a token ('x-\xc3\xa9')"}
# heads a client reads as meant: OWS around a Content-Length, chunked in any case, bytes past ASCII in a value
READABLE = {
    "content-length-with-ows": [(b"content-length", b" %d\t" % N)],
    "chunked-any-case": [(b"transfer-encoding", b"Chunked")],
    "value-past-ascii": [(b"content-length", b"%d" % N), (b"x-name", "Zoë".encode())],
}
# Pass Z4, F4: heads h11 (httpx, curl) reads and Node's http client and fetch refuse: the same Content-Length twice or as
# a list (RFC 9110 §8.6 lets a recipient take it as one), a Content-Length beside chunked (RFC 9112 §6.1: a sender must
# not send both). uvicorn's h11 protocol drops or merges the Content-Length, its httptools protocol writes them as given
APART = {
    "same-content-length-twice": [(b"content-length", b"%d" % N), (b"content-length", b"%d" % N)],
    "content-length-list-of-one-value": [(b"content-length", b"%d, %d" % (N, N))],
    "content-length-beside-chunked": [(b"content-length", b"%d" % N), (b"transfer-encoding", b"chunked")],
    "chunked-before-content-length": [(b"transfer-encoding", b"chunked"), (b"content-length", b"%d" % N)],
}


def _answering(extra, then=None, *, streamed=False, trailers=False, head=((b"content-type", b"application/json"),)):
    """An app answering the send with ANSWER under these extra header fields (after `head`); `then`: one more message
    after it (what the server raises, the app catches: it knows the server may lack the extension); `streamed`: in two
    parts."""
    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        await _read_all(receive)
        start = {"type": "http.response.start", "status": 200, "headers": [*head, *extra]}
        await send({**start, "trailers": True} if trailers else start)
        if streamed:
            await send({"type": "http.response.body", "body": ANSWER[:10], "more_body": True})
            await send({"type": "http.response.body", "body": ANSWER[10:]})
        else:
            await send({"type": "http.response.body", "body": ANSWER})
        if then is not None:
            with contextlib.suppress(RuntimeError):
                await send(then)
    return app


@pytest.mark.parametrize("name", UNREADABLE)
def test_a_head_no_client_can_read_is_the_apps_no_server_error_even_where_the_server_writes_it(name):
    """M1 F1: uvicorn's httptools protocol writes these heads unchecked (a server that writes what it is given: this
    `send` takes all); the middleware judged the answer as the app sent it: green, while httpx fails on every one."""
    middleware, raised = _run(_answering(UNREADABLE[name]), _body())
    assert raised is None
    result = middleware.result()
    assert [(f.rule, f.broken_by) for f in result.findings] == [("no-server-error", "server")], result.headline
    assert "no client could read the app's answer" in result.findings[0].actual
    assert WHY[name] in result.findings[0].actual


def _the_apps_only_finding(status, headers, body):
    """The send answered with this head and body through the middleware: its one finding (the app's no-server-error),
    as the `actual` it says."""
    async def app(scope, receive, send):
        await _read_all(receive)
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    middleware, raised = _run(app, _body())
    assert raised is None
    result = middleware.result()
    assert [(f.rule, f.broken_by) for f in result.findings] == [("no-server-error", "server")], result.headline
    return result.findings[0].actual


@pytest.mark.parametrize("status", [100, 103, 101])
def test_an_interim_status_as_the_final_answer_is_the_apps_no_server_error_never_a_status_finding(status):
    """uvicorn's httptools protocol writes `HTTP/1.1 103` as the answer; its client reads an interim answer and waits on
    for the final one (h11 refuses it). It was judged as an answer with that status: accepts-valid, status-documented."""
    finding = _the_apps_only_finding(status, [(b"content-length", b"%d" % N)], ANSWER)
    assert f"it has status {status}, an interim one" in finding


@pytest.mark.parametrize("status, extra, body", [(204, [(b"content-length", b"5")], b"hello"), (304, [], b"hello")])
def test_a_bodiless_status_carrying_a_body_is_the_apps_no_server_error(status, extra, body):
    """uvicorn's httptools protocol writes the body after a 204/304 head; its client reads the answer without them and
    takes them for the start of the next answer, which fails. Judged as an answer with that status (h11 refuses the
    body: no-server-error): one reading now, the app's no-server-error. (A Transfer-Encoding alone on them servers read
    apart: pass V1, F4.)"""
    finding = _the_apps_only_finding(status, extra, body)
    assert f"it has status {status}, which has no body, and " in finding


@pytest.mark.parametrize("name", READABLE)
def test_a_head_a_client_reads_as_meant_is_judged_on_its_answer(name):
    middleware, raised = _run(_answering(READABLE[name]), _body())
    assert raised is None
    result = middleware.result()
    assert result.findings == [] and result.traffic.judged == 1 and result.exit_code == 0, result.headline


@pytest.mark.parametrize("name", APART)
@pytest.mark.parametrize("server", ["unknown", "httptools"])
def test_pass_z4_f4_a_head_some_clients_refuse_is_never_green(name, server):
    """Pass Z4, F4: a Content-Length beside `Transfer-Encoding: chunked`, or one given twice, was read as every client
    reads it: passed, exit 0, while uvicorn's httptools protocol writes both and Node's http client and fetch refuse the
    answer. Behind an unknown server (h11 drops or merges the field) no-server-error is judged in part; straight under
    uvicorn's httptools protocol (which writes it as given) it fails."""
    async def sink(message):
        pass

    send = _as_server(sink, "uvicorn.protocols.http.httptools_impl") if server == "httptools" else sink
    middleware, raised = _run(_answering(APART[name]), _body(), send=send)
    assert raised is None
    result = middleware.result()
    if server == "httptools":
        assert [(f.rule, f.broken_by) for f in result.findings] == [("no-server-error", "server")], result.headline
        assert "Node" in result.findings[0].actual and result.exit_code == 1
    else:
        assert result.findings == [] and result.exit_code == 3 and result.traffic.partly_judged == 1, result.headline
        assert result.rule("no-server-error").passed == 0
        assert any("Node" in note for note in result.traffic.notes), result.traffic.notes


def test_the_heads_reading_takes_any_length_of_digits_and_quotes_a_hostile_name_safely():
    from migma_contract.core.fields import unreadable_head

    digits = b"9" * 6000  # past int()'s 4,300 digits: compared as text, never a ValueError inside the app's `send`
    assert unreadable_head([(b"content-length", digits), (b"content-length", digits)]) is None
    assert unreadable_head([(b"content-length", digits), (b"content-length", b"000" + digits)]) == "two different Content-Lengths"
    assert unreadable_head([(b"content-length", digits), (b"content-length", digits[1:])]) == "two different Content-Lengths"
    why = unreadable_head([(b"x-\x1b[2J\xe2\x80\xae" + b"n" * 500, b"1")])
    assert why is not None and "\x1b" not in why and "\u202e" not in why and len(why) < 400


@contextmanager
def _on_stack(app, stack):
    """`app` served by uvicorn on the given HTTP stack (h11 or httptools) on a loopback port; its base URL."""
    sock = bind_socket()
    server = uvicorn.Server(uvicorn.Config(app, log_level="critical", lifespan="off", http=stack))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        yield url_of(sock)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


STACKS = ["h11", "httptools"]


@pytest.mark.e2e
@pytest.mark.parametrize("stack", STACKS)
@pytest.mark.parametrize("name", ["content-length-plus-sign", "two-different-content-lengths", "transfer-encoding-gzip",
                                  "name-not-ascii", "content-length-beside-chunked", "same-content-length-twice"])
def test_on_either_uvicorn_stack_the_verdict_is_what_the_client_read(stack, name):
    """M1 F1, end to end: httpx fails on each unreadable head (httptools wrote it, h11 refused it); the middleware says
    so on both stacks, one reason. Pass Z4, F4: a head httpx reads and Node refuses (chunked beside a Content-Length,
    a Content-Length twice): httptools writes it as given (the app's no-server-error), h11 drops or merges the field
    (which server runs does not show behind a middleware: in part)."""
    extra = {**UNREADABLE, **READABLE, **APART}[name]
    middleware = ContractMiddleware(_answering(extra))
    with _on_stack(middleware, stack) as url, httpx.Client(base_url=url) as client:
        try:
            read = client.post("/v1/sending", json=VALID, headers=AUTH).json()
        except httpx.HTTPError:
            read = None
    result = middleware.result()
    if name in READABLE:
        assert read is not None and read["data"]["id"] == "msg_1"
        assert result.findings == [] and result.exit_code == 0, result.headline
    elif name in APART:
        assert read is not None and read["data"]["id"] == "msg_1"  # (httpx reads it; Node's http and fetch do not)
        if stack == "httptools":  # written as given: what Node refuses went on the wire
            assert [(f.rule, f.broken_by) for f in result.findings] == [("no-server-error", "server")], result.headline
        else:
            assert result.findings == [] and result.exit_code == 3, result.headline
    else:
        assert read is None  # the premise: no client reads it
        assert [(f.rule, f.broken_by) for f in result.findings] == [("no-server-error", "server")], result.headline
        assert "no client could read the app's answer" in result.findings[0].actual and WHY[name] in result.findings[0].actual


AFTER = {"extra-empty-body": {"type": "http.response.body", "body": b""},
         "trailers-the-server-lacks": {"type": "http.response.trailers", "headers": [(b"x-checksum", b"1")]}}


@pytest.mark.parametrize("after", AFTER)
def test_a_message_refused_after_the_whole_answer_went_out_is_a_note_never_the_apps_failure(after):
    """M1 F3: the server raised on a message after the answer was complete; the middleware ranked that refusal above
    the complete answer and blamed the app ("no complete response") for an answer the client read whole."""
    async def server(message):  # as uvicorn: anything after the last body message is refused
        if message["type"] != "http.response.start" and server.complete:
            raise RuntimeError(f"Unexpected ASGI message {message['type']!r} sent, after response already completed.")
        server.complete = message["type"] == "http.response.body" and not message.get("more_body", False)
    server.complete = False

    middleware, raised = _run(_answering([(b"content-length", b"%d" % N)], AFTER[after], trailers=after.startswith("trailers")),
                              _body(), send=server)
    assert raised is None
    result = middleware.result()
    assert result.findings == [] and result.traffic.judged == 1 and result.exit_code == 0, result.headline
    assert any("after its answer was complete (RuntimeError)" in note for note in result.traffic.notes)


@pytest.mark.e2e
@pytest.mark.parametrize("stack", STACKS)
def test_on_either_uvicorn_stack_a_refused_message_after_the_answer_leaves_it_judged(stack):
    middleware = ContractMiddleware(_answering([(b"content-length", b"%d" % N)], AFTER["extra-empty-body"]))
    with _on_stack(middleware, stack) as url, httpx.Client(base_url=url) as client:
        assert client.post("/v1/sending", json=VALID, headers=AUTH).json()["data"]["id"] == "msg_1"
    result = middleware.result()
    assert result.findings == [] and result.traffic.judged == 1 and result.exit_code == 0, result.headline


def _http10(url, extra=b""):
    """A POST /v1/sending as an HTTP/1.0 client sends it (curl -0, ab); the answer's head and body as it arrives,
    read to the connection's end."""
    host, port = url.split("://")[1].rsplit(":", 1)
    body = json.dumps(VALID).encode()
    request = (b"POST /v1/sending HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nAuthorization: "
               + AUTH["Authorization"].encode() + b"\r\nContent-Length: %d\r\n" % len(body) + extra + b"\r\n" + body)
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        conn.sendall(request)
        received = b"".join(iter(lambda: conn.recv(65536), b""))
    head, _, answer = received.partition(b"\r\n\r\n")
    return head.lower(), answer


@pytest.mark.e2e
@pytest.mark.parametrize("stack", STACKS)
@pytest.mark.parametrize("framing", ["none", "chunked"])
def test_an_http10_clients_answer_framed_by_the_server_is_never_judged_as_sent(stack, framing):
    """M1 F8 (the middleware's half): an app streaming its answer without a length (StreamingResponse) to an HTTP/1.0
    client: uvicorn's httptools protocol sends it chunked, which HTTP/1.0 has not (the client reads the chunk framing
    as the body); h11 ends it with the connection. The middleware cannot tell which wrote it: it passes unjudged."""
    extra = [(b"transfer-encoding", b"chunked")] if framing == "chunked" else []
    middleware = ContractMiddleware(_answering(extra, streamed=True))
    with _on_stack(middleware, stack) as url:
        head, answer = _http10(url)
    # the premise: httptools chunks it (the client reads `5f\r\n{...` as the body), h11 ends it with the connection
    assert (answer == ANSWER, b"transfer-encoding: chunked" in head) == ((True, False) if stack == "h11" else (False, True))
    result = middleware.result()
    assert result.findings == [] and result.traffic.unjudged == 1 and result.traffic.judged == 0
    assert any("HTTP/1.0 client was answered without a Content-Length" in note for note in result.traffic.notes)
    assert result.exit_code == 3  # no green verdict rests on it


@pytest.mark.parametrize("how", ["ends-mid-answer", "raises-mid-answer"])
def test_an_http10_clients_answer_the_app_never_finished_is_still_the_apps_no_server_error(how):
    async def app(scope, receive, send):
        await _read_all(receive)
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": ANSWER[:10], "more_body": True})
        if how == "raises-mid-answer":
            raise RuntimeError("boom")

    middleware, _ = _run(app, _body(), scope={**SCOPE, "http_version": "1.0"})
    result = middleware.result()
    assert [(f.rule, f.broken_by) for f in result.findings] == [("no-server-error", "server")], result.headline


@pytest.mark.e2e
@pytest.mark.parametrize("stack", STACKS)
def test_an_http10_clients_answer_with_a_content_length_is_judged(stack):
    middleware = ContractMiddleware(_answering([(b"content-length", b"%d" % N)], streamed=True))
    with _on_stack(middleware, stack) as url:
        head, answer = _http10(url)
    assert answer == ANSWER and b"content-length: %d" % N in head
    result = middleware.result()
    assert result.findings == [] and result.traffic.judged == 1 and result.exit_code == 0, result.headline


# --- pass R2: no send judged is no verdict; on_violation outside judging ---------------------------------------------

WRONG_ENVELOPE = json.dumps({"success": True}).encode()  # no `data`: envelope-consistent, the app's break


async def _wrong_envelope(scope, receive, send):
    await _read_all(receive)
    await _answer(send, WRONG_ENVELOPE)


def test_a_middleware_that_judged_no_send_gives_no_verdict():
    """Pass R2, F4: a middleware no send reached (wrapped around the wrong app, tests that never send) had verdict
    "passed", exit 0 ("NO VIOLATION OBSERVED ... in 0 judged exchange(s)"): a CI gate on its conformance.json was
    green on nothing. No send judged is no verdict on every way in: INCOMPLETE, exit 3, "nothing to judge"."""
    async def app(scope, receive, send):
        pass

    result = ContractMiddleware(app).result()
    assert (result.verdict, result.exit_code) == ("incomplete", 3), result.headline
    assert "nothing to judge" in result.headline and "NO VIOLATION" not in result.headline
    other, raised = _run(_wrong_envelope, _body(), scope={**SCOPE, "path": "/health", "raw_path": b"/health"})
    assert raised is None and other.result().exit_code == 3  # a request to another path is no send judged either
    judged, raised = _run(lambda scope, receive, send: _answer(send), _body(), scope=SCOPE)
    assert raised is None
    assert judged.result().traffic.judged == 1  # one send judged in full: the verdict is earned again


def _violating_sends(wrapped, count):
    for _ in range(count):
        _drive(wrapped, VALID)
    return wrapped.result()


@pytest.mark.parametrize("raise_", [AssertionError, pytest.fail.Exception, KeyboardInterrupt], ids=lambda e: e.__name__)
def test_an_on_violation_callback_that_raises_changes_no_count_and_never_stops_judging(raise_):
    """Pass R2, F6: on_violation ran on the judge's worker inside judging: an Exception it raised had its exchange
    counted twice (2 sends: exchanges=3, one "unjudged"); pytest.fail (a BaseException) killed the worker, and every
    later read (`result()`, `findings`, the lifespan's report) hung for ever. Now it is called after judging, and
    whatever it raises is noted, the counts unchanged."""
    told = []

    def callback(line):
        told.append(line)
        raise raise_(line)

    result = _violating_sends(ContractMiddleware(_wrong_envelope, on_violation=callback), 2)
    assert (result.traffic.exchanges, result.traffic.judged, result.traffic.unjudged) == (2, 2, 0)
    assert [(f.rule, f.broken_by, f.occurrences) for f in result.findings] == [("envelope-consistent", "server", 2)]
    assert len(told) == 1 and result.exit_code == 1
    assert any(f"on_violation callback raised {raise_.__name__}" in note for note in result.traffic.notes)


def test_an_on_violation_callback_may_read_the_middleware():
    """Pass R2, F6: a callback reading `mw.findings` or `mw.result()` deadlocked the worker (it waited on itself, or on
    the lock it held), and `result()` never returned. It reads what is judged so far."""
    seen = []
    wrapped = None

    def callback(line):
        seen.append(([f.rule for f in wrapped.findings], wrapped.result().exit_code))

    wrapped = ContractMiddleware(_wrong_envelope, on_violation=callback)
    result = _violating_sends(wrapped, 3)
    assert seen == [(["envelope-consistent"], 1)]
    assert result.traffic.judged == 3 and result.findings[0].occurrences == 3
    assert not [note for note in result.traffic.notes if "on_violation" in note]


def test_on_violation_is_told_the_first_break_of_each_rule_by_each_party():
    """Pass R2, F6 (its neighbour): the docs promised "one line per violation"; it is, and is now said to be, one line
    the first time each rule is broken by each party (the findings count every time)."""
    told = []
    result = _violating_sends(ContractMiddleware(_wrong_envelope, on_violation=told.append), 3)
    assert len(told) == 1 and told[0].startswith("✗ server broke envelope-consistent")
    assert result.findings[0].occurrences == 3
    from pathlib import Path

    docs = (Path(__file__).parents[1] / "docs" / "traffic.md").read_text(encoding="utf-8")
    assert "one redacted line per violation" not in docs and "called once per rule and party" in docs


def test_reading_never_waits_on_a_judging_worker_that_is_gone():
    """Pass R2, F6: `settle` waited for the worker's count to reach 0, for ever once the worker was gone. What a gone
    worker left waiting is counted unjudged (no green verdict), and readers return."""
    wrapped = ContractMiddleware(_wrong_envelope)
    judge = wrapped.judge

    judge._judge_batches = lambda: None  # the worker's thread ends (whatever ended it)
    _drive(wrapped, VALID)
    result = wrapped.result()
    assert (result.traffic.exchanges, result.traffic.unjudged, result.exit_code) == (1, 1, 3)
    assert any("judging stopped" in note for note in result.traffic.notes)
    del judge._judge_batches  # a new worker judges the next send
    _drive(wrapped, VALID)
    assert wrapped.result().traffic.judged == 1


@pytest.mark.parametrize("chunks, judged", [(3, False), (1, True)], ids=["1.5 MiB, unkept", "512 KiB"])
def test_an_apps_413_to_a_body_past_what_front_ends_allow_is_not_blamed(chunks, judged):
    """Pass R2, F8: the middleware promises "the app's own limit, and its 413, work as without the middleware": they
    worked, and a 413 to a send over 1 MiB (the size nginx refuses by default, before any app) was blamed on the app
    (status-documented). Past what front ends commonly allow, the status is not judged (judged in part: no verdict),
    also for a body sent chunked and kept unkept by the middleware; a 413 to a smaller body stays judged."""
    part = b"x" * (512 << 10)
    messages = [_body(RAW_VALID[:-1] + b', "html": "', more=True)]
    messages += [_body(part, more=True) for _ in range(chunks)] + [_body(b'"}')]

    async def app(scope, receive, send):
        await _read_all(receive)
        await send({"type": "http.response.start", "status": 413, "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": b'{"success": false, "data": null, "error": "too large"}'})

    wrapped, raised = _run(app, *messages)
    assert raised is None
    result = wrapped.result()
    if judged:
        assert [f.rule for f in result.findings] == ["status-documented"] and result.exit_code == 1
    else:
        assert (result.findings, result.exit_code, result.traffic.partly_judged) == ([], 3, 1)
        assert result.rule("status-documented").failed == 0


# --- pass R2: the verdict is what the client read (F1, F3, F5, F7) -------------------------------------------------------

def _whole_by_length(after, *, body=ANSWER, clock=None):
    """An app answering with a Content-Length and its whole body in a message saying more comes, then doing `after`."""
    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        await _read_all(receive)
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", b"%d" % N)]})
        await send({"type": "http.response.body", "body": body, "more_body": True})
        if after == "raises":  # a StreamingResponse generator's cleanup that fails after its last yield
            raise RuntimeError("cleanup failed")
        if after in ("works-then-ends", "ends-soon"):  # an audit write after the last yield, then the last (empty) message
            clock.now += 50 if after == "works-then-ends" else 0.5
            await send({"type": "http.response.body", "body": b""})
        if after == "hears-the-client-leave":  # the client has it all and goes: the app is told, and stops
            assert (await receive())["type"] == "http.disconnect"
    return app


@pytest.mark.parametrize("after", ["raises", "returns", "works-then-ends", "hears-the-client-leave", "ends-soon"])
def test_pass_r2_f1_an_answer_whole_by_its_content_length_is_complete_whatever_the_app_does_after(fake_time, after):
    """Pass R2, F1: a client reads an answer framed by its Content-Length as whole once that many bytes came; the
    middleware waited for the app's last message: it blamed the app (no-server-error, responds-in-time for the work
    after) or left the exchange unjudged once the client left with the whole answer. Never blamed; and (Pass S2, F1)
    never green either where the app's last message came late or never (a client reading to it, behind GZipMiddleware
    or in process, waited or got no whole answer): judged in part, unless the last message came within the timeout."""
    middleware, raised = _run(_whole_by_length(after, clock=fake_time), _body(), timeout=1.0)
    assert (type(raised) if raised else None) is (RuntimeError if after == "raises" else None)
    result = middleware.result()
    assert result.findings == [] and result.traffic.judged == 1, result.headline
    if after == "ends-soon":
        assert result.exit_code == 0 and result.rule("responds-in-time").status == Status.PASSED
        return
    assert (result.exit_code, result.traffic.partly_judged) == (3, 1), result.headline
    assert result.rule("responds-in-time").passed == 0 and result.rule("responds-in-time").failed == 0
    opened = {"no-server-error", "responds-in-time"} if after != "works-then-ends" else {"responds-in-time"}
    for rule in ("no-server-error", "responds-in-time"):
        assert (result.rule(rule).passed == 0) is (rule in opened) and result.rule(rule).failed == 0
    assert any("whole by its Content-Length" in note for note in result.traffic.notes)
    if after == "raises":
        assert any("RuntimeError after its answer was complete" in note for note in result.traffic.notes)


@pytest.mark.parametrize("body", [ANSWER[:-5], ANSWER + b"  "], ids=["short-then-ends", "past-its-length-in-one-message"])
def test_pass_r2_f1_an_answer_short_of_or_past_its_content_length_is_still_the_apps_no_server_error(body):
    """Pass R2, F1, the other side: an answer whose Content-Length is never reached, or is passed inside one message
    (both uvicorn stacks refuse that message whole: the client reads a head and no body), is never green."""
    middleware, _ = _run(_whole_by_length("returns", body=body), _body())
    result = middleware.result()
    assert [(f.rule, f.broken_by) for f in result.findings] == [("no-server-error", "server")], result.headline


@pytest.mark.e2e
@pytest.mark.parametrize("stack", STACKS)
@pytest.mark.parametrize("after", ["raises", "returns", "past-its-length"])
def test_pass_r2_f1_on_either_uvicorn_stack_an_answer_whole_by_its_length_is_judged_as_the_client_read_it(stack, after):
    middleware = ContractMiddleware(_whole_by_length(after, body=ANSWER + b"  " if after == "past-its-length" else ANSWER))
    with _on_stack(middleware, stack) as url, httpx.Client(base_url=url) as client:
        try:
            read = client.post("/v1/sending", json=VALID, headers=AUTH).content
        except httpx.HTTPError:
            read = None
    result = middleware.result()
    if after == "past-its-length":  # uvicorn refuses the message whole: the client reads a head and no body
        assert read is None
        assert [(f.rule, f.broken_by) for f in result.findings] == [("no-server-error", "server")], result.headline
    else:  # (the app never sent its last message: a client reading to it has no whole answer, Pass S2, F1)
        assert read == ANSWER
        assert result.findings == [] and result.traffic.judged == 1 and result.exit_code == 3, result.headline
        assert result.rule("no-server-error").passed == 0 and result.traffic.partly_judged == 1


def _raw_send(url, head, body):
    """One request as these head lines and body bytes on a fresh connection; the status line that came back."""
    host, port = url.split("://")[1].rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        conn.sendall(b"POST /v1/sending HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nAuthorization: "
                     + AUTH["Authorization"].encode() + b"\r\n" + head + b"\r\n" + body)
        received = b""
        while b"\r\n" not in received and (chunk := conn.recv(65536)):
            received += chunk
    return received.split(b"\r\n", 1)[0]


@pytest.mark.e2e
@pytest.mark.parametrize("stack", STACKS)
@pytest.mark.parametrize("how", ["upgrade-h2c", "transfer-encoding-gzip-chunked"])
def test_pass_r2_f3_a_body_the_server_stack_did_not_hand_on_as_sent_is_never_the_clients_fault(stack, how):
    """Pass R2, F3: `curl --http2` over http sends Upgrade: h2c; uvicorn's httptools protocol runs the app with no body,
    the app answered 400 and the client was blamed ("the body is empty"); with `Transfer-Encoding: gzip, chunked` it
    hands the app the gzip bytes. Such a send passes unjudged (counted, said) on either stack."""
    import gzip

    seen = []
    app = Starlette(routes=[Route("/v1/sending", lax_provider(seen), methods=["POST"])])
    middleware = ContractMiddleware(app)
    raw = json.dumps(VALID).encode()
    with _on_stack(middleware, stack) as url:
        if how == "upgrade-h2c":
            status = _raw_send(url, b"Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n"
                               b"Content-Length: %d\r\n" % len(raw), raw)
        else:
            coded = gzip.compress(raw, mtime=0)
            status = _raw_send(url, b"Transfer-Encoding: gzip, chunked\r\n", b"%x\r\n%s\r\n0\r\n\r\n" % (len(coded), coded))
    result = middleware.result()
    assert result.findings == [], result.headline
    if how == "transfer-encoding-gzip-chunked" and stack == "h11":  # the premise: h11 refuses it, the app never sees it
        assert status.startswith(b"HTTP/1.1 400") and seen == [] and result.traffic.exchanges == 0
        return
    # the premise: httptools hands the app no body (upgrade) or the gzip bytes; h11 reads the upgrade's body
    assert seen == ([raw] if stack == "h11" else [b""] if how == "upgrade-h2c" else [gzip.compress(raw, mtime=0)])
    assert result.traffic.unjudged == 1 and result.traffic.judged == 0 and result.exit_code == 3
    word = "asks for an Upgrade ('h2c')" if how == "upgrade-h2c" else "Transfer-Encoding other than chunked alone"
    assert any(word in note and "not the client's doing" in note for note in result.traffic.notes), result.traffic.notes


@pytest.mark.parametrize("length", [b"500", b"20"])
def test_pass_r2_f3_a_body_of_another_length_than_its_content_length_passes_unjudged(length):
    seen = []
    app = Starlette(routes=[Route("/v1/sending", lax_provider(seen), methods=["POST"])])
    middleware, raised = _run(app, _body(), scope={**SCOPE, "headers": [*SCOPE["headers"], (b"content-length", length)]})
    assert raised is None and seen == [RAW_VALID]  # the app got what the server handed it, as without the middleware
    result = middleware.result()
    assert result.findings == [] and result.traffic.unjudged == 1 and result.exit_code == 3
    assert any(f"{len(RAW_VALID):,} bytes, where its Content-Length says '{length.decode()}'" in note
               for note in result.traffic.notes)


def test_pass_r2_f5_time_in_an_outer_send_before_any_body_byte_went_out_is_never_passed(fake_time):
    """Pass R2, F5: the whole time inside `send` was taken for the client's; an outer middleware signing the answer's
    start for 5 s hid a slow answer (green). It is never passed; nor blamed (pass T2, F1: a server's flow control
    holds that `send` too, which does not show apart): responds-in-time judged in part."""
    async def signing(message):
        if message["type"] == "http.response.start":
            fake_time.now += 5

    async def app(scope, receive, send):
        await _read_all(receive)
        await _answer(send)

    middleware, raised = _run(app, _body(), send=signing, timeout=1.0)
    assert raised is None
    result = middleware.result()
    assert result.findings == [] and result.exit_code == 3 and result.traffic.partly_judged == 1, result.headline
    assert result.rule("responds-in-time").passed == 0


def test_pass_r2_f7_a_file_answer_under_a_server_offering_pathsend_is_judged_on_its_body(tmp_path):
    """Pass R2, F7: a server offering `http.response.pathsend` (Granian) or `zerocopysend`: Starlette's FileResponse
    answered with the file, which the middleware never read ("ended without a complete response"). The app sees the
    scope without them and sends its body as messages; the server's scope is left as it was."""
    from starlette.responses import FileResponse

    (tmp_path / "sent.json").write_bytes(ANSWER)

    async def answer(request):
        await request.body()
        return FileResponse(tmp_path / "sent.json", media_type="application/json")

    app = Starlette(routes=[Route("/v1/sending", answer, methods=["POST"])])
    extensions = {"http.response.pathsend": {}, "http.response.zerocopysend": {}, "http.response.trailers": {}}
    scope = {**SCOPE, "extensions": extensions, "asgi": {"version": "3.0", "spec_version": "2.4"}}
    sent = []

    async def server(message):
        sent.append(message)

    middleware, raised = _run(app, _body(), send=server, scope=scope)
    assert raised is None and scope["extensions"] is extensions and len(extensions) == 3
    assert [m["type"] for m in sent] == ["http.response.start", "http.response.body"] and sent[1]["body"] == ANSWER
    result = middleware.result()
    assert result.findings == [] and result.traffic.judged == 1 and result.exit_code == 0, result.headline


@pytest.mark.parametrize("headers, received, said", [
    ([(b"content-length", b"95")], 95, None),
    ([(b"content-length", b" 95, 95")], 95, None),
    ([(b"transfer-encoding", b"chunked"), (b"content-length", b"5")], 95, None),  # chunked frames it (RFC 9112 §6.3)
    ([(b"upgrade", b"h2c"), (b"connection", b"keep-alive")], 0, None),  # an Upgrade the Connection does not name: none
    ([(b"content-length", b"95")], None, None),  # a body read past the cap: its length is not known
    ([(b"Connection", b"keep-alive, UPGRADE"), (b"Upgrade", b"h2c")], 95, "asks for an Upgrade ('h2c')"),
    ([(b"transfer-encoding", b"gzip, chunked")], 40, "Transfer-Encoding other than chunked alone"),
    ([(b"content-length", b"9" * 6000)], 95, "where its Content-Length says (6,000 bytes, not shown)"),  # compared without an int() of it
    ([(b"content-length", b"095")], 94, "94 bytes, where its Content-Length says '095'"),
])
def test_pass_r2_f3_the_request_framing_reading(headers, received, said):
    from migma_contract.core.fields import request_framing_unread

    why = request_framing_unread(headers, received)
    assert (why is None) if said is None else (why is not None and said in why), why


# --- pass S2: the verdict is what the client read, whoever frames the answer (F1), an unkept body's size (F3) and time (F4)

def _gzipped_streaming(after, clock):
    """A Starlette app: a StreamingResponse with a Content-Length whose generator, after its last yield, works 50 s (the
    fake clock) or raises; ContractMiddleware inside GZipMiddleware, which drops the Content-Length and streams the
    answer chunked until the app's last message."""
    from starlette.middleware.gzip import GZipMiddleware
    from starlette.responses import StreamingResponse

    async def chunks():
        yield ANSWER
        if after == "works-then-ends":
            clock.now += 50
        elif after == "raises":
            raise RuntimeError("cleanup failed")

    async def endpoint(request):
        await request.body()
        return StreamingResponse(chunks(), media_type="application/json", headers={"content-length": str(len(ANSWER))})

    app = Starlette(routes=[Route("/v1/sending", endpoint, methods=["POST"])])
    app.add_middleware(ContractMiddleware, timeout=1.0)
    app.add_middleware(GZipMiddleware)  # added last: outside ContractMiddleware
    return app


@pytest.mark.e2e
@pytest.mark.parametrize("stack", STACKS)
@pytest.mark.parametrize("after", ["raises", "works-then-ends"])
def test_pass_s2_f1_behind_an_outer_gzip_an_app_late_or_failing_after_its_length_is_never_green(fake_time, stack, after):
    """Pass S2, F1: the answer's end was taken at its Content-Length; GZipMiddleware outside the middleware ends it at the
    app's last message: the client got no whole answer (the app raised) or waited for the app's work, and the exchange
    was green. Whoever frames the answer does not show inside: judged in part, never passed, never blamed."""
    app = _gzipped_streaming(after, fake_time)
    with _on_stack(app, stack) as url, httpx.Client(base_url=url) as client:
        try:
            read = client.post("/v1/sending", json=VALID, headers=AUTH)
        except httpx.HTTPError:
            read = None
    assert (read is None) is (after == "raises")
    assert read is None or (read.headers["content-encoding"], read.content) == ("gzip", ANSWER)
    result = ContractMiddleware.of(app).result()
    assert result.findings == [] and result.exit_code == 3 and result.traffic.partly_judged == 1, result.headline
    assert result.rule("responds-in-time").passed == 0
    assert (result.rule("no-server-error").passed == 0) is (after == "raises")


@pytest.mark.parametrize("after", ["raises", "works-then-ends"])
def test_pass_s2_f1_in_process_an_app_late_or_failing_after_its_length_is_never_green(fake_time, after):
    """Pass S2, F1, in process: httpx.ASGITransport (and Starlette's TestClient) end the answer at the app's last
    message too; the test client waited for the app, or read the app's error, and the exchange was green."""
    import anyio

    app = _whole_by_length(after, clock=fake_time)
    middleware = ContractMiddleware(app, timeout=1.0)

    async def served():
        transport = httpx.ASGITransport(app=middleware, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
            return await client.post("/v1/sending", json=VALID, headers=AUTH)

    assert anyio.run(served).content == ANSWER
    result = middleware.result()
    assert result.findings == [] and result.exit_code == 3 and result.traffic.partly_judged == 1, result.headline
    assert result.rule("responds-in-time").passed == 0


def _too_large_app(reads_all):
    """An app with a limit of its own (1.5 MB), answering 413 past it: having read the whole body, or at once."""
    async def app(scope, receive, send):
        seen = 0
        while True:
            message = await receive()
            seen += len(message.get("body", b""))
            if not message.get("more_body") or (not reads_all and seen > 1_500_000):
                break
        await send({"type": "http.response.start", "status": 413, "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": b'{"success": false, "data": null, "error": "too large"}'})
    return app


@pytest.mark.parametrize("reads_all, length", [(True, False), (False, False), (False, True)],
                         ids=["the-app-read-it-all", "unread-rest-no-length", "unread-rest-content-length"])
def test_pass_s2_f3_a_413_to_a_large_body_is_not_blamed_whatever_the_middlewares_cap(reads_all, length):
    """Pass S2, F3: with `max_request_bytes` below 1 MiB, a 413 to a 2 MB body was blamed (status-documented): the size
    judged was what the middleware read ahead (its cap and a chunk), not the body's. Now the bytes the app was handed,
    its Content-Length, or, neither showing the body's end, a size not known, which never reads as a small one."""
    part = b"x" * (256 << 10)
    messages = [_body(RAW_VALID[:-1] + b', "html": "', more=True)] + [_body(part, more=True) for _ in range(8)]
    messages.append(_body(b'"}'))
    scope = SCOPE
    if length:
        size = sum(len(m["body"]) for m in messages)
        scope = {**SCOPE, "headers": [*SCOPE["headers"], (b"content-length", str(size).encode())]}
    wrapped, raised = _run(_too_large_app(reads_all), *messages, scope=scope, max_request_bytes=64 << 10)
    assert raised is None
    result = wrapped.result()
    assert (result.findings, result.exit_code, result.traffic.partly_judged) == ([], 3, 1), result.headline
    assert result.rule("status-documented").failed == 0


def test_pass_s2_f3_a_413_to_an_unkept_body_under_what_front_ends_allow_is_still_judged():
    """Pass S2, F3, the other side: a body past the middleware's cap whose end showed is as long as the app was handed;
    a 413 to 100 KB (well under what front ends allow) is the app's answer, judged."""
    messages = [_body(RAW_VALID[:-1] + b', "html": "', more=True), _body(b"x" * 100_000, more=True), _body(b'"}')]
    wrapped, _ = _run(_too_large_app(True), *messages, max_request_bytes=4 << 10)
    assert [f.rule for f in wrapped.result().findings] == ["status-documented"]


def _reads_then_works(clock, *, head_first=False):
    """An app reading the first part of its body, working 50 s (the fake clock), then reading on and answering (or,
    `head_first`, sending its answer's head before it reads on)."""
    async def app(scope, receive, send):
        await receive()
        clock.now += 50
        if head_first:
            await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
        await _read_all(receive)
        if not head_first:
            await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": ACCEPTED})
    return app


def test_pass_s2_f4_an_apps_time_before_it_reads_the_rest_of_an_unkept_body_is_its_own(fake_time):
    """Pass S2, F4: past the cap, the clock restarted at every later body message; uvicorn reads the rest of the body
    only when the app asks, so the app's own work before it asked was excused: responds-in-time passed for an answer
    the client got after 50 s. Only the time the server waits on the client's bytes is not the app's."""
    messages = [_body(RAW_VALID[:10], more=True), _body(RAW_VALID[10:20], more=True), _body(RAW_VALID[20:])]
    wrapped, raised = _run(_reads_then_works(fake_time), *messages, timeout=1.0, max_request_bytes=4)
    assert raised is None
    result = wrapped.result()
    assert [(f.rule, f.broken_by) for f in result.findings] == [("responds-in-time", "server")], result.headline


def test_pass_s2_f4_an_app_reading_its_body_after_its_answer_started_is_not_timed_green(fake_time):
    """Pass S2, F4: once the answer started, a wait on the client's bytes may overlap the app's own work (Starlette's
    StreamingResponse listens for the client while its generator works): responds-in-time judged in part."""
    messages = [_body(RAW_VALID[:10], more=True), _body(RAW_VALID[10:])]
    middleware, raised = _run(_reads_then_works(fake_time, head_first=True), *messages, timeout=100.0, max_request_bytes=4)
    assert raised is None
    result = middleware.result()
    assert result.findings == [] and result.exit_code == 3, result.headline
    assert result.rule("responds-in-time").passed == 0 and result.traffic.partly_judged == 1


@pytest.mark.e2e
@pytest.mark.parametrize("stack", STACKS)
def test_pass_s2_f4_on_either_uvicorn_stack_an_apps_work_before_reading_on_is_timed(fake_time, stack):
    middleware = ContractMiddleware(_reads_then_works(fake_time), timeout=1.0, max_request_bytes=64 << 10)
    body = json.dumps({**VALID, "html": "x" * 3_000_000}).encode()
    with _on_stack(middleware, stack) as url, httpx.Client(base_url=url) as client:
        assert client.post("/v1/sending", content=body, headers={**AUTH, "content-type": "application/json"}).status_code == 200
    result = middleware.result()
    assert result.rule("responds-in-time").failed == 1 and result.rule("responds-in-time").passed == 0, result.headline


# --- pass T2: time held in `send`, HTTP/2 framing, the app's own cancellation, Expect: 100-continue --------------------------


@pytest.mark.parametrize("held_in", ["start", "empty-body-before-any-byte"])
def test_pass_t2_f1_time_a_server_holds_a_send_before_any_body_byte_is_never_the_apps(fake_time, held_in):
    """Pass T2, F1: uvicorn drains before every message, the start too: behind a large answer a pipelining client does
    not read, the next answer's start `send` waited 53-69 s, all of it counted as the app's: a correct app blamed for
    responds-in-time. Time inside any `send` is never the app's; where it does not show apart from an outer middleware's
    work (before any body byte), responds-in-time is judged in part, never blamed."""
    async def draining(message):  # the server's flow control: the client reads an earlier answer for 60 s
        if (held_in == "start") == (message["type"] == "http.response.start") and not message.get("body"):
            fake_time.now += 60

    async def app(scope, receive, send):
        await _read_all(receive)
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
        if held_in != "start":
            await send({"type": "http.response.body", "body": b"", "more_body": True})
        await send({"type": "http.response.body", "body": ACCEPTED})

    middleware, raised = _run(app, _body(), send=draining, timeout=2.0)
    assert raised is None
    result = middleware.result()
    assert result.findings == [] and result.exit_code == 3 and result.traffic.partly_judged == 1, result.headline
    assert result.rule("responds-in-time").passed == 0
    assert any("inside the server's `send` of its answer's start" in note for note in result.traffic.notes)


def test_pass_t2_f1_an_app_slow_on_its_own_is_still_blamed_for_its_own_time_alone(fake_time):
    """Pass T2, F1, the other side: an app whose own work is past the timeout is blamed, for its own time (the 60 s
    its server held the start's `send` is not in the figure)."""
    async def draining(message):
        if message["type"] == "http.response.start":
            fake_time.now += 60

    async def app(scope, receive, send):
        await _read_all(receive)
        fake_time.now += 5
        await _answer(send)

    middleware, raised = _run(app, _body(), send=draining, timeout=2.0)
    assert raised is None
    result = middleware.result()
    assert [(f.rule, f.broken_by) for f in result.findings] == [("responds-in-time", "server")], result.headline
    assert "answered after 5.00 s" in result.findings[0].actual


@pytest.mark.e2e
@pytest.mark.parametrize("stack", STACKS)
def test_pass_t2_f1_a_pipelining_client_reading_nothing_never_gets_uvicorns_app_blamed(fake_time, stack):
    """Pass T2, F1, on uvicorn: a large answer the client does not read, a send pipelined behind it: uvicorn holds the
    send's start in `send` until the client reads (the fake clock moves a minute there, the app's own time is none)."""
    held = threading.Event()
    big = b"x" * (16 << 20)

    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        await _read_all(receive)
        if scope["path"] == "/export":  # any large answer on the same app
            await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"%d" % len(big))]})
            await send({"type": "http.response.body", "body": big})
            return
        await _answer(send, headers=((b"content-type", b"application/json"), (b"content-length", b"%d" % len(ACCEPTED))))

    middleware = ContractMiddleware(app, timeout=2.0)

    async def server_side(scope, receive, send):  # uvicorn's `send`, as the middleware calls it
        async def sending(message):
            if message["type"] == "http.response.start" and scope["path"] == "/v1/sending":
                held.set()  # the middleware is inside the start's `send` now; uvicorn drains before writing it
            await send(message)
        await middleware(scope, receive, sending)

    head = (b"POST /v1/sending HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: %s\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n" % (AUTH["Authorization"].encode(), len(RAW_VALID)))
    with _on_stack(server_side, stack) as url, socket.create_connection((httpx.URL(url).host, httpx.URL(url).port)) as client:
        client.sendall(b"GET /export HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" + head + RAW_VALID)
        assert held.wait(60)
        fake_time.now += 60  # the client reads nothing for a minute
        seen = b""
        while not seen.endswith(ACCEPTED):
            chunk = client.recv(1 << 20)
            assert chunk
            seen = seen[-len(ACCEPTED):] + chunk
    result = middleware.result()
    assert result.rule("responds-in-time").failed == 0 and result.findings == [], result.headline
    assert result.traffic.partly_judged == 1


H2 = {**SCOPE, "http_version": "2"}


@pytest.mark.parametrize("length", [b"9999", b"5", b"abc", b"179, 180", (b"179", b"180")],
                         ids=["longer", "shorter", "not-a-number", "a-list", "two-that-disagree"])
def test_pass_t2_f6_over_http2_a_content_length_the_body_does_not_match_is_the_apps_no_server_error(length):
    """Pass T2, F6: over HTTP/2 (Hypercorn) an answer whose content-length is not its body's, or not one number, was
    green; h2 (httpx) raises on every one (RFC 9113 §8.1.1: malformed): no client read it."""
    lengths = length if isinstance(length, tuple) else (length,)
    middleware, raised = _run(_answering([(b"content-length", value) for value in lengths]), _body(), scope=H2)
    assert raised is None
    result = middleware.result()
    assert [(f.rule, f.broken_by) for f in result.findings] == [("no-server-error", "server")], result.headline
    assert "no client could read the app's answer" in result.findings[0].actual
    assert "HTTP/2" in result.findings[0].actual


@pytest.mark.parametrize("streamed", [False, True])
def test_pass_t2_f6_over_http2_an_answer_its_content_length_frames_is_judged_on_its_answer(streamed):
    middleware, raised = _run(_answering([(b"content-length", b"%d" % len(ANSWER))], streamed=streamed), _body(), scope=H2)
    assert raised is None
    result = middleware.result()
    assert result.findings == [] and result.traffic.partly_judged == 0 and result.exit_code == 0, result.headline


def test_pass_t2_f7_over_http2_a_204_with_body_bytes_is_judged_as_its_client_reads_it():
    """Pass T2, F7: over HTTP/2 a 204 with body bytes was 'no client could read the app's answer' (HTTP/1's reading)
    while httpx read a clean 204 from Hypercorn: HTTP/2 has no content on a 204; judged as the status alone, noted."""
    async def app(scope, receive, send):
        await _read_all(receive)
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b"surplus"})

    middleware, raised = _run(app, _body(), scope=H2)
    assert raised is None
    result = middleware.result()
    assert "no-server-error" not in [f.rule for f in result.findings], result.headline
    assert result.rule("no-server-error").passed == 1
    assert any("over HTTP/2 has status 204" in note and "7 body bytes" in note for note in result.traffic.notes)


def test_pass_t2_f2_an_apps_own_cancellation_escaping_is_its_no_server_error():
    """Pass T2, F2: an app awaiting an inner task it cancelled itself lets the CancelledError out (its server answers
    500): it was read as 'the client went away', unjudged. No one cancelled the app: its failure, as any exception."""
    import asyncio

    async def app(scope, receive, send):
        await _read_all(receive)
        inner = asyncio.ensure_future(asyncio.sleep(10))
        await asyncio.sleep(0)
        inner.cancel()
        await inner

    middleware, raised = _run(app, _body())
    assert type(raised).__name__ == "CancelledError"  # out of the app as without the middleware
    result = middleware.result()
    assert [(f.rule, f.broken_by) for f in result.findings] == [("no-server-error", "server")], result.headline
    assert not any("client went away" in note for note in result.traffic.notes)


def test_pass_t2_f2_under_trio_the_server_cancelling_the_app_leaves_it_unjudged():
    """Pass T2, F2, the other side under trio (Hypercorn's trio worker): its `Cancelled` escapes the app only from a
    scope outside it, the server's: not the app's failure (it was 'ended without a complete response')."""
    pytest.importorskip("trio")
    import anyio

    async def app(scope, receive, send):
        await _read_all(receive)
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
        await anyio.sleep_forever()

    middleware, queue, server = ContractMiddleware(app), [_body()], []

    async def receive():
        return queue.pop(0) if queue else {"type": "http.disconnect"}

    async def send(message):
        server[0].cancel_scope.cancel()

    async def serving():
        async with anyio.create_task_group() as group:
            server.append(group)
            group.start_soon(middleware, dict(SCOPE), receive, send)

    anyio.run(serving, backend="trio")
    result = middleware.result()
    assert result.findings == [] and result.traffic.unjudged == 1, result.headline


def _head_only_refusal():
    async def app(scope, receive, send):  # refuses from the head alone: it never reads the body
        await send({"type": "http.response.start", "status": 401, "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": b'{"success": false, "data": null, "error": "unauthorized"}'})
    return app


def test_pass_t2_f5_an_expect_100_continue_send_refused_from_the_head_is_never_read_ahead():
    """Pass T2, F5: the body was read ahead before the app ran: under `Expect: 100-continue` the first `receive` makes
    the server send `100 Continue` (uvicorn; Hypercorn sends it at once), so an app answering 401 from the head alone had its client
    told to upload the body, and the 401 waited on it. Now the body is read as the app reads it: not at all here."""
    asked = []

    async def receive():
        asked.append(1)  # uvicorn sends `100 Continue` here
        return _body()

    scope = {**SCOPE, "headers": [*SCOPE["headers"], (b"expect", b"100-continue"), (b"content-length", b"%d" % len(RAW_VALID))]}
    import anyio

    middleware = ContractMiddleware(_head_only_refusal())
    sent = []

    async def send(message):
        sent.append(message["type"])

    anyio.run(middleware, dict(scope), receive, send)
    assert asked == [] and sent == ["http.response.start", "http.response.body"]
    result = middleware.result()
    assert [f.broken_by for f in result.findings if f.broken_by == "client"] == [], result.headline
    assert result.traffic.partly_judged == 1 and result.exit_code != 0
    assert any("Expect: 100-continue" in note for note in result.traffic.notes)


def test_pass_t2_f5_an_expect_100_continue_send_the_app_reads_is_judged_in_full_on_what_it_read():
    """Pass T2, F5, the other side: the body read as the app read it (in parts) is judged whole, as if read ahead."""
    seen = []
    app = Starlette(routes=[Route("/v1/sending", lax_provider(seen), methods=["POST"])])
    scope = {**SCOPE, "headers": [*SCOPE["headers"], (b"expect", b"100-continue")]}
    middleware, raised = _run(app, _body(RAW_VALID[:10], more=True), _body(RAW_VALID[10:]), scope=scope)
    assert raised is None and seen == [RAW_VALID]
    result = middleware.result()
    assert result.findings == [] and result.traffic.partly_judged == 0 and result.exit_code == 0, result.headline


@pytest.mark.e2e
@pytest.mark.parametrize("stack", STACKS)
def test_pass_t2_f5_on_either_uvicorn_stack_the_clients_first_line_is_the_apps_refusal(stack):
    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        await _head_only_refusal()(scope, receive, send)

    middleware = ContractMiddleware(app)
    with _on_stack(middleware, stack) as url:
        host, port = httpx.URL(url).host, httpx.URL(url).port
        with socket.create_connection((host, port)) as client:
            client.sendall(b"POST /v1/sending HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                           b"Expect: 100-continue\r\nContent-Length: 100000\r\n\r\n")
            first = client.recv(4096).split(b"\r\n", 1)[0]
    assert first == b"HTTP/1.1 401 Unauthorized"


# --- pass U1: HTTP/2 heads h2 refuses, an exchange cut off from outside the app, a lifespan that returns, Expect ---------


@pytest.mark.parametrize("field", [(b":path", b"/x"), (b":status", b"200"), (b" :authority", b"x"), (b"", b"x")],
                         ids=["pseudo-path", "pseudo-status", "pseudo-after-whitespace", "empty-name"])
def test_pass_u1_f2_over_http2_a_head_h2_refuses_to_send_is_the_apps_no_server_error(field):
    """Pass U1, F2: over HTTP/2 (Hypercorn) an answer with a pseudo-header field never reached its client (h2 refuses
    the head, Hypercorn swallows the refusal, httpx fails 'cannot receive data before headers') but was judged green: the
    head is read as h2 reads it, and what it refuses (RFC 9113 §8.3) is a head no client reads (uvicorn's HTTP/2 refuses
    them too). A `te` other than `trailers` servers read apart: pass V1, F4."""
    middleware, raised = _run(_answering([field]), _body(), scope=H2)
    assert raised is None
    result = middleware.result()
    assert [(f.rule, f.broken_by) for f in result.findings] == [("no-server-error", "server")], result.headline
    assert "no client could read the app's answer" in result.findings[0].actual and "HTTP/2" in result.findings[0].actual


@pytest.mark.parametrize("fields", [[(b"te", b"trailers")], [(b"TE", b" Trailers ")], [(b"Content-Type", b"application/json")],
                                    [(b"connection", b"close"), (b"Keep-Alive", b"timeout=5"), (b"transfer-encoding", b"chunked"),
                                     (b"upgrade", b"h2c"), (b"proxy-connection", b"close")]],
                         ids=["te-trailers", "te-trailers-any-case", "uppercase-name", "connection-specific"])
def test_pass_u1_f2_over_http2_what_h2_sends_normalised_is_judged_as_its_client_reads_it(fields):
    """Pass U1, F2, the other side: h2 lowercases names, strips the connection-specific fields and sends `te: trailers`
    (any case): its client reads the answer, judged on it (the dropped fields noted, judged as not sent)."""
    middleware, raised = _run(_answering(fields), _body(), scope=H2)
    assert raised is None
    result = middleware.result()
    assert result.findings == [] and result.exit_code == 0, result.headline
    if fields[0][0] == b"connection":
        assert any("connection-specific" in note and "transfer-encoding" in note for note in result.traffic.notes)


def _slow(fake_time, seconds, then):
    """An app that reads its body, works `seconds` of its own time, then `then()` (awaited)."""
    async def app(scope, receive, send):
        await _read_all(receive)
        fake_time.now += seconds
        await then(receive, send)
    return app


def _cut_from_outside(make, timeout=1.0):
    """`app` in a ContractMiddleware behind an outer timeout middleware that cancels it (as `asyncio.wait_for` does) once
    it signals it is stuck, and answers 504 itself; the client is there all along. (the middleware, what went out)"""
    import asyncio

    import anyio

    out, queue, stuck = [], [_body()], []

    async def receive():
        return queue.pop(0) if queue else {"type": "http.disconnect"}

    async def send(message):
        out.append(message)

    async def outer():
        task = asyncio.ensure_future(middleware(dict(SCOPE), receive, send))
        while not stuck and not task.done():
            await asyncio.sleep(0)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await send({"type": "http.response.start", "status": 504, "headers": []})
        await send({"type": "http.response.body", "body": b"gateway timeout"})

    async def hang(receive, send):
        stuck.append(1)
        await asyncio.Event().wait()

    middleware = ContractMiddleware(make(hang), timeout=timeout)
    anyio.run(outer)
    return middleware, out


@pytest.mark.parametrize("own", [3.0, 0.5], ids=["past-the-timeout", "within-it"])
def test_pass_u1_f1_an_app_an_outer_timeout_middleware_cancels_is_not_a_client_gone(fake_time, own):
    """Pass U1, F1 (a): an outer timeout middleware (`asyncio.wait_for`, anyio's `fail_after`) cancelling an app past the
    timeout was 'the client went away before the answer was complete': unjudged, exit 3, never responds-in-time's
    breach. The app's own time past the timeout when it was cut off is its breach; within it, not judged, and never
    noted as the client leaving (no disconnect was seen)."""
    middleware, out = _cut_from_outside(lambda then: _slow(fake_time, own, then))
    assert out[0]["status"] == 504
    result = middleware.result()
    assert not any("client went away" in note for note in result.traffic.notes), result.traffic.notes
    if own > 1.0:
        assert [(f.rule, f.broken_by) for f in result.findings] == [("responds-in-time", "server")], result.headline
        assert "3.00 s" in result.findings[0].actual and result.exit_code == 1
    else:
        assert result.findings == [] and result.traffic.unjudged == 1, result.headline
        assert any("cut off by something outside it" in note for note in result.traffic.notes)


@pytest.mark.parametrize("own", [3.0, 0.5], ids=["past-the-timeout", "within-it"])
def test_pass_u1_f1_a_timeouterror_from_send_is_no_client_gone(fake_time, own):
    """Pass U1, F1 (b): an outer middleware enforcing a deadline by raising TimeoutError from `send` (an OSError, the
    ASGI word for a client gone) left the slow app unjudged as a client gone. It is a deadline outside the app: past the
    timeout its breach, within it not judged, and never no-server-error nor the client leaving."""
    async def answer(receive, send):
        await _answer(send)

    async def deadline(message):
        raise TimeoutError("deadline")

    middleware, raised = _run(_slow(fake_time, own, answer), _body(), send=deadline, timeout=1.0)
    assert type(raised) is TimeoutError  # out as without the middleware
    result = middleware.result()
    assert not any("client went away" in note for note in result.traffic.notes), result.traffic.notes
    if own > 1.0:
        assert [(f.rule, f.broken_by) for f in result.findings] == [("responds-in-time", "server")], result.headline
    else:
        assert result.findings == [] and result.traffic.unjudged == 1, result.headline


def test_pass_u1_f1_a_client_leaving_after_the_apps_own_time_passed_the_timeout_is_its_breach(fake_time):
    """Pass U1, F1 (c): a client giving up (httpx's timeout) on an app already past the timeout, which then saw the
    disconnect (Starlette's `is_disconnected`) and returned: unjudged as 'the client went away'. Its time had run out
    before the client left: responds-in-time, as the proxy's deadline blames its upstream."""
    async def checks(receive, send):
        assert (await receive())["type"] == "http.disconnect"  # (the queue is empty: the client is gone)

    middleware, raised = _run(_slow(fake_time, 3.0, checks), _body(), timeout=1.0)
    assert raised is None
    result = middleware.result()
    assert [(f.rule, f.broken_by) for f in result.findings] == [("responds-in-time", "server")], result.headline
    assert "its client went away" in result.findings[0].actual


def test_pass_u1_f1_a_client_leaving_within_the_timeout_still_leaves_it_unjudged(fake_time):
    async def checks(receive, send):
        assert (await receive())["type"] == "http.disconnect"

    middleware, raised = _run(_slow(fake_time, 0.5, checks), _body(), timeout=1.0)
    assert raised is None
    result = middleware.result()
    assert result.findings == [] and result.traffic.unjudged == 1, result.headline
    assert any("client went away" in note for note in result.traffic.notes)


def test_pass_u1_f1_under_trio_an_outer_scope_cancelling_a_late_app_is_its_breach(fake_time):
    """Pass U1, F1, its neighbour under trio (Hypercorn's trio worker): an outer `move_on_after` cancelling an app past
    the timeout was read as the client gone; it is the app's responds-in-time."""
    pytest.importorskip("trio")
    import anyio

    outer = []

    async def hang(receive, send):
        outer[0].cancel()  # (the outer scope's deadline comes now)
        await anyio.sleep_forever()

    middleware = ContractMiddleware(_slow(fake_time, 3.0, hang), timeout=1.0)
    queue = [_body()]

    async def receive():
        return queue.pop(0) if queue else {"type": "http.disconnect"}

    async def send(message):
        pass

    async def serving():
        with anyio.CancelScope() as scope:
            outer.append(scope)
            await middleware(dict(SCOPE), receive, send)

    anyio.run(serving, backend="trio")
    result = middleware.result()
    assert [(f.rule, f.broken_by) for f in result.findings] == [("responds-in-time", "server")], result.headline


def test_pass_u1_f3_a_lifespan_that_answers_its_startup_and_returns_still_gets_its_reports_written(tmp_path, monkeypatch):
    """Pass U1, F3: an app whose lifespan answers its startup and returns (nothing to clean up): uvicorn sends no shutdown
    to a finished lifespan, and the at-exit writer was registered only for a lifespan never spoken: no report was ever
    written. Its lifespan ended with no shutdown answered: the reports are written at process exit, once."""
    import anyio

    import migma_contract.asgi as asgi

    registered = []
    monkeypatch.setattr(asgi.atexit, "register", lambda *args: registered.append(args))

    async def app(scope, receive, send):
        if scope["type"] == "lifespan":
            assert (await receive())["type"] == "lifespan.startup"
            await send({"type": "lifespan.startup.complete"})
            return  # nothing to clean up: no shutdown awaited
        await _plain_app(scope, receive, send)

    middleware, sent = ContractMiddleware(app, report_dir=tmp_path), []

    async def receive():
        return {"type": "lifespan.startup"}

    async def send(message):
        sent.append(message["type"])

    anyio.run(middleware, {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}, receive, send)
    assert sent == ["lifespan.startup.complete"]
    anyio.run(_one_send(middleware))
    assert len(registered) == 1 and list(tmp_path.iterdir()) == []
    at_exit, *args = registered[0]
    at_exit(*args)
    assert sorted(p.name for p in tmp_path.iterdir()) == WRITTEN
    assert json.loads((tmp_path / "conformance.json").read_text())["traffic"]["judged"] == 1
    (tmp_path / "conformance.json").unlink()
    at_exit(*args)  # once: nothing judged since
    assert not (tmp_path / "conformance.json").exists()


def test_pass_u1_f3_a_lifespan_answering_its_shutdown_writes_there_and_nothing_again_at_exit(tmp_path, monkeypatch):
    import migma_contract.asgi as asgi

    registered = []
    monkeypatch.setattr(asgi.atexit, "register", lambda *args: registered.append(args))

    async def app(scope, receive, send):
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                await send({"type": f"{message['type']}.complete"})
                if message["type"] == "lifespan.shutdown":
                    return
        await _plain_app(scope, receive, send)

    middleware = ContractMiddleware(app, report_dir=tmp_path)
    assert _lifespan(middleware, between=_one_send(middleware)) == (["lifespan.startup.complete", "lifespan.shutdown.complete"], None)
    assert sorted(p.name for p in tmp_path.iterdir()) == WRITTEN
    [(at_exit, *args)] = registered  # (registered at the first call: a forced quit skips the shutdown, pass X3, F1)
    (tmp_path / "conformance.json").unlink()
    at_exit(*args)  # nothing seen since the shutdown wrote them: not written again
    assert not (tmp_path / "conformance.json").exists()


@pytest.mark.parametrize(("value", "waits"), [(b"x100-continue", False), (b"100-continue-x", False), (b"no-100-continue", False),
                                              (b"100-Continue", True), (b" 100-continue ", True), (b"foo, 100-continue", True)])
def test_pass_u1_low_expect_is_read_as_its_server_reads_it(value, waits):
    """Pass U1, LOW: `100-continue` was matched anywhere in Expect (`x100-continue`), where uvicorn's httptools wants the
    whole value and h11 one comma token (any case): such a send was read lazily though no server sends `100 Continue` for
    it (its body rules judged in part). Read as they read it; otherwise read ahead, judged in full."""
    import anyio

    asked = []

    async def receive():
        asked.append(1)
        return _body()

    scope = {**SCOPE, "headers": [*SCOPE["headers"], (b"expect", value), (b"content-length", b"%d" % len(RAW_VALID))]}
    middleware = ContractMiddleware(_head_only_refusal())

    async def send(message):
        pass

    anyio.run(middleware, dict(scope), receive, send)
    assert (asked == []) == waits
    result = middleware.result()
    assert any("Expect: 100-continue" in note for note in result.traffic.notes) == waits, result.traffic.notes


# --- pass V1: only what the server accepted and the client read is judged, in the ASGI order ----------------------------


class _AsUvicorn:
    """A server's `send` refusing what uvicorn's HTTP/1 protocols (and its HTTP/2, with trailers) refuse: a second start,
    any message once the answer is complete, body bytes past its Content-Length; `trailers`: the server offers them (the
    answer then completes with its last trailers message). What it took of the body: `taken`."""

    def __init__(self, trailers=False):
        self.offers_trailers, self.started, self.complete, self.left, self.trailers, self.taken = trailers, False, False, None, False, []

    async def __call__(self, message):
        kind = message["type"]
        if self.complete:
            raise RuntimeError(f"Unexpected ASGI message {kind!r} sent, after response already completed.")
        if kind == "http.response.start":
            if self.started:
                raise RuntimeError("Expected ASGI message 'http.response.body', but got 'http.response.start'.")
            self.started = True
            lengths = [v for k, v in message["headers"] if k.lower() == b"content-length"]
            self.left = int(lengths[0]) if lengths else None
            self.trailers = self.offers_trailers and message.get("trailers", False)
        elif kind == "http.response.body":
            body = message.get("body", b"")
            if self.left is not None and len(body) > self.left:
                raise RuntimeError("Response content longer than Content-Length")
            self.left = None if self.left is None else self.left - len(body)
            self.taken.append(body)
            if not message.get("more_body", False):
                if self.left:
                    raise RuntimeError("Response content shorter than Content-Length")
                self.complete = not self.trailers
        elif kind == "http.response.trailers" and self.trailers:
            self.complete = not message.get("more_trailers", False)
        else:
            raise RuntimeError(f"Unexpected ASGI message {kind!r} sent.")


def _naive_error_middleware(app):
    """As a pure-ASGI error middleware written without checking that the answer started: on the app's exception it sends
    its own 500, then lets the exception out (as Starlette's ServerErrorMiddleware does)."""
    async def wrapped(scope, receive, send):
        try:
            await app(scope, receive, send)
        except Exception:
            await send({"type": "http.response.start", "status": 500,
                        "headers": [(b"content-type", b"text/plain"), (b"content-length", b"21")]})
            await send({"type": "http.response.body", "body": b"Internal Server Error"})
            raise
    return wrapped


@pytest.mark.parametrize("server", ["as-uvicorn", "takes-all"])
def test_pass_v1_f1_a_second_start_after_a_correct_answer_is_never_the_answer_judged(server):
    """Pass V1, F1: a correct 200 (its Content-Length frames it), then a background failure under an error middleware
    that sends its own 500: every server refuses that second start and the client reads the 200, but the middleware took
    the 500 as the answer and blamed it (no-server-error, exit 1)."""
    async def app(scope, receive, send):
        await _read_all(receive)
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", b"%d" % N)]})
        await send({"type": "http.response.body", "body": ANSWER})
        raise RuntimeError("background task failed")

    send = _AsUvicorn() if server == "as-uvicorn" else None
    middleware, raised = _run(_naive_error_middleware(app), _body(), send=send)
    assert type(raised) is RuntimeError
    result = middleware.result()
    assert result.findings == [] and result.traffic.judged == 1 and result.exit_code == 0, result.headline
    if server == "takes-all":
        assert any("outside its answer" in note and "http.response.start (taken)" in note for note in result.traffic.notes)


def test_pass_v1_f1_a_refused_answer_after_a_500_the_client_read_is_never_judged_green():
    """Pass V1, F1, reverse: the client read a 500 (Content-Length: 0); the app, swallowing the server's refusals, then
    sent a 200 with valid JSON: judged as that 200, green (exit 0)."""
    async def app(scope, receive, send):
        await _read_all(receive)
        await send({"type": "http.response.start", "status": 500, "headers": [(b"content-length", b"0")]})
        for message in ({"type": "http.response.start", "status": 200,
                         "headers": [(b"content-type", b"application/json"), (b"content-length", b"%d" % N)]},
                        {"type": "http.response.body", "body": ANSWER, "more_body": True}, {"type": "http.response.body"}):
            with contextlib.suppress(RuntimeError):
                await send(message)

    server = _AsUvicorn()
    middleware, raised = _run(app, _body(), send=server)
    assert raised is None and server.taken == [b""]  # the premise: the client read the 500 alone
    result = middleware.result()
    assert [(f.rule, f.broken_by) for f in result.findings] == [("no-server-error", "server")], result.headline
    assert "500" in result.findings[0].actual and result.exit_code == 1


H2_TRAILERS = {**SCOPE, "http_version": "2", "extensions": {"http.response.trailers": {}}}


def _with_trailers(then):
    """An app answering over HTTP/2 with `trailers: True` (its content-length given), then `then(send)`."""
    async def app(scope, receive, send):
        await _read_all(receive)
        await send({"type": "http.response.start", "status": 200, "trailers": True,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", b"%d" % N)]})
        await send({"type": "http.response.body", "body": ANSWER, "more_body": True})
        await send({"type": "http.response.body", "body": b""})  # (its last message, after the Content-Length's bytes)
        await then(send)
    return app


def test_pass_v1_f2_over_http2_trailers_sent_late_end_the_answer_late(fake_time):
    """Pass V1, F2: over HTTP/2 an answer asking for trailers ends (END_STREAM) with its last trailers message (Hypercorn,
    uvicorn's own HTTP/2): trailers sent 5 s after the body, timeout 1 s: the client had its answer after 5 s, judged
    answered at the body's end (responds-in-time passed)."""
    async def then(send):
        fake_time.now += 5
        await send({"type": "http.response.trailers", "headers": [(b"x-checksum", b"1")], "more_trailers": False})

    middleware, raised = _run(_with_trailers(then), _body(), scope=H2_TRAILERS, send=_AsUvicorn(trailers=True), timeout=1.0)
    assert raised is None
    result = middleware.result()
    assert [(f.rule, f.broken_by) for f in result.findings] == [("responds-in-time", "server")], result.headline


@pytest.mark.parametrize("trailers", [[], [{"type": "http.response.trailers", "headers": [], "more_trailers": True}]],
                         ids=["never-sent", "more-trailers-never-ended"])
def test_pass_v1_f2_over_http2_trailers_never_ended_are_no_complete_response(trailers):
    """Pass V1, F2: an answer asking for trailers whose last trailers message never comes: its stream never ends (the
    client reads a reset or a disconnect), judged complete at its body's end (green)."""
    async def then(send):
        for message in trailers:
            await send(message)

    middleware, raised = _run(_with_trailers(then), _body(), scope=H2_TRAILERS, send=_AsUvicorn(trailers=True))
    assert raised is None
    result = middleware.result()
    assert [(f.rule, f.broken_by) for f in result.findings] == [("no-server-error", "server")], result.headline
    assert "without a complete response" in result.findings[0].actual


@pytest.mark.parametrize("version", ["2", "1.1"])
def test_pass_v1_f2_trailers_ended_in_time_are_judged_on_the_answer(version):
    """(Over HTTP/1.1, a server offering trailers: the answer its Content-Length frames is whole at its last byte.)"""
    async def then(send):
        await send({"type": "http.response.trailers", "headers": [(b"x-checksum", b"1")], "more_trailers": True})
        await send({"type": "http.response.trailers", "headers": [], "more_trailers": False})

    middleware, raised = _run(_with_trailers(then), _body(), scope={**H2_TRAILERS, "http_version": version},
                              send=_AsUvicorn(trailers=True), timeout=1.0)
    assert raised is None
    result = middleware.result()
    assert result.findings == [] and result.traffic.judged == 1 and result.traffic.partly_judged == 0, result.headline


def test_pass_v1_f3_body_bytes_past_the_content_length_are_not_what_the_client_read():
    """Pass V1, F3: the app counts its Content-Length in characters (a non-ASCII note) and streams its JSON cut at it;
    the server refuses the rest (the app logs and goes on) and its client reads the cut JSON: judged on the JSON the app
    meant (green)."""
    meant = json.dumps({"success": True, "data": {"id": "msg_1", "status": "queued", "note": "ünïcødé"}},
                       ensure_ascii=False)
    raw, cut = meant.encode(), len(meant)

    async def app(scope, receive, send):
        await _read_all(receive)
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", b"%d" % cut)]})
        for message in ({"type": "http.response.body", "body": raw[:cut], "more_body": True},
                        {"type": "http.response.body", "body": raw[cut:], "more_body": True}, {"type": "http.response.body"}):
            with contextlib.suppress(RuntimeError):
                await send(message)

    server = _AsUvicorn()
    middleware, raised = _run(app, _body(), send=server)
    assert raised is None and b"".join(server.taken) == raw[:cut]  # the premise: the client read the cut JSON
    result = middleware.result()
    assert result.exit_code == 1 and result.findings, result.headline
    assert any("not JSON" in f.actual for f in result.findings), [f.actual for f in result.findings]


@pytest.mark.parametrize("server", ["as-uvicorn", "takes-all"])
def test_pass_v1_f3_a_body_after_the_apps_last_body_message_is_not_the_answer(server):
    """Pass V1, F3: a chunked valid 200 (its last message sent), then an error path sends a body `Internal Server Error`
    (refused): the client read the valid JSON; judged with the extra bytes, 'the body is not JSON' (exit 1)."""
    async def app(scope, receive, send):
        await _read_all(receive)
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": ANSWER})
        with contextlib.suppress(RuntimeError):
            await send({"type": "http.response.body", "body": b"Internal Server Error"})

    middleware, raised = _run(app, _body(), send=_AsUvicorn() if server == "as-uvicorn" else None)
    assert raised is None
    result = middleware.result()
    assert result.findings == [] and result.traffic.judged == 1 and result.exit_code == 0, result.headline


def test_pass_v1_f3_over_http2_a_body_after_the_last_body_message_is_not_the_answer():
    """Pass V1, F3, over HTTP/2: a body message after the last one made the answer 'more body than its content-length'
    (no client could read it) while the client read the whole valid answer."""
    middleware, raised = _run(_answering([(b"content-length", b"%d" % N)], {"type": "http.response.body", "body": b"extra"}),
                              _body(), scope=H2, send=_AsUvicorn())
    assert raised is None
    result = middleware.result()
    assert result.findings == [] and result.traffic.judged == 1 and result.exit_code == 0, result.headline


@pytest.mark.parametrize("field", [(b"te", b"gzip"), (b"TE", b"trailers, deflate"), (b"te", b"")],
                         ids=["te-gzip", "te-trailers-and-more", "te-empty"])
def test_pass_v1_f4_over_http2_a_te_field_servers_read_apart_is_judged_in_part(field):
    """Pass V1, F4: h2 (Hypercorn) refuses to send a head with a `te` other than `trailers`; uvicorn's own HTTP/2 drops
    the field and its client reads the answer. It was blamed 'no client could read the app's answer' on either; which
    server runs does not show in the scope: no-server-error is judged in part, never blamed, never passed."""
    middleware, raised = _run(_answering([field]), _body(), scope=H2)
    assert raised is None
    result = middleware.result()
    assert result.findings == [] and result.traffic.partly_judged == 1, result.headline
    assert result.rule("no-server-error").status != Status.PASSED


@pytest.mark.parametrize("status", [204, 304])
def test_pass_v1_f4_a_bodiless_status_with_a_transfer_encoding_is_judged_in_part(status):
    """Pass V1, F4 (neighbour): over HTTP/1.1 uvicorn's httptools writes a chunks' end after a 204 with a
    Transfer-Encoding, uvicorn's zttp and h11 (Hypercorn) drop the field and the client reads a clean 204: blamed as
    unreadable on every server; now no-server-error is judged in part (its status is judged as it is)."""
    async def app(scope, receive, send):
        await _read_all(receive)
        await send({"type": "http.response.start", "status": status, "headers": [(b"transfer-encoding", b"chunked")]})
        await send({"type": "http.response.body", "body": b""})

    middleware, raised = _run(app, _body())
    assert raised is None
    result = middleware.result()
    assert "no-server-error" not in [f.rule for f in result.findings], result.headline
    assert result.rule("no-server-error").passed == 0 and result.traffic.partly_judged == 1


def test_pass_v1_f6_str_header_names_and_values_the_server_sends_are_judged_never_raised_on():
    """Pass V1, F6: uvicorn's h11 sends str names and values (as ASCII bytes); the middleware raised AttributeError on
    them before the server's `send`, turning the answer into a 500 (no-server-error)."""
    async def app(scope, receive, send):
        await _read_all(receive)
        await send({"type": "http.response.start", "status": 200,
                    "headers": [("content-type", "application/json"), ("content-length", str(N))]})
        await send({"type": "http.response.body", "body": ANSWER})

    taken = []

    async def h11_like(message):
        taken.append(message)

    middleware, raised = _run(app, _body(), send=h11_like)
    assert raised is None and taken[0]["headers"][0] == ("content-type", "application/json")  # passed on as given
    result = middleware.result()
    assert result.findings == [] and result.traffic.judged == 1 and result.exit_code == 0, result.headline


@pytest.mark.parametrize("what", ["head", "body"])
@pytest.mark.parametrize("refusing", [False, True], ids=["taken", "refused"])
def test_pass_v1_f6_a_message_this_reading_cannot_take_is_passed_on_never_raised_on(refusing, what):
    """Pass V1, F6 (the class): a head or body this reading cannot take (a non-ASCII str, a number, a str body) is passed
    to the server as given: taken, unjudged; refused, the app's no-server-error (what the client got)."""
    odd = [("x-note", "ünï"), (b"x-n", 5)] if what == "head" else []

    async def app(scope, receive, send):
        await _read_all(receive)
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json"), *odd]})
        await send({"type": "http.response.body", "body": ANSWER if what == "head" else ANSWER.decode()})

    async def server(message):
        if refusing and (what == "head") == (message["type"] == "http.response.start"):
            raise TypeError("expected bytes")

    middleware, raised = _run(app, _body(), send=_as_server(server))
    result = middleware.result()
    if refusing:  # what the server refused no client read: the app's no-server-error
        assert type(raised) is TypeError
        assert [(f.rule, f.broken_by) for f in result.findings] == [("no-server-error", "server")], result.headline
    else:
        assert raised is None and result.findings == [] and result.traffic.unjudged == 1, result.headline


@pytest.mark.parametrize("name", [b"content-encoding ", b" Content-Encoding\t"])
def test_pass_w2_f1_over_http2_a_field_name_is_judged_as_the_server_sends_it(name):
    """Pass W2, F1: over HTTP/2 and 3 the server strips and lowercases each name (Hypercorn, h2) before sending, but the
    judge read the app's raw names: a JSON body labelled gzip under `content-encoding ` (no client decodes it) was
    green, and a real gzip body under that name was blamed as no JSON. Judged as sent: the first is the app's
    no-server-error, the second is clean."""
    import gzip

    plain, raised = _run(_answering([(name, b"gzip")]), _body(), scope=H2)
    assert raised is None
    assert [f.rule for f in plain.result().findings] == ["no-server-error"], plain.result().headline

    async def zipped(scope, receive, send):
        await _read_all(receive)
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type ", b"application/json"), (name, b"gzip")]})
        await send({"type": "http.response.body", "body": gzip.compress(ANSWER)})

    right, raised = _run(zipped, _body(), scope=H2)
    assert raised is None
    assert right.result().findings == [] and right.result().exit_code == 0, right.result().headline


# Pass W2, F2: over HTTP/1.1 Hypercorn strips every name and value (`build_and_validate_headers`, `bytes.strip()`)
# before its h11 checks the head, so `Content-Type ` goes out as a valid Content-Type; uvicorn's h11 refuses the name.
MENDED_NAMES = [b"Content-Type ", b" content-type", b"\tContent-Type \t", b"content-type\r\n"]


@pytest.mark.parametrize("name", MENDED_NAMES)
def test_pass_w2_f2_a_name_with_whitespace_around_it_is_judged_in_part_and_read_as_hypercorn_sends_it(name):
    """Pass W2, F2: blamed outright as unreadable (no-server-error FAILED) though Hypercorn mends it and its client reads
    a correct answer: now no-server-error is judged in part (never blamed, never passed), and the fields are read as
    that server sends them: a correct JSON answer passes content-type-json, a faulty one fails it."""
    def labelled(media_type):
        return _answering([(b"content-length", b"%d" % N)], head=[(name, media_type)])

    right, raised = _run(labelled(b"application/json"), _body())
    assert raised is None
    result = right.result()
    assert result.findings == [] and result.exit_code == 3 and result.traffic.partly_judged == 1, result.headline
    assert result.rule("no-server-error").passed == 0 and result.rule("content-type-json").passed == 1
    assert any("Hypercorn strips it" in note for note in result.traffic.notes), result.traffic.notes

    wrong, raised = _run(labelled(b"text/html"), _body())
    assert raised is None
    result = wrong.result()
    assert [(f.rule, f.broken_by) for f in result.findings] == [("content-type-json", "server")], result.headline
    assert result.traffic.partly_judged == 1


def test_pass_w2_f2_every_field_read_by_name_is_read_stripped_over_http1():
    """Pass W2, F2 (the class): Content-Encoding, Content-Length and a value with CR/LF around it, read as Hypercorn
    sends them: a real gzip body under `Content-Encoding ` is clean (in part), a plain one labelled so is the app's
    no-server-error (no client decodes it on any server); `Content-Length ` frames the answer."""
    import gzip

    def answering(headers, body):
        async def app(scope, receive, send):
            await _read_all(receive)
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": body})
        return app

    json_type = (b"content-type", b"application/json")
    for headers, body in [([json_type, (b"Content-Encoding ", b"gzip")], gzip.compress(ANSWER)),
                          ([json_type, (b" content-length", b"%d" % N)], ANSWER),
                          ([(b"content-type", b"application/json\r\n"), (b"content-length", b"%d" % N)], ANSWER)]:
        middleware, raised = _run(answering(headers, body), _body())
        result = middleware.result()
        assert raised is None and result.findings == [] and result.traffic.partly_judged == 1, (headers, result.headline)
        assert result.rule("content-type-json").passed == 1, headers

    plain, raised = _run(answering([json_type, (b"Content-Encoding ", b"gzip")], ANSWER), _body())
    result = plain.result()
    assert raised is None and [f.rule for f in result.findings] == ["no-server-error"], result.headline
    assert "not what its Content-Encoding says" in result.findings[0].actual


@pytest.mark.parametrize("name", [b"content type", b" ", b" :status", b"x/y "])
def test_pass_w2_f2_a_name_stripping_does_not_mend_is_still_the_apps_no_server_error(name):
    """Pass W2, F2 (the bound): only whitespace around a name is mended; one still no token once stripped (a space
    inside, nothing but whitespace, a pseudo-header, a `/`) is refused by every server: blamed as before."""
    middleware, raised = _run(_answering([(b"content-length", b"%d" % N), (name, b"1")]), _body())
    assert raised is None
    result = middleware.result()
    assert [(f.rule, f.broken_by) for f in result.findings] == [("no-server-error", "server")], result.headline
    assert "no client could read the app's answer" in result.findings[0].actual and result.traffic.partly_judged == 0


@pytest.mark.e2e
@pytest.mark.parametrize("stack", STACKS)
def test_pass_w2_f2_on_either_uvicorn_stack_a_name_with_whitespace_around_it_is_never_passed(stack):
    """Pass W2, F2, end to end: uvicorn refuses `Content-Type ` (h11 and this httptools protocol raise in `send`; older
    httptools releases wrote it as given), so its client reads nothing: the middleware never passes the answer. The
    server's refusal shows in `send`: that is the app's no-server-error on this server (Hypercorn, whose `send` takes
    it, is the in-process case above)."""
    middleware = ContractMiddleware(_answering([(b"content-length", b"%d" % N)],
                                               head=[(b"Content-Type ", b"application/json")]))
    with _on_stack(middleware, stack) as url, httpx.Client(base_url=url) as client:
        try:
            read = client.post("/v1/sending", json=VALID, headers=AUTH).json()
        except (httpx.HTTPError, ValueError):
            read = None
    result = middleware.result()
    assert read is None or "data" not in read  # the premise: no client reads the app's answer
    assert [(f.rule, f.broken_by) for f in result.findings] == [("no-server-error", "server")], result.headline
    assert "the server could not send the app's answer" in result.findings[0].actual


class _AuditError(Exception):
    pass


@pytest.mark.parametrize("raised_type", [TypeError, KeyError, httpx.ConnectError, _AuditError])
@pytest.mark.parametrize("where", ["start", "body"])
def test_pass_z4_f1_a_middleware_outside_raising_from_its_own_code_is_never_the_servers_refusal(raised_type, where):
    """Pass Z4, F1: an audit middleware outside forwards every message unchanged, then its own code raises (a bug: a
    TypeError; its audit sink down: an httpx.ConnectError). A built-in or any httpx type was read as the server
    refusing the app's answer: the correct app blamed (no-server-error, exit 1). Where it was raised decides: not in a
    server's code, so what its client read does not show: judged in part, never blamed."""
    kind = "http.response.start" if where == "start" else "http.response.body"
    taken = []

    async def server(message):
        taken.append(message)

    middleware_holder = []

    async def app(scope, receive, send):
        await _read_all(receive)
        await _answer(send)

    async def audit(scope, receive, send):
        async def audited(message):
            await send(message)  # the answer goes out unchanged, then the audit's own step raises
            if message["type"] == kind:
                raise raised_type("audit sink unreachable")
        await middleware_holder[0](scope, receive, audited)

    import anyio

    queue = [_body()]

    async def receive():
        return queue.pop(0) if queue else {"type": "http.disconnect"}

    wrapped = ContractMiddleware(app)
    middleware_holder.append(wrapped)
    raised = []

    async def main():
        try:
            await audit(dict(SCOPE), receive, server)
        except Exception as exc:
            raised.append(exc)

    anyio.run(main)
    assert [type(e) for e in raised] == [raised_type]
    result = wrapped.result()
    assert [f.rule for f in result.findings] == [], result.headline
    assert result.exit_code == 3 and result.traffic.partly_judged == 1, result.headline
    assert result.rule("no-server-error").passed == 0


def test_pass_z4_f1_a_servers_refusal_is_told_by_where_it_was_raised():
    """Pass Z4, F1: the same TypeError raised in a server's code (uvicorn's, httpx's ASGI transport's) is its refusal;
    raised in a module outside every server's (a middleware using httpx) it is not; raised by a native send with no
    Python frame of its own (Granian), it is."""
    from migma_contract.asgi import _refused

    def raised_in(module):
        def thrower():
            raise TypeError("x")

        thrower = _as_server(thrower, module)
        try:
            thrower()
        except TypeError as exc:
            return exc
        raise AssertionError("not raised")

    assert _refused(raised_in("uvicorn.protocols.http.httptools_impl"))
    assert _refused(raised_in("httpx._transports.asgi"))
    assert _refused(raised_in("starlette.testclient"))
    assert not _refused(raised_in("httpx._client"))
    assert not _refused(raised_in("audit_middleware"))
    try:
        b"".join([1])  # (raised in C, no Python frame beyond this one's: as a native server's send)
    except TypeError as exc:
        assert _refused(exc)
    assert not _refused(TypeError("never raised"))
