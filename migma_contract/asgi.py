"""`ContractMiddleware`: judge the POST /v1/sending traffic of your own ASGI app against the contract.

    from migma_contract.asgi import ContractMiddleware

    app.add_middleware(ContractMiddleware, level="documented", report_dir="reports/traffic")  # Starlette, FastAPI
    ...
    ContractMiddleware.of(app).result()        # or wrap it yourself: app = ContractMiddleware(app)

It changes nothing that passes through: the request body is read ahead through the one
capped reader (`wire.boundary.read_capped`, `max_request_bytes`, 1 MiB by default), kept to
be judged and replayed to the app as the same messages; a longer body streams on to the app
unkept (so the app's own limit, and its 413, work as without the middleware); a send asking `Expect: 100-continue`
is read only as the app reads it (the first `receive` makes uvicorn send `100 Continue`), kept as it goes (a tee:
its body rules judged in part when the app answered without reading it all); the response goes out as the app sends it
while a bounded copy is kept (its headers, any iterable, read once: the server gets what was
judged). Once the response is out the exchange is handed to the judge's own thread (counted
at the bytes it holds against the judge's bound on what waits), so no client waits for the
judgement. Other paths, methods and scope types go straight to the app.
The answer's end is where the client could read it whole: for an HTTP/1 answer its Content-Length
frames (and a 204/304), once that many body bytes went out, whatever the app raises, sends or
does after (never its failure); for an answer the server frames (chunked, or ended with the
connection), the app's last body message. A middleware outside this one that reframes the answer
(GZipMiddleware) and an in-process client end it only at the app's last message, which does not
show here: an answer whole by its length whose last message never comes leaves no-server-error and
responds-in-time judged in part, one whose last message comes past the timeout responds-in-time
(`_in_part`). A body over `max_request_bytes` is timed from its first part, less the waits inside
`receive` for the rest (the server reading on only when the app asks).
The app is blamed only for what it did, as the proxy blames its upstream: its time
(`responds-in-time`) runs from the request's body's end to its answer's end, less the time spent
inside every `send` (`traffic.timing.ServerTime`, the proxy's clock): there a server's flow control
holds the app while the client reads (uvicorn waits before writing each message, the start too,
others after). The time in the `send` of the answer's start, and of an empty body message before
any body byte, does not show apart from a middleware outside this one working there: where the
app's time is within the timeout only without it, responds-in-time is judged in part (`_in_part`);
a client that goes away before its body ended or before the whole answer went out (the app
is told `http.disconnect`, the server's `send` raises `OSError`) leaves the exchange unjudged and noted, whatever the
app then raised; so does something else outside the app cutting it off (its task cancelled by its server or an outer
timeout middleware, trio's `Cancelled` from a scope outside it, a `TimeoutError` out of `send`: a deadline's, not the
client's word), noted as that, never as the client leaving; whatever cut it off, the app's own time past `timeout` by
then is its responds-in-time breach (as the proxy's deadline blames its upstream). A failure with
the client still there is the app's `no-server-error` (a `CancelledError` no one cancelled it with
too), and so is a head no client can read
(`core.fields.unreadable_head`, a 1xx status as the answer, a 204/304 with a body): uvicorn's httptools protocol
writes it as given, h11 refuses it, one verdict either way; a head servers read apart (a 204/304 with a
Transfer-Encoding, `_framed_bodiless`; over HTTP/1 a field readable only once stripped of the whitespace around its name
or value, `Content-Type `, which Hypercorn strips and uvicorn refuses, `_mended`, its fields then read as stripped; over
HTTP/2 a `te` other than `trailers`, which h2 refuses and uvicorn's own HTTP/2 drops; a Content-Length beside a
Transfer-Encoding or given twice, `core.fields.framing_apart`, which Node refuses, httptools writes and h11 drops) leaves
`no-server-error` judged in part (under uvicorn's httptools `send` itself, the app's failure). Over HTTP/2 and 3 the head is read as h2 reads it
(`_stream_head`: a content-length not digits, or several disagreeing, or one the body does not match is malformed,
RFC 9113 §8.1.1; a pseudo-header or empty name, which h2 refuses to send, §8.3;
connection-specific fields h2 drops are judged as not sent), the answer ends with the app's last body message (or,
where it asks for trailers the scope offers, its last trailers message), and body bytes on a 204/304 are no content
(the server drops them): judged without them, noted. Only the answer the server accepted and its client read is
judged, in ASGI's order: the first start is the answer; a second start, a body message after the last one, trailers
not asked for are outside it (passed on, noted, never judged); body bytes past its Content-Length, or in a message the
server refused, are not kept. Header names and values are read as h11 reads them (str as ASCII), passed on as given;
one this reading cannot take leaves the exchange unjudged, never raised on. A message the server refuses
once the answer is complete is noted, never the app's failure. An HTTP/1.0 client answered
without a Content-Length passes unjudged: its server frames that answer (h11 by closing,
httptools chunked, which the client cannot read), unseen here. A send whose body the server
stack may not have handed on as the client framed it (`core.fields.request_framing_unread`: an
Upgrade request, whose body uvicorn's httptools protocol drops; a Transfer-Encoding other than
chunked, whose coded bytes it hands on; a body of another length than its Content-Length) passes
to the app unjudged, counted and noted: never the client's fault. The app runs on the server's own scope, the
`http.response.pathsend` and `http.response.zerocopysend` extensions taken out of its `extensions` while it runs and
put back after (`_hide_file_sends`): a file answer then goes out as body messages, as Starlette's FileResponse sends it
without them, so what it sends is what is judged, and what the app and the middleware outside write into the scope
shows to each other at once; a file send that comes all the same is not read (passed unjudged).
A raise from `receive` while the body is read ahead (a body limit outside: FastAPI's `max_body_size`) is handed to the
app at its first `receive` past the bytes read, as without the middleware, and its answer judged; out of the app, it is
not the app's failure (no-server-error in part). A cancellation there, before the app ran, is counted unjudged. An
exception out of an outer `send` is the server's refusal (no-server-error) only where the server raised it (`_refused`);
a middleware's outside (Starlette's body limit sends its own 413, then raises) leaves no-server-error and the status in
part.
Each exchange is judged by the catalogue, as `migma-contract proxy` and `judge` do
(`TrafficJudge`); `.tallies`, `.findings` and `.result()` read what was seen so far, the sends still in flight too
(`_drain`): one whose answer went out whole is judged on what went out, one whose app's own time is past `timeout`
breaks responds-in-time (as the proxy's deadline), any other is counted in flight, passed unjudged (no green verdict).
An exception the app raises before its answer starts is its no-server-error unless something outside may answer it
(`_answered_outside`: `add_middleware` puts this middleware inside Starlette's ServerErrorMiddleware, which runs an
`Exception`/`500` handler): then no-server-error is judged in part, never blamed. The
request judged (and shown in a finding) is the one that came in, copied as its route was
decided (`_Asked`): an inner middleware or router that edits the scope in place while the app
runs (Starlette's `MutableHeaders(scope=scope)`, Mount's root path) changes nothing judged, and
the scope (the app's `state`) is never held past the call. With `report_dir`, the usual
reports are written when the app shuts down (the ASGI lifespan's shutdown; for an app that
does not speak lifespan, returning on it, the middleware answers it), or, where no lifespan
started before the first send (uvicorn's `--lifespan off`, an in-process transport), the app
raised on it, its lifespan ended with no shutdown answered (uvicorn sends none to a finished lifespan), or a forced
quit skipped its shutdown, when the process exits (`atexit`, registered at the first call, if anything was seen since
they were last written or a send was in flight then); and whenever `write_report()` is called. Reports that cannot be written there are
one line on the `migma_contract.asgi` logger, never a traceback in the server's shutdown.
Several processes writing to one `report_dir` (uvicorn --workers, gunicorn, pytest-xdist) each keep their own state
there and write the merge of every process of their run (`reports.processes`): the last to end writes them all.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import os
import re
import secrets
import time
import weakref
from collections.abc import Callable, Iterable, MutableMapping
from functools import partial
from pathlib import Path
from time import time as wall_clock  # (the machine's clock, shared by its processes: `reports.processes`)
from typing import Any, NamedTuple
from urllib.parse import quote

from migma_contract.config.options import REPORT_FORMATS
from migma_contract.contract.catalogue import NO_SERVER_ERROR, RESPONDS_IN_TIME
from migma_contract.contract.rules import Level
from migma_contract.contract.validators import contract_for
from migma_contract.core.exceptions import ConfigError
from migma_contract.core.fields import (
    TOKEN,
    framing_apart,
    framing_refused,
    request_framing_unread,
    shown_name,
    unreadable_head,
    writable,
)
from migma_contract.core.untrusted import clean_text
from migma_contract.document.spec import load_spec
from migma_contract.run.result import Finding, RunResult
from migma_contract.run.runner import load_baseline
from migma_contract.traffic.tally import (
    MAY_ROUTE,
    OTHER,
    SEND,
    SEND_METHOD,
    SEND_PATH,
    ObservedExchange,
    Route,
    RuleTally,
    TrafficJudge,
    plain_post,
    route_of,
)
from migma_contract.traffic.timing import ServerTime
from migma_contract.wire.boundary import CappedBody, read_capped
from migma_contract.wire.coding import Broken, Differs, Unknown, codings_of, decode

__all__ = ["ContractMiddleware", "RuleTally"]

_log = logging.getLogger("migma_contract.asgi")
_FORKED_AT: float | None = None  # when this process was forked (`_began` of a middleware made before the fork)
_PROCESS_BEGAN: tuple[int, float] | None = None  # (pid, when this process's first middleware was made, or it forked)


def _process_began() -> tuple[int, float]:
    """When this process's run began: its first middleware's making (or its fork, for one made before it); every
    middleware the process makes later (a fixture wrapping the app anew per test) is of that same run."""
    global _PROCESS_BEGAN
    if _PROCESS_BEGAN is None or _PROCESS_BEGAN[0] != os.getpid():
        forked = _FORKED_AT if _PROCESS_BEGAN is not None and _FORKED_AT is not None else None
        _PROCESS_BEGAN = (os.getpid(), forked if forked is not None else wall_clock())
    return _PROCESS_BEGAN


def _forked() -> None:
    global _FORKED_AT
    _FORKED_AT = wall_clock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forked)

_HELD_APART = 1024  # what an exchange waiting to be judged holds besides its bodies, headers and target, about
_BASE_PATH = re.compile(r"(?:/(?!\.\.?(?:/|\Z))[A-Za-z0-9\-._~!$&'()*+,=:@]+)+")
_AUTHORITY = re.compile(r"[A-Za-z0-9.\-]{1,253}(?::[0-9]{1,5})?|\[[0-9A-Fa-f:.]{2,45}\](?::[0-9]{1,5})?")


class ContractMiddleware:
    """Pure ASGI middleware judging every POST /v1/sending that passes through, without changing it.

    `level`: schema, documented or strict. `report_dir`: where the reports go at shutdown (a relative one is
    made absolute when the middleware is made)
    (at process exit without an ASGI lifespan; None: none written; several processes: one report of them all). `formats`: which of json, junit, md, html. `baseline`: known
    failures to accept (a conformance.json or a list of rule ids). `spec`: another OpenAPI
    document. `timeout`: an answer slower than this breaks responds-in-time.
    `on_violation`: called with one redacted line the first time each rule is broken by each party (the
    findings count the rest), on the judge's thread once that exchange is judged; whatever it raises (an
    `assert`, `pytest.fail`) is noted in the report and changes no count: assert on `.result()`. `max_request_bytes`:
    the request body kept for judging (a longer one passes to the app unkept, not judged). `base_path`: where the app
    serves the API under its root path (`"/api"` for a send at /api/v1/sending); the send is exactly /v1/sending under
    it, and any other path a server may route there (`/v1/sending/`, `/v1/sending.json`) passes unjudged.
    """

    def __init__(self, app: Any, level: str = Level.DOCUMENTED.value, *, report_dir: str | Path | None = None,
                 formats: Iterable[str] = REPORT_FORMATS, baseline: str | None = None, spec: str | Path | None = None,
                 timeout: float = 10.0, max_response_bytes: int = 1 << 20, max_request_bytes: int = 1 << 20,
                 on_violation: Callable[[str], None] | None = None, label: str | None = None, base_path: str = "") -> None:
        try:
            level = Level.parse(level).value
        except ValueError as exc:
            raise ConfigError(f"level: {exc}") from None
        self.formats = tuple(formats)
        unknown = [f for f in self.formats if f not in REPORT_FORMATS]
        if unknown:
            raise ConfigError(f"formats: {unknown[0]!r} is not one of {', '.join(REPORT_FORMATS)}")
        if base_path and not _BASE_PATH.fullmatch(base_path):
            raise ConfigError(f"base_path: {base_path[:80]!r} is not a path such as '/api' (a leading /, no trailing /, "
                              "no query, no dot segment)")
        self.base_path = base_path
        self.app = app
        # (a relative one is of the directory current now, when the middleware is made: a test or a daemon changing
        # directory before the reports are written leaves them where the user named)
        self.report_dir = Path(report_dir).absolute() if report_dir is not None else None
        self.max_response_bytes = max_response_bytes
        self.max_request_bytes = max_request_bytes
        self._count = 0
        self._spoken = False  # a lifespan started (the app or the middleware answered its startup): reports at its shutdown
        self._at_exit = False  # the reports are to be written at process exit (`_report_at_exit`)
        self._written = -1  # the sends counted when the reports were last written to `report_dir` (-1: none, or some
        # were in flight then: what was written is not what the run will say)
        # the sends in flight (not yet handed to the judge), each with its `due`: every reader calls it (`_drain`)
        # (whoever takes a flight out of it judges it, the app's end or a reader: one `dict.pop`, atomic, no lock)
        self._flights: dict[int, Callable[[], None]] = {}
        # (this process, when its run began: when its first middleware was made, or it forked: `_began`; a worker's
        # first request may come long after it began, and a sibling's state written between is of its run)
        self._start: tuple[int, float] | None = _process_began()
        self._shared_name = secrets.token_hex(4)  # its own state among the writers to one report_dir (`reports.processes`)
        contract = contract_for(load_spec(spec))
        name = label or "the app behind ContractMiddleware"
        self.judge = TrafficJudge(contract, level, kind="middleware", label=name, timeout=timeout,
                                  baseline=load_baseline(baseline), on_breach=on_violation)

    # -- what was seen ----------------------------------------------------------------------------

    @property
    def tallies(self) -> dict[str, RuleTally]:
        """Per rule of the level: exchanges that exercised it, passed, failed, and who broke it."""
        self._drain()
        return self.judge.tallies

    @property
    def findings(self) -> list[Finding]:
        """The first violation per rule and party, with its exchange (redacted)."""
        self._drain()
        return self.judge.findings

    def result(self) -> RunResult:
        """Everything seen so far, as the result every report writer renders."""
        self._drain()
        return self.judge.result()

    def write_report(self, directory: str | Path | None = None) -> list[Path]:
        """Write the reports (to `directory`, else `report_dir`); the paths written."""
        from migma_contract.reports import write_reports
        from migma_contract.reports.processes import write_shared

        target = Path(directory).absolute() if directory is not None else self.report_dir
        if target is None:
            raise ConfigError("no report directory: pass report_dir= to ContractMiddleware or a directory here")
        count = self._count
        if target != self.report_dir:
            return write_reports(self.result(), target, self.formats)
        self._drain()
        flying = self.judge.in_flight
        written = write_shared(self.judge, self._began(), target, self.formats, self._shared_name)
        self._written = -1 if flying else count  # (a send in flight then: written again at exit, as the run then says)
        return written

    def _began(self) -> float:
        """When this process began serving through the middleware (its first lifespan event or request; now if it
        never did): the processes whose states were written since then are of its run (`reports.processes`)."""
        if self._start is None or self._start[0] != os.getpid():  # (a middleware made before a fork: each process's own,
            # from its fork, not from its first writing: a sibling's state written before that is of its run)
            self._start = _process_began()
        return self._start[1]

    @classmethod
    def of(cls, app: Any) -> ContractMiddleware:
        """The `ContractMiddleware` inside `app` (added with `app.add_middleware`), for its tallies and result."""
        if getattr(app, "middleware_stack", False) is None and hasattr(app, "build_middleware_stack"):
            app.middleware_stack = app.build_middleware_stack()  # Starlette builds it on the first call
        node = getattr(app, "middleware_stack", None) or app
        for _ in range(64):
            if isinstance(node, cls):
                return node
            node = getattr(node, "app", None)
            if node is None:
                break
        raise LookupError("no ContractMiddleware in this app; add it with app.add_middleware(ContractMiddleware, ...)")

    # -- ASGI -------------------------------------------------------------------------------------

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if self._start is None:  # (a middleware made before a fork begins in each process at its writing: `_began`)
            self._began()
        if not self._at_exit:  # always, once served: a forced quit skips the lifespan's shutdown (uvicorn's second
            self._report_at_exit()  # Ctrl-C while a send is stuck); at exit it writes only what was not written
        if scope["type"] == "lifespan" and self.report_dir is not None:
            await self._lifespan(scope, receive, send)
            return
        route = _route_of(scope, self.base_path) if scope["type"] == "http" else OTHER
        if route == SEND:
            hidden = _hide_file_sends(scope)  # (the server's own scope, its file sends hidden while the app runs)
            try:
                await self._judged(scope, receive, send)
            finally:
                if hidden is not None:
                    _shown_again(*hidden)
            return
        if route == MAY_ROUTE:  # not the send, but the app may route it there: never judged as one, no green verdict
            self._count += 1
            self.judge.pass_may_route(f"request {self._count} to the app", _shown(_asked_path(scope)), scope["method"],
                                      scope.get("headers") or ())
        await self.app(scope, receive, send)

    async def _lifespan(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        """The app's lifespan, passed through; the reports are written at its shutdown. An app that does not speak it
        (it returns without answering the startup, as a plain ASGI app does) gets it spoken for it here, so the reports
        are still written at shutdown; one that raises on it is left to its server (uvicorn's `--lifespan on` stops, its
        `auto` and Hypercorn go on without it), and its reports are written at process exit (`_judged`)."""
        startup: dict[str, Any] | None = None  # the startup message, once the app took it
        answered = False  # the app answered the startup (complete or failed): it speaks lifespan
        shut = False  # the app answered the shutdown (the reports were written then)

        async def taken() -> MutableMapping[str, Any]:
            nonlocal startup
            message: MutableMapping[str, Any] = await receive()
            if message["type"] == "lifespan.startup":
                startup = dict(message)
            return message

        async def on_shutdown(message: dict[str, Any]) -> None:
            nonlocal answered, shut
            if message["type"] in ("lifespan.startup.complete", "lifespan.startup.failed"):
                answered = self._spoken = True
            elif message["type"] in ("lifespan.shutdown.complete", "lifespan.shutdown.failed"):
                shut = True
                self._write_at_end("at shutdown")  # (its own shutdown failing leaves the traffic judged as it was)
            await send(message)

        try:
            await self.app(scope, taken, on_shutdown)  # (what it raises is its server's to read, as without the middleware)
        finally:
            if answered and not shut:  # its lifespan ended (returned, raised) with no shutdown answered: its server sends
                # none to a finished lifespan (uvicorn), so the reports are written at process exit (once)
                self._report_at_exit()
        if answered:
            return
        # the app returned without answering the startup: it does not speak lifespan; the middleware answers for it
        # (as the server would have gone on without it), and writes the reports at shutdown
        message = startup or await receive()
        while True:
            if message["type"] == "lifespan.startup":
                self._spoken = True
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self._write_at_end("at shutdown")
                await send({"type": "lifespan.shutdown.complete"})
                return
            message = await receive()

    def _write_at_end(self, when: str) -> None:
        """The reports, to `report_dir`, when the app or the process ends: one line on the `migma_contract.asgi` logger
        if they cannot be written, never a traceback into the server's shutdown."""
        try:
            self.write_report()
        except Exception as exc:  # (a report directory or a state in it no writer expected: one line, never a traceback)
            _log.error("ContractMiddleware: the reports could not be written to %s %s: %s",
                       clean_text(str(self.report_dir)[:200]), when, clean_text(str(exc)[:200]))

    def _report_at_exit(self) -> None:
        """Write the reports when the process exits (registered once, at the first call): for a server that sent no
        lifespan (uvicorn's `--lifespan off`, an in-process transport), an app that raised on it, a forced quit that
        skipped its shutdown. Only what was not written yet: an exit after a shutdown that wrote them, or after
        `write_report()`, with nothing seen since and nothing in flight then, writes nothing."""
        if self._at_exit:
            return
        self._at_exit = True  # (asked once: without a report_dir, nothing is to be written)
        if self.report_dir is not None:
            atexit.register(_write_at_exit, weakref.ref(self))

    async def _judged(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        self._count += 1
        number = self._count
        asked = _Asked.of(scope)  # what is judged and shown, as the route was decided: never the scope, edited in place later
        outer = scope.get("app")  # the Starlette app outside this middleware (it sets it before its stack runs), if any
        self._flights[number] = _reading  # in flight from now: counted by every reader until it is judged (`_drain`)
        # The one capped reader: at most `max_request_bytes` (and one chunk) is read ahead and kept for
        # judging; past it, the rest streams to the app unkept (it judges the answer, not the body). A send asking
        # `Expect: 100-continue` is read as the app reads it, never ahead (`_continue_expected`): its first `receive`
        # makes the server tell the client to send its body, which an app refusing from the head alone never does.
        lazy = _continue_expected(asked.headers)
        ahead = bytearray()  # the bytes read ahead before `receive` raised (`failed`): the app's, handed to it first
        failed: Exception | None = None  # what `receive` raised while the body was read ahead, for the app's first read
        try:
            read = CappedBody(None, 0) if lazy else await read_capped(receive, self.max_request_bytes, ahead)
        except Exception as exc:  # something between the server and this middleware refused the body (Starlette's and
            # FastAPI's body limit raises from `receive`): the app gets it at its first read past the bytes read, as it
            # would without the middleware, and its answer (or its raise) is judged as any other
            failed, read = exc, CappedBody(None, len(ahead), bytes(ahead))
            ahead.clear()
        except BaseException as exc:  # cut off while the body was read ahead (a cancellation, a timeout outside it):
            # the app never ran; counted, never dropped
            self._flights.pop(number, None)
            self.judge.pass_unjudged(f"request {number} to the app: {_cut_off(exc)} while its body was read ahead, "
                                     "before the app ran: not the app's doing, not judged")
            raise
        # the app's own time (responds-in-time), as the proxy times its upstream: from the body's end to the answer's
        # end, less the time the client held each part of it (`time.perf_counter` read here: a test may stand in for it)
        clock = ServerTime(time.perf_counter)
        body = read.content
        pending = [] if lazy or (failed is not None and not read.size) else read.replay()
        unread = request_framing_unread(asked.headers, None if read.over or read.disconnected else read.size)
        if unread is not None:  # the server stack's doing (the body it handed on may not be the client's): not judged
            self._flights.pop(number, None)
            self.judge.pass_unjudged(f"request {number} to the app: {unread}: not the client's doing, not judged")

            async def passed() -> MutableMapping[str, Any]:
                nonlocal failed
                if not pending and failed is not None:  # (what `receive` raised in the read-ahead, as in `replay`)
                    handed, failed = failed, None
                    raise handed
                return pending.pop(0) if pending else await receive()

            await self.app(scope, passed, send)
            return
        if failed is not None:
            self.judge.note(f"request {number} to the app: `receive` raised {_named(failed)} while its body was read "
                            f"ahead ({read.size:,} bytes read; raised outside the app, such as by a body limit): handed "
                            "to the app at its first read past them, as without the middleware; its body rules were not judged")
        elif read.over and not lazy:
            self.judge.note(f"a request body over {self.max_request_bytes:,} bytes passed to the app unkept "
                            "(its body rules not judged)")
        status: int | None = None
        headers: list[tuple[str, str]] = []  # as the app sent them
        kept: list[bytes] = []
        size = 0
        done = False  # the answer's end was given to the server: its Content-Length's last byte, or its last body message
        length: int | None = None  # the body's length, where its Content-Length alone frames it (else its last message ends it)
        complete = False  # ...and the server took it: the answer went out whole
        refused: str | None = None  # why the server would not send what the app gave it (a wrong Content-Length)
        after: str | None = None  # what the server raised on a message after the whole answer went out (a note)
        unreadable: str | None = None  # why no client reads the app's head (`unreadable_head`), on any server stack
        framed_by_server = False  # an HTTP/1.0 client's answer without a Content-Length: its server decides if it reads
        answered: float | None = None  # the app's own time, at the answer's end
        left = read.disconnected  # the client went away (its doing): before its body ended, or before the answer did
        outside: str | None = None  # what else, outside the app, cut the exchange off (a cancellation, a TimeoutError)
        cut_at: float | None = None  # the app's own time when the exchange was cut off (the client left, or `outside`)
        ended: float | None = None  # the app's own time at its last body message (more_body False), once sent
        streamed = read.size  # the request body's bytes handed to the app so far (read ahead, then as it read on)
        body_open = not read.complete and not read.disconnected  # its end has not come: a read waits on the client
        overlapped = False  # the app waited on the client's body bytes after its answer started (the times overlap)
        teed: bytearray | None = bytearray() if lazy else None  # a body read as the app read it, while under the cap
        in_send = 0.0  # time inside the `send` of the answer's start and of an empty body message before any body byte
        dropped = 0  # body bytes after a bodiless status over HTTP/2 or 3 (no content there: not what a client reads)
        unsent: list[str] = []  # connection-specific fields over HTTP/2 or 3: the server drops them (`_stream_head`)
        differs: str | None = None  # a head field servers read apart (one refuses it, another mends it): judged in part
        unjudgeable: str | None = None  # why the app's head could not be read here (the server took it): not judged
        outside_answer: list[str] = []  # messages outside the answer (a second start, any after its end): never judged
        refusals: list[BaseException] = []  # what the server raised on them (out of the app: not the app's own failure)
        last_given = False  # the app's last body message (more_body False) was given to the server
        trailers_open = False  # the answer asked for trailers the server offers: it ends at its last trailers message
        offers_trailers = "http.response.trailers" in (scope.get("extensions") or {})
        answerer: str | None = None  # why what the app raised before its start may be answered outside (`_answered_outside`)
        received: list[BaseException] = []  # what `receive` raised (outside the app: a body limit's), handed to the app
        foreign: BaseException | None = None  # what an outer `send` raised that is not its server's refusal (`_refused`)
        foreign_why: str | None = None  # ...and why the answer that went out does not show

        async def replay() -> MutableMapping[str, Any]:
            nonlocal left, streamed, body_open, overlapped, teed, cut_at, failed
            if pending:
                message = pending.pop(0)
            elif failed is not None:  # what `receive` raised while the body was read ahead: the app's first read past
                handed, failed = failed, None  # the bytes read gets it, as it would have without the middleware
                received.append(handed)
                raise handed
            elif body_open:
                # more of a body over the cap: uvicorn reads the socket on only when the app asks (flow control), so the
                # time inside this `receive` is the server waiting on the client's bytes, and only that is not the
                # app's (its time before it asks for them is its own)
                overlapped = overlapped or status is not None
                clock.sending()
                try:
                    message = await receive()
                except Exception as exc:  # (raised outside the app: a body limit's, never the app's own failure)
                    received.append(exc)
                    raise
                finally:
                    clock.sent()
                if message["type"] == "http.request":
                    chunk = message.get("body", b"")
                    streamed += len(chunk)
                    body_open = bool(message.get("more_body", False))
                    if teed is not None:  # kept up to the cap and one chunk, as the capped reader keeps it
                        teed += chunk
                        if len(teed) > self.max_request_bytes:
                            teed = None
                else:
                    body_open = False
            else:
                try:
                    message = await receive()
                except Exception as exc:
                    received.append(exc)
                    raise
            if message["type"] == "http.disconnect" and not done:
                left = True
                cut_at = clock.elapsed() if cut_at is None else cut_at
            return message

        cap = self.max_response_bytes
        version = scope.get("http_version", "1.1")
        declared: int | None = None  # over HTTP/2 and 3: the content-length the body must match (RFC 9113 §8.1.1)

        async def capture(message: dict[str, Any]) -> None:
            nonlocal left, status, headers, size, done, complete, refused, after, unreadable, framed_by_server, answered, length, ended
            nonlocal in_send, dropped, declared, unsent, outside, cut_at, differs, unjudgeable, last_given, trailers_open
            nonlocal foreign, foreign_why
            kind = message["type"]
            # Only what the server sends is judged, in the ASGI order: the first start is the answer; a second start, a
            # body message after the app's last one (or, trailers asked, after the last trailers message), trailers not
            # asked for: messages outside the answer, which every server refuses. Passed on as given, noted, never judged.
            if ((kind == "http.response.start" and status is not None)
                    or ((kind == "http.response.body" or kind in _FILE_SEND_TYPES) and last_given)
                    or (kind == "http.response.trailers" and (not trailers_open or not last_given))):
                await _outside(message)
                return
            timed = False  # the time in this `send` is the client's: body bytes are out or going (a server's flow control)
            piece: bytes | None = None  # the body bytes the client reads from this message, kept once the server took it
            if kind in _FILE_SEND_TYPES:  # a file the server reads (offered to the app all the same: a copy of the scope
                # taken before the app ran, another middleware's): its bytes do not pass here, so nothing is judged of it
                unjudgeable = unjudgeable or (f"an answer whose body is a file its server reads ({clean_text(kind[:40])}), "
                                              "which does not pass through the middleware")
                last = kind == "http.response.pathsend" or not message.get("more_body", False)
                last_given = last_given or last
                done = done or (last and not trailers_open)
            elif kind == "http.response.trailers":
                timed = size > 0
                done = done or not message.get("more_trailers", False)  # the stream's end (HTTP/2 END_STREAM)
            elif kind == "http.response.body":
                chunk = message.get("body", b"")
                if type(chunk) is not bytes and not isinstance(chunk, (bytearray, memoryview)):  # the server decides
                    unjudgeable = unjudgeable or "a body message whose body is not bytes, which this reading cannot take"
                    chunk = b""
                if chunk and status in _BODILESS and version not in _HTTP1:  # no content on a 204/304 over HTTP/2 or 3
                    dropped += len(chunk)  # (Hypercorn drops it; its client reads the status alone)
                    chunk = b""
                before = size
                size += len(chunk)
                timed = size > 0
                if chunk and status in _BODILESS and unreadable is None:  # h11 refuses it; httptools writes it after the head
                    unreadable = f"status {status}, which has no body, and body bytes after it (a client reads them as the next answer)"
                if length is not None and size > length and unreadable is None and not done:  # uvicorn refuses it whole
                    unreadable = f"more body than its Content-Length ({length:,} bytes) in one message"
                if length is not None and size > length:  # its client reads no byte past its Content-Length
                    chunk = chunk[:max(0, length - before)]
                    size = before + len(chunk)
                if size <= cap and chunk:  # a copy of a buffer the app may reuse once `send` returns (a bytearray)
                    piece = chunk if type(chunk) is bytes else bytes(chunk)
                last = not message.get("more_body", False)
                last_given = last_given or last
                if declared is not None and unreadable is None and (size > declared or (last and size < declared)):
                    unreadable = (f"{'more' if size > declared else 'less'} body than its content-length ({declared:,} "
                                  f"bytes) over HTTP/{version}, which makes the stream malformed (RFC 9113 §8.1.1)")
                # a client reads an answer framed by its Content-Length as whole once that many bytes came, whatever
                # the app does next; any other answer ends with the app's last body message (the server frames it)
                # (trailers asked for, and offered by its server: the stream ends with them, not with the body)
                done = done or (last and not trailers_open) or (length is not None and size >= length)
            elif kind == "http.response.start":
                given = message.get("headers", [])
                if type(given) is not list:  # any iterable (a generator): read once, judged and forwarded alike
                    given = list(given)
                    message = {**message, "headers": given}
                status = message["status"]
                trailers_open = offers_trailers and bool(message.get("trailers", False))
                # read as bytes, as h11 reads what an app gives (str names and values, buffers); a copy (the app may
                # reuse its list, or a bytearray in it, once `send` returns). The message goes on as the app gave it.
                sent = _as_bytes(given)
                if sent is None:  # nothing a server sends as it is given: the server's `send` decides, not this reading
                    unjudgeable = "its head has header names or values that are not bytes, which this reading cannot take"
                    sent = []
                headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in sent]
                # read as a client reads what the server writes: uvicorn's httptools protocol writes the head unchecked
                # (h11 refuses it, `send` raises): one reading, the app's whatever the stack
                if version in _HTTP1:
                    interim = type(status) is int and 100 <= status <= 199  # not a final answer: the client waits on
                    if interim:
                        unreadable, length = f"status {status}, an interim one (its client waits on for the final answer)", None
                    else:
                        unreadable, length = _head_read(sent, status)
                        if unreadable is not None and (mended := _mended(sent, status)) is not None:
                            # readable once Hypercorn strips each name and value: servers read it apart (in part), and
                            # every other rule reads the fields as that server sends them (`content-type ` is Content-Type)
                            why, sent, length = mended
                            unreadable = None
                            headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in sent]
                        else:
                            why = None
                        framed = _framed_bodiless(sent, status) if unreadable is None else None
                        apart = framing_apart(sent) if unreadable is None and status not in _BODILESS else None
                        if apart is not None and _writes_as_given(send):  # (uvicorn's httptools protocol itself)
                            unreadable, apart = f"{apart}, which its server (uvicorn's httptools protocol) writes as given", None
                        elif apart is not None:
                            apart = (f"{apart}: uvicorn's httptools protocol writes it as given, its h11 protocol "
                                     "drops or merges the Content-Length")
                        differs = ", and ".join(part for part in (why, framed, apart) if part) or None
                    framed_by_server = version == "1.0" and _framed_by_server(sent, status, asked.method)
                    done = length == 0  # (a bodiless status, or Content-Length: 0: whole once the head is out)
                else:  # HTTP/2, 3: the stream frames the answer; its head read as h2 reads it (`_stream_head`), a
                    # content-length its client reads checked against the body; the fields the server drops not judged
                    unreadable, declared, unsent, differs = _stream_head(sent, status)
                    # the fields as the server sends them: each name stripped and lowercased, each value stripped
                    # (Hypercorn, h2), never the app's raw names (`content-encoding ` is Content-Encoding to the client)
                    gone = {name.encode("latin-1") for name in unsent}
                    headers = [(name.decode("latin-1"), bytes(value).strip().decode("latin-1"))
                               for name, value in ((bytes(raw).strip().lower(), raw_value) for raw, raw_value in sent)
                               if name not in gone]
            # Time inside `send` is never the app's: a server's flow control holds any message there while the client
            # reads (uvicorn drains before each one, the start too, behind an earlier answer the client has not read).
            # Before any body byte it cannot be told apart from a middleware outside this one working (`in_send`,
            # `_in_part`); with or after body bytes it is the client's.
            began = None if timed else time.perf_counter()
            clock.sending()
            try:
                await send(message)
            except TimeoutError:  # (an OSError) a deadline outside the app (an outer middleware's), never the client gone
                outside = outside or "a TimeoutError out of the server's `send` (a deadline outside the app)"
                cut_at = clock.elapsed() if cut_at is None else cut_at
                raise
            except OSError:  # ASGI: the server's word that the client is gone
                left = True
                cut_at = clock.elapsed() if cut_at is None else cut_at
                raise
            except Exception as exc:
                if complete:  # a message after the whole answer went out (an extra body, trailers the server lacks)
                    after = type(exc).__name__
                elif not _refused(exc):  # raised by a middleware outside this one, not by the server: it may have
                    # answered itself (Starlette's body limit sends its 413, then raises): no proof nothing went out
                    foreign = foreign or exc
                    foreign_why = foreign_why or (
                        f"{_named(exc)} came out of `send` of its {clean_text(str(kind).rpartition('.')[2][:40])}, raised by something outside "
                        "this middleware, not by its server (a middleware that may have answered itself, as Starlette's "
                        "body limit sends its 413 and raises): what its client read does not show")
                else:  # the server refused the app's message (a body longer or shorter than its Content-Length)
                    refused = f"the server could not send the app's answer ({type(exc).__name__})"
                raise
            finally:
                clock.sent()
                if began is not None:
                    in_send += time.perf_counter() - began
            if piece is not None:  # the server took it: what its client reads
                kept.append(piece)
            if done and answered is None:
                complete = True
                answered = clock.elapsed()  # the answer's end (what the app does after it is not timed)
                if ended is None and (kind in ("http.response.trailers", "http.response.pathsend")
                                      or (kind in _BODY_SENDS and not message.get("more_body", False))):
                    ended = answered  # (the same message: one reading of the clock)
            elif ((kind == "http.response.pathsend" or (kind in _BODY_SENDS and not message.get("more_body", False)))
                  and ended is None and (done or not trailers_open)):
                ended = clock.elapsed()  # the app's last message: where a client reading to it (not by length) has it

        async def _outside(message: dict[str, Any]) -> None:
            """A message outside the answer, passed on as given: what the server did with it is noted, never judged
            (what it raised goes on to the app, as without the middleware)."""
            nonlocal after, left, outside, cut_at
            kind = clean_text(str(message.get("type"))[:40])
            try:
                await send(message)
            except TimeoutError:  # (as for the answer's own messages: a deadline outside the app, the client gone)
                outside = outside or "a TimeoutError out of the server's `send` (a deadline outside the app)"
                cut_at = clock.elapsed() if cut_at is None else cut_at
                raise
            except OSError:
                left = True
                cut_at = clock.elapsed() if cut_at is None else cut_at
                raise
            except Exception as exc:
                refusals.append(exc)
                if complete and not outside_answer:  # refused after the whole answer went out (noted as such)
                    after = type(exc).__name__
                else:
                    outside_answer.append(f"{kind} ({type(exc).__name__})")
                raise
            outside_answer.append(f"{kind} (taken)")

        def conclude(error: str | None = None, by_app: bool = False) -> None:
            """The exchange handed to the judge, once: as the app ended it (`by_app`, from its `finally`; `error` what it
            raised), or by a reader while the app still runs (`_drain`, on any thread) where its judgement is known
            already: its answer went out whole (judged on what went out; its last message still to come: in part,
            `_in_part`), or the app's own time is past the timeout with no whole answer (its responds-in-time breach, as
            the proxy's deadline blames its upstream). Any other stays in flight (counted, no green verdict)."""
            running: str | None = None  # (a reader's: why it is judged while the app runs)
            at: float | None = None  # (and the app's own time then)
            if not by_app:
                timeout = self.judge.timeout
                if complete:
                    running, error = "the app had not returned when this was read,", None
                elif left or outside is not None or timeout is None or (now := clock.elapsed()) <= timeout:
                    return
                else:
                    running, at = "the app had not answered whole when this was read", now
                    error = "the app still ran, its answer not whole, when this was read"  # (shown after its time)
                if self._flights.pop(number, None) is None:  # (the app ended it meanwhile: judged there)
                    return
            # cut off before its answer was whole: by its client leaving, or something else outside the app; where the
            # app's own time was past the timeout by then it is its responds-in-time breach (as the proxy's deadline
            # blames its upstream), else not judged (whatever it then raised)
            cut = (left or outside is not None) and (read.disconnected or (not done and unreadable is None))
            timeout = self.judge.timeout
            late = (cut and not read.disconnected and cut_at is not None and timeout is not None and cut_at > timeout
                    and answered is None)
            if cut and not late and left:  # (a client leaves an unreadable answer)
                when = "its request's body ended" if read.disconnected else "the answer was complete"
                self.judge.pass_unjudged(f"request {number} to the app: the client went away before {when} (not "
                                         "the app's doing): not judged")
            elif cut and not late:
                self.judge.pass_unjudged(f"request {number} to the app: the app was cut off by something outside it "
                                         f"({outside}) before its answer was complete, within the timeout: not judged")
            elif framed_by_server and complete and unreadable is None and refused is None and error is None:
                self.judge.pass_unjudged(f"request {number} to the app: an HTTP/1.0 client was answered without a "
                                         "Content-Length; whether it could read the answer depends on the server (uvicorn's "
                                         "h11 ends it with the connection, its httptools sends it chunked, which HTTP/1.0 "
                                         "has not): not judged")
            elif unread is not None:  # (a body read as the app read it, of another length than its Content-Length)
                self.judge.pass_unjudged(f"request {number} to the app: {unread}: not the client's doing, not judged")
            elif unjudgeable is not None and refused is None:  # the server took a head this reading cannot take
                self.judge.pass_unjudged(f"request {number} to the app: {unjudgeable} (ASGI asks for bytes): passed on "
                                         "as given, not judged")
            else:
                if outside_answer:
                    self.judge.note(f"request {number} to the app: the app sent message(s) outside its answer (after its "
                                    f"first start, or after its end): {', '.join(outside_answer[:4])}; no server sends "
                                    "them as the answer: the answer judged is the first start and what ended it")
                if lazy and body is None:
                    how = ("the app answered without reading all of it" if body_open else
                           f"it was over {self.max_request_bytes:,} bytes, not kept")
                    self.judge.note(f"request {number} to the app: it asked `Expect: 100-continue`, so its body was read "
                                    "only as the app read it, never ahead (the server tells the client to send it at the "
                                    f"first read), and {how}: its body rules were not judged")
                if dropped:
                    self.judge.note(f"request {number} to the app: its answer over HTTP/{version} has status {status}, "
                                    f"which has no content, and {dropped:,} body bytes after it: no HTTP/{version} "
                                    "client reads them as content (Hypercorn drops them); judged as the status alone")
                if unsent:
                    self.judge.note(f"request {number} to the app: its answer over HTTP/{version} has connection-specific "
                                    f"field(s) {', '.join(sorted(set(unsent)))}, which HTTP/{version} has not (RFC 9113 §8.2.2): "
                                    "its server (h2) drops them, so they were judged as not sent")
                if after is not None:
                    self.judge.note(f"request {number} to the app: the server refused a message the app sent after its "
                                    f"answer was complete ({after}); the answer that went out was judged")
                raised = error
                if late:  # its own time ran past the timeout before anything outside it cut it off
                    by = "its client went away" if left else outside
                    error = (f"cut off after {cut_at or 0.0:.2f} s of the app's own time, past the {timeout or 0.0:g} s "
                             f"timeout, before its answer was complete ({by})")
                elif foreign_why is not None:  # a middleware outside raised out of `send`: what went out does not show
                    error = foreign_why
                elif unreadable is not None:  # whatever the server did with it (wrote it, refused it), no client read it
                    error = f"no client could read the app's answer: it has {unreadable}"
                elif left or outside is not None:
                    error = None  # the app answered whole; what it raised after came from the client leaving (or outside)
                elif refused is not None:  # what the app gave could not go out whole: no client could read it
                    error = refused
                elif error is not None and complete:  # raised after its answer went out whole (a background task): the
                    self.judge.note(f"request {number} to the app: {error} after its answer was complete (a background "
                                    "task?); the answer that went out was judged")
                    error = None
                elif error is None and not complete:
                    error = "the app ended without a complete response"
                elapsed = (at if at is not None else answered if answered is not None
                           else cut_at if late and cut_at is not None else clock.elapsed())
                in_part = self._in_part(complete and unreadable is None and refused is None, elapsed,
                                        ended, (raised or running) if ended is None else None, overlapped, in_send)
                unseen: frozenset[str] = frozenset()
                if answerer is not None and error == raised and status is None and not late:
                    why = (f"the app raised before its answer started, and {answerer}: what its client read does not "
                           "show here: no-server-error was not judged")
                    in_part = ((f"{in_part[0]}; {why}", in_part[1] | {NO_SERVER_ERROR.id}) if in_part is not None
                               else (why, frozenset({NO_SERVER_ERROR.id})))
                    unseen = frozenset({NO_SERVER_ERROR.id})
                if foreign_why is not None and error == foreign_why:  # neither blamed nor passed: it does not show
                    why = f"{foreign_why}: no-server-error and the status were not judged"
                    in_part = ((f"{in_part[0]}; {why}", in_part[1] | {NO_SERVER_ERROR.id}) if in_part is not None
                               else (why, frozenset({NO_SERVER_ERROR.id})))
                    unseen = frozenset({NO_SERVER_ERROR.id})
                if differs is not None and unreadable is None:  # never blamed, never passed: the server decides
                    why = f"its answer has {differs}; which server runs does not show: no-server-error was not judged"
                    in_part = ((f"{in_part[0]}; {why}", in_part[1] | {NO_SERVER_ERROR.id}) if in_part is not None
                               else (why, frozenset({NO_SERVER_ERROR.id})))
                # an unkept body's bytes: as many as the app was handed, and whether its end showed (else at least that)
                request_size = (streamed, body_open) if read.over and body is None else None
                # judged after the response is out, off the app's event loop (the judge's one worker thread); what the
                # exchange holds while it waits (its bodies, its headers) bounds the waiting ones, not a guess
                held = (len(body) if body else 0) + sum(map(len, kept)) + asked.size
                make = partial(self._exchange, asked, body, (status, headers, kept, size), error, elapsed, number,
                               request_size, in_part, unseen)
                if running is None:
                    self.judge.observe_later(make, held + _HELD_APART)
                else:  # a reader's: judged on its thread at once (at process exit no judging thread may start)
                    self._observe_now(make)

        self._flights[number] = conclude  # (readers call it: `_drain`)

        error: str | None = None
        try:
            await self.app(scope, replay, capture)
        except asyncio.CancelledError:
            if left or outside is not None:  # cancelled after its client left (or after a deadline outside it)
                pass
            elif _being_cancelled():  # something outside stopped the app (its server, as its client left or it shuts down;
                # a timeout middleware outside this one): not its failure, and not the client seen leaving
                outside = "a cancellation from outside it (its server, or a middleware outside this one such as a timeout)"
                cut_at = clock.elapsed()
            else:  # the app's own (an inner task it cancelled, awaited): its server answers 500, as for any exception
                error = "the app raised CancelledError (no one cancelled it: an inner task's cancellation escaped)"
            raise
        except Exception as exc:
            own = not any(exc is refusal for refusal in refusals)
            # what `receive` raised, out of the app as it came in (or alone in a group: an app's task group reading it)
            given = _all_among(exc, received)
            error = (f"the app raised {type(exc).__name__}" if own and not given else
                     f"{_named(exc)}, raised by `receive` (outside the app, such as a body limit), came out of the app"
                     if given else
                     f"the server's refusal ({type(exc).__name__}) of a message outside its answer came out of the app")
            if given and status is None:  # the one who raised it in `receive` (a body limit) answers it (a 413)
                answerer = ("it was raised by `receive`, outside the app (Starlette's body limit raises its own error "
                            "there and answers it with a 413)")
            elif own and status is None:  # raised before its answer started: something outside may answer it instead
                answerer = _answered_outside(outer, self)
            raise
        except BaseException as exc:  # trio's Cancelled (Hypercorn's trio worker): only a scope outside the app, the
            trio = type(exc).__name__ == "Cancelled" and type(exc).__module__.partition(".")[0] == "trio"  # server's or
            if trio and not left and outside is None:  # an outer middleware's lets it out (the app's scopes catch their own)
                outside = "trio's cancellation from a scope outside it (its server's, or a middleware's such as move_on_after)"
                cut_at = clock.elapsed()
            raise
        finally:
            if lazy and not body_open and teed is not None:  # read whole, as the app read it: judged as if read ahead
                body = bytes(teed)
                unread = request_framing_unread(asked.headers, streamed)
            if self._flights.pop(number, None) is not None:  # (else a reader judged it while it ran: `due`)
                conclude(error, by_app=True)

    def _in_part(self, whole: bool, answered: float, ended: float | None, raised: str | None,
                 overlapped: bool, held: float = 0.0) -> tuple[str, frozenset[str]] | None:
        """Why the app's time, or whether it answered whole, does not show (and the rules that leaves unjudged), or None.

        `whole`: its answer went out whole by its Content-Length (`answered`: the app's time then), `ended`: its time at
        its last body message (None: never sent). A client reading by the Content-Length had it then; one reading to the
        app's last message had it only at `ended`, or never: a middleware outside this one that reframes the answer
        (Starlette's GZipMiddleware drops the Content-Length and streams it chunked), an in-process client
        (httpx.ASGITransport, Starlette's TestClient). Which reads it does not show here: never passed, never blamed.
        `overlapped`: the app read more of its body after its answer started (Starlette's StreamingResponse listening
        for the client's leaving): the wait on the client's bytes, not counted, may have been the app's time too.
        `held`: the time inside the `send` of the answer's start and of an empty body message before any body byte, not
        counted: a server's flow control (uvicorn drains before every message, behind an earlier answer a pipelining
        client has not read) or a middleware outside this one working, which do not show apart: where the app's time
        is within the timeout only without it, never passed, never blamed."""
        why: list[str] = []
        rules: set[str] = set()
        timeout = self.judge.timeout
        if whole and ended is None:
            did = raised or "the app returned"
            why.append(f"its answer was whole by its Content-Length, then {did} without its last body message (a client "
                       "reading to the app's last message, behind a middleware that reframes it such as GZipMiddleware or "
                       "in process, never had it whole): no-server-error and responds-in-time were not judged")
            rules |= {NO_SERVER_ERROR.id, RESPONDS_IN_TIME.id}
        elif whole and ended is not None and timeout is not None and answered <= timeout < ended:
            why.append(f"its answer was whole by its Content-Length within {timeout:g} s, but the app's last body message "
                       f"came after it (a client reading to it, behind a middleware that reframes the answer "
                       "such as GZipMiddleware or in process, waited so long): responds-in-time was not judged")
            rules.add(RESPONDS_IN_TIME.id)
        if timeout is not None and answered <= timeout < answered + held:
            why.append(f"{held:.2f} s went inside the server's `send` of its answer's start before any body byte (a "
                       "server's flow control holding it while the client read an earlier answer, or a middleware "
                       "outside this one working; which does not show): responds-in-time was not judged")
            rules.add(RESPONDS_IN_TIME.id)
        if overlapped:
            why.append("the app read more of its request's body after its answer started: the time the server waited on "
                       "the client's bytes (not the app's) and the app's own overlap: responds-in-time was not judged")
            rules.add(RESPONDS_IN_TIME.id)
        return ("; ".join(why), frozenset(rules)) if why else None

    def _drain(self) -> None:
        """Every exchange answered so far judged (every reader calls it, so what it reads is complete), and the sends
        in flight read as they stand (`due`): those whose judgement is known judged now, the rest counted in flight
        (`TrafficJudge.in_flight`: no green verdict while one is). Counted before the judge settles: a send ending
        between is counted twice (in flight and judged, never green) rather than not at all."""
        for due in list(self._flights.values()):  # (a copy, atomic: the event loop adds and takes them meanwhile)
            due()
        self.judge.in_flight = len(self._flights)
        self.judge.settle()

    def _observe_now(self, make: Callable[[], ObservedExchange | None]) -> None:
        """A send judged by a reader while its app runs (`due`), on the reader's thread: never raised on."""
        try:
            exchange = make()
            if exchange is not None:
                self.judge.observe(exchange)
        except Exception as exc:  # (as the judge's own thread: a judging bug never reaches the reader)
            self.judge.pass_unjudged(f"an exchange could not be judged ({type(exc).__name__}); please report it")

    def _exchange(self, asked: _Asked, body: bytes | None, answer: tuple[int | None, list[tuple[str, str]], list[bytes], int],
                  error: str | None, elapsed: float, number: int, body_size: tuple[int, bool] | None = None,
                  in_part: tuple[str, frozenset[str]] | None = None, unseen: frozenset[str] = frozenset()) -> ObservedExchange:
        status, answer_headers, kept, size = answer
        headers: list[tuple[str, str]] = []
        host: str | None = None
        for k, v in asked.headers:
            name, value = k.decode("latin-1"), v.decode("latin-1")
            headers.append((name, value))
            if host is None and name.lower() == "host":
                host = value
        query = asked.query_string.decode("latin-1")
        # the app's own path, as the scope had it at entry: a client's Host header never decides what is judged
        host = host if host is not None and _AUTHORITY.fullmatch(host) else "app"  # shown in findings; never a path, a query or userinfo
        url = f"{asked.scheme}://{host}{_shown(asked.path)}" + (f"?{query}" if query else "")
        cap = self.max_response_bytes
        response_body, unread, broken = None, None, False
        if error is None and size > cap:
            unread = f"its answer is over {cap:,} bytes"
        elif error is None:
            try:
                encodings = [v for k, v in answer_headers if k.lower() == "content-encoding"]
                raw = kept[0] if len(kept) == 1 else b"".join(kept)
                response_body = decode(raw, codings_of(encodings), cap) if encodings else raw if len(raw) <= cap else None
            except Unknown as exc:
                unread = f"its answer's Content-Encoding ({exc}) is one the toolkit cannot decode"
            except Differs as exc:
                unread = f"its answer's Content-Encoding is {exc}: what the client read does not show"
            except Broken as exc:  # no client can read it: the app's fault, judged as an answer that never completed
                error, broken = f"the answer's body is not what its Content-Encoding says ({exc})", True
            else:
                unread = None if response_body is not None else f"its answer decodes to over {cap:,} bytes"
        return ObservedExchange(
            method=asked.method, url=url, request_headers=headers, request_body=body,
            status=status if error is None or broken else None, response_headers=answer_headers,
            response_body=response_body, elapsed=elapsed, error=error, where=f"request {number} to the app",
            response_size=size, unread=unread, route=SEND, request_size=body_size[0] if body_size else None,
            request_size_open=body_size[1] if body_size else False,
            in_part=in_part[0] if in_part else None, in_part_rules=in_part[1] if in_part else frozenset(), unseen_rules=unseen,
        )


