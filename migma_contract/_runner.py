"""The conformance engine: plan, send, judge, attribute, explore, and build the result.

One run: load the document, build the deterministic plan from the catalogue, send each
case to the target (the embedded mock when no URL is given), judge every response against
every response rule and each case against its own rule, find the field that made a valid
request fail, spend the remaining budget exploring, and hand back one `RunResult`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import anyio

from ._cases import Case
from ._catalogue import ACCEPTS_VALID, NO_SERVER_ERROR, RESPONDS_IN_TIME, get_rule, rules_for
from ._contract import Contract, contract_for
from ._exceptions import ConfigError, MigmaContractError, TargetUnreachable
from ._generate import RESERVED_DOMAINS, BodyFactory, Fixtures
from ._plan import Plan, build_plan, controls, isolate
from ._records import make_records
from ._redact import Redactor, strip_credentials
from ._result import Budget, Finding, PlanStats, RuleResult, RunResult, RunSettings, SpecInfo, Status, TargetInfo
from ._rules import Level, ResponseSchema, Subject
from ._spec import load_spec
from ._target import Exchange, Target, TargetSettings, host_of
from ._version import __version__

__all__ = ["CheckOptions", "run_check"]

ProgressCallback = Callable[[str, dict[str, Any]], None]


@dataclass
class CheckOptions:
    """Everything a run needs; the CLI and the pytest plugin fill it from their options."""

    base_url: str | None = None
    api_key: str | None = None
    restricted_key: str | None = None
    spec_path: str | None = None
    level: str = Level.DOCUMENTED.value
    seed: int = 0
    max_requests: int = 180
    max_time: float | None = None
    timeout: float = 10.0
    rate: float | None = None
    fixtures: Fixtures = field(default_factory=Fixtures)
    allow_production: bool = False
    explore: bool = True
    baseline: frozenset[str] = frozenset()
    verify_tls: bool = True
    follow_redirects: bool = False
    max_retries: int = 3
    max_retry_wait: float = 30.0
    max_response_bytes: int = 1 << 20
    max_timeouts: int = 3
    mock_config: str | None = None

    def validate(self) -> None:
        """Refuse options that cannot work, with one line saying how to fix them."""
        try:
            Level.parse(self.level)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        if self.max_requests < 1:
            raise ConfigError(f"--max-requests must be at least 1, not {self.max_requests}")
        if self.timeout <= 0:
            raise ConfigError(f"--timeout must be a positive number of seconds, not {self.timeout:g}")
        if self.max_time is not None and self.max_time <= 0:
            raise ConfigError(f"--max-time must be a positive number of seconds, not {self.max_time:g}")
        if self.rate is not None and self.rate <= 0:
            raise ConfigError(f"--rate must be a positive number of requests per second, not {self.rate:g}")
        if "@" in self.fixtures.recipient_domain or not self.fixtures.recipient_domain.strip("."):
            raise ConfigError(f"--recipient-domain must be a domain such as example.com, not {self.fixtures.recipient_domain!r}")
        if self.base_url is None:
            return
        parts = urlsplit(self.base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"--base-url must be an http:// or https:// URL with a host, such as http://127.0.0.1:4010, not {strip_credentials(self.base_url)!r}")
        if not self.api_key:
            raise ConfigError("a live target needs a full-scope key: pass --api-key or set MIGMA_API_KEY")


def _reserved(domain: str) -> bool:
    domain = domain.lower().strip(".")
    return any(domain == r or domain.endswith("." + r.lstrip(".")) or (r.startswith(".") and domain.endswith(r)) for r in RESERVED_DOMAINS)


@dataclass
class _Tally:
    exercised: int = 0
    passed: int = 0
    failed: int = 0


class _Run:
    """The mutable state of one run (tallies, findings, budget), shared by plan and exploration."""

    def __init__(self, options: CheckOptions, contract: Contract, target: Target, bodies: BodyFactory,
                 display_base: str | None, progress: ProgressCallback | None) -> None:
        self.options = options
        self.contract = contract
        self.level = Level.parse(options.level)
        self.target = target
        self.bodies = bodies
        self.validator = contract.response_validator(self.level)
        self.rule_ids = [r.id for r in rules_for(self.level)]
        self.tallies = {rule_id: _Tally() for rule_id in self.rule_ids}
        self.findings: dict[str, Finding] = {}
        self.failed: set[str] = set()
        self.timeouts = 0
        self.successes = 0
        self.aborted: str | None = None
        self.budget_hit = False
        self.deadline = time.monotonic() + options.max_time if options.max_time else None
        self.redactor = Redactor([options.api_key, options.restricted_key])
        self.keys = {k: v for k, v in ((options.api_key, "MIGMA_API_KEY"), (options.restricted_key, "MIGMA_RESTRICTED_API_KEY")) if k}
        self.display_base = display_base
        self.progress = progress or (lambda event, info: None)
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
            self._tally(case.rule_id, failures, ok, expected, f"{exchange.status} {_answer(exchange)}")
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
                expected=self.redactor.text(expected), actual=self.redactor.text(actual),
                case=case.id, case_label=self.redactor.text(case.label), phase=case.phase,
                request=request, response=response,
                attribution=self.redactor.text(attribution) if attribution and rule_id == case.rule_id else None,
                baselined=rule_id in self.options.baseline,
            )
            self.progress("finding", {"rule": rule_id, "actual": self.redactor.text(actual)})

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
            if self.options.fixtures.data_bound:
                return f"Even the plainest valid {kind or ''} send was rejected: check the fixtures given (--from, --email-id, list ids).", None
            return (f"Even the plainest valid {kind or ''} send was rejected ({exchange.status}). If the target needs real "
                    "data, pass it as fixtures: --from, --email-id, --conversation-id, --project-id, --audience-id, "
                    "--segment-id, --tag-id, --provider."), None
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

    # -- phases ----------------------------------------------------------------------------------

    async def run_plan(self, plan: Plan) -> None:
        total = len(plan.cases)
        self.progress("plan", {"cases": total})
        for index, case in enumerate(plan.cases, 1):
            if not self.can_send():
                break
            if not self.wants(case):
                self.skipped += 1
                continue
            failures = await self.run_case(case)
            self.progress("case", {"index": index, "total": total, "case": case.id, "failed": [f[0] for f in failures]})


def _answer(exchange: Exchange) -> str:
    try:
        body = json.loads(exchange.body)
        if isinstance(body, dict) and isinstance(body.get("error"), str):
            return f"({body['error'][:160]})"
    except (ValueError, UnicodeDecodeError, RecursionError):
        pass
    return ""


def load_baseline(path: str | None) -> frozenset[str]:
    """Rule ids a team accepts for now: from a conformance.json (its failed rules) or a list."""
    if not path:
        return frozenset()
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"--baseline {path}: cannot read: {exc.strerror or exc}") from None
    try:
        data = json.loads(text)
    except ValueError:
        data = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    if isinstance(data, dict):
        data = [r["id"] for r in data.get("rules", []) if isinstance(r, dict) and r.get("status") in (Status.FAILED, Status.ACCEPTED)]
    if not isinstance(data, list) or not all(isinstance(x, str) for x in data):
        raise ConfigError(f"--baseline {path}: expected a conformance.json or a list of rule ids")
    unknown = [x for x in data if x not in {r.id for r in rules_for(Level.STRICT)}]
    if unknown:
        raise ConfigError(f"--baseline {path}: unknown rule id {unknown[0]!r}")
    return frozenset(data)



def resolve_for_plan(options: CheckOptions) -> tuple[Contract, CheckOptions]:
    """The contract and the options as a run would use them (embedded-mock keys and fixtures filled in)."""
    options.validate()
    spec = load_spec(options.spec_path)
    _, _, _, _, resolved = _resolve_target(options, None, None, spec.servers)
    return contract_for(spec), resolved


def run_check(
    options: CheckOptions,
    *,
    app: Any = None,
    target_label: str | None = None,
    progress: ProgressCallback | None = None,
) -> RunResult:
    """Run the conformance check described by `options` and return its result.

    With neither `options.base_url` nor `app`, the target is the embedded reference mock.
    `app` (an ASGI app) is checked in-process. Raises `ConfigError` for unusable options,
    `SpecError` for an unusable document, `TargetUnreachable` when the first request
    cannot connect.
    """
    options.validate()
    spec = load_spec(options.spec_path)
    contract = contract_for(spec)
    settings, app, label, display_base, options = _resolve_target(options, app, target_label, spec.servers)
    bodies = BodyFactory(spec, options.fixtures)
    plan = build_plan(contract, options.level, bodies, api_key=options.api_key, restricted_key=options.restricted_key)
    started = datetime.now(UTC)
    clock = time.perf_counter()

    async def main() -> _Run:
        async with Target(settings, app) as target:
            run = _Run(options, contract, target, bodies, display_base, progress)
            prepared: list[Any] = []
            started_plan = time.perf_counter()
            try:
                async with anyio.create_task_group() as group:
                    if options.explore:
                        group.start_soon(_prepare_exploration, run, prepared, options.max_requests - len(plan.cases))
                    await run.run_plan(plan)
                    run.timings["plan_s"] = round(time.perf_counter() - started_plan, 3)
            except BaseExceptionGroup as errors:  # the task group wraps what the plan raises
                raise _first_error(errors) from None
            if options.explore and run.can_send():
                from ._explore import explore

                started_explore = time.perf_counter()
                await anyio.to_thread.run_sync(explore, run, prepared or None)
                run.timings["explore_s"] = round(time.perf_counter() - started_explore, 3)
            return run

    run = anyio.run(main)
    return _result(run, plan, options, spec, label, started, time.perf_counter() - clock)


def _first_error(errors: BaseExceptionGroup) -> BaseException:
    """The toolkit's own error inside a task group's exception group, else the group."""
    for error in errors.exceptions:
        inner = _first_error(error) if isinstance(error, BaseExceptionGroup) else error
        if isinstance(inner, MigmaContractError | KeyboardInterrupt):
            return inner
    return errors


async def _prepare_exploration(run: _Run, prepared: list[Any], expected_left: int) -> None:
    """Build the exploration strategies in a thread while the plan's requests are in flight."""
    from ._explore import prepare

    prepared.extend(await anyio.to_thread.run_sync(prepare, run, expected_left))


