"""Turning an exchange into what a report may show: redacted, cleaned records and a curl line.

This is where a server's text enters the result: every string is redacted first, then
cut, then cleaned of control characters (`_untrusted`), in that order, so no cut can
keep part of a key that redaction would have recognised whole.

The curl line reproduces the request exactly, on one line, with every key replaced by
an environment variable reference (`$MIGMA_CONTRACT_API_KEY`), so it can be pasted
after an `export` and never carries the secret itself.
"""

from __future__ import annotations

import base64
import json
import shlex
from typing import Any

from migma_contract.core.redact import Redactor, strip_credentials
from migma_contract.core.untrusted import clean_text
from migma_contract.run.result import RequestRecord, ResponseRecord
from migma_contract.wire.client import Exchange

__all__ = ["BODY_EXCERPT", "make_records"]

BODY_EXCERPT = 4096


def excerpt(content: bytes, redactor: Redactor, *, limit: int = BODY_EXCERPT, total: int | None = None,
            arrived_cut: bool = False) -> str:
    """The start of a body as clean text: redacted whole (then cut), with its size if cut."""
    text = redactor.text(content.decode("utf-8", errors="replace"), cut=arrived_cut)
    size = total if total is not None else len(content)
    shown = clean_text(text[:limit], multiline=True)
    if len(text) > limit or arrived_cut:
        shown += f"\n… [cut: {size} bytes in all, first {limit} characters shown]"
    return shown


def one_line(text: str, redactor: Redactor) -> str:
    """Redacted, then cleaned to one line (error texts, header values)."""
    return clean_text(redactor.text(text))


def _ansi_c(content: bytes) -> str:
    out = []
    for byte in content:
        ch = chr(byte)
        if ch == "'" or ch == "\\":
            out.append("\\" + ch)
        elif 32 <= byte < 127:
            out.append(ch)
        else:
            out.append(f"\\x{byte:02x}")
    return "$'" + "".join(out) + "'"


def _shell(text: str) -> str:
    """One shell word on one line: quoted plainly if printable, as $'...' (ANSI-C) otherwise."""
    return shlex.quote(text) if text.isprintable() else _ansi_c(text.encode("utf-8", errors="replace"))


def curl_line(exchange: Exchange[Any], url: str, keys: dict[str, str]) -> str:
    """A one-line shell command that sends the same request; `keys` maps secret -> env var name."""
    parts = ["curl", "-sS", "-i", "-X", _shell(exchange.method), f'"{url}"' if "$" in url else _shell(url)]
    for name, value in exchange.request_headers.items():
        header = f"{name}: {value}"
        substituted = False
        for secret, variable in keys.items():
            if not secret:
                continue
            if name.lower() == "authorization" and value.lower().startswith("basic "):
                try:
                    decoded = base64.b64decode(value.split(" ", 1)[1]).decode(errors="replace")
                except ValueError:  # a deliberately malformed credential of a probe
                    decoded = ""
                if secret in decoded:
                    user = decoded.replace(secret, "%s")
                    header = f"{name}: Basic $(printf '{user}' \"${variable}\" | base64)"
                    substituted = True
                    break
            if secret in header:
                header = header.replace(secret, f"${variable}")
                substituted = True
        parts += ["-H", f'"{header}"' if substituted else _shell(header)]
    content = exchange.request_content
    try:
        text = content.decode("utf-8")
        printable = text.isprintable()
    except UnicodeDecodeError:
        printable = False
    if printable:
        parts += ["--data-raw", shlex.quote(text)]
    else:
        parts += ["--data-binary", _ansi_c(content)]
    return " ".join(parts)


def make_records(
    exchange: Exchange[Any], redactor: Redactor, keys: dict[str, str], display_base: str | None
) -> tuple[RequestRecord, ResponseRecord]:
    """The request and response of `exchange`, safe to publish."""
    path = exchange.url.split("://", 1)[-1].split("/", 1)[-1]
    shown_url = f"{display_base.rstrip('/')}/{path}" if display_base else strip_credentials(exchange.url)
    request = RequestRecord(
        method=exchange.method,
        url=one_line(shown_url, redactor),
        headers=_headers(exchange.request_headers, redactor),
        body=excerpt(exchange.request_content, redactor),
        body_size=len(exchange.request_content),
        curl=one_line(curl_line(exchange, shown_url, keys), redactor),
    )
    response = ResponseRecord(
        status=exchange.status,
        headers=_headers(exchange.headers, redactor),
        body=excerpt(exchange.body, redactor, total=exchange.body_size, arrived_cut=exchange.truncated)
        if exchange.body or exchange.body_size else "",
        body_size=exchange.body_size,
        truncated=exchange.truncated,
        elapsed_ms=round(exchange.elapsed * 1000, 1),
        error=one_line(exchange.error, redactor) if exchange.error else None,
    )
    return request, response


HEADER_EXCERPT = 512  # a header value in a finding; a server's 60 KB header would otherwise sit in every finding


def _headers(headers: dict[str, str], redactor: Redactor) -> dict[str, str]:
    """Redacted whole, then cut, then cleaned (the order that never keeps part of a key)."""
    shown = {}
    for name, value in redactor.headers(headers).items():
        cut = value if len(value) <= HEADER_EXCERPT else value[:HEADER_EXCERPT] + f"… [{len(value)} characters]"
        shown[clean_text(name)] = clean_text(cut)
    return shown


def error_field(body: bytes | None) -> str:
    """The `error` text of an ApiError-like body (raw: redact it before cutting or showing), or ""."""
    try:
        value = json.loads(body or b"")
    except (ValueError, UnicodeDecodeError, RecursionError):
        return ""
    error = value.get("error") if isinstance(value, dict) else None
    return error if isinstance(error, str) and error.strip() else ""
