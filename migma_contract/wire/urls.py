"""Where a request may go: a URL the user gives, read once; the API's root as users write it; the production guard.

Every URL the user gives (`check --base-url`, `proxy --upstream`, the pytest plugin's base URL, from a flag, the
environment or a config file) is read by `check_url` through the options table, before anything is sent: a URL no
request can reach as written is a usage error (exit 2), never a failed request or a crash; the table first reads it
as it is sent to (`usable_url`: the whitespace around it dropped, an IPv6 zone's `%25` decoded). Every way in (the check,
the proxy, the pytest fixtures) names its target through `api_root` and `guard_production`, so "nothing is sent to
the document's production server unless the user allows it" is decided in one place, an IP address compared as an
address (`host_of`).
"""

from __future__ import annotations

import ipaddress
import re
import socket
import unicodedata
from collections.abc import Iterable
from urllib.parse import urlsplit

from migma_contract.core.exceptions import ConfigError
from migma_contract.core.flags import flag
from migma_contract.core.redact import strip_credentials

__all__ = ["api_root", "check_url", "client_mounts", "guard_production", "host_of", "lookup_host", "reached_directly",
           "usable_url"]

# The authority after its userinfo: a bracketed IP literal or a name, then an optional port, and nothing else
# (`[::1]x:1` is no authority: urllib drops the `x`).
_AUTHORITY = re.compile(r"(?:\[([^\]]*)\]|([^\[\]:]*))(?::([0-9]*))?\Z")
# What a host name may hold once httpx has IDNA-encoded it: letters, digits, `-`, `_` (names that getaddrinfo and
# /etc/hosts resolve, Docker's service names among them) and the dots between labels
_NAME = re.compile(r"[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*\.?\Z")
MAX_LABEL, MAX_NAME = 63, 253  # RFC 1035 §2.3.4: a label's octets, a name's (without the root's dot)
# An IPv6 literal's zone (RFC 6874: `[fe80::1%25eth0]`, `%25` the escaped `%`; `%eth0` as many tools write it): the
# zone an interface name or index is, unreserved characters only
_ZONED = re.compile(r"(\[[0-9A-Fa-f:.]+)%25([^\]]+)\]")
_ZONE = re.compile(r"[A-Za-z0-9._~-]+\Z")
# What `socket.inet_aton` (and getaddrinfo, on the C library's reading) takes for an IPv4 address: `10.0.5`,
# `167772165`, `0x0a.0.0.5`, `012.0.0.5`; asked only of a host made of digits, dots and hex prefixes
_IPV4_LIKE = re.compile(r"(?:0[xX][0-9A-Fa-f]*|[0-9]+)(?:\.(?:0[xX][0-9A-Fa-f]*|[0-9]+)){0,3}\Z")


def _shown(url: str) -> str:
    shown = strip_credentials(url)
    return repr(shown if len(shown) <= 80 else shown[:80] + "…")


def usable_url(value: str) -> str:
    """A URL the user gave as it is sent to: without the whitespace around it (a line end `$(cat url.txt)` or an
    environment file leaves), an IPv6 zone's `%25` decoded (`[fe80::1%25eth0]` connects to `fe80::1%eth0`: httpx and the
    proxy hand the zone to the lookup as written)."""
    value = value.strip()
    scheme, sep, rest = value.partition("://")
    if not sep:
        return value
    end = len(rest)
    for stop in "/?#":
        found = rest.find(stop)
        end = found if 0 <= found < end else end
    authority = rest[:end]
    at = authority.rfind("@") + 1
    host = _ZONED.sub(r"\1%\2]", authority[at:], count=1)
    return f"{scheme}{sep}{authority[:at]}{host}{rest[end:]}"


def _named(character: str) -> str:
    """A character shown so that it is seen: its escape and its Unicode name (`'\\xa0' (U+00A0 NO-BREAK SPACE)`)."""
    name = unicodedata.name(character, "a control character" if unicodedata.category(character) == "Cc" else "unnamed")
    return f"{character!a} (U+{ord(character):04X} {name})"


def _odd_character(value: str) -> str | None:
    """The first character of `value` no URL holds as written (a control, an invisible or a non-printing one), named."""
    for position, character in enumerate(value, 1):
        if not character.isprintable():
            return f"holds {_named(character)} at character {position}: remove it, or percent-encode it if it is meant"
    return None


def _unreadable(value: str, error: ValueError) -> str:
    """Why urllib could not read the host or port of `value`, told from the kind of its error (never its words: they
    may quote a password)."""
    after = value.partition("://")[2]
    userinfo = after[:after.rfind("@")] if "@" in after else ""
    if "[" in userinfo or "]" in userinfo:
        return "its user name or password holds [ or ]: percent-encode them as %5B and %5D"
    told = str(error)
    if "out of range" in told:
        return "its port is past 65535"
    if "Port" in told:
        return ("its port is no number (the digits after the host's colon), or its password holds #, /, ? or @ "
                "unencoded: percent-encode them")
    return "a bracket holds no IPv6 address, or one stands unpaired"


