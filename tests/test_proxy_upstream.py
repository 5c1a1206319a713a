"""The proxy's own upstream connections (`wire.upstream`): HTTP/1.1 framing read right, connections reused only when sound.

Each upstream here is a raw socket server, so the bytes on the wire are exactly the ones a test names.
"""

import itertools
import json
import socket
import threading

import h11
import httpx
import pytest

from migma_contract import contract_for
from migma_contract.traffic.proxy import TrafficProxy
from migma_contract.traffic.tally import TrafficJudge
from migma_contract.wire import upstream as upstream_module
from migma_contract.wire.serve import serve_in_thread

from .helpers import tls_mock_url
from .hostile_servers import raw_server, read_request

pytestmark = pytest.mark.e2e
PARSERS = ["httptools", "h11"] if upstream_module.httptools is not None else ["h11"]


@pytest.fixture(autouse=True, params=PARSERS)
def parser(request, monkeypatch):
    """Every test with each parser that reads answers: llhttp where installed, h11 where not (another interpreter)."""
    monkeypatch.setattr(upstream_module, "PARSER", request.param)
    return request.param

VALID = {"recipientType": "email", "recipientEmail": "ann@example.com", "from": "news@example.com", "fromName": "News",
         "subject": "Hello", "emailId": "email_welcome"}
_IDS = itertools.count()


def ok() -> bytes:
    """A send's success answer, with an id of its own (two accepted sends never share one)."""
    return json.dumps({"success": True, "data": {"id": f"m{next(_IDS)}", "status": "queued"}, "error": None}).encode()


OK = ok()


class Upstream:
    """A raw keep-alive server: `answer(request)` gives each answer's bytes (None: close the connection instead)."""

    def __init__(self, answer):
        self.answer, self.requests, self.connections = answer, [], 0
        self._lock = threading.Lock()

    def __call__(self, conn: socket.socket, stop: threading.Event) -> None:
        with self._lock:
            self.connections += 1
        on_this = 0
        while not stop.is_set():
            request = read_request(conn)
            if not request:
                return
            with self._lock:
                self.requests.append(request)
            on_this += 1
            answer = self.respond(request, on_this)
            if answer is None:
                return
            conn.sendall(answer)
            if b"connection: close" in answer.lower():
                return

    def respond(self, request: bytes, on_this: int) -> bytes | None:
        """The answer to the `on_this`-th request on its connection (None: close the connection instead)."""
        return self.answer(request)


def _answer(status=b"200 OK", body=None, *extra: bytes) -> bytes:
    body = ok() if body is None else body
    return (b"HTTP/1.1 " + status + b"\r\nContent-Type: application/json\r\n" + b"".join(e + b"\r\n" for e in extra)
            + b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)


def _through(upstream, *calls, judge=True):
    """Serve `upstream` raw, the proxy in front; run each call(client) in order on one keep-alive client; their results."""
    with raw_server(upstream) as up_url:
        tally = TrafficJudge(contract_for(), kind="proxy", label="t", url=up_url) if judge else None
        with serve_in_thread(TrafficProxy(up_url, tally, timeout=5.0)) as url, httpx.Client(base_url=url, timeout=10) as client:
            results = [call(client) for call in calls]
    if tally is not None:
        tally.settle()
    return results, tally


def _post(client):
    return client.post("/v1/sending", json=VALID, headers={"Authorization": "Bearer mc_test_full_access"})


def test_a_keep_alive_upstream_connection_serves_the_next_request():
    upstream = Upstream(lambda request: _answer())
    (first, second, third), _ = _through(upstream, _post, _post, _post)
    assert [r.status_code for r in (first, second, third)] == [200, 200, 200]
    assert upstream.connections == 1 and len(upstream.requests) == 3


def test_an_idle_connection_past_its_expiry_is_not_reused(monkeypatch):
    monkeypatch.setattr(upstream_module, "IDLE_EXPIRY", 0.0)
    upstream = Upstream(lambda request: _answer())
    results, _ = _through(upstream, _post, _post)
    assert [r.status_code for r in results] == [200, 200] and upstream.connections == 2


class _ClosesTheSecondRequestOnAConnection(Upstream):
    """An upstream whose keep-alive timeout fires as the second request on a connection arrives: closed, no answer."""

    def __init__(self) -> None:
        super().__init__(lambda request: _answer())

    def respond(self, request: bytes, on_this: int) -> bytes | None:
        return None if on_this == 2 else super().respond(request, on_this)