class _Asked(NamedTuple):
    """What the client asked, as the scope had it when the send came in and its route was decided: what is judged and
    shown, copied. Never the scope itself: an inner middleware or router edits it in place while the app runs (Starlette's
    `MutableHeaders(scope=scope)` replaces and edits its headers, Router and Mount `scope.update(...)` its root path), and
    it holds the app's own objects (`state`), which the judge's bound on what waits does not count."""

    method: str
    path: str  # the path the client asked for (`_asked_path`), quoted only when shown, on the judge's thread
    query_string: bytes
    scheme: str
    headers: tuple[tuple[bytes, bytes], ...]  # each pair a tuple (a list pair copied): never the scope's list

    @classmethod
    def of(cls, scope: dict[str, Any]) -> _Asked:
        """Copied on the app's event loop at each send: kept cheap (a tuple of a tuple is itself, no copy)."""
        return cls(scope["method"], _asked_path(scope), scope.get("query_string", b""), scope.get("scheme", "http"),
                   tuple(map(tuple, scope.get("headers") or ())))

    @property
    def size(self) -> int:
        """The bytes it holds, about: its headers and its target."""
        size = len(self.path) + len(self.query_string)
        for name, value in self.headers:  # (a loop: no generator made for each send)
            size += len(name) + len(value)
        return size


