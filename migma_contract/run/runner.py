"""The conformance engine: one run from options to `RunResult`.

`prepare_run` does everything short of sending (load the document, resolve the target,
build the plan); `--dry-run` stops there. `run_check` then drives a `RunState` through
the plan phase and exploration and builds the typed result. The layers below it know
nothing of this module.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Coroutine
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from migma_contract._version import __version__
from migma_contract.config.options import CheckOptions
from migma_contract.contract.catalogue import ACCEPTS_VALID, AUTH_SCOPE, NO_SERVER_ERROR, RULES, rules_for
from migma_contract.contract.rules import NotExercisable, Subject
from migma_contract.contract.validators import Contract, contract_for
from migma_contract.core import bounded
from migma_contract.core.exceptions import ConfigError, MigmaContractError, Terminated
from migma_contract.core.flags import flag
from migma_contract.core.redact import strip_credentials
from migma_contract.core.untrusted import clean_text, read_bounded
from migma_contract.document.spec import Spec, load_spec
from migma_contract.generate.bodies import FIXTURE_FIELDS, RESERVED_DOMAINS, BodyFactory
from migma_contract.generate.cases import CaseAuth
from migma_contract.generate.plan import Plan, build_plan
from migma_contract.run.result import (
    Baseline,
    Budget,
    PlanStats,
    ProgressCallback,
    RuleResult,
    RunResult,
    RunSettings,
    SpecInfo,
    Status,
    TargetInfo,
    failure_keys,
    key_text,
)
from migma_contract.wire.urls import api_root, guard_production

__all__ = ["PreparedRun", "load_baseline", "prepare_run", "run_check"]

if TYPE_CHECKING:  # at run time imported where a run starts: --dry-run needs neither HTTP nor Hypothesis
    from migma_contract.run.state import RunState
    from migma_contract.wire.client import TargetSettings

EMBEDDED_BASE_URL = "http://embedded-mock"


@dataclass(frozen=True)
class PreparedRun:
    """A run with everything decided and nothing sent: what `--dry-run` prints and `run_check` sends."""

    options: CheckOptions
    spec: Spec
    contract: Contract
    plan: Plan
    base_url: str
    app: Any  # an ASGI app checked in-process, or None
    mock_config: Any  # the embedded mock's world (its app is built when a run starts), or None
    label: str
    display_base: str | None
    baseline: Baseline

    def target_settings(self) -> TargetSettings:
        from migma_contract.wire.client import TargetSettings

        options = self.options
        return TargetSettings(
            base_url=self.base_url, api_key=options.api_key, timeout=options.timeout,
            rate=options.rate, max_retries=options.max_retries, max_retry_wait=options.max_retry_wait,
            max_response_bytes=options.max_response_bytes, verify_tls=options.verify_tls, follow_redirects=options.follow_redirects,
            max_sends_per_key=2 if options.base_url is not None else None,
        )

    def target_app(self) -> Any:
        if self.app is None and self.mock_config is not None:
            from migma_contract.mock import create_app

            return create_app(self.mock_config)
        return self.app


def _reserved(domain: str) -> bool:
    domain = domain.lower().strip(".")
    return any(domain == r or domain.endswith("." + r.lstrip(".")) or (r.startswith(".") and domain.endswith(r)) for r in RESERVED_DOMAINS)


def load_baseline(path: str | None) -> Baseline:
    """The failures a team accepts for now (`Baseline`), from a baseline file (`--write-baseline`), a list
    of entries (JSON or one a line: a rule id, then a finding's key; a rule id alone accepts the whole rule),
    or a conformance.json (each of its failures; one written before findings had keys: its failed rules, whole)."""
    if not path:
        return Baseline()
    shown = f"{flag('--baseline')} {clean_text(path)}"
    try:
        text = read_bounded(path).decode("utf-8")
    except (ConfigError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{shown}: cannot read: {str(exc).removeprefix(clean_text(path) + ': ')}") from None
    try:
        data = bounded.load_json(text, what="baselines", max_nodes=_BASELINE_NODES)
    except bounded.Malformed:  # a plain list of rule ids, one a line: held to the same cap as a JSON file's nodes
        data = _baseline_lines(text, shown)
    except bounded.Bounded as exc:
        raise ConfigError(f"{shown}: {exc.message}") from None
    _check_baseline_shape(data, shown)
    if isinstance(data, dict):
        return _baseline_of_result(data, shown)
    entries = [tuple(entry.strip().split(None, 1)) if entry.strip() else ("",) for entry in data]
    _known_rules(shown, [entry[0] for entry in entries])
    return Baseline(findings=frozenset((e[0], key_text(e[1])) for e in entries if len(e) == 2),
                    rules=frozenset(e[0] for e in entries if len(e) == 1))


# A baseline's entries are bounded alike whatever its form (pass Y3, F2: a file of plain lines had no bound but the
# 64 MiB read cap, and was checked line by line: 12 MB took 36 s): a JSON file's nodes, a plain file's lines.
_BASELINE_NODES = bounded.MAX_NODES * 4
_LINE_BREAKS = "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"  # every break `str.splitlines` splits at


def _baseline_lines(text: str, shown: str) -> list[str]:
    """A baseline of plain lines (a rule id, then a finding's key), blank lines and `#` comments left out: at most
    `_BASELINE_NODES` lines (counted before any is split), else one line saying so."""
    if sum(text.count(mark) for mark in _LINE_BREAKS) >= _BASELINE_NODES:
        raise ConfigError(f"{shown}: more than {_BASELINE_NODES:,} lines (the bound on a baseline's entries)")
    return [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


_EXPECTED_BASELINE = "expected a baseline (--write-baseline), a conformance.json or a list of rule ids"
_STRINGS = {"type": "array", "items": {"type": "string"}}
# The whole shape of every baseline `load_baseline` reads, checked before any of it is read (pass X4, F2: a
# conformance.json whose `rules`, `findings` or `unshown` was no list was a TypeError, an internal error): a list of
# entries, or a conformance.json of any version (only what a baseline takes of it: each rule's id, status and unshown
# keys, each finding's rule and key; a finding without a key is an earlier version's).
BASELINE_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "oneOf": [
        _STRINGS,
        {
            "type": "object",
            "anyOf": [{"required": ["rules"]}, {"required": ["findings"]}],
            "properties": {
                "rules": {"type": "array", "items": {
                    "type": "object", "required": ["id", "status"],
                    "properties": {"id": {"type": "string"}, "status": {"type": "string"}, "unshown": _STRINGS}}},
                "findings": {"type": "array", "items": {
                    "type": "object", "required": ["rule"],
                    "properties": {"rule": {"type": "string"}, "key": {"type": "string"}}}},
            },
        },
    ],
}
_JSON_TYPES = {"array": "a list", "object": "an object", "string": "a string"}


def _check_baseline_shape(data: Any, shown: str) -> None:
    """`BASELINE_SCHEMA`, or one line naming where the file departs from it (never a value of the file's)."""
    import jsonschema

    branch = BASELINE_SCHEMA["oneOf"][1 if isinstance(data, dict) else 0]
    if not isinstance(data, (dict, list)):
        raise ConfigError(f"{shown}: {_EXPECTED_BASELINE}")
    if isinstance(data, list) and all(type(entry) is str for entry in data):
        return  # a list of strings: the whole branch, told in one pass (never jsonschema once per entry)
    error = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(branch).iter_errors(data))
    if error is None:
        return
    where = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in error.absolute_path) or "the file"
    if error.validator == "type":
        what = f"is not {_JSON_TYPES.get(str(error.validator_value), str(error.validator_value))}"
    elif error.validator == "required":
        missing = [name for name in error.validator_value if not (isinstance(error.instance, dict) and name in error.instance)]
        what = f"has no {', '.join(repr(name) for name in missing)}"
    elif error.validator == "anyOf":
        what = "has neither 'rules' nor 'findings'"
    else:
        what = "is not as expected"
    raise ConfigError(f"{shown}: {_EXPECTED_BASELINE} ({where.lstrip('.')} {what})")


def _known_rules(shown: str, ids: list[str]) -> None:
    known = {r.id for r in RULES}  # built once, not once per entry
    unknown = [x for x in ids if x not in known]
    if unknown:
        # name the entry only when it looks like a rule id: the file may be anything (never echo its content)
        what = f"unknown rule id {unknown[0]!r}" if re.fullmatch(r"[a-z][a-z0-9-]{0,63}", unknown[0]) else "an entry is not a rule id"
        raise ConfigError(f"{shown}: {what}; see 'migma-contract rules'")


def _baseline_of_result(data: dict[str, Any], shown: str) -> Baseline:
    """A conformance.json as a baseline: each distinct failure it holds (an earlier version's: its failed rules, whole)."""
    failed = [r for r in data.get("rules", []) if r["status"] in (Status.FAILED, Status.ACCEPTED)]  # its shape: checked
    findings = data.get("findings", [])
    _known_rules(shown, [r["id"] for r in failed] + [f["rule"] for f in findings])
    if any("key" not in f for f in findings):
        rules = frozenset(str(r["id"]) for r in failed)
        return Baseline(rules=rules, notice=(
            f"{shown} was written by an earlier version (its findings have no key): each of its {len(rules)} failed rule(s) is "
            f"accepted whole, any new failure of them too; rewrite it with {flag('--write-baseline')} to accept only its findings"))
    keys = {(str(f["rule"]), key_text(f["key"])) for f in findings}
    keys |= {(str(r["id"]), key_text(k)) for r in failed for k in r.get("unshown", [])}
    return Baseline(findings=frozenset(keys))


def prepare_run(options: CheckOptions, *, app: Any = None, target_label: str | None = None) -> PreparedRun:
    """Load the document, resolve the target (the embedded mock when none is named), build the plan."""
    options = options.validate()
    baseline = load_baseline(options.baseline)
    spec = load_spec(options.spec)
    contract = contract_for(spec)
    base_url, mock_config, label, display_base, options = _resolve_target(options, app, target_label, spec.servers)
    bodies = BodyFactory(spec, options.fixtures)
    plan = build_plan(contract, options.level, bodies, api_key=options.api_key, restricted_key=options.restricted_api_key,
                      second_key=options.second_api_key, sets=options.rule_sets, kind=options.plan,
                      can_inject=mock_config is not None or _fault_injection(options, app) is not None)
    _refuse_empty_plan(plan, options, bodies)
    return PreparedRun(options, spec, contract, plan, base_url, app, mock_config, label, display_base, baseline)


def _refuse_empty_plan(plan: Plan, options: CheckOptions, bodies: BodyFactory) -> None:
    """A plan that cannot build one valid request is a usage error, before anything is sent (pass T4, F1).

    Any fixture makes the target data-bound (it has its own data: its ids must be real, `bodies.Fixtures`), so a
    fixture given alone (`--from`, `--provider`, `--tag-id`, from a file or typed) leaves every valid body without
    the message it sends: no case is built, nothing would be sent, and a run that judged nothing has no verdict."""
    if not any(case.rule_id == ACCEPTS_VALID.id for case in plan.cases) and ACCEPTS_VALID.id in plan.not_exercised:
        fixtures = options.fixtures
        given = [fixture.option for fixture in FIXTURE_FIELDS if getattr(fixtures, fixture.attribute) is not None]
        given += [flag("--provider")] if fixtures.providers is not None else []
        because = (f" ({', '.join(dict.fromkeys(given))} given: a target with its own data, whose ids must be real)"
                   if given else "")
        why = plan.not_exercised[ACCEPTS_VALID.id]
        try:
            bodies.valid_body()
        except NotExercisable as exc:  # the fixture the first valid body lacks, by name
            why = f"no valid request can be built: a plain send {exc.reason}"
        raise ConfigError(f"{why}{because}; a check that can send no valid request has no verdict")


def run_check(
    options: CheckOptions | None = None,
    *,
    app: Any = None,
    target_label: str | None = None,
    progress: ProgressCallback | None = None,
    keep_interrupted: bool = False,
) -> RunResult:
    """Run the conformance check described by `options` and return its result.

    With neither `options.base_url` nor `app`, the target is the embedded reference mock.
    `app` (an ASGI app) is checked in-process. Raises `ConfigError` for unusable options,
    `SpecError` for an unusable document, `TargetUnreachable` when the first request
    cannot connect. Ctrl-C or SIGTERM (`Terminated`) raise through, unless `keep_interrupted`:
    then the result of what ran is returned, marked interrupted (the command line's way).
    """
    from migma_contract.run.state import RunState
    from migma_contract.wire.client import Target

    prepared = prepare_run(options or CheckOptions(), app=app, target_label=target_label)
    options, plan = prepared.options, prepared.plan
    settings, app = prepared.target_settings(), prepared.target_app()
    started = datetime.now(UTC)
    clock = time.perf_counter()

    sources: list[Any] = []
    runs: list[RunState] = []  # the run, for its result when Ctrl-C or SIGTERM stops it

    def new_run(target: Target) -> RunState:
        run = RunState(options, prepared.contract, target, BodyFactory(prepared.spec, options.fixtures),
                       prepared.display_base, progress, prepared.baseline)
        runs.append(run)
        if prepared.baseline.notice:
            run.warn(prepared.baseline.notice)
        run.inject = _fault_injection(options, app)
        return run

    async def plan_phase() -> RunState:
        import anyio

        async with Target(settings, app) as target:
            run = new_run(target)
            started_plan = time.perf_counter()
            try:
                async with anyio.create_task_group() as group:
                    if options.explores:  # the strategies are built in a thread while the plan's requests fly
                        group.start_soon(_prepare_exploration, run, sources, options.max_requests - len(plan.cases))
                    await _run_plan(run, plan)
                    run.timings["plan_s"] = round(time.perf_counter() - started_plan, 3)
            except BaseExceptionGroup as errors:  # the task group wraps what the plan raises
                raise _first_error(errors) from None
            return run

    try:
        target = Target(settings, app)
        with target.blocking() as blocking:
            if blocking:  # a URL target: the whole run on this thread, over one blocking client
                run = new_run(target)
                run.blocking, run.sends_now = target.send_now, True
                _blocking_run(run, plan, sources)
        if not blocking:  # an app in this process (or an httpx whose pool cannot take the deadline): the event loop
            import anyio

            run = anyio.run(plan_phase)
            if options.explores and run.can_send():
                started_explore = time.perf_counter()
                _explore_phase(run, Target(settings, app, requests_sent=run.target.requests_sent, pace=run.target.pace,
                                           key_uses=run.target.key_uses), sources)
                run.timings["explore_s"] = round(time.perf_counter() - started_explore, 3)
    except KeyboardInterrupt as stop:
        if not keep_interrupted or not runs or not runs[0].target.requests_sent:
            raise  # not asked for, or nothing ran: nothing to report
        run = runs[0]
        run.interrupted = f"{interruption(stop)} after {run.target.requests_sent} request(s); the reports hold what ran"
    return _result(run, plan, options, prepared.spec, prepared.label, started, time.perf_counter() - clock)


def _blocking_run(run: RunState, plan: Plan, sources: list[Any]) -> None:
    """The plan, then exploration, on this thread, every send a blocking one (`RunState.sends_now`).

    A URL target needs no event loop: the synchronous httpx client costs less a request than
    the async one (~0.35 ms), and the run then never loads asyncio (nor anyio's backend for it)
    nor builds a second client (its TLS context alone is ~20 ms of CPU). The exploration's
    strategies are built in a thread while the plan waits on the network, as on the event loop.
    """
    from migma_contract.run.explore import explore

    options = run.options
    preparing = _Preparing(run, sources, options.max_requests - len(plan.cases)) if options.explores else None
    started_plan = time.perf_counter()
    try:
        _drive(_run_plan(run, plan))
        run.timings["plan_s"] = round(time.perf_counter() - started_plan, 3)
    finally:
        if preparing is not None:  # waited for, as the task group waits for its thread (its error after the plan's)
            preparing.thread.join()
    if preparing is not None and preparing.error is not None:
        raise preparing.error
    if options.explores and run.can_send():
        started_explore = time.perf_counter()
        explore(run, sources or None)
        run.timings["explore_s"] = round(time.perf_counter() - started_explore, 3)


def _drive(coroutine: Coroutine[Any, Any, None]) -> None:
    """Run a coroutine that never suspends (every send of the run blocking) to its end on this thread."""
    try:
        coroutine.send(None)
    except StopIteration:
        return
    coroutine.close()
    raise RuntimeError("the run waited on something other than a blocking send")


class _Preparing:
    """`explore.prepare` in a thread of its own (a daemon: nothing to clean up if the run is stopped)."""

    def __init__(self, run: RunState, sources: list[Any], expected_left: int) -> None:
        import threading

        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._prepare, args=(run, sources, expected_left), daemon=True,
                                       name="migma-contract: exploration set-up")
        self.thread.start()

    def _prepare(self, run: RunState, sources: list[Any], expected_left: int) -> None:
        from migma_contract.run.explore import prepare

        try:
            sources.extend(prepare(run, expected_left))
        except BaseException as exc:  # raised on the run's thread, as the task group did
            self.error = exc


