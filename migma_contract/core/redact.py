"""Keeping API keys out of everything the toolkit writes.

Every report, log line, curl line and error message passes through a `Redactor` that
knows the run's secrets and masks them in every encoding a server or a library may
have put them in: raw; escaped character by character (JSON `\\/` and `\\u006b`, Python
`repr` `\\r` and `\\x0d`, percent-encoding `%2F`, HTML entities, in any mix and case);
and base64 (standard or URL-safe, whatever precedes the key inside the encoded text,
so `Basic base64(api:KEY)` and `base64(user:KEY)` are covered alike). The values of
credential headers are masked whatever they hold.

Redact before cutting: a text cut first may keep most of a key that the whole text
would have shown, and no pattern can recognise it any more. A text that arrived cut
(a body read up to its cap) can end in the start of a key: `text(..., cut=True)`
masks that too.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable, Mapping
from dataclasses import fields, is_dataclass, replace
from enum import Enum
from typing import Any
from urllib.parse import urlsplit, urlunsplit

__all__ = ["REDACTED", "SENSITIVE_HEADERS", "Redactor", "strip_credentials"]

REDACTED = "[REDACTED]"
SENSITIVE_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key", "api-key"})
MIN_SECRET = 4  # shorter values would mask ordinary words
_MIN_CORE = 8  # shortest base64 core of a key matched inside longer base64 text
_BASE64_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/_-")
_ESCAPES = {"\n": "n", "\r": "r", "\t": "t", "\b": "b", "\f": "f"}
_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&apos;"}


def strip_credentials(url: str) -> str:
    """The URL without `user:password@` and without query values that look like keys."""
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)[-1]
    query = re.sub(r"(?i)((?:api[_-]?key|key|token|access_token)=)[^&]*", rf"\1{REDACTED}", parts.query)
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def _char_forms(ch: str) -> str:
    """A pattern matching `ch` written plainly or through any common escape."""
    code = ord(ch)
    utf8 = ch.encode("utf-8", errors="surrogatepass")
    forms = [re.escape(ch)]
    if code < 0x10000:
        forms.append(rf"\\+u{code:04x}")  # JSON, JavaScript, Python
    else:
        forms.append(rf"\\+U{code:08x}")
        high, low = 0xD800 + ((code - 0x10000) >> 10), 0xDC00 + ((code - 0x10000) & 0x3FF)
        forms.append(rf"\\+u{high:04x}\\+u{low:04x}")  # JSON's surrogate pair
    forms.append("".join(rf"\\+x{byte:02x}" for byte in utf8))  # Python repr of str or bytes
    forms.append("".join(f"%{byte:02x}" for byte in utf8))  # percent-encoding
    forms.append(rf"&#x0*{code:x};?|&#0*{code};?")  # HTML / XML character references
    if ch in _ESCAPES:
        forms.append(rf"\\+{_ESCAPES[ch]}")
    if ch in _ENTITIES:
        forms.append(_ENTITIES[ch])
    if not ch.isalnum():
        forms.append(rf"\\+{re.escape(ch)}")  # JSON `\/`, `\"`, repr `\'`, shell `\$`
    if ch == " ":
        forms.append(r"\+")  # form encoding
    return "(?i:" + "|".join(forms) + ")"


def _base64_cores(secret: str) -> set[str]:
    """The stretches of base64 text that can only come from `secret`, at each byte alignment.

    Encoding `prefix + secret` gives characters that depend on the prefix (the first
    group) and on what follows (the last, partial group); the middle depends on the
    secret alone and is the same whatever the prefix's length modulo 3 is.
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
            cores.add(core.replace("+", "-").replace("/", "_"))  # URL-safe alphabet
    for prefix in ("", "api:", ":"):  # whole credentials the toolkit itself builds
        cores.add(base64.b64encode(f"{prefix}{secret}".encode(errors="surrogatepass")).decode())
    return cores


def _alternation(patterns: Iterable[str]) -> re.Pattern[str] | None:
    listed = list(patterns)
    return re.compile("|".join(listed)) if listed else None


class Redactor:
    """Masks the given secrets, in every encoding of them, in any text or structure."""

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        values = {secret for secret in secrets if secret and len(secret) >= MIN_SECRET}
        self._secrets = sorted(values, key=len, reverse=True)
        cores = sorted({core for secret in self._secrets for core in _base64_cores(secret)}, key=len, reverse=True)
        self._plain = _alternation(re.escape(secret) for secret in self._secrets)
        self._escaped = _alternation("".join(_char_forms(ch) for ch in secret) for secret in self._secrets)
        self._base64 = _alternation(re.escape(core) for core in cores)

    @property
    def secrets(self) -> list[str]:
        return list(self._secrets)

    def text(self, value: str, *, cut: bool = False) -> str:
        """`value` with every secret masked; with `cut`, also a secret's start at the very end."""
        if self._plain is None or not value:
            return value
        # only a text holding `\\`, `%` or `&` can hold an escaped key: the slower pattern only then
        escaped = self._escaped if ("\\" in value or "%" in value or "&" in value) else self._plain
        masked = escaped.sub(REDACTED, value)  # type: ignore[union-attr]
        if self._base64 is not None:
            masked = self._mask_base64(masked)
        if cut:
            masked = self._mask_dangling_start(masked)
        return masked

    def _mask_base64(self, text: str) -> str:
        """Each base64 core with the characters next to it, which still hold a few bits of the key."""
        assert self._base64 is not None
        parts: list[str] = []
        done = 0
        for match in self._base64.finditer(text):
            start, end = match.span()
            if start > done and text[start - 1] in _BASE64_CHARS:
                start -= 1
            for _ in range(3):
                if end < len(text) and text[end] in _BASE64_CHARS:
                    end += 1
            while end < len(text) and text[end] == "=" and end - match.end() < 5:
                end += 1
            parts += [text[done:start], REDACTED]
            done = end
        return "".join(parts) + text[done:] if parts else text

    def _mask_dangling_start(self, text: str) -> str:
        for secret in self._secrets:
            for length in range(len(secret) - 1, MIN_SECRET - 1, -1):
                if text.endswith(secret[:length]):
                    return text[:-length] + REDACTED
        return text

    def header_value(self, name: str, value: str) -> str:
        if name.lower() not in SENSITIVE_HEADERS:
            return self.text(value)
        scheme, _, credential = value.partition(" ")
        if credential and scheme.isalpha() and len(scheme) <= 16:
            return f"{scheme} {REDACTED}"
        return REDACTED

    def headers(self, headers: Mapping[str, str] | Iterable[tuple[str, str]]) -> dict[str, str]:
        items = headers.items() if isinstance(headers, Mapping) else headers
        return {self.text(name): self.header_value(name, value) for name, value in items}

    def data(self, value: Any) -> Any:
        """A JSON-like structure, or a tree of dataclasses (a `RunResult`), with every string redacted."""
        if self._plain is None or isinstance(value, Enum):
            return value
        if is_dataclass(value) and not isinstance(value, type):
            return replace(value, **{f.name: self.data(getattr(value, f.name)) for f in fields(value) if f.init})
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, (list, tuple)):
            return type(value)(self.data(v) for v in value)
        if isinstance(value, dict):
            return {self.text(str(k)): self.data(v) for k, v in value.items()}
        return value
