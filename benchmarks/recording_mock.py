"""The reference mock, served like `migma-contract mock`, that also records what it is sent.

    python benchmarks/recording_mock.py [--config mock.yaml]

`GET /_bench/recorded` returns the requests received since the last such call (method,
path, headers, body, the status answered) and forgets them, so the benchmark can replay
exactly what a check sent, to the same server, with a bare client. The recording costs
the check and the replay alike.
"""

from __future__ import annotations

import argparse
import base64
import json
import sys

import uvicorn

try:
    from migma_contract.wire.serve import bind_socket, server_config, url_of
except ImportError:  # the layout before the package's subfolders (--package of an older tree)
    from migma_contract._http.serve import bind_socket, server_config, url_of
from migma_contract.mock import create_app

RECORDED = "/_bench/recorded"


class Recorder:
    """ASGI middleware: reads each request body in full, passes it on, notes the status."""

    def __init__(self, app) -> None:
        self.app = app
        self.records: list[dict] = []

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["path"] == RECORDED:
            records, self.records = self.records, []
            body = json.dumps(records).encode()
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})
            return
        chunks = []
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        content = b"".join(chunks)
        delivered = False

        async def replay() -> dict:
            nonlocal delivered
            if delivered:
                return await receive()
            delivered = True
            return {"type": "http.request", "body": content, "more_body": False}

        status = []

        async def noting(message) -> None:
            if message["type"] == "http.response.start":
                status.append(message["status"])
            await send(message)

        await self.app(scope, replay, noting)
        query = scope.get("query_string", b"").decode("latin-1")
        self.records.append({
            "method": scope["method"],
            "path": scope["path"] + (f"?{query}" if query else ""),
            "headers": [[k.decode("latin-1"), v.decode("latin-1")] for k, v in scope["headers"]],
            "body": base64.b64encode(content).decode(),
            "status": status[0] if status else None,
        })


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--config", help="the mock's world (YAML or JSON)")
    args = parser.parse_args()
    app = Recorder(create_app(args.config))
    sock = bind_socket("127.0.0.1", 0)
    print(f"recording mock: serving at {url_of(sock)}", flush=True)
    try:  # the same server settings as `migma-contract mock`
        uvicorn.Server(server_config(app)).run(sockets=[sock])
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
