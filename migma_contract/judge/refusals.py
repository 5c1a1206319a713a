"""What in a request HTTP lets a server refuse with a status of its own (RFC 9110 §12, §13, §15).

A send may carry a feature the server does not support or cannot satisfy; RFC 9110 names the answer for each: 415 for a
content coding it does not decode (§8.4, §15.5.16), 406 for proactive negotiation it cannot satisfy (§12.5, §15.5.7:
an Accept excluding application/json, an Accept-Encoding excluding identity, an Accept-Charset excluding UTF-8, an
Accept-Language excluding English), 417 for an expectation other than 100-continue (§10.1.1), 412 for a precondition
(§13.1: If-Match, If-None-Match, If-Unmodified-Since; §13.2.1: evaluated on a POST), 411 for a request without a
Content-Length (§15.5.12). `refusals` lists those a request carries, each with the status it may be refused with; the
one judge (`judge.verdict`), which the proxy, the middleware, `judge` and the check share, leaves that status (and the
rules it touches) unjudged for that exchange. A Content-Type other than JSON's (415 too) is the judge's media doubt.

A field given more than once is read each way a server may read it (`_readings`): its first field (Starlette's
`request.headers[name]`, Go's `Header.Get`, Java's `getHeader`), its last, and all joined (RFC 9110 §5.3); a refusal any
reading allows is listed. No Content-Length is read as such only where the head shows the framing the wire carried
(`framing_shown`), or where nothing says the body's length (a Transfer-Encoding, a body not kept).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import NamedTuple

from migma_contract.core.fields import trimmed, values_of
from migma_contract.core.untrusted import clean_text

__all__ = ["Refusal", "coded", "refusals"]

# The representation the send's answers are: JSON (RFC 8259: UTF-8), with no content coding, in English.
_JSON = ("application", "json")
_UTF8 = ("utf-8", "utf8")
_PRECONDITIONS = ("if-match", "if-none-match", "if-unmodified-since")


class Refusal(NamedTuple):
    status: int  # the status RFC 9110 names for refusing it
    why: str  # what the request carries, for a note: "its request's Accept ('application/xml') excludes application/json"


def _shown(value: str) -> str:
    return repr(clean_text(value[:60])) + ("…" if len(value) > 60 else "")


def coded(content_encoding: str | None) -> bool:
    """Whether a Content-Encoding names a content coding (anything but none, empty or identity): whether the server
    decodes request bodies does not show, and one that does not may answer 415 (RFC 9110 §8.4)."""
    return content_encoding is not None and trimmed(content_encoding).lower() not in ("", "identity")


def _weighted(value: str) -> list[tuple[str, list[str], float]] | None:
    """The members of an Accept-like field: (the range or token, lower case; its other parameters; its q), or None when
    a q cannot be read (a server that cannot read the field may refuse it). Read leniently, as Spring reads `q=.2`."""
    members: list[tuple[str, list[str], float]] = []
    for member in values_of(value):
        if not member:
            continue
        head, *parameters = member.split(";")
        weight, others = 1.0, []
        for parameter in parameters:
            name, _, given = parameter.partition("=")
            if trimmed(name).lower() == "q":
                try:
                    weight = float(trimmed(given))
                except ValueError:
                    return None
                if not 0 <= weight <= 1:
                    return None
            elif trimmed(parameter):
                others.append(trimmed(parameter).lower().replace(" ", ""))
        members.append((trimmed(head).lower(), others, weight))
    return members


def _accepts_json(value: str) -> bool | None:
    """Whether an Accept admits application/json (RFC 9110 §12.5.1: the most specific range matching it decides;
    `*` alone is read as `*/*`, as Java clients send it); None: a range cannot be read."""
    members = _weighted(value)
    if members is None:
        return None
    best, weight = -1, 0.0
    for media, parameters, q in members:
        kind, slash, sub = ("*/*" if media == "*" else media).partition("/")
        if not slash or not kind or not sub:
            return None
        if (kind, sub) == _JSON:
            if parameters and any(p.replace('"', "") not in ("charset=utf-8", "charset=utf8") for p in parameters):
                continue  # a range asking for another JSON (`version=2`, another charset) does not match the answers
            rank = 3 if parameters else 2
        elif (kind, sub) == (_JSON[0], "*"):
            rank = 1
        elif (kind, sub) == ("*", "*"):
            rank = 0
        else:
            continue
        if rank > best or (rank == best and q > weight):
            best, weight = rank, q
    return weight > 0


def _admits(value: str, wanted: tuple[str, ...], *, default: bool) -> bool | None:
    """Whether an Accept-Encoding or Accept-Charset admits one of `wanted`: its own member's q, else `*`'s, else
    `default` (identity is acceptable unless excluded, §12.5.3; a charset not listed is not, §12.5.2); None: unreadable."""
    members = _weighted(value)
    if members is None:
        return None
    own = [q for token, _, q in members if token in wanted]
    if own:
        return max(own) > 0
    star = [q for token, _, q in members if token == "*"]
    return max(star) > 0 if star else default


def _admits_english(value: str) -> bool | None:
    """Whether an Accept-Language admits the answers' English: a range `en` or `en-*` (the longest decides), else `*`."""
    members = _weighted(value)
    if members is None:
        return None
    english = [(len(tag), q) for tag, _, q in members if tag == "en" or tag.startswith("en-")]
    if english:
        return max(english)[1] > 0
    star = [q for tag, _, q in members if tag == "*"]
    return bool(star) and max(star) > 0


