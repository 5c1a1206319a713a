"""How a message names a flag: as the CLI spells it, unless the way in says otherwise.

Messages are written once, naming flags the CLI's way (`pass --from`); the pytest plugin
runs a check inside `spelled(...)` with pytest's spellings, so the same message reads
`pass --migma-from` there. Only the toolkit's own words go through `flag`: a server's text
quoted in a message is never rewritten.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar

__all__ = ["flag", "spelled"]

_SPELLINGS: ContextVar[Mapping[str, str] | None] = ContextVar("migma_contract_flag_spellings", default=None)


def flag(cli: str) -> str:
    """`cli` (a flag as the CLI spells it, `--from`) as the current way in spells it."""
    spellings = _SPELLINGS.get()
    return cli if spellings is None else spellings.get(cli, cli)


@contextmanager
def spelled(spellings: Mapping[str, str]) -> Iterator[None]:
    """Within this block (this thread or task and what it starts), flags read as `spellings` say."""
    token = _SPELLINGS.set(dict(spellings))
    try:
        yield
    finally:
        _SPELLINGS.reset(token)
