"""A synchronous httpx transport into an ASGI app, for in-process use from sync code.

httpx's own `ASGITransport` is async-only; this one runs the app on an event loop in a
background thread (an anyio blocking portal) and hands each request across. It is what
the `migma_mock` fixture's client uses, so consumer code written for `httpx.Client` can
talk to the reference mock without a port.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any

import httpx
from anyio.from_thread import BlockingPortal, start_blocking_portal

__all__ = ["SyncASGITransport"]


class SyncASGITransport(httpx.BaseTransport):
    def __init__(self, app: Any, *, portal: BlockingPortal | None = None) -> None:
        self._inner = httpx.ASGITransport(app=app)
        self._owned: AbstractContextManager[BlockingPortal] | None = None
        if portal is None:
            self._owned = start_blocking_portal()
            portal = self._owned.__enter__()
        self._portal = portal

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        content = request.read()

        async def forward() -> tuple[int, list[tuple[bytes, bytes]], bytes]:
            inner = httpx.Request(request.method, request.url, headers=request.headers, content=content)
            response = await self._inner.handle_async_request(inner)
            body = await response.aread()
            return response.status_code, response.headers.raw, body

        status, headers, body = self._portal.call(forward)
        return httpx.Response(status, headers=headers, content=body, request=request)

    def close(self) -> None:
        if self._owned is not None:
            owned, self._owned = self._owned, None
            owned.__exit__(None, None, None)
