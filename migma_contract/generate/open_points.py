"""What the contract leaves open, as a predicate over request bodies.

A valid request is only asserted to be accepted when nothing in it is open: no open point
of the document (catalogue `OPEN_POINTS`, effect "avoid"), no exotic-but-legal value
(empty or blank strings, control characters, lone surrogates, quoted or IP-literal or
non-ASCII addresses), and, on a target with its own data, only the user's fixture values
where real data is needed. Likewise an invalid request is only asserted to be refused
when its defect is one no reasonable server may accept. Exploration uses this to decide
which generated requests deserve a verdict.
"""

from __future__ import annotations

import unicodedata
from typing import Any

from migma_contract.contract.catalogue import get_rule
from migma_contract.contract.email import is_plain_address
from migma_contract.contract.validators import Contract, Violation
from migma_contract.core.flags import flag
from migma_contract.generate.bodies import FIXTURE_FIELDS, Fixtures

__all__ = ["open_in_valid_body", "open_in_violation"]



def _odd_text(value: str) -> str | None:
    if not value.strip():
        return "an empty or blank string"
    if value.isprintable():  # no Cc and no Cs in it: the common case, without a loop in Python
        return None
    for ch in value:
        category = unicodedata.category(ch)
        if category == "Cc":
            return "a control character"
        if category == "Cs":
            return "a lone surrogate"
    return None


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [s for item in value for s in _strings(item)]
    if isinstance(value, dict):
        return [s for key, item in value.items() for s in (str(key), *_strings(item))]
    return []


def open_in_valid_body(contract: Contract, body: dict[str, Any], fixtures: Fixtures) -> str | None:
    """Why the target may refuse this rule-abiding body after all (None: it must accept it)."""
    for point, validator in contract.open_point_validators:
        if point.effect == "avoid" and validator.is_valid(body):
            return f"open point {point.id}: {point.text}"
    emails = {name for name, schema in contract.spec.request_properties.items() if schema.get("format") == "email"}
    for name, value in body.items():
        if name in emails and not is_plain_address(value):
            return f"{name} {value!r} is a legal but exotic address"
        for text in _strings(value):
            odd = _odd_text(text) if name != "variables" or "\x00" in text else None
            if odd:
                return f"{name} holds {odd}"
    if fixtures.data_bound:
        for fixture in FIXTURE_FIELDS:
            name = fixture.prop
            if fixture.recipient_type is None and name in body and body[name] != fixtures.value_of(name):
                return f"{name} is not the target's fixture value"
        kind = body.get("recipientType")
        if "recipientId" in body and body["recipientId"] != fixtures.recipient_id(str(kind)):
            return "recipientId is not the target's fixture value"
        provider = body.get("providerType")
        if provider is not None and provider not in (fixtures.providers or ()) and provider != "migma":
            return f"providerType {provider!r} is not a connected provider given with {flag('--provider')}"
    return None


def open_in_violation(violation: Violation, body: Any) -> str | None:
    """Why a server may accept this rule-breaking body after all (None: it must refuse it); the client broke the rule
    all the same (`Form.undecided`)."""
    form = get_rule(violation.rule_id).form
    return form.undecided(violation.pointer.lstrip("/"), body)

