"""The proxy hands on every answer a client reads, and reads answers as a client does (red-team pass M1: findings 4,
5 and the proxy's half of 8).

An upstream's answer reaches the client through the proxy exactly when an HTTP client (httpx, reading with h11)
reads it directly: whatever the server stack the proxy runs on (h11 refuses to write a value with whitespace at
its ends; httptools chunks an answer of no length even to an HTTP/1.0 client) and whatever the parser that reads
the upstream (llhttp's strict framing refuses heads httpx reads, and takes codings httpx refuses).
"""

import json
import logging
import socket
from pathlib import Path

import httpx
import pytest

from migma_contract import contract_for
from migma_contract.traffic import proxy as proxy_module
from migma_contract.traffic.proxy import TrafficProxy
from migma_contract.traffic.tally import TrafficJudge
from migma_contract.wire import upstream as upstream_module
from migma_contract.wire.serve import PROTOCOLS, serve_in_thread

from .faulty_servers import FULL_KEY
from .helpers import raw_exchange
from .hostile_servers import each_request, raw_server, read_request

pytestmark = pytest.mark.e2e  # loopback servers: the end-to-end tier

STACKS = sorted(PROTOCOLS)
PARSERS = ["httptools", "h11"] if upstream_module.httptools is not None else ["h11"]
VALID = {"recipientType": "email", "recipientEmail": "ann@example.com", "from": "news@example.com", "fromName": "News",
         "subject": "Hello", "emailId": "email_welcome"}
OK = json.dumps({"success": True, "data": {"id": "m1", "status": "queued"}, "error": None}).encode()
N = len(OK)
CHUNKED = b"%x\r\n" % N + OK + b"\r\n0\r\n\r\n"


def _judge():
    return TrafficJudge(contract_for(), "documented", kind="proxy", label="test proxy")


def _read(url):
    """(status, Content-Type, body) as httpx reads a send at `url`; None when httpx cannot read the answer."""
    try:
        with httpx.Client() as client:
            answer = client.post(url + "/v1/sending", json=VALID, headers={"Authorization": f"Bearer {FULL_KEY}"})
    except httpx.HTTPError:
        return None
    return answer.status_code, answer.headers.get("content-type"), answer.content


def _through(up_url, stack, **options):
    """What httpx reads through a proxy on `stack` before `up_url`, and the judge's result."""
    judge = _judge()
    with serve_in_thread(TrafficProxy(up_url, judge, timeout=5, **options), stack=stack) as proxy_url:
        read = _read(proxy_url)
    judge.settle()
    return read, judge.result()


# --- 4: a value with whitespace at its ends -------------------------------------------------------------------------


@pytest.mark.parametrize("stack", STACKS)
@pytest.mark.parametrize("header", [b"Content-Type: application/json  ", b"X-Request-Id: abc\t", b"X-Request-Id:  \tabc",
                                    b"X-Empty: \t "], ids=["type-trailing-sp", "id-trailing-tab", "id-leading-ows", "only-ows"])
def test_m1_4_a_value_with_whitespace_at_its_ends_reaches_the_client(stack, header):
    """F4 (proxy_ws.py): on the h11 stack an upstream header ending in SP or HTAB (legal to receive: it is no part of
    the value) made h11 refuse the whole answer: "Server disconnected without sending a response", the run
    INCOMPLETE. The value is sent trimmed, as every reader trims it, and judged so."""
    lines = [b"Content-Type: application/json", header] if not header.startswith(b"Content-Type") else [header]
    answer = b"HTTP/1.1 200 OK\r\n" + b"".join(h + b"\r\n" for h in lines) + b"Content-Length: %d\r\n\r\n" % N + OK
    with raw_server(each_request(lambda request: answer)) as up_url:
        direct = _read(up_url)
        read, result = _through(up_url, stack)
    assert direct == (200, "application/json", OK)
    assert read == direct, read
    assert result.exit_code == 0 and not result.findings, result.headline


# --- 8 (the proxy's half): an HTTP/1.0 client gets an answer it reads -----------------------------------------------