def _reading() -> None:
    """A send's `due` while its request's body is read ahead: in flight, nothing to judge yet."""


def _write_at_exit(ref: weakref.ref[ContractMiddleware]) -> None:
    """At process exit: the reports of a middleware still alive, unless they were written with nothing judged since."""
    middleware = ref()
    if middleware is not None and middleware._written != middleware._count:
        middleware._write_at_end("at exit")


_HTTP1 = ("1.0", "1.1")  # the versions whose head is text the app's fields are written into as they are
_BODILESS = (204, 304)  # (1xx never ends an answer; a tuple: a status no server takes, unhashable too, is compared)


def _writes_as_given(send: Any) -> bool:
    """Whether `send` is uvicorn's httptools protocol's own (no middleware between): it writes the head as the app gave
    it (a Content-Length beside a Transfer-Encoding, or two, `framing_apart`, go on the wire as they are). Behind a
    middleware outside this one (Starlette's ServerErrorMiddleware always is), which server runs does not show."""
    return getattr(send, "__module__", None) == "uvicorn.protocols.http.httptools_impl"


def _framed_bodiless(headers: list[tuple[bytes, bytes]], status: int) -> str | None:
    """Why an answer without a body (204, 304) with a Transfer-Encoding (RFC 9112 §6.1) is read apart by servers (None:
    it has none): uvicorn's httptools protocol writes a chunk's end after the head, which its client reads as the start of
    the next answer; uvicorn's zttp and h11 (Hypercorn) drop the field and the client reads a clean answer. Which server
    runs does not show in the scope: judged in part, never blamed, never passed."""
    if status in _BODILESS and any(name.lower() == b"transfer-encoding" for name, _ in headers):
        return (f"status {status}, which has no body, and a Transfer-Encoding: uvicorn's httptools protocol writes a "
                "chunks' end its client reads as the next answer, uvicorn's zttp and h11 drop the field")
    return None


