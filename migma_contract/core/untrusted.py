"""Text from outside (server answers, files handed over) made safe to carry, once, where it enters.

Decoding replaces invalid UTF-8 and lone surrogates with U+FFFD; control characters
(C0, DEL, C1, the bidirectional overrides that reorder what a reader sees, and the
invisible ones: zero-width characters, the BOM, the soft hyphen, tag characters) become
a visible `\\xNN` / `\\uNNNN` / `\\UNNNNNNNN` marker. Newlines and tabs survive only where a caller
asks for them (bodies shown in a <pre> block), never in one-line fields. Writers still
escape for their own format; this only guarantees no byte reaches them that could act
as a terminal, XML or layout control.

Where text enters: the HTTP client (response headers, error texts), the records of an
exchange (bodies), the run's findings (what was expected and got), and a loaded
conformance.json (`clean_data`, every string of it).
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Collection
from pathlib import Path
from typing import Any

from migma_contract.core.exceptions import ConfigError

__all__ = ["MAX_INPUT_BYTES", "MULTILINE_KEYS", "UNSEEN_CLASS", "clean_bytes", "clean_data", "clean_text", "read_bounded", "sound_text", "utf8_bytes"]

_BIDI = "\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c"
# Characters that show nothing, or change what a reader sees or copies, by their Unicode properties: every format
# character (General_Category Cf: zero-width space, joiners, word joiner, invisible operators, the BOM, the soft hyphen,
# the interlinear annotation marks U+FFF9-FFFB that hide a text between them, musical and shorthand format controls,
# the tag characters) and every Default_Ignorable_Code_Point (the combining grapheme joiner U+034F, the Hangul fillers
# U+115F, U+1160, U+3164, U+FFA0, the Khmer inherent vowels, the Mongolian selectors, the variation selectors
# U+E0100-E01EF that can carry a hidden text after any character, the unassigned ignorables), as of Unicode 16.
# Left out: the bidirectional controls (`_BIDI`, below) and the variation selectors U+FE00-FE0F, which choose an emoji's
# look (`⚠️`) and carry 4 bits each at most. tests/test_untrusted.py derives the Cf set from `unicodedata`.
_INVISIBLE = ("\u00ad\u034f\u0600-\u0605\u06dd\u070f\u0890\u0891\u08e2\u115f\u1160\u17b4\u17b5\u180b-\u180f"
              "\u200b-\u200d\u2060-\u2065\u206a-\u206f\u3164\ufeff\uffa0\ufff0-\ufffb\U000110bd\U000110cd"
              "\U00013430-\U0001343f\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0000-\U000e0fff")
# Every character that shows nothing or reorders what is shown, as the inside of a regex character class: those
# `clean_text` marks and the emoji variation selectors it leaves. The redactor reads a key split by any of them whole.
UNSEEN_CLASS = f"{_BIDI}{_INVISIBLE}\ufe00-\ufe0f"
_CONTROLS = re.compile(f"[\x00-\x08\x0b-\x1f\x7f-\x9f{_BIDI}{_INVISIBLE}\u2028\u2029\ud800-\udfff\ufffe\uffff]")
_CONTROLS_ONE_LINE = re.compile(f"[\x00-\x1f\x7f-\x9f{_BIDI}{_INVISIBLE}\u2028\u2029\ud800-\udfff\ufffe\uffff]")

_SURROGATES = re.compile("[\ud800-\udfff]")
_NOT_ESCAPED_BYTES = re.compile("[\ud800-\udc7f\udd00-\udfff]")  # surrogates that are not a byte kept by surrogateescape

MAX_INPUT_BYTES = 64 << 20  # a file handed over (a conformance.json, a baseline); a real one is far smaller

# Fields of the result model that hold a body excerpt, shown as a block (newlines kept).
MULTILINE_KEYS = frozenset({"body"})


def _marker(match: re.Match[str]) -> str:
    ch = match.group()
    if "\ud800" <= ch <= "\udfff":
        return "\ufffd"
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


# CI runners act on lines of a job's log: GitHub's on a line that starts, after blanks, with `::` (`::add-mask::`,
# `::error title=...::`, `::stop-commands::`) and on `##[command]` anywhere in a line (its older form), Azure
# Pipelines' on `##vso[` anywhere. A file name or a server's text that starts a console line must not be one:
# the second character of each becomes a visible marker, as a control character does.
_LINE_COMMAND = re.compile(r"^([^\S\n]*):(?=:)", re.MULTILINE)
_ANYWHERE_COMMAND = re.compile(r"#(?=#(?:vso)?\[)", re.IGNORECASE)


def clean_text(value: object, *, multiline: bool = False) -> str:
    """`value` as text with every control character made visible (newlines kept if `multiline`), and no line of it
    a CI runner's workflow command (`::` starting a line, `##[` or `##vso[` anywhere: `\\x3a:`, `\\x23#[`)."""
    text = value if isinstance(value, str) else str(value)
    pattern = _CONTROLS if multiline else _CONTROLS_ONE_LINE
    text = pattern.sub(_marker, text)
    if "::" in text:
        text = _LINE_COMMAND.sub(r"\1\\x3a", text)
    if "##" in text:
        text = _ANYWHERE_COMMAND.sub(r"\\x23", text)
    return text


