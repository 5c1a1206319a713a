"""Reading one array inside a large JSON file item by item, in bounded memory.

A HAR file is one JSON object whose `log.entries` array holds every exchange; a browser
or a proxy writes hundreds of megabytes of it. `iter_array` walks down to the array with
the standard library's own decoder (`json.JSONDecoder.raw_decode` over a sliding buffer)
and yields each item as soon as it is complete, so memory holds one item and one read
chunk, never the file. A file that ends early (a recording cut off) yields what it holds
and says where it stopped instead of failing. Bytes that are not UTF-8 are read as U+FFFD
(`invalid_utf8` says where the first was): one bad byte never costs the rest of the file.

Each byte is scanned a bounded number of times (an item is re-parsed O(log n) times as the
buffer doubles; one too deep to parse is stepped over once, resuming where the last read
ended), and every path honours the cap on one item (`max_item`).
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

__all__ = ["TOO_DEEP", "TOO_MANY", "ArrayReader", "JsonStreamError"]

CHUNK = 1 << 20
MAX_ITEM = 32 << 20  # an item larger than this is not waited for (parsed whole, one costs ~10x its size in memory)
# An item longer than this is stepped over once before it is parsed, and left unparsed (`TOO_MANY`) when its text
# holds more than `MAX_STRUCTURE` brackets and commas: 7 M empty lists in 21 MB parsed to 1 GB, then refused.
PRECOUNT = 1 << 20
MAX_STRUCTURE = 1_000_000
_MARGIN = 64
_SPACE = re.compile(r"[ \t\n\r]*")
_DECODER = json.JSONDecoder()


def _long_int(digits: str) -> Any:
    """An integer past Python's 4,300-digit conversion limit, read as a float (infinity): the item is still read."""
    try:
        return int(digits)
    except ValueError:
        return float(digits)


_LENIENT = json.JSONDecoder(parse_int=_long_int)  # for the item an integer of thousands of digits stopped
_STRUCTURE = re.compile(r'["\[\]{}]')
_STRING_BODY = re.compile(r'[^"\\]*(?:\\.[^"\\]*)*', re.S)  # a string's inside, up to its closing quote or a cut escape


class _TooDeep:
    """Yielded in place of an item nested deeper than the decoder can follow (it was skipped, not parsed)."""

    def __repr__(self) -> str:
        return "TOO_DEEP"


TOO_DEEP: Any = _TooDeep()


class _TooMany:
    """Yielded in place of a long item whose text holds more values than any item is parsed for (stepped over)."""

    def __repr__(self) -> str:
        return "TOO_MANY"


TOO_MANY: Any = _TooMany()


class JsonStreamError(ValueError):
    """The file is not the JSON expected, at a known byte offset."""

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(f"{message} (byte {offset})")
        self.offset = offset


def _cut_short(rest: str) -> bool:
    """Whether what follows a decoding error is input ending mid-value (a literal, number or escape cut off)."""
    rest = rest.strip()
    return len(rest) < 8 and not any(ch in rest for ch in ",]}:")


class _Incomplete(Exception):
    """The buffer ends inside the value being read."""


@dataclass
class _Where:
    items: int = 0
    stopped: str | None = None


