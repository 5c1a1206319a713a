"""The ways a request asks a framework to treat it as another method: one list, read alike by the proxy and the judge.

A POST may ask for another method by a method-override header (ASP.NET Core's HttpMethodOverride, Express's
method-override, Spring's and Symfony's filters: `METHOD_OVERRIDES`) or by a `_method` parameter (Symfony, Laravel,
Rails: in the query, a form field, urlencoded or multipart, and Laravel's JSON member). `asked_methods` yields every
method a request names by any of them; the proxy refuses an echoing one (TRACE), the judge leaves the status of a send
asking for another method unjudged (a server honouring it answers as for that method, a 405), and `route_of` reads the
headers to tell a POST by another name. A carrier added here is read by all three.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from typing import Final
from urllib.parse import unquote_plus

__all__ = ["METHOD_OVERRIDES", "OVERRIDE_PARAMETER", "asked_methods"]

# Headers by which a client asks a framework to treat a request as another method.
METHOD_OVERRIDES: Final = frozenset({"x-http-method-override", "x-http-method", "x-method-override"})
_NAMES: frozenset[str | bytes] = METHOD_OVERRIDES | {name.encode("ascii") for name in METHOD_OVERRIDES}
# The parameter frameworks read as the method (query, form field, JSON member), its name as PHP reads it.
OVERRIDE_PARAMETER: Final = "_method"
_PHP_NAME = str.maketrans({".": "_", " ": "_", "[": "_"})  # PHP turns these into `_` in a parameter's name
# A JSON string that may decode to `_method` in any case, each character plain or as a \u escape (of either case)
_JSON_NAME = re.compile(rb'"(?:_|\\u005f)(?:m|\\u006d|\\u004d)(?:e|\\u0065|\\u0045)(?:t|\\u0074|\\u0054)'
                        rb'(?:h|\\u0068|\\u0048)(?:o|\\u006f|\\u004f)(?:d|\\u0064|\\u0044)"', re.IGNORECASE)
_BOUNDARY = re.compile(r'boundary\s*=\s*(?:"([^"]{1,200})"|([^;,\s]{1,200}))', re.IGNORECASE)
_PART_NAME = re.compile(rb'\bname\s*=\s*(?:"([^"]*)"|([^;\s]*))', re.IGNORECASE)

Headers = Iterable[tuple[str, str]] | Iterable[tuple[bytes, bytes]]


def _text(value: str | bytes) -> str:
    return value.decode("latin-1") if isinstance(value, bytes) else value


def _tokens(value: str) -> Iterator[str]:
    """The methods one carrier's value names, as frameworks read it: every comma-separated token (Express takes the
    first, others the whole value), its `;` parameters dropped, trimmed (the caller compares them in upper case)."""
    for token in value.split(","):
        yield token.split(";", 1)[0].strip(" \t\r\n")


def _named(name: str) -> bool:
    """Whether a parameter's name reads as `_method` to some framework (PHP decodes it, drops leading spaces and turns
    `.`, space and `[` into `_`: `%5Fmethod`, `.method`; compared in any case)."""
    return unquote_plus(name).lstrip(" ").translate(_PHP_NAME).lower() == OVERRIDE_PARAMETER


def _pairs(text: str) -> Iterator[str]:
    """The `_method` values of an urlencoded text (a query, a form body): `&` or `;` separated."""
    if "%" not in text and "method" not in text.lower():  # the common case, told without decoding
        return
    for pair in text.replace(";", "&").split("&"):
        name, _, value = pair.partition("=")
        if _named(name):
            yield unquote_plus(value)


def _media(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip(" \t").lower()


def _multipart(body: bytes, content_type: str) -> Iterator[str]:
    """The `_method` fields of a multipart/form-data body (PHP, Rack read its fields as parameters)."""
    found = _BOUNDARY.search(content_type)
    if found is None:
        return
    boundary = (found.group(1) or found.group(2)).encode("latin-1", errors="replace")
    for part in body.split(b"--" + boundary)[1:]:
        head, separator, value = part.partition(b"\r\n\r\n")
        if not separator:
            head, separator, value = part.partition(b"\n\n")
        for line in head.splitlines():
            name = _PART_NAME.search(line) if line.lower().startswith(b"content-disposition") else None
            if name is not None and _named((name.group(1) if name.group(1) is not None else name.group(2)).decode("latin-1")):
                yield value.removesuffix(b"\r\n").removesuffix(b"\n").decode("latin-1")


def _json_members(body: bytes) -> Iterator[str]:
    """A JSON object body's top-level `_method` members, in any case (Laravel reads them)."""
    if _JSON_NAME.search(body) is None:
        return
    try:
        parsed = json.loads(body)
    except (ValueError, RecursionError):
        return
    if isinstance(parsed, dict):
        yield from (value if isinstance(value, str) else json.dumps(value)
                    for key, value in parsed.items() if key.lower() == OVERRIDE_PARAMETER)


def asked_methods(headers: Headers, target: str, body: bytes | None = None, *, content_type: str | None = None,
                  headers_too: bool = True) -> Iterator[str]:
    """Every method a request names by an override carrier (the tokens of each, trimmed, as they came): a
    method-override header (`headers_too`), `_method` in the query (`target`'s), in a form body (urlencoded, also with
    no Content-Type as Rack reads one; multipart) and a JSON body's top-level member. `body`: None for a request whose
    body is not at hand (its query and headers are read)."""
    if headers_too:
        for name, value in headers:  # (cheap first: a server's names are lower case already, most not an override's)
            if name in _NAMES or (not (name.islower() and name.strip() == name)
                                  and _text(name).strip().lower() in METHOD_OVERRIDES):
                yield from _tokens(_text(value))
    for value in _pairs(target.partition("?")[2].partition("#")[0]):
        yield from _tokens(value)
    if not body:
        return
    media = _media(content_type)
    if media in ("", "application/x-www-form-urlencoded"):
        for value in _pairs(body.decode("latin-1")):
            yield from _tokens(value)
    elif media == "multipart/form-data" and content_type is not None:
        for value in _multipart(body, content_type):
            yield from _tokens(value)
    for value in _json_members(body):
        yield from _tokens(value)