def test_s3_f4_s4_f1_a_kept_alive_connection_closed_before_an_answer_resends_what_may_be_sent_again_only():
    """Pass S3, F4: a correct upstream closing an idle kept-alive connection (its keep-alive timeout: gunicorn's is 2 s,
    the proxy kept connections 4 s, now 1.5 s) as the proxy reused it gave the client a 502, where curl and browsers
    open a new connection: a method that may be sent again is, once, on a new connection. Pass S4, F1: passing a POST
    unjudged in that case hid an upstream that crashes on every request of a reused connection (exit 3, no finding),
    which httpx reads as a failure: a POST is not sent again (RFC 9110 §9.2.2) and the failure stands."""
    upstream = _ClosesTheSecondRequestOnAConnection()
    (first, second), judge = _through(upstream, lambda c: c.get("/v1/emails/1"), lambda c: c.get("/v1/emails/2"))
    assert (first.status_code, second.status_code) == (200, 200) and upstream.connections == 2
    upstream = _ClosesTheSecondRequestOnAConnection()
    (first, second), judge = _through(upstream, _post, _post)
    assert (first.status_code, second.status_code) == (200, 502), second.text
    result = judge.result()
    assert {f.rule for f in result.findings} == {"no-server-error"} and len(upstream.requests) == 2, result.findings


def test_an_answer_saying_close_or_with_bytes_past_its_end_spoils_the_connection():
    bodies = [ok(), ok(), ok()]
    answers = iter([_answer(b"200 OK", bodies[0], b"Connection: close"), _answer(b"200 OK", bodies[1]) + b"garbage, no answer asked",
                    _answer(b"200 OK", bodies[2])])
    upstream = Upstream(lambda request: next(answers))
    results, judge = _through(upstream, _post, _post, _post)
    assert [r.status_code for r in results] == [200, 200, 200]
    assert [r.content for r in results] == bodies  # the garbage never became an answer
    assert upstream.connections == 3 and judge.result().traffic.judged == 3


def _h11_keeps_alive(version: bytes, field: bytes) -> bool:
    """h11's own reading (httpx's): whether it keeps the connection after a final answer of this version and field."""
    from h11._connection import _keep_alive

    name, _, value = field.partition(b":")
    return _keep_alive(h11.Response(status_code=200, headers=[(name, value.strip())], http_version=version))


CONNECTION_FIELDS = [b"Connection: keep-alive", b"Proxy-Connection: keep-alive", b"Connection: keep-alive, x", b"Connection: Keep-Alive",
                     b"Connection: close", b"Connection: x, Close", b"Connection: close, ", b"Connection: ,close", b"Connection: close;x=1",
                     b"Connection:\tclose", b"Proxy-Connection: close", b"Connection: closed", b"Connection: upgrade", b"X-Connection: close"]


@pytest.mark.parametrize("version", [b"1.0", b"1.1"])
def test_v3_f1_the_connection_is_kept_exactly_when_h11_keeps_it(version):
    """Pass V3, F1 (the rule): llhttp keeps an HTTP/1.0 answer saying `Connection: keep-alive` (or `Proxy-Connection`,
    which it reads as Connection), h11 never keeps an HTTP/1.0 connection: the rule is h11's, for every spelling."""
    for field in CONNECTION_FIELDS:
        name, _, value = field.partition(b":")
        assert upstream_module.h11_keeps_alive(version.decode(), [(name, value.strip())]) == _h11_keeps_alive(version, field), field
    assert upstream_module.h11_keeps_alive(version.decode(), []) is (version == b"1.1")


@pytest.mark.parametrize("version, field", [(b"1.0", b"Connection: keep-alive"), (b"1.0", b"Proxy-Connection: keep-alive"),
                                            (b"1.0", b"Connection: keep-alive, x"), (b"1.1", b"Connection: Keep-Alive"),
                                            (b"1.1", b"Connection: x, Close"), (b"1.1", b"Connection: ,close")])
