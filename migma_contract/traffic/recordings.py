"""Recorded traffic read as observed exchanges: HAR 1.2 files and VCR-style cassettes.

The format is told by the content, never by the file name:

- HAR 1.2 (browsers, mitmproxy, Playwright, Schemathesis `--report har`): JSON, `log.entries`;
- Schemathesis cassettes (`--report vcr`): YAML with an `http_interactions` list;
- vcrpy cassettes: YAML (or JSON) with an `interactions` list.

Files stream: a HAR through `_json_stream.ArrayReader`, a YAML cassette one list item at a
time (each starts with `- ` at the column of the list's first item), so memory holds one exchange, not the
file. Each top-level line of a cassette must be a whole `key: value` on its own, its key resolved as a YAML
reader resolves it (quoted, broken by NEL or LS); a line that is not (an open quote or bracket that YAML
reads on into the next lines), or that can bring in or relabel another line's value (a merge key `<<`, an
anchor, an alias, a tag), a second list, or the other format's list (`interactions` beside
`http_interactions`; in JSON, `log` beside `interactions`), stops the reading there. A file that stops or
ends early yields what it holds, and `Recording.stopped` says where (no green verdict).

What is judged is what the recording's player reads: vcrpy plays a body's `string` (bytes under `!!binary`; an
iterator body, `!!python/object/apply:builtins.iter`, its chunks joined, read as data: `_Iterated`),
Schemathesis writes `string` or `base64_string`; a body holding both, differing, or a vcrpy answer in both
its layouts (`status`/`body`, and the older httpx `status_code`/`content`) differing, is not judged as
either (judged in part, or not at all when the statuses differ). Likewise judged in part: a vcrpy answer header
given as one value (vcrpy's players read it whole or letter by letter), a Schemathesis `string` that is not the
bytes (U+FFFD in it, `text_lossy`, or its `encoding` neither UTF-8 nor a one-byte charset: `_recoded`) and a HAR
`content.text` that is not either (U+FFFD in it, or its UTF-8 length not its `content.size`: `_har_lossy`), a body
the recording says came but does not hold (HAR `bodySize` or `content.size` with no text, `_error` beside a status, an
empty cassette body under a Content-Length; a HAR answer saying none of its body came under a Content-Length above 0,
mitmproxy's upstream that closed early: no-server-error not counted kept, `_har_cut`), and a HAR body the recording neither holds nor says was empty
(`_har_kept_empty`, `_har_said_empty`: no `postData` under a Content-Length, `bodySize` -1; an answer with no text and
no size). Passed unjudged (`_Unjudged`, counted), never the server's break: a status this reader does not read as the
player does (YAML 1.1's `0310`), no answer where the recording does not say the failure was the server's (a browser's
`net::ERR_ABORTED`, `ERR_BLOCKED_BY_CLIENT`, a connection that never completed; Schemathesis' `response: null`), and a
HAR answer its recorder says another made (`_har_answered_by`: the browser's own redirect, a service worker, the
browser's cache, a test's route). A HAR request its recorder rebuilt at export rather than recorded (`_har_rebuilt`:
Insomnia renders it anew from its current definition; `_REBUILT_AT_EXPORT`) is judged as one its parties may read
otherwise: its request rules, credentials and status unjudged, its answer's own rules judged. A recorded time is read in two: the part surely the server's (`elapsed`: a HAR's
`timings.wait`, by a recorder known to time it apart: `_TIMES_EACH_PHASE`, never Insomnia's total) and the whole
(`recorded_time`: a HAR's `time`, with the client's queue, connect, upload and reading; a Schemathesis `elapsed`, requests' `Response.elapsed`, of which no part is the server's alone; vcrpy records none):
responds-in-time blames only the first, and an exchange past the judge's timeout only with the whole is judged in part
(`tally.time_unsure`); the whole keeps it only where it reaches the answer's end (`RecordedTime.to_the_end`: a HAR's
`send`, `wait` and `receive` all given, by a recorder known to time the body; never Playwright's minimal HAR, whose
`time` is `receive` alone, nor Schemathesis' times, which stop at the answer's head). A credential header whose every
value is a recorder's mask (`masks.masked_credential`: `[Filtered]`, `[Authorization redacted]`, `Bearer ***`) has its
credentials hidden in every format (`_unmasked`), a vcrpy cassette's request without `Bearer <key>` whatever the answer
(`_filtered`), and only a vcrpy cassette's bodies are read for a recorder's masks (`_unscrubbed`:
vcrpy's hooks scrub bodies, other recorders do not).

Bodies are judged as the server meant them: one kept in its content coding (vcrpy keeps a
gzipped answer's bytes and its `Content-Encoding: gzip`) is decoded, within
`max_body_bytes` (the wire's one bounded decoder, `wire.coding`), and within a budget for the whole recording (one
whole body and `DECODED_PER_BYTE` per byte of the file: a send past it is passed unjudged, counted; other paths'
bodies are never decoded); one that cannot be (broken, over the bound, a coding the toolkit does not read) is not
judged as a body. An answer marked with a coding
but stored decoded is taken as it is where its recorder stores answers so (HAR's `content.text`, Schemathesis'
`response.content`, vcrpy's aiohttp stub, told by a Content-Length that is not the stored length: `_answer_decoded`);
else a cassette keeps the bytes as sent (vcrpy's other stubs): bytes not in their coding were so on the wire.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import itertools
import json
import math
import re
import stat
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any, NamedTuple

import yaml

from migma_contract.config.options import OPTIONS
from migma_contract.contract.catalogue import NO_SERVER_ERROR
from migma_contract.contract.rules import bearer_key
from migma_contract.core import bounded
from migma_contract.core.exceptions import ConfigError
from migma_contract.core.json_stream import MAX_STRUCTURE, TOO_DEEP, TOO_MANY, ArrayReader, JsonStreamError
from migma_contract.core.redact import secrets_by_shape, sensitive_header
from migma_contract.core.untrusted import clean_text, sound_text, utf8_bytes
from migma_contract.traffic.masks import MASK_SHORT, mask_in_json, masked_credential
from migma_contract.traffic.tally import OTHER, SEND, ObservedExchange, RecordedTime, route_of
from migma_contract.traffic.twins import instant
from migma_contract.wire.coding import Broken, ContentDecoder, Differs, Unknown, codings_of, decode, readable_json

__all__ = ["FORMATS", "Recording", "open_recording"]

HAR, SCHEMATHESIS, VCRPY, VCRPY_JSON = "HAR 1.2", "Schemathesis cassette", "vcrpy cassette", "vcrpy cassette (JSON)"
FORMATS = (HAR, SCHEMATHESIS, VCRPY, VCRPY_JSON)
_SNIFF = 1 << 16
# Browser exports may leave credentials out ("sanitized" HAR): a missing header there is not known to be missing.
# Chrome's and Edge's DevTools name their creator "WebInspector", Safari's "WebKit Web Inspector", Firefox's "Firefox".
_BROWSERS = ("webinspector", "web inspector", "webkit", "firefox", "safari")

class _Loader(bounded.YAML_LOADER):  # type: ignore[misc]  # the one YAML loader, chosen at import
    """The one YAML loader (`core.bounded`: scalars as JSON data, numbers bounded) plus the harmless Python tags
    older vcrpy cassettes carry (strings, tuples), and vcrpy's iterator bodies read as data (`_construct_iterated`).

    vcrpy reads cassettes as YAML 1.1 (`0200` is octal 128 there, `0o310` a string, `+200` 200): an integer the two
    readings disagree on stays its text here, which no field takes as a number (never judged as one reading).
    """

    def construct_json_int(self, node: Any) -> Any:
        text = node.value if isinstance(node.value, str) else ""
        return super().construct_json_int(node) if _AGREED_INT.fullmatch(text) else text


_Loader.add_constructor("tag:yaml.org,2002:int", _Loader.construct_json_int)
_Loader.add_constructor("tag:yaml.org,2002:python/str", lambda loader, node: loader.construct_scalar(node))
_Loader.add_constructor("tag:yaml.org,2002:python/unicode", lambda loader, node: loader.construct_scalar(node))
_Loader.add_constructor("tag:yaml.org,2002:python/tuple", lambda loader, node: tuple(loader.construct_sequence(node)))


class _Iterated(NamedTuple):
    """A request body vcrpy keeps as an iterator (a generator or iterator body, sent chunked: `requests.post(data=gen)`),
    written by its YAML dumper as `!!python/object/apply:builtins.iter` of the list of chunks and the iterator's state:
    the bytes vcrpy plays and sends (`Request.body_bytes`, the chunks joined), or None where the tag holds anything else
    (then the body is not recorded: the request rules are not judged, the answer is)."""

    body: bytes | None


def _construct_iterated(loader: Any, node: Any) -> _Iterated:
    """The chunks of a vcrpy iterator body, read as data (`_Iterated`): the tag is never applied, nothing is called, and
    what it holds is built by this same safe loader (a tag inside it other than those above is an unreadable item)."""
    if isinstance(node, yaml.SequenceNode):  # (`!!python/object/apply:builtins.iter [[...]]`: its arguments alone)
        args, state, rest = loader.construct_sequence(node, deep=True), 0, False
    elif isinstance(node, yaml.MappingNode):
        value = loader.construct_mapping(node, deep=True)
        args, state, rest = value.get("args", ()), value.get("state", 0), bool(set(value) - {"args", "state"})
    else:
        return _Iterated(None)
    if rest or not (isinstance(args, list) and len(args) == 1 and isinstance(args[0], list)) or type(state) is not int \
            or state != 0 or not all(isinstance(chunk, (bytes, str)) for chunk in args[0]):
        return _Iterated(None)  # (a list iterator part-way through: what vcrpy replays and what it sent differ)
    return _Iterated(b"".join(chunk if isinstance(chunk, bytes) else utf8_bytes(chunk) for chunk in args[0]))


_Loader.add_constructor("tag:yaml.org,2002:python/object/apply:builtins.iter", _construct_iterated)


def _sniff(path: Path) -> str:
    try:
        with path.open("rb") as handle:
            head = handle.read(_SNIFF)
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    text = head.decode("utf-8", errors="replace").lstrip("\ufeff \t\r\n")
    if text.startswith("{"):
        log, interactions = text.find('"log"'), text.find('"interactions"')
        if log >= 0 and (interactions < 0 or log < interactions):
            return HAR
        if interactions >= 0:
            return VCRPY_JSON
    else:
        for line in text.splitlines():
            if line.startswith("http_interactions:"):
                return SCHEMATHESIS
            if line.startswith("interactions:"):
                return VCRPY
    kind = "empty" if not text.strip() else "JSON without log.entries or interactions" if text.startswith("{") else "unrecognised content"
    raise ConfigError(f"{path}: not a HAR 1.2 file or a VCR cassette (Schemathesis or vcrpy): {kind}")


_ESCAPED_BYTES = re.compile("[\udc80-\udcff]")  # the bytes surrogateescape kept: not UTF-8
MAX_BODY_BYTES: int = next(o.default for o in OPTIONS if o.name == "max_response_bytes")
# The headers of one recorded request or response, in all (names, values, ": " and CRLF): four times the 16 KiB head a
# server of the toolkit takes (`wire.serve.MAX_HEADER_BYTES`), far above a real exchange's, far below what costs.
MAX_HEAD_BYTES = 64 << 10
# One YAML cassette item is parsed whole, at ~40x its size in memory: past this it is noted and passed over, never kept.
MAX_YAML_ITEM = 8 << 20
_LINE_PIECE = 1 << 20  # characters of one line read at once
# Items passed over are each counted, but only so many are kept word for word (a file of a million broken items
# would otherwise hold a million messages in memory and print them all).
MAX_KEPT_SKIPS = 50
# A recording's bodies kept in a content coding may decode to at most this many bytes per byte of the file, beyond one
# whole body (`max_body_bytes`): a gzipped JSON answer is a few times its stored size (base64 and all), while a small
# file of nested codings would otherwise expand each item to the per-body cap, and every decoded byte is judged.
DECODED_PER_BYTE = 4
LEARN_DECODED = 64 << 10  # of a request body kept in a coding, the bytes decoded for its credentials (as a judge reads)


# what a reader of recordings is told of every recorded request (`Recording.exchanges`): method, URL, headers, body
Learner = Callable[[str, str, list[tuple[str, str]], bytes | None], None]


class _Spent(Exception):
    """The recording's budget of decoded bytes is spent: the item is passed over, counted."""


