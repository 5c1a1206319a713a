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
import re
import shlex
from typing import Any
from urllib.parse import urlsplit

from migma_contract.core.bounded import loads
from migma_contract.core.redact import Redactor, sensitive_header, strip_credentials
from migma_contract.core.untrusted import clean_text
from migma_contract.run.result import RequestRecord, ResponseRecord
from migma_contract.wire.client import Exchange

__all__ = ["BODY_EXCERPT", "PLACEHOLDER_BASE", "make_records", "rebuilt_curl"]

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
    """One ANSI-C quoted shell word (`$'...'`): only printable ASCII other than quotes and backslash as is.

    Quotes and the backslash are written as `\\xNN` too, so no later masking of a part of the word
    (a `[REDACTED]` put in place of a value) can take the quote that closes it.
    """
    out = []
    for byte in content:
        if 32 <= byte < 127 and byte not in (0x22, 0x27, 0x5C):
            out.append(chr(byte))
        else:
            out.append(f"\\x{byte:02x}")
    return "$'" + "".join(out) + "'"


def _shell(text: str) -> str:
    """One shell word on one line: quoted plainly if printable, as $'...' (ANSI-C) otherwise."""
    return shlex.quote(text) if text.isprintable() else _ansi_c(text.encode("utf-8", errors="surrogateescape"))


def _word(pieces: list[tuple[str, bool]]) -> str:
    """One shell word from literal pieces (each quoted: nothing in them expands) and variable pieces (`(name, True)`).

    Only a variable reference is written between double quotes, and it is written by the toolkit
    (`$MIGMA_CONTRACT_API_KEY`, the base URL's placeholder), never copied from traffic: `$(...)`,
    backticks and `$VAR` in a recorded URL, header or body reach curl as the characters they are.
    """
    return "".join(f'"{piece}"' if variable else _shell(piece) for piece, variable in pieces if piece or not variable) or "''"


def _with_variables(text: str, keys: dict[str, str]) -> list[tuple[str, bool]]:
    """`text` cut into literal pieces and `${variable}` pieces where it holds a key of `keys`."""
    pieces: list[tuple[str, bool]] = [(text, False)]
    for secret, variable in sorted(keys.items(), key=lambda item: len(item[0]), reverse=True):
        if not secret:
            continue
        split: list[tuple[str, bool]] = []
        for piece, is_variable in pieces:
            if is_variable or secret not in piece:
                split.append((piece, is_variable))
                continue
            for index, part in enumerate(piece.split(secret)):
                if index:
                    split.append((f"${variable}", True))
                split.append((part, False))
        pieces = split
    return [(piece, variable) for piece, variable in pieces if piece]


# Headers of the transport, which curl writes itself from the URL, the body and its own settings: copied
# from recorded traffic (a browser's `accept-encoding: gzip, deflate`, an HTTP/2 `:authority`), they would
# contradict what curl sends (a stale content-length) or change the answer (a gzip body curl does not inflate).
TRANSPORT_HEADERS = frozenset({"accept-encoding", "connection", "content-length", "expect", "host", "keep-alive",
                               "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade"})


# curl's options that keep a line from doing more than send the one request it shows: no URL globbing (a recorded
# `?n=[1-1000000]` would send a million requests, `{a,b}` two, each with the user's key), and http(s) only (not
# file://, nor any other scheme curl speaks, whatever the base the user sets or a URL holds)
CURL_GUARDS = ("--globoff", "--proto", "=http,https")
# what an HTTP method and a header name may hold (RFC 9110 token): anything else (a line break that would end the
# header and start another, a NUL a shell cuts the word at, a leading `@` that makes curl read a file) is left out
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_BREAKS = ("\r", "\n", "\x00")


def _unsendable(value: str) -> bool:
    """A header value, URL or body a command line cannot carry as it is: a line break (curl would send the rest as
    another header, or another request line) or a NUL (the shell ends the word there)."""
    return any(ch in value for ch in _BREAKS)