def _mended(headers: list[tuple[bytes, bytes]], status: int) -> tuple[str, list[tuple[bytes, bytes]], int | None] | None:
    """An HTTP/1 head no client reads as written (`_head_read`) that one server mends, read as that server sends it:
    why servers read it apart, the head as sent (each name and value stripped of whitespace), and its body's length
    where that head frames it; None where it is not so mended. Hypercorn puts every protocol's head through
    `build_and_validate_headers` (`bytes.strip()` of each name and value) before its h11 checks it, so `content-type `
    goes out as a valid Content-Type; uvicorn's h11 refuses the name, its httptools protocol refuses it or (before its
    name check was fixed) writes it as given, which no client reads. Which server runs does not show in the scope:
    judged in part (`no-server-error`), never blamed, never passed."""
    stripped = [(name.strip(), value.strip()) for name, value in headers]
    if stripped == headers:
        return None
    unreadable, length = _head_read(stripped, status)
    if unreadable is not None:
        return None
    first = next((name for name, value in headers if not writable(name, value)), headers[0][0])
    why = (f"a header field {shown_name(first)} with whitespace around its name or value: Hypercorn strips it and "
           "sends a head its client reads, uvicorn's h11 refuses it, its httptools protocol refuses it or writes it as "
           "given (which no client reads)")
    return why, stripped, length