def _host_problem(value: str) -> str | None:
    """Why no request reaches the host of `value` as written (None: a host a request can be sent to)."""
    import httpx

    netloc = urlsplit(value).netloc.rpartition("@")[2]
    authority = _AUTHORITY.match(netloc)
    if authority is None:
        return "its host is no host name and no bracketed IP address (text beside the brackets, or a stray bracket)"
    if authority.group(1) is not None:
        address, percent, zone = authority.group(1).partition("%")
        if percent and zone.startswith("25"):
            zone = zone[2:]  # RFC 6874's escaped `%` (`usable_url` decodes it before anything connects)
        if percent and _ZONE.match(zone) is None:
            return (f"the zone of [{authority.group(1)[:40]}] may hold letters, digits and - . _ ~ only (an interface "
                    "name such as %25eth0, or its index)")
        try:
            ipaddress.IPv6Address(address)
        except ValueError:
            return f"[{authority.group(1)[:40]}] is no IPv6 address"
        return None
    try:
        url = httpx.URL(value)
        host = url.raw_host.decode("ascii")
        _ = url.host  # what httpx's send path reads: an A-label no IDNA 2008 codec decodes (`xn--ls8h.la`) fails there
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
    characters, a name past 253, an A-label httpx cannot decode back), text beside a bracketed address, an IPv6 zone that is
    no interface name, or a character no URL holds as written (named, escaped). The message never shows its credentials."""
    if value != value.strip():
        space = value[0] if value[:1].isspace() else value[-1]
        raise ConfigError(f"{where}: not a usable URL (it has whitespace around it, {_named(space)}: remove it): "
                          f"{_shown(value.strip())}")
    odd = _odd_character(value)
    if odd is not None:
        raise ConfigError(f"{where}: not a usable URL (it {odd}): {_shown(value)}")
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError as exc:  # urllib's words may quote the URL's parts, a password among them (a `#` or `/` in it)
        raise ConfigError(f"{where}: not a usable URL ({_unreadable(value, exc)})") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
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
    """The host a request to `url` reaches, as httpx normalises it (IDNA dots, case) without the DNS root's dot; an IP
    address in one spelling whatever spelling it was given in.

    `https://api.migma.ai./` and `https://api。migma.ai` reach api.migma.ai: the guard must see that too; so do
    `[2001:db8:0:0:0:0:0:5]` and `[2001:db8::5]`, and `10.0.5`, `167772165` and `[::ffff:10.0.0.5]` (getaddrinfo reads
    each as 10.0.0.5).
    """
    import httpx

    try:
        host = httpx.URL(url).host
    except (httpx.InvalidURL, ValueError, TypeError):
        host = urlsplit(url).hostname or ""
    return _address(host.lower().rstrip("."))


def _address(host: str) -> str:
    """`host` as the one text of its IP address, if it is one (IPv4-mapped IPv6 as its IPv4; a zone dropped); else as is."""
    literal = host.strip("[]").partition("%")[0]
    try:
        address: ipaddress.IPv4Address | ipaddress.IPv6Address = ipaddress.ip_address(literal)
    except ValueError:
        if _IPV4_LIKE.match(host) is None:
            return host
        try:
            address = ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return host
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return str(address)


def reached_directly(url: str) -> bool:
    """Whether a client for `url` must connect to it itself, never through a proxy the environment names: a loopback
    host (a loopback address in any spelling `host_of` reads, 0.0.0.0 and `::`, `localhost` and its `*.localhost` names,
    with or without the root's dot). Through a proxy, "this machine" is the proxy's machine, and the request (the key in its
    Authorization header) travels to the proxy host in clear text (pass X4, F7)."""
    host = host_of(url)
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_unspecified  # (a connection to 0.0.0.0 or :: reaches this machine)


# The patterns httpx mounts the environment's proxies on (HTTP_PROXY, HTTPS_PROXY, ALL_PROXY and their lower-case
# spellings, as urllib's `getproxies` reads them: `httpx._utils.get_environment_proxies`); NO_PROXY's hosts are mounted
# as direct already. A pattern mounted on None is reached by the client's own transport: directly.
_ENVIRONMENT_PROXY_PATTERNS = ("http://", "https://", "all://")


def client_mounts(url: str) -> dict[str, None]:
    """The `mounts` every httpx client the toolkit builds for the target `url` is given: for a loopback target
    (`reached_directly`), no proxy of the environment's; for another one, none (the environment's proxies, and
    NO_PROXY, are honoured as httpx reads them: a target the user named, or a file they trust names, docs/safety.md).
    The client keeps `trust_env` otherwise (SSL_CERT_FILE, SSL_CERT_DIR)."""
    return dict.fromkeys(_ENVIRONMENT_PROXY_PATTERNS) if reached_directly(url) else {}


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