def _post_10() -> bytes:
    body = json.dumps(VALID).encode()
    return (b"POST /v1/sending HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nAuthorization: Bearer "
            + FULL_KEY.encode() + b"\r\nContent-Length: %d\r\n\r\n" % len(body) + body)


def _until_close(conn, stop):
    read_request(conn)
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n" + OK)
    conn.close()


def _chunked(conn, stop):
    read_request(conn)
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n" + CHUNKED)
    conn.close()


def _headers(head: bytes) -> dict[bytes, bytes]:
    return {name.strip().lower(): value.strip() for name, _, value in (line.partition(b":") for line in head.split(b"\r\n")[1:])}


@pytest.mark.parametrize("stack", STACKS)
@pytest.mark.parametrize("upstream", [_until_close, _chunked], ids=["until-close", "chunked"])
def test_m1_8_an_http10_client_gets_the_answer_with_its_length(stack, upstream):
    """F8 (http10_client.py): `POST ... HTTP/1.0` through the proxy on the httptools stack before an upstream that framed
    its answer by close (or by chunks) got `transfer-encoding: chunked`, which HTTP/1.0 has not: the client read
    `5f\\r\\n{...}\\r\\n0\\r\\n\\r\\n` as the body, judged NO VIOLATION. The answer is held and sent with its length."""
    with raw_server(upstream) as up_url:
        judge = _judge()
        with serve_in_thread(TrafficProxy(up_url, judge, timeout=5), stack=stack) as proxy_url:
            got = raw_exchange(proxy_url, _post_10())
    judge.settle()
    head, _, body = got.partition(b"\r\n\r\n")
    headers = _headers(head)
    assert b"transfer-encoding" not in headers and headers[b"content-length"] == b"%d" % N, head
    assert body == OK
    assert judge.result().exit_code == 0


@pytest.mark.parametrize("stack", STACKS)
def test_m1_8_an_answer_too_long_to_hold_for_an_http10_client_is_a_502_and_said(stack):
    """F8: an answer of no length past the cap cannot be held; the client is told (502), never sent chunks it cannot
    read, and the report says why."""
    big = json.dumps({"success": True, "data": {"id": "m1", "status": "queued"}, "error": None, "pad": "x" * 4096}).encode()

    def long_until_close(conn, stop):
        read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n" + big)
        conn.close()

    with raw_server(long_until_close) as up_url:
        judge = _judge()
        with serve_in_thread(TrafficProxy(up_url, judge, timeout=5, max_response_bytes=1024), stack=stack) as proxy_url:
            got = raw_exchange(proxy_url, _post_10())
    judge.settle()
    assert got.startswith(b"HTTP/1.1 502"), got[:200]
    assert b"HTTP/1.0" in got and b"transfer-encoding" not in got.partition(b"\r\n\r\n")[0].lower()
    assert any("HTTP/1.0 client" in note for note in judge.result().traffic.notes)


# --- 5: the upstream's answer read as httpx reads it ----------------------------------------------------------------


def _answer(*headers: bytes, body: bytes = OK, start: bytes = b"HTTP/1.1 200 OK", eol: bytes = b"\r\n") -> bytes:
    return start + eol + b"".join(h + eol for h in headers) + eol + body


def _chunked_answer(body: bytes) -> bytes:
    return _answer(b"Content-Type: application/json", b"Transfer-Encoding: chunked", body=body)