class _Another(Exception):
    """A top-level key naming another format's list, met before the array."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


def _another(name: str, path: tuple[str, ...]) -> str:
    return (f"a top-level {name!r} key beside {'.'.join(path)!r} (another format's list): the file holds two lists, and "
            "which one a tool shows or plays depends on the tool")


class ArrayReader:
    """Yields the items of the array at `path` (a chain of object keys) in a binary JSON stream.

    After iteration, `stopped` says why the reader ended before the array did (a truncated
    or malformed file), or is None when the array was read to its end.
    """

    def __init__(self, handle: IO[bytes], *, chunk: int = CHUNK, max_item: int = MAX_ITEM, keep: tuple[str, ...] = (),
                 others: tuple[str, ...] = ()) -> None:
        # values of the `keep` keys met on the way to the array, and (`skim`) in the array's object after it: the last met
        self.kept: dict[str, Any] = {}
        self._keep = keep
        self._others = others  # top-level keys naming another format's list: a file holding one holds two lists
        self._handle = handle
        self._chunk = chunk
        self._max_item = max_item
        self._decode = codecs.getincrementaldecoder("utf-8")("strict")
        self.invalid_utf8: int | None = None  # the byte offset of the first byte that is not UTF-8 (read as U+FFFD)
        self._buffer = ""
        self._pos = 0
        self._base = 0  # bytes before _buffer[0]
        self._known_pos = self._known_bytes = 0  # a buffer position and its bytes from `_base` (`_offset`)
        self._eof = False
        self._hold = False  # while an item is stepped over before it is parsed: nothing of it is dropped
        self._where = _Where()
        self._skim = False  # `skim`: the `keep` keys after the array are read too
        self._item = (0, 0)  # where the last value read stands in the buffer (`item_text`)
        # `skim` read the array's object to its end (or the file ended): `kept` holds what a JSON reader keeps
        self.skimmed = False

    @property
    def stopped(self) -> str | None:
        return self._where.stopped

    @property
    def items(self) -> int:
        return self._where.items

    def item_text(self) -> str:
        """The text of the item `iter_array` yielded last (read before the next is asked for), stepped over or not:
        what a reader scans for credentials in an item it cannot build (Pass Z2, F1)."""
        start, end = self._item
        return self._buffer[start:end]

    # -- the buffer -----------------------------------------------------------------------------

    def _offset(self, pos: int | None = None) -> int:
        """The byte offset of a buffer position (UTF-8 lengths, counted only when asked): from the last position asked
        for onwards, so that asking at each item as the reading moves on costs what the text does, once (never the
        buffer's prefix again for each item: Pass Z2, F3)."""
        at = self._pos if pos is None else pos
        if at >= self._known_pos:
            self._known_bytes += len(self._buffer[self._known_pos:at].encode("utf-8", "surrogatepass"))
            self._known_pos = at
            return self._base + self._known_bytes
        return self._base + len(self._buffer[:at].encode("utf-8", "surrogatepass"))  # (behind: an error's position)

    def _read(self, at_least: int = 0) -> None:
        if self._eof:
            raise _Incomplete
        if self._pos > self._chunk and not self._hold:  # drop what was consumed: the buffer holds the current value only
            self._base = self._offset()
            self._buffer = self._buffer[self._pos:]
            self._pos = self._known_pos = self._known_bytes = 0
        wanted = max(self._chunk, at_least)
        data = self._handle.read(wanted)
        self._eof = not data
        tail = self._decoded(data)
        if self._base == 0 and not self._buffer and tail.startswith("\ufeff"):
            tail = tail[1:]
            self._base = 3
        self._buffer += tail

    def _decoded(self, data: bytes) -> str:
        """`data` as text; at the first byte that is not UTF-8, from then on with U+FFFD for each such byte."""
        try:  # at the end, a character cut in two is dropped (never final): the value is cut anyway
            return self._decode.decode(data)
        except UnicodeDecodeError as exc:  # the decoder's state is as before this call: decoded again, leniently
            self.invalid_utf8 = self._offset(len(self._buffer)) + exc.start  # exc.start counts the bytes pending before `data`
            lenient = codecs.getincrementaldecoder("utf-8")("replace")
            lenient.setstate(self._decode.getstate())
            self._decode = lenient
            return lenient.decode(data)

    def _skip_space(self) -> str | None:
        """The next significant character (None at the end of the file)."""
        while True:
            self._pos = _SPACE.match(self._buffer, self._pos).end()  # type: ignore[union-attr]  # `[ \t\n\r]*` always matches
            if self._pos < len(self._buffer):
                return self._buffer[self._pos]
            if self._eof:
                return None
            self._read()

    def _expect(self, chars: str, what: str) -> str:
        found = self._skip_space()
        if found is None:
            raise _Incomplete
        if found not in chars:
            raise JsonStreamError(f"expected {what}, found {found!r}", self._offset())
        self._pos += 1
        return found

    def _value(self) -> Any:
        """The next complete JSON value; reads on while the buffer ends inside it."""
        self._skip_space()
        start = self._pos
        decoder = _DECODER
        counted = False
        while True:
            try:
                value, end = decoder.raw_decode(self._buffer, self._pos)
            except RecursionError:  # nested deeper than the decoder recurses: stepped over, never built
                self._pos, self._hold = start, True
                try:
                    self._skip_value()
                finally:
                    self._hold = False
                self._item = (start, self._pos)
                return TOO_DEEP
            except json.JSONDecodeError as exc:
                # Cut input fails where it ends (or, for a string, where the string starts);
                # an error well before the end is a real one.
                cut = exc.msg.startswith("Unterminated") or _cut_short(self._buffer[exc.pos:])
                if not cut and (self._eof or exc.pos < len(self._buffer) - _MARGIN):
                    raise JsonStreamError(exc.msg, self._offset(exc.pos)) from None
                if self._eof:
                    raise _Incomplete from None
                end = -1
            except ValueError as exc:  # an integer past Python's 4,300-digit limit: this item again, leniently
                if decoder is _LENIENT:
                    raise JsonStreamError(str(exc)[:120], self._offset(start)) from None
                decoder = _LENIENT
                continue
            if end == len(self._buffer) and not self._eof:
                end = -1  # a number or a literal may go on in the next chunk
            if end >= 0:
                self._pos = end
                self._item = (start, end)
                return value
            pending = len(self._buffer) - start
            if pending > self._max_item:
                self._item = (start, len(self._buffer))  # (what was read of it: `item_text`)
                raise JsonStreamError(f"an item over {self._max_item >> 20} MiB (or a malformed file)", self._offset(start))
            if pending > PRECOUNT and not counted and self._buffer[start:start + 1] in ("[", "{"):
                counted = True
                if self._too_many(start):
                    self._item = (start, self._pos)
                    return TOO_MANY
                continue  # the whole item is in the buffer now: parsed in one go
            self._read(at_least=pending)  # doubling: a large item is re-parsed O(log n) times, not O(n)
            start = self._pos

    def _too_many(self, start: int) -> bool:
        """Step over the item at `start` (kept whole in the buffer) and count its brackets and commas (in strings too:
        an upper bound on its values); past `MAX_STRUCTURE` it stays stepped over, else the position is back at `start`."""
        self._pos, self._hold = start, True
        try:
            self._skip_value()
        finally:
            self._hold = False
        end = self._pos
        if sum(self._buffer.count(char, start, end) for char in "[{,") > MAX_STRUCTURE:
            return True
        self._pos = start
        return False

    def _skip_value(self) -> None:
        """Move past the array or object starting here, iteratively (brackets counted outside strings).

        Each read resumes where the scan stopped (never from the start of a string again), and the item
        is held to `max_item` characters like one that is parsed.
        """
        depth = 0
        skipped = 0  # characters passed before the buffer's current start
        start, at = self._pos, self._offset()

        def more() -> None:
            nonlocal skipped
            before = self._pos
            if skipped + before - start > self._max_item:
                self._item = (0 if skipped else start, len(self._buffer))  # (what is held of it: `item_text`)
                raise JsonStreamError(f"an item over {self._max_item >> 20} MiB (or a malformed file)", at)
            self._read()
            skipped += before - self._pos  # the buffer was cut by what `_read` dropped (0 otherwise)

        while True:
            found = _STRUCTURE.search(self._buffer, self._pos)
            if found is None:
                self._pos = len(self._buffer)
                more()
                continue
            self._pos = found.end()
            char = found.group()
            if char == '"':
                while True:
                    self._pos = _STRING_BODY.match(self._buffer, self._pos).end()  # type: ignore[union-attr]  # `*` always matches
                    if self._pos < len(self._buffer) and self._buffer[self._pos] == '"':
                        self._pos += 1
                        break
                    more()  # the string (or an escape in it) goes on in the next chunk: resume here
            elif char in "[{":
                depth += 1
            else:
                depth -= 1
                if depth <= 0:
                    return

    # -- walking --------------------------------------------------------------------------------

    def _find(self, path: tuple[str, ...]) -> bool:
        """Move into the array at `path`; False when an object ends without the key."""
        for depth, key in enumerate(path):
            self._expect("{", f"an object holding {'.'.join(path[depth:])!r}")
            while True:
                if self._skip_space() == "}":
                    self._pos += 1
                    return False
                name = self._value()
                self._expect(":", "':'")
                if name == key:
                    break
                if not depth and name in self._others:
                    raise _Another(name)
                value = self._value()
                if name in self._keep and depth == len(path) - 1:  # (the array's object's own: `log.creator`)
                    self.kept[name] = value
                if self._expect(",}", "',' or '}'") == "}":
                    return False
        self._expect("[", f"{path[-1]!r} to be an array")
        return True

    def _after(self, path: tuple[str, ...]) -> None:
        """Read the rest of the document after the array: a second key of the path in the same object (a JSON reader
        keeps the last, so a browser or a HAR viewer would show another array) sets `stopped`, as does text that is
        no JSON (nothing after the array is ever built: values are stepped over)."""
        try:
            for key in reversed(path):
                while self._expect(",}", "',' or '}'") == ",":
                    name = self._value()
                    self._expect(":", "':'")
                    if name == key:
                        self._where.stopped = (f"a second {key!r} key in the same object (JSON readers keep the last one); "
                                               f"the first, judged, may not be what other tools show")
                        return
                    if key == path[0] and name in self._others:
                        self._where.stopped = _another(name, path)
                        return
                    if key == path[-1] and name in self._keep and self._skim:  # (the array's object: `log.creator`)
                        self.kept[name] = self._value()
                    elif self._skip_space() in ("[", "{"):
                        self._skip_value()
                    else:
                        self._value()
        except _Incomplete:  # the file ends after the array: every item was read, nothing more is there
            return
        except JsonStreamError as exc:
            self._where.stopped = f"not JSON after the {'.'.join(path)!r} array: {exc}"

    def skim(self, path: tuple[str, ...]) -> None:
        """Step over the array at `path` item by item (each held to `max_item`, none built) and read on after it, so
        that `kept` holds the `keep` keys of the array's object wherever they stand in it, before the array or after
        (the last met, as a JSON reader keeps it): what a reader needs before judging any item. A file that is not
        such JSON, or ends early, leaves `kept` with what was met (`iter_array` says why)."""
        self._skim = True
        try:
            if not self._find(path):
                self.skimmed = True
                return
            if self._skip_space() == "]":
                self._pos += 1
            else:
                while True:
                    if self._skip_space() in ("[", "{"):
                        self._skip_value()
                    else:
                        self._value()
                    if self._expect(",]", "',' or ']'") == "]":
                        break
            self._after(path)
            self.skimmed = self._where.stopped is None
        except _Incomplete:  # the file ends: no key after this point exists for any reader (they refuse the file)
            self.skimmed = True
        except (_Another, JsonStreamError):
            return
        finally:
            self._skim = False

    def iter_array(self, path: tuple[str, ...]) -> Iterator[Any]:
        """Each item of the array at `path`; JsonStreamError when the file is not such JSON at all."""
        where = self._where
        try:
            try:
                found = self._find(path)
            except _Incomplete:
                where.stopped = f"the file ends before the {'.'.join(path)!r} array"
                return
            except _Another as other:
                where.stopped = _another(other.name, path)
                return
            if not found:
                raise JsonStreamError(f"no {'.'.join(path)!r} array", self._offset())
            if self._skip_space() == "]":
                self._pos += 1
                self._after(path)
                return
            while True:
                try:
                    item = self._value()
                except _Incomplete:  # the position is still the item's start
                    where.stopped = (f"the file ends inside item {where.items + 1} (which starts at byte {self._offset()}); "
                                     f"read the {where.items} before it")
                    return
                where.items += 1
                yield item
                if self._expect(",]", "',' or ']'") == "]":
                    self._after(path)
                    return
        except _Incomplete:
            where.stopped = f"the file ends after item {where.items}, before the array is closed"
        except JsonStreamError as exc:
            if where.items == 0:
                raise
            where.stopped = f"not JSON after item {where.items}: {exc}"
