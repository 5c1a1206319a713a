"""Root causes: failures of several rules that one wrong answer explains.

A server answering 422 where the document gives 400 fails every request rule, and
`status-documented` besides; a server answering 201 to valid sends fails `accepts-valid`
and `status-documented`. Each of those failures is still a finding of its rule; this
module names what they share, so a reader fixes one thing instead of chasing eleven.

Only failures about the status are grouped: a case answered with a status its rule does
not allow (grouped by the status given and the one the document gives in its place), and
`status-documented`, which joins every group of the status it saw. Body defects of
different rules in the same answer are separate faults, so they are not grouped.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from migma_contract.contract.catalogue import STATUS_DOCUMENTED, get_rule
from migma_contract.contract.rules import Subject
from migma_contract.core.bounded import loads
from migma_contract.core.untrusted import clean_text
from migma_contract.run.result import RootCause
from migma_contract.wire.client import Exchange

__all__ = ["Symptom", "body_shape", "group", "replaced", "shape_of"]

_WHO = {
    Subject.REQUEST: ("request that breaks a rule", "requests that break a rule"),
    Subject.AUTH: ("request with wrong credentials", "requests with wrong credentials"),
    Subject.ACCEPTANCE: ("valid request", "valid requests"),
}


@dataclass(frozen=True)
class Symptom:
    """One recorded failure, as far as its status goes."""

    rule: str
    status: int
    instead_of: int | None  # the status the document gives in its place (None: status-documented)
    subject: Subject
    shape: str


def body_shape(exchange: Exchange[Any]) -> str:
    """The outline of an answer's body: its top-level keys, or what it is when not a JSON object."""
    return shape_of(exchange.body, exchange.answered)


def shape_of(body: bytes, answered: bool = True) -> str:
    """`body_shape` of a body however it was come by (a run's exchange, a recorded one)."""
    if not answered:
        return "no answer"
    try:
        value: Any = loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return "a body that is not JSON" if body else "an empty body"
    if isinstance(value, dict):
        keys = sorted(clean_text(key)[:40] for key in value)
        return "{" + ", ".join(keys[:8]) + (", …" if len(keys) > 8 else "") + "}"
    return f"a JSON {type(value).__name__.replace('dict', 'object').replace('str', 'string')}"


def replaced(status: int, expect: frozenset[int]) -> int | None:
    """The expected status `status` stands in for: the one of its class (2xx, 4xx) if any, else the lowest."""
    if not expect or status in expect:
        return None
    same_class = sorted(s for s in expect if s // 100 == status // 100)
    return same_class[0] if same_class else min(expect)


def group(symptoms: list[Symptom], tallies: dict[str, Any]) -> list[RootCause]:
    """Root causes of two rules or more, most rules first."""
    groups: dict[tuple[int, int], list[Symptom]] = {}
    for symptom in symptoms:
        if symptom.instead_of is not None:
            groups.setdefault((symptom.status, symptom.instead_of), []).append(symptom)
    causes = []
    for (status, instead_of), members in groups.items():
        members = members + [s for s in symptoms if s.rule == STATUS_DOCUMENTED.id and s.status == status]
        rules = list(dict.fromkeys(s.rule for s in members))
        if len(rules) < 2:
            continue
        causes.append(RootCause(
            summary=_summary(status, instead_of, members, tallies, symptoms),
            status=status,
            instead_of=instead_of,
            shapes=list(dict.fromkeys(s.shape for s in members)),
            rules=rules,
        ))
    return sorted(causes, key=lambda cause: (-len(cause.rules), cause.status))


def _summary(status: int, instead_of: int, members: list[Symptom], tallies: dict[str, Any], symptoms: list[Symptom]) -> str:
    subjects = Counter(s.subject for s in members if s.subject in _WHO)
    subject = subjects.most_common(1)[0][0]
    grouped = {s.rule for s in members}
    # a rule also failed with another status (or none) was not answered this status every time
    elsewhere = {s.rule for s in symptoms if s.status != status and s.subject in _WHO}
    # "every" only when every rule of the kind was judged (a case answered 5xx judges none) and failed only this way
    of_subject = [rule_id for rule_id in tallies if get_rule(rule_id).subject is subject]
    every = all(rule_id in grouped and rule_id not in elsewhere and tallies[rule_id].exercised and tallies[rule_id].passed == 0
                for rule_id in of_subject)
    one, many = _WHO[subject]
    who = f"every {one} was" if every else f"{many} were"
    return f"{who} answered {status} where the document gives {instead_of}"
