"""What in a request HTTP lets a server refuse with a status of its own (RFC 9110 §12, §13, §15).

A send may carry a feature the server does not support or cannot satisfy; RFC 9110 names the answer for each: 415 for a
content coding it does not decode (§8.4, §15.5.16), 406 for proactive negotiation it cannot satisfy (§12.5, §15.5.7:
an Accept excluding application/json, an Accept-Encoding excluding identity, an Accept-Charset excluding UTF-8, an
Accept-Language excluding English), 417 for an expectation other than 100-continue (§10.1.1), 412 for a precondition
(§13.1: If-Match, If-None-Match, If-Unmodified-Since; §13.2.1: evaluated on a POST), 411 for a request without a
Content-Length (§15.5.12). `refusals` lists those a request carries, each with the status it may be refused with; the
one judge (`judge.verdict`), which the proxy, the middleware, `judge` and the check share, leaves that status (and the
rules it touches) unjudged for that exchange. A Content-Type other than JSON's (415 too) is the judge's media doubt.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
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


def refusals(headers: Mapping[str, str]) -> Iterator[Refusal]:
    """Each feature of a request (its headers, names in lower case, repeated ones joined) that HTTP lets a server
    refuse with a status of its own, with that status."""
    if coded(coding := headers.get("content-encoding")):
        assert coding is not None
        yield Refusal(415, f"its request's body has a content coding (Content-Encoding {_shown(coding)}), which a server "
                           "that does not decode request bodies refuses 415 (RFC 9110 §8.4, §15.5.16)")
    negotiated = (
        ("accept", _accepts_json, "application/json"),
        ("accept-encoding", lambda v: _admits(v, ("identity",), default=True), "an answer without a content coding"),
        ("accept-charset", lambda v: _admits(v, _UTF8, default=False), "UTF-8"),
        ("accept-language", _admits_english, "the answers' English"),
    )
    for name, admits, what in negotiated:
        value = headers.get(name)
        if value is None or not trimmed(value):  # absent or empty: anything goes (identity only, for Accept-Encoding)
            continue
        admitted = admits(value)
        if not admitted:
            spelled = "-".join(part.capitalize() for part in name.split("-"))
            said = "cannot be read" if admitted is None else f"excludes {what}"
            yield Refusal(406, f"its request's {spelled} ({_shown(value)}) {said}, which a server may refuse 406 "
                               "(RFC 9110 §12.5, §15.5.7)")
    expect = headers.get("expect")
    if expect is not None and trimmed(expect).lower() != "100-continue":
        yield Refusal(417, f"its request carries Expect {_shown(expect)}, which a server may refuse 417 (RFC 9110 §10.1.1)")
    given = [name for name in _PRECONDITIONS if name in headers]
    if given:
        spelled = " and ".join("-".join(part.capitalize() for part in name.split("-")) for name in given)
        yield Refusal(412, f"its request carries a precondition ({spelled}), which a server evaluates on a POST and may "
                           "answer 412 (RFC 9110 §13.1, §13.2.1)")
    if "content-length" not in headers:
        yield Refusal(411, "its request has no Content-Length, which a server may refuse 411 (RFC 9110 §15.5.12)")
