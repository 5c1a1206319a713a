"""What every server of the toolkit does at its door: one Host/Origin guard, one capped body reader.

The mock, the proxy and the middleware take requests from whoever can reach them. Each
server runs on the bounded configuration (`wire.serve.server_config`: a deadline per
request, a cap on connections, a bounded head, trailers dropped) and meets each request
with the two functions here:

- `foreign_request`: a Host that is not a loopback name (a DNS-rebinding page reaching a
  loopback port) or an Origin of another site (a web page driving the server with the
  user's credentials attached) is refused, 403;
- `read_capped`: the body read up to a cap, and not one chunk further: past it the caller
  refuses (the mock: 400, the proxy: 413) or passes the rest through unkept (the
  middleware), and memory holds at most the cap and one chunk.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable, Collection, Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

__all__ = ["CappedBody", "foreign_request", "host_name", "is_local_name", "read_capped"]

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]


def host_name(header: str) -> str:
    """The host of a Host header (or an Origin's authority), lowercased, without its port ("" when unreadable)."""
    try:
        return (urlsplit(f"//{header.strip()}").hostname or "").lower()
    except ValueError:
        return ""


def is_local_name(host: str) -> bool:
    """A loopback address, `localhost`, or a name without a dot (no DNS-rebinding attacker owns one)."""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    return bool(host) and (host == "localhost" or host.endswith(".localhost") or "." not in host)


def _origin_host(origin: str) -> str:
    try:
        return (urlsplit(origin).hostname or "").lower()
    except ValueError:
        return ""


def foreign_request(headers: Mapping[str, str], *, allowed_hosts: Collection[str] = (), allowed_origins: Collection[str] = (),
                    local_origins: bool = False) -> str | None:
    """Why a request must be refused as coming from elsewhere (None when it may be served).

    `headers`: lowercased names. The Host must be a loopback name or in `allowed_hosts`
    ("*": any); a request a web page made (an Origin, or Sec-Fetch-Site cross-site or
    same-site) must come from an origin in `allowed_origins`, or, with `local_origins`, from
    a page on a loopback name (a developer's own front-end on localhost).
    """
    host = host_name(headers.get("host", ""))
    if "*" not in allowed_hosts and host not in allowed_hosts and not is_local_name(host):
        return f"answers only a loopback Host (127.0.0.1, ::1, localhost), not {host[:64]!r}"
    origin = headers.get("origin")
    if origin is None and headers.get("sec-fetch-site", "") not in ("cross-site", "same-site"):
        return None
    if "*" in allowed_origins or origin in allowed_origins:
        return None
    if local_origins and origin is not None and is_local_name(_origin_host(origin)):
        return None
    return "refuses requests from web pages of another origin"


@dataclass
class CappedBody:
    """A request body read up to a cap: whole (`content`), or over the cap (`content` None, nothing more read).

    `read` holds the bytes read (at most the cap and one chunk), to replay to an app as one
    message (`replay`); `disconnected` says the client left before the body ended.
    """

    content: bytes | None
    size: int
    read: bytes = b""
    disconnected: bool = False
    complete: bool = False

    @property
    def over(self) -> bool:
        return self.content is None and not self.disconnected

    def replay(self) -> list[Message]:
        """What was read, as the messages an app receives first (one: message boundaries carry no meaning in ASGI)."""
        messages: list[Message] = [{"type": "http.request", "body": self.read, "more_body": not self.complete}]
        if self.disconnected:
            messages.append({"type": "http.disconnect"})
        return messages


async def read_capped(receive: Receive, limit: int) -> CappedBody:
    """The request's body, read until it ends or passes `limit` bytes (then not one message more).

    The bytes are gathered in one buffer, whatever the number of messages (a client sending a
    byte per packet costs the bytes, not a list of a million chunks).
    """
    buffer = bytearray()
    while True:
        message = await receive()
        kind = message["type"]
        if kind == "http.disconnect":
            return CappedBody(None, len(buffer), bytes(buffer), disconnected=True)
        if kind != "http.request":
            continue
        chunk = message.get("body", b"")
        if not buffer and not message.get("more_body", False) and len(chunk) <= limit:  # the common case: one message
            return CappedBody(chunk, len(chunk), chunk, complete=True)
        if chunk:
            buffer += chunk
            if len(buffer) > limit:  # over: and maybe the last chunk too (then nothing more comes to read)
                return CappedBody(None, len(buffer), bytes(buffer), complete=not message.get("more_body", False))
        if not message.get("more_body", False):
            content = bytes(buffer)
            return CappedBody(content, len(content), content, complete=True)
