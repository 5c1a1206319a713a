"""Attribution: which field and value class make a send fail, found by sending plainer controls.

A refused valid request, a crash or a hang is attributed before it is recorded: the plainest
send of the same recipient type first (remembered per type), then each value that sets the
case apart alone in that send. The first control that fails the same way names the culprit,
and its request is the minimal failing one. It sends through the run (its budget, its pace)
and remembers what it blamed, so a later case carrying the same value class is blamed
without a request.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from migma_contract.contract.rules import NotExercisable
from migma_contract.core.flags import flag
from migma_contract.generate.bodies import FIXTURE_FIELDS
from migma_contract.generate.cases import Case, slug
from migma_contract.generate.plan import describe, isolate, plainest, presence, suspects
from migma_contract.wire.client import Exchange

if TYPE_CHECKING:
    from migma_contract.run.state import RunState

__all__ = ["Attribution", "Culprit"]

_ABSENT = object()
_PLAIN_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,59}")


def _fixture_flags() -> str:
    """The fixtures' flags, as the way in spells them (read when a message is written, not at import)."""
    return ", ".join(flag(f.option) for f in FIXTURE_FIELDS)


def _short(value: Any, limit: int = 60) -> str:
    """A generated value for a sentence: its JSON, cut to `limit` characters."""
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _field(name: str) -> str:
    """A generated body's field name for a sentence: as it is when plain, else as JSON (`""`, `"a b"`: the name is generated too)."""
    return name if _PLAIN_NAME.fullmatch(name) else _short(name, limit=40)


@dataclass
class Culprit:
    """What attribution found: its words, and when one value class is to blame, which and its minimal request."""

    explanation: str
    value_class: Any = None
    minimal: Exchange[Case] | None = None


