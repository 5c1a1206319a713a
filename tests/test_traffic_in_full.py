"""Observed traffic's verdict is earned: what the judge could not read is said, and no green verdict rests on it.

Each test reproduces a finding of the sixth attack pass on the proxy and the middleware (issue 24):
an upstream that hid a violation behind a content coding, a size or the judge's CPU share; a path
judged that was not the path forwarded; a credential in the upstream URL's user name; a client that
stopped reading, blamed on the upstream; the Host header deciding what the middleware judged; a
status no HTTP server may send.
"""

import base64
import gzip
import json
import socket
import zlib

import httpx
import pytest

from migma_contract import contract_for
from migma_contract.asgi import ContractMiddleware
from migma_contract.reports import write_reports
from migma_contract.traffic.proxy import TrafficProxy
from migma_contract.traffic.tally import TrafficJudge
from migma_contract.wire.coding import Broken, ContentDecoder, Differs, decode
from migma_contract.wire.serve import serve_in_thread

from . import hostile_servers as hostile
from .faulty_servers import FULL_KEY

pytestmark = pytest.mark.e2e  # loopback servers

AUTH = {"Authorization": f"Bearer {FULL_KEY}"}
VALID = {"recipientType": "email", "recipientEmail": "ann@example.com", "from": "news@example.com", "fromName": "News",
         "subject": "Hello", "emailId": "email_welcome"}
NO_ID = json.dumps({"success": True, "data": {"status": "queued", "provider": "migma"}, "error": None}).encode()  # result-has-id
GOOD = json.dumps({"success": True, "data": {"id": "m1", "status": "queued", "provider": "migma"}, "error": None}).encode()


def _raw_deflate(data: bytes) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    return packer.compress(data) + packer.flush()


def _zlib_looking_raw_deflate(data: bytes) -> bytes:
    """Pass V3, F2: raw deflate opening with a stored block of 29 bytes whose padding bits are set (`08 1d 00 e2 ff`):
    its first two bytes pass as a zlib header; httpx and curl read it after failing it as zlib."""
    return bytes([0x08, 29, 0, 0xE2, 0xFF]) + data[:29] + _raw_deflate(data[29:])


def _through_proxy(answer: bytes, *, requests: int = 1, judge: TrafficJudge | None = None):
    """Send `requests` valid sends through a judging proxy to a raw upstream answering `answer`; the judge's result."""
    judge = judge or TrafficJudge(contract_for(), kind="proxy", label="proxy")
    with hostile.raw_server(hostile.each_request(lambda _: answer)) as up_url, \
            serve_in_thread(TrafficProxy(up_url, judge)) as proxy_url, httpx.Client() as client:
        answers = []
        for _ in range(requests):
            try:
                answers.append(client.post(f"{proxy_url}/v1/sending", json=VALID, headers=AUTH))
            except httpx.DecodingError:  # the client could not read it either
                answers.append(None)
    return judge.result(), answers


CODED = {
    "gzip-twice": ("gzip, gzip", gzip.compress(gzip.compress(NO_ID))),
    "two-fields": (None, gzip.compress(gzip.compress(NO_ID))),  # Content-Encoding: gzip, twice over
    "raw-deflate": ("deflate", _raw_deflate(NO_ID)),
    "zlib-deflate": ("deflate", zlib.compress(NO_ID)),
    "raw-deflate-zlib-looking": ("deflate", _zlib_looking_raw_deflate(NO_ID)),
}


@pytest.mark.parametrize("name", CODED)
def test_a_violation_behind_any_content_coding_a_client_reads_is_found(name):
    """Attack 6, M2: `gzip, gzip` and raw deflate (httpx reads both) hid a missing data.id; the proxy said exit 0."""
    coding, body = CODED[name]
    head = f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
    head += f"Content-Encoding: {coding}\r\n" if coding else "Content-Encoding: gzip\r\nContent-Encoding: gzip\r\n"
    result, answers = _through_proxy(head.encode() + b"\r\n" + body)
    assert answers[0].json()["success"] is True  # the client read it: so must the judge
    assert result.exit_code == 1 and "result-has-id" in {f.rule for f in result.findings}, result.traffic


