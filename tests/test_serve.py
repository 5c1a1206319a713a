"""The toolkit's servers are bounded the same way on each protocol uvicorn can run them on.

httptools (C) serves where installed, h11 (pure Python) elsewhere; both must cut a request
that does not arrive in time, refuse connections over the cap, and refuse an oversized head,
without cutting a request that arrived and is being answered.
"""

from __future__ import annotations

import asyncio
import socket
import threading

import pytest

from migma_contract.wire.serve import DEFAULT_STACK, MAX_HEADER_BYTES, PROTOCOLS, serve_in_thread, stack_description

pytestmark = [pytest.mark.e2e, pytest.mark.parametrize("stack", sorted(PROTOCOLS))]  # servers served on loopback, on each stack


async def app(scope, receive, send):
    """Reads the whole body; /slow answers after half a second (a handler at work, not a client)."""
    if scope["type"] != "http":
        return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    if scope["path"] == "/slow":
        await asyncio.sleep(0.5)
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})


def _connect(url: str) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=10)


def _read_until_closed(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes (b"" when it closed without a word); the 10 s timeout fails the test."""
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    return received


def _read_answer(sock: socket.socket) -> bytes:
    """One whole answer of `app` (its head and its 2-byte body): a head and its body may come in two reads."""
    received = b""
    while not (b"\r\n\r\n" in received and received.endswith(b"ok")):
        chunk = sock.recv(65536)
        if not chunk:
            break
        received += chunk
    return received


def _request(path: str = "/", extra: bytes = b"") -> bytes:
    return b"POST " + path.encode() + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2\r\n" + extra + b"\r\n{}"


def test_a_request_that_does_not_arrive_in_time_is_cut_and_one_at_work_is_not(stack):
    with serve_in_thread(app, request_timeout=0.2, stack=stack) as url, \
            _connect(url) as silent, _connect(url) as trickling, _connect(url) as slow:
        trickling.sendall(b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\n{")
        slow.sendall(_request("/slow", b"Connection: close\r\n"))
        assert _read_until_closed(silent) == b""
        assert _read_until_closed(trickling) == b""
        answer = _read_until_closed(slow)
        assert answer.startswith(b"HTTP/1.1 200") and answer.endswith(b"ok")


def test_a_kept_alive_connection_gets_a_new_deadline_for_each_request(stack):
    with serve_in_thread(app, request_timeout=0.3, stack=stack) as url, _connect(url) as sock:
        sock.sendall(_request() + _request())  # pipelined: both answered
        received = b""
        while received.count(b"HTTP/1.1 200") < 2:
            received += sock.recv(65536)
        assert _read_until_closed(sock) == b""  # then nothing more arrives: cut at the next deadline


def test_connections_beyond_the_cap_are_closed_at_once(stack):
    with serve_in_thread(app, max_connections=1, stack=stack) as url, _connect(url) as first:
        first.sendall(_request())
        assert _read_answer(first).startswith(b"HTTP/1.1 200")  # (the whole answer: its body may come in a later read)
        with _connect(url) as second:
            assert _read_until_closed(second) == b""
        first.sendall(_request())
        assert _read_answer(first).startswith(b"HTTP/1.1 200")


def _refusal(sock: socket.socket) -> str:
    """How the server ended an exchange: "400" (answered, then closed), "reset" (closed on bytes it had not
    read, so the kernel discarded its answer), "closed" (without a word); "open" after 5 s of nothing."""
    sock.settimeout(5)
    try:
        received = _read_until_closed(sock)
    except ConnectionResetError:
        return "reset"
    except TimeoutError:
        return "open"
    return "400" if received.startswith(b"HTTP/1.1 400") else "closed"


@pytest.mark.parametrize("pieces", [1, 40], ids=["at-once", "header-value-in-pieces"])
def test_a_head_over_the_bound_is_refused_at_once(stack, pieces):
    value = b"a" * (MAX_HEADER_BYTES + 1024)
    # a long request deadline: only the head's bound can end this exchange within the 5 s `_refusal` waits
    with serve_in_thread(app, stack=stack, request_timeout=60) as url, _connect(url) as sock:
        head = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + value
        step = -(-len(head) // pieces)
        for start in range(0, len(head), step):  # never finished: the parser is still inside one header value
            try:
                sock.sendall(head[start:start + step])
            except (BrokenPipeError, ConnectionResetError):
                break  # refused before the rest was sent
        assert _refusal(sock) in ("400", "reset")


def test_a_head_within_the_bound_is_served(stack):
    with serve_in_thread(app, stack=stack) as url, _connect(url) as sock:
        sock.sendall(_request(extra=b"X-Big: " + b"a" * (MAX_HEADER_BYTES - 1024) + b"\r\nConnection: close\r\n"))
        assert _read_until_closed(sock).startswith(b"HTTP/1.1 200")


def test_the_stack_is_named(stack):
    assert stack in stack_description(stack) and DEFAULT_STACK in PROTOCOLS


_CHUNKED = b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n"


@pytest.mark.parametrize(("opening", "piece"), [
    (_CHUNKED + b"2\r\n{}\r\n0\r\nX-Trailer: ", b"a" * 1024),  # httptools buffers a trailer as it does a header
    (_CHUNKED + b"2;ext=", b"a" * 1024),  # a chunk-size line that never ends
], ids=["trailer", "chunk-size-line"])
def test_chunked_framing_over_the_bound_is_refused_at_once(stack, opening, piece):
    """Past the head, a chunked body's size lines and trailers are held to the same bound (h11 holds each to it)."""
    with serve_in_thread(app, stack=stack, request_timeout=60) as url, _connect(url) as sock:
        sock.sendall(opening)
        for _ in range(MAX_HEADER_BYTES // len(piece) + 8):
            try:
                sock.sendall(piece)
            except (BrokenPipeError, ConnectionResetError):
                break
        assert _refusal(sock) in ("400", "reset")


async def header_names(scope, receive, send):
    """Reads the whole body, then answers the names of the request's headers (a trailer is not one of them)."""
    more = True
    while more:
        more = (await receive()).get("more_body", False)
    names = b",".join(name for name, _ in scope["headers"])
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", str(len(names)).encode())]})
    await send({"type": "http.response.body", "body": names})


def test_trailers_do_not_join_the_request_headers(stack):
    """A trailer after a chunked body must not reach the app as a header (say, an Authorization the head lacked)."""
    with serve_in_thread(header_names, stack=stack) as url, _connect(url) as sock:
        sock.sendall(_CHUNKED.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n")
                     + b"2\r\n{}\r\n0\r\nAuthorization: Bearer smuggled\r\n\r\n")
        answer = _read_until_closed(sock)
        assert answer.startswith(b"HTTP/1.1 200")
        assert answer.endswith(b"\r\n\r\nhost,transfer-encoding,connection")


def test_a_head_over_the_bound_after_a_request_in_the_same_write_is_refused_at_once(stack):
    """The head's count restarts where a request ends, even mid-read: the next head is still held to the bound."""
    with serve_in_thread(app, stack=stack, request_timeout=60) as url, _connect(url) as sock:
        # twice the bound: where the count restarts within a read, it may miss a few KiB of it
        sock.sendall(_request() + b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"a" * (2 * MAX_HEADER_BYTES))
        sock.settimeout(5)
        received = b""
        try:
            while chunk := sock.recv(65536):
                received += chunk
        except ConnectionResetError:
            pass  # closed on bytes it had not read: whatever it answered may be lost
        # a timeout here (the head held until the deadline) fails the test
        assert received == b"" or received.startswith(b"HTTP/1.1 200")


_STARTED = threading.Event()  # set when `echo` starts on a request to /send (before it reads the body)


async def echo(scope, receive, send):
    """Answers with the method, the path and the body it read (length-framed)."""
    if scope["type"] != "http":
        return
    if scope["path"] == "/send":
        _STARTED.set()
    body, more = b"", True
    while more:
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
    said = scope["method"].encode() + b" " + scope["path"].encode() + b" " + body
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"%d" % len(said))]})
    await send({"type": "http.response.body", "body": said})