class Attribution:
    """The run's attribution: its controls, and what it blamed so far (per rule, per value class)."""

    def __init__(self, run: RunState) -> None:
        self.run = run
        self._plainest: dict[tuple[Any, ...], Exchange[Case]] = {}  # (recipient type, credentials) -> its plainest send
        self._blamed: dict[str, dict[Any, Culprit]] = {}  # rule -> value class -> the attribution that blamed it

    def remember(self, rule_id: str, culprit: Culprit) -> None:
        """A culprit found with its minimal request: later cases carrying its value class are blamed on it unsent."""
        if culprit.value_class is not None and culprit.minimal is not None:
            self._blamed.setdefault(rule_id, {})[culprit.value_class] = culprit

    def blamed_before(self, case: Case, rule_id: str) -> Culprit | None:
        """An earlier attribution of this rule's failure to a value class this case carries too (no request sent)."""
        blamed = self._blamed.get(rule_id, {})
        for suspect in suspects(self.run.contract, self.run.bodies, case) if case.factors else ():
            if suspect in blamed:
                return Culprit(blamed[suspect].explanation, suspect)
        return None

    def fails_like(self, exchange: Exchange[Case]) -> Callable[[Exchange[Case]], bool]:
        """Whether another exchange fails the way this one did (refused / server error / no answer)."""
        if exchange.timed_out:
            return lambda other: other.timed_out
        if exchange.status is None or exchange.error or exchange.status >= 500:
            return lambda other: other.status is None or bool(other.error) or other.status >= 500
        expect = exchange.case.expect
        return lambda other: other.answered and other.status is not None and other.status < 500 and other.status not in expect

    async def attribute(self, case: Case, exchange: Exchange[Case], fails: Callable[[Exchange[Case]], bool]) -> Culprit:
        """Name the field and value class that make a send fail, by sending plainer controls.

        The plainest send of the same recipient type comes first (remembered per type); if
        it passes, each value that sets the case apart is sent alone in that plainest body,
        and the first one that fails the same way is the culprit: its request is the
        minimal failing one. A case built to carry one mutation or credential is its own
        minimal request.
        """
        kind = case.body.get("recipientType") if isinstance(case.body, dict) else None
        kind = kind if kind in self.run.bodies.recipient_types else self.run.bodies.recipient_types[0]
        what = self._symptom_words(exchange)
        control = await self._plainest_send(case, kind)
        if isinstance(control, str):
            return Culprit(f"Attribution stopped: {control}.")
        if fails(control):
            return self._plain_refused(kind, what, exchange)
        if not case.factors and case.phase == "explore" and isinstance(case.body, dict):
            return await self._attribute_fields(case, control.case.body, kind, what, fails)
        if not case.factors:
            return Culprit(f"The plainest {kind} send passes; this request differs from it only by: {case.label}.",
                            self.run._own_class(case))
        for name, value in suspects(self.run.contract, self.run.bodies, case):
            body = isolate(self.run.contract, self.run.bodies, case, name)
            if body is None or not self.run.can_send():
                continue
            alone = case.with_body(body, suffix=f"minimal-{name}",
                                   label=f"minimal: a plain {kind} send with {name}={value}")
            control = await self.run.send(alone)
            if fails(control):
                blamed = (f"the presence of {name} makes the difference (with its plainest value, {value!r})"
                          if presence(self.run.contract, self.run.bodies, name, value) else f"the {name} value class {value!r} makes the difference")
                return Culprit(f"The plainest {kind} send passes, and the same send with only {name}={value!r} {what}: "
                                f"{blamed}.", (name, value), control)
        if not self.run.can_send():
            return Culprit(f"Attribution stopped: {self.why_stopped()}.")
        return Culprit(f"The plainest {kind} send passes, but no single value class of this one ({describe(dict(case.factors))}) "
                        f"{what} alone: a combination does.")

    async def _attribute_fields(self, case: Case, plain: dict[str, Any], kind: str, what: str,
                                fails: Callable[[Exchange[Case]], bool]) -> Culprit:
        """A generated request has no value classes: each field where it differs from the plainest send is
        put alone into that send (a field it lacks taken out), and the first that fails the same way is the culprit.

        A mix that breaks a rule of the run's level is not sent: its refusal would be the rule's, not the culprit's.
        """
        body = case.body
        differing = [name for name in body if body[name] != plain.get(name, _ABSENT)] + [name for name in plain if name not in body]
        validator = self.run.contract.request_validator(self.run.level)
        unsent: list[str] = []  # fields whose mix breaks a rule: no evidence either way

        def shown(name: str) -> str:
            return f"{_field(name)}={_short(body[name])}" if name in body else f"{_field(name)}=(absent)"

        for name in differing:
            alone = {**plain, name: body[name]} if name in body else {k: v for k, v in plain.items() if k != name}
            if validator.violations(alone):
                unsent.append(name)
                continue
            if not self.run.can_send():
                continue
            suffix = f"minimal-{name if _PLAIN_NAME.fullmatch(name) else slug(name)}"
            control = await self.run.send(case.with_body(alone, suffix=suffix, label=f"minimal: a plain {kind} send with {shown(name)}"))
            if fails(control):
                return Culprit(f"The plainest {kind} send passes, and the same send with only {shown(name)} {what}: "
                                f"the {_field(name)} value makes the difference.", (name, "generated"), control)
        if not self.run.can_send():
            return Culprit(f"Attribution stopped: {self.why_stopped()}.")
        if not differing:
            return Culprit(f"The plainest {kind} send passes, and this request is that same send: its failure does not "
                            "follow from its fields (an intermittent fault?).")
        if len(differing) == 1 and unsent == differing:
            name = differing[0]
            return Culprit(f"The plainest {kind} send passes, and this request differs from it only by {shown(name)}, which breaks "
                            f"a rule alone: the {_field(name)} value makes the difference.", (name, "generated"))
        if unsent:
            return Culprit(f"The plainest {kind} send passes; no field of this one sent alone in it {what}, and "
                            f"{', '.join(map(_field, unsent))} would break a rule alone (not sent): "
                            "one of them or a combination makes the difference.")
        return Culprit(f"The plainest {kind} send passes, but no single field of this one ({', '.join(map(_field, differing))}) "
                        f"{what} alone: a combination does.")

    async def _plainest_send(self, case: Case, kind: str) -> Exchange[Case] | str:
        """The plainest send of this type with the case's credentials (sent once per type), or why there is none."""
        memo = (kind, case.auth, case.headers)
        if memo not in self._plainest:
            body = plainest(self.run.contract, self.run.bodies, case)
            if body is None:
                try:
                    body = self.run.bodies.valid_body(kind)
                except NotExercisable as exc:
                    return f"no plain {kind} send can be built ({exc.reason})"
            if not self.run.can_send():
                return self.why_stopped()
            self._plainest[memo] = await self.run.send(case.with_body(body, suffix="plainest", label=f"control: the plainest {kind} send"))
        return self._plainest[memo]

    def why_stopped(self) -> str:
        """Why no more requests go out: the run aborted (--max-timeouts), or its budget ran out."""
        return self.run.aborted or "the budget ran out"

    def _plain_refused(self, kind: str, what: str, exchange: Exchange[Case]) -> Culprit:
        if exchange.status is None or exchange.status >= 500:
            return Culprit(f"Even the plainest valid {kind} send {what}: no value class of this request is to blame.")
        if self.run.fixtures.data_bound:
            return Culprit(f"Even the plainest valid {kind} send was rejected: check the fixtures given ({_fixture_flags()}).")
        return Culprit(f"Even the plainest valid {kind} send was rejected ({exchange.status}). If the target needs real "
                        f"data, pass it as fixtures: {_fixture_flags()}, {flag('--provider')}.")

    @staticmethod
    def _symptom_words(exchange: Exchange[Case]) -> str:
        if exchange.timed_out:
            return "got no answer in time"
        if exchange.status is None or exchange.error:
            return "got no complete answer"
        if exchange.status >= 500:
            return f"got {exchange.status}"
        return f"was refused ({exchange.status})"