def interruption(stop: BaseException) -> str:
    """How a run was stopped from outside: SIGTERM (a CI timeout) or Ctrl-C."""
    return "stopped by SIGTERM" if isinstance(stop, Terminated) else "interrupted (Ctrl-C)"


def _explore_phase(run: RunState, target: Any, sources: list[Any]) -> None:
    """Exploration on this thread when the target is reached over an event loop (an app in
    this process): Hypothesis calls the probe synchronously, and each send completes before
    it returns. (A URL target is explored with blocking I/O: `_blocking_run`.)

    The loop is this thread's own. (Handing each send to another thread's loop costs a GIL
    switch interval, ~5 ms, per request: more than the request itself. `asyncio.Runner.run`
    costs ~0.13 ms a call more than `run_until_complete`: it installs a SIGINT handler and
    wraps a task each time. The Runner still closes the loop: a send left pending by Ctrl-C
    is cancelled then, its cleanup run, and the default executor shut down.)
    """
    import asyncio

    from migma_contract.run.explore import explore

    run.target = target
    run.sends_now = True  # every send of this phase is a blocking one, attribution's controls included
    with asyncio.Runner() as runner:
        loop = runner.get_loop()
        loop.run_until_complete(target.__aenter__())
        run.blocking = lambda case: loop.run_until_complete(target.send(case))
        try:
            explore(run, sources or None)
        finally:
            loop.run_until_complete(target.__aexit__(None, None, None))