def test_an_answer_in_a_coding_the_judge_cannot_read_is_no_green_verdict():
    """Attack 6, M2: `br` (or a 1 MiB padding past the cap) left only the status judged, and the verdict green."""
    result, _ = _through_proxy(hostile.response("200 OK", NO_ID, Content_Encoding="br"))
    assert (result.verdict, result.exit_code) == ("incomplete", 3)
    assert result.traffic.partly_judged == 1 and "INCOMPLETE" in result.headline
    assert any("Content-Encoding (br)" in note for note in result.traffic.notes)


def test_an_answer_past_the_cap_is_no_green_verdict():
    padded = NO_ID + b" " * (1 << 20)
    result, _ = _through_proxy(hostile.response("200 OK", padded))
    assert (result.verdict, result.exit_code) == ("incomplete", 3) and result.traffic.partly_judged == 1


def test_bytes_that_are_not_their_coding_are_the_servers_fault():
    """No client can read a gzip body that is not gzip: no-server-error, as the check judges it (httpx's DecodingError)."""
    result, answers = _through_proxy(hostile.response("200 OK", b"this is not gzip", Content_Encoding="gzip"))
    assert answers == [None] and result.exit_code == 1
    assert any(f.rule == "no-server-error" and "Content-Encoding" in f.actual for f in result.findings), result.findings


def test_a_correct_answer_in_any_coding_stays_green():
    for coding, body in (("gzip", gzip.compress(GOOD)), ("deflate", _raw_deflate(GOOD)), ("gzip, gzip", gzip.compress(gzip.compress(GOOD))),
                         ("deflate", _zlib_looking_raw_deflate(GOOD))):
        result, _ = _through_proxy(hostile.response("200 OK", body, Content_Encoding=coding))
        assert (result.verdict, result.exit_code) == ("passed", 0), (coding, result.traffic)


def test_the_decoder_caps_every_layer():
    """A bomb nested in two layers stops at the cap (each layer's output is bounded, not only the last)."""
    bomb = gzip.compress(gzip.compress(b"\0" * (64 << 20)))
    assert len(bomb) < 200_000 and decode(bomb, ["gzip", "gzip"], 1 << 20) is None


def _sync_flushed(data: bytes, wbits: int) -> bytes:
    """A stream flushed (Z_SYNC_FLUSH) and never finished: every byte of `data` in it, no final block, no trailer."""
    packer = zlib.compressobj(9, zlib.DEFLATED, wbits)
    return packer.compress(data) + packer.flush(zlib.Z_SYNC_FLUSH)


UNENDED = {
    "gzip-sync-flushed": ("gzip", _sync_flushed(NO_ID, 31)),
    "gzip-no-trailer": ("gzip", gzip.compress(NO_ID)[:-8]),
    "zlib-deflate-sync-flushed": ("deflate", _sync_flushed(NO_ID, zlib.MAX_WBITS)),
    "raw-deflate-sync-flushed": ("deflate", _sync_flushed(NO_ID, -zlib.MAX_WBITS)),
    "gzip-in-gzip-no-trailer": ("gzip, gzip", gzip.compress(gzip.compress(NO_ID))[:-8]),
}


@pytest.mark.parametrize("name", UNENDED)
def test_pass_r1_f6_a_coded_body_without_its_end_is_judged_as_httpx_reads_it(name):
    """Pass R1, F6: a gzip or deflate body without its end (sync-flushed with no final block, no CRC and length):
    httpx and curl --compressed read the JSON whole, but the judge called it "no complete response" (no-server-error,
    "no client can read them either") and left the body's rules unjudged. Judged as read, its missing end noted."""
    coding, body = UNENDED[name]
    assert decode(body, [c.strip() for c in coding.split(",")], 1 << 20) == NO_ID
    result, answers = _through_proxy(hostile.response("200 OK", body, Content_Encoding=coding))
    assert answers[0] is not None and answers[0].content == NO_ID  # httpx reads it whole
    assert {f.rule for f in result.findings} == {"result-has-id"}, result.findings  # the body judged; no-server-error not
    assert any("stops before its end" in note for note in result.traffic.notes), result.traffic.notes