@dataclass
class Recording:
    """One recorded file: its format, and after reading, how many items it held and where it stopped.

    `max_body_bytes`: how large a body kept in its content coding may grow when decoded.
    """

    path: Path
    format: str
    items: int = 0
    stopped: str | None = None
    max_body_bytes: int = MAX_BODY_BYTES
    skipped: list[str] = field(default_factory=list)  # items left unjudged, and why: the first `MAX_KEPT_SKIPS`
    skipped_more: int = 0  # items left unjudged past those kept word for word: counted only
    notes: list[str] = field(default_factory=list)  # what was read otherwise than written (bytes that are not UTF-8)
    decoded: int = 0  # bytes of bodies undone from their Content-Encoding so far
    learn_decoded: int = 0  # bytes of request bodies decoded for their credentials alone (`_coded_body`)
    decode_budget: int = 0  # how many in all (set when reading starts: `max_body_bytes` and `DECODED_PER_BYTE` per byte)
    _learner: Learner | None = field(default=None, repr=False)  # told every recorded request (`exchanges`)

    def exchanges(self, learn: Learner | None = None) -> Iterator[ObservedExchange]:
        """Every recorded exchange, in order (any path: the judge skips the others), a send's bodies decoded within
        the recording's budget (`decode_budget`): a send whose bodies would pass it is passed over, counted. Each
        carries its time as recorded: the part surely the server's (`elapsed`) and the whole (`recorded_time`); the
        judge, knowing its timeout, decides what they show (`tally.time_unsure`).

        `learn(method, url, headers, body)`: told every recorded request as read, before its item is converted (any
        path, any item, judged, passed over or unreadable as an exchange: `tally.TrafficJudge.learn_now`), so that
        every credential a recording holds is masked wherever an answer or a note echoes it (Pass Y2, F2)."""
        self._learner = learn
        read = self._json() if self.format in (HAR, VCRPY_JSON) else self._yaml()
        try:
            size = self.path.stat().st_size
        except OSError:
            size = 0
        self.decode_budget = self.max_body_bytes + DECODED_PER_BYTE * size
        for exchange in read:
            exchange.framing_shown = _FRAMING[self.format]
            exchange.via_url = True  # its answer may say no endpoint answered (`TrafficJudge.observe`: Pass Z2, F7)
            over = max(_head_size(exchange.request_headers), _head_size(exchange.response_headers))
            if over > MAX_HEAD_BYTES:
                self._skip(f"{exchange.where}: headers of {over:,} bytes, over {MAX_HEAD_BYTES:,} (the cap on "
                           "one recorded request's or response's head); not judged")
                continue
            if route_of(exchange.method, exchange.path, headers=exchange.request_headers) != SEND:
                yield exchange  # not the send (another path, or one that may route there): never judged, never decoded
                continue
            try:
                # what each recorder stores (`_answer_decoded`): HAR's text and Schemathesis' answers decoded, vcrpy's
                # bytes as sent but for its aiohttp stub's (decoded); a request's body is as sent but in a HAR
                decoded = _content_decoded(exchange, self.max_body_bytes, stored_decoded=self.format == HAR,
                                           answer_decoded=_answer_decoded(self.format, exchange), budget=self)
                # only vcrpy's recorder scrubs bodies (its hooks, filter_post_data_parameters): a HAR's or a Schemathesis
                # cassette's body is as sent, a value such as `"status": "filtered"` the server's or the client's own
                yield _unscrubbed(decoded) if self.format in (VCRPY, VCRPY_JSON) else decoded
            except _Spent:
                self._skip(f"{exchange.where}: its bodies, decoded by their Content-Encoding, would pass what the "
                           f"recording may decode in all ({self.decode_budget:,} bytes: {self.max_body_bytes:,} and "
                           f"{DECODED_PER_BYTE} per byte of the file); not judged")

    def spend(self, cap: int) -> int:
        """The cap on the next decoded body: the smaller of `cap` and what is left of the budget (`_Spent`: nothing)."""
        left = self.decode_budget - self.decoded
        if left <= 0:
            raise _Spent
        return min(cap, left)

    # -- JSON: HAR and vcrpy's JSON serializer -----------------------------------------------------------

    def _json(self) -> Iterator[ObservedExchange]:
        har = self.format == HAR
        others = ("interactions", "http_interactions") if har else ("log", "http_interactions")
        name = version = None
        stripped = False
        unknown = False
        if har:  # the recorder, known before any entry is judged wherever `log.creator` stands (Pass Y2, F5)
            name, version, unknown = self._har_creator(others)
            # a recorder that cannot be known (the skim stopped: an entry over the cap) is read the most cautious way
            # for each decision (Pass Z2, F4): a browser's sanitized export may have dropped credentials (`stripped`),
            # its requests may be rebuilt (`_UNKNOWN_RECORDER`), its times are no recorder's known to time the server
            stripped = unknown or any(browser in (name or "").lower() for browser in _BROWSERS)
        with self.path.open("rb") as handle:
            # the other format's list (or a Schemathesis one: a YAML reader reads JSON) beside this one: two lists
            reader = ArrayReader(handle, others=others)
            try:
                for item in reader.iter_array(("log", "entries") if har else ("interactions",)):
                    self.items += 1
                    where = f"{self.path.name} {'entry' if har else 'interaction'} {self.items}"
                    try:
                        if item is TOO_DEEP:
                            raise bounded.Bounded(f"nested deeper than {bounded.MAX_DEPTH} levels, the cap on recorded items")
                        if item is TOO_MANY:
                            raise bounded.Bounded(f"more than {MAX_STRUCTURE:,} brackets and commas in its text, the cap on "
                                                  "recorded items (stepped over, never parsed)")
                        bounded.json_bounds(item, what="recorded items")
                    except bounded.Bounded as exc:
                        self._skip(f"{where}: {exc.message}; not judged")
                        self._learn_raw(reader.item_text())  # never built, yet its credentials are learned (Pass Z2, F1)
                        continue
                    if har:
                        exchange = self._guarded(where, _from_har, item, where, stripped, name, version, unknown)
                    else:
                        exchange = self._guarded(where, _from_vcrpy, item, where)
                    if exchange is not None:
                        if har:  # (one exchange in two files is told by it: `twins`)
                            exchange.started = instant(item.get("startedDateTime"))
                        yield exchange
            except JsonStreamError as exc:
                self._learn_raw(reader.item_text())  # (a first item over the cap: a warning held may quote its key)
                raise ConfigError(f"{self.path}: not a {self.format} file: {clean_text(exc)}") from None
            self.stopped = reader.stopped
            if self.stopped is not None:  # what was read of the item it stopped in (one over the cap): learned (Pass Z2, F1)
                self._learn_raw(reader.item_text())
            if reader.invalid_utf8 is not None:
                self.notes.append(f"{self.path.name}: not valid UTF-8 (first at byte {reader.invalid_utf8:,}): "
                                  "each invalid byte was read as U+FFFD")

    def _har_creator(self, others: tuple[str, ...]) -> tuple[str | None, str | None, bool]:
        """A HAR's `log.creator` name and version as a JSON reader sees them, wherever the member stands: a first pass
        steps over the entries (none built, each held to the item cap) and reads on after them, so that no verdict
        depends on the members' order (a creator written after the entries is the same HAR to every other reader)."""
        with self.path.open("rb") as handle:
            reader = ArrayReader(handle, keep=("creator",), others=others)
            reader.skim(("log", "entries"))
        if not reader.skimmed:  # `log` not read to its end: a creator after where it stopped would be the one kept
            return None, None, True
        creator = reader.kept.get("creator")
        if not isinstance(creator, dict):
            return None, None, False
        return _text(creator.get("name")), _text(creator.get("version")), False

    # -- YAML cassettes ----------------------------------------------------------------------------------

    def _yaml(self) -> Iterator[ObservedExchange]:
        key, other = ("http_interactions", "interactions") if self.format == SCHEMATHESIS else ("interactions", "http_interactions")
        convert = _from_schemathesis if self.format == SCHEMATHESIS else _from_vcrpy
        # Bytes that are not UTF-8 are read as U+FFFD (and noted): the YAML parser reads Unicode text only.
        with self.path.open("r", encoding="utf-8", errors="surrogateescape", newline="") as handle:
            chunk: list[str] = []
            start = size = 0
            inside = listed = False  # in the list; the list's key seen
            keys = 0  # top-level lines read
            item = ""  # how an item's line starts ("- ", or indented: "  - "), told by the list's first item
            invalid = number = 0
            at_start = True
            passed = ""  # the last line of an item over the cap scanned for credentials (`_learn_raw`)
            # A line is read in pieces: one huge line is held to the item cap like many lines, never read whole.
            for piece in _lines(handle):
                first, at_start = at_start, piece.endswith(_LINE_ENDS)
                number += first
                line = piece
                if number == 1 and first:
                    line = line.removeprefix("\ufeff")  # a byte order mark: YAML readers skip it
                if not line.isascii() and _ESCAPED_BYTES.search(line):
                    invalid = invalid or number
                    line = _ESCAPED_BYTES.sub("\ufffd", line)
                dash = first and (line.startswith("- ") or line.rstrip(_BREAKS) == "-")
                if first and not dash and line[:1] not in (" ", "\t", "#", *_LINE_ENDS, ""):  # a top-level key
                    if not keys and _PREAMBLE.match(line):
                        continue  # the document's start (`---`, `%YAML 1.1`) before its first key
                    keys += 1
                    found = _top_key(line)
                    if isinstance(found, _Unreadable):
                        self.stopped = (f"line {number}: {found.why}; YAML readers may see this cassette otherwise than "
                                        "this reader: judged what came before")
                        break
                    name, rest = found
                    if name == other:  # vcrpy plays `interactions`, Schemathesis `http_interactions`: two lists
                        self.stopped = (f"line {number}: a {other!r} list beside the {key!r} one (another cassette "
                                        "format's): the file holds two lists, and which one plays depends on the player; "
                                        "judged what came before")
                        break
                    if name == key and listed:
                        self.stopped = (f"line {number}: a second {key!r} (YAML readers keep the last one); "
                                        "the first, judged, may not be what the cassette plays")
                        break
                    if inside:  # the next top-level key: the list is over
                        if chunk and (parsed := self._parse(chunk, start, last=False)) is not None:
                            yield from self._convert(convert, parsed, start)
                        chunk, inside, start = [], False, 0
                    elif name == key:
                        if rest not in ("", "[]") and not rest.startswith("#"):
                            self.stopped = f"line {number}: {key}: is not a block list"
                            return
                        inside = listed = True
                    continue
                if not inside:
                    continue  # another key's value (a list at the first column too)
                if first and not item:  # the list's first item tells how each starts: at the first column, or indented
                    bare = line.lstrip(" ")
                    if bare.startswith("- ") or bare.rstrip(_BREAKS) == "-":
                        item = line[:len(line) - len(bare)] + "- "
                if first and item and (line.startswith(item) or line.rstrip(_BREAKS) == item.rstrip()):
                    if chunk and (parsed := self._parse(chunk, start, last=False)) is not None:
                        yield from self._convert(convert, parsed, start)
                    chunk, start, size = [], number, 0
                if start and size > MAX_YAML_ITEM:  # the rest of an item over the cap: scanned line by line, with the one before
                    self._learn_raw(passed + line)
                    passed = line
                if not start or size > MAX_YAML_ITEM:
                    continue  # before the first item, or an item over the cap: passed over, not kept (noted once, below)
                chunk.append(line)
                size += len(line)
                if size > MAX_YAML_ITEM:
                    self._learn_raw("".join(chunk))  # never parsed, yet its credentials are learned (Pass Z2, F1)
                    self.items += 1
                    self._skip(f"{self.path.name} interaction {self.items} (line {start}): over "
                               f"{MAX_YAML_ITEM:,} characters, the cap on one recorded item; not judged")
                    chunk = []
            else:
                if chunk and (parsed := self._parse(chunk, start, last=True)) is not None:
                    yield from self._convert(convert, parsed, start)
                chunk = []
            if chunk and (parsed := self._parse(chunk, start, last=False)) is not None:
                yield from self._convert(convert, parsed, start)
        if invalid:
            self.notes.append(f"{self.path.name}: not valid UTF-8 (first on line {invalid:,}): each invalid byte was read as U+FFFD")

    def _parse(self, chunk: list[str], line: int, *, last: bool) -> Any:
        """The list item starting at `line`; None when it cannot be read: the last one sets `stopped` (the file ends
        inside it), another is noted in `skipped` and the items after it are still read."""
        number = self.items + 1
        try:
            parsed = bounded.load_yaml("".join(chunk), loader=_Loader, what="recorded items")
            item = parsed[0] if isinstance(parsed, list) and len(parsed) == 1 else None
        except bounded.Malformed as exc:
            item, problem = None, exc.message.removeprefix("not valid YAML: ")
            self._learn_raw("".join(chunk))  # unreadable, yet its credentials are learned (Pass Z2, F1)
        except bounded.Bounded as exc:  # a hostile file (an alias bomb): refused whole, before anything expands
            self._learn_raw("".join(chunk))
            at = line + (exc.line or 1) - 1
            raise ConfigError(f"{clean_text(self.path)}: interaction {number} (line {at}): {exc.message}") from None
        else:
            problem = "not a mapping"
        if isinstance(item, dict) and (not last or _complete(item, self.format)):
            return item
        if last and problem != "not a mapping":  # YAML that does not read: a file cut short, or an item written unreadable
            self.stopped = (f"interaction {number} (line {line}), the last, cannot be read ({clean_text(problem)[:120]}: "
                            f"the file ends inside it, or it was written so); judged the {self.items} before it")
        elif last:
            self.stopped = f"the file ends inside interaction {number} (line {line}); judged the {self.items} before it"
        else:
            self.items += 1
            self._skip(f"{self.path.name} interaction {number} (line {line}) cannot be read "
                       f"({clean_text(problem)[:120]}); not judged")
        return None

    def _convert(self, convert: Any, item: dict[str, Any], line: int) -> Iterator[ObservedExchange]:
        self.items += 1
        where = f"{self.path.name} interaction {self.items} (line {line})"
        exchange = self._guarded(where, convert, item, where)
        if exchange is not None:
            yield exchange

    def _skip(self, why: str) -> None:
        """One item left unjudged: kept word for word up to `MAX_KEPT_SKIPS`, past them counted."""
        if len(self.skipped) < MAX_KEPT_SKIPS:
            self.skipped.append(why)
        else:
            self.skipped_more += 1

    def _learn_raw(self, text: str) -> None:
        """The credentials of an item that is never built (over a bound, unreadable), learned from its text as written
        (`raw_credentials`: a linear scan of at most `MAX_RAW_SCAN` characters), so that an answer or a note
        echoing them elsewhere is masked as any recorded request's are (Pass Z2, F1)."""
        if self._learner is None or not text:
            return
        for header in raw_credentials(text[:MAX_RAW_SCAN]):
            self._learner("", "", [header], None)
        self._learn_raw_bodies(text[:MAX_RAW_SCAN])

    def _learn_raw_bodies(self, text: str) -> None:
        """The request bodies an item that is never built keeps in base64 (a HAR's `"encoding": "base64"` text, a vcrpy
        `!!binary`, a Schemathesis `base64_string`), decoded, and then from gzip or deflate when they hold one, as their
        server read them (Pass Q2, F2): each of the first `MAX_RAW_BODIES` found in the request's section, its first
        `LEARN_DECODED` bytes, within what the recording may decode for learning (`decode_budget`)."""
        section = _request_first(text)[0]
        for m in itertools.islice(_RAW_BASE64.finditer(section), MAX_RAW_BODIES):
            left = min(LEARN_DECODED, self.decode_budget - self.learn_decoded)
            letters = _NOT_BASE64.sub("", m.group(1).replace("\\n", ""))[:(left // 3) * 4]
            letters = letters[:len(letters) - len(letters) % 4]
            if len(letters) < 16:
                continue
            try:
                body = base64.b64decode(letters)
            except (binascii.Error, ValueError):
                continue
            self.learn_decoded += len(body)
            assert self._learner is not None
            self._learner("", "", [], body)
            coding = "gzip" if body.startswith(b"\x1f\x8b") else "deflate" if body[:1] == b"\x78" else ""
            if coding and (decoded := self._coded_body([("Content-Encoding", coding)], body)) is not None:
                self._learner("", "", [], decoded)

    def _coded_body(self, headers: list[tuple[str, str]], body: bytes | None) -> bytes | None:
        """A request body kept in its Content-Encoding, decoded as its server read it for its credentials to be learned
        (any path: only a send's is decoded to be judged, Pass Z2, F2): its first `LEARN_DECODED` bytes, within what
        the recording may decode in all for learning (`decode_budget` again); None when it holds no coding or does
        not decode."""
        coding = ", ".join(value for name, value in headers if name.lower() == "content-encoding")
        if not body or not coding:
            return None
        left = self.decode_budget - self.learn_decoded
        try:
            codings = codings_of([coding])
            if not codings or left <= 0:
                return None
            decoder = ContentDecoder(codings, min(LEARN_DECODED, left))
            decoded = decoder.feed(body)
        except (Broken, Differs, Unknown, ValueError):
            return None
        self.learn_decoded += len(decoded)
        return decoded or None

    def _guarded(self, where: str, convert: Any, *args: Any) -> ObservedExchange | None:
        """One item as an exchange; one that cannot be (a shape no converter foresaw) is noted, never the end of the file.
        Its request's credentials are learned first, whatever becomes of it (`exchanges`)."""
        if self._learner is not None:
            request = _request_of(args[0], self.format)
            if request is not None:
                self._learner(*request)
                if (body := self._coded_body(request[2], request[3])) is not None:
                    self._learner(request[0], request[1], [], body)
        try:
            exchange: ObservedExchange | None = convert(*args)
            return exchange
        except _TwoReadings as exc:  # two layouts of the item disagree: no one reading of it is what its player plays
            self._skip(f"{where}: {exc}; which one plays depends on the player: not judged")
            return None
        except _Unjudged as exc:  # its player reads it otherwise, or its failure is not known to be the server's
            sent = exc.sent
            if sent is not None and route_of(sent.method, sent.path, headers=sent.request_headers) == OTHER:
                return sent  # another path: counted as such, whatever its answer (the judge skips it)
            self._skip(f"{where}: {exc}; not judged")
            return None
        except Exception as exc:  # one bad entry never aborts the others
            self._skip(f"{where}: could not be read ({type(exc).__name__}); not judged, please report it")
            return None


MAX_RAW_SCAN = 32 << 20  # characters of an item that is never built scanned for credentials (the item cap: all of it)
MAX_RAW_FOUND = 64  # credentials of each kind learned from one such item (`raw_credentials`)
# `Bearer <token>` (or `Token`, `Basic`) anywhere; a HAR header or cookie (`"name": N, "value": V`); a header as a
# cassette writes it (`N: [V]`, `N:` then `- V`, JSON's `"N": ["V"]`)
_RAW_SCHEMED = re.compile(r"(?i)\b(?:bearer|token|basic)[ \t]+([A-Za-z0-9._~+/=\-]{8,1024})")
_RAW_PAIR = re.compile(r'"name"[ \t\r\n]*:[ \t\r\n]*"([^"\\\r\n]{1,128})"[ \t\r\n]*,[ \t\r\n]*"value"[ \t\r\n]*:[ \t\r\n]*"([^"\\\r\n]{4,4096})"')
_RAW_FIELD = re.compile(r'(?m)^[ \t]*"?([A-Za-z][\w-]{0,127})"?[ \t]*:[ \t]*(?:\[[ \t]*|\r?\n[ \t]*-[ \t]+|\r?\n[ \t]*\[[ \t\r\n]*)?["\']?([^"\'\]\r\n,]{4,4096})')


# A request body kept in base64 where recorders write one: a vcrpy `!!binary` (`|` and indented lines, or quoted), a
# Schemathesis `base64_string`, a HAR's `"text"` (whatever its encoding: text that is no base64 does not decode)
_RAW_BASE64 = re.compile(r'(?:!!binary[ \t]*[|>]?[-+]?[ \t]*(?:\r?\n[ \t]*)?|base64_string[ \t]*:[ \t]*|"text"[ \t]*:[ \t]*)'
                         r'["\']?((?:[A-Za-z0-9+/=]|\\n|\r?\n[ \t]+){16,262144})')
_NOT_BASE64 = re.compile(r"[^A-Za-z0-9+/=]")
MAX_RAW_BODIES = 8  # base64 bodies decoded from one item never built

# Where an item's request and answer begin as HAR (JSON) and vcrpy/Schemathesis cassettes (YAML) write them.
_RAW_REQUEST = re.compile(r'(?m)"request"[ \t\r\n]*:|^[ \t-]*request[ \t]*:')
_RAW_RESPONSE = re.compile(r'(?m)"response"[ \t\r\n]*:|^[ \t-]*response[ \t]*:')


def _request_first(text: str) -> tuple[str, ...]:
    """An item's text as the request's section (as far as it can be found: from `request` to its `response`, or to the
    end when the answer comes first) and the rest, in that order; the whole text alone when no section is found."""
    begins = _RAW_REQUEST.search(text)
    if begins is None:
        return (text,)
    ends = _RAW_RESPONSE.search(text, begins.end())
    end = ends.start() if ends is not None else len(text)
    if begins.start() == 0 and end == len(text):
        return (text,)
    return text[begins.start():end], text[:begins.start()] + "\n" + text[end:]


def raw_credentials(text: str) -> list[tuple[str, str]]:
    """The credentials an item's text holds where a recorder writes them, as headers to learn: `Bearer` tokens,
    credential-named headers and cookies, credential-named query, form and JSON values (`secrets_by_shape`). The request's
    section is read first, and each kind has its own quota (`MAX_RAW_FOUND`): an answer's prose ("basic functionality",
    "token expiration") or its Set-Cookie pairs cannot crowd out the request's own fields (Pass Q2, F1). Each pattern
    scans each text once (bounded repeats, no nesting: linear)."""
    schemed: dict[tuple[str, str], None] = {}
    fields: dict[tuple[str, str], None] = {}
    shaped: dict[tuple[str, str], None] = {}
    for chunk in _request_first(text):
        for m in _RAW_SCHEMED.finditer(chunk):
            if len(schemed) >= MAX_RAW_FOUND:
                break
            schemed[("Authorization", "Bearer " + m.group(1))] = None
        for pattern in (_RAW_PAIR, _RAW_FIELD):
            for m in pattern.finditer(chunk):
                if len(fields) >= MAX_RAW_FOUND:
                    break
                name, value = m.group(1), m.group(2).strip()
                # by name only (a value's look would take a URL or a User-Agent for one): a credential header, or a
                # cookie named as a session's
                if sensitive_header(name):  # as its header is read (a Cookie's pairs, Authorization's credential)
                    fields[(name, value)] = None
                elif name.lower().endswith(("sid", "sess", "session")):
                    fields[(_RAW_HEADER, value)] = None
        for value in secrets_by_shape(chunk):
            if len(shaped) >= MAX_RAW_FOUND:
                break
            shaped[(_RAW_HEADER, value)] = None
    return list(dict.fromkeys([*fields, *shaped, *schemed]))


_RAW_HEADER = "X-Api-Key"  # the header a value found by `raw_credentials` is learned under: its whole value a credential


def _request_of(item: Any, fmt: str) -> tuple[str, str, list[tuple[str, str]], bytes | None] | None:
    """A recorded item's request as its credentials are read (method, URL, headers, body as stored: a HAR's base64 text
    undone, a Content-Encoding not: `Recording._coded_body`; nothing judged), whatever the item holds besides; None for an item with no request mapping."""
    request = item.get("request") if isinstance(item, dict) else None
    if not isinstance(request, dict):
        return None
    body: bytes | None = None
    if fmt == HAR:
        headers = _pairs(request.get("headers"), joined=True)
        cookies = request.get("cookies")
        if isinstance(cookies, list):  # (HAR lists the cookies apart too: learned as a Cookie header is)
            pairs = [(_text(c.get("name")), _text(c.get("value"))) for c in cookies if isinstance(c, dict)]
            if shown := "; ".join(f"{name}={value}" for name, value in pairs if name and value is not None):
                headers.append(("Cookie", shown))
        post = request.get("postData")
        if isinstance(post, dict):
            text = post.get("text")
            # as the converter reads it (`_decoded`: base64 undone, Pass Z2, F2); as written where it does not read
            body = _decoded(text, post.get("encoding")) if isinstance(text, str) else None
            if body is None and isinstance(text, str):
                body = utf8_bytes(text)
            params = post.get("params")
            if body is None and isinstance(params, list):  # a form's fields, listed apart
                body = utf8_bytes("&".join(f"{_text(p.get('name')) or ''}={_text(p.get('value')) or ''}"
                                           for p in params if isinstance(p, dict)))
        url = _field(request.get("url"))
    else:
        headers = _pairs(request.get("headers"))
        try:
            body = _cassette_body(request.get("body"))
        except Exception:  # two readings of it, or text that is not its bytes: each reading's credentials
            raw = request.get("body")
            parts = [raw.get(k) for k in ("string", "base64_string")] if isinstance(raw, dict) else []
            body = utf8_bytes(" ".join(part for part in parts if isinstance(part, str))) or None
        url = _field(request.get("uri"))
    return _field(request.get("method")), url, headers, body


# YAML's line breaks: a reader splits lines at NEL, LS and PS too (YAML 1.1), where Python's readline does not.
_LINE_ENDS = ("\n", "\r", "\x85", "\u2028", "\u2029")
_BREAKS = "".join(_LINE_ENDS)
_OTHER_BREAKS = re.compile("(?<=[\x85\u2028\u2029])")
_PREAMBLE = re.compile("(?:---|%[A-Z]+[ \t][^\r\n]*)[ \t]*[\r\n\x85\u2028\u2029]*\\Z")  # `---`, `%YAML 1.1`
_TOP_LINE = 4096  # characters of a top-level line read to find its key: a cassette's are `version: 1`


def _lines(handle: Any) -> Iterator[str]:
    """The file in lines as a YAML reader breaks them, each in pieces of at most `_LINE_PIECE` characters."""
    for piece in iter(partial(handle.readline, _LINE_PIECE), ""):
        if "\x85" in piece or "\u2028" in piece or "\u2029" in piece:
            yield from (part for part in _OTHER_BREAKS.split(piece) if part)
        else:
            yield piece


@dataclass(frozen=True)
class _Unreadable:
    why: str


def _top_key(line: str) -> tuple[str, str] | _Unreadable:
    """The key a top-level line of a cassette names, as a YAML reader resolves it (`"interactions" :` is
    `interactions`), and what follows its colon; `_Unreadable` for a line that is not a whole `key: value` on its own
    (an open quote or flow collection: a YAML reader reads on into the next lines, as text this reader would take for
    keys and items) or that can bring in or relabel what another line holds (a `?` key, a merge key `<<`, an anchor,
    an alias, a tag), or a document marker."""
    text = line.rstrip(_BREAKS)
    if text.startswith(("---", "...", "%")):
        return _Unreadable("a YAML document marker or directive after the first line")
    if len(text) > _TOP_LINE or text.startswith("?"):
        return _Unreadable("a top-level key this reader cannot resolve")
    try:
        events = list(yaml.parse(text, Loader=bounded.SAFE_LOADER))  # the line alone, to the stream's end
    except yaml.YAMLError:
        return _Unreadable("a top-level line that is not a whole `key: value` on its own (an open quote or bracket "
                           "goes on into the next lines for YAML readers)")
    if any(isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None
           or getattr(event, "tag", None) is not None for event in events):
        return _Unreadable("an anchor, an alias or a tag on a top-level line (it can bring in or relabel another "
                           "line's value)")
    if (len(events) > 4 and isinstance(events[2], yaml.MappingStartEvent) and not events[2].flow_style
            and isinstance(events[3], yaml.ScalarEvent) and events[3].end_mark is not None):
        if events[3].value == "<<":
            return _Unreadable("a top-level merge key `<<` (it brings another mapping's keys in)")
        rest = text[events[3].end_mark.index:].lstrip(" \t")
        if rest.startswith(":"):
            return events[3].value, rest[1:].strip(" \t")
    return _Unreadable("a top-level line that is not a plain `key: value` this reader can follow")


def _complete(item: dict[str, Any], fmt: str) -> bool:
    """Whether the last item of a YAML cassette was written in full (the writers' last fields are there)."""
    response = item.get("response", ...)
    if fmt == SCHEMATHESIS:
        return response is None or (isinstance(response, dict) and "http_version" in response)
    return isinstance(response, dict) and ("status" in response or "status_code" in response) and isinstance(item.get("request"), dict)


def open_recording(path: str | Path) -> Recording:
    """The recording at `path`, its format told by its content; ConfigError for anything else."""
    path = Path(path)
    try:
        kind = path.stat().st_mode
    except FileNotFoundError:
        raise ConfigError(f"{clean_text(path)}: no such file") from None
    except OSError as exc:  # a name too long, a loop of links, a directory without permission
        raise ConfigError(f"{clean_text(path)}: cannot read: {exc.strerror or type(exc).__name__}") from None
    if stat.S_ISDIR(kind):
        raise ConfigError(f"{clean_text(path)}: is a directory; give the recorded files")
    if not stat.S_ISREG(kind):  # a FIFO or a device: opening it would wait for a writer, or forever
        raise ConfigError(f"{clean_text(path)}: is not a regular file; give the recorded files")
    return Recording(path, _sniff(path))


# --- one recorded item as an observed exchange ------------------------------------------------------------


def _head_size(headers: list[tuple[str, str]]) -> int:
    """The size of a head as a server reads it (characters: what a value's bytes were is not known any more)."""
    return sum(len(name) + len(value) + 4 for name, value in headers)


def _text(value: Any) -> str | None:
    """A scalar of the file as sound text (lone surrogates as U+FFFD); None for a list or a mapping where a text
    belongs: never stringified whole (nine thousand aliases of one long string are gigabytes once written out)."""
    if isinstance(value, str):
        return sound_text(value)
    if value is None:
        return ""
    if isinstance(value, (bool, int, float)):
        return str(value) if not isinstance(value, int) or abs(value) < 10 ** 30 else None
    return None


def _field(value: Any) -> str:
    """A text field of an exchange (method, URL, error): "" when the file holds no text there."""
    return _text(value) or ""


def _pairs(headers: Any, *, joined: bool = False) -> list[tuple[str, str]]:
    """Headers as (name, value) pairs, from HAR's list of objects or a cassette's name -> [values] map.

    Only text values: a list or a mapping where a header value belongs is not a header (it is left out).
    `joined`: the recorder may write a repeated field as one value, its lines joined with "\n" (a HAR: the Chrome
    DevTools protocol's `Headers` object, which chrome-har and puppeteer's HAR writers copy): each line is a field
    line of its own, as a HAR listing them apart writes them, so one answer gets one verdict (Pass Y2, F6). No field
    line holds a line feed on the wire (RFC 9110 §5.5), so none is split that was one.
    """
    found: list[tuple[str | None, Any]] = []
    if isinstance(headers, list):
        found = [(_text(h.get("name")), h.get("value")) for h in headers if isinstance(h, dict)]
    elif isinstance(headers, dict):
        found = [(_text(name), value) for name, values in headers.items()
                 for value in (values if isinstance(values, list) else [values])]
    pairs: list[tuple[str, str]] = []
    for name, raw in found:
        value = _text(raw)
        if name and value is not None:
            if joined and "\n" in value:
                pairs.extend((name, line.removesuffix("\r")) for line in value.split("\n"))
            else:
                pairs.append((name, value))
    return pairs


# The headers the auth rules read (`catalogue.judge_credentials`: the `Authorization` header alone; the replay scope,
# `rules.Replay`, reads it too): a recorder's mask there hides the credentials.
_CREDENTIAL_HEADERS = frozenset({"authorization"})


def _unmasked(headers: list[tuple[str, str]], stripped: bool) -> tuple[list[tuple[str, str]], bool]:
    """The headers without a recorder's masks where a real credential stands beside them, and whether the
    credentials are hidden (every value of a credential header masked, `masks.masked_credential`: Schemathesis'
    `[Filtered]` or its configured replacement, a sanitizer's `[Authorization redacted]`, `Bearer [REDACTED]`; or
    none there in a recording that may strip it). Hidden credentials leave the auth rules unjudged, blaming no one.

    Judged per value: a `[Filtered]` beside a real `Bearer <key>` hides nothing (the key is judged and redacted).
    """
    values = [v for k, v in headers if k.lower() in _CREDENTIAL_HEADERS]
    if not values:
        return headers, stripped
    if all(masked_credential(v) for v in values):
        return headers, True
    if any(masked_credential(v) for v in values):
        headers = [(k, v) for k, v in headers if not (k.lower() in _CREDENTIAL_HEADERS and masked_credential(v))]
    return headers, False


def _decoded(text: Any, encoding: Any) -> bytes | None:
    if isinstance(text, bytes):
        return text
    if not isinstance(text, str):
        return None
    named = _text(encoding) or ""
    if named == "base64":  # strictly, as every player reads it: URL-safe characters or an `=` inside split the readings
        try:
            return base64.b64decode(_BASE64_SPACE.sub("", text), validate=True)
        except (binascii.Error, ValueError):
            return None
    if named:  # `BASE64`, `gzip`...: Playwright replays the text as it stands, others decode it: not read
        return None
    return utf8_bytes(text)


_BASE64_SPACE = re.compile(r"[ \t\r\n]+")


_AGREED_INT = re.compile(r"-?(?:0|[1-9][0-9]*)|0x[0-9a-fA-F]+")  # integers YAML 1.1 and 1.2 read alike


def _number(value: Any) -> int | None:
    text = _text(value) if not isinstance(value, bool) else None
    if text is None or len(text) > 20 or not _AGREED_INT.fullmatch(text.strip()) or text.strip().startswith("0x"):
        return None
    try:
        number = int(text.strip())
    except (TypeError, ValueError):
        return None
    return number if number > 0 else None


def _seconds(value: Any, scale: float = 1.0) -> float | None:
    """A recorded duration in seconds; None for none, a negative one (HAR's -1: not available) or one that is no
    finite number (`1e400`, `.inf`, NaN: no time, and no report can carry it as JSON)."""
    try:
        number = float(value) * scale
    except (TypeError, ValueError, OverflowError):
        return None
    return number if number >= 0 and math.isfinite(number) else None


def _looks_compressed(raw: bytes) -> bool:
    """Whether bytes start as a gzip member or a zlib stream do (a JSON text never does)."""
    return raw[:2] == b"\x1f\x8b" or (len(raw) > 1 and raw[0] & 0x0F == 8 and ((raw[0] << 8) | raw[1]) % 31 == 0)


def decoded_body(raw: bytes, coding: str | None, cap: int, *, stored_decoded: bool = True,
                 budget: Recording | None = None, decoded_already: bool = False) -> bytes | None:
    """A recorded body as the server meant it: decoded by its `Content-Encoding` within `cap` bytes; None when it
    cannot be (broken, over the cap, or a coding not read here that was not stored decoded). `Differs` when it is
    kept in a coding common clients read differently (`wire.coding`: what its reader got does not show).

    `stored_decoded`: the format may store a body decoded under its original header (HAR's `content.text`), so
    UTF-8 text that is no compressed stream is taken as it is; a cassette keeps the bytes as sent (vcrpy), so bytes
    not in their coding are not read (their player fails on them, or an older layout stored them decoded).
    `budget`: the recording whose budget of decoded bytes the body is decoded within (`Recording.spend`).
    `decoded_already`: its recorder is known to store it decoded (Schemathesis' `response.content`, which its CLI's
    requests decoded): never decoded again, and a body that is no JSON text may still be coded, so it is not read
    (pass Z3, F4: a body gzipped twice under one label, read through a second layer, passed)."""
    codings = codings_of([coding or ""])
    if not codings or not raw:
        return raw
    if decoded_already:
        return raw if not _looks_compressed(raw) and readable_json(raw) else None
    if stored_decoded and not _looks_compressed(raw):
        try:
            raw.decode("utf-8")  # most recorders store the decoded text under the original header
        except UnicodeDecodeError:
            pass
        else:
            return raw
    allowed = cap if budget is None else budget.spend(cap)
    try:
        body = decode(raw, codings, allowed)
    except Unknown:  # br, zstd: not undone
        return None
    except Broken:  # bytes that are not what the coding says
        if budget is not None:  # (how much was undone before the break does not show: counted as all it may have been)
            budget.decoded += allowed
        return None
    if budget is not None:
        budget.decoded += allowed if body is None else len(body)
        if body is None and allowed < cap:  # over what is left, not over the per-body cap: the budget is spent
            raise _Spent
    return body


def _content_decoded(exchange: ObservedExchange, cap: int, *, stored_decoded: bool = True,
                     answer_decoded: bool | None = None, budget: Recording | None = None) -> ObservedExchange:
    """`stored_decoded`: whether the recording may store a body decoded under its coding's header (`decoded_body`);
    `answer_decoded`: the same for the answer alone, where it differs (None: `stored_decoded`)."""
    known = answer_decoded is True  # its recorder says it stored the answer decoded: never decoded again (pass Z3, F4)
    answer_decoded = stored_decoded if answer_decoded is None else answer_decoded
    if exchange.response_body:
        try:
            body = decoded_body(exchange.response_body, exchange.header("content-encoding", response=True), cap,
                                stored_decoded=answer_decoded, budget=budget, decoded_already=known)
            unread = ("its recorded answer, stored decoded under its Content-Encoding, is not readable JSON: it may still "
                      "be coded, so its body was not read" if known else
                      "its recorded answer could not be decoded by its Content-Encoding within the bound" if answer_decoded
                      else "its recorded answer could not be decoded by its Content-Encoding within the bound (a "
                      "cassette keeps the bytes as sent: ones not in their coding were so on the wire, or an older "
                      "layout stored them decoded)")
        except Differs as exc:
            body, unread = None, f"its recorded answer's Content-Encoding is {exc}: what the client read does not show"
        if body is None:  # not judged as a body: only what the status and the timing say
            exchange.response_size = exchange.response_size or len(exchange.response_body)
            exchange.unread = exchange.unread or unread
        exchange.response_body = body
    if exchange.request_body:
        try:
            exchange.request_body = decoded_body(exchange.request_body, exchange.header("content-encoding"), cap,
                                                 stored_decoded=stored_decoded, budget=budget)
        except Differs as exc:  # what the server read does not show: the request rules are not judged
            exchange.request_body = None
            exchange.unread = exchange.unread or f"its recorded request's Content-Encoding is {exc}: what the server read does not show"
    return exchange


def _from_har(entry: Any, where: str, stripped: bool, recorder: str | None = None,
              version: str | None = None, unknown: bool = False) -> ObservedExchange | None:
    """`unknown`: the recorder cannot be known (`Recording._har_creator`): its requests read as possibly rebuilt."""
    if not isinstance(entry, dict) or not isinstance(entry.get("request"), dict):
        return None
    request: dict[str, Any] = entry["request"]
    response: dict[str, Any] = entry["response"] if isinstance(entry.get("response"), dict) else {}
    headers, hidden = _unmasked(_pairs(request.get("headers"), joined=True), stripped)
    post = request.get("postData")
    sent_unread = None
    if isinstance(post, dict) and "text" in post and not _side_file(post):
        body = _decoded(post.get("text"), post.get("encoding"))
        why = None
        if body and not _text(post.get("encoding")):
            text, size = post.get("text"), _number(request.get("bodySize"))
            bare = _bare_base64(text, size, headers)
            if bare is not None:  # Schemathesis' `--report-preserve-bytes`: the bytes in base64, no `encoding` said
                body = bare
            else:
                if size is not None and isinstance(text, str) and size == len(text.encode("utf-16-le", "surrogatepass")) // 2:
                    size = None  # the text's length as JavaScript counts it (`text.length`): it says nothing of the bytes
                why = _har_lossy(text, body, size, headers, what="`bodySize`")
        if why is not None:  # a body that was not UTF-8, stored decoded: its bytes, what the server read, do not show
            body, sent_unread = None, f"its recorded request has {why}; the request rules were not judged"
    elif post is None:
        body = b""  # no postData: nothing was sent, unless its size or its head says bytes were (below)
    else:
        body = None  # form params or a body the recorder left out (or kept in a side file: Playwright's `_file`)
    if body == b"":
        kept = _har_kept_empty(request.get("bodySize"), headers)
        if kept is not None:  # the recorder did not keep the body: not judged as an empty one
            body, sent_unread = None, f"its recorded request holds no body, {kept}: the request rules were not judged"
    sent = ObservedExchange(method=_field(request.get("method")), url=_field(request.get("url")), request_headers=headers,
                            request_body=body, status=None, where=where, credentials_hidden=hidden, unread=sent_unread)
    maker = _har_answered_by(entry, response)
    if maker is not None:  # the browser, a service worker or the test answered: never judged as the server's answer
        raise _Unjudged(f"its answer is not the server's: {maker}", sent)
    status = _har_status(response.get("status"), sent)
    # Chrome writes `_error` (net::ERR_...), Playwright `_failureText`: why the answer did not come (in full)
    failure = _field(response.get("_error")) or _field(response.get("_failureText"))
    servers = _servers_failure(failure) and not _connect_only(entry.get("timings"))
    if status is None and not servers:
        raise _Unjudged("no answer recorded, " + (
            f"and its recorder's error ({_shown(failure)}) is no failure of the server's (a request the client "
            "cancelled, blocked or never sent, a name not resolved, no network, a connection refused or never made)" if failure else
            "and no error saying why (a request the client cancelled or never sent leaves none either)"), sent)
    content: dict[str, Any] = response["content"] if isinstance(response.get("content"), dict) else {}
    size = _number(content.get("size"))
    response_headers = _pairs(response.get("headers"), joined=True)
    unread = None
    if _side_file(content):  # Playwright replays the side file it names, not `text`: what was played is not here
        answer = None
    elif "text" in content:
        answer = _decoded(content.get("text"), content.get("encoding"))
        if answer == b"" and (size or _number(response.get("bodySize")) or _length(response_headers)):
            answer = None  # an empty text where bytes came (its size, or its Content-Length): not judged as empty
    else:  # no text: an empty body where the recording says none came (a size or a Content-Length of 0), else not kept
        answer = b"" if _har_said_empty(content.get("size"), response.get("bodySize"), response_headers) else None
    if answer and "text" in content and not _text(content.get("encoding")):
        why = _har_lossy(content.get("text"), answer, size, response_headers)
        if why is not None:
            answer, unread = None, f"its recorded answer has {why}; not judged as a body"
    if status is not None and failure and not servers:  # the head came, then the client stopped reading (ERR_ABORTED)
        answer, unread = None, (f"its recorder says its answer was not read in full ({_shown(failure)}, not the "
                                "server's failure): the answer's body was not judged")
    error = failure if servers else None  # (beside a status: "status 200, then no complete response")
    elapsed, whole = _har_time(entry, recorder)
    rebuilt = _UNKNOWN_RECORDER if unknown else _har_rebuilt(recorder, version)
    if rebuilt is not None and status and answer is not None and not _enveloped(answer):
        # the request's latest answer, kept across edits of its URL and method: one that is not the send's envelope
        # may answer another endpoint, and is not judged as the send's: status, head or body (Pass Z2, F5)
        raise _Unjudged("its recorder may pair a rebuilt request with the answer to an earlier URL or method of it, "
                        "and this answer is not the send's envelope (a JSON object with `success`)", sent)
    short = _har_cut(status, content, response.get("bodySize"), response_headers) if not failure else None
    return replace(
        sent, status=status, response_headers=response_headers, response_body=answer if status else b"",
        elapsed=elapsed, error=error, timed_out=_timed_out(error), response_size=size, unread=sent_unread or unread,
        recorded_time=whole, in_part=short, in_part_rules=frozenset({NO_SERVER_ERROR.id}) if short else frozenset(),
        request_rebuilt=rebuilt,
    )


def _enveloped(body: bytes) -> bool:
    """Whether an answer is the send's envelope (a JSON object with `success`: ApiResponse, ApiError)."""
    try:
        value = json.loads(body)
    except (ValueError, RecursionError):
        return False
    return isinstance(value, dict) and "success" in value


_UNKNOWN_RECORDER = ("its recorder cannot be known (the reading of `log` stopped before its end: an entry over the cap "
                     "on recorded items, or text that is no JSON), and some recorders rebuild each request at export: its "
                     "request rules, credentials and status were not judged")


def _har_rebuilt(recorder: str | None, version: str | None = None) -> str | None:
    """Why a HAR entry's request may not be the one its answer answered (None: its recorder records what was sent, as
    far as this reader knows): its recorder (`log.creator`) is one known to rebuild each request at export
    (`_REBUILT_AT_EXPORT`, told by its family's name anywhere in `name`, or by the `version` its exporter writes). The
    judge reads the request as one its parties may read otherwise (`tally.ObservedExchange.request_rebuilt`): the
    request rules, the credentials, the status it deserved and a value repeated across exchanges are not judged; the
    answer's own rules are (its schema, its Content-Type, its envelope, no-server-error)."""
    name, written = (recorder or "").strip(), (version or "").strip()
    for family, (shown, how) in _REBUILT_AT_EXPORT.items():
        if family.search(name) is not None or family.search(written) is not None:
            return f"its recorder, {shown}, {how}: its request rules, credentials and status were not judged"
    return None


# HAR writers known to rebuild each request at export rather than record the one sent, told by a family's name in
# `log.creator.name` (any case, anywhere: a fork or a rebrand keeps it) or by the exporter's own `log.creator.version`,
# named as a note says it (never the file's own text) and with what they do. Insomnia's `exportHar` (Kong/insomnia
# packages/insomnia/src/common/har.ts; creator `Insomnia REST Client`, version `insomnia.desktop.app:v…`) renders each
# request anew (`exportHarWithRequest`:
# `getRenderedRequestAndContext` on the request's current definition and the active environment, then its plugins'
# request hooks, then `getAuthHeader` when no auth header is set) and pairs it with the response it was given or the
# request's latest stored one (`getLatestForRequest`), though Insomnia keeps a snapshot of the request each response
# answered (`requestVersionId`), unused there. Its fork Insomnium (archgpt/insomnium, creator `Insomnium REST Client`,
# the same version string) keeps that exporter (Pass Y2, F4). Advanced REST Client's HAR (`HarTransformer`,
# @api-client/har) writes
# the request as edited (its `url`, `headers`, `payload`), not the message its engine sent (`transportRequest`, used for
# the start time alone), and pairs that one request with each answer of its redirects. Postman writes no HAR (it
# imports them: postmanlabs/postman-app-support issues 8147, 9242); browsers, proxies, Playwright, Schemathesis and
# the recording libraries write the request as it went out.
_REBUILT_AT_EXPORT = {
    re.compile(r"insomnium(?![a-z])", re.IGNORECASE): (
        "Insomnium", "rebuilds each request at export from its current definition, paired with its latest answer"),
    re.compile(r"insomnia(?![a-z])", re.IGNORECASE): (
        "Insomnia", "rebuilds each request at export from its current definition, paired with its latest answer"),
    re.compile(r"advanced[ _-]?rest[ _-]?client", re.IGNORECASE): (
        "Advanced REST Client", "writes each request as edited (variables unexpanded), not as sent"),
}


def _har_cut(status: int | None, content: dict[str, Any], body_size: Any, headers: list[tuple[str, str]]) -> str | None:
    """Why a HAR answer may have come cut short, where its recording says no byte of its body came (`content.size` 0,
    `bodySize` 0, an empty `text`) under a Content-Length above 0 and no error beside it (mitmproxy writes so an
    upstream that closed before its body, while its client got mitmproxy's 502; or a body it streamed on unkept):
    whether a complete answer came does not show, so no-server-error is not counted kept on it (a breach still is)."""
    if status is None or content.get("text") != "" or _har_size(content.get("size")) != 0 or _har_size(body_size) != 0:
        return None
    length = _length(headers)
    if not length:
        return None
    return (f"its recording says none of the {length:,} bytes its Content-Length promised came (`content.size` and "
            "`bodySize` 0): whether a complete answer came does not show, no-server-error was not counted kept")


def _side_file(holder: dict[str, Any]) -> bool:
    """Whether a HAR body is kept in a side file (Playwright's `_file`, or `_sha1` in a trace), not in the entry."""
    return "_file" in holder or "_sha1" in holder


def _har_size(value: Any) -> int | None:
    """A HAR size as written (`-1`: HAR's "not available"); None where the file gives no number."""
    if type(value) is float and value.is_integer():
        value = int(value)
    return value if type(value) is int and abs(value) < 1 << 62 else None


def _length(headers: list[tuple[str, str]]) -> int | None:
    """The head's Content-Length (0 included); None for none, or one that is no length."""
    for name, value in headers:
        if name.lower() == "content-length":
            text = value.strip(" \t")
            return int(text) if text.isascii() and text.isdigit() and len(text) < 20 else None
    return None


def _har_kept_empty(body_size: Any, headers: list[tuple[str, str]]) -> str | None:
    """Why a HAR request recorded with no body (no `postData`, or its text empty) may have carried one the recorder
    did not keep (None: it carried none). Chrome DevTools writes no `postData` and `bodySize` 0 whenever it does not
    hold the data (a Blob or a stream, post data no longer kept), Playwright an empty `text` when told to omit
    bodies; HAR's own `-1` is "not available". Only a `bodySize` of 0 (or none given) with no length in the head, or a
    Content-Length of 0, is an empty body."""
    size, length = _har_size(body_size), _length(headers)
    if length:
        return f"though its Content-Length says {length:,} bytes were sent (the recorder did not keep them)"
    if any(name.lower() == "transfer-encoding" for name, _ in headers):
        return "though its Transfer-Encoding says a body was sent (the recorder did not keep it)"
    if size is not None and size > 0:
        return f"though its `bodySize` says {size:,} bytes were sent (the recorder did not keep them)"
    if size is not None and size < 0 and length is None:
        return "and its `bodySize` is -1 (HAR's \"not available\"): whether a body was sent does not show"
    return None


def _har_said_empty(size: Any, body_size: Any, headers: list[tuple[str, str]]) -> bool:
    """Whether a HAR answer recorded with no `text` is an empty body: a size (`content.size`, `bodySize`) or its
    Content-Length says 0 bytes came, and none says more. Sizes of -1 ("not available", as Firefox writes with its
    bodies left out) or none at all say nothing: the body was not kept."""
    said = [n for n in (_har_size(size), _har_size(body_size), _length(headers)) if n is not None and n >= 0]
    return bool(said) and not any(said)


def _flag(value: Any) -> bool:
    """A recorder's mark as JavaScript reads it (`true`, `1`, `"yes"`; not `false`, `0`, `""`, null)."""
    return value not in (None, False, 0, "", "false") if isinstance(value, (bool, int, float, str)) or value is None else True


def _har_answered_by(entry: dict[str, Any], response: dict[str, Any]) -> str | None:
    """Who made a HAR entry's answer where it was not the server for this request (None: the server, as far as the
    recorder says): a test's route (Playwright's `_wasFulfilled`, `_wasAborted`), the page's service worker (Chrome's
    `_fetchedViaServiceWorker`, `_serviceWorkerResponseSource`: the worker's answer to the page, whether its code
    made it, a cache held it, or it fetched it, the worker's own request being another entry of a DevTools export),
    the browser's cache (`_fromCache`), or the browser itself (Chrome's `307 Internal Redirect` with its
    `Non-Authoritative-Reason`: an HSTS upgrade, an extension's or a delegate's redirect, sent by no server)."""
    if _flag(entry.get("_wasFulfilled")):
        return ("a test's route made it (Playwright's `_wasFulfilled`: route.fulfill() answered the page, and the "
                "request never reached the server)")
    if _flag(entry.get("_wasAborted")):
        return ("a test's route aborted it (Playwright's `_wasAborted`: route.abort() failed the request, which never "
                "reached the server)")
    source = response.get("_serviceWorkerResponseSource")
    if _flag(response.get("_fetchedViaServiceWorker")) or _flag(source):
        said = f" from {_shown(source)}" if _flag(source) else ""
        return (f"the page's service worker gave it{said} (Chrome's `_fetchedViaServiceWorker`): the worker's answer "
                "to the page, made by its code, taken from a cache or fetched by the worker, whose own request a DevTools "
                "export holds as an entry of its own, judged there")
    if _flag(entry.get("_fromCache")):
        return f"the browser's cache served it (`_fromCache` {_shown(entry.get('_fromCache'))}), not the server for this request"
    status = _number(response.get("status")) if type(response.get("status")) in (int, str) else None
    reason = next((value for name, value in _pairs(response.get("headers"), joined=True) if name.lower() == "non-authoritative-reason"), None)
    if status is not None and 300 <= status < 400 and reason is not None:
        return (f"the browser made it (Chrome's {status} Internal Redirect, Non-Authoritative-Reason {_shown(reason)}: an "
                "HSTS upgrade, an extension's or a delegate's redirect, sent before the request left the browser)")
    return None


def _connect_only(timings: Any) -> bool:
    """Whether a failed HAR entry's `timings` say its connection never completed: time in `connect` and none in send,
    wait or receive (the request was never sent: no server answered it late)."""
    if not isinstance(timings, dict):
        return False
    connect = _seconds(timings.get("connect"))
    return bool(connect) and not any(_seconds(timings.get(name)) for name in ("send", "wait", "receive"))


def _har_lossy(text: Any, answer: bytes, size: int | None, headers: list[tuple[str, str]], *,
               what: str = "`content.size`") -> str | None:
    """Why a HAR body's text (`content.text`, `postData.text`) is not its bytes (None: it may be): HAR stores a textual
    body decoded by its charset (browsers and Playwright replace each byte that is not UTF-8 with U+FFFD), so text
    holding U+FFFD, or whose UTF-8 length differs from its size (`what`) where the body is in no content coding, is the
    bytes decoded lossily or by another charset (as Schemathesis' `string`, `_cassette_body(lossy=)`)."""
    if not isinstance(text, str):
        return None
    if "\ufffd" in text:
        return ("text holding U+FFFD (a HAR's `content.text` is the body decoded, each byte that is not UTF-8 replaced "
                "so): its bytes do not show")
    if size is not None and not _coded(headers) and size != len(answer):
        return (f"text of {len(answer):,} bytes in UTF-8 where its {what} says {size:,} (decoded by another "
                "charset, lossily, or written in another form): its bytes do not show")
    return None


def _coded(headers: list[tuple[str, str]]) -> bool:
    return any(name.lower() == "content-encoding" and codings_of([value]) for name, value in headers)


def _bare_base64(text: Any, size: int | None, headers: list[tuple[str, str]]) -> bytes | None:
    """The bytes of a HAR request's `postData.text` written in base64 with no `encoding` to say so (Schemathesis'
    `--report-preserve-bytes`: HAR's postData has no such field), told by its `bodySize`: text whose own UTF-8 length
    is not the size, and whose strict base64 reading is exactly that many bytes (None: not so)."""
    if not isinstance(text, str) or not size or _coded(headers) or len(text) != 4 * -(-size // 3):
        return None
    raw = _decoded(text, "base64")
    return raw if raw is not None and len(raw) == size and len(utf8_bytes(text)) != size else None


def _shown(text: Any) -> str:
    """A recorded value for a sentence: its first 80 characters, cleaned."""
    shown = _text(text)
    return "a list or a mapping" if shown is None else repr(clean_text(shown[:80])) + ("…" if len(shown) > 80 else "")


# A recorder's error for an answer that did not come (in full) blames the server only when it names the server's failure:
# its connection reset or closed, an empty or malformed answer, a body cut short, no answer in time. Anything else
# (the client cancelled, an extension blocked, a name not resolved, the client offline, a proxy, a refused connection or
# one that never completed: Chrome's ERR_CONNECTION_TIMED_OUT, "a connection attempt timed out"; no server answered) is
# not its failure, nor an error no word here reads: those pass unjudged.
_NOT_SERVERS = re.compile(r"abort|cancel|block|name[ _]?not[ _]?resolved|name[ _]resolution|dns|internet|offline|network"
                          r"|proxy|tunnel|refused|unreachable|cert|ssl|tls|address|insecure|access[ _]denied|csp|cors"
                          r"|connection[ _]?timed[ _]?out|connect(?:ion)?[ _]?timeout|could[ _]not[ _]connect"
                          # Chromium's (net_error_list.h) for the client's own path, not the server's (Pass Z2, F6): an
                          # HTTP/2 PING unanswered (the client's network dropped, a NAT timeout), QUIC over UDP (a
                          # middlebox breaking it: the known fix is turning QUIC off), HTTP/2's TLS negotiation, a stream
                          # the client refused, ALPN
                          r"|ping[ _]?failed|quic|inadequate[ _]transport[ _]security|client[ _]refused|alpn",
                          re.IGNORECASE)
_SERVERS = re.compile(r"reset|closed|empty[ _]response|invalid[ _](?:http[ _])?response|length[ _]mismatch|chunked"
                      r"|http2|protocol[ _]error|timed[ _]?out|timeout|too[ _]big|decoding[ _]failed|incomplete",
                      re.IGNORECASE)


# What WebKit (macOS, Windows, libsoup on Linux) and Firefox say where Chromium says ERR_CONNECTION_RESET,
# ERR_EMPTY_RESPONSE or ERR_CONTENT_LENGTH_MISMATCH, and Chromium's words for a head or a coding the server broke: the
# server's failure whatever else the words hold. Not WebKit's "The network connection was lost." (-1005): it says so for
# a POST on a kept-alive connection the server closed at its keep-alive timeout, and for the client's own network
# dropping: no failure of the server's to tell (unjudged, as `network` reads)
_SERVERS_IN_ANY_BROWSER = re.compile(r"server[ _]returned[ _]nothing|message[ _]corrupt"
                                     r"|connection[ _]terminated[ _]unexpectedly|net[ _]interrupt|net[ _]partial[ _]transfer"
                                     r"|corrupted[ _]content|multiple[ _]content[ _]length|content[ _]decoding[ _]init",
                                     re.IGNORECASE)


def _servers_failure(failure: str) -> bool:
    if not failure:
        return False
    if _SERVERS_IN_ANY_BROWSER.search(failure) is not None:
        return True
    return _SERVERS.search(failure) is not None and _NOT_SERVERS.search(failure) is None


def _har_status(value: Any, sent: ObservedExchange) -> int | None:
    """A HAR answer's status as its players (JavaScript: `200.0` is 200) read it; None for none (0, -1, absent: no
    answer); `_Unjudged` for one they may read otherwise than this reader (`"2e2"`, 200.5, true)."""
    if value is None or value == "" or (type(value) in (int, float) and value <= 0):
        return None
    if type(value) is float and value.is_integer():
        value = int(value)
    status = _number(value) if type(value) in (int, str) else None
    if status is None:
        raise _Unjudged(f"its recorded status {_shown(value)} is not one this reader reads as its players do", sent)
    return status


# HAR 1.2's `timings` that add up to its `time` (`ssl` is within `connect`), in their order; `wait` is the server's
_HAR_TIMINGS = ("blocked", "dns", "connect", "send", "wait", "receive")


def _har_time(entry: dict[str, Any], recorder: str | None = None) -> tuple[float | None, RecordedTime | None]:
    """A HAR entry's time: the part surely the server's, `timings.wait` (from the request's last byte to the answer's
    first; None where it gives none, or where its recorder is not known to time it apart), and its whole (`time`, or
    its `timings` added up if more), which holds the client's part besides: its queue (`blocked`), `dns`, `connect` and
    `ssl`, its upload (`send`: a slow uplink, a throttled browser) and its reading (`receive`: as the client read the
    answer, the server's streaming not apart from the client's pace). The judge blames only the first
    (`tally.time_unsure`); where only the whole passes the timeout, responds-in-time is not judged.

    `wait` is the server's only where its recorder (`recorder`: `log.creator.name`) is one known to time each phase
    apart (`_TIMES_EACH_PHASE`): Insomnia writes curl's total time (DNS, connect, TLS, the upload and the body's
    reading) as `wait`, `send` and `receive` 0 (Kong/insomnia `common/har.ts`, `exportHar`); a recorder this reader
    does not know may write anything there, so its `wait` is part of the whole, never the server's alone.
    HAR 1.2's `time` is the sum of the `timings` that are not -1: it reaches the answer's end (`to_the_end`) only where
    `send`, `wait` and `receive` are all given, by a recorder known to time the body's reading in `receive`
    (`_TIMES_EACH_PHASE`). Playwright's minimal HAR writes `send` and `wait` -1 and a `time` that is `receive` alone;
    Schemathesis' HAR (`harfile`) writes its one total, requests' `Response.elapsed` (to the answer's head), as
    `receive` with `wait` 0 (no wait of the server's: none is read)."""
    given = entry.get("timings")
    timings: dict[str, Any] = given if isinstance(given, dict) else {}
    parts = {name: part for name in _HAR_TIMINGS if (part := _seconds(timings.get(name), 0.001)) is not None}
    name = (recorder or "").strip().lower()
    if name in _TOTAL_AS_RECEIVE:
        parts.pop("wait", None)  # a 0 written for no wait measured
    wait = parts.get("wait")
    # (the parts added up are a whole only with the wait among them; `time`, where given, holds them all)
    whole = max((t for t in (_seconds(entry.get("time"), 0.001), sum(parts.values()) if wait is not None else None)
                 if t is not None), default=None)
    if whole is None:
        return None, None
    apart = any(name.startswith(known) for known in _TIMES_EACH_PHASE)
    to_the_end = apart and all(phase in parts for phase in ("send", "wait", "receive"))
    if name in _TOTAL_AS_RECEIVE:
        return None, RecordedTime(whole, "Schemathesis' HAR: its one total, requests' `Response.elapsed`, timed to the "
                                         "answer's head, written as `receive`")
    if wait is None:
        return None, RecordedTime(whole, "HAR `time`, no `timings.wait` apart (HAR's `time` holds only the timings "
                                         "not -1): the browser's queue, connect, upload or reading in it")
    if not apart:
        return None, RecordedTime(whole, "HAR `time` and `timings.wait` written by a recorder not known to time the "
                                         "server's wait apart (Insomnia writes curl's total there: DNS, connect, TLS, "
                                         "the upload and the reading in it)")
    client = [phase for phase, part in parts.items() if phase != "wait" and part > 0]
    if not to_the_end:
        missing = [phase for phase in ("send", "receive") if phase not in parts]
        return wait, RecordedTime(whole, f"HAR `time`, its `{'` and `'.join(missing)}` not given: the answer's end may "
                                         "not be in it")
    if not client:
        return wait, RecordedTime(whole, "HAR `time`, more than its `timings` add up to", to_the_end)
    return wait, RecordedTime(whole, f"HAR `timings` {', '.join(client)}: the client's queue, connect, upload or reading",
                              to_the_end)


# HAR recorders known to time each phase apart (`log.creator.name`, lower case, its start): `wait` from the request's
# last byte to the answer's first, the answer's body in `receive`. Chrome's and Edge's DevTools ("WebInspector"), from
# the network stack's `sendEnd` and `receiveHeadersEnd`; Safari's ("WebKit Web Inspector"); Firefox (its network
# monitor's event timings); Playwright (its full mode; its minimal mode writes `send` and `wait` -1); mitmproxy
# (`wait`: the request's end to the response's start, `receive`: the response's first byte to its last); chrome-har
# (from the DevTools protocol's events); Charles and Fiddler (their per-session timers: request sent, response begun,
# response done). Not Insomnia (curl's total as `wait`), nor Schemathesis' `harfile` (`_TOTAL_AS_RECEIVE`), ZAP (its
# elapsed time alone) or any recorder not named here: their `wait` is no part surely the server's.
_TIMES_EACH_PHASE = ("webinspector", "webkit web inspector", "firefox", "playwright", "mitmproxy", "chrome-har",
                     "charles", "fiddler")
# HAR recorders that write one total as `receive` (`wait` 0): Schemathesis' `--report har` (the `harfile` library)
_TOTAL_AS_RECEIVE = frozenset({"harfile"})


def _timed_out(error: str | None) -> bool:
    """Whether a recorder's error says the request timed out (Chrome's net::ERR_TIMED_OUT, "timeout", "timed out")."""
    words = (error or "").lower().replace("_", " ")
    return "timed out" in words or "timeout" in words


class _Unjudged(Exception):
    """A recorded item passed unjudged (counted, no green verdict after it), never judged on a reading its player does
    not make, nor blamed on the server for what was not the server's: a status this reader does not read as its
    player does (YAML 1.1's `0310`, `3:20`), no answer where the failure is not known to be the server's (a browser's
    cancelled or blocked request, a name not resolved), two layouts that disagree (`_TwoReadings`). `sent`: the
    request as recorded, so that one to another path is counted as such, not as an unjudged send."""

    def __init__(self, why: str, sent: ObservedExchange | None = None) -> None:
        super().__init__(why)
        self.sent = sent


class _TwoReadings(_Unjudged):
    """A recorded item that holds two layouts of one field that disagree: which one a player reads depends on it."""


def _cassette_body(body: Any, *, lossy: bool = False) -> bytes | None:
    """A cassette's body as its players read it: the text itself, or `string` (vcrpy; bytes under `!!binary`), or
    `base64_string` (Schemathesis' bytes). `_TwoReadings` when it holds both and they differ (vcrpy plays `string`).

    `lossy`: a Schemathesis `string` is the answer's text decoded by its charset, an undecodable byte replaced by
    U+FFFD (`text_lossy`): it is the bytes only when nothing was replaced and its `encoding` is UTF-8 or a one-byte
    charset, whose text encodes back to its bytes (`_recoded`; `_Lossy` else; its `base64_string`,
    `--report-preserve-bytes`, is exact)."""
    if body is None:
        return b""
    if isinstance(body, (str, bytes)):
        return _decoded(body, None)
    if isinstance(body, _Iterated):  # vcrpy's iterator body: its chunks joined, or not recorded
        return body.body
    if isinstance(body, dict):
        if "base64_string" in body:
            raw = _decoded(body["base64_string"], "base64")
            if "string" in body and _decoded(body["string"], None) != raw:
                raise _TwoReadings("a body with a `string` and a `base64_string` that differ")
            return raw
        string = body.get("string", "")
        if lossy and isinstance(string, str) and string:
            named = _text(body.get("encoding")) or "utf-8"
            try:
                utf8 = codecs.lookup(named).name == "utf-8"
            except (LookupError, ValueError):  # no charset Python knows (a NUL in its name raises ValueError)
                utf8 = False
            if "\ufffd" in string:
                raise _Lossy("a body written as text holding U+FFFD (Schemathesis' `string` replaces each byte that is "
                             "not UTF-8 so): its bytes do not show")
            if not utf8:
                raw = _recoded(string, named)
                if raw is None:
                    raise _Lossy(f"a body written as text decoded by {_shown(named)}, not UTF-8 nor a one-byte charset "
                                 "that gives its bytes back (Schemathesis' `string`): its bytes do not show")
                return raw
        return _decoded(string, None)
    return None


def _recoded(text: str, charset: str) -> bytes | None:
    """The bytes a text decoded by `charset` came from, where they show (None: they do not): a one-byte charset
    (ISO-8859-1, which requests gives a `text/*` answer without a charset; cp1252, KOI8-R...) maps each byte to one
    character, so a text it decoded with nothing replaced (no U+FFFD) encodes back to exactly those bytes. A charset of
    several bytes a character (a byte order mark, shift states) may have had other bytes for the same text."""
    try:
        codec = codecs.lookup(charset)
        table = getattr(sys.modules.get(getattr(codec.decode, "__module__", None) or ""), "decoding_table", None)
        if codec.name not in ("iso8859-1", "ascii") and not (isinstance(table, str) and len(table) == 256):
            return None  # not a one-byte charset (a table of 256 characters, one a byte)
        raw = text.encode(codec.name)
        same = len(raw) == len(text) and raw.decode(codec.name) == text
    except (LookupError, UnicodeError, TypeError, ValueError):
        return None
    return raw if same else None


class _Lossy(Exception):
    """A cassette body written as text its bytes cannot be told from (Schemathesis' `string`, decoded lossily)."""


def _read_body(body: Any, *, lossy: bool = False) -> tuple[bytes | None, str | None]:
    """A cassette body, and why it is not read when its two layouts disagree (None: read)."""
    try:
        return _cassette_body(body, lossy=lossy), None
    except _TwoReadings as exc:
        return None, str(exc)


def _schemathesis_body(body: Any, what: str) -> tuple[bytes | None, str | None]:
    """A Schemathesis cassette's body, and why it was not judged (two layouts, or text that is not its bytes)."""
    try:
        raw, why = _read_body(body, lossy=True)
    except _Lossy as exc:
        return None, f"its recorded {what} has {exc}: not judged as a body"
    return raw, _unread(why, what)


# Which recorders write the request head as the wire carried it, its framing headers (Content-Length, Transfer-Encoding)
# included: Schemathesis' cassettes (requests' PreparedRequest, which sets the Content-Length of a body it holds). Not
# vcrpy's cassettes (its aiohttp and tornado stubs record the caller's `headers=` alone, though aiohttp sends a
# Content-Length; its urllib3 stub the headers given to `request()`, to which http.client adds one; which stub wrote a
# cassette does not show), nor HAR files (a browser's "provisional headers" entries hold no Content-Length). Where the
# framing may not show, a request whose body is kept with no Content-Length is not read as sent without one: a 411 to
# it is judged (`judge.refusals`); one with a Transfer-Encoding, or whose body is not kept, still may be refused 411.
_FRAMING = {SCHEMATHESIS: True, VCRPY: False, VCRPY_JSON: False, HAR: False}


def _from_schemathesis(item: dict[str, Any], where: str) -> ObservedExchange | None:
    request, response = item.get("request"), item.get("response")
    if not isinstance(request, dict):
        return None
    headers, hidden = _unmasked(_pairs(request.get("headers")), False)
    sent_body, unread = _schemathesis_body(request.get("body"), "request")
    sent = ObservedExchange(_field(request.get("method")), _field(request.get("uri")), headers, sent_body,
                            None, where=where, credentials_hidden=hidden, unread=unread)
    if not isinstance(response, dict):  # Schemathesis writes `response: null` for any request that got no answer
        raise _Unjudged("no answer recorded (Schemathesis writes none for a refused connection, a name not resolved, "
                        "a reset or a timeout alike: whether it was the server's failure does not show)", sent)
    status = _cassette_status(response["status"].get("code") if isinstance(response.get("status"), dict) else None, sent)
    truncated = response.get("truncated_from")
    answer, why = (None, None) if truncated else _schemathesis_body(response.get("body"), "answer")
    response_headers = _pairs(response.get("headers"))
    answer, why = _held(answer, why, response_headers)
    return replace(
        sent, status=status, response_headers=response_headers, response_body=answer,
        elapsed=None, recorded_time=_schemathesis_time(response.get("elapsed")), response_size=_number(truncated),
        unread=sent.unread or why,
        started=instant(item.get("recorded_at")),  # the instant its HAR's `startedDateTime` gives (`--report vcr,har`)
    )


def _schemathesis_time(value: Any) -> RecordedTime | None:
    """A Schemathesis answer's `elapsed`: requests' `Response.elapsed` (httpx's for its httpx transport), timed from
    before a connection is taken from the pool to the answer's head read, so connect, TLS and the upload are in it
    and the body's reading is not (a body 11 s after its head leaves it at milliseconds): no part of it is surely the
    server's alone, nor does it reach the answer's end (responds-in-time is never kept on it; past the timeout it is
    judged in part)."""
    seconds = _seconds(value)
    return None if seconds is None else RecordedTime(seconds, "Schemathesis' `elapsed`, requests' `Response.elapsed`: "
                                                              "timed to the answer's head, connect, TLS and the upload in it")


def _cassette_status(code: Any, sent: ObservedExchange) -> int:
    """A cassette answer's status, read where every YAML reader reads it alike; `_Unjudged` for none (vcrpy records no
    interaction for a request that failed) or for one its player reads otherwise (YAML 1.1's `0310` is 200)."""
    status = _number(code)
    if status is None:
        raise _Unjudged("no status recorded" if code is None else
                        f"its recorded status {_shown(code)} is not one this reader reads as its player does (YAML 1.1 "
                        "reads `0310`, `2_00`, `3:20`, `0b11001000` and `!!float 200` as 200)", sent)
    return status


def _held(body: bytes | None, why: str | None, headers: list[tuple[str, str]]) -> tuple[bytes | None, str | None]:
    """A cassette body, unless it is empty where its Content-Length says bytes came (a recorder that kept a streamed
    answer's body empty): then not judged as an empty body."""
    if body == b"" and why is None:
        length = next((_number(value) for name, value in headers if name.lower() == "content-length"), None)
        if length:
            return None, (f"its recorded body is empty though its Content-Length says {length:,} bytes came (the "
                          "recorder did not keep them): not judged as a body")
    return body, why


def _answer_decoded(fmt: str, exchange: ObservedExchange) -> bool | None:
    """Whether a recording's answer may be stored decoded under its coding's header (None: as its format's bodies).

    Schemathesis writes `response.content`, which requests and httpx have decoded (`core/transport.py`), under the
    server's own headers: decoded, never again (its WSGI client's raw bytes, which the file does not tell apart, are
    judged in part: pass Z3, F4).
    vcrpy's stubs for requests, urllib3 and httpx store the bytes as sent, its aiohttp stub `await response.read()`,
    decoded, under the same headers: the file does not say which. Only positive evidence counts (a recorder filtering
    headers must not turn a server's plain bytes under a gzip label into a decoded body): a request body kept as a
    mapping, the aiohttp stub's `json=` (`stored_decoded`), and the Content-Length kept: the bytes as sent are as long as
    it says (a shorter read is no recording), so a length that is not the stored body's marks a body stored decoded;
    with neither (a chunked answer, an aiohttp `data=` send) the bytes are taken as sent (judged in part if not in
    their coding)."""
    if fmt == SCHEMATHESIS:
        return True
    if fmt in (VCRPY, VCRPY_JSON) and exchange.response_body:
        if exchange.stored_decoded:
            return True
        lengths = {_number(value) for name, value in exchange.response_headers if name.lower() == "content-length"}
        return len(lengths) == 1 and None not in lengths and len(exchange.response_body) not in lengths
    return None


def _unread(why: str | None, what: str) -> str | None:
    return None if why is None else f"its recorded {what} has {why}: which one its player reads depends on the player"


def _from_vcrpy(item: Any, where: str) -> ObservedExchange | None:
    if not isinstance(item, dict) or not isinstance(item.get("request"), dict):
        return None
    request: dict[str, Any] = item["request"]
    response: dict[str, Any] = item["response"] if isinstance(item.get("response"), dict) else {}
    headers, hidden = _unmasked(_pairs(request.get("headers")), False)
    sent_body, sent_why = _read_body(request.get("body"))
    sent_body, sent_unread = _held(sent_body, _unread(sent_why, "request"), headers)
    # vcrpy's aiohttp stub keeps a `json=` body as the mapping it was given (no other stub keeps one: they record bytes,
    # vcrpy's own layout a `string`): the mark that its answers are stored decoded (`_answer_decoded`)
    body = request.get("body")
    aiohttp = isinstance(body, dict) and not {"string", "base64_string"} & set(body)
    sent = ObservedExchange(method=_field(request.get("method")), url=_field(request.get("uri")), request_headers=headers,
                            request_body=sent_body, status=None, where=where, credentials_hidden=hidden, unread=sent_unread,
                            stored_decoded=aiohttp)
    # vcrpy's layout (`status: {code}`, `body: {string}`), and its older httpx one (`status_code`, `content`): the httpx
    # stub plays the older where it is there, the others (requests, urllib3, aiohttp) the newer
    newer, older = "status" in response or "body" in response, "status_code" in response or "content" in response
    code = response["status"].get("code") if isinstance(response.get("status"), dict) else None
    status, (answer, why) = (_number(code), _read_body(response.get("body"))) if newer or not older else (None, (None, None))
    if older:
        old_status, (old_answer, old_why) = _number(response.get("status_code")), _read_body(response.get("content"))
        if not newer:
            status, answer, why, code = old_status, old_answer, old_why, response.get("status_code")
        elif old_status != status:  # no one status is the recorded one: the item is not judged
            raise _TwoReadings("a response with both `status` and `status_code` that differ")
        elif why is None and (old_why is not None or old_answer != answer):
            answer, why = None, "both a `body` and a `content` (two layouts) that differ"
    status = _cassette_status(code, sent) if status is None else status
    response_headers = _pairs(response.get("headers"))
    unread = _unread(why, "answer")
    scalar = _scalar_header(response.get("headers"))
    if scalar is not None:  # the players disagree on its headers: neither reading is judged
        answer, unread = None, (f"its recorded answer's header {scalar} is one value where vcrpy's layout has a list: "
                                "vcrpy's aiohttp player reads it whole, its httpx, requests and tornado ones letter by "
                                "letter, so its headers and body were not judged")
    answer, unread = _held(answer, unread, response_headers)
    return replace(sent, status=status, response_headers=response_headers, response_body=answer,
                   credentials_hidden=hidden or _filtered(headers), unread=sent.unread or unread)


def _scalar_header(headers: Any) -> str | None:
    """The name of the first header a vcrpy cassette gives as one value, not a list of them (None: none)."""
    if isinstance(headers, dict):
        for name, values in headers.items():
            if not isinstance(values, (list, tuple)):
                return _shown(name)
    return None


def _filtered(headers: list[tuple[str, str]]) -> bool:
    """Whether a vcrpy cassette's request may have had its credentials filtered out by the recorder: it holds no
    `Bearer <key>` (vcrpy's documented `filter_headers=["authorization"]` drops the header, pytest-recording's usual
    `vcr_config` too; `[("authorization", "XXXXXX")]` or `"DUMMY"` replaces it). The live request may have carried a
    key: nothing about the credentials is judged, whatever the answer (never the server's break for accepting it, nor
    the client's for leaving it out). A 401 stays the server's answer: right for no key and for a refused key alike
    (a revoked or expired key, the usual "rejects a bad key" test), so neither side is blamed for it."""
    return not any(bearer_key(value) for name, value in headers if name.lower() == "authorization")


def _mask_in(body: bytes | None) -> str | None:
    """Where a body holds a recorder's mask in place of a value (`"id": "REDACTED"` -> "'REDACTED' in `id`"), or None:
    a short JSON string value holding a mask word, as `traffic.masks` tells a mask text, decided on the value decoded
    (`masks.mask_in_json`). vcrpy's filter_post_data_parameters and a before_record hook write the replacement given:
    `[("recipientEmail", "REDACTED")]`, `"***REDACTED***"`, `"[REDACTED EMAIL]"`, `"REDACTED_EMAIL"`, `"<email
    redacted>"`, `"xxxx"`, `"«REDACTED»"` (json.dumps escapes it)."""
    found = mask_in_json(body)
    if found is None:
        return None
    mask, key = found
    return f"{clean_text(mask)[:MASK_SHORT]!r}" + (f" in `{clean_text(key)[:64]}`" if key is not None else "")


def _unscrubbed(exchange: ObservedExchange) -> ObservedExchange:
    """An exchange of a vcrpy cassette whose recorded bodies a recorder scrubbed, with those bodies unread: a mask in a
    request field (vcrpy's `filter_post_data_parameters` with a replacement) stands for a value sent but not shown, so
    the request rules are not judged; a mask in an answer (a `before_record_response` hook scrubbing ids) leaves the
    answer's body rules unjudged (two answers' `"id": "REDACTED"` are no repeated id). The exchange is judged in part.
    A field the recorder removed leaves no trace: the request is judged as recorded (docs/traffic.md says so)."""
    sent = _mask_in(exchange.request_body)
    if sent is not None:
        exchange.request_body = None
        exchange.unread = exchange.unread or (f"its recorded request body holds a recorder's mask ({sent}): what was "
                                              "sent there does not show, so the request rules were not judged")
    answered = _mask_in(exchange.response_body)
    if answered is not None:
        exchange.response_size = exchange.response_size or len(exchange.response_body or b"")
        exchange.response_body = None
        exchange.unread = exchange.unread or (f"its recorded answer holds a recorder's mask ({answered}): what the "
                                              "server sent there does not show, so its body rules were not judged")
    return exchange