async def _run_plan(run: RunState, plan: Plan) -> None:
    """The deterministic phase: a preflight with each key, then every planned case in order, within the budget.

    A rule that failed is still exercised by its remaining cases: each distinct failure
    is a finding (up to --max-findings-per-rule).
    """
    total = len(plan.cases)
    run.progress("plan", {"cases": total})
    full = next((c for c in plan.cases if c.rule_id == ACCEPTS_VALID.id and c.auth == CaseAuth.FULL), None)
    restricted = next((c for c in plan.cases if c.rule_id == AUTH_SCOPE.id), None)
    done = {id(case) for case in await run.preflight(full, restricted)}
    for index, case in enumerate(plan.cases, 1):
        if id(case) in done:
            continue
        if not run.can_send():
            run.skipped = sum(1 for later in plan.cases[index - 1:] if id(later) not in done)
            break
        failures = await run.run_case(case)
        run.progress("case", {"index": index, "total": total, "case": case.id, "failed": [f.rule_id for f in failures]})


def _fault_injection(options: CheckOptions, app: Any) -> Any:
    """How the run makes the target's next answer a given status, when it can (None: it cannot).

    Only a target in this process offers it (the reference mock, or an app with the mock's
    `fail_next(status, retry_after=...)`); a 429 is injected with `Retry-After: 0`.
    """
    fail_next = getattr(app, "fail_next", None) if options.base_url is None else None
    if not callable(fail_next):
        return None

    def inject(status: int) -> None:
        fail_next(status, retry_after=0) if status == 429 else fail_next(status)

    return inject


