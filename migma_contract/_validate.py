"""The two validators of the public API: check a request body, check a response."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._contract import Violation, contract_for
from ._rules import Level
from ._spec import Spec

__all__ = ["validate_request", "validate_response"]


def validate_request(body: Any, level: Level | str = Level.DOCUMENTED, *, spec: Spec | None = None) -> list[Violation]:
    """Every request rule of `level` that `body` breaks (empty when a server must accept it).

    `body` is the parsed JSON value you are about to send (a dict for a well-formed
    request). Each violation names the rule id, a JSON pointer and what is wrong.
    """
    return contract_for(spec).request_validator(level).violations(body)


def validate_response(
    status: int,
    headers: Mapping[str, str],
    body: Any,
    request: Any = None,
    level: Level | str = Level.DOCUMENTED,
    *,
    elapsed: float | None = None,
    timeout: float | None = None,
    spec: Spec | None = None,
) -> list[Violation]:
    """Every response rule of `level` that this response breaks.

    `body` is either the raw body (`bytes` or `str`, parsed here, so a non-JSON body is
    reported) or the already-parsed JSON value. `request` is the request body that was
    sent; rule `result-provider` needs it. With `elapsed` and `timeout` (seconds), rule
    `responds-in-time` is checked too.
    """
    verdict = contract_for(spec).response_validator(level).evaluate(
        status, headers, body, request, elapsed=elapsed, timeout=timeout
    )
    return list(verdict.violations)
