"""One exchange recorded in more than one file, judged once.

Schemathesis' `--report vcr,har` writes every exchange twice, a cassette and a HAR (`recorded_at` and
`startedDateTime` are the same instant, `reporting/vcr.py` and `reporting/har.py`); a proxy's HAR beside a client's
cassette holds one session twice too. Judged as two exchanges, each answered send's `data.id` would be "repeated"
(result-id-unique, the server blamed) and every count doubled.

What tells one exchange in two files: the same method, URL and status, the same answer's bytes (a server's fresh id
among them), the same start instant, and the same request body where both files hold it. Such an exchange of
another file is judged and counted once (`SAME`): a later copy adds only what the copies judged before it did not
show (`shown`: the rules judged on them; `TrafficJudge.observe_copy` judges the rest, a full HAR's `wait` beside a
minimal HAR's time that is no whole), so the verdict does not hang on the files' order; two of one file are two sends, however
alike (concurrent sends started in the same millisecond). Where a file records no start time (vcrpy cassettes), or two files record one exchange at instants a few
milliseconds apart (each recorder's own clock: a proxy's HAR beside its client's cassette), the same request line and
answer in another file may be the one exchange or two sends answered alike: it is judged, but a value it repeats is
not judged on result-id-unique (`MAYBE`, judged in part), never blamed nor excused. Two such sends of one file are two
sends: a repeated id between them is the server's (a finding). Within one file, entries are each a send.

Kept only when more than one file is judged, as 16-byte digests, at most `MAX_TWINS` of each kind: past that,
exchanges of a later file are all `MAYBE` (a repeat among them is not judged, never blamed).
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any, Literal

from migma_contract.traffic.tally import SEND, ObservedExchange, route_of

__all__ = ["MAX_TWINS", "MAYBE", "SAME", "Twins", "instant"]

MAX_TWINS = 100_000  # digests kept of each kind (the judge's history of ids keeps as many values)
SAME: Literal["same"] = "same"
MAYBE: Literal["maybe"] = "maybe"


def instant(value: Any) -> int | None:
    """A recorded start time (ISO 8601: HAR's `startedDateTime`, Schemathesis' `recorded_at`) in microseconds since
    the epoch; None when there is none or it does not read (a time without an offset is read as UTC)."""
    if not isinstance(value, str) or not 10 <= len(value) <= 64:
        return None
    try:
        when = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    delta = when - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _digest(*parts: bytes) -> bytes:
    hashed = hashlib.blake2b(digest_size=16)
    for part in parts:
        hashed.update(len(part).to_bytes(8, "big"))
        hashed.update(part)
    return hashed.digest()


class Twins:
    """The exchanges of the files judged so far, told apart (`seen`)."""

    def __init__(self, limit: int = MAX_TWINS) -> None:
        self.limit = limit
        # the exchange and its start instant -> [the file first holding it, its request body's digest, the files whose
        # copy of it was taken already: one per file, a second alike entry of a file being another send, what its
        # judged copies showed (`shown`)]
        self._timed: dict[bytes, list[Any]] = {}
        self._last: list[Any] | None = None  # the record `seen` last matched (`SAME`) or made
        # a send alone (method, URL, status, answer) -> the same, for a copy at another instant or without one
        self._untimed: dict[bytes, list[Any]] = {}
        self.full = False

    def seen(self, exchange: ObservedExchange, file: int) -> Literal["same", "maybe"] | None:
        """Whether `exchange` (of the `file`-th file) was judged already (`SAME`), may have been (`MAYBE`), or not.

        Each entry of a file is a copy of one of an earlier file at most once for that file: a second entry alike in
        one file is another send (concurrent sends at one instant answered with one id are the server's break)."""
        answer, started = exchange.response_body, exchange.started
        alone = _digest(exchange.method.encode("utf-8", "surrogatepass"), exchange.url.encode("utf-8", "surrogatepass"),
                        str(exchange.status).encode(), b"\x00" if answer is None else b"\x01" + answer)
        timed = None if started is None else _digest(alone, str(started).encode())
        request = None if exchange.request_body is None else _digest(exchange.request_body)
        # only a send's answer gives a value to repeat (result-id-unique): only sends are told apart without a time
        send = answer is not None and exchange.status is not None and \
            route_of(exchange.method, exchange.path, headers=exchange.request_headers) == SEND
        first = self._timed.get(timed) if timed is not None else None
        before = self._untimed.get(alone) if send else None
        self._last = None
        if first is not None and _copy_of(first, file, request):
            if before is not None:
                before[2].add(file)  # (the same entry: never also a possible copy of it at another instant)
            self._last = first
            return SAME  # any exchange of another file: a send, another path's, one without an answer
        found: Literal["maybe"] | None = None
        if before is not None and _copy_of(before, file, request):
            # in another file, without a time or at another instant (two recorders' clocks: a proxy's HAR beside its
            # client's cassette differ by a few milliseconds), or with a body not recorded on one side (a mask, a
            # HAR's `_file`): one exchange or two sends answered alike, it does not show
            found = MAYBE
        elif send and before is None and self.full and file > 0:
            found = MAYBE  # not remembered: whether an earlier file held it does not show
        if len(self._timed) >= self.limit or len(self._untimed) >= self.limit:
            self.full = True
            return found
        if timed is not None and first is None:
            self._timed[timed] = self._last = [file, request, set(), None]
        if send and before is None:
            self._untimed[alone] = [file, request, set()]
        return found

    @property
    def shown(self) -> Any:
        """What the judged copies of the exchange `seen` last matched (`SAME`) or took showed (None: nothing kept)."""
        return _shown_of(self._last)

    @shown.setter
    def shown(self, value: Any) -> None:
        if self._last is not None:
            self._last[3] = value


def _shown_of(record: list[Any] | None) -> Any:
    return record[3] if record is not None and len(record) > 3 else None


def _copy_of(first: list[Any], file: int, request: bytes | None) -> bool:
    """Whether an entry of `file` may be a copy of `first` (of another file, with the same request body where both hold
    one), its first such in `file`: taken, it is not again for that file."""
    if first[0] == file or file in first[2] or (first[1] is not None and request is not None and first[1] != request):
        return False
    first[2].add(file)
    return True