def _as_bytes(given: list[Any]) -> list[tuple[bytes, bytes]] | None:
    """The app's header pairs as bytes, as h11 reads them (`h11._util.bytesify`: bytes-like as it is, str as ASCII); None
    where a pair is not two of those (the server's `send` decides what it does with them, never this reading)."""
    pairs: list[tuple[bytes, bytes]] = []
    try:
        for name, value in given:
            pairs.append((_bytes_of(name), _bytes_of(value)))
    except (TypeError, ValueError):
        return None
    return pairs


def _bytes_of(item: Any) -> bytes:
    if type(item) is bytes:
        return item
    if isinstance(item, str):
        return item.encode("ascii")  # (a UnicodeEncodeError is a ValueError: h11 refuses it too)
    if isinstance(item, (bytearray, memoryview)):
        return bytes(item)
    raise TypeError(type(item).__name__)


def _head_read(headers: list[tuple[bytes, bytes]], status: int) -> tuple[str | None, int | None]:
    """Why no client reads an HTTP/1 answer with this head (`unreadable_head`, `_framed_bodiless`; None: one reads it),
    and its body's length where the head alone frames it (`_length_of`; None: unreadable, or framed by the server).
    The common head (every name a token, no control character, no Transfer-Encoding, at most one Content-Length of
    digits only) in one pass; any other by those readings."""
    length: bytes | None = None
    for name, value in headers:
        if not writable(name, value):
            break
        lowered = name.lower()
        if lowered == b"content-length":
            if length is not None or not value.isdigit():  # (bytes: ASCII digits only, not empty)
                break
            length = value
        elif lowered == b"transfer-encoding":
            break
    else:
        if status in _BODILESS:
            return None, 0
        return None, (int(length) if length is not None and len(length.lstrip(b"0")) <= 18 else None)
    unreadable = unreadable_head(headers)  # (a 204/304 with a Transfer-Encoding: servers differ, `_framed_bodiless`)
    return unreadable, (None if unreadable is not None else _length_of(headers, status))


