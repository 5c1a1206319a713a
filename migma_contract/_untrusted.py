"""Text from outside (server answers, files handed over) made safe to carry, once, where it enters.

Decoding replaces invalid UTF-8 and lone surrogates with U+FFFD; control characters
(C0, DEL, C1, and the bidirectional overrides that reorder what a reader sees) become
a visible `\\xNN` / `\\uNNNN` marker. Newlines and tabs survive only where a caller
asks for them (bodies shown in a <pre> block), never in one-line fields. Writers still
escape for their own format; this only guarantees no byte reaches them that could act
as a terminal, XML or layout control.
"""

from __future__ import annotations

import re

__all__ = ["clean_bytes", "clean_text"]

_BIDI = "\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c"
_CONTROLS = re.compile(f"[\x00-\x08\x0b-\x1f\x7f-\x9f{_BIDI}\ud800-\udfff\ufffe\uffff]")
_CONTROLS_ONE_LINE = re.compile(f"[\x00-\x1f\x7f-\x9f{_BIDI}\ud800-\udfff\ufffe\uffff]")


def _marker(match: re.Match[str]) -> str:
    ch = match.group()
    if "\ud800" <= ch <= "\udfff":
        return "\ufffd"
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def clean_text(value: object, *, multiline: bool = False) -> str:
    """`value` as text with every control character made visible (newlines kept if `multiline`)."""
    text = value if isinstance(value, str) else str(value)
    pattern = _CONTROLS if multiline else _CONTROLS_ONE_LINE
    return pattern.sub(_marker, text)


def clean_bytes(content: bytes, *, multiline: bool = True) -> str:
    """Bytes from outside as clean text (invalid UTF-8 replaced, controls made visible)."""
    return clean_text(content.decode("utf-8", errors="replace"), multiline=multiline)