def _first_error(errors: BaseExceptionGroup) -> BaseException:
    """The toolkit's own error inside a task group's exception group, else the group."""
    for error in errors.exceptions:
        inner = _first_error(error) if isinstance(error, BaseExceptionGroup) else error
        if isinstance(inner, MigmaContractError | KeyboardInterrupt):
            return inner
    return errors


async def _prepare_exploration(run: RunState, sources: list[Any], expected_left: int) -> None:
    """Build the exploration strategies in a thread while the plan's requests are in flight."""
    import anyio

    from migma_contract.run.explore import prepare

    sources.extend(await anyio.to_thread.run_sync(prepare, run, expected_left))


def _resolve_target(
    options: CheckOptions, app: Any, label: str | None, servers: list[str]
) -> tuple[str, Any, str, str | None, CheckOptions]:
    display_base: str | None = None
    mock_config = None
    if options.base_url is None:
        if app is None:
            from migma_contract.mock import load_mock_config

            # The embedded target: the toolkit's own reference, with its own keys (never the
            # user's: a key is sent only to a target the user names). An open world (every id
            # exists) unless a world is given; a closed world lends the check its fixtures.
            config = mock_config = load_mock_config(options.mock_config if options.mock_config else {"open_world": True})
            label = label or "embedded reference mock"
            fixtures = options.fixtures
            if not config.open_world and not fixtures.data_bound:
                fixtures = config.fixtures(fixtures.recipient_domain)
            options = replace(options.with_fixtures(fixtures), api_key=config.full_key, restricted_api_key=config.restricted_key,
                              second_api_key=config.second_full_key)
        label = label or "in-process app"
        base_url = EMBEDDED_BASE_URL
        display_base = "${MIGMA_CONTRACT_BASE_URL:-http://127.0.0.1:4010}"
    else:
        base_url = api_root(options.base_url)  # as clients write it, with or without /v1
        guard_production(base_url, servers, allowed=options.allow_production)
        label = label or strip_credentials(base_url)
    return base_url, mock_config, label, display_base, options


