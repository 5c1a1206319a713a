"""Undoing a body's `Content-Encoding` within a cap: the one decoder every way in reads answers with.

The check's client, the proxy, the middleware and the recordings all read a body through it,
so a coding one of them can read, all can: every coding listed (`gzip, gzip`; several
`Content-Encoding` fields), applied in the order written and undone in reverse, `deflate`
as a zlib stream or, as many servers send it, a raw one, told apart as httpx's DeflateDecoder
tells them (curl alike): read as zlib, and read again from its first byte as raw deflate when
its first bytes fail as zlib (a raw stream whose first two bytes also pass as a zlib header:
a stored block with padding bits set), never by the header's look alone.
Every layer's output is capped, and at most `MAX_LAYERS` layers are undone: a bomb stops at
the cap, and a pile of layers costs no more than four.

What it cannot do is said, not guessed: a coding it does not know (`br`, `zstd`) leaves the
body unread (`Unknown`); bytes that are not what their coding says (`Broken`: not deflate, a
bad gzip header or CRC) are the server's fault, since no client can read them either (httpx
raises a DecodingError).

A stream that stops before its end (a deflate stream flushed without its final block, a gzip
member without its CRC and length) is read as httpx and curl read it: what it decodes to is the
body, and the missing end is said (`ContentDecoder.finish`, `decoded`), not taken for an answer
that never completed. Bytes after a stream's end are read as the client reads them: httpx drops
them, curl refuses them (a zlib or gzip stream), so for a client unknown they are `Differs`, and
the check's own client drops them (as httpx and urllib3 do) and says so.

What common clients read differently is said too (`Differs`, from `decode`, which reads for a
client it does not know: the proxy, the middleware, recordings): `x-gzip` (RFC 9110 §8.4.1.3 asks
recipients to read it as `gzip`; httpx does not decode it), and a gzip body of more than one
member (httpx, curl and Chromium read the first only; urllib3 all). The judge cannot know what
the client got, so the body is left unread. The check's own client reads both (`ContentDecoder`).

A body handed in by a caller (`validate_response`, the Schemathesis checks: `as_given`) is the body the client read,
decoded, and is never decoded here: whether a caller decoded it does not show in the bytes (pass Z3, F4, F5), so one
under a coding that is no JSON text is judged in part, never read through a layer nor blamed.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterable
from typing import Any

from migma_contract.core.fields import trimmed

__all__ = ["MAX_LAYERS", "Broken", "ContentDecoder", "Differs", "Unknown", "as_given", "codings_of", "decode", "decoded",
           "looks_compressed", "readable_json"]

_KNOWN = frozenset({"gzip", "x-gzip", "deflate"})
MAX_MEMBERS = 64  # gzip members read in one body (a server sends one; a few are legal)
MAX_LAYERS = 4  # codings undone on one body; more is no server's doing, and the body is left unread (and said)


class Broken(Exception):
    """The bytes are not what their `Content-Encoding` says (no client can read them)."""


class Unknown(Exception):
    """A coding this toolkit cannot undo (the body is left unread, and that is said)."""


class Differs(Exception):
    """A coding common clients read differently (`x-gzip`, a gzip body of several members): what the client got does
    not show (the body is left unread, and that is said)."""


def codings_of(values: Iterable[str]) -> list[str]:
    """The codings of every `Content-Encoding` value given, in the order applied (`identity` left out)."""
    return [c for value in values for c in (trimmed(part).lower() for part in value.split(",")) if c and c != "identity"]


class _Layer:
    __slots__ = ("after_end", "coding", "first_try", "inflater", "members", "one_member", "pending", "produced")

    def __init__(self, coding: str, one_member: bool = False) -> None:
        self.coding = coding
        # for a client unknown: bytes after the (first) stream's end are `Differs` (clients read the first member only,
        # or all, or refuse what follows); else they are read on as members, and what is not one is dropped
        self.one_member = one_member
        self.inflater: zlib._Decompress | None = None
        self.pending = b""  # a deflate stream's first byte, until a second comes (zlib's header is two)
        self.first_try = False  # a deflate stream's first bytes are being read as zlib: raw deflate if that fails
        self.produced = 0
        self.members = 1
        self.after_end: str | None = None  # bytes after the end were dropped (said by `finish`)

    def feed(self, data: bytes, room: int) -> bytes:
        if self.after_end is not None:
            return b""
        if self.inflater is None:
            data = self.pending + data
            if self.coding == "deflate" and len(data) < 2:
                self.pending = data
                return b""
            self.pending = b""
            window = self._window(data)
            self.inflater = zlib.decompressobj(window)
            self.first_try = self.coding == "deflate" and window > 0
        out = b""
        while True:
            if self.inflater.eof:
                data = self.inflater.unused_data + data
                if not data:
                    return out
                if self.coding == "deflate":
                    if self.one_member:
                        raise Differs("deflate with bytes after the end of its stream (httpx drops them; curl refuses "
                                      "them after a zlib stream)")
                    return self._dropped(out, "bytes after the end of its deflate stream, dropped (as httpx drops them)")
                # another gzip member (RFC 1952: a file may hold several; urllib3 reads them all): read on, a few
                # times (each member hands the rest of the input on as a copy: thousands of empty ones cost n²)
                self.members += 1
                if self.one_member:
                    raise Differs(f"{self.coding} of more than one member, or with bytes after its first (httpx, curl "
                                  "and browsers read the first only, urllib3 every member; curl refuses bytes that are "
                                  "no member)")
                if self.members > MAX_MEMBERS:
                    raise Unknown(f"gzip of more than {MAX_MEMBERS} members")
                self.inflater = zlib.decompressobj(zlib.MAX_WBITS | 16)
            try:
                part = self.inflater.decompress(data, room - len(out))
            except zlib.error as exc:
                if self.first_try:  # httpx's DeflateDecoder: its first bytes fail as zlib, read them again as raw deflate
                    self.first_try = False
                    self.inflater = zlib.decompressobj(-zlib.MAX_WBITS)
                    continue
                if self.members > 1:  # what follows a whole member is not one: dropped, as urllib3 (and httpx) drop it
                    return self._dropped(out, "bytes after the end of its last gzip member, dropped (as httpx and "
                                              "urllib3 drop them)")
                raise Broken(f"{self.coding}: {exc}") from None
            self.first_try = False
            out += part
            self.produced += len(part)
            data = b""
            if not self.inflater.eof or len(out) >= room:
                return out

    def _dropped(self, out: bytes, why: str) -> bytes:
        self.after_end = why
        self.inflater = None
        return out

    def _window(self, start: bytes) -> int:
        if self.coding != "deflate":
            return zlib.MAX_WBITS | 16  # a gzip member
        # Read as zlib first, as httpx's DeflateDecoder reads it (raw deflate if its first bytes fail as zlib: `first_try`);
        # two bytes that are no zlib header fail at once, so they are read as raw deflate without the try
        zlib_header = start[0] & 0x0F == 8 and ((start[0] << 8) | start[1]) % 31 == 0
        return zlib.MAX_WBITS if zlib_header else -zlib.MAX_WBITS

    def over(self) -> bool:
        return self.inflater is not None and bool(self.inflater.unconsumed_tail)

    def finished(self) -> bool:
        return self.after_end is not None or (self.inflater is not None and self.inflater.eof)


class ContentDecoder:
    """Decodes a body chunk by chunk; `cut` is set once the decoded body passes `cap` (what follows is dropped).

    `as_any_client`: read only what every common client reads alike (`Differs` otherwise), for a client unknown."""

    def __init__(self, codings: list[str], cap: int, *, as_any_client: bool = False) -> None:
        if len(codings) > MAX_LAYERS:  # each layer holds an inflater and its window (~37 KB): 16,000 layers were 600 MB
            raise Unknown(f"{len(codings):,} codings, more than the {MAX_LAYERS} undone")
        unknown = [coding for coding in codings if coding not in _KNOWN]
        if unknown:
            raise Unknown(", ".join(unknown[:4]) + (", ..." if len(unknown) > 4 else ""))
        if as_any_client and "x-gzip" in codings:
            raise Differs("x-gzip (httpx does not decode it; urllib3, curl and browsers read it as gzip)")
        self.cap = cap
        self.layers = [_Layer(coding, as_any_client) for coding in reversed(codings)]
        self.kept = 0
        self.cut = False
        self.fed = False

    def feed(self, raw: bytes) -> bytes:
        """Decoded bytes of one raw chunk, within the cap (`cut` says when it was reached); `Broken` if not decodable."""
        if self.cut or not raw:
            return b""
        self.fed = True
        data = raw
        for layer in self.layers:
            data = layer.feed(data, self.cap + 1 - layer.produced)
            if layer.produced > self.cap or layer.over():
                self.cut = True
                break
        room = self.cap - self.kept
        if len(data) > room:
            self.cut = True
            data = data[:room]
        self.kept += len(data)
        return data

    def finish(self) -> str | None:
        """What the body lacked or held beyond its coding's end, in words (None: nothing): a stream that stops before its
        end (no final deflate block, no gzip CRC and length) is read as httpx and curl read it, what it decodes to, and
        this says so; bytes dropped after the end (the check's own client) too."""
        if self.cut or not self.fed:
            return None
        said = []
        for layer in self.layers:
            if layer.after_end is not None:
                said.append(layer.after_end)
            elif not layer.finished():
                said.append(f"a {layer.coding} stream that stops before its end (httpx and curl read what it holds, "
                            "and that was judged)")
                break  # the layers under it were fed part of their stream: their end is not the server's to give
        return "; ".join(said) or None


def decoded(raw: bytes, codings: list[str], cap: int) -> tuple[bytes | None, str | None]:
    """A whole body decoded within `cap`, as every common client reads it (None when it passes the cap), and what it
    lacked (`ContentDecoder.finish`). Raises `Broken`, `Unknown`, or `Differs` (clients read it differently)."""
    if not codings:
        return (raw if len(raw) <= cap else None), None
    decoder = ContentDecoder(codings, cap, as_any_client=True)
    body = decoder.feed(raw)
    if decoder.cut:
        return None, None
    return body, decoder.finish()


def decode(raw: bytes, codings: list[str], cap: int) -> bytes | None:
    """`decoded`'s body alone."""
    return decoded(raw, codings, cap)[0]


def looks_compressed(raw: bytes) -> bool:
    """Whether bytes start as a gzip member or a zlib stream do (a JSON text never does)."""
    return raw[:2] == b"\x1f\x8b" or (len(raw) > 1 and raw[0] & 0x0F == 8 and ((raw[0] << 8) | raw[1]) % 31 == 0)


def _no_constant(name: str) -> Any:
    raise ValueError(name)  # NaN, Infinity: no JSON text


def readable_json(raw: bytes) -> bool:
    """Whether bytes are a JSON text (UTF-8, RFC 8259: no NaN nor Infinity), as a client reads a decoded body."""
    try:
        json.loads(raw.decode("utf-8"), parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError, RecursionError):
        return False
    return True


def as_given(raw: bytes, content_encoding: str | None) -> tuple[bytes | None, str | None]:
    """An answer's body as the client read it (decoded: requests' and httpx's `.content`), under the server's
    `Content-Encoding`: judged as given, never decoded here. Guessing whether the caller had decoded it read a body
    gzipped twice under one label through a second layer (a pass), and took a raw deflate stream of stored blocks,
    whose header bytes are valid UTF-8, for text (a correct server blamed): pass Z3, F4 and F5. So a body under a coding
    other than identity that is not readable JSON (or starts as a compressed stream) is (None, why): judged in part,
    "it may still be coded", never read through a layer nor blamed as "not JSON"; else (raw, None)."""
    codings = codings_of([content_encoding or ""])
    if not codings or not raw:
        return raw, None
    if not looks_compressed(raw) and readable_json(raw):
        return raw, None
    # quoted whole or not at all: a prefix of a peer's value (a key echoed there, cut) is masked by no redactor (pass Q1)
    given = content_encoding or ""
    shown = repr(given) if len(given) <= 40 else f"(a value of {len(given):,} characters, not shown)"
    return None, (f"its answer is labelled Content-Encoding {shown} and the body given is not readable JSON: it may "
                  "still be coded (pass the body the client read, decoded), so its body was not read")