FRAMINGS = {  # an answer httpx reads directly, or one it refuses: the proxy must do as httpx does
    "cl-twice-same": _answer(b"Content-Type: application/json", b"Content-Length: %d" % N, b"Content-Length: %d" % N),
    "cl-list-same": _answer(b"Content-Type: application/json", b"Content-Length: %d, %d" % (N, N)),
    "cl-leading-zeros": _answer(b"Content-Type: application/json", b"Content-Length: 000%d" % N),
    "cl-beside-chunked": _answer(b"Content-Type: application/json", b"Content-Length: %d" % N,
                                 b"Transfer-Encoding: chunked", body=CHUNKED),
    "bare-lf": _answer(b"Content-Type: application/json", b"Content-Length: %d" % N, eol=b"\n"),
    "http-1.2": _answer(b"Content-Type: application/json", b"Content-Length: %d" % N, start=b"HTTP/1.2 200 OK"),
    "te-chunked-any-case": _answer(b"Content-Type: application/json", b"Transfer-Encoding: CHUNKED", body=CHUNKED),
    "te-identity-chunked": _answer(b"Content-Type: application/json", b"Transfer-Encoding: identity, chunked", body=CHUNKED),
    "te-gzip-chunked": _answer(b"Content-Type: application/json", b"Transfer-Encoding: gzip, chunked", body=CHUNKED),
    "te-twice": _answer(b"Content-Type: application/json", b"Transfer-Encoding: chunked", b"Transfer-Encoding: chunked",
                        body=CHUNKED),
    "cl-two-values": _answer(b"Content-Type: application/json", b"Content-Length: %d, %d" % (N, N + 1)),
    "cl-plus": _answer(b"Content-Type: application/json", b"Content-Length: +%d" % N),
    # pass N1, F2: what h11 refuses in a value or a reason phrase (llhttp, read leniently, took it: the field was
    # dropped, the answer forwarded and judged green); what h11 reads there (ESC, DEL) is read, its field dropped
    "value-nul": _answer(b"Content-Type: application/json", b"Content-Length: %d" % N, b"X-Id: a\x00b"),
    "value-vt": _answer(b"Content-Type: application/json", b"Content-Length: %d" % N, b"X-Id: a\x0bb"),
    "value-ff": _answer(b"Content-Type: application/json", b"Content-Length: %d" % N, b"X-Id: a\x0cb"),
    "reason-nul": _answer(b"Content-Type: application/json", b"Content-Length: %d" % N, start=b"HTTP/1.1 200 O\x00K"),
    "value-esc": _answer(b"Content-Type: application/json", b"Content-Length: %d" % N, b"X-Id: a\x1bb"),
    "value-del": _answer(b"Content-Type: application/json", b"Content-Length: %d" % N, b"X-Id: a\x7fb"),
    # pass P1, F1: what follows the head, or precedes it, read by llhttp alone (httpx refuses each; the proxy forwarded a
    # clean 200, judged green): a chunk size padded past 20 hex digits, a trailer value h11 refuses, an interim head
    # holding what h11 refuses in a value, a first header line led by whitespace (llhttp handed the name over without it)
    "chunk-size-padded": _chunked_answer(b"%022x\r\n" % N + OK + b"\r\n0\r\n\r\n"),
    "last-chunk-padded": _chunked_answer(b"%x\r\n" % N + OK + b"\r\n" + b"0" * 22 + b"\r\n\r\n"),
    "trailer-nul": _chunked_answer(b"%x\r\n" % N + OK + b"\r\n0\r\nX-T: a\x00b\r\n\r\n"),
    "trailer-vt": _chunked_answer(b"%x\r\n" % N + OK + b"\r\n0\r\nX-T: a\x0bb\r\n\r\n"),
    "interim-nul": b"HTTP/1.1 100 Continue\r\nX-A: a\x00b\r\n\r\n" + _answer(b"Content-Type: application/json",
                                                                               b"Content-Length: %d" % N),
    "interim-vt": b"HTTP/1.1 103 Early Hints\r\nLink: a\x0bb\r\n\r\n" + _answer(b"Content-Type: application/json",
                                                                                  b"Content-Length: %d" % N),
    "first-line-sp": _answer(b" X-Trace: y", b"Content-Type: application/json", b"Content-Length: %d" % N),
    "first-line-tab": _answer(b"\tX-Trace: y", b"Content-Type: application/json", b"Content-Length: %d" % N),
    # pass P1, F2: chunk lines httpx reads (h11's chunk extension is `;.*`, whitespace before the line end allowed):
    # llhttp refused them after the head, a 502 and a false no-server-error
    "chunk-ext-empty": _chunked_answer(b"%x;\r\n" % N + OK + b"\r\n0\r\n\r\n"),
    "chunk-size-sp": _chunked_answer(b"%x \r\n" % N + OK + b"\r\n0\r\n\r\n"),
    "chunk-ext-space": _chunked_answer(b"%x;a b\r\n" % N + OK + b"\r\n0\r\n\r\n"),
    "chunk-ext-ctl": _chunked_answer(b"%x;a=\x01\r\n" % N + OK + b"\r\n0\r\n\r\n"),
    "last-chunk-ext-space": _chunked_answer(b"%x\r\n" % N + OK + b"\r\n0;a b\r\n\r\n"),
    "interim-then-chunked": b"HTTP/1.1 100 Continue\r\n\r\n" + _chunked_answer(CHUNKED),
    "status-099": _answer(b"Content-Type: application/json", b"Content-Length: %d" % N, start=b"HTTP/1.1 099 Odd"),
    "trailer-clean": _chunked_answer(b"%x\r\n" % N + OK + b"\r\n0\r\nX-T: a\r\n\r\n"),
}


