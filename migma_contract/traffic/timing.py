"""The server's own time in an exchange: what `responds-in-time` judges in the proxy and the middleware.

It runs from the moment the server could answer (the request's body whole: what the client took to
send it is not the server's) to its answer's end, less the time each part of the answer spent in the
client's hands (a client that reads slowly holds the server up; that is not the server's either).
`TrafficProxy` times its upstream with it (its `_Deadline` also cancels an answer that is late);
`ContractMiddleware` times the app with it, calling `sending`/`sent` around every `send` (uvicorn's flow control
waits before writing any message, the start too, while a pipelining client has not read an earlier answer; the
time in a `send` before any body byte it keeps apart, judged in part where it decides the verdict), and around each
`receive` for more of a body it did not read ahead (the server reads the client's bytes on only when the app asks).
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["ServerTime"]


class ServerTime:
    """Started at once (when the request's body is whole); `sending()`/`sent()` around each part handed to the
    client (overlapping sends count once); `elapsed()` the server's own time so far."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self.started = clock()
        self.client_wait = 0.0  # time the client held the answer, so far
        self.sending_since: float | None = None  # when the part being sent began (None between sends)
        self._depth = 0

    def sending(self) -> None:
        if self._depth == 0:
            self.sending_since = self._clock()
        self._depth += 1

    def sent(self) -> None:
        if self._depth == 0:
            return
        self._depth -= 1
        if self._depth == 0 and self.sending_since is not None:
            self.client_wait += self._clock() - self.sending_since
            self.sending_since = None

    def elapsed(self) -> float:
        now = self._clock()
        held = self.client_wait + (now - self.sending_since if self.sending_since is not None else 0.0)
        return max(0.0, now - self.started - held)
