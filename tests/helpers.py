"""Helpers shared by the project's tests."""

from contextlib import contextmanager

import httpx

from migma_contract.wire.asgi_transport import SyncASGITransport

FULL_KEY = "mc_test_full_access"
RESTRICTED_KEY = "mc_test_no_email_send"
AUTH = {"Authorization": f"Bearer {FULL_KEY}"}


@contextmanager
def client_for(app):
    """A sync httpx client talking to an ASGI app in-process."""
    with httpx.Client(transport=SyncASGITransport(app), base_url="http://mock") as client:
        yield client


@contextmanager
def tls_mock_url(directory):
    """The open-world mock served over TLS on loopback, its certificate from a throwaway CA (trustme, whose own
    certificate is left in `directory`/ca.pem); its URL."""
    import trustme

    from migma_contract.mock import create_app
    from migma_contract.wire.serve import serve_in_thread

    authority = trustme.CA()
    authority.cert_pem.write_to_path(str(directory / "ca.pem"))
    cert = authority.issue_cert("127.0.0.1")
    key_file, cert_file = directory / "key.pem", directory / "cert.pem"
    cert.private_key_pem.write_to_path(str(key_file))
    cert.cert_chain_pems[0].write_to_path(str(cert_file))
    with serve_in_thread(create_app({"open_world": True}), ssl_keyfile=str(key_file), ssl_certfile=str(cert_file)) as url:
        yield url


def raw_exchange(url, request: bytes) -> bytes:
    """Send `request`'s bytes as they are to the server at `url` and read its answer until it closes the connection."""
    import socket

    host, port = url.split("://", 1)[1].rsplit(":", 1)
    with socket.create_connection((host, int(port))) as sock:
        sock.sendall(request)
        return b"".join(iter(lambda: sock.recv(65536), b""))


async def read_body(receive) -> bytes:
    """An ASGI request's whole body (test apps only: no cap)."""
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            return body


def proxy_started(monkeypatch, upstream, *args):
    """`migma-contract proxy` run up to its server's start (uvicorn.Server stubbed to stop there), before an upstream that
    only accepts connections: (the command's result, the server configurations made, the upstream's URL).
    `upstream` makes the --upstream value from the upstream's URL."""
    import socket

    import uvicorn
    from click.testing import CliRunner

    from migma_contract.cli import main

    configs = []

    class Server:
        def __init__(self, config):
            configs.append(config)

        def run(self, sockets):
            raise KeyboardInterrupt

    monkeypatch.setattr(uvicorn, "Server", Server)
    with socket.socket() as listening:  # the upstream only has to accept a connection at start
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        up_url = f"http://127.0.0.1:{listening.getsockname()[1]}"
        result = CliRunner().invoke(main, ["proxy", "--upstream", upstream(up_url), "--port", "0", *map(str, args)])
    return result, configs, up_url