def sound_text(value: str) -> str:
    """A string from a file (a JSON `\\ud800` escape, text decoded with surrogateescape) as valid Unicode: every lone
    surrogate becomes U+FFFD, so it encodes as UTF-8 wherever it goes (a header, a URL, a shell word, a report)."""
    return value if value.isascii() else _SURROGATES.sub("\ufffd", value)


def utf8_bytes(value: str) -> bytes:
    """A body recorded as text, as the bytes it stood for: UTF-8, the bytes a recorder kept by surrogateescape
    (U+DC80..U+DCFF) as those bytes, any other lone surrogate as U+FFFD (no byte sequence is what it means)."""
    try:
        return value.encode("utf-8", errors="surrogateescape")
    except UnicodeEncodeError:
        return _NOT_ESCAPED_BYTES.sub("\ufffd", value).encode("utf-8", errors="surrogateescape")


def clean_bytes(content: bytes, *, multiline: bool = True) -> str:
    """Bytes from outside as clean text (invalid UTF-8 replaced, controls made visible)."""
    return clean_text(content.decode("utf-8", errors="replace"), multiline=multiline)


def clean_data(value: Any, *, multiline_keys: Collection[str] = MULTILINE_KEYS, _key: str = "") -> Any:
    """A JSON-like structure with every string (keys too) cleaned; values under `multiline_keys` keep newlines."""
    if isinstance(value, str):
        return clean_text(value, multiline=_key in multiline_keys)
    if isinstance(value, list):
        return [clean_data(item, multiline_keys=multiline_keys, _key=_key) for item in value]
    if isinstance(value, dict):
        return {clean_text(key): clean_data(item, multiline_keys=multiline_keys, _key=str(key)) for key, item in value.items()}
    return value


def nesting_depth(value: Any, limit: int) -> int:
    """How deep a parsed JSON value nests, stopping once past `limit` (iteratively: hostile input cannot exhaust the stack)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        if deepest > limit:
            return deepest
        if isinstance(node, dict):
            stack.extend((child, depth + 1) for child in node.values())
        elif isinstance(node, list):
            stack.extend((child, depth + 1) for child in node)
    return deepest


def read_bounded(path: str | Path, limit: int = MAX_INPUT_BYTES) -> bytes:
    """The bytes of a regular file of at most `limit` bytes (not a FIFO, a device or a directory)."""
    shown = clean_text(path)
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer (it is refused just below)
        with open(os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC), "rb") as handle:
            mode = os.fstat(handle.fileno()).st_mode
            if not stat.S_ISREG(mode):
                raise ConfigError(f"{shown}: {'is a directory' if stat.S_ISDIR(mode) else 'not a regular file'}")
            chunks, size = [], 0
            while size <= limit and (chunk := handle.read(min(1 << 20, limit + 1 - size))):
                chunks.append(chunk)  # in pieces: read(limit) would allocate the whole cap up front
                size += len(chunk)
            raw = b"".join(chunks)
    except FileNotFoundError:
        raise ConfigError(f"{shown}: no such file") from None
    except OSError as exc:
        raise ConfigError(f"{shown}: cannot read: {exc.strerror or type(exc).__name__}") from None
    if len(raw) > limit:
        raise ConfigError(f"{shown}: larger than {limit:,} bytes; refused")
    return raw
