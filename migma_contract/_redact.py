"""Keeping API keys out of everything the toolkit writes.

Every report, log line, curl line and error message passes through a `Redactor` that
knows the run's secrets (and the forms the toolkit derived from them, such as a Basic
credential), and masks the values of credential headers whatever they hold.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

__all__ = ["REDACTED", "SENSITIVE_HEADERS", "Redactor", "strip_credentials"]

REDACTED = "[REDACTED]"
SENSITIVE_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key", "api-key"})


def strip_credentials(url: str) -> str:
    """The URL without `user:password@` and without query values that look like keys."""
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)[-1]
    query = re.sub(r"(?i)((?:api[_-]?key|key|token|access_token)=)[^&]*", rf"\1{REDACTED}", parts.query)
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


class Redactor:
    """Masks the given secrets, and the forms derived from them, in any text or structure."""

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        values: set[str] = set()
        for secret in secrets:
            if secret and len(secret) >= 4:
                values.add(secret)
                for prefix in ("api:", "", ":"):
                    values.add(base64.b64encode(f"{prefix}{secret}".encode()).decode())
        # longest first, so a secret containing another is masked whole
        self._secrets = sorted(values, key=len, reverse=True)
        self._pattern = re.compile("|".join(re.escape(s) for s in self._secrets)) if self._secrets else None

    @property
    def secrets(self) -> list[str]:
        return list(self._secrets)

    def text(self, value: str) -> str:
        if self._pattern is None or not value:
            return value
        return self._pattern.sub(REDACTED, value)

    def header_value(self, name: str, value: str) -> str:
        if name.lower() not in SENSITIVE_HEADERS:
            return self.text(value)
        scheme, _, credential = value.partition(" ")
        if credential and scheme.isalpha() and len(scheme) <= 16:
            return f"{scheme} {REDACTED}"
        return REDACTED

    def headers(self, headers: Mapping[str, str] | Iterable[tuple[str, str]]) -> dict[str, str]:
        items = headers.items() if isinstance(headers, Mapping) else headers
        return {name: self.header_value(name, value) for name, value in items}

    def data(self, value: Any) -> Any:
        """A JSON-like structure with every string redacted."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, list):
            return [self.data(v) for v in value]
        if isinstance(value, dict):
            return {self.text(str(k)): self.data(v) for k, v in value.items()}
        return value