def _result(run: RunState, plan: Plan, options: CheckOptions, spec: Any, label: str,
            started: datetime, duration: float) -> RunResult:
    rules: list[RuleResult] = []
    for rule in rules_for(options.level, options.rule_sets):
        tally = run.tallies[rule.id]
        status = Status.PASSED
        reason = None
        recorded = run.recorded.get(rule.id)
        unshown = list(recorded.unshown) if recorded else []
        if tally.failed:
            findings = recorded.findings if recorded else []
            status = run.baseline.status(rule.id, findings, any(not run.baseline.accepts(rule.id, k) for k in unshown))
        elif tally.exercised == 0:
            status = Status.NOT_EXERCISED
            reason = run.not_exercisable.get(rule.id) or plan.not_exercised.get(rule.id) or _why_not(rule, run)
        notes = []
        if rule.id == ACCEPTS_VALID.id:
            notes = [f"variant not exercised: {v}" for v in plan.variants_not_exercised]
        rules.append(RuleResult(
            id=rule.id, level=rule.level.value, subject=rule.subject.value, text=rule.text, source=rule.source,
            status=status, exercised=tally.exercised, passed=tally.passed, failed=tally.failed, reason=reason, notes=notes,
            set=rule.set.value, unshown=unshown,
        ))
    failed = any(r.status == Status.FAILED for r in rules)
    completion, stopped = _completion(run, plan, rules)
    # A violation found is a verdict however the run ended; a run that did not do all it planned has none otherwise.
    exit_code = 1 if failed else (0 if completion == "complete" else 3)
    verdict = "failed" if failed else {"complete": "passed", "cut": "incomplete", "partial": "incomplete"}.get(completion, completion)
    finished = datetime.now(UTC)
    order = {rule_id: index for index, rule_id in enumerate(run.rule_ids)}
    result = RunResult(
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
        budget=Budget(options.max_requests, options.max_time, options.timeout, options.rate, options.max_retries, options.explores),
        started=started.isoformat(timespec="seconds"),
        finished=finished.isoformat(timespec="seconds"),
        duration_s=round(duration, 3),
        requests_sent=run.target.requests_sent,
        verdict=verdict,
        exit_code=exit_code,
        rules=rules,
        findings=sorted(run.findings, key=lambda f: order.get(f.rule, 99)),
        root_causes=run.root_causes(),
        aborted=run.aborted,
        completion=completion,
        stopped=stopped,
        plan=PlanStats(kind=plan.kind, cases=len(plan.cases), skipped=run.skipped, budget_exhausted=run.budget_hit,
                       explored=run.explored, plan_s=run.timings.get("plan_s"), explore_s=run.timings.get("explore_s")),
        settings=RunSettings(verify_tls=options.verify_tls, follow_redirects=options.follow_redirects,
                             recipient_domain=options.fixtures.recipient_domain,
                             recipient_domain_reserved=_reserved(options.fixtures.recipient_domain),
                             baseline=list(run.baseline)),
        warnings=list(dict.fromkeys(run.shown(warning) for warning in run.warnings)),  # redacted, one line each, once
    )
    if run.baseline:
        result.stale_baseline = run.baseline.stale(failure_keys(result))
    return result