def curl_line(exchange: Exchange[Any], url: str, keys: dict[str, str], whole: str = "the same --seed sends it again",
              redactor: Redactor | None = None, *, base: str | None = None, body_known: bool = True) -> str:
    """A one-line shell command that sends the same request; `keys` maps secret -> env var name.

    Every word is built from its parts: what came from traffic (the URL's path and query, header
    names and values, the body) is single-quoted (or ANSI-C quoted) and redacted before it is
    quoted; only variable references the toolkit writes (`base`, a shell expansion such as
    `PLACEHOLDER_BASE` put before `url`, and the keys' variables) stand between double quotes.
    The transport's own headers (`TRANSPORT_HEADERS`, HTTP/2 pseudo-headers) are left to curl. A
    body over `CURL_BODY` bytes is read from a file (`BODY_FILE`) instead, and a shell comment at
    the end says how long it is and where the whole of it comes from (`whole`). A line past
    `CURL_LINE` characters ends after its last whole word, with a comment that says so.

    Nothing from traffic can make curl do more than send this one request (`CURL_GUARDS`: no URL
    globbing, http(s) only; a body is always `--data-raw`, whose leading `@` names no file); a
    method or header name that is not a token, or a header value with a line break or NUL, is left
    out and the comment says so (curl would send a line break on as the start of another header);
    such bytes of the URL are percent-encoded. Without `body_known` (a report kept only part of it), the
    body is read from `BODY_FILE` whatever its size.
    """
    mask = redactor or Redactor()
    target: list[tuple[str, bool]] = [(base, True)] if base else []
    notes: list[str] = []
    if _unsendable(url):
        url = url.replace("\r", "%0D").replace("\n", "%0A").replace("\x00", "%00")
        notes.append("line breaks or NUL in the URL percent-encoded")
    parts = ["curl", "-sS", "-i", *CURL_GUARDS]
    if _TOKEN.fullmatch(exchange.method):
        parts += ["-X", _shell(mask.text(exchange.method))]
    else:
        notes.append("the method left out: not an HTTP token (curl sends POST)")
    parts.append(_word([*target, (mask.text(url), False)]))
    left_out = 0  # headers that alone would pass the line's length (quoted whole first, they cost memory for nothing)
    malformed = 0  # headers a command line cannot send as they were (a line break, a NUL, a name that is no token)
    for name, value in exchange.request_headers.items():
        if name.startswith(":") or name.lower() in TRANSPORT_HEADERS:
            continue
        if len(name) + len(value) > CURL_LINE or sum(map(len, parts)) > CURL_LINE:
            left_out += 1
            continue
        if not _TOKEN.fullmatch(name) or _unsendable(value):
            malformed += 1
            continue
        parts += ["-H", _header_word(name, value, keys, mask)]
    content = exchange.request_content
    if not body_known or len(content) > CURL_BODY or b"\x00" in content:
        parts += ["--data-binary", f"@{BODY_FILE}"]
        why = "the report holds only part of it" if not body_known else \
            f"its {len(content):,} bytes are not repeated here" if len(content) > CURL_BODY else \
            f"its {len(content):,} bytes hold a NUL, which a command line cannot carry"
        notes.insert(0, f"body cut: {why}; put them in {BODY_FILE} ({whole})")
    else:
        text = mask.text(content.decode("utf-8", errors="surrogateescape"))
        # --data-raw, never --data-binary or -d: a body starting with @ is sent as it is, not read from a file
        parts += ["--data-raw", shlex.quote(text) if text.isprintable() else _ansi_c(text.encode("utf-8", errors="surrogateescape"))]
    if malformed:
        notes.append(f"{malformed} header(s) left out: a line break, a NUL or a name that is no HTTP token")
    line, size = [], 0
    for index, part in enumerate(parts):
        if size + len(part) > CURL_LINE:
            notes.insert(0, f"line cut: {len(parts) - index} of its {len(parts)} words left out")
            break
        line.append(part)
        size += len(part) + 1
    if left_out:
        notes.append(f"{left_out} header(s) left out: over {CURL_LINE:,} characters")
    if notes:
        line.append(clean_text(mask.text("# " + "; ".join(notes))))
    return " ".join(line)


def _header_word(name: str, value: str, keys: dict[str, str], mask: Redactor) -> str:
    """`-H`'s word for one header: a key of `keys` as its variable, a credential header's other value masked."""
    if name.lower() == "authorization" and value.lower().startswith("basic "):
        try:
            decoded = base64.b64decode(value.split(" ", 1)[1], validate=True).decode("utf-8", errors="surrogateescape")
        except ValueError:  # a deliberately malformed credential of a probe
            decoded = ""
        pieces = _with_variables(decoded, keys)
        if any(variable for _, variable in pieces):
            user = _word([(piece if variable else mask.text(piece), variable) for piece, variable in pieces])
            return _word([(f"{mask.text(name)}: Basic ", False), (f"$(printf '%s' {user} | base64 | tr -d '\\n')", True)])
    pieces = _with_variables(f"{name}: {value}", keys)
    if not any(variable for _, variable in pieces) and sensitive_header(name):
        return _word([(f"{mask.text(name)}: {mask.header_value(name, value)}", False)])
    return _word([(piece if variable else mask.text(piece), variable) for piece, variable in pieces])


