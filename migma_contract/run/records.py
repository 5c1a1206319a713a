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

__all__ = ["BODY_EXCERPT", "PLACEHOLDER_BASE", "make_records"]

BODY_EXCERPT = 4096
REDACT_MARGIN = 16384  # characters redacted past a cut (an escaped or base64 key is far shorter)
CURL_BODY = 4096  # a body longer than this is not repeated in the curl line (a 20 MB body made 42 MB reports)
URL_EXCERPT = 2048
BODY_FILE = "migma-request-body.bin"


def excerpt(content: bytes, redactor: Redactor, *, limit: int = BODY_EXCERPT, total: int | None = None,
            arrived_cut: bool = False) -> str:
    """The start of a body as clean text: redacted (then cut), with its size if cut.

    Only the start is redacted, with a margin far longer than any encoded key past the part
    shown: a key crossing the cut is still whole when masked, and a 20 MB body costs what
    its first few KB do.
    """
    window = content[:4 * (limit + REDACT_MARGIN)]  # UTF-8: at most 4 bytes a character
    decoded = window.decode("utf-8", errors="replace")
    whole = len(window) == len(content)
    text = redactor.text(decoded[:limit + REDACT_MARGIN], cut=arrived_cut and whole and len(decoded) <= limit + REDACT_MARGIN)
    if not whole or len(decoded) > limit + REDACT_MARGIN:
        text += "…"  # more follows: the cut note below says so
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


# Headers of the transport, which curl writes itself from the URL, the body and its own settings: copied
# from recorded traffic (a browser's `accept-encoding: gzip, deflate`, an HTTP/2 `:authority`), they would
# contradict what curl sends (a stale content-length) or change the answer (a gzip body curl does not inflate).
TRANSPORT_HEADERS = frozenset({"accept-encoding", "connection", "content-length", "expect", "host", "keep-alive",
                               "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade"})


def curl_line(exchange: Exchange[Any], url: str, keys: dict[str, str], whole: str = "the same --seed sends it again") -> str:
    """A one-line shell command that sends the same request; `keys` maps secret -> env var name.

    The transport's own headers (`TRANSPORT_HEADERS`, HTTP/2 pseudo-headers) are left to curl. A body
    over `CURL_BODY` bytes is read from a file (`BODY_FILE`) instead, and a shell comment at the end
    says how long it is and where the whole of it comes from (`whole`).
    """
    parts = ["curl", "-sS", "-i", "-X", _shell(exchange.method), f'"{url}"' if "$" in url else _shell(url)]
    for name, value in exchange.request_headers.items():
        if name.startswith(":") or name.lower() in TRANSPORT_HEADERS:
            continue
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
    if len(content) > CURL_BODY:
        parts += ["--data-binary", f"@{BODY_FILE}",
                  f"# body cut: its {len(content):,} bytes are not repeated here; put them in {BODY_FILE} ({whole})"]
        return " ".join(parts)
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
    exchange: Exchange[Any], redactor: Redactor, keys: dict[str, str], display_base: str | None, *,
    curl_base: str | None = None, whole: str = "the same --seed sends it again",
) -> tuple[RequestRecord, ResponseRecord]:
    """The request and response of `exchange`, safe to publish.

    `curl_base` replaces the scheme and host in the curl line (observed traffic: a recording
    chose that host, so the line names a variable the user sets instead, `PLACEHOLDER_BASE`);
    `whole` says where a body too long for the curl line can be had whole.
    """
    path = exchange.url.split("://", 1)[-1].split("/", 1)[-1] if "://" in exchange.url else exchange.url.lstrip("/")
    shown_url = f"{display_base.rstrip('/')}/{path}" if display_base else strip_credentials(exchange.url)
    curl_url = f"{curl_base.rstrip('/')}/{strip_credentials('http://h/' + path).split('/', 3)[-1]}" if curl_base else shown_url
    if len(curl_url) > URL_EXCERPT:  # redacted whole, then cut (a cut key is unrecognisable)
        curl_url = redactor.text(curl_url)[:URL_EXCERPT] + "…cut"
    request = RequestRecord(
        method=exchange.method,
        url=clean_text(_cut(redactor.text(shown_url), URL_EXCERPT)),
        headers=_headers(exchange.request_headers, redactor),
        body=excerpt(exchange.request_content, redactor),
        body_size=len(exchange.request_content),
        curl=_cut_line(one_line(curl_line(exchange, curl_url, keys, whole), redactor)),
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


# Observed traffic's curl lines send to the server the user names, never to a host a recording chose.
PLACEHOLDER_BASE = "${MIGMA_CONTRACT_BASE_URL:?set it to the server to send this request to}"


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + f"… [{len(text):,} characters]"


CURL_LINE = 16384  # a curl line longer than this (huge headers from a recording) is cut, after redaction


def _cut_line(line: str) -> str:
    return line if len(line) <= CURL_LINE else line[:CURL_LINE] + f" # line cut: {len(line):,} characters in all"


HEADER_NAME = 256
HEADER_EXCERPT = 512  # a header value in a finding; a server's 60 KB header would otherwise sit in every finding


def _headers(headers: dict[str, str], redactor: Redactor) -> dict[str, str]:
    """Redacted whole, then cut, then cleaned (the order that never keeps part of a key)."""
    shown = {}
    for name, value in redactor.headers(headers).items():
        cut = value if len(value) <= HEADER_EXCERPT else value[:HEADER_EXCERPT] + f"… [{len(value)} characters]"
        shown[clean_text(_cut(name, HEADER_NAME))] = clean_text(cut)
    return shown


def error_field(body: bytes | None) -> str:
    """The `error` text of an ApiError-like body (raw: redact it before cutting or showing), or ""."""
    try:
        value = json.loads(body or b"")
    except (ValueError, UnicodeDecodeError, RecursionError):
        return ""
    error = value.get("error") if isinstance(value, dict) else None
    return error if isinstance(error, str) and error.strip() else ""