def _completion(run: RunState, plan: Plan, rules: list[RuleResult]) -> tuple[str, str | None]:
    """Whether the run did all it planned, and if not, what stopped it: (completion, its words)."""
    if run.interrupted:
        return "interrupted", run.interrupted
    if run.aborted:
        return "aborted", run.aborted
    if run.skipped:
        partly = f"; {_partly(run)}" if run.partly_judged else ""
        return "cut", (f"{run.skipped} of {len(plan.cases)} planned cases not sent: {run.budget_why or 'the budget ran out'}{partly}")
    if run.partly_judged:  # an answer whose body was not read: its body rules unjudged, no green verdict (as traffic)
        return "partial", _partly(run)
    # A verdict rests on what was judged: a run that judged no rule, or never had a valid send judged, has none (pass T4, F1)
    if not any(rule.status != Status.NOT_EXERCISED for rule in rules):
        return "partial", f"no rule was exercised ({run.target.requests_sent} request(s) sent)"
    valid = next((rule for rule in rules if rule.id == ACCEPTS_VALID.id), None)
    if valid is not None and valid.status == Status.NOT_EXERCISED:
        return "partial", f"no valid send was judged ({ACCEPTS_VALID.id} not exercised: {valid.reason or 'no case'})"
    return "complete", None


