"""Where a request may go: a URL the user gives, read once; the API's root as users write it; the production guard.

Every URL the user gives (`check --base-url`, `proxy --upstream`, the pytest plugin's base URL, from a flag, the
environment or a config file) is read by `check_url` through the options table, before anything is sent: a URL no
request can reach as written is a usage error (exit 2), never a failed request or a crash. Every way in (the check,
the proxy, the pytest fixtures) names its target through `api_root` and `guard_production`, so "nothing is sent to
the document's production server unless the user allows it" is decided in one place.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from urllib.parse import urlsplit

from migma_contract.core.exceptions import ConfigError
from migma_contract.core.flags import flag
from migma_contract.core.redact import strip_credentials

__all__ = ["api_root", "check_url", "guard_production", "host_of", "lookup_host"]

# The authority after its userinfo: a bracketed IP literal or a name, then an optional port, and nothing else
# (`[::1]x:1` is no authority: urllib drops the `x`).
_AUTHORITY = re.compile(r"(?:\[([^\]]*)\]|([^\[\]:]*))(?::([0-9]*))?\Z")
# What a host name may hold once httpx has IDNA-encoded it: letters, digits, `-`, `_` (names that getaddrinfo and
# /etc/hosts resolve, Docker's service names among them) and the dots between labels
_NAME = re.compile(r"[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*\.?\Z")
MAX_LABEL, MAX_NAME = 63, 253  # RFC 1035 §2.3.4: a label's octets, a name's (without the root's dot)


def _shown(url: str) -> str:
    shown = strip_credentials(url)
    return repr(shown if len(shown) <= 80 else shown[:80] + "…")


def _host_problem(value: str) -> str | None:
    """Why no request reaches the host of `value` as written (None: a host a request can be sent to)."""
    import httpx

    netloc = urlsplit(value).netloc.rpartition("@")[2]
    authority = _AUTHORITY.match(netloc)
    if authority is None:
        return "its host is no host name and no bracketed IP address (text beside the brackets, or a stray bracket)"
    if authority.group(1) is not None:
        literal = authority.group(1)
        try:
            ipaddress.IPv6Address(literal.replace("%25", "%", 1))
        except ValueError:
            return f"[{literal[:40]}] is no IPv6 address"
        return None
    try:
        host = httpx.URL(value).raw_host.decode("ascii")
    except (httpx.InvalidURL, ValueError, UnicodeError) as exc:
        return f"its host cannot be encoded for a lookup ({str(exc)[:80]})"
    if _NAME.match(host) is None:
        return "its host holds an empty label (two dots, a leading dot) or a character no host name holds"
    name = host.rstrip(".")
    if len(name) > MAX_NAME:
        return f"its host is {len(name)} characters long, past the {MAX_NAME} a host name may have"
    if any(len(label) > MAX_LABEL for label in name.split(".")):
        return f"a label of its host is past the {MAX_LABEL} characters a label may have"
    return None


def check_url(value: str, where: str) -> None:
    """Refuse (`ConfigError`, exit 2) a URL no request can be sent to as written: not http(s), no host, a port that
    cannot be read or is 0, a host that cannot be looked up by name (an IDNA failure, an empty label, a label past 63
    characters, a name past 253) or text beside a bracketed address. The message never shows its credentials."""
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:  # urllib's words may quote the URL's parts, a password among them (a `#` or `/` in it, unencoded)
        raise ConfigError(f"{where}: not a usable URL (its host or port cannot be read; a password holding #, / or ? "
                          "must be percent-encoded)") from None
    if parts.scheme not in ("http", "https") or not parts.hostname or not value.isprintable():
        raise ConfigError(f"{where}: must be an http:// or https:// URL with a host, such as http://127.0.0.1:4010, "
                          f"not {_shown(value)}")
    if port == 0:
        raise ConfigError(f"{where}: port 0 is not a port a server listens on")
    problem = _host_problem(value)
    if problem is not None:
        raise ConfigError(f"{where}: not a usable URL ({problem}): {_shown(value)}")


def lookup_host(url: str) -> str:
    """The host a connection to `url` looks up, as httpx sends it: IDNA-encoded ASCII, an IPv6 address unbracketed
    (for `socket.create_connection`; a `check_url`ed URL)."""
    import httpx

    try:
        return httpx.URL(url).raw_host.decode("ascii")
    except (httpx.InvalidURL, ValueError, UnicodeError):
        return urlsplit(url).hostname or ""


def host_of(url: str) -> str:
    """The host a request to `url` reaches, as httpx normalises it (IDNA dots, case) without the DNS root's dot.

    `https://api.migma.ai./` and `https://api。migma.ai` reach api.migma.ai: the guard must see that too.
    """
    import httpx

    try:
        host = httpx.URL(url).host
    except (httpx.InvalidURL, ValueError, TypeError):
        host = urlsplit(url).hostname or ""
    return host.lower().rstrip(".")


def api_root(url: str) -> str:
    """A base URL as clients write it, with or without a trailing `/v1`, as the API's root.

    `https://api.migma.ai/v1/` and `https://api.migma.ai` both give `https://api.migma.ai`,
    to which `/v1/sending` is appended.
    """
    root = url.rstrip("/")
    return root[: -len("/v1")] if root.endswith("/v1") else root


# The vendor's production API, refused whatever document is loaded: a document a repository hands over (its `spec`)
# must not be able to take the production host off the list by leaving it out of its `servers`.
PRODUCTION_HOSTS = frozenset({"api.migma.ai"})


def guard_production(url: str, servers: Iterable[str], *, allowed: bool, option: str | None = None) -> None:
    """Refuse `url` on a host of the document's `servers` or the vendor's production API unless `allowed`."""
    host = host_of(url)
    if not allowed and host in {host_of(server) for server in servers if server} | PRODUCTION_HOSTS:
        raise ConfigError(f"{host} is the production host of the document, where a request sends real email; "
                          f"pass {option or flag('--allow-production')} to do it on purpose")