def _answers(sock: socket.socket, count: int) -> list[bytes]:
    """The bodies of `count` length-framed answers read off the connection (the 10 s timeout fails the test)."""
    received, bodies = b"", []
    while len(bodies) < count:
        head, sep, rest = received.partition(b"\r\n\r\n")
        length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")), None)
        if sep and length is not None and len(rest) >= length:
            assert head.startswith(b"HTTP/1.1 200"), head
            bodies.append(rest[:length])
            received = rest[length:]
            continue
        chunk = sock.recv(65536)
        assert chunk, (bodies, received)
        received += chunk
    return bodies


_BODY = b'{"subject": "Hello"}'
_UPGRADES = {
    "h2c": b"Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n",  # curl --http2
    "websocket": b"Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                 b"Sec-WebSocket-Version: 13\r\n",
}


@pytest.mark.parametrize("upgrade", sorted(_UPGRADES))
@pytest.mark.parametrize("framing", ["length", "chunked"])
@pytest.mark.parametrize("split", [False, True], ids=["one-write", "body-apart"])
def test_pass_r1_f3_a_request_asking_for_an_upgrade_not_taken_is_read_with_its_body(stack, upgrade, framing, split):
    """Pass R1, F3: `curl --http2` on http:// (`Upgrade: h2c`) or a websocket handshake with a body: llhttp stopped at
    the head, and the app ran with an empty body (the mock answered a correct send 400, the proxy forwarded it empty).
    Read as h11 reads it: an ordinary request, body and all, and the requests after it on the connection too."""
    if framing == "length":
        head = b"POST /send HTTP/1.1\r\nHost: 127.0.0.1\r\n" + _UPGRADES[upgrade] + b"Content-Length: %d\r\n\r\n" % len(_BODY)
        body = _BODY
    else:
        head = b"POST /send HTTP/1.1\r\nHost: 127.0.0.1\r\n" + _UPGRADES[upgrade] + b"Transfer-Encoding: chunked\r\n\r\n"
        body = b"5\r\n" + _BODY[:5] + b"\r\n%x\r\n" % (len(_BODY) - 5) + _BODY[5:] + b"\r\n0\r\n\r\n"
    after = b"GET /next HTTP/1.1\r\nHost: 127.0.0.1\r\n" + _UPGRADES[upgrade] + b"\r\n" + _request("/last")
    with serve_in_thread(echo, stack=stack) as url, _connect(url) as sock:
        if split:
            _STARTED.clear()
            sock.sendall(head)
            assert _STARTED.wait(10)  # the head was read apart, and the app runs: the body comes in a later read
            sock.sendall(body + after)
        else:
            sock.sendall(head + body + after)
        assert _answers(sock, 3) == [b"POST /send " + _BODY, b"GET /next ", b"POST /last {}"]


@pytest.mark.parametrize("coding", [b"gzip, chunked", b"chunked, chunked", b"identity, chunked", b"gzip", b"chunked\r\nTransfer-Encoding: chunked"])
def test_pass_r1_f4_a_request_in_a_transfer_coding_other_than_chunked_is_refused(stack, coding):
    """Pass R1, F4: `Transfer-Encoding: gzip, chunked`: llhttp undid the chunks and handed the app the gzip bytes as the
    body, with no word of their coding (the proxy forwarded them as a plain body). Refused 400, as h11 refuses it."""
    chunked = b"5\r\nhello\r\n0\r\n\r\n"
    with serve_in_thread(echo, stack=stack) as url, _connect(url) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: " + coding + b"\r\n\r\n" + chunked)
        answer = _read_until_closed(sock)
    assert answer.startswith(b"HTTP/1.1 400"), answer


@pytest.mark.parametrize("coding", [b"chunked", b"CHUNKED", b"Chunked "])
def test_a_chunked_request_is_read_in_any_case(stack, coding):
    with serve_in_thread(echo, stack=stack) as url, _connect(url) as sock:
        sock.sendall(b"POST /c HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: " + coding + b"\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
        assert _answers(sock, 1) == [b"POST /c hello"]
