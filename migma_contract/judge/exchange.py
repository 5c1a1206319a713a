"""One exchange, whatever produced it: the protocol the judge reads.

In the spirit of openapi-core's request/response protocols: the check's exchanges
(`wire.client.Exchange`), recorded and proxied ones (`traffic.tally.ObservedExchange`),
the middleware's, and the Schemathesis adapter all satisfy it structurally; the judge
needs nothing else from them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol, runtime_checkable

__all__ = ["Exchange", "lowered"]


@runtime_checkable
class Exchange(Protocol):
    """What was sent and what came back (`status` None: no answer; a body None: not recorded)."""

    @property
    def method(self) -> str: ...

    @property
    def target(self) -> str:
        """The request target: a path (and query), or an absolute URL."""
        ...

    @property
    def sent_headers(self) -> Mapping[str, str]:
        """The request's headers, names lower-cased, repeated fields joined with ", "."""
        ...

    @property
    def sent_body(self) -> bytes | None: ...

    @property
    def status(self) -> int | None: ...

    @property
    def received_headers(self) -> Mapping[str, str]:
        """The response's headers, names lower-cased."""
        ...

    @property
    def received_body(self) -> bytes | None: ...

    @property
    def elapsed(self) -> float | None: ...

    @property
    def timed_out(self) -> bool: ...

    @property
    def error(self) -> str | None: ...


def lowered(pairs: Mapping[str, str] | list[tuple[str, str]]) -> dict[str, str]:
    """Header fields with lower-cased names; a repeated field's values joined with ", " (RFC 9110 §5.3).

    Linear in the headers' size: each field's values are joined once (joining them one by one copies the
    value so far for every repetition, and nine thousand repetitions of a 64 KB value took hours).
    """
    items = pairs if type(pairs) is list else pairs.items() if isinstance(pairs, Mapping) else list(pairs)  # (a list first: no ABC check)
    once: dict[str, str] = {}
    for name, value in items:  # most header lists name each field once: one pass, no lists
        key = name.lower()
        if key in once:
            break
        once[key] = value
    else:
        return once
    merged: dict[str, list[str]] = {}
    for name, value in items:
        merged.setdefault(name.lower(), []).append(value)
    return {key: values[0] if len(values) == 1 else ", ".join(values) for key, values in merged.items()}