def test_v3_f1_an_upstream_connection_is_reused_only_where_httpx_reuses_it(version, field):
    """Pass V3, F1: an HTTP/1.0 upstream answering `Connection: keep-alive` had its connection reused (llhttp's
    should_keep_alive), where httpx (h11) never reuses an HTTP/1.0 connection: the next POST went on a connection the
    upstream was closing, a 502 and a no-server-error blamed on a correct upstream (10 of 20 sends in one after another)."""
    upstream = Upstream(lambda request: _answer(b"200 OK", None, field).replace(b"HTTP/1.1 ", b"HTTP/" + version + b" ", 1))
    results, judge = _through(upstream, _post, _post, _post)
    assert [r.status_code for r in results] == [200, 200, 200]
    assert upstream.connections == (1 if _h11_keeps_alive(version, field) else 3), (upstream.connections, field)
    assert judge.result().traffic.judged == 3 and not judge.result().findings


def test_head_gets_its_answers_head_and_no_wait_for_a_body():
    upstream = Upstream(lambda request: _answer(b"200 OK", b"").replace(b"Content-Length: 0", b"Content-Length: 42")
                        if request.startswith(b"HEAD ") else _answer())
    (head, after), _ = _through(upstream, lambda c: c.head("/v1/other"), _post)
    assert head.status_code == 200 and head.headers["content-length"] == "42" and head.content == b""
    assert after.status_code == 200 and after.json()["success"] is True


def test_an_interim_answer_is_passed_over_and_the_final_one_forwarded():
    upstream = Upstream(lambda request: b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n" + _answer())
    (response,), judge = _through(upstream, _post)
    assert response.status_code == 200 and response.json()["success"] is True and "link" not in response.headers
    assert judge.result().traffic.judged == 1 and not judge.result().findings


def test_an_answer_ending_with_its_connection_is_whole_and_judged():
    bodies = [ok(), ok()]
    answers = iter(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n" + b for b in bodies)
    upstream = Upstream(lambda request: next(answers))
    (response, again), judge = _through(upstream, _post, _post)
    assert response.status_code == 200 and [response.content, again.content] == bodies
    assert judge.result().traffic.judged == 2 and not judge.result().findings and upstream.connections == 2


def test_a_chunked_answer_passes_whole_and_its_trailers_never_become_headers():
    bodies = [ok(), ok()]

    def chunked(body):
        chunks = b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + 7]), body[i:i + 7]) for i in range(0, len(body), 7))
        return (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n" + chunks
                + b"0\r\nX-Trailer: smuggled\r\n\r\n")

    answers = iter(chunked(b) for b in bodies)
    upstream = Upstream(lambda request: next(answers))
    (response, again), judge = _through(upstream, _post, _post)
    assert response.status_code == 200 and "x-trailer" not in response.headers
    assert [response.content, again.content] == bodies and upstream.connections == 1  # read whole: the connection serves the next one
    assert judge.result().traffic.judged == 2 and not judge.result().findings


def test_q1_f0_interim_heads_are_never_kept_past_their_end(monkeypatch):
    """Pass Q1, F0: a hostile upstream streaming interim heads (each under h11's bound) made the proxy keep every byte
    of them until the final head: what the answer holds of its head stays within h11's bound, however many arrive."""
    held = []
    feed = upstream_module.UpstreamResponse._feed

    def watched(self, data):
        feed(self, data)
        held.append(len(self._head_raw))

    monkeypatch.setattr(upstream_module.UpstreamResponse, "_feed", watched)
    interim = b"HTTP/1.1 102 Processing\r\n" + b"".join(b"X-P%d: %s\r\n" % (i, b"v" * 1000) for i in range(60)) + b"\r\n"
    upstream = Upstream(lambda request: interim * 64 + _answer())  # ~3.9 MB of interim heads, then the answer
    (response,), _ = _through(upstream, _post)
    assert response.status_code == 200 and response.json()["success"] is True
    assert held and max(held) <= upstream_module.MAX_HEAD_BYTES


@pytest.mark.parametrize("ending", [b"\r\nContent-Length: 2\r\n\r\n{}", b"a" * 200_000], ids=["whole", "never-ending"])
def test_an_answer_head_past_the_bound_is_a_502_and_a_finding_not_memory(ending):
    # past 100 KiB + 64 KiB: incomplete after some read holding over 100 KiB, however the bytes arrive (httpx refuses it)
    huge = b"HTTP/1.1 200 OK\r\nX-Huge: " + b"a" * (upstream_module.MAX_HEAD_BYTES + 70_000) + ending
    upstream = Upstream(lambda request: huge)  # never-ending: the connection stays open, the head never ends
    (response,), judge = _through(upstream, _post)
    assert response.status_code == 502 and "over 102,400 bytes" in response.json()["error"]
    assert [(f.rule, f.broken_by) for f in judge.result().findings] == [("no-server-error", "server")]


