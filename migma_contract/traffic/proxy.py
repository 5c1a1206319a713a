"""A loopback reverse proxy that judges the traffic passing through it.

`TrafficProxy` is an ASGI app (served by uvicorn like the mock): every request is forwarded
to the upstream unchanged (method, path, query, headers but the hop-by-hop ones, body) and
the upstream's answer is returned unchanged (status, headers, raw bytes, compressed or
not), streamed through as it arrives. POST /v1/sending exchanges are then handed to a
`TrafficJudge`; the others are counted. The upstream is bounded like a check's target:
no answer within the timeout is a 504 to the client and a responds-in-time finding, a
connection that fails is a 502 and a no-server-error finding.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import anyio
import httpx

from migma_contract.traffic.tally import FRAMING_HEADERS, ObservedExchange, TrafficJudge, is_send
from migma_contract.wire.client import inflate

__all__ = ["HOP_BY_HOP", "TrafficProxy"]

# RFC 9110 §7.6.1: connection-specific fields a proxy must not forward.
HOP_BY_HOP = FRAMING_HEADERS - {"host", "content-length"}


# httpcore's pool scans every connection for every request it places, so one client for
# all concurrent requests slows down as they grow (50 at once: about 4x slower per request,
# measured). Each client connection is pinned to one of a few upstream clients instead.
SHARDS = 32

# A request body is held whole before it is forwarded (and judged); past this many bytes the
# proxy answers 413 itself and forwards nothing. A send request is a few kilobytes.
MAX_REQUEST_BYTES = 16 << 20


class TrafficProxy:
    """Forwards everything to `upstream` unchanged; judges POST /v1/sending on the way back.

    With `judge=None` it only forwards (the benchmarks' baseline). `max_response_bytes`
    bounds what is kept for judging, not what is forwarded; `max_request_bytes` bounds the
    request bodies it holds (a larger one is answered 413 by the proxy, not forwarded).
    """

    def __init__(self, upstream: str, judge: TrafficJudge | None, *, timeout: float = 10.0, verify_tls: bool = True,
                 max_response_bytes: int = 1 << 20, max_request_bytes: int = MAX_REQUEST_BYTES) -> None:
        self.upstream = upstream.rstrip("/")
        self.judge = judge
        self.timeout = timeout
        self.verify_tls = verify_tls
        self.max_response_bytes = max_response_bytes
        self.max_request_bytes = max_request_bytes
        self.exchanges = 0
        self._clients: list[httpx.AsyncClient | None] = [None] * SHARDS
        self._tls: Any = None

    async def aclose(self) -> None:
        clients, self._clients = self._clients, [None] * SHARDS
        for client in clients:
            if client is not None:
                await client.aclose()

    def _http(self, scope: dict[str, Any]) -> httpx.AsyncClient:
        """The upstream client of this request's client connection (made in the serving loop, when first needed)."""
        shard = hash(tuple(scope.get("client") or ())) % SHARDS
        client = self._clients[shard]
        if client is None:
            if self._tls is None:  # one TLS context for every client (building one reads the CA bundle)
                self._tls = httpx.create_ssl_context() if self.verify_tls else False
            client = httpx.AsyncClient(verify=self._tls, follow_redirects=False, timeout=httpx.Timeout(self.timeout),
                                       limits=httpx.Limits(max_connections=64, max_keepalive_connections=8))
            self._clients[shard] = client
        return client

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await self.aclose()
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return  # websockets are not proxied
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_request_bytes:
                await self._own_answer(send, 413, f"the request body is over {self.max_request_bytes:,} bytes; not forwarded")
                if self.judge is not None:
                    self.judge.note(f"a {scope['method']} request over {self.max_request_bytes:,} bytes was answered 413 by the "
                                    "proxy and not forwarded (not judged)")
                return
            chunks.append(chunk)
            if not message.get("more_body"):
                break
        await self._forward(scope, b"".join(chunks), send)

    @staticmethod
    async def _own_answer(send: Any, status: int, message: str) -> None:
        """An answer of the proxy's own (the upstream never saw the request, or never answered)."""
        payload = json.dumps({"success": False, "error": f"migma-contract proxy: {message}"}).encode()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]})
        await send({"type": "http.response.body", "body": payload})

    def _later(self, exchange: ObservedExchange) -> None:
        """Judge once the answer is out, on the next turn of the loop: the client does not wait for it."""
        assert self.judge is not None
        judge = self.judge

        def observe() -> None:
            try:
                judge.observe(exchange)
            except Exception as exc:  # a judging bug must not take the proxy down
                judge.note(f"{exchange.where} could not be judged ({type(exc).__name__}); please report it")

        asyncio.get_running_loop().call_soon(observe)

    async def _forward(self, scope: dict[str, Any], body: bytes, send: Any) -> None:
        self.exchanges += 1
        method = scope["method"]
        path = scope.get("raw_path") or scope["path"].encode()
        target = self.upstream + path.decode("latin-1") + (("?" + scope["query_string"].decode("latin-1")) if scope.get("query_string") else "")
        given = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]]
        forwarded = [(k, v) for k, v in given if k.lower() not in HOP_BY_HOP and k.lower() not in ("host", "content-length")]
        judged = self.judge is not None and is_send(method, scope["path"])
        client = self._http(scope)
        request = client.build_request(method, target, headers=forwarded, content=body)
        names = {k.lower() for k, _ in forwarded}
        for name in list(request.headers.keys()):  # the client's own defaults (User-Agent, Accept-Encoding…) are not added
            if name.lower() not in names and name.lower() not in ("host", "content-length"):
                del request.headers[name]
        started = time.perf_counter()
        status: int | None = None
        headers: list[tuple[str, str]] = []
        kept: list[bytes] = []
        size = 0
        error: str | None = None
        timed_out = False
        began = False
        try:
            with anyio.fail_after(self.timeout):
                response = await client.send(request, stream=True)
                try:
                    status = response.status_code
                    headers = [(k, v) for k, v in response.headers.multi_items()]
                    await send({"type": "http.response.start", "status": status,
                                "headers": [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers if k.lower() not in HOP_BY_HOP]})
                    began = True
                    async for raw in response.aiter_raw():
                        size += len(raw)
                        if judged and size <= self.max_response_bytes:
                            kept.append(raw)
                        await send({"type": "http.response.body", "body": raw, "more_body": True})
                finally:
                    await response.aclose()
        except (TimeoutError, httpx.TimeoutException):
            timed_out, error = True, f"no complete answer from the upstream within {self.timeout:g} s"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc or 'the upstream failed'}"
        elapsed = time.perf_counter() - started
        if began:
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        else:
            await self._own_answer(send, 504 if timed_out else 502, str(error))
        if not judged or self.judge is None:
            if self.judge is not None:
                self.judge.skip()
            return
        complete = error is None and size <= self.max_response_bytes
        encoding = next((v.strip().lower() for k, v in headers if k.lower() == "content-encoding"), "")
        answer = inflate(b"".join(kept), encoding, self.max_response_bytes) if complete else None
        self._later(ObservedExchange(
            method=method, url=target, request_headers=given, request_body=body,
            status=status if error is None else None, response_headers=headers, response_body=answer,
            elapsed=elapsed, error=error, timed_out=timed_out, where=f"proxy exchange {self.exchanges}", response_size=size,
        ))