_APART = {"cl-beside-chunked", "cl-list-same", "cl-twice-same"}  # (`core.fields.framing_apart`)


@pytest.mark.parametrize("parser", PARSERS)
@pytest.mark.parametrize("case", sorted(FRAMINGS))
def test_m1_5_the_proxy_forwards_exactly_the_answers_httpx_reads(monkeypatch, parser, case):
    """F5 (proxy_cl.py, proxy_cl2.py): a repeated identical Content-Length, `95, 95`, bare LF line ends, Content-Length
    beside chunked (httpx reads each) were a 502 and the upstream's no-server-error, through llhttp's strict framing;
    `Transfer-Encoding: identity, chunked` and `gzip, chunked` (httpx reads neither) were decoded by llhttp, re-framed
    by the proxy and judged green. Now the proxy's client reads what httpx reads directly, on both stacks, and an answer
    httpx refuses is the 502 and the finding, saying so."""
    monkeypatch.setattr(upstream_module, "PARSER", parser)
    raw = FRAMINGS[case]
    with raw_server(each_request(lambda request: raw)) as up_url:
        direct = _read(up_url)
        for stack in STACKS:
            read, result = _through(up_url, stack)
            if direct is not None:
                assert direct == (200, "application/json", OK)
                assert read == direct, (stack, read)
                if case in _APART and (parser == "httptools" or case == "cl-beside-chunked"):
                    # pass Q1: what Node's client refuses (`framing_apart`) came on the wire: the upstream's finding (h11
                    # alone, where llhttp is not installed, merges a Content-Length given twice before it shows)
                    assert [(f.rule, f.broken_by) for f in result.findings] == [("no-server-error", "server")], stack
                    continue
                assert result.exit_code == 0 and not result.findings, (stack, result.headline)
            else:
                assert read is not None and read[0] == 502, (stack, read)
                [finding] = result.findings
                assert finding.rule == "no-server-error" and "a client reads" in finding.actual, finding.actual


def test_m1_5_an_upstream_read_again_by_h11_is_not_reused(monkeypatch):
    """F5: a connection whose answer llhttp refused and h11 read is closed after it (its next answer would be read by
    llhttp's rules again, mid-stream)."""
    if upstream_module.httptools is None:
        pytest.skip("httptools is not installed")
    monkeypatch.setattr(upstream_module, "PARSER", "httptools")
    connections, _ = _two_answers_of(FRAMINGS["cl-twice-same"])
    assert len(connections) == 2


def _two_answers_of(raw):
    """Two sends through the proxy to an upstream answering each with `raw`: (the upstream's connections, the judge)."""
    connections = []

    def answer(conn, stop):
        connections.append(conn)
        while read_request(conn):
            conn.sendall(raw)

    with raw_server(answer) as up_url:
        judge = _judge()
        with serve_in_thread(TrafficProxy(up_url, judge, timeout=5), stack=STACKS[0]) as proxy_url:
            assert _read(proxy_url) == (200, "application/json", OK)
            assert _read(proxy_url) == (200, "application/json", OK)
    judge.settle()
    return connections, judge


