"""What every server of the toolkit does at its door: one Host/Origin guard, one capped body reader.

The mock, the proxy and the middleware take requests from whoever can reach them. Each
server runs on the bounded configuration (`wire.serve.server_config`: a deadline per
request, a cap on connections, a bounded head, trailers dropped) and meets each request
with the two functions here:

- `foreign_request`: a Host that is not a loopback name (a DNS-rebinding page reaching a
  loopback port), more than one Host, or an Origin of another site (a web page driving the
  server with the user's credentials attached) is refused, 403;
- `read_capped`: the body read up to a cap, and not one chunk further: past it the caller
  refuses (the mock: 400, the proxy: 413) or passes the rest through unkept (the
  middleware), and memory holds at most the cap and one chunk.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Awaitable, Callable, Collection, Iterable, MutableMapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

__all__ = ["CappedBody", "foreign_request", "host_name", "is_local_name", "is_loopback_name", "read_capped"]

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]


# RFC 3986 §3.2.2/§3.2.3: host [":" port], the host an IP literal in brackets (nothing after its `]` but a port) or a name
# or IPv4 address holding no bracket; the port digits only. urlsplit reads `[::1]evil.com` and `[::1]]` as `::1`.
_AUTHORITY = re.compile(r"(?:\[[^\[\]]*\]|[^\[\]:]*)(?::[0-9]*)?")
# What a browser sends in Sec-Fetch-Site (Fetch Metadata): one of these tokens, once
_FETCH_SITES = frozenset({"cross-site", "same-origin", "same-site", "none"})


def host_name(header: str) -> str:
    """The host of a Host header (or an Origin's authority), lowercased, without its port ("" when unreadable).

    A value holding what no host holds (userinfo, a path, a query, a fragment, a backslash, a space, a port that is no
    number) is unreadable: `evil.invalid@127.0.0.1` is no Host a browser sends, and no name to answer to.
    """
    if any(char in header for char in "@/\\?# \t") or _AUTHORITY.fullmatch(header.strip()) is None:
        return ""
    try:
        parts = urlsplit(f"//{header.strip()}")
        _ = parts.port  # a port that is no number (`127.0.0.1:*`, `127.0.0.1:1x`): no Host a client sends
    except ValueError:
        return ""
    return (parts.hostname or "").lower()


def is_loopback_name(host: str) -> bool:
    """A loopback address (127.0.0.0/8, ::1) or `localhost` (and its subdomains, which resolve to it)."""
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        pass
    return host == "localhost" or host.endswith(".localhost")


def is_local_name(host: str) -> bool:
    """A Host the servers answer: a loopback name, or a name without a dot (a container's service name, `mock`)."""
    return bool(host) and (is_loopback_name(host) or "." not in host)


def _origin_host(origin: str) -> str:
    """An Origin's host: `scheme://host[:port]` and nothing more (a `\\@`, a path or userinfo: "", no origin)."""
    scheme, sep, authority = origin.partition("://")
    if not sep or not scheme.isalpha() or any(char in authority for char in "@/\\?# \t") or _AUTHORITY.fullmatch(authority) is None:
        return ""
    try:
        return (urlsplit(origin).hostname or "").lower()
    except ValueError:
        return ""


def foreign_request(raw_headers: Iterable[tuple[bytes, bytes]], *, allowed_hosts: Collection[str] = (),
                    allowed_origins: Collection[str] = (), local_origins: bool = False,
                    dotless_hosts: bool = True) -> str | None:
    """Why a request must be refused as coming from elsewhere (None when it may be served).

    `raw_headers`: the request's headers as received (ASGI's pairs of bytes). There must be one
    Host, a loopback name or in `allowed_hosts` ("*": any; `host [":" port]` read strictly: nothing after an IP
    literal's `]` but a port), at most one Origin, and at most one Sec-Fetch-Site, a value it has; a request a
    web page made (an Origin, or Sec-Fetch-Site cross-site or same-site) must come from an origin
    in `allowed_origins`, or, with `local_origins`, from a page on a loopback name or address
    (`localhost`, 127.0.0.0/8, ::1: a developer's own front-end; not a dotless `http://printer`).
    `dotless_hosts=False`: a dotless Host (a container's service name) is refused too, for a server
    only loopback can reach: there such a name can only be a DNS-rebinding page's (a search domain's).
    """
    hosts: list[str] = []
    origins: list[str] = []
    fetch_sites: list[str] = []
    for name, value in raw_headers:
        lowered = name.lower()
        if lowered == b"host":
            hosts.append(value.decode("latin-1"))
        elif lowered == b"origin":
            origins.append(value.decode("latin-1"))
        elif lowered == b"sec-fetch-site":
            fetch_sites.append(value.decode("latin-1").strip(" \t").lower())
    if len(hosts) > 1:
        return "answers only a request with one Host header, not several"
    # one Sec-Fetch-Site, one of its tokens: a repeated or unknown one is no browser's (which one a reader keeps differs)
    if len(fetch_sites) > 1 or (fetch_sites and fetch_sites[0] not in _FETCH_SITES):
        return "refuses requests with a Sec-Fetch-Site that is not one of its values once"
    fetch_site = fetch_sites[0] if fetch_sites else ""
    host = host_name(hosts[0] if hosts else "")
    local = is_local_name(host) if dotless_hosts else is_loopback_name(host)
    if "*" not in allowed_hosts and host not in allowed_hosts and not local:
        return f"answers only a loopback Host (127.0.0.1, ::1, localhost), not {host[:64]!r}"
    if len(origins) > 1:
        return "refuses requests with more than one Origin"
    origin = origins[0] if origins else None
    if origin is None and fetch_site not in ("cross-site", "same-site"):
        return None
    if "*" in allowed_origins or origin in allowed_origins:
        return None
    if local_origins and origin is not None and is_loopback_name(_origin_host(origin)):
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


async def read_capped(receive: Receive, limit: int, buffer: bytearray | None = None) -> CappedBody:
    """The request's body, read until it ends or passes `limit` bytes (then not one message more).

    The bytes are gathered in one buffer, whatever the number of messages (a client sending a
    byte per packet costs the bytes, not a list of a million chunks). `buffer`: the caller's, empty, to
    hold the bytes read before `receive` raises (they are the app's to be handed: `asgi.ContractMiddleware`).
    """
    buffer = bytearray() if buffer is None else buffer
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
