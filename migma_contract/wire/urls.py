"""Where a request may go: the API's root as users write it, and the production guard.

Every way in (the check, the proxy, the pytest fixtures) names its target through these
two functions, so "nothing is sent to the document's production server unless the user
allows it" is decided in one place.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

from migma_contract.core.exceptions import ConfigError
from migma_contract.core.flags import flag

__all__ = ["api_root", "guard_production", "host_of"]


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