def _resolve_target(
    options: CheckOptions, app: Any, label: str | None, servers: list[str]
) -> tuple[TargetSettings, Any, str, str | None, CheckOptions]:
    display_base: str | None = None
    if options.base_url is None:
        if app is None:
            from .mock import create_app

            # The embedded target: the reference mock as an open implementation (every id
            # exists) unless a world is given; a closed world lends the check its fixtures.
            app = create_app(options.mock_config if options.mock_config else {"open_world": True})
            label = label or "embedded reference mock"
            config = app.config
            fixtures = options.fixtures
            if not config.open_world and not fixtures.data_bound:
                fixtures = config.fixtures(fixtures.recipient_domain)
            options = _with(options, api_key=options.api_key or config.full_key,
                            restricted_key=options.restricted_key or config.restricted_key, fixtures=fixtures)
        label = label or "in-process app"
        base_url = "http://embedded-mock"
        display_base = "${MIGMA_BASE_URL:-http://127.0.0.1:4010}"
    else:
        base_url = options.base_url
        production = {host_of(url) for url in servers if url}
        if host_of(base_url) in production and not options.allow_production:
            raise ConfigError(f"{host_of(base_url)} is the production host of the document; pass --allow-production to test it on purpose")
        label = label or strip_credentials(base_url)
    settings = TargetSettings(
        base_url=base_url, api_key=options.api_key, restricted_key=options.restricted_key, timeout=options.timeout,
        rate=options.rate, max_retries=options.max_retries, max_retry_wait=options.max_retry_wait,
        max_response_bytes=options.max_response_bytes, verify_tls=options.verify_tls, follow_redirects=options.follow_redirects,
    )
    return settings, app, label, display_base, options