def _readings(name: str, headers: Mapping[str, str], given: Mapping[str, Sequence[str]]) -> list[tuple[str, str]]:
    """Each value a server may read a field as, with how it read it: the field's value; for a field given more than
    once (`given`: its values in order), its first (Starlette's `headers[name]`, Go's `Header.Get`, Java's
    `getHeader`), its last and all of them joined (RFC 9110 §5.3), each once."""
    value = headers.get(name)
    if value is None:
        return []
    values = given.get(name)
    if not values or len(values) < 2:
        return [(value, "")]
    readings: list[tuple[str, str]] = []
    for reading, how in ((trimmed(values[0]), "first"), (trimmed(values[-1]), "last"), (value, "joined")):
        if all(reading != seen for seen, _ in readings):
            readings.append((reading, how))
    return readings


def _read_as(name: str, how: str, count: int) -> str:
    spelled = "-".join(part.capitalize() for part in name.split("-"))
    if not how:
        return f"its request's {spelled}"
    if how == "joined":
        return f"its request's {spelled}, given {count} times and read joined"
    return (f"its request's {spelled}, given {count} times and read as its {how} field"
            + (" (as Starlette's headers[...], Go's Header.Get and Java's getHeader read it)" if how == "first" else ""))


def refusals(headers: Mapping[str, str], given: Mapping[str, Sequence[str]] | None = None, *,
             framing_shown: bool = True, body_size: int | None = None) -> Iterator[Refusal]:
    """Each feature of a request (its headers, names in lower case, repeated ones joined) that HTTP lets a server
    refuse with a status of its own, with that status.

    `given`: each field the request gives more than once, its values in order (a way in holding the fields as a list
    knows): a field read either way a server may read it (its first, its last, all joined: `_readings`) is refusable
    when any of those readings is. `framing_shown`: the head holds the framing headers the wire carried (a proxy, a
    middleware, a recorder writing the head as sent); where it may not (a recorder keeping only the caller's headers:
    vcrpy's aiohttp stub, a browser's provisional headers), a request whose body's length is known (`body_size`) is
    not read as one "without Content-Length" (its client framed it; a 411 to it is judged)."""
    given = given or {}
    for coding, how in _readings("content-encoding", headers, given):
        if coded(coding):
            read = _read_as("content-encoding", how, len(given.get("content-encoding", ())))
            yield Refusal(415, f"{read} names a content coding ({_shown(coding)}), which a server that does not decode "
                               "request bodies refuses 415 (RFC 9110 §8.4, §15.5.16)")
            break
    negotiated = (
        ("accept", _accepts_json, "application/json"),
        ("accept-encoding", lambda v: _admits(v, ("identity",), default=True), "an answer without a content coding"),
        ("accept-charset", lambda v: _admits(v, _UTF8, default=False), "UTF-8"),
        ("accept-language", _admits_english, "the answers' English"),
    )
    for name, admits, what in negotiated:
        for value, how in _readings(name, headers, given):
            if not trimmed(value):  # absent or empty: anything goes (identity only, for Accept-Encoding)
                continue
            admitted = admits(value)
            if not admitted:
                said = "cannot be read" if admitted is None else f"excludes {what}"
                read = _read_as(name, how, len(given.get(name, ())))
                yield Refusal(406, f"{read} ({_shown(value)}) {said}, which a server may refuse 406 (RFC 9110 §12.5, "
                                   "§15.5.7)")
                break
    for expect, how in _readings("expect", headers, given):
        if trimmed(expect).lower() != "100-continue":
            read = _read_as("expect", how, len(given.get("expect", ())))
            yield Refusal(417, f"{read} is {_shown(expect)}, which a server may refuse 417 (RFC 9110 §10.1.1)")
            break
    present = [name for name in _PRECONDITIONS if name in headers]
    if present:
        spelled = " and ".join("-".join(part.capitalize() for part in name.split("-")) for name in present)
        yield Refusal(412, f"its request carries a precondition ({spelled}), which a server evaluates on a POST and may "
                           "answer 412 (RFC 9110 §13.1, §13.2.1)")
    if "content-length" not in headers and (framing_shown or body_size is None or "transfer-encoding" in headers):
        yield Refusal(411, "its request has no Content-Length, which a server may refuse 411 (RFC 9110 §15.5.12)")