def _partly(run: RunState) -> str:
    """The answers judged in part, in one phrase: how many, and why (the commonest reasons first)."""
    total = sum(run.partly_judged.values())
    why = "; ".join(f"{count} x {reason}" if len(run.partly_judged) > 1 else reason
                    for reason, count in run.partly_judged.most_common(3))
    more = ", ..." if len(run.partly_judged) > 3 else ""
    return f"{total} answer(s) judged in part ({why}{more}): their body rules were not judged"


def _why_not(rule: Any, run: RunState) -> str:
    if run.aborted:
        return "the run was aborted before it was exercised"
    if rule.subject is Subject.RESPONSE:
        form = rule.form
        statuses = form.judged_statuses(run.contract.spec)
        kinds = "/".join(str(s) for s in sorted(statuses)) if statuses is not None else None
        answered = sum(count for status, count in run.statuses_seen.items() if statuses is None or status in statuses)
        if answered and run.partly_judged:  # (a body not read carries no field: not "none carried the field")
            return f"{answered} {kinds or ''} response(s) observed; none exercised it: {_partly(run)}".replace("  ", " ")
        if kinds and answered:  # answers came, and none gave the rule what it judges (speaks_of)
            return f"{answered} {kinds} response(s) observed; none carried the field it judges, so none exercised it"
        seen = f"no {kinds} response was observed" if kinds else "no response it applies to was observed"
        return seen + (" (the budget ran out before the plan's end)" if run.skipped else "")
    if run.budget_hit:
        return f"the budget ({flag('--max-requests')} / {flag('--max-time')}) ran out before its cases"
    crashed = run.unjudged_cases.get(rule.id, 0)
    if crashed:
        return f"its {crashed} case(s) got no answer that judges it ({_answers(run.unjudged_answers.get(rule.id))})"
    return "skipped"


def _answers(got: Counter[int | None] | None) -> str:
    """What a rule's unjudged cases got back, in one phrase: the statuses (commonest first) and the unanswered, as they
    came (pass X4, F6: 35 answers of 400 were said to be "a 5xx, or none")."""
    if not got:
        return f"a 5xx, or none: see {NO_SERVER_ERROR.id}"
    parts = [f"{count} x {status}" if status is not None else f"{count} x no answer" for status, count in got.most_common(4)]
    more = ", ..." if len(got) > 4 else ""
    server_side = any(status is None or status >= 500 for status in got)
    hint = f"; see {NO_SERVER_ERROR.id}" if server_side else "; none was an answer this rule's case is judged by"
    return f"got {', '.join(parts)}{more}{hint}"
