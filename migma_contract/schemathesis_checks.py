"""The catalogue's response rules as Schemathesis checks, so a plain Schemathesis run gets them.

    SCHEMATHESIS_HOOKS=migma_contract.schemathesis_checks schemathesis run spec/openapi.yaml \\
        --url http://127.0.0.1:4010 -H "Authorization: Bearer $MIGMA_API_KEY"

Importing this module registers one check per response rule (`migma_<rule id>`), at the
level named by MIGMA_LEVEL (default: documented). Each check is a plain function of
(context, response, case), as Schemathesis expects.
"""

from __future__ import annotations

import os
from typing import Any

import schemathesis

from ._catalogue import rules_for
from ._rules import Rule, Subject
from ._validators import Violation, contract_for

__all__ = ["CHECKS", "violations_of"]


def violations_of(response: Any, case: Any, level: str | None = None) -> list[Violation]:
    """Every response rule a Schemathesis response breaks."""
    headers = {name: values[0] if isinstance(values, list) else values for name, values in response.headers.items()}
    elapsed = getattr(response, "elapsed", None)
    body = getattr(case, "body", None)
    verdict = contract_for().response_validator(level or os.environ.get("MIGMA_LEVEL", "documented")).evaluate(
        response.status_code, headers, response.content, body if isinstance(body, (dict, list)) else None,
        elapsed=elapsed,
        timeout=float(os.environ.get("MIGMA_TIMEOUT", "10")),
    )
    return list(verdict.violations)


def _check_for(rule: Rule) -> Any:
    def check(ctx: Any, response: Any, case: Any) -> None:
        broken = [v for v in violations_of(response, case) if v.rule_id == rule.id]
        if broken:
            raise AssertionError(f"[{rule.id}] {rule.text}: " + "; ".join(v.message for v in broken))

    check.__name__ = "migma_" + rule.id.replace("-", "_")
    check.__qualname__ = check.__name__
    check.__doc__ = f"{rule.text} ({rule.source})"
    return schemathesis.check(check)


CHECKS = [_check_for(rule) for rule in rules_for("strict") if rule.subject is Subject.RESPONSE]