class _Wire:
    """A transport that takes what is written and is closed when told (an UpstreamResponse driven by hand)."""

    def __init__(self):
        self.closed = False

    def write(self, data):
        pass

    def writelines(self, parts):
        pass

    def is_closing(self):
        return self.closed

    def close(self):
        self.closed = True

    def pause_reading(self):
        pass

    def resume_reading(self):
        pass


def _proxy_reads_whole(reads, parser):
    """Whether the proxy's upstream connection reads an answer arriving in `reads` whole (no error)."""
    connection = upstream_module.UpstreamResponse(upstream_module.UpstreamPool("http", "127.0.0.1", 9, parser=parser))
    connection.connection_made(_Wire())
    connection.begin(b"POST /v1/sending HTTP/1.1\r\n\r\n", b"", head_only=False)
    for read in reads:
        connection.data_received(read)
    return connection._error is None and connection._done


def _httpx_reads_whole(reads):
    """Whether httpx reads it whole: h11 as httpcore drives it (its bound, reads of at most its READ_NUM_BYTES, the next
    event asked after each)."""
    from httpcore._async.http11 import AsyncHTTP11Connection as Httpcore

    h11_state = h11.Connection(h11.CLIENT, max_incomplete_event_size=Httpcore.MAX_INCOMPLETE_EVENT_SIZE)
    h11_state.send(h11.Request(method="POST", target="/v1/sending", headers=[("Host", "u"), ("Content-Length", "0")]))
    h11_state.send(h11.EndOfMessage())
    size = Httpcore.READ_NUM_BYTES
    try:
        for piece in (read[at:at + size] for read in reads for at in range(0, len(read), size)):
            h11_state.receive_data(piece)
            while (event := h11_state.next_event()) is not h11.NEED_DATA:
                if isinstance(event, h11.EndOfMessage):
                    return True
    except h11.RemoteProtocolError:
        return False
    return False


def _head_of(fields, chunked=False):
    if chunked:
        return (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
                + b"%x;" % len(OK) + b"e" * fields + b"\r\n" + OK + b"\r\n0\r\n\r\n")
    return b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n" + b"".join(fields) + b"Content-Length: %d\r\n\r\n" % len(OK) + OK


HEADS = {
    "88KB-of-tight-fields": _head_of([b"a:\r\n"] * 22_000),
    "110KB": _head_of([b"X-Pad-%d: " % i + b"v" * 11_000 + b"\r\n" for i in range(10)]),
    "143KB": _head_of([b"X-Pad-%d: " % i + b"v" * 11_000 + b"\r\n" for i in range(13)]),
    "176KB": _head_of([b"X-Pad-%d: " % i + b"v" * 11_000 + b"\r\n" for i in range(16)]),
    "99KB": _head_of([b"X-Pad: " + b"v" * 101_000 + b"\r\n"]),
    "110KB-chunk-line": _head_of(110_000, chunked=True),
    "90KB-chunk-line": _head_of(90_000, chunked=True),
    "110KB-bare-LF": _head_of([b"X-Pad-%d: " % i + b"v" * 11_000 + b"\n" for i in range(10)]).replace(b"\r\n", b"\n"),
    "143KB-bare-LF": _head_of([b"X-Pad-%d: " % i + b"v" * 11_000 + b"\n" for i in range(13)]).replace(b"\r\n", b"\n"),
    "110KB-interim": b"HTTP/1.1 103 Early Hints\r\nLink: <" + b"l" * 110_000 + b">\r\n\r\n" + _head_of([]),
}


@pytest.mark.parametrize("name", HEADS)
def test_v3_f3_an_answer_head_is_bounded_exactly_as_httpx_bounds_it(name, parser):
    """Pass V3, F3: heads httpx reads were refused 502 and blamed on the upstream (no-server-error): each field was counted
    `name: value` and CRLF (a tight `a:` five bytes for four: an 88 KB head counted past 100 KiB), and every head over 100
    KiB was refused, where h11 refuses only one still incomplete after a read with over 100 KiB held (httpcore reads 64
    KiB at a time: httpx reads a 110 KB head sent at once). However the bytes arrive, the proxy reads what httpx reads."""
    answer = HEADS[name]
    for size in (None, 1_000, 4_096, 40_000, 52_000, 65_536, 100_000, 150_000):
        reads = [answer] if size is None else [answer[at:at + size] for at in range(0, len(answer), size)]
        assert _proxy_reads_whole(reads, parser) == _httpx_reads_whole(reads), (name, size)
    assert _httpx_reads_whole([answer]) is not name.startswith(("143KB", "176KB"))  # (both ways are tried)