def _with(options: CheckOptions, **changes: Any) -> CheckOptions:
    return replace(options, **changes)


def _result(run: _Run, plan: Plan, options: CheckOptions, spec: Any, label: str,
            started: datetime, duration: float) -> RunResult:
    rules: list[RuleResult] = []
    for rule in rules_for(options.level):
        tally = run.tallies[rule.id]
        status = Status.PASSED
        reason = None
        if tally.failed:
            status = Status.ACCEPTED if rule.id in options.baseline else Status.FAILED
        elif tally.exercised == 0:
            status = Status.NOT_EXERCISED
            reason = plan.not_exercised.get(rule.id) or _why_not(rule, run)
        notes = []
        if rule.id == ACCEPTS_VALID.id:
            notes = [f"variant not exercised: {v}" for v in plan.variants_not_exercised]
        rules.append(RuleResult(
            id=rule.id, level=rule.level.value, subject=rule.subject.value, text=rule.text, source=rule.source,
            status=status, exercised=tally.exercised, passed=tally.passed, failed=tally.failed, reason=reason, notes=notes,
        ))
    failed = any(r.status == Status.FAILED for r in rules)
    exit_code = 3 if run.aborted else (1 if failed else 0)
    verdict = "aborted" if run.aborted else ("failed" if failed else "passed")
    finished = datetime.now(UTC)
    order = {rule_id: index for index, rule_id in enumerate(run.rule_ids)}
    return RunResult(
        tool_version=__version__,
        spec=SpecInfo(spec.source, spec.fingerprint, spec.version, [r.describe() for r in spec.repairs]),
        target=TargetInfo(
            label=label,
            url=strip_credentials(options.base_url) if options.base_url else None,
            kind="http" if options.base_url else "in-process",
            data_bound=options.fixtures.data_bound,
            fixtures=sorted(k for k, v in vars(options.fixtures).items() if v is not None and k != "recipient_domain"),
        ),
        level=options.level,
        seed=options.seed,
        budget=Budget(options.max_requests, options.max_time, options.timeout, options.rate, options.max_retries, options.explore),
        started=started.isoformat(timespec="seconds"),
        finished=finished.isoformat(timespec="seconds"),
        duration_s=round(duration, 3),
        requests_sent=run.target.requests_sent,
        verdict=verdict,
        exit_code=exit_code,
        rules=rules,
        findings=sorted(run.findings.values(), key=lambda f: order.get(f.rule, 99)),
        aborted=run.aborted,
        plan=PlanStats(cases=len(plan.cases), skipped_after_failure=run.skipped, budget_exhausted=run.budget_hit,
                       explored=run.explored, plan_s=run.timings.get("plan_s"), explore_s=run.timings.get("explore_s")),
        settings=RunSettings(verify_tls=options.verify_tls, follow_redirects=options.follow_redirects,
                             recipient_domain=options.fixtures.recipient_domain,
                             recipient_domain_reserved=_reserved(options.fixtures.recipient_domain),
                             baseline=sorted(options.baseline)),
    )


def _why_not(rule: Any, run: _Run) -> str:
    if run.aborted:
        return "the run was aborted before it was exercised"
    if rule.subject is Subject.RESPONSE:
        form = rule.form
        kinds = "/".join(str(s) for s in sorted(form.statuses(run.contract.spec))) if isinstance(form, ResponseSchema) else None
        seen = f"no {kinds} response was observed" if kinds else "no response it applies to was observed"
        return seen + (" (budget exhausted)" if run.budget_hit else "")
    if run.budget_hit:
        return "the budget (--max-requests / --max-time) ran out before its cases"
    return "skipped"
