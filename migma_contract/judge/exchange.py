"""One exchange, whatever produced it: the protocol the judge reads.

In the spirit of openapi-core's request/response protocols: the check's exchanges
(`wire.client.Exchange`), recorded and proxied ones (`traffic.tally.ObservedExchange`),
the middleware's, and the Schemathesis adapter all satisfy it structurally; the judge
needs nothing else from them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol, runtime_checkable

from migma_contract.core.fields import joined as lowered  # every way in folds repeated fields alike (RFC 9110 §5.3)

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
    def sent_size(self) -> int | None:
        """The request body's bytes: those of `sent_body`, or as many as a way in counted of a body it did not keep
        (None: not known)."""
        ...

    @property
    def sent_size_open(self) -> bool:
        """Whether `sent_size` counts a body not kept whose end did not show (then it is a least: the body may be longer)."""
        ...

    @property
    def status(self) -> int | None: ...

    @property
    def received_headers(self) -> Mapping[str, str]:
        """The response's headers, names lower-cased, repeated fields joined with ", " (`lowered`: never the first or
        the last alone, so a singleton field given twice shows its conflict)."""
        ...

    @property
    def received_body(self) -> bytes | None: ...

    @property
    def elapsed(self) -> float | None: ...

    @property
    def timed_out(self) -> bool: ...

    @property
    def error(self) -> str | None: ...