def test_v3_f3_a_head_of_tight_fields_under_the_bound_reaches_the_client():
    """Pass V3, F3: 22,000 `a:` fields (an 88,067-byte head): httpx reads it; the proxy answered 502, a no-server-error."""
    upstream = Upstream(lambda request: HEADS["88KB-of-tight-fields"])
    (response,), judge = _through(upstream, _post)
    assert response.status_code == 200 and response.content == OK
    assert judge.result().traffic.judged == 1 and not judge.result().findings


def test_an_upstream_that_closes_mid_answer_is_told_and_judged_unanswered():
    def closing(conn, stop):
        read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n" + OK[:10])
        conn.close()

    with raw_server(closing) as up_url:
        judge = TrafficJudge(contract_for(), kind="proxy", label="t", url=up_url)
        with serve_in_thread(TrafficProxy(up_url, judge, timeout=5.0)) as url, httpx.Client(base_url=url) as client, \
                pytest.raises(httpx.RemoteProtocolError):  # what had arrived, then the end: never a whole answer
            _post(client)
    judge.settle()
    assert judge.result().traffic.unanswered == 1


@pytest.mark.parametrize("target, forwarded", [
    (b"/v1/x?a=%20b&c=<d>", b"/v1/x?a=%20b&c=<d>"),  # visible ASCII passes as it came, not re-encoded
    (b"/v1/caf\xc3\xa9", None),  # not ASCII: a 400, nothing forwarded
])
def test_the_request_target_is_forwarded_as_it_came_or_refused(target, forwarded):
    upstream = Upstream(lambda request: _answer())
    with raw_server(upstream) as up_url, serve_in_thread(TrafficProxy(up_url, None), stack="h11") as url:
        host, port = url.split("://", 1)[1].rsplit(":", 1)
        with socket.create_connection((host, int(port))) as sock:
            sock.sendall(b"GET " + target + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            answer = b"".join(iter(lambda: sock.recv(65536), b""))
    if forwarded is None:
        assert answer.startswith(b"HTTP/1.1 400") and upstream.requests == []
    else:
        assert answer.startswith(b"HTTP/1.1 200") and upstream.requests[0].startswith(b"GET " + forwarded + b" HTTP/1.1\r\n")


def test_what_the_upstream_receives_is_the_clients_request_with_its_own_host_and_length():
    upstream = Upstream(lambda request: _answer())
    body = b'{"a": 1}'
    (_, _), _ = _through(upstream, lambda c: c.post("/v1/x", content=body, headers={"X-Case": "Kept", "Content-Type": "text/plain"}),
                         lambda c: c.post("/v1/x", content=b""), judge=False)
    head, _, sent = upstream.requests[0].partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    assert lines[0] == b"POST /v1/x HTTP/1.1" and lines[1].startswith(b"Host: 127.0.0.1:")
    assert b"x-case: Kept" in lines and b"content-length: 8" in lines and sent == body
    assert not any(line.lower().startswith((b"connection:", b"keep-alive:")) for line in lines)
    assert b"content-length: 0" in upstream.requests[1].split(b"\r\n")  # an empty body the client framed, framed


# --- the hand-over to the judge's thread ----------------------------------------------------------------------


def _blocked_judge():
    """A judge whose worker is held inside the first exchange until `release` is set: what is handed over meanwhile waits."""
    from migma_contract.traffic.tally import ObservedExchange

    judge = TrafficJudge(contract_for(), "documented", kind="proxy", label="t")
    inside, release = threading.Event(), threading.Event()
    answer = json.dumps({"success": False, "error": "no"}).encode()

    def exchange():
        return ObservedExchange("POST", "/v1/sending", [("Authorization", "Bearer k")], b"{}", 400,
                                [("content-type", "application/json")], answer)

    def first():
        inside.set()
        release.wait()
        return exchange()

    judge.observe_later(first, size=100)
    inside.wait()
    return judge, exchange, release


def test_a_burst_of_small_exchanges_waits_to_be_judged_rather_than_passing_unjudged():
    """A check's burst through the proxy outran the judge: past 64 waiting (whatever their size) they went unjudged."""
    judge, exchange, release = _blocked_judge()
    for _ in range(300):
        judge.observe_later(exchange, size=3_000)
    release.set()
    assert judge.result().traffic.judged == 301 and judge.unjudged_behind == 0


def test_what_waits_to_be_judged_is_bounded_by_the_bytes_it_holds(monkeypatch):
    from migma_contract.traffic import tally

    judge, exchange, release = _blocked_judge()
    for _ in range(10):  # 10 MiB each: six fit under the bound (the first holds 100 bytes)
        judge.observe_later(exchange, size=10 << 20)
    for _ in range(70):  # a caller that does not say: counted at 1 MiB each
        judge.observe_later(exchange)
    release.set()
    result = judge.result()
    assert tally.MAX_WAITING_BYTES == 64 << 20
    assert result.traffic.judged == 1 + 6 + 3 and judge.unjudged_behind == 4 + 67
    assert any("passed through unjudged" in note for note in result.traffic.notes)


# --- an https upstream ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tls_upstream(tmp_path_factory):
    with tls_mock_url(tmp_path_factory.mktemp("tls")) as url:
        yield url


@pytest.mark.parametrize("verify", [True, False])
def test_an_https_upstream_is_verified_unless_told_not_to(tls_upstream, verify):
    judge = TrafficJudge(contract_for(), kind="proxy", label="t", url=tls_upstream)
    with serve_in_thread(TrafficProxy(tls_upstream, judge, timeout=5.0, verify_tls=verify)) as url, \
            httpx.Client(base_url=url) as client:
        first, second = _post(client), _post(client)
    if verify:  # a certificate no trusted authority signed: the connection is refused, a 502 saying why
        assert first.status_code == 502 and "CERTIFICATE_VERIFY_FAILED" in first.json()["error"]
    else:
        assert [first.status_code, second.status_code] == [200, 200]
        assert judge.result().traffic.judged == 2 and not judge.result().findings


def test_a_second_answer_to_one_request_never_reaches_the_next_client():
    """An upstream answering one request twice (in one write): the second is not read as the next request's answer."""
    bodies = [ok(), ok(), ok()]
    answers = iter([_answer(b"200 OK", bodies[0]) + _answer(b"500 Internal Server Error", b'{"smuggled": true}'),
                    _answer(b"200 OK", bodies[1]), _answer(b"200 OK", bodies[2])])
    upstream = Upstream(lambda request: next(answers))
    results, judge = _through(upstream, _post, _post)
    assert [(r.status_code, r.content) for r in results] == [(200, bodies[0]), (200, bodies[1])]
    assert upstream.connections == 2 and not judge.result().findings


# --- the exchange's two deadlines ----------------------------------------------------------------------------


class _Clock:
    """A loop's clock and timers, moved by hand."""

    def __init__(self):
        self.now, self.timers, self.soon, self.io = 0.0, [], [], []

    def time(self):
        return self.now

    def call_at(self, when, callback):
        timer = _Timer(when, callback)
        self.timers.append(timer)
        return timer

    def call_soon(self, callback):
        handle = _Timer(self.now, callback)
        self.soon.append(handle)
        return handle

    def run_until(self, now):
        """Run the timers due by `now`, then turn the loop until nothing is ready: each turn reads the sockets first
        (`io`: callbacks as data_received would run them), then runs what was made ready (asyncio's order)."""
        self.now = now
        for timer in [t for t in self.timers if not t.cancelled and t.when <= now]:
            timer.cancelled = True
            timer.callback()
        while self.soon:
            turn, self.soon = self.soon, []
            io, self.io = self.io, []
            for callback in io:
                callback()
            for handle in turn:
                if not handle.cancelled:
                    handle.callback()

    def armed(self):
        return [t.when for t in self.timers if not t.cancelled]


class _Timer:
    def __init__(self, when, callback):
        self.when, self.callback, self.cancelled = when, callback, False

    def cancel(self):
        self.cancelled = True


class _Task:
    cancelled = False

    def cancel(self):
        self.cancelled = True


def test_the_upstreams_deadline_does_not_run_while_the_client_reads_and_comes_back_after():
    from migma_contract.traffic.proxy import _Deadline

    clock, task = _Clock(), _Task()
    deadline = _Deadline(1.0, clock, task)
    clock.run_until(0.9)
    deadline.sending()  # the head came at 0.9; the client takes its time
    clock.run_until(1.0)  # the upstream's second is up, but the client is reading: its own deadline is 1.9
    assert not task.cancelled and clock.armed() == [pytest.approx(1.9)]
    clock.run_until(1.1)
    deadline.sent()  # it read for 0.2 s: the upstream's deadline is back (1.2), not left at the client's
    assert clock.armed() == [pytest.approx(1.2)] and deadline.client_wait == pytest.approx(0.2)
    clock.run_until(1.25)
    assert task.cancelled and deadline.expired == "upstream"


def test_a_client_that_takes_no_part_for_a_whole_timeout_is_told_apart_from_the_upstream():
    from migma_contract.traffic.proxy import _Deadline

    clock, task = _Clock(), _Task()
    deadline = _Deadline(1.0, clock, task)
    clock.run_until(0.2)
    deadline.sending()
    clock.run_until(1.0)
    clock.run_until(1.2)
    assert task.cancelled and deadline.expired == "client"


def test_an_answer_read_before_a_late_timer_runs_is_no_504_and_is_timed_by_its_arrival():
    """Pass X1, F2: the loop held up 13 s (a hostile body's `_method` search) past a 10 s deadline; the upstream's answer
    had been read at 0.3 s, but the timer, running late, measured the loop's time and turned it into a 504 and a
    responds-in-time finding. The upstream is timed by when its bytes were read (`settled`), never by the timer."""
    from migma_contract.traffic.proxy import _Deadline

    clock, task = _Clock(), _Task()
    deadline = _Deadline(10.0, clock, task)
    clock.run_until(0.3)
    deadline.settled()  # the answer's last byte read at 0.3 s (the connection's I/O callback)
    clock.run_until(13.0)  # the timer runs 3 s late; the task has yet to take the answer
    assert not task.cancelled and deadline.expired is None
    assert deadline.upstream_elapsed() == pytest.approx(0.3) and not deadline.late  # not the loop's 13 s
    deadline.sending()  # the client's deadline is still watched
    clock.run_until(30.0)
    assert task.cancelled and deadline.expired == "client"


def test_bytes_waiting_in_the_socket_when_a_late_timer_runs_are_read_before_the_upstream_is_called_late():
    """Pass X1, F2: after a stall, uvloop runs a due timer before it reads its sockets: the answer waiting there is read
    (a turn of the loop) before the deadline decides; when its bytes arrived does not show, so responds-in-time is left
    unjudged (`upstream_elapsed` None), never a 504."""
    from migma_contract.traffic.proxy import _Deadline

    clock, task = _Clock(), _Task()
    deadline = _Deadline(10.0, clock, task)
    clock.io.append(deadline.settled)  # read at the loop's next turn
    clock.run_until(13.0)
    assert not task.cancelled and deadline.expired is None
    assert deadline.late and deadline.upstream_elapsed() is None


def test_an_upstream_with_no_answer_by_its_deadline_is_still_a_504():
    from migma_contract.traffic.proxy import _Deadline

    clock, task = _Clock(), _Task()
    deadline = _Deadline(10.0, clock, task)
    clock.run_until(10.0)  # the loop turns, reads nothing: the upstream is late
    assert task.cancelled and deadline.expired == "upstream"
    clock, task = _Clock(), _Task()
    deadline = _Deadline(10.0, clock, task)
    clock.run_until(11.0)
    deadline.settled()  # (bytes after the cancel change nothing)
    assert task.cancelled and deadline.expired == "upstream"


@pytest.mark.parametrize("parser", ["httptools", "h11"])
def test_the_upstream_connection_says_its_answer_is_in_as_it_reads_the_last_byte(parser):
    """Pass X1, F2: the deadline learns the answer is in from the connection's I/O callback (`on_settled`), once, when
    the last byte is read, not when the task waiting for it next runs; a failure settles it too."""
    told = []
    connection = upstream_module.UpstreamResponse(upstream_module.UpstreamPool("http", "127.0.0.1", 9, parser=parser))
    connection.connection_made(_Wire())
    connection.begin(b"POST /v1/sending HTTP/1.1\r\n\r\n", b"", head_only=False, on_settled=lambda: told.append(1))
    connection.data_received(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n{}")
    assert told == []  # half the body: not in yet
    connection.data_received(b"{}")
    assert told == [1]
    connection.connection_lost(None)
    assert told == [1]  # once
    failed = upstream_module.UpstreamResponse(upstream_module.UpstreamPool("http", "127.0.0.1", 9, parser=parser))
    failed.connection_made(_Wire())
    failed.begin(b"POST /v1/sending HTTP/1.1\r\n\r\n", b"", head_only=False, on_settled=lambda: told.append(2))
    failed.connection_lost(ConnectionResetError())
    assert told == [1, 2]


def test_the_body_search_for_an_echoing_method_runs_off_the_event_loop():
    """Pass X1, F2 (t14_stall2.py): `_echoing_method(scope, body)` searched a 1 MiB body on the proxy's event loop
    (~0.1-0.26 s each): 40-110 such bodies held the loop past the deadline of a send answered in 0.3 s."""
    import asyncio

    from migma_contract import contract_for
    from migma_contract.traffic import proxy as proxy_module
    from migma_contract.traffic.tally import TrafficJudge

    where = []
    searched = proxy_module._echoing_method
    learned = TrafficJudge.learn_request

    def on_loop():
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return False
        return True

    def echoing(scope, body=None):
        if body is not None:
            where.append(("search", on_loop()))
        return searched(scope, body)

    def learn(self, method, url, headers, body=None):
        if body is not None:
            where.append(("learn", on_loop()))
        return learned(self, method, url, headers, body)

    judge = TrafficJudge(contract_for(), "documented", kind="proxy", label="test")
    app = proxy_module.TrafficProxy("http://127.0.0.1:9", judge, timeout=3)
    body = b"a=1&_method=TRACE"
    scope = {"type": "http", "method": "POST", "path": "/upload", "raw_path": b"/upload", "query_string": b"",
             "headers": [(b"host", b"127.0.0.1"), (b"content-type", b"application/x-www-form-urlencoded"),
                         (b"content-length", b"%d" % len(body))], "http_version": "1.1", "scheme": "http"}
    messages = [{"type": "http.request", "body": body, "more_body": False}]
    sent = []

    async def receive():
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(proxy_module, "_echoing_method", echoing)
        patch.setattr(TrafficJudge, "learn_request", learn)
        asyncio.run(app(scope, receive, send))
    assert sent[0]["status"] == 405  # TRACE asked for in the body: refused, never forwarded
    assert sorted(where) == [("learn", False), ("search", False)]


@pytest.mark.parametrize("head_first", [False, True], ids=["head-trickled", "body-trickled"])
def test_an_upstream_trickling_its_answer_past_the_deadline_is_a_finding_and_the_exchange_ends(head_first):
    def trickling(conn, stop):  # a byte every 50 ms, forever: each read succeeds, the answer never ends
        read_request(conn)
        head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n"
        if head_first:
            conn.sendall(head + b"{")
        for byte in (b"x" * 100_000 if head_first else head + b"x" * 100_000):
            if stop.wait(0.05):
                return
            conn.sendall(bytes([byte]))

    judge = TrafficJudge(contract_for(), kind="proxy", label="t")
    with raw_server(trickling) as up_url, serve_in_thread(TrafficProxy(up_url, judge, timeout=0.5)) as url, \
            httpx.Client(base_url=url, timeout=30) as client:
        if head_first:
            with pytest.raises(httpx.RemoteProtocolError):  # the head and what had come, then the end: never a whole answer
                _post(client)
        else:
            assert _post(client).status_code == 504
    judge.settle()
    assert [(f.rule, f.broken_by) for f in judge.result().findings] == [("responds-in-time", "server")]


def test_the_worker_judges_what_waits_a_batch_at_a_time_and_one_failure_costs_only_its_own_exchange():
    """The worker takes what waits in batches (its CPU clock read once a batch): an exchange that cannot be built is
    counted unjudged and noted, the rest of its batch is judged, and the waiting counts come back to nothing."""
    judge, exchange, release = _blocked_judge()
    built = []

    def broken():
        raise RuntimeError("a bug")

    def counted():
        built.append(1)
        return exchange()

    for index in range(100):  # a few batches wait behind the first exchange
        judge.observe_later(broken if index in (5, 40, 77) else counted, size=500)
    release.set()
    result = judge.result()
    assert (result.traffic.judged, result.traffic.unjudged, len(built)) == (98, 3, 97)
    assert judge._pending == 0 and judge._pending_bytes == 0 and judge.unjudged_behind == 0
    assert any("could not be judged (RuntimeError)" in note for note in result.traffic.notes)
