"""A small HTTP/1.1 load generator, for machines without wrk.

    python benchmarks/load.py URL --connections 50 --seconds 5 --body-file body.json --header "Authorization: Bearer …"

Keep-alive connections, each sending the same POST as soon as the previous answer is in,
parsed just enough to find its end (Content-Length) and its status. Prints one JSON line:
requests answered, seconds, rate, and how many answers were not 200. Far lighter than an
HTTP client library, so on loopback the server, not the load, is what runs out.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from urllib.parse import urlsplit


class _Connection(asyncio.Protocol):
    def __init__(self, request: bytes, deadline: float, stats: dict, finished: asyncio.Future) -> None:
        self.request, self.deadline, self.stats, self.finished = request, deadline, stats, finished
        self.buffer = b""

    def connection_made(self, transport) -> None:
        self.transport = transport
        transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buffer[:end].decode("latin-1")
            length = None
            for line in head.split("\r\n")[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value)
            if length is None:
                raise RuntimeError(f"an answer without Content-Length: {head[:200]!r}")
            if len(self.buffer) < end + 4 + length:
                return
            self.buffer = self.buffer[end + 4 + length:]
            self.stats["requests"] += 1
            if head.split(" ", 2)[1] != "200":
                self.stats["non_200"] += 1
            if time.perf_counter() < self.deadline:
                self.transport.write(self.request)
            else:
                self.transport.close()
                return

    def connection_lost(self, exc) -> None:
        if not self.finished.done():
            self.finished.set_result(exc)


async def run(url: str, connections: int, seconds: float, body: bytes, headers: list[str]) -> dict:
    parts = urlsplit(url)
    lines = [f"POST {parts.path or '/'} HTTP/1.1", f"Host: {parts.netloc}", "Content-Type: application/json",
             f"Content-Length: {len(body)}", *headers]
    request = ("\r\n".join(lines) + "\r\n\r\n").encode() + body
    loop = asyncio.get_running_loop()
    stats = {"requests": 0, "non_200": 0}
    start = time.perf_counter()
    deadline = start + seconds
    finished = []
    for _ in range(connections):
        done = loop.create_future()
        await loop.create_connection(lambda done=done: _Connection(request, deadline, stats, done), parts.hostname, parts.port)
        finished.append(done)
    errors = [e for e in await asyncio.gather(*finished) if e is not None]
    elapsed = time.perf_counter() - start
    return {"tool": "benchmarks/load.py", "seconds": round(elapsed, 2), "requests": stats["requests"],
            "rate_per_s": round(stats["requests"] / elapsed), "non_200": stats["non_200"], "connection_errors": len(errors)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--body-file", required=True)
    parser.add_argument("--header", action="append", default=[])
    args = parser.parse_args()
    with open(args.body_file, "rb") as f:
        body = f.read()
    print(json.dumps(asyncio.run(run(args.url, args.connections, args.seconds, body, args.header))))


if __name__ == "__main__":
    main()