@pytest.mark.parametrize(("coding", "body"), [("deflate", zlib.compress(NO_ID) + b"\r\n"), ("deflate", _raw_deflate(NO_ID) + b"xx"),
                                              ("gzip", gzip.compress(NO_ID) + b"\0\0")], ids=["zlib", "raw", "gzip"])
def test_pass_r1_f6_bytes_after_a_complete_stream_leave_the_body_judged_in_part(coding, body):
    """Pass R1, F6 (neighbour): a complete stream followed by stray bytes was Broken (no-server-error); httpx reads it,
    curl refuses a zlib or gzip one: clients differ, so the body is judged in part (no green, no blame)."""
    with pytest.raises(Differs):
        decode(body, [coding], 1 << 20)
    result, answers = _through_proxy(hostile.response("200 OK", body, Content_Encoding=coding))
    assert answers[0] is not None and answers[0].content == NO_ID
    assert result.findings == [] and result.traffic.partly_judged == 1 and result.exit_code == 3, result.findings


def test_pass_r1_f6_the_checks_client_reads_a_coded_body_as_httpx_does():
    """Pass R1, F6: the check's own client shares the decoder: a stream without its end, or with bytes after it, is read
    as httpx reads it and said (`Exchange.body_note`), never an exchange error."""
    for coding, body, said in [("gzip", _sync_flushed(NO_ID, 31), "stops before its end"),
                               ("deflate", zlib.compress(NO_ID) + b"\r\n", "after the end of its deflate stream"),
                               ("gzip", gzip.compress(NO_ID) + b"\0\0", "after the end of its last gzip member"),
                               ("gzip", gzip.compress(NO_ID), None)]:
        decoder = ContentDecoder([coding], 1 << 20)
        read = b"".join(decoder.feed(body[i:i + 7]) for i in range(0, len(body), 7))  # in pieces, as a socket gives it
        note = decoder.finish()
        assert read == NO_ID and (note is None if said is None else said in note), (coding, note)
    with pytest.raises(Broken):
        ContentDecoder(["gzip"], 1 << 20).feed(b"this is not gzip")


def test_sends_the_judge_had_no_share_for_are_no_green_verdict():
    """Attack 6, M3: past the judge's CPU share later exchanges passed unjudged, and the verdict stayed green."""
    judge = TrafficJudge(contract_for(), kind="proxy", label="proxy")
    judge._cpu_debt = 1e9  # the share spent (what a stream of costly answers does)
    result, answers = _through_proxy(hostile.response("200 OK", NO_ID), requests=3, judge=judge)
    assert [a.status_code for a in answers] == [200, 200, 200]  # forwarded all the same
    assert result.traffic.unjudged == 3 and (result.verdict, result.exit_code) == ("incomplete", 3)
    assert "3 passed unjudged" in result.headline