def _stream_head(headers: list[tuple[bytes, bytes]], status: int) -> tuple[str | None, int | None, list[str], str | None]:
    """Over HTTP/2 and 3, the app's head as h2 reads it (Hypercorn's server side, httpx's client side): why no client reads
    it, else the content-length the body must match (None: none given, or a status without content, 204/304, which may
    carry one), the connection-specific fields the server drops (never sent: not what a client reads), and why servers
    read the head apart (None: they agree).

    Each name and value stripped and the name lowercased (Hypercorn's `build_and_validate_headers`, then
    `h2.utilities.normalize_outbound_headers`), the connection-specific fields (Connection, Keep-Alive, Proxy-Connection,
    Transfer-Encoding, Upgrade) dropped; then what `h2.utilities.validate_outbound_headers` refuses to send, which
    makes the answer malformed (RFC 9113 §8.2.2, §8.3): a pseudo-header field (or an empty name) among the app's fields.
    Hypercorn swallows h2's refusal: the app's `send` returns, its HEADERS frame never goes out, and its client fails on
    the body that follows. A `te` field other than `trailers` h2 refuses too, but uvicorn's own HTTP/2 (zttp) drops it and
    sends the rest: which server runs does not show in the scope, so it is read apart (judged in part). Then the
    content-length: not digits, or several disagreeing, is malformed (RFC 9113 §8.1.1)."""
    dropped: list[str] = []
    values: list[bytes] = []
    apart: str | None = None
    for raw_name, raw_value in headers:
        name, value = bytes(raw_name).strip().lower(), bytes(raw_value).strip()
        if not name or name.startswith(b":"):
            return (f"a field named {_quoted(name)} (a pseudo-header field or no name among its fields), which makes the "
                    "answer malformed over HTTP/2 and 3 (RFC 9113 §8.3): its server refuses the head"), None, dropped, None
        if name in _CONNECTION_SPECIFIC:
            dropped.append(name.decode("latin-1"))
        elif name == b"te" and value.lower() != b"trailers":
            apart = apart or (f"a te field of {_quoted(value)} over HTTP/2 (RFC 9113 §8.2.2: only `trailers`): h2 (Hypercorn) "
                              "refuses to send the head, uvicorn's own HTTP/2 drops the field and sends the answer")
        elif name == b"content-length":
            values.append(value)
    if not values:
        return None, None, dropped, apart
    if not all(v.isdigit() and v.isascii() for v in values):
        return (f"a content-length that is not a number ({_quoted(values[0])}), which makes the answer malformed over "
                "HTTP/2 and 3"), None, dropped, None
    if len({int(v) for v in values}) > 1:
        return (f"content-lengths that disagree ({_quoted(values[0])}, ...), which makes the answer malformed over "
                "HTTP/2 and 3"), None, dropped, None
    return None, None if status in _BODILESS else int(values[0]), dropped, apart