@pytest.mark.parametrize("stack", STACKS)
def test_m1_4_an_unasked_switch_of_protocols_is_a_502_not_a_lost_answer(stack):
    """F4's class: a 101 the proxy never asked for (it forwards no Upgrade) reached h11 as a final answer, which it
    refuses to write: the client got nothing. No client reads it (httpx refuses it directly): a 502, judged."""
    raw = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
    with raw_server(each_request(lambda request: raw)) as up_url:
        assert _read(up_url) is None
        read, result = _through(up_url, stack)
    assert read is not None and read[0] == 502, read
    assert result.exit_code == 1


def test_p1_a_chunked_answer_read_by_h11_leaves_its_connection_for_the_next(monkeypatch):
    """P1 F1/F2: a chunked answer is read by h11 whole (its chunk lines and trailers as httpx reads them); ended cleanly,
    its connection is reused, and the next answer (framed by a count) read by llhttp again, the fast path."""
    if upstream_module.httptools is None:
        pytest.skip("httptools is not installed")
    monkeypatch.setattr(upstream_module, "PARSER", "httptools")
    answers = [FRAMINGS["chunk-ext-space"], _answer(b"Content-Type: application/json", b"Content-Length: %d" % N)] * 2
    connections = []

    def answer(conn, stop):
        connections.append(conn)
        while answers and read_request(conn):
            conn.sendall(answers.pop(0))

    with raw_server(answer) as up_url:
        judge = _judge()
        with serve_in_thread(TrafficProxy(up_url, judge, timeout=5), stack=STACKS[0]) as proxy_url:
            for _ in range(4):
                assert _read(proxy_url) == (200, "application/json", OK)
    judge.settle()
    assert len(connections) == 1
    assert not [finding for finding in judge.result().findings if finding.rule == "no-server-error"]


# --- pass R1: llhttp's leniencies mirrored; an answer cut off stays cut off; body-less answers end cleanly -------------


R1_HEADS = {  # what llhttp's fast path took and h11 (httpx) refuses: each was forwarded clean and judged green
    "leading-crlf": b"\r\n" + _answer(b"Content-Type: application/json", b"Content-Length: %d" % N),
    "leading-lf": b"\n" + _answer(b"Content-Type: application/json", b"Content-Length: %d" % N),
    "cl-space-colon": _answer(b"Content-Type: application/json", b"Content-Length : %d" % N),
    "cl-tab-colon": _answer(b"Content-Type: application/json", b"Content-Length\t: %d" % N),
    "te-space-colon": _answer(b"Content-Type: application/json", b"Transfer-Encoding : chunked", body=CHUNKED),
    "connection-space-colon": _answer(b"Content-Type: application/json", b"Connection : close",
                                      b"Content-Length: %d" % N),
}


@pytest.mark.parametrize("stack", STACKS)
@pytest.mark.parametrize("case", sorted(R1_HEADS))
def test_r1_1_a_head_httpx_refuses_is_refused_on_llhttps_path_too(monkeypatch, stack, case):
    """Pass R1, F1: an answer led by an empty line, or with whitespace between a field's name and its colon, was read by
    llhttp (which skips the empty line, and hands `Content-Length ` over with its space: dropped by the proxy, the answer
    re-framed) and forwarded clean, judged green; httpx refuses each ("no response line received", "illegal header
    line"). Every head llhttp takes is read again by h11: a 502 and the upstream's no-server-error."""
    monkeypatch.setattr(upstream_module, "PARSER", PARSERS[0])
    raw = R1_HEADS[case]
    with raw_server(each_request(lambda request: raw)) as up_url:
        assert _read(up_url) is None
        read, result = _through(up_url, stack)
    assert read is not None and read[0] == 502, read
    [finding] = result.findings
    assert finding.rule == "no-server-error" and "a client reads" in finding.actual, finding.actual


