"""Turning an exchange into what a report may show: redacted records and a curl line.

The curl line reproduces the request exactly, with every key replaced by an environment
variable reference (`$MIGMA_CONTRACT_API_KEY`), so it can be pasted after an `export` and never
carries the secret itself.
"""

from __future__ import annotations

import base64
import shlex

from ._http.client import Exchange
from ._redact import Redactor, strip_credentials
from ._result import RequestRecord, ResponseRecord

__all__ = ["BODY_EXCERPT", "make_records"]

BODY_EXCERPT = 4096


def excerpt(content: bytes, limit: int = BODY_EXCERPT, total: int | None = None) -> str:
    text = content[:limit].decode("utf-8", errors="replace")
    size = total if total is not None else len(content)
    if size > limit or len(content) > limit:
        text += f"\n… [cut: {size} bytes in all, first {limit} shown]"
    return text


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


def curl_line(exchange: Exchange, url: str, keys: dict[str, str]) -> str:
    """A shell command that sends the same request; `keys` maps secret -> env var name."""
    parts = ["curl", "-sS", "-i", "-X", exchange.method, f'"{url}"' if "$" in url else shlex.quote(url)]
    for name, value in exchange.request_headers.items():
        header = f"{name}: {value}"
        substituted = False
        for secret, variable in keys.items():
            if not secret:
                continue
            if name.lower() == "authorization" and value.lower().startswith("basic "):
                decoded = base64.b64decode(value.split(" ", 1)[1]).decode(errors="replace")
                if secret in decoded:
                    user = decoded.replace(secret, "%s")
                    header = f"{name}: Basic $(printf '{user}' \"${variable}\" | base64)"
                    substituted = True
                    break
            if secret in header:
                header = header.replace(secret, f"${variable}")
                substituted = True
        parts += ["-H", f'"{header}"' if substituted else shlex.quote(header)]
    content = exchange.request_content
    try:
        text = content.decode("utf-8")
        printable = all(ch.isprintable() or ch in "\n\t" for ch in text)
    except UnicodeDecodeError:
        printable = False
    if printable:
        parts += ["--data-raw", shlex.quote(text)]
    else:
        parts += ["--data-binary", _ansi_c(content)]
    return " ".join(parts)


def make_records(
    exchange: Exchange, redactor: Redactor, keys: dict[str, str], display_base: str | None
) -> tuple[RequestRecord, ResponseRecord]:
    """The request and response of `exchange`, safe to publish."""
    path = exchange.url.split("://", 1)[-1].split("/", 1)[-1]
    shown_url = f"{display_base.rstrip('/')}/{path}" if display_base else strip_credentials(exchange.url)
    request = RequestRecord(
        method=exchange.method,
        url=redactor.text(shown_url),
        headers=redactor.headers(exchange.request_headers),
        body=redactor.text(excerpt(exchange.request_content)),
        body_size=len(exchange.request_content),
        curl=redactor.text(curl_line(exchange, shown_url, keys)),
    )
    response = ResponseRecord(
        status=exchange.status,
        headers=redactor.headers(exchange.headers),
        body=redactor.text(excerpt(exchange.body, total=exchange.body_size)) if exchange.body or exchange.body_size else "",
        body_size=exchange.body_size,
        truncated=exchange.truncated,
        elapsed_ms=round(exchange.elapsed * 1000, 1),
        error=redactor.text(exchange.error) if exchange.error else None,
    )
    return request, response