def make_records(
    exchange: Exchange[Any], redactor: Redactor, keys: dict[str, str], display_base: str | None, *,
    curl_base: str | None = None, whole: str = "the same --seed sends it again",
) -> tuple[RequestRecord, ResponseRecord]:
    """The request and response of `exchange`, safe to publish.

    `curl_base` replaces the scheme and host in the curl line (observed traffic: a recording
    chose that host, so the line names a variable the user sets instead, `PLACEHOLDER_BASE`);
    `whole` says where a body too long for the curl line can be had whole.
    """
    if curl_base is None and display_base and display_base.startswith("${"):
        curl_base = display_base  # a variable the toolkit wrote (the embedded target's address): expanded, the path not
    path = exchange.url.split("://", 1)[-1].split("/", 1)[-1] if "://" in exchange.url else exchange.url.lstrip("/")
    shown_url = f"{display_base.rstrip('/')}/{path}" if display_base else strip_credentials(exchange.url)
    curl_url = "/" + strip_credentials("http://h/" + path).split("/", 3)[-1] if curl_base else shown_url
    if len(curl_url) > URL_EXCERPT:  # redacted whole, then cut (a cut key is unrecognisable)
        curl_url = redactor.text(curl_url)[:URL_EXCERPT] + "…cut"
    request = RequestRecord(
        method=exchange.method,
        url=clean_text(_cut(redactor.text(shown_url), URL_EXCERPT)),
        headers=_headers(exchange.request_headers, redactor),
        body=excerpt(exchange.request_content, redactor),
        body_size=len(exchange.request_content),
        curl=shell_line(curl_line(exchange, curl_url, keys, whole, redactor, base=curl_base.rstrip("/") if curl_base else None), redactor),
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
_CUT_NOTE = re.compile(r"… \[[0-9,]+ characters\]$")


def rebuilt_curl(request: RequestRecord) -> str:
    """The curl line of a request a report recorded, rebuilt from its parts by `curl_line` (the `curl` a file holds is
    never shown: a conformance.json may come from anyone, and its line could send a key elsewhere or run a command).

    Every rule of a line the toolkit builds holds: the host is `PLACEHOLDER_BASE` (the file chose the one it names),
    every recorded part is quoted, keys read `[REDACTED]` as the report shows them (no variable of the user's is put
    in), a body the report cut is read from `BODY_FILE`. A URL the report cut is withheld, with a note saying so.
    """
    url = request.url
    if url.startswith("${"):
        path = url[url.find("}") + 1:] if "}" in url else ""
    elif "://" in url:
        parts = urlsplit(url)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
    else:
        path = url
    if _CUT_NOTE.search(url) or len(url) > URL_EXCERPT:
        return "# curl line withheld: the report holds only part of the request's URL"
    body = request.body.encode("utf-8", errors="surrogateescape")
    exchange: Exchange[Any] = Exchange[Any](case=None, method=request.method, url=path,
                                              request_headers=dict(request.headers), request_content=body)
    mask = Redactor()
    line = curl_line(exchange, "/" + path.lstrip("/"), {}, "the report holds an excerpt only", mask,
                     base=PLACEHOLDER_BASE, body_known=len(body) == request.body_size)
    return shell_line(line, mask)


def shell_line(line: str, redactor: Redactor) -> str:
    """The curl line as built, or withheld whole (`Redactor.shell_line`: masking a part could unquote the rest)."""
    shown: str = redactor.shell_line(line)
    return shown


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + f"… [{len(text):,} characters]"


CURL_LINE = 16384  # a curl line longer than this (huge headers from a recording) ends after its last whole word


HEADER_NAME = 256
HEADER_EXCERPT = 512  # a header value in a finding; a server's 60 KB header would otherwise sit in every finding


def _headers(headers: dict[str, str], redactor: Redactor) -> dict[str, str]:
    """Redacted whole, then cut, then cleaned (the order that never keeps part of a key)."""
    shown = {}
    # read a little past what is shown (a key crossing the cut is still whole when masked); never a huge value whole
    near = {name: value[:HEADER_EXCERPT + 1024] for name, value in headers.items()}
    for name, value in redactor.headers(near).items():
        whole = len(headers.get(name, value))
        cut = value if whole <= HEADER_EXCERPT else value[:HEADER_EXCERPT] + f"… [{whole} characters]"
        shown[clean_text(_cut(name, HEADER_NAME))] = clean_text(cut)
    return shown


def error_field(body: bytes | None) -> str:
    """The `error` text of an ApiError-like body (raw: redact it before cutting or showing), or ""."""
    try:
        value = loads(body or b"")
    except (ValueError, UnicodeDecodeError, RecursionError):
        return ""
    error = value.get("error") if isinstance(value, dict) else None
    return error if isinstance(error, str) and error.strip() else ""