# the fields HTTP/2 and 3 forbid as connection-specific (RFC 9113 §8.2.2): h2 drops them from what it sends
_CONNECTION_SPECIFIC = frozenset({b"connection", b"keep-alive", b"proxy-connection", b"transfer-encoding", b"upgrade"})


def _quoted(value: bytes) -> str:
    """A value the app sent, as a finding may show it (cut, and safe)."""
    return repr(clean_text(value[:40].decode("latin-1")))


def _continue_expected(headers: Iterable[tuple[bytes, bytes]]) -> bool:
    """Whether a request asks `Expect: 100-continue` as a server reads it: uvicorn answers its app's first `receive`
    with `100 Continue` (Hypercorn sends it at once), telling the client to send its body, which it would not have done
    for an app refusing from the head alone. Read as its stacks read it: h11 takes `100-continue` as one token of the
    Expect fields' comma list (any case), httptools as the whole value (any case), one of those tokens; nothing else
    (`x100-continue`, `100-continue-x`) makes a server send it."""
    return any(name.lower() == b"expect" and b"100-continue" in (token.strip(b" \t") for token in value.lower().split(b","))
               for name, value in headers)


def _named(exc: BaseException) -> str:
    """An exception's type as a note shows it (its name, cleaned and cut: a middleware's class may be named anything)."""
    return clean_text(type(exc).__name__[:60])


def _cut_off(exc: BaseException) -> str:
    """What cut a send off before the app ran (a cancellation, trio's, a `KeyboardInterrupt`), as a note says it."""
    if isinstance(exc, asyncio.CancelledError) or type(exc).__name__ == "Cancelled":
        return (f"it was cancelled ({_named(exc)}, by something outside the app: its server, or a middleware outside this "
                "one such as a timeout)")
    return f"{_named(exc)} was raised outside the app"


# the modules of the servers and in-process clients whose `send` refuses what it cannot send (uvicorn's h11 and
# httptools protocols, Hypercorn, h2, Granian, Daphne, httpx's ASGITransport (its module only: a middleware outside may
# use httpx itself, for an audit sink or a webhook), Starlette's TestClient, this package's own in-process transport)
_SERVERS = ("uvicorn", "hypercorn", "h11", "h2", "h3", "aioquic", "httptools", "granian", "daphne", "twisted",
            "httpx._transports.asgi", "starlette.testclient", "migma_contract.wire.asgi_transport")
# the packages whose own exception types a native server's `send` raises (no Python frame of its own to read)
_SERVER_TYPES = ("h11", "h2", "h3", "aioquic", "httptools", "granian")


def _refused(exc: BaseException) -> bool:
    """Whether an exception out of an outer `send` is the server's refusal of the app's message (no client read it), as
    opposed to a middleware's outside this one, which may have answered itself before raising (Starlette's body limit
    sends its own 413, then raises `_RequestBodyLimitResponseSent`; an audit middleware forwards the whole answer, then
    its own code raises a TypeError or an httpx.ConnectError). Decided by where it was raised, never by its type alone:
    the innermost frame of its traceback in a server's own code (`_SERVERS`), or no Python frame beyond this
    middleware's own `await send(...)` (a native server's send raised it itself)."""
    if isinstance(exc, BaseExceptionGroup):  # (a middleware's task group: the server's only if each in it is)
        return all(_refused_alone(leaf) for leaf in _leaves(exc))
    return _refused_alone(exc)


def _refused_alone(exc: BaseException) -> bool:
    trace = exc.__traceback__
    if trace is None:  # (no frame at all: not raised, handed over; nothing shows it is the server's)
        return False
    own = trace.tb_frame  # (the frame that caught it: this middleware's `await send(...)`)
    for _ in range(4096):  # (bounded: the frames between this `send` and where it was raised)
        if trace.tb_next is None:
            break
        trace = trace.tb_next
    else:
        return False
    if trace.tb_frame is own:  # raised by the very callable this middleware called, with no Python frame: a native
        # server's send (a Python middleware outside has frames of its own)
        module = type(exc).__module__ or ""
        return module == "builtins" or any(module == name or module.startswith(name + ".") for name in _SERVER_TYPES)
    return _server_module(str(trace.tb_frame.f_globals.get("__name__", "")))


def _leaves(exc: BaseException) -> list[BaseException]:
    """The exceptions an exception group holds, however nested (bounded), or the exception itself."""
    found: list[BaseException] = []
    stack = [exc]
    for _ in range(256):
        if not stack:
            break
        item = stack.pop()
        if isinstance(item, BaseExceptionGroup):
            stack.extend(item.exceptions[:64])
        else:
            found.append(item)
    return found