@pytest.mark.parametrize("parser", PARSERS)
def test_r1_1_bytes_after_an_answer_spoil_its_connection_and_are_noted(monkeypatch, parser):
    """Pass R1, F1 (neighbour): a CRLF after a body of its Content-Length, on a kept-alive connection: llhttp skips it
    between messages, so the connection was reused and nothing said; httpx reads it as its next answer's empty status
    line and fails. The connection is closed after such an answer, and a note says why."""
    monkeypatch.setattr(upstream_module, "PARSER", parser)
    connections, judge = _two_answers_of(_answer(b"Content-Type: application/json", b"Content-Length: %d" % N) + b"\r\n")
    assert len(connections) == 2
    assert any("bytes after its answer" in note for note in judge.result().traffic.notes)


class _Records(logging.Filter):
    """The records uvicorn's error logger lets through: a filter after the proxy's (uvicorn's logging set-up replaces
    the logger's handlers when a server is configured, and keeps its filters)."""

    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []

    def filter(self, record: logging.LogRecord) -> bool:
        self.messages.append(record.getMessage())
        return True


@pytest.fixture
def uvicorn_errors():
    records = _Records()
    logger = logging.getLogger("uvicorn.error")
    logger.addFilter(proxy_module._QUIET_CUT_OFF)  # (what each TrafficProxy adds, once)
    logger.addFilter(records)
    yield records.messages
    logger.removeFilter(records)


def _cut_chunked(conn, stop):
    read_request(conn)
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n" % 30
                 + OK[:30] + b"\r\n")
    conn.close()


def _stalled_until_close(conn, stop):
    read_request(conn)
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n" + OK[:30])
    stop.wait()
    conn.close()


def _reset_until_close(conn, stop):
    """A whole answer framed by the connection's close, then a reset (RST, not the FIN that ends such an answer)."""
    import fcntl
    import struct
    import termios

    read_request(conn)
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n" + OK)
    while fcntl.ioctl(conn, termios.TIOCOUTQ, b"\0\0\0\0") != b"\0\0\0\0" and not stop.is_set():
        stop.wait(0.001)  # until the peer has every byte (a reset drops what it has not): a state, not a time
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()


def _get(url, path):
    """What httpx reads at `url` + `path`: (status, body), or the name of the error it raises."""
    try:
        with httpx.Client(timeout=30) as client:
            if path == "/v1/sending":
                answer = client.post(url + path, json=VALID, headers={"Authorization": f"Bearer {FULL_KEY}"})
            else:
                answer = client.get(url + path)
    except httpx.HTTPError as exc:
        return type(exc).__name__
    return answer.status_code, answer.content


@pytest.mark.parametrize("stack", STACKS)
@pytest.mark.parametrize("path", ["/v1/sending", "/v1/emails"], ids=["send", "other"])
@pytest.mark.parametrize("upstream", [_cut_chunked, _stalled_until_close, _reset_until_close],
                         ids=["chunked-cut", "until-close-stalls", "until-close-reset"])
def test_r1_2_an_answer_cut_off_after_its_head_reaches_the_client_incomplete(stack, path, upstream, uvicorn_errors):
    """Pass R1, F2: a chunked answer cut off mid-body, or one framed by the connection's close that stalls past the
    timeout, was ended normally by the proxy (uvicorn wrote the last chunk): the client read a complete, truncated 200
    (httpx direct: RemoteProtocolError, ReadTimeout), and off the send path nothing recorded it. Pass S1, F1: one framed by
    the close and ended by a reset (httpx direct: ReadError, curl 56) was taken for complete, judged green. The client's connection
    is closed mid-answer: it reads an incomplete answer; a send is judged as before; no error is logged."""
    judge = _judge()
    with raw_server(upstream) as up_url, serve_in_thread(TrafficProxy(up_url, judge, timeout=0.5), stack=stack) as proxy:
        read = _get(proxy, path)
    judge.settle()
    assert read == "RemoteProtocolError", read
    result = judge.result()
    if path == "/v1/sending":
        [finding] = result.findings
        assert finding.rule in ("no-server-error", "responds-in-time"), finding.rule
    else:
        assert any("cut off after its head" in note for note in result.traffic.notes), result.traffic.notes
    assert not uvicorn_errors, uvicorn_errors