@pytest.mark.parametrize("path", [b"/v1/sending/.", b"/v1/sending/x/..", b"/v1/x/../sending", b"/v1/%2e/sending"])
def test_the_path_judged_is_the_path_forwarded(path):
    """Attack 6, M4: `/v1/sending/.` reached the upstream as /v1/sending but was judged as another path (0 judged)."""
    recorder = []

    def upstream(request: bytes) -> bytes:
        recorder.append(request.split(b" ", 2)[1])
        return hostile.response("200 OK", NO_ID)

    judge = TrafficJudge(contract_for(), kind="proxy", label="proxy")
    with hostile.raw_server(hostile.each_request(upstream)) as up_url, serve_in_thread(TrafficProxy(up_url, judge)) as proxy_url:
        host, port = proxy_url.split("://")[1].rsplit(":", 1)
        body = json.dumps(VALID).encode()
        with socket.create_connection((host, int(port))) as sock:
            sock.sendall(b"POST " + path + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                         + f"Authorization: Bearer {FULL_KEY}\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
                         + body)
            answer = b"".join(iter(lambda: sock.recv(65536), b""))
    assert answer.startswith(b"HTTP/1.1 400") and recorder == []  # refused, not forwarded unjudged
    # Pass K, F10: a send the proxy refused itself never reached the upstream: it passes unjudged, no green verdict
    result = judge.result()
    assert result.findings == [] and result.traffic.unjudged == 1 and result.exit_code == 3


def test_a_credential_in_the_upstreams_user_name_is_never_written(tmp_path):
    """Attack 6, M5: `http://<token>@staging` (no password) put the token, echoed by the upstream, in three reports."""
    token = "ghx_UserOnlyTOKEN0123456789"

    async def echoing(scope, receive, send):
        while (await receive()).get("more_body"):
            pass
        seen = [base64.b64decode(v.split()[1]).decode().split(":")[0] for k, v in scope["headers"] if k == b"authorization"]
        body = json.dumps({"success": True, "data": {"status": "queued", "provider": "migma", "seen": seen}, "error": None})
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": body.encode()})

    with serve_in_thread(echoing) as up_url:
        url = up_url.replace("://", f"://{token}@")
        judge = TrafficJudge(contract_for(), kind="proxy", label="proxy", url=url)
        with serve_in_thread(TrafficProxy(url, judge)) as proxy_url, httpx.Client() as client:
            client.post(f"{proxy_url}/v1/sending", json=VALID)
    result = judge.result()
    assert result.findings  # result-has-id: the echo is in a finding's body
    written = "".join(path.read_text(encoding="utf-8") for path in write_reports(result, tmp_path, ("json", "junit", "md", "html")))
    assert token not in written and "[REDACTED]" in written