def _all_among(exc: BaseException, raised: list[BaseException]) -> bool:
    """Whether `exc`, or each exception of its group, is one of `raised` (the very objects)."""
    leaves = _leaves(exc)
    return bool(leaves and raised) and all(any(leaf is one for one in raised) for leaf in leaves)


def _server_module(module: str) -> bool:
    return any(module == name or module.startswith(name + ".") for name in _SERVERS)


def _being_cancelled() -> bool:
    """Whether something outside the app is cancelling its task (asyncio's count of cancellations asked for it, 3.11+:
    its server, a timeout middleware outside this one): a `CancelledError` out of the app is then theirs; without it,
    the app's own."""
    try:
        task = asyncio.current_task()
    except RuntimeError:  # no asyncio loop (trio): an asyncio CancelledError there is the app's own
        return False
    return task is not None and task.cancelling() > 0


def _framed_by_server(headers: list[tuple[bytes, bytes]], status: int, method: str) -> bool:
    """Whether an answer to an HTTP/1.0 request leaves its framing to the server: it has a body and no Content-Length
    alone frames it (none given, or a Transfer-Encoding beside it, which HTTP/1.0 has not). h11 then ends the answer
    with the connection (readable); uvicorn's httptools protocol sends it chunked (unreadable): not the app's doing."""
    if method == "HEAD" or status in _BODILESS:
        return False
    names = {name.lower() for name, _ in headers if TOKEN.match(name)}
    return b"content-length" not in names or b"transfer-encoding" in names


def _length_of(headers: list[tuple[bytes, bytes]], status: int) -> int | None:
    """The body's length where the head alone frames it for an HTTP/1 client (None: the server frames it, by chunks or
    by the connection's end): 0 for a status without a body (204, 304), else its Content-Length when no
    Transfer-Encoding is given (a head `unreadable_head` passed; one too long to reach stands for none)."""
    if status in _BODILESS:
        return 0
    if any(name.lower() == b"transfer-encoding" for name, _ in headers) or framing_refused(headers) is not None:
        return None
    value = next((v for name, v in headers if name.lower() == b"content-length"), None)
    if value is None:
        return None
    digits = value.split(b",")[0].strip(b" \t")
    return int(digits) if len(digits.lstrip(b"0")) <= 18 else None


def _hide_file_sends(scope: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """For a judged send, the extensions that answer with a file the server reads (`http.response.pathsend`,
    `http.response.zerocopysend`) taken out of the server's own `extensions` while the app runs: the app then sends its
    body as messages (Starlette's FileResponse reads the file in chunks), which are what is judged. The app runs on the
    server's scope itself (never a copy: what the app and the middleware outside write into it, a router's `route`,
    a status recorded in a send wrapper, shows to each other at once); (the extensions, what was taken) to put back
    once it returns or raises (`_shown_again`), or None where there was none to take."""
    extensions = scope.get("extensions")
    if not isinstance(extensions, dict) or not _FILE_SENDS.intersection(extensions):
        return None
    return extensions, {name: extensions.pop(name) for name in _FILE_SENDS if name in extensions}


def _shown_again(extensions: dict[str, Any], taken: dict[str, Any]) -> None:
    """The file sends `_hide_file_sends` took, back in the server's `extensions` (one written meanwhile left as it is)."""
    for name, value in taken.items():
        extensions.setdefault(name, value)


def _answered_outside(outer: Any, middleware: ContractMiddleware) -> str | None:
    """Why an exception the app raised before its answer started may be answered by something outside this middleware
    (None: its server, or Starlette's ServerErrorMiddleware without a handler, answers 500: the app's no-server-error).

    `outer`: the scope's `app` as the send came in, set by the Starlette (FastAPI) app whose stack runs this middleware.
    `app.add_middleware` puts this middleware inside Starlette's ServerErrorMiddleware
    (`Starlette.build_middleware_stack`), which runs the app's `exception_handlers` entry for `Exception` or `500` and
    sends its answer, of any status. Between the two, a middleware this reading does not know (a user's, a
    `BaseHTTPMiddleware`'s dispatch, a Mount's or a route's app) may answer too: what it sends does not show here.
    Without a Starlette app outside (a plain ASGI stack), nothing outside is seen: its server answers 500."""
    handlers = getattr(outer, "exception_handlers", None)
    if not isinstance(handlers, dict):
        return None
    for key in (Exception, 500):
        if key in handlers:
            return (f"the Starlette app outside this middleware has an exception handler for {getattr(key, '__name__', key)}"
                    " (ServerErrorMiddleware runs it and sends its answer)")
    node = getattr(outer, "middleware_stack", None)
    for _ in range(64):
        if node is middleware:
            return None
        if node is None:
            break
        name = f"{type(node).__module__}.{type(node).__qualname__}"
        if name not in _PASSING_ON:
            return f"a middleware outside this one ({clean_text(name[:80])}) may answer it"
        node = getattr(node, "app", None)
    return "this middleware is not in the Starlette app's own stack (under a Mount or a route): what is between may answer it"


# the middleware of Starlette and FastAPI known never to answer an exception passing through (ServerErrorMiddleware answers
# only through its handler, read apart; the body limits answer only their own error, raised while the body is read)
_PASSING_ON = frozenset({
    "starlette.middleware.errors.ServerErrorMiddleware", "starlette.middleware.cors.CORSMiddleware",
    "starlette.middleware.gzip.GZipMiddleware", "starlette.middleware.trustedhost.TrustedHostMiddleware",
    "starlette.middleware.httpsredirect.HTTPSRedirectMiddleware", "starlette.middleware.sessions.SessionMiddleware",
    "starlette.middleware.body_limit.RequestBodyLimitMiddleware", "fastapi.telemetry._asgi.ExceptionTelemetryMiddleware",
    "fastapi._body_limit.AppBodyLimitMiddleware", "fastapi._body_limit._BodyLimitExceptionMiddleware",
})


_FILE_SENDS = frozenset({"http.response.pathsend", "http.response.zerocopysend"})
_FILE_SEND_TYPES = ("http.response.pathsend", "http.response.zerocopysend")  # (tuples: an app's `type` may be unhashable)
_BODY_SENDS = ("http.response.body", "http.response.zerocopysend")  # (each with its `more_body`)
_SEND_TARGET = SEND_PATH.encode()  # the send's path as the client's bytes name it (`raw_path`)


def _asked_path(scope: dict[str, Any]) -> str:
    """The path the client asked for, as `_route_path` reads the scope: `path` where it holds the root path already
    (uvicorn's --root-path, Starlette's Mount put it there), else the root path before it."""
    root: str = scope.get("root_path", "")
    path: str = scope["path"]
    return path if not root or _under(path, root) is not None else f"{root}{path}"


def _shown(path: str) -> str:
    """A path as a URL shows it (the few an app's sends come to, quoted once each)."""
    found = _SHOWN.get(path)
    if found is None:
        found = quote(path, safe="/:@!$&'()*+,;=-._~")
        if len(_SHOWN) < 64 and len(path) <= 256:
            _SHOWN[path] = found
    return found


_SHOWN: dict[str, str] = {}


def _under(path: str, prefix: str) -> str | None:
    """`path` below `prefix` (a whole segment: /api holds /api/v1, never /apiv1), or None where it is not under it."""
    if prefix and path.startswith(prefix) and (len(path) == len(prefix) or path[len(prefix)] == "/"):
        return path[len(prefix):]
    return None


def _route_path(scope: dict[str, Any], base: str) -> tuple[str, bool]:
    """The path the app routes by: `path` under `root_path` where the server put the root path in it (uvicorn does),
    as Starlette reads it (`starlette._utils.get_route_path`); then under the middleware's `base_path`, and whether it
    was under it."""
    path: str = scope["path"]
    below_root = _under(path, scope.get("root_path", ""))
    path = path if below_root is None else below_root
    if not base:
        return path, True
    below = _under(path, base)
    return (path, False) if below is None else (below, True)


def _route_of(scope: dict[str, Any], base: str) -> Route:
    """What a request is (`route_of`), read from the path the app routes by (the root path is the app's: exactly
    /v1/sending under it is the send). The scope's path is decoded already and is read as it is, never decoded again;
    the send only when the bytes the client sent name it too (`/v1%2Fsending` decodes to /v1/sending but is no send,
    a server that keeps `%2F` routes it elsewhere): otherwise it may route there, and is never judged."""
    method: str = scope["method"]
    headers = scope.get("headers") or ()  # a method-override header may make another method a POST (`route_of`)
    if not base and scope["path"] == SEND_PATH and scope.get("raw_path") == _SEND_TARGET and not scope.get("root_path"):
        # (the common case, as the reading below reads it: a POST there is the send unless a method-override header names
        # another method; anything else as `route_of` reads it)
        if method == SEND_METHOD:
            return SEND if plain_post(method, headers) else MAY_ROUTE
        return route_of(method, SEND_PATH, base=False, headers=headers)
    path, under = _route_path(scope, base)
    route = route_of(method, path.replace("%", "%25").replace("?", "%3F").replace("#", "%23"), base=False, headers=headers)
    if route == SEND and not under:  # /v1/sending outside the base path the app serves the API under
        return MAY_ROUTE
    raw = scope.get("raw_path")
    if not isinstance(raw, bytes):
        return route
    target = raw.split(b"?", 1)[0].decode("latin-1")
    if route == SEND and route_of(method, target) != SEND:  # (a root path or base path before it is the app's)
        return MAY_ROUTE
    if route == OTHER and route_of(method, target, base=False, headers=headers) != OTHER:
        return MAY_ROUTE
    return route
