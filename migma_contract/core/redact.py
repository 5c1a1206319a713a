"""Keeping API keys out of everything the toolkit writes.

Every report, log line, curl line and error message passes through a `Redactor` that
knows the run's secrets and masks them in every encoding a server or a library may
have put them in: raw; escaped character by character (JSON `\\/` and `\\u006b`, Python
`repr` `\\r` and `\\x0d`, percent-encoding `%2F`, HTML entities, in any mix and case);
and base64 (standard or URL-safe, whatever precedes the key inside the encoded text,
so `Basic base64(api:KEY)` and `base64(user:KEY)` are covered alike); and hexadecimal, unbroken or a dump of
its bytes with separators or prefixes (`6d:63`, `6d63 5f74`, `0x6d 0x63`). The values of
credential headers are masked whatever they hold.

Another process's secrets (its state, merged into one report: `reports.processes`) come as keyed digests
(`Redactor.digests`, `Redactor.add_digests`), never as the secrets: the same forms, searched by the digest of each
window of the text (see `_DigestedSecrets`).

Redact before cutting: a text cut first may keep most of a key that the whole text
would have shown, and no pattern can recognise it any more. A text that arrived cut
(a body read up to its cap) can end in the start of a key: `text(..., cut=True)`
masks that too.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import functools
import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import fields, is_dataclass, replace
from enum import Enum
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

from migma_contract.core.untrusted import UNSEEN_CLASS

__all__ = ["QUOTES", "REDACTED", "SENSITIVE_HEADERS", "SHELL_FIELDS", "SHELL_WITHHELD", "Redactor", "Word", "cookie_credential", "credential_name", "mask_shapes", "secrets_by_shape", "sensitive_header", "strip_credentials", "unquoted", "url_credentials"]

REDACTED = "[REDACTED]"
SHELL_FIELDS = frozenset({"curl"})  # fields holding a shell line: redacted all or nothing (`Redactor.shell_line`)
SHELL_WITHHELD = "# curl line withheld: masking a credential in it would have changed what it runs"
_UNSAFE_LINE = re.compile(r"[\x00-\x1f\x7f]")  # a line break or a control: never in a line the toolkit built
SENSITIVE_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key", "api-key"})
MIN_SECRET = 4  # shorter values would mask ordinary words
_HEX_RUN = re.compile(f"[0-9A-Fa-f]{{{2 * MIN_SECRET}}}")  # where a secret's hex form may stand
# A hex dump of bytes with separators (pass T4, F3): `bytes.hex(' ')` / `hex(':')` (Wireshark's colons, a debug dump),
# `xxd`-style pairs (`6d63 5f74`), `hexdump -C`'s double space mid-line, `0x6d 0x63`, `0x6d, 0x63` (a C array), `\x6d`;
# at least as many bytes as the shortest secret. Each byte is two digits (`_DUMP_BYTE`), optionally prefixed, and up to
# two separator characters stand between bytes: every repeat consumes characters and is bounded, so a pass is linear.
_DUMP_BYTE = re.compile(r"(?:0[xX]|\\[xX])?([0-9A-Fa-f]{2})")
_HEX_DUMP = re.compile(rf"(?:(?:0[xX]|\\[xX])?[0-9A-Fa-f]{{2}}[ ,:.\-_]{{0,2}}){{{MIN_SECRET},}}")
_DUMP_SKIP = re.compile(r"0[xX]|\\[xX]|[^0-9A-Fa-f]")  # in a dump: what is no digit of its bytes
# Longer than any real key (API keys, session ids and signed tokens run to a few hundred characters): a longer
# secret is found by a literal search in the text as given, not compiled into the patterns of every encoding,
# whose cost grows with each character learned.
LONGEST_KEY = 512
# What may wrap a secret as it was written down (a .env read literally by `docker run --env-file`, a recorded
# `Bearer "k_..."`, a placeholder's `<...>`) and a server drop when it echoes it: a secret is learned without them too.
QUOTES = "\"'`<>[]()"


def unquoted(secret: str) -> str:
    """`secret` without the quote and bracket characters (`QUOTES`) around it."""
    return secret.strip(QUOTES)


class Word(str):
    """A secret masked only as a whole token, never inside a longer word: a URL's password (or lone user name) that is
    short or a word (`sent`, `admin`), which masked wherever it stands would garble ordinary words (`pre[REDACTED]`).
    Its hexadecimal and base64 forms are not searched (the Basic pair it is sent in is a secret of its own)."""

    __slots__ = ()


_WORD_EDGE = "A-Za-z0-9"


def _as_secret(value: str) -> str:
    """A URL credential as learned: a `Word` when shorter than 8 characters or letters only, else as is."""
    return Word(value) if len(value) < 8 or value.isalpha() else value
_MIN_CORE = 8  # shortest base64 core of a key matched inside longer base64 text
_BASE64_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/_-")
_ESCAPES = {"\n": "n", "\r": "r", "\t": "t", "\b": "b", "\f": "f"}
_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&apos;"}


def strip_credentials(url: str) -> str:
    """The URL without its userinfo (`user:password@`) and without query values that look like keys, whatever its shape.

    A URL whose authority urllib reads as holding the userinfo loses it (`https://staging`). Any other text that holds
    one, as a mistyped setting does (no scheme: `tok_…@staging`; `https//u:pw@host`; `http:/u:pw@host`; a password
    holding an unencoded `/`, `?` or `#`), shows `[REDACTED]` for everything before the last `@` of the part that looks
    like an authority (`_userinfo_end`), after the scheme and its slashes."""
    at = _userinfo_end(url)
    if at < 0:
        return _query_masked(url)
    scheme = _SCHEME.match(url)
    start = scheme.end() if scheme else 0
    try:
        netloc = urlsplit(url).netloc
    except ValueError:
        netloc = ""
    if "@" in netloc and netloc.rsplit("@", 1)[0] == url[start:at]:  # the userinfo urllib reads: dropped
        return _query_masked(url[:start] + url[at + 1:])
    return url[:start] + REDACTED + "@" + _query_masked(url[at + 1:])


_SCHEME = re.compile(r"(?:[A-Za-z][A-Za-z0-9+.\-]*:)?[/\\]+")  # a scheme only before a slash (`u:pw@h` has none)
_QUERY_START = re.compile(r"[?#]")
_PARAMETER = re.compile(r"[=&]")


def _userinfo_end(url: str) -> int:
    """Where the userinfo of a URL-looking text ends (its last `@` before the query's first parameter), or -1.

    Past a `?` or `#` an `@` still ends a userinfo until a `=` or `&` starts the parameters (`u:p?w@host` is a password
    holding `?`; `?to=a@b.example` is a query)."""
    query = _QUERY_START.search(url)
    end = len(url)
    if query is not None:
        parameter = _PARAMETER.search(url, query.start())
        end = parameter.start() if parameter is not None else end
    return url.rfind("@", 0, end)


# A URL's userinfo wherever a URL stands in text (a Location, a Referer, a link in a body, JSON's `https:\/\/`): what
# lies between `://` and the `@` before the host. Anchored at the `:` of `://` (no scheme read back): linear.
_USERINFO = re.compile(r":(?:\\?/){2}([^\s/\\?#@\"'<>]{1,1024})@")


def url_credentials(text: str) -> list[str]:
    """The credentials URLs' userinfo carries in `text` (`https://user:password@host`): the one reading of them that every
    way in learns (a judge from each exchange's URL, headers and body; the proxy from its upstream; a run from its URLs).

    `text` a URL as a whole: the userinfo `strip_credentials` hides from it, whatever its shape; and in any text, each
    `scheme://userinfo@` in it. Each as written and percent-decoded (a client sends it decoded, as a Basic pair): the
    pair and the password, or the user name when there is no password (`https://<token>@staging` carries its secret
    there); one shorter than 8 characters or made of letters only as a `Word` (masked as a whole token only).
    """
    if "@" not in text:
        return []
    found = [match.group(1) for match in _USERINFO.finditer(text)] if ":/" in text or ":\\/" in text else []  # (`_USERINFO`)
    scheme = _SCHEME.match(text)
    # one URL (a scheme, or `//` before an authority; not a path): its userinfo as strip_credentials reads it
    if scheme is not None and len(scheme.group()) > 1 and not any(space in text for space in " \t\r\n"):
        at = _userinfo_end(text)
        if at > scheme.end():
            found.append(text[scheme.end():at])
    parts: dict[str, None] = {}
    for userinfo in found:
        for form in (userinfo, unquote(userinfo)):
            _, colon, password = form.partition(":")
            # the user name beside a password is no secret (`data`, `admin`: masking it garbled every report); alone it
            # may be a token. A short or word-like one is masked as a whole token only (`Word`)
            parts.update(dict.fromkeys(map(_as_secret, (form, password) if colon else (form,))))
    return [part for part in parts if part]


def _query_masked(url: str) -> str:
    """`url` with the query values that look like keys masked."""
    try:
        parts = urlsplit(url)
    except ValueError:  # no URL urllib reads (an unbalanced `[`): masked as text
        return mask_shapes(url)
    query = mask_shapes(parts.query) if "=" in parts.query else parts.query
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


# Escapes a server or a library may have written a key's characters in: JSON and JavaScript
# (`\\u006b`, `\\/`, `\\"`), Python repr (`\\x0d`, `\\r`), percent-encoding, HTML/XML
# character references and entities, each possibly escaped again (`\\\\u006b`).
_ESCAPE = re.compile(
    r"\\+u[dD][89abAB][0-9a-fA-F]{2}\\+u[dD][c-fC-F][0-9a-fA-F]{2}"  # a JSON surrogate pair: one character
    r"|\\+u[0-9a-fA-F]{4}|\\+U[0-9a-fA-F]{8}"
    r"|(?:\\+x[0-9a-fA-F]{2})+|(?:%(?:25)*[0-9a-fA-F]{2})+"  # bytes, in runs (a character may take several);
    # `%252B`: percent-encoded again (a key in a URL inside a URL), read as the byte it stands for
    r"|&#[xX]0*[0-9a-fA-F]{1,6};?|&#0*[0-9]{1,7};?|&(?:amp|lt|gt|quot|apos);"
    r"|\\+[nrtbf]|\\+[^\w\s]"
    f"|[{UNSEEN_CLASS}]+"  # characters no one sees (as `clean_text` counts them): a key split by them reads whole
    r"|(?<=[A-Za-z0-9+/])\r?\n(?=[A-Za-z0-9+/])"  # a line break inside base64 wrapped at 64 or 76 columns (MIME, PEM)
)
_INVISIBLE = re.compile(f"[{UNSEEN_CLASS}]")
_HEX_BYTE = re.compile(r"[0-9a-fA-F]{2}")
_AGAIN = re.compile(r"%(?:25)+(?=[0-9a-fA-F]{2})")
_SIMPLE = {"n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f"}
_NAMED = {"&amp;": "&", "&lt;": "<", "&gt;": ">", "&quot;": '"', "&apos;": "'"}


def _unescape(token: str) -> str:
    """The character(s) one escape stands for (nothing, for characters no one sees)."""
    if _INVISIBLE.match(token) or token[:1] in ("\r", "\n"):
        return ""
    stripped = token.lstrip("\\")
    if token.startswith("&"):
        if token in _NAMED:
            return _NAMED[token]
        digits = token.strip("&#;")
        code = int(digits[1:], 16) if digits[:1] in "xX" else int(digits)
        return chr(code) if code <= 0x10FFFF else token
    if token.startswith("%") or stripped[:1] == "x":
        token = _AGAIN.sub("%", token)  # `%25` before a byte: the same byte, percent-encoded once more
        raw = bytes(int(pair, 16) for pair in _HEX_BYTE.findall(token.replace("\\x", "").replace("%", "")))
        return raw.decode("utf-8", errors="replace")
    if stripped[:1] == "u" and "u" in stripped[1:]:  # a surrogate pair
        high, low = (int(part[-4:], 16) for part in stripped.split("\\")[0::1] if part)
        return chr(0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00))
    if stripped[:1] in ("u", "U"):
        code = int(stripped[1:], 16)
        return chr(code) if code <= 0x10FFFF and not 0xD800 <= code <= 0xDFFF else token
    return _SIMPLE.get(stripped, stripped)


def _decoded(text: str) -> tuple[str, list[int], list[tuple[int, int, bool]]]:
    """`text` with every escape decoded, and how to map a decoded position back (piece offsets and spans).

    Each piece is a stretch of plain text (mapped character for character) or one escape
    (mapped to the whole escape): a key found in the decoded text is masked in the text as
    given, whatever mix of escapes wrote it.
    """
    out: list[str] = []
    offsets: list[int] = []
    pieces: list[tuple[int, int, bool]] = []
    size = done = 0
    for match in _ESCAPE.finditer(text):
        start, end = match.span()
        if start > done:
            offsets.append(size)
            pieces.append((done, start, True))
            out.append(text[done:start])
            size += start - done
        decoded = _unescape(match.group())
        offsets.append(size)
        pieces.append((start, end, len(decoded) == end - start))
        out.append(decoded)
        size += len(decoded)
        done = end
    if done < len(text):
        offsets.append(size)
        pieces.append((done, len(text), True))
        out.append(text[done:])
    return "".join(out), offsets, pieces


def _original_span(offsets: list[int], pieces: list[tuple[int, int, bool]], start: int, end: int) -> tuple[int, int]:
    first = bisect.bisect_right(offsets, start) - 1
    last = bisect.bisect_right(offsets, end - 1) - 1
    head_start, _, head_plain = pieces[first]
    tail_start, tail_end, tail_plain = pieces[last]
    return (head_start + (start - offsets[first]) if head_plain else head_start,
            tail_start + (end - offsets[last]) if tail_plain else tail_end)


def _base64_cores(secret: str) -> set[str]:
    """The stretches of base64 text that can only come from `secret`, at each byte alignment.

    Encoding `prefix + secret` gives characters that depend on the prefix (the first
    group) and on what follows (the last, partial group); the middle depends on the
    secret alone and is the same whatever the prefix's length modulo 3 is. A core found
    inside any encoding is masked with the characters next to it (`_base64_span`), so the
    whole credentials the toolkit builds (`base64(api:KEY)`) are listed only for a secret
    too short to have a core at every alignment.
    """
    raw = secret.encode("utf-8", errors="surrogatepass")
    cores: set[str] = set()
    for pad in range(3):
        encoded = base64.b64encode(b"\0" * pad + raw).decode()
        full_groups = (pad + len(raw)) // 3
        start = {0: 0, 1: 2, 2: 3}[pad]  # characters still holding bits of the prefix
        core = encoded[start : 4 * full_groups]
        if len(core) >= _MIN_CORE:
            cores.add(core)
    if len(cores) < 3:
        for prefix in ("", "api:", ":"):  # whole credentials the toolkit itself builds
            cores.add(base64.b64encode(f"{prefix}{secret}".encode(errors="surrogatepass")).decode())
    return cores


_EITHER_ALPHABET = str.maketrans({"+": "[+\\-]", "/": "[/_]"})


def _base64_span(text: str, start: int, end: int) -> tuple[int, int]:
    """A base64 core (at `start:end`) with the characters next to it, which still hold a few bits of the key."""
    core_end = end
    if start > 0 and text[start - 1] in _BASE64_CHARS:
        start -= 1
    for _ in range(3):
        if end < len(text) and text[end] in _BASE64_CHARS:
            end += 1
    while end < len(text) and text[end] == "=" and end - core_end < 5:
        end += 1
    return start, end


def _base64_pattern(core: str) -> str:
    """A core as a pattern that matches it in the standard and the URL-safe alphabet alike (one alternative, not two)."""
    return core.translate(_EITHER_ALPHABET)  # base64's other characters are letters and digits: nothing to escape


def _compile(pattern: str) -> re.Pattern[str]:
    """The one place the redactor compiles a pattern (its cost is what the bounds below keep linear)."""
    return re.compile(pattern)


def _alternation(patterns: Iterable[str]) -> re.Pattern[str] | None:
    listed = list(patterns)
    return _compile("|".join(listed)) if listed else None


def _hex_dumps(text: str) -> tuple[str, list[int], list[int]] | None:
    """The hex dumps with separators or prefixes in `text` (`_HEX_DUMP`) as their digits alone, each dump's after a `/`
    (no match spans two), with where each starts in those digits and in `text`; None when there is none. An unbroken
    run is left to the plain hex search. Found by C-speed passes: the digits are walked (`_dump_span`) only for a match."""
    pieces: list[str] = []
    offsets: list[int] = []
    starts: list[int] = []
    length = 0
    for region in _HEX_DUMP.finditer(text):
        found = region.group()
        digits = _DUMP_SKIP.sub("", found)
        if len(digits) == len(found):
            continue
        pieces.append(digits)
        offsets.append(length)
        starts.append(region.start())
        length += len(digits) + 1
    return ("/".join(pieces), offsets, starts) if pieces else None


def _dump_span(text: str, dumps: tuple[str, list[int], list[int]], start: int, end: int) -> tuple[int, int]:
    """Where the digits `start`..`end` of `dumps` stand in `text`, from the first one's byte prefix to the last digit."""
    _, offsets, starts = dumps
    index = bisect.bisect_right(offsets, start) - 1
    first, last = start - offsets[index], end - offsets[index]  # the match's digits within its dump
    seen, position, span_start = 0, starts[index], starts[index]
    for unit in _DUMP_BYTE.finditer(text, starts[index]):
        for offset in (0, 1):
            if seen == first:
                span_start = unit.start() if offset == 0 else unit.start(1) + 1
            seen += 1
            if seen == last:
                return span_start, unit.start(1) + offset + 1
        position = unit.end()
    return span_start, position


class _Group:
    """Up to `GROUP` secrets and their patterns, each compiled when first needed after a change.

    A redactor's secrets are kept in groups so that a new secret costs the compiling of its
    own group, not of every secret known: a judge that meets a new key per request (150 in a
    HAR, any number through a middleware) builds each pattern a bounded number of times. The
    two patterns hold about four pattern characters per secret character (the plain forms in
    any case: a server may upper-case a key it echoes; and three base64 cores each matching
    both alphabets).
    """

    __slots__ = ("_any_case", "_base64", "_hex", "secrets")

    def __init__(self) -> None:
        self.secrets: list[str] = []
        self._forget()

    def _forget(self) -> None:
        self._any_case: re.Pattern[str] | bool | None = False  # False: not compiled since the last change
        self._base64: re.Pattern[str] | bool | None = False
        self._hex: re.Pattern[str] | bool | None = False

    def add(self, secret: str) -> None:
        self.secrets.append(secret)
        self._forget()

    def _literals(self) -> list[str]:
        forms = {(form, isinstance(secret, Word)) for secret in self.secrets
                 for form in (secret, secret.replace(" ", "+"))}  # `+`: a form-encoded space
        return [f"(?<![{_WORD_EDGE}]){re.escape(form)}(?![{_WORD_EDGE}])" if word else re.escape(form)
                for form, word in sorted(forms, key=lambda pair: len(pair[0]), reverse=True)]  # longest first

    def any_case(self) -> re.Pattern[str] | None:
        """The plain forms in any case, for the text as given and decoded (`%2f`, an upper-cased echo)."""
        if self._any_case is False:
            literal = self._literals()
            self._any_case = _alternation(["(?i:" + "|".join(literal) + ")"] if literal else [])
        return self._any_case if isinstance(self._any_case, re.Pattern) else None

    def hex(self) -> re.Pattern[str] | None:
        """The secrets' bytes in hexadecimal, in any case (a debug dump of a request): asked only of a text holding a
        run of hex digits as long as the shortest secret's, so most texts never compile it."""
        if self._hex is False:
            forms = sorted({secret.encode("utf-8", "surrogatepass").hex() for secret in self.secrets
                            if not isinstance(secret, Word)}, key=len, reverse=True)
            self._hex = _alternation(["(?i:" + "|".join(forms) + ")"] if forms else [])
        return self._hex if isinstance(self._hex, re.Pattern) else None

    def base64(self) -> re.Pattern[str] | None:
        if self._base64 is False:
            cores = sorted({core for secret in self.secrets if not isinstance(secret, Word) for core in _base64_cores(secret)},
                           key=len, reverse=True)
            self._base64 = _alternation(_base64_pattern(core) for core in cores)
        return self._base64 if isinstance(self._base64, re.Pattern) else None


GROUP = 32


# -- another process's secrets, as keyed digests ----------------------------------------------------------------------
# A process's state (`TrafficJudge.state`) is written to disk, and the secrets its redactor learned must not be, in any
# form that gives them back; yet the report merged from every process's state must mask them all, as one judge would.
# A state carries, for each secret, a keyed digest (BLAKE2b keyed with a random salt the state also carries) of the
# start of each form `_mask_known` searches for, with the form's length: the plain forms folded to lower case (searched
# in the text as given and with its escapes decoded), the bytes in hexadecimal (lower case), the base64 cores (standard
# alphabet: the text's URL-safe characters are read as standard ones), and a secret past `LONGEST_KEY` as given. A
# form's start (its "anchor") is the whole form up to `_ANCHOR` characters (24 of the secret's own, 48 hexadecimal
# digits, 32 base64 characters: 24 bytes), never a shorter prefix (digests of growing prefixes would give a secret back
# a character at a time); the rest of a longer form is not digested at all, and wherever its anchor is found the form's
# whole length is masked (so a text cut inside a key is masked too, if it shows the key's anchor). A secret a guess
# can find (a short password) can be found from its digest by guessing, as from any hash; a random key cannot.
# Searching costs one digest (~0.6 µs) per character of text, per salt (one per process), per distinct anchor length
# (one for keys of 24 characters or more; at most 21 for the plain forms); hexadecimal and base64 forms are searched
# only inside runs of their characters. The texts searched are a report's, which are bounded.
_DIGEST_SIZE = 12
_ANCHOR = {"plain": 24, "hex": 48, "base64": 32, "given": 24}
_MAX_FORM = 1 << 17  # characters of a form: no secret is longer (the judge remembers none past `LONGEST_KEY`)
_MAX_FORMS = 16  # forms of one secret (plain, with `+` for its spaces, hexadecimal, base64: at most 8)
_TO_STANDARD = str.maketrans("-_", "+/")
_HEX_RUNS = re.compile(r"[0-9A-Fa-f]{8,}")
_BASE64_RUNS = re.compile(r"[A-Za-z0-9+/_\-=]{8,}")  # (`=`: a short secret's whole credential is padded)


def _fold(text: str) -> str:
    """`text` in lower case, character for character (a character whose lower case is longer is kept)."""
    folded = text.lower()
    if len(folded) != len(text):
        folded = "".join(low if len(low := char.lower()) == 1 else char for char in text)
    return folded


def _forms(secret: str) -> list[tuple[str, str]]:
    """The forms of one secret `_mask_known` searches for, as the digests' search reads them (kind, form)."""
    if len(secret) > LONGEST_KEY:
        return [("given", secret)]
    forms = [("plain", _fold(form)) for form in dict.fromkeys((secret, secret.replace(" ", "+")))]
    forms.append(("hex", secret.encode("utf-8", "surrogatepass").hex()))
    forms += [("base64", core) for core in sorted(_base64_cores(secret))]
    return forms


def _encoded(text: str) -> memoryview:
    """Four bytes a character: a window of characters is a slice of bytes (what each digest reads)."""
    return memoryview(text.encode("utf-32-le", "surrogatepass"))


def _digest(salt: bytes, data: bytes | memoryview) -> bytes:
    return hashlib.blake2b(data, key=salt, digest_size=_DIGEST_SIZE).digest()


class _DigestedSecrets:
    """Secrets known only by keyed digests of their forms' anchors (other processes'), searched for in a text."""

    __slots__ = ("count", "tables")

    def __init__(self) -> None:
        # salt -> kind -> anchor's length -> anchor's digest -> the longest form's length with that anchor
        self.tables: dict[bytes, dict[str, dict[int, dict[bytes, int]]]] = {}
        self.count = 0

    def __bool__(self) -> bool:
        return bool(self.tables)

    def add(self, salt: bytes, credentials: list[Any]) -> int:
        """File the digests of `credentials` (each a list of `[kind, length, anchor's digest]`); raises ValueError, and
        files none, if any is not of that shape (a state no writer of this toolkit made)."""
        if not isinstance(salt, bytes) or not 8 <= len(salt) <= 64 or not isinstance(credentials, list):
            raise ValueError("credentials' digests of another shape")
        read: list[tuple[str, int, bytes]] = []
        for records in credentials:
            if not isinstance(records, list) or not 0 < len(records) <= _MAX_FORMS:
                raise ValueError("credentials' digests of another shape")
            for record in records:
                if not (isinstance(record, list) and len(record) == 3 and record[0] in _ANCHOR and type(record[1]) is int
                        and MIN_SECRET <= record[1] <= _MAX_FORM and isinstance(record[2], str) and len(record[2]) <= 32):
                    raise ValueError("credentials' digests of another shape")
                try:
                    digest = base64.urlsafe_b64decode(record[2] + "=" * (-len(record[2]) % 4))
                except (ValueError, binascii.Error):
                    raise ValueError("credentials' digests of another shape") from None
                if len(digest) != _DIGEST_SIZE:
                    raise ValueError("credentials' digests of another shape")
                read.append((record[0], record[1], digest))
        kinds = self.tables.setdefault(salt, {})
        for kind, length, digest in read:
            table = kinds.setdefault(kind, {}).setdefault(min(length, _ANCHOR[kind]), {})
            table[digest] = max(table.get(digest, 0), length)
        self.count += len(credentials)
        return len(credentials)

    def spans(self, text: str, decoded: tuple[str, list[int], list[tuple[int, int, bool]]] | None) -> list[tuple[int, int]]:
        """Where `text` holds a form of a digested secret (as given, or with its escapes decoded: `_decoded`)."""
        spans: list[tuple[int, int]] = []
        views: dict[str, list[tuple[str, memoryview, list[tuple[int, int]], bool]]] = {}
        for salt, kinds in self.tables.items():
            for kind, by_anchor in kinds.items():
                if kind not in views:
                    views[kind] = self._views(kind, text, decoded)
                for scanned, data, runs, mapped in views[kind]:
                    for start, end in self._found(salt, by_anchor, data, runs):
                        if mapped and decoded is not None:
                            spans.append(_original_span(decoded[1], decoded[2], start, end))
                        elif kind == "base64":
                            spans.append(_base64_span(scanned, start, end))
                        else:
                            spans.append((start, end))
        return spans

    @staticmethod
    def _views(kind: str, text: str, decoded: tuple[str, list[int], list[tuple[int, int, bool]]] | None
               ) -> list[tuple[str, memoryview, list[tuple[int, int]], bool]]:
        """The texts a kind of form is searched in: (text, its encoding, the runs searched, whether it is decoded)."""
        plain_decoded = decoded is not None and decoded[0] != text
        found: list[tuple[str, bool]] = []
        if kind == "plain":
            found = [(_fold(text), False)] + ([(_fold(decoded[0]), True)] if decoded is not None and plain_decoded else [])
        elif kind == "given":
            found = [(text, False)]
        elif kind == "hex" and _HEX_RUN.search(text):
            found = [(_fold(text), False)]
        elif kind == "base64":
            found = [(text.translate(_TO_STANDARD), False)]
            if decoded is not None and "\n" in text:  # base64 wrapped in lines: searched in the joined text too
                found.append((decoded[0].translate(_TO_STANDARD), True))
        views = []
        for scanned, mapped in found:
            if kind in ("plain", "given"):
                runs = [(0, len(scanned))]
            else:
                runs = [match.span() for match in (_HEX_RUNS if kind == "hex" else _BASE64_RUNS).finditer(scanned)]
            if runs:
                views.append((scanned, _encoded(scanned), runs, mapped))
        return views

    @staticmethod
    def _found(salt: bytes, by_anchor: dict[int, dict[bytes, int]], data: memoryview,
               runs: list[tuple[int, int]]) -> list[tuple[int, int]]:
        """The spans whose anchor's digest is known, each as long as its form (up to the end of its run)."""
        found: list[tuple[int, int]] = []
        blake2b = hashlib.blake2b
        for anchor, table in by_anchor.items():
            width = 4 * anchor
            for start, end in runs:
                for at in range(4 * start, 4 * (end - anchor) + 1, 4):
                    length = table.get(blake2b(data[at:at + width], key=salt, digest_size=_DIGEST_SIZE).digest())
                    if length:
                        found.append((at // 4, min(at // 4 + length, end)))
        return found


# Credentials recognised by their shape, whatever their value: header names, query and form
# parameters, JSON keys. A name is a credential's when one of its word parts (split at `-`, `_`,
# `.`, spaces and camelCase humps) is a credential word: `X-Access-Key`, `Ocp-Apim-Subscription-Key`,
# `Authentication`, `x_api_key`, `X-Amz-Signature`, `apiSecret`, `userPassword`, `stripeApiKey`.
# A value under such a name is masked wherever it is seen, known or not, and learned by a judge.
_CREDENTIAL_PARTS = frozenset({
    "key", "keys", "apikey", "accesskey", "secretkey", "privatekey", "token", "tokens", "secret", "secrets", "signature",
    "sig", "password", "passwd", "pwd", "passphrase", "auth", "authorization", "authentication", "credential",
    "credentials", "session", "sessionid", "sessid", "cookie", "jwt",
    "pass", "pswd", "hmac", "signingkey",  # `user=bob&pass=...`, `X-Hmac`, `signingKey` (Pass Q2, F9)
})
_CREDENTIAL_ENDINGS = ("token", "secret", "password", "passwd", "apikey", "accesskey", "signature", "credentials", "sessionid")
# Idempotency-Key (the contract's replay key), WWW-Authenticate (a challenge), Keep-Alive, Access-Control-Allow-Credentials
_NOT_CREDENTIALS = frozenset({"idempotency", "www", "keep", "control"})
_QUERY_ONLY = frozenset({"code"})  # an OAuth authorization code (in a JSON body, `code` is an error's)
# as a parameter only, any word of its name: an OAuth `client_assertion` (a signed JWT; in JSON, a test's assertion)
_QUERY_PARTS = frozenset({"assertion"})
_WORD_PARTS = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")
# `#` too: an OAuth implicit grant puts `#access_token=...` in a URL's fragment (Pass Q2, F7)
_PARAM = re.compile(r"(?:(?<=[?&;#\s])|^)([\w.%\-\[\]]{1,128})=([^&#;\s\"'<>]+)")
# a multipart/form-data field: its name in its part's head (a few lines), its value the first line after the blank one
# (its Content-Disposition's parameters in any order, each a token or a quoted string: `name=api_key`, `filename="a";
# name="password"`, `name*=utf-8''password`: Pass Q2, F5)
_MULTIPART_FIELD = re.compile(r'(?i)form-data[ \t]*;([^\r\n]{1,512})\r?\n'
                              r'(?:[^\r\n]{1,256}\r?\n){0,3}\r?\n([^\r\n]{1,4096})')
_DISPOSITION_PARAM = re.compile(r'(?i)(?:^|;)[ \t]*([\w*\-]{1,32})[ \t]*=[ \t]*(?:"((?:[^"\\]|\\.){0,256})"|([^;"\s]{0,256}))')
_JSON_PAIR = re.compile(r'"([\w.\-$@ ]{1,128})"\s*:\s*(?:"((?:[^"\\]|\\.)*)"|(-?[0-9][0-9.eE+\-]*))')
_JSON_PAIR_ESCAPED = re.compile(  # JSON shown inside JSON (an escaped body): \"apiKey\": \"...\"
    r'\\"([\w.\-$@ ]{1,128})\\"\s*:\s*(?:\\"((?:[^"\\]|\\[^"])*)\\"|(-?[0-9][0-9.eE+\-]*))'
)
# A string opened under a credential's name and still open where the text ends: a text cut inside the value (a body
# redacted up to a window) shows the start of it, which may be all of the key there is to see.
_JSON_OPEN_AT_END = re.compile(r'"([\w.\-$@ ]{1,128})"\s*:\s*"((?:[^"\\]|\\.)*\\?)\Z', re.S)
_JSON_OPEN_AT_END_ESCAPED = re.compile(r'\\"([\w.\-$@ ]{1,128})\\"\s*:\s*\\"((?:[^"\\]|\\[^"])*\\?)\Z', re.S)


# Credentials recognised by their own shape, wherever they stand in free text (an error message, a
# log line a server echoed): the prefixes the issuers put on them so that scanners can find them.
# Each starts at a token boundary and every repeat is bounded, so one pass over the text is linear.
_TOKEN_BOUNDARY = r"(?<![A-Za-z0-9_\-])"
_VENDOR_TOKEN = re.compile(_TOKEN_BOUNDARY + r"(?:"
    r"gh[pousr]_[A-Za-z0-9]{30,255}"  # GitHub tokens
    r"|github_pat_[A-Za-z0-9_]{22,255}"
    r"|glpat-[A-Za-z0-9_\-]{20,255}"  # GitLab
    r"|(?:AKIA|ASIA|AGPA|AIDA|AROA)[A-Z0-9]{16}(?![A-Za-z0-9])"  # AWS access key ids
    r"|xox[abprse]-[A-Za-z0-9\-]{10,255}"  # Slack
    r"|(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{16,255}"  # Stripe
    r"|AIza[0-9A-Za-z_\-]{35}"  # Google API keys
    r"|SG\.[A-Za-z0-9_\-]{16,64}\.[A-Za-z0-9_\-]{16,64}"  # SendGrid
    r"|eyJ[A-Za-z0-9_\-]{8,4096}\.eyJ[A-Za-z0-9_\-]{8,8192}\.[A-Za-z0-9_\-]{0,4096}"  # a JWT (header.payload.signature)
    r")"
)


def credential_name(name: str, *, query: bool = False) -> bool:
    """Whether a header, parameter or JSON key of this name holds a credential (by its word parts)."""
    if len(name) <= _CACHED_NAME:  # the same few names come in every exchange: decided once each
        return _credential_name_cached(name, query)
    return _credential_name(name, query)


_CACHED_NAME = 128  # longer names (a hostile header's) are decided each time, never kept


@functools.lru_cache(maxsize=4096)
def _credential_name_cached(name: str, query: bool) -> bool:
    return _credential_name(name, query)


def _credential_name(name: str, query: bool) -> bool:
    parts = [part.lower() for part in _WORD_PARTS.findall(name)]
    if not parts or _NOT_CREDENTIALS.intersection(parts):
        return False
    if query and ((len(parts) == 1 and parts[0] in _QUERY_ONLY) or _QUERY_PARTS.intersection(parts)):
        return True
    return any(part in _CREDENTIAL_PARTS or part.endswith(_CREDENTIAL_ENDINGS) for part in parts)


def secret_like(value: str) -> bool:
    """Whether a value looks generated rather than written: 16 characters or more, letters and digits mixed, varied."""
    return (len(value) >= 16 and len(set(value)) >= 10 and any(c.isdigit() for c in value)
            and any(c.isalpha() for c in value))


def cookie_credential(name: str, value: str) -> bool:
    """Whether a cookie's value is a credential: by the cookie's name (`session`, `PHPSESSID`, `connect.sid`, `auth_token`)
    or, whatever its name, by its look (`secret_like`). `consent=true` or `theme=dark` holds none: learning such a
    value would mask the word everywhere."""
    if len(value) < MIN_SECRET:
        return False
    return credential_name(name) or name.lower().endswith(("sid", "sess")) or secret_like(value)


def sensitive_header(name: str) -> bool:
    """Whether a header of this name carries a credential (by its name: Authorization, X-Auth-Token, X-Access-Key, ...)."""
    lowered = name.strip().lower()
    return lowered in SENSITIVE_HEADERS or credential_name(name.strip())


# Every credential's name has one of these in it, in some case (each credential word and ending holds one): a
# text with none holds no credential-named parameter or key, and is not searched pair by pair (the pair patterns
# cost ~30 µs on a small body; this test ~1 µs).
_HINTS = ("key", "token", "secret", "sig", "pass", "pwd", "auth", "credential", "sess", "cookie", "jwt", "code",
          "pswd", "hmac", "assertion")
assert all(any(hint in word for hint in _HINTS)
           for word in (*_CREDENTIAL_PARTS, *_CREDENTIAL_ENDINGS, *_QUERY_ONLY, *_QUERY_PARTS))


def _may_name_credentials(text: str) -> bool:
    lowered = text.lower()
    for hint in _HINTS:  # noqa: SIM110 (a loop: any() over a generator costs ~40% more here)
        if hint in lowered:
            return True
    return False


def _shaped(text: str) -> list[tuple[int, int]]:
    """The spans of the values `text` holds under a credential's name (parameters, JSON keys), in order."""
    spans: list[tuple[int, int]] = []
    if not _may_name_credentials(text):
        return spans
    if "=" in text:
        # a name read as its server reads it: percent-decoded (`access%5Ftoken` is `access_token`: Pass Z2, F8)
        spans += [m.span(2) for m in _PARAM.finditer(text)
                  if credential_name(unquote(m.group(1)) if "%" in m.group(1) else m.group(1), query=True)]
    if '"' in text:
        for pattern in (_JSON_PAIR, _JSON_PAIR_ESCAPED) if '\\"' in text else (_JSON_PAIR,):
            for m in pattern.finditer(text):
                group = 2 if m.group(2) is not None else 3
                if m.group(group) and credential_name(m.group(1)):
                    spans.append(m.span(group))
        for pattern in (_JSON_OPEN_AT_END, _JSON_OPEN_AT_END_ESCAPED) if '\\"' in text else (_JSON_OPEN_AT_END,):
            found = pattern.search(text)
            if found and found.group(2) and credential_name(found.group(1)):
                spans.append(found.span(2))
    return spans


_JSON_UNESCAPE_CHARS = 8192  # a longer value is learned as written only


def json_unescaped(value: str) -> list[str]:
    """`value`, the inside of a JSON string as written (`abc\\/def`, `\\u005f`), as a JSON reader reads it, once and,
    for JSON shown inside JSON (`\\\\/`), twice: nothing when it holds no escape, is too long or is no JSON string."""
    found: list[str] = []
    for _ in range(2):
        if "\\" not in value or len(value) > _JSON_UNESCAPE_CHARS:
            break
        try:
            read = json.loads(f'"{value}"')
        except ValueError:
            break
        if not isinstance(read, str) or read == value:
            break
        found.append(read)
        value = read
    return found


def _disposition_names(params: str) -> list[str]:
    """The field names a Content-Disposition's parameters (after `form-data;`) give: `name` and `name*` (its RFC 5987
    value's text, percent-decoded), never `filename`."""
    names: list[str] = []
    for m in _DISPOSITION_PARAM.finditer(params):
        key, value = m.group(1).lower(), m.group(2) if m.group(2) is not None else m.group(3)
        if key == "name":
            names.append(value)
        elif key == "name*":
            names.append(unquote(value.rpartition("'")[2]))
    return names


# A credential-named member whose value is an array or an object (`{"apiKey": ["K"]}`, `{"auth": {"value": "K"}}`):
# its string leaves, within `_CONTAINER_CHARS` of its start, at most `_MAX_CONTAINERS` a text (Pass Q2, F8)
_JSON_CONTAINER = re.compile(r'"([\w.\-$@ ]{1,128})"[ \t\r\n]*:[ \t\r\n]*(?=[\[{])')
_JSON_TOKEN = re.compile(r'"((?:[^"\\]|\\.){0,4096})"([ \t\r\n]*:)?|[\[{]|[\]}]')
_CONTAINER_CHARS = 4096
_MAX_CONTAINERS = 16


def _container_leaves(text: str) -> list[str]:
    """The string values inside each array or object held under a credential's name: the items of its arrays (not those
    of an array inside an object in it), and an object member's value when its name is a credential's or `value`, or when it looks generated (`secret_like`): not a
    `"user": "bob"` or `"type": "apiKeyHeader"` beside the key, which would be masked everywhere."""
    leaves: list[str] = []
    containers = 0
    for m in _JSON_CONTAINER.finditer(text):
        if not credential_name(m.group(1)):
            continue
        containers += 1
        if containers > _MAX_CONTAINERS:
            break
        stack: list[str] = []
        member = ""
        for token in _JSON_TOKEN.finditer(text, m.end(), m.end() + _CONTAINER_CHARS):
            value = token.group(1)
            if value is not None:
                if token.group(2) is not None:
                    member = value
                elif stack and (all(c == "[" for c in stack) or member.lower() == "value" or credential_name(member)
                                or secret_like(value)):
                    leaves.append(value)
            elif token.group() in "[{":
                stack.append(token.group())
            elif stack:
                stack.pop()
            if not stack:
                break
    return leaves


def secrets_by_shape(text: str) -> list[str]:
    """The values `text` holds under a credential's name (query and form parameters, JSON keys, multipart/form-data
    fields), for a judge to remember: each as written and, where it holds escapes, as its server reads it
    (percent-decoded, and `+` as a space as a form is read): an answer echoes the value it read (Pass Z2, F8)."""
    found: list[str] = []
    for start, end in _shaped(text):
        value = text[start:end]
        found.append(value)
        if "%" in value or "+" in value:
            found += [unquote(value), unquote(value.replace("+", " "))]
        if "\\" in value:  # a JSON string with escapes (PHP writes `/` as `\/`): as its server reads it (Pass Q2, F3)
            found += json_unescaped(value)
    if ('":[' in text or '": [' in text or '":{' in text or '": {' in text) and _may_name_credentials(text):
        for value in _container_leaves(text):
            found += [value, *json_unescaped(value)]
    if "name" in text and "form-data" in text.lower() and _may_name_credentials(text):
        for m in _MULTIPART_FIELD.finditer(text):
            if any(credential_name(name) for name in _disposition_names(m.group(1))):
                found.append(m.group(2).strip())
    return list(dict.fromkeys(value for value in found if len(value) >= MIN_SECRET and REDACTED not in value))


def mask_shapes(text: str) -> str:
    """`text` with vendor-prefixed tokens, the values of credential-named parameters and JSON keys, and the userinfo of
    every URL in it (`https://[REDACTED]@host`: a Location or a link a server wrote, known or not) masked.

    Tokens by prefix are masked here, when text is written, and not learned per exchange: that scan
    costs ~30 ns a character, too much for every request a judge reads.
    """
    spans = sorted(_shaped(text) + [m.span() for m in _VENDOR_TOKEN.finditer(text)]
                   + ([m.span(1) for m in _USERINFO.finditer(text)] if "@" in text else []))
    if not spans:
        return text
    parts: list[str] = []
    done = 0
    for start, end in spans:
        if end <= done:
            continue
        if start < done:  # overlapping spans (a token under a credential's name): one mask to the farther end
            done = end
            continue
        parts.append(text[done:start])
        parts.append(text[start:end] if text[start:end] == REDACTED else REDACTED)
        done = end
    return "".join(parts) + text[done:]


class Redactor:
    """Masks the given secrets, in every encoding of them, and credentials by shape, in any text or structure.

    Its cost is linear: `add` files a new secret into a group whose patterns alone are
    rebuilt when next needed, and `text` runs each group's pattern once over the text.
    """

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        self._known: set[str] = set()
        self._groups: list[_Group] = []
        self._long: list[str] = []  # longer than `LONGEST_KEY`: found by a literal search only
        self._digested = _DigestedSecrets()  # other processes' secrets, known by digests only
        self.add(secrets)

    def add(self, secrets: Iterable[str | None]) -> int:
        """Learn more secrets (those too short to tell from text are left out); how many were new."""
        added = 0
        for given in secrets:
            if not given:
                continue
            bare = Word(unquoted(given)) if isinstance(given, Word) else unquoted(given)
            for secret in dict.fromkeys((given, bare)):  # as given, and as a server echoes it unquoted
                added += self._learn(secret)
        return added

    def _learn(self, secret: str) -> int:
        """File one secret (1), or leave it out (0): too short to tell from text, or known already."""
        if len(secret) < MIN_SECRET or secret in self._known:
            return 0
        self._known.add(secret)
        if len(secret) > LONGEST_KEY:
            self._long.append(secret)
            return 1
        if not self._groups or len(self._groups[-1].secrets) >= GROUP:
            self._groups.append(_Group())
        self._groups[-1].add(secret)
        return 1

    def __len__(self) -> int:
        return len(self._known)

    def digests(self, salt: bytes) -> list[list[list[Any]]]:
        """Every secret known in clear, as the keyed digests (`salt`) of its forms' anchors, with their lengths: what
        another process's redactor needs (`add_digests`) to mask them as this one does, and gives none of them back
        (see `_DigestedSecrets`)."""
        out: list[list[list[Any]]] = []
        for secret in self.secrets:
            records: dict[tuple[str, int, str], None] = {}
            for kind, form in _forms(secret):
                digest = _digest(salt, _encoded(form[:_ANCHOR[kind]]))
                records[(kind, len(form), base64.urlsafe_b64encode(digest).decode().rstrip("="))] = None
            out.append([list(record) for record in records])
        return out

    def add_digests(self, salt: bytes, credentials: Any) -> int:
        """Mask the secrets another redactor gave as `digests(salt)` too, in every form it masks them in (the whole of a
        longer form wherever its anchor is). How many were given; ValueError (none filed) for data of another shape."""
        return self._digested.add(salt, credentials)

    @property
    def digested(self) -> int:
        """Secrets known by their digests only (`add_digests`)."""
        return self._digested.count

    @property
    def secrets(self) -> list[str]:
        return sorted(self._known, key=len, reverse=True)

    def text(self, value: str, *, cut: bool = False) -> str:
        """`value` with every secret masked (and credentials by shape); with `cut`, also a secret's start at the very end."""
        if not value:
            return value
        if self._known or self._digested:
            value = self._mask_known(value)
            if cut:
                value = self._mask_dangling_start(value)
        return mask_shapes(value)

    def _mask_known(self, text: str) -> str:
        """Every match of every group, found in the text as given and with its escapes decoded, masked once."""
        # only a text holding `\\`, `%`, `&` or an invisible character can hold an escaped or split key: decoded only then
        decoded = (_decoded(text) if ("\\" in text or "%" in text or "&" in text or "\n" in text or _INVISIBLE.search(text))
                   else None)
        spans: list[tuple[int, int]] = []
        hexadecimal = _HEX_RUN.search(text) is not None
        dumps = _hex_dumps(text)
        for group in self._groups:
            if hexadecimal and (pattern := group.hex()) is not None:
                spans += [match.span() for match in pattern.finditer(text)]
            if dumps is not None and (pattern := group.hex()) is not None:  # the same digits, the separators dropped
                spans += [_dump_span(text, dumps, *match.span()) for match in pattern.finditer(dumps[0])]
            any_case = group.any_case()  # a key upper- or lower-cased by a server is the key still
            if any_case is not None:
                spans += [match.span() for match in any_case.finditer(text)]
            if decoded is not None and any_case is not None:
                spans += [_original_span(decoded[1], decoded[2], *match.span()) for match in any_case.finditer(decoded[0])]
            base64_cores = group.base64()
            if base64_cores is not None:
                spans += [_base64_span(text, *match.span()) for match in base64_cores.finditer(text)]
                if decoded is not None and "\n" in text:  # base64 wrapped in lines: found in the joined text
                    spans += [_original_span(decoded[1], decoded[2], *match.span()) for match in base64_cores.finditer(decoded[0])]
        if self._digested:
            spans += self._digested.spans(text, decoded)
        for secret in self._long:  # as given only: a literal search, linear in the text
            start = text.find(secret)
            while start >= 0:
                spans.append((start, start + len(secret)))
                start = text.find(secret, start + len(secret))
        if not spans:
            return text
        spans.sort()
        parts: list[str] = []
        done = 0
        for start, end in spans:
            if end <= done:
                continue
            if start < done:
                start = done
            else:
                parts.append(text[done:start])
                parts.append(REDACTED)
            done = end
        return "".join(parts) + text[done:]

    def _mask_dangling_start(self, text: str) -> str:
        tail = text[-256:]
        for secret in self.secrets:
            if isinstance(secret, Word):  # (its start is a word's start)
                continue
            for length in range(min(len(secret) - 1, len(tail)), MIN_SECRET - 1, -1):
                if tail.endswith(secret[:length]):
                    return text[:-length] + REDACTED
        return text

    def header_value(self, name: str, value: str) -> str:
        if not sensitive_header(name):
            return self.text(value)
        scheme, _, credential = value.partition(" ")
        if credential and scheme.isalpha() and len(scheme) <= 16:
            return f"{scheme} {REDACTED}"
        return REDACTED

    def headers(self, headers: Mapping[str, str] | Iterable[tuple[str, str]]) -> dict[str, str]:
        items = headers.items() if isinstance(headers, Mapping) else headers
        return {self.text(name): self.header_value(name, value) for name, value in items}

    def shell_line(self, line: Any) -> Any:
        """A shell line (a curl line) as it was built, or withheld whole if it holds anything to mask.

        Its words were redacted before they were quoted; masking a part of the finished line could
        take a quote that closes a word and let what follows run. So it is all or nothing.
        """
        if not isinstance(line, str) or not line:
            return line
        return line if self.text(line) == line and not _UNSAFE_LINE.search(line) else SHELL_WITHHELD

    def data(self, value: Any) -> Any:
        """A JSON-like structure, or a tree of dataclasses (a `RunResult`), with every string redacted."""
        if isinstance(value, Enum):
            return value
        if is_dataclass(value) and not isinstance(value, type):
            return replace(value, **{f.name: self.shell_line(getattr(value, f.name)) if f.name in SHELL_FIELDS else self.data(getattr(value, f.name))
                                     for f in fields(value) if f.init})
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, (list, tuple)):
            return type(value)(self.data(v) for v in value)
        if isinstance(value, dict):
            return {self.text(str(k)): self.data(v) for k, v in value.items()}
        return value
