"""The state of one run, and the operations both phases (plan, exploration) drive it with.

`RunState` sends a case through the target, judges the answer against the catalogue
(every response rule, and the case's own rule), keeps the tallies and the first finding
per rule (redacted), watches the budget, and attributes a rejected valid request to the
field that made the difference by sending plainer controls.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ._bodies import FIXTURE_FIELDS, BodyFactory
from ._cases import Case
from ._catalogue import ACCEPTS_VALID, NO_SERVER_ERROR, RESPONDS_IN_TIME, get_rule, rules_for
from ._exceptions import TargetUnreachable
from ._http.client import Exchange, Target
from ._options import ENV_PREFIX, CheckOptions
from ._plan import controls, isolate
from ._records import make_records
from ._redact import Redactor, strip_credentials
from ._result import Finding
from ._rules import Level
from ._untrusted import clean_text
from ._validators import Contract

__all__ = ["ProgressCallback", "RunState", "Tally"]

ProgressCallback = Callable[[str, dict[str, Any]], None]


def _no_loop(awaitable: Any) -> Any:
    raise RuntimeError("no event loop is set for synchronous sends (RunState.blocking)")
_FIXTURE_OPTIONS = ", ".join(f.option for f in FIXTURE_FIELDS)


@dataclass
class Tally:
    exercised: int = 0
    passed: int = 0
    failed: int = 0


class RunState:
    """The state of one run and what acts on it: send, judge, tally, record, budget, attribution.

    Both the plan phase and exploration drive the run through this object; it knows
    nothing of either.
    """

    def __init__(self, options: CheckOptions, contract: Contract, target: Target, bodies: BodyFactory,
                 display_base: str | None, progress: ProgressCallback | None, baseline: frozenset[str] = frozenset()) -> None:
        self.baseline = baseline
        self.options = options
        # How a synchronous caller (exploration, inside Hypothesis) awaits a send: set by the
        # engine to the runner of the event loop that owns the current target.
        self.blocking: Callable[[Any], Any] = _no_loop
        self.fixtures = options.fixtures
        self.contract = contract
        self.level = Level.parse(options.level)
        self.target = target
        self.bodies = bodies
        self.validator = contract.response_validator(self.level)
        self.rule_ids = [r.id for r in rules_for(self.level)]
        self.tallies = {rule_id: Tally() for rule_id in self.rule_ids}
        self.findings: dict[str, Finding] = {}
        self.failed: set[str] = set()
        self.timeouts = 0
        self.successes = 0
        self.aborted: str | None = None
        self.budget_hit = False
        self.deadline = time.monotonic() + options.max_time if options.max_time else None
        self.redactor = Redactor([options.api_key, options.restricted_api_key])
        self.keys = {key: ENV_PREFIX + name.upper() for key, name in ((options.api_key, "api_key"), (options.restricted_api_key, "restricted_api_key")) if key}
        self.display_base = display_base
        self.progress: ProgressCallback = progress or (lambda event, info: None)
        self.skipped = 0
        self.explored = 0
        self.timings: dict[str, float] = {}
        self.target_label = strip_credentials(target.settings.base_url)

    # -- limits ---------------------------------------------------------------------------------

    def can_send(self) -> bool:
        if self.aborted:
            return False
        if self.target.requests_sent >= self.options.max_requests:
            self.budget_hit = True
            return False
        if self.deadline is not None and time.monotonic() >= self.deadline:
            self.budget_hit = True
            return False
        return True

    def wants(self, case: Case) -> bool:
        """A rule with a confirmed failure stops consuming budget (valid sends go on until one succeeds)."""
        if case.rule_id not in self.failed:
            return True
        return case.rule_id == ACCEPTS_VALID.id and self.successes == 0

    # -- sending and judging ---------------------------------------------------------------------

    async def send(self, case: Case) -> Exchange:
        exchange = await self.target.send(case)
        if exchange.timed_out:
            self.timeouts += 1
            if self.timeouts >= self.options.max_timeouts:
                self.aborted = f"{self.timeouts} requests timed out (limit {self.options.max_timeouts}); stopped to keep the run bounded"
        return exchange

    def judge(self, exchange: Exchange) -> list[tuple[str, str, str]]:
        """Tally every rule this exchange exercised; return (rule, expected, actual) per failure."""
        case = exchange.case
        failures: list[tuple[str, str, str]] = []
        if exchange.timed_out:
            self._tally(RESPONDS_IN_TIME.id, failures, False, f"an answer within {self.options.timeout:g} s", exchange.error or "timeout")
            return failures
        if exchange.status is None or exchange.error:
            got = f"status {exchange.status}, then " if exchange.status else ""
            self._tally(NO_SERVER_ERROR.id, failures, False, "a complete HTTP response", f"{got}no complete response: {exchange.error}")
            return failures
        verdict = self.validator.evaluate(
            exchange.status, exchange.headers, exchange.body, case.body,
            elapsed=exchange.elapsed, timeout=self.options.timeout,
            truncated_at=self.options.max_response_bytes if exchange.truncated else None,
        )
        broken = {v.rule_id: v for v in reversed(verdict.violations)}
        for rule_id in verdict.applied:
            violation = broken.get(rule_id)
            self._tally(rule_id, failures, violation is None, get_rule(rule_id).text, violation.message if violation else "")
        if exchange.status == 429 or exchange.status >= 500:
            # 429: transient, judged by status-documented once retries ran out; 5xx: the
            # server failed before deciding, which no-server-error reports on its own.
            return failures
        if 200 <= exchange.status < 300:
            self.successes += 1
        if case.rule_id in self.tallies:
            ok = exchange.status in case.expect
            expected = " or ".join(str(s) for s in sorted(case.expect))
            expected += " (a valid request)" if case.rule_id == ACCEPTS_VALID.id else f" (the request breaks {case.rule_id} alone)"
            self._tally(case.rule_id, failures, ok, expected, f"{exchange.status}{self._answer(exchange)}")
        return failures

    def _tally(self, rule_id: str, failures: list[tuple[str, str, str]], ok: bool, expected: str, actual: str) -> None:
        tally = self.tallies.get(rule_id)
        if tally is None:
            return
        tally.exercised += 1
        if ok:
            tally.passed += 1
        else:
            tally.failed += 1
            failures.append((rule_id, expected, actual))

    def record(self, exchange: Exchange, failures: list[tuple[str, str, str]], attribution: str | None = None) -> None:
        for rule_id, expected, actual in failures:
            if rule_id in self.findings:
                self.findings[rule_id].occurrences += 1
                continue
            self.failed.add(rule_id)
            rule = get_rule(rule_id)
            request, response = make_records(exchange, self.redactor, self.keys, self.display_base)
            case = exchange.case
            self.findings[rule_id] = Finding(
                rule=rule_id, level=rule.level.value, rule_text=rule.text, source=rule.source,
                expected=self._shown(expected), actual=self._shown(actual),
                case=case.id, case_label=self._shown(case.label), phase=case.phase,
                request=request, response=response,
                attribution=self._shown(attribution) if attribution and rule_id == case.rule_id else None,
                baselined=rule_id in self.baseline,
            )
            self.progress("finding", {"rule": rule_id, "actual": self.findings[rule_id].actual})

    def _shown(self, text: str) -> str:
        """Text for a finding (it may quote the server): redacted whole, then cleaned to one line."""
        return clean_text(self.redactor.text(text))

    async def run_case(self, case: Case) -> list[tuple[str, str, str]]:
        exchange = await self.send(case)
        if self.target.requests_sent == 1 and exchange.error and exchange.error.startswith("cannot connect"):
            raise TargetUnreachable(f"cannot reach {self.target_label}: {self.redactor.text(exchange.error)}")
        failures = self.judge(exchange)
        if any(rule_id == ACCEPTS_VALID.id for rule_id, _, _ in failures) and ACCEPTS_VALID.id not in self.findings and exchange.answered:
            attribution, minimal = await self.attribute(case, exchange)
            if minimal is not None:
                self.record(exchange, [f for f in failures if f[0] != ACCEPTS_VALID.id])
                self.record(minimal, self.judge(minimal), attribution)
                return failures
            self.record(exchange, failures, attribution)
            return failures
        self.record(exchange, failures)
        return failures

    async def attribute(self, case: Case, exchange: Exchange) -> tuple[str, Exchange | None]:
        """Name what made a valid request fail, by sending plainer controls.

        Returns the explanation and, when one value class is to blame, the minimal failing
        request (the plainest send carrying just that value), which the finding then shows.
        """
        kind = case.body.get("recipientType") if isinstance(case.body, dict) else None
        candidates = controls(self.contract, self.bodies, case)
        plain_ok: bool | None = None
        for index, (name, value, body) in enumerate(candidates):
            if not self.can_send():
                break
            control = await self.target.send(case.with_body(body, suffix=f"control-{index}", label=f"control: {name} made plain"))
            accepted = control.status in case.expect
            if name == "(all)":
                plain_ok = accepted
                if not accepted:
                    break
                continue
            if accepted:
                explanation = (f"The same request with {name} plain instead of {value!r} was accepted: "
                               f"the {name} value class {value!r} made the difference.")
                return explanation, await self._isolate(case, name, value)
        if plain_ok is False or not candidates:
            if self.fixtures.data_bound:
                return f"Even the plainest valid {kind or ''} send was rejected: check the fixtures given ({_FIXTURE_OPTIONS}).", None
            return (f"Even the plainest valid {kind or ''} send was rejected ({exchange.status}). If the target needs real "
                    f"data, pass it as fixtures: {_FIXTURE_OPTIONS}, --provider."), None
        if plain_ok:
            return "The plainest send of the same type was accepted, but no single value class explains the rejection (a combination does).", None
        return "Attribution stopped: the budget ran out.", None

    async def _isolate(self, case: Case, name: str, value: str) -> Exchange | None:
        """Send the plainest request carrying only `name`=`value`; the exchange if it is rejected too."""
        body = isolate(self.contract, self.bodies, case, name)
        if body is None or not self.can_send():
            return None
        minimal = case.with_body(body, suffix="minimal", label=f"minimal: a plain {case.body.get('recipientType')} send with {name}={value}")
        exchange = await self.target.send(minimal)
        return exchange if exchange.answered and exchange.status not in case.expect else None

    def _answer(self, exchange: Exchange) -> str:
        """The `error` text of an answer, for a one-line summary: redacted before it is cut, cleaned."""
        try:
            body = json.loads(exchange.body)
        except (ValueError, UnicodeDecodeError, RecursionError):
            return ""
        if isinstance(body, dict) and isinstance(body.get("error"), str) and body["error"]:
            return f" (error: {clean_text(self.redactor.text(body['error']))[:160]})"
        return ""
