"""HTTP header fields as the judge reads them (RFC 9110 §5), the same for every way in.

- A value is trimmed of optional whitespace only: SP and HTAB (`OWS`, RFC 9110 §5.5/§5.6.3),
  never `str.strip()`'s Unicode whitespace or control characters. `application/json\\xa0` is no
  `application/json`: an HTTP parser does not read it as one, so neither does the judge.
- A field given more than once is one value, joined with ", " (RFC 9110 §5.3), whoever
  collected the fields (`joined`): no way in keeps the first or the last and hides the other.
- A singleton field (`Content-Type`) given twice with different values is a conflict a reader
  cannot settle (`values_of` shows it); its list siblings (`Content-Encoding`) are read whole.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

__all__ = ["OWS", "joined", "trimmed", "values_of"]

OWS = " \t"  # RFC 9110 §5.6.3: the only whitespace around a field value and its list members
# one member of a comma-separated field: quoted strings (which may hold commas) kept whole
_MEMBER = re.compile(r'(?:[^,"]|"(?:[^"\\]|\\.)*"?)+')


def trimmed(value: str) -> str:
    """A field value (or a part of one) without its optional whitespace: SP and HTAB, nothing else."""
    return value.strip(OWS)


def joined(pairs: Mapping[str, str] | Iterable[tuple[str, str]]) -> dict[str, str]:
    """Header fields with lower-cased names; a repeated field's values joined with ", " (RFC 9110 §5.3).

    Linear in the headers' size: each field's values are joined once (joining them one by one copies the
    value so far for every repetition, and nine thousand repetitions of a 64 KB value took hours).
    """
    items = pairs if type(pairs) is list else pairs.items() if isinstance(pairs, Mapping) else list(pairs)  # (a list first: no ABC check)
    once: dict[str, str] = {}
    for name, value in items:  # most header lists name each field once: one pass, no lists
        key = name.lower()
        if key in once:
            break
        once[key] = value
    else:
        return once
    merged: dict[str, list[str]] = {}
    for name, value in items:
        merged.setdefault(name.lower(), []).append(value)
    return {key: values[0] if len(values) == 1 else ", ".join(values) for key, values in merged.items()}


def values_of(value: str) -> list[str]:
    """The distinct values a singleton field's (joined) value holds, each trimmed, in order: one for a field given
    once (or repeated with the same value), more for a conflict (`Content-Type: application/json` and `text/html`).
    Commas inside a quoted parameter (`charset="a,b"`) do not separate."""
    if "," not in value:
        return [trimmed(value)]
    distinct: dict[str, str] = {}  # compared without case (a media type's and a charset's case mean nothing)
    for member in _MEMBER.findall(value):
        if member := trimmed(member):
            distinct.setdefault(member.lower(), member)
    return list(distinct.values()) or [""]
