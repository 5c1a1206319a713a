"""A reproduction curl line sends the one request it shows, run by the real curl (issue 24's red-team pass, M3, L2).

A recording chooses the URL, headers, method and body the line carries; curl reads some of them
as more than data: URL globbing (`[1-1000000]` sent a million requests with the user's key), a
line break in a header value (curl sent it on: extra headers), `@` at the start of a `-H` word or
of a `--data-binary` body (a file of the user's read and sent), a base naming another scheme
(`file://`). Each line here runs under bash with curl against a raw listener on loopback that
records every request it receives.
"""

import os
import shutil
import socket
import subprocess
import threading
from dataclasses import dataclass

import pytest

from migma_contract.core.redact import Redactor
from migma_contract.run.records import PLACEHOLDER_BASE, curl_line, make_records
from migma_contract.wire.client import Exchange

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(shutil.which("curl") is None, reason="needs curl")]

KEY = "Kx8UsersOwnKey0123456789"


@dataclass(frozen=True)
class _Case:
    id: str = "m3"


class Listener:
    """Accepts on 127.0.0.1:0 and keeps each request's head and body as raw bytes; answers 200, then closes."""

    def __init__(self):
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.requests: list[bytes] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    data += chunk
                head, _, body = data.partition(b"\r\n\r\n")
                length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                               if line.lower().startswith(b"content-length:")), 0)
                while len(body) < length and (chunk := conn.recv(65536)):
                    body += chunk
                self.requests.append(head + b"\r\n\r\n" + body)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")

    def close(self):
        self.sock.close()


@pytest.fixture
def listener():
    server = Listener()
    yield server
    server.close()


def _curl(method="POST", url="http://recorded.example/v1/sending", headers=None, body=b"{}"):
    exchange = Exchange(_Case(), method, url, headers or {"content-type": "application/json"}, body, 200)
    request, _ = make_records(exchange, Redactor([KEY]), {KEY: "MIGMA_CONTRACT_API_KEY"}, None, curl_base=PLACEHOLDER_BASE)
    return request.curl


def _run(line, cwd, base):
    env = {"PATH": os.environ["PATH"], "MIGMA_CONTRACT_BASE_URL": base, "MIGMA_CONTRACT_API_KEY": KEY}  # no proxy settings
    return subprocess.run(["bash", "-c", line], cwd=cwd, env=env, capture_output=True, check=False, timeout=60)


@pytest.mark.parametrize("query", ["n=[1-5]&m={a,b}", "n=[1-1000000]", "x={a,b,c}{d,e}"])
def test_a_recorded_url_sends_one_request_never_a_glob(listener, tmp_path, query):
    """M3: `?n=[1-5]&m={a,b}` in a recorded URL made the line send 10 POSTs with the user's key."""
    line = _curl(url=f"http://recorded.example/v1/sending?{query}", headers={"authorization": f"Bearer {KEY}"})
    done = _run(line, tmp_path, listener.url)
    assert done.returncode == 0, done.stderr
    assert len(listener.requests) == 1, line
    assert listener.requests[0].startswith(f"POST /v1/sending?{query} HTTP/1.1\r\n".encode())
    assert f"authorization: Bearer {KEY}".encode() in listener.requests[0]


@pytest.mark.parametrize("where", ["value", "name"])
def test_a_line_break_in_a_recorded_header_injects_no_header(listener, tmp_path, where):
    """L2: `x-a: v\\r\\nHost: evil.example\\r\\nX-Injected: yes` was sent as three header lines."""
    injected = "v\r\nHost: evil.example\r\nX-Injected: yes"
    headers = {"x-a": injected} if where == "value" else {"x-a: v\r\nX-Injected: yes\r\nx-b": "1"}
    line = _curl(headers={**headers, "x-kept": "1", "x-nul": "a\x00b"})
    assert "2 header(s) left out: a line break, a NUL" in line and "\n" not in line
    done = _run(line, tmp_path, listener.url)
    assert done.returncode == 0, done.stderr
    (sent,) = listener.requests
    assert b"X-Injected" not in sent and b"evil.example" not in sent and b"x-kept: 1" in sent


def test_a_method_with_a_line_break_is_left_out(listener, tmp_path):
    line = _curl(method="POST /other HTTP/1.1\r\nX-Injected: yes\r\nX-Pad:")
    assert "the method left out" in line
    done = _run(line, tmp_path, listener.url)
    assert done.returncode == 0, done.stderr
    (sent,) = listener.requests
    assert sent.startswith(b"POST /v1/sending HTTP/1.1\r\n") and b"X-Injected" not in sent


def test_a_line_break_in_a_recorded_url_reaches_no_request(listener, tmp_path):
    line = _curl(url="http://recorded.example/v1/sending?a=1\r\nX-Injected:%20yes")
    assert "\r" not in line and "\n" not in line
    done = _run(line, tmp_path, listener.url)
    assert done.returncode == 0, done.stderr
    (sent,) = listener.requests
    assert b"X-Injected" not in sent.split(b"\r\n", 1)[1]
    # the line's own builder, given such a URL directly: the bytes percent-encoded, and said
    exchange = Exchange(_Case(), "POST", "http://h/v1/sending", {}, b"{}", 200)
    direct = curl_line(exchange, "/v1/sending?a=1\r\nX-Injected: yes\x00", {}, base="$B")
    assert "%0D%0AX-Injected" in direct and "%00" in direct and "percent-encoded" in direct


def test_no_recorded_word_makes_curl_read_a_file(listener, tmp_path):
    """`-H '@file'` reads headers from a file; `--data-binary '@file'` sends a file: neither from a recording."""
    (tmp_path / "hdrs: v").write_text("X-From-File: yes\r\n")
    (tmp_path / "secret\t").write_text("THE-USERS-FILE")
    line = _curl(headers={"@hdrs": "v", "content-type": "text/plain"}, body=b"@secret\t")
    done = _run(line, tmp_path, listener.url)
    assert done.returncode == 0, done.stderr
    (sent,) = listener.requests
    assert b"X-From-File" not in sent and b"THE-USERS-FILE" not in sent
    assert sent.endswith(b"\r\n\r\n@secret\t")  # the body as it was recorded


def test_a_body_holding_a_nul_is_not_cut_silently():
    """A shell word ends at a NUL: such a body is left to the body file, and the comment says so."""
    line = _curl(body=b'{"a": "x\x00y"}')
    assert "--data-binary @migma-request-body.bin" in line and "hold a NUL" in line


def test_the_line_speaks_http_only_whatever_the_base(tmp_path):
    """A base (or URL) naming file:// or another scheme curl speaks sends nothing and reads nothing."""
    (tmp_path / "v1").mkdir()
    (tmp_path / "v1" / "sending").write_text("THE-USERS-FILE")
    done = _run(_curl(), tmp_path, f"file://{tmp_path}")
    assert done.returncode != 0 and b"THE-USERS-FILE" not in done.stdout