def test_a_client_that_stops_reading_is_not_the_upstreams_delay():
    """Attack 6, L1: a client that took no part of a large answer made the upstream fail responds-in-time."""
    big = json.dumps({"success": True, "data": {"id": "m1", "status": "queued", "provider": "migma", "pad": "x" * (16 << 20)},
                      "error": None}).encode()
    judge = TrafficJudge(contract_for(), kind="proxy", label="proxy", timeout=1.0)
    with hostile.raw_server(hostile.each_request(lambda _: hostile.response("200 OK", big))) as up_url, \
            serve_in_thread(TrafficProxy(up_url, judge, timeout=1.0)) as proxy_url:
        host, port = proxy_url.split("://")[1].rsplit(":", 1)
        body = json.dumps(VALID).encode()
        with socket.create_connection((host, int(port))) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.sendall(b"POST /v1/sending HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                         + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
            judge.settle()
            while not judge.result().traffic.exchanges:  # the proxy gives up on the client: then it counts the exchange
                judge.settle()
    result = judge.result()
    assert not any(f.rule == "responds-in-time" for f in result.findings), result.findings
    assert result.traffic.unjudged == 1 and any("stopped taking the answer" in note for note in result.traffic.notes)


def test_the_middleware_judges_the_apps_path_whatever_the_host_header_says():
    """Attack 6, L2: `Host: app.example/x?` made the URL's path `/x`: the send went unjudged (0 judged, exit 0)."""
    async def app(scope, receive, send):
        while (await receive()).get("more_body"):
            pass
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": NO_ID})

    wrapped = ContractMiddleware(app)
    with serve_in_thread(wrapped) as url:
        host, port = url.split("://")[1].rsplit(":", 1)
        body = json.dumps(VALID).encode()
        with socket.create_connection((host, int(port))) as sock:
            sock.sendall(b"POST /v1/sending HTTP/1.1\r\nHost: 127.0.0.1/x?\r\nContent-Type: application/json\r\n"
                         + f"Authorization: Bearer {FULL_KEY}\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
                         + body)
            b"".join(iter(lambda: sock.recv(65536), b""))
    result = wrapped.result()
    assert result.traffic.judged == 1 and result.exit_code == 1


def test_a_status_no_http_server_may_send_is_judged_and_answered_502():
    """Attack 6, L5: an upstream status of 600 made the proxy fail itself (KeyError) and close the client's connection."""
    result, answers = _through_proxy(b"HTTP/1.1 600 Odd\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}")
    assert answers[0].status_code == 502
    assert result.exit_code == 1 and {"status-documented", "no-server-error"} & {f.rule for f in result.findings}
    assert not any("the proxy itself failed" in note for note in result.traffic.notes)


def test_a_gzip_answer_of_several_members_is_judged_in_part():
    """Seventh attack pass (D, finding 4): a valid first gzip member hid a second one (urllib3 reads both: not one
    JSON object), and the proxy said no violation. Pass I (finding 3): httpx, curl and browsers read the first only,
    so the judge cannot know what the client got: judged in part, its body rules not judged, never green. The
    check's own client (`ContentDecoder`) reads every member, as urllib3 does."""
    second = b'{"success": false, "error": "second member"}'
    body = gzip.compress(GOOD) + gzip.compress(second)
    with pytest.raises(Differs, match="more than one member"):
        decode(body, ["gzip"], 1 << 20)
    assert ContentDecoder(["gzip"], 1 << 20).feed(body) == GOOD + second
    for answer in (body, gzip.compress(GOOD[:-10]) + gzip.compress(GOOD[-10:])):  # each member, or both, as read
        result, _ = _through_proxy(hostile.response("200 OK", answer, Content_Encoding="gzip"))
        assert (result.verdict, result.exit_code) == ("incomplete", 3), result.traffic
        assert result.traffic.partly_judged == 1 and not result.findings
        assert any("more than one member" in note for note in result.traffic.notes), result.traffic.notes


def test_an_x_gzip_answer_is_judged_in_part():
    """Pass I (finding 3): `Content-Encoding: x-gzip` (httpx does not decode it; urllib3, curl and browsers do): what
    the client read does not show, so the answer's body is not judged and the verdict is not green (it was exit 0)."""
    result, answers = _through_proxy(hostile.response("200 OK", gzip.compress(GOOD), Content_Encoding="x-gzip"))
    assert answers[0].content[:2] == b"\x1f\x8b"  # httpx handed its client the gzip bytes
    assert (result.verdict, result.exit_code) == ("incomplete", 3) and result.traffic.partly_judged == 1
    assert any("x-gzip" in note for note in result.traffic.notes), result.traffic.notes
    with pytest.raises(Differs):
        decode(gzip.compress(GOOD), ["x-gzip"], 1 << 20)
    assert ContentDecoder(["x-gzip"], 1 << 20).feed(gzip.compress(GOOD)) == GOOD  # the check's client reads it


def test_a_body_of_many_gzip_members_is_left_unread_not_read_in_square_time():
    """Ninth attack pass (E, finding 1): 4 MiB of empty gzip members took 38 s (each member copied the rest)."""
    from migma_contract.wire.coding import MAX_MEMBERS, Unknown

    empty = gzip.compress(b"")
    with pytest.raises(Differs):  # read for a client not known, it stops at the second member
        decode(empty * 100_000, ["gzip"], 1 << 20)
    with pytest.raises(Unknown):  # the check's own client reads a few, no more
        ContentDecoder(["gzip"], 1 << 20).feed(empty * 100_000)
    assert ContentDecoder(["gzip"], 1 << 20).feed(gzip.compress(b"a") * MAX_MEMBERS) == b"a" * MAX_MEMBERS