@pytest.mark.parametrize("stack", STACKS)
@pytest.mark.parametrize("status", [b"304 Not Modified", b"204 No Content"])
def test_r1_7_a_bodyless_answer_with_a_length_ends_cleanly_and_keeps_the_connection(stack, status, uvicorn_errors):
    """Pass R1, F7: a 304 (or 204) carrying Content-Length: on the httptools stack uvicorn counted the length down for a
    body that never comes: "ASGI callable returned without completing response" logged, the client's kept-alive
    connection closed. Both answers to two requests on one connection arrive, nothing logged."""
    raw = b"HTTP/1.1 " + status + b"\r\nETag: \"x\"\r\nContent-Length: %d\r\n\r\n" % N
    request = b"GET /v1/emails/1 HTTP/1.1\r\nHost: 127.0.0.1\r\nIf-None-Match: \"x\"\r\n\r\n"
    closing = request.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n")
    with raw_server(each_request(lambda request: raw)) as up_url, \
            serve_in_thread(TrafficProxy(up_url, _judge(), timeout=5), stack=stack) as proxy_url:
        got = raw_exchange(proxy_url, request + closing)
    assert got.count(b"HTTP/1.1 " + status[:3]) == 2, got
    assert not uvicorn_errors, uvicorn_errors


@pytest.mark.parametrize("stack", STACKS)
def test_r1_8_the_reason_phrase_is_the_servers_not_the_upstreams_as_documented(stack):
    """Pass R1, F8: ASGI carries a status code and no reason phrase (uvicorn writes its own), so `200 Queued` reaches the
    client as `200 OK`: docs/traffic.md says so (the status passed unchanged is the code)."""
    raw = _answer(b"Content-Type: application/json", b"Content-Length: %d" % N, start=b"HTTP/1.1 200 Queued")
    with raw_server(each_request(lambda request: raw)) as up_url, \
            serve_in_thread(TrafficProxy(up_url, _judge(), timeout=5), stack=stack) as proxy_url:
        got = raw_exchange(proxy_url, b"GET /v1/emails HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
    assert got.startswith(b"HTTP/1.1 200 OK\r\n"), got[:40]
    docs = (Path(__file__).parent.parent / "docs" / "traffic.md").read_text(encoding="utf-8")
    assert "reason phrase" in docs and "200 Queued" in docs


# --- pass R2, F3 (the proxy's half): a body the server stack did not hand on as the client framed it ----------------


@pytest.mark.parametrize("stack", STACKS)
def test_pass_r2_f3_a_send_asking_for_an_upgrade_is_forwarded_whole_never_the_clients_fault(stack):
    """Pass R2, F3 (its neighbour in the proxy): `curl --http2` over http sends `Upgrade: h2c`; on uvicorn's httptools
    stack the proxy got no body, forwarded an empty one upstream, and the client was blamed for the upstream's 400.
    Pass R1, F3: the toolkit's servers read such a request whole (`wire.serve`), so it is forwarded as sent, without
    the upgrade, and judged (it was refused 400 here before, which forwarded nothing a correct client sent)."""
    body = json.dumps(VALID).encode()
    seen = []

    def upstream(request):
        seen.append(request)
        return b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % N + OK

    judge = _judge()
    with raw_server(each_request(upstream)) as up_url, \
            serve_in_thread(TrafficProxy(up_url, judge, timeout=5), stack=stack) as proxy_url:
        answer = raw_exchange(proxy_url, b"POST /v1/sending HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade, HTTP2-Settings, close\r\n"
                              b"Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\nContent-Type: application/json\r\n"
                              b"Authorization: Bearer " + FULL_KEY.encode() + b"\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
    judge.settle()
    result = judge.result()
    assert answer.startswith(b"HTTP/1.1 200") and len(seen) == 1 and seen[0].endswith(b"\r\n\r\n" + body), answer[:300]
    assert b"upgrade" not in seen[0].lower() and b"http2-settings" not in seen[0].lower()
    assert result.findings == [] and result.traffic.judged == 1 and result.exit_code == 0, result.headline
