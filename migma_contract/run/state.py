"""The state of one run, and the operations both phases (plan, exploration) drive it with.

`RunState` sends a case through the target, judges the answer against the catalogue
(every response rule, the rules judged across responses, and the case's own rule), keeps
the tallies and every distinct finding per rule up to a bound (redacted), watches the
budget, and attributes a rejected valid request, a server error or a timeout to the field
and value class that made the difference, by sending plainer controls.

Distinct findings: a failure is new for its rule when its symptom (the answer's status
and body shape, or the response rule's words) is new, or, where the value class is what
the failure is about (a rule-breaking request accepted, a valid one refused, a crash),
when its value class is new.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple, TypeAlias

from migma_contract.config.options import ENV_PREFIX, CheckOptions, user_redactor
from migma_contract.contract.catalogue import (
    ACCEPTS_VALID,
    AUTH_SCOPE,
    IDEMPOTENCY_HEADER,
    NO_SERVER_ERROR,
    RESPONDS_IN_TIME,
    STATUS_DOCUMENTED,
    get_rule,
    rules_for,
)
from migma_contract.contract.rules import (
    History,
    Replay,
    ResponseFacts,
    Subject,
    bearer_key,
)
from migma_contract.contract.validators import Contract, cut_body, response_facts
from migma_contract.core.bounded import loads
from migma_contract.core.exceptions import ConfigError, TargetUnreachable
from migma_contract.core.flags import flag
from migma_contract.core.redact import strip_credentials
from migma_contract.core.untrusted import clean_text
from migma_contract.generate.bodies import BodyFactory
from migma_contract.generate.cases import Case, CaseAuth
from migma_contract.judge.deserve import Standing
from migma_contract.judge.verdict import SERVER, Knowledge, judge_exchange, no_endpoint
from migma_contract.run.attribution import Attribution, Culprit
from migma_contract.run.keyed import KeyedMemory
from migma_contract.run.records import error_field, make_records
from migma_contract.run.result import Baseline, Finding, ProgressCallback, RootCause, key_text, symptom
from migma_contract.run.root_causes import Symptom, body_shape, group, replaced
from migma_contract.wire.client import Exchange as WireExchange
from migma_contract.wire.client import Target

__all__ = ["Failure", "ProgressCallback", "RunState", "Tally"]

Exchange: TypeAlias = WireExchange[Case]  # what a run sends is a planned case



def _no_loop(case: Any) -> Any:
    raise RuntimeError("no way to send synchronously is set (RunState.blocking)")


# An error text saying a known key lacks a right (not that the key is unknown)
_PERMISSION = re.compile(r"(?i)permission|\bscopes?\b|email:send|not allowed|forbidden|insufficient|\black")





def _json_object(body: bytes) -> dict[str, Any] | None:
    """An answer's body when it is a JSON object (None otherwise)."""
    try:
        value = loads(body)
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None



@dataclass
class Tally:
    exercised: int = 0
    passed: int = 0
    failed: int = 0


class Failure(NamedTuple):
    """One rule an exchange broke: what was expected and what came instead."""

    rule_id: str
    expected: str
    actual: str


@dataclass
class _Recorded:
    findings: list[Finding] = field(default_factory=list)
    keys: list[tuple[Any, ...]] = field(default_factory=list)
    unshown: list[str] = field(default_factory=list)  # keys of distinct failures past --max-findings-per-rule


class RunState:
    """The state of one run and what acts on it: send, judge, tally, record, budget, attribution.

    Both the plan phase and exploration drive the run through this object; it knows
    nothing of either.
    """

    def __init__(self, options: CheckOptions, contract: Contract, target: Target, bodies: BodyFactory,
                 display_base: str | None, progress: ProgressCallback | None, baseline: Baseline | None = None) -> None:
        self.baseline = baseline or Baseline()
        self.options = options
        # How a synchronous caller (exploration, inside Hypothesis) sends a case: set by the
        # engine (the target's blocking client, or the event loop that owns the target).
        self.blocking: Callable[[Case], Exchange] = _no_loop
        # True while exploring, and for the whole run of a URL target (its blocking client): `send`
        # then sends through `blocking` and never suspends, so the plan's coroutines run to their
        # end on the run's thread and an explored finding's attribution runs there (`settle_now`)
        self.sends_now = False
        self.fixtures = options.fixtures
        self.contract = contract
        self.level = options.level  # parsed once, in the options table
        self.target = target
        self.bodies = bodies
        self.validator = contract.response_validator(self.level, options.rule_sets)
        rules = rules_for(self.level, options.rule_sets)
        self.rule_ids = [r.id for r in rules]
        self.history_rules = [r for r in rules if r.form.across_responses is not None]
        self.keyed = KeyedMemory(self, rules)  # the vendor set: answers under one Idempotency-Key, 429s
        # Injects one answer of this status into the next request (a target with fault injection), set by the engine.
        self.inject: Callable[[int], None] | None = None
        self._pace_warned = target.pace.interval
        self.history: dict[str, History] = {r.id: {} for r in self.history_rules}
        self.tallies = {rule_id: Tally() for rule_id in self.rule_ids}
        self.recorded: dict[str, _Recorded] = {}
        self.symptoms: list[Symptom] = []
        self.not_exercisable: dict[str, str] = {}  # rule -> why its cases cannot judge it (found while running)
        self.warnings: list[str] = []
        self._body_notes: set[str] = set()  # what answers' bodies lacked (`Exchange.body_note`), each warned once
        self.timeouts = 0
        self.aborted: str | None = None
        self.budget_hit = False
        self.budget_why: str | None = None  # which limit ended the sending: --max-requests or --max-time
        self.skipped = 0  # planned cases never sent (the plan was cut)
        self.interrupted: str | None = None  # Ctrl-C or SIGTERM: the run's reports hold what ran
        self.deadline = time.monotonic() + options.max_time if options.max_time else None
        self.redactor = user_redactor(options)  # the run's keys, and any other of the user's (environment)
        self.keys = {key: ENV_PREFIX + name.upper() for key, name in ((options.api_key, "api_key"), (options.restricted_api_key, "restricted_api_key"),
                                                                     (options.second_api_key, "second_api_key")) if key}
        self.display_base = display_base
        self.progress: ProgressCallback = progress or (lambda event, info: None)
        self.explored = 0
        self.timings: dict[str, float] = {}
        self.target_label = strip_credentials(target.settings.base_url)
        self.attribution = Attribution(self)
        self._fact_memo: dict[int, tuple[Exchange, ResponseFacts]] = {}  # an answer's facts, read once
        self.statuses_seen: Counter[int] = Counter()  # every status judged, for why a rule saw nothing to judge
        self.unjudged_cases: Counter[str] = Counter()  # rule -> its cases whose answer judged nothing of it
        # rule -> what those cases got back (a status, or None: no answer), so the reason says what came (pass X4, F6)
        self.unjudged_answers: dict[str, Counter[int | None]] = {}
        # answers judged in part (their body not read: over max-response-bytes, nested too deep...): why -> how many;
        # their body rules stand unjudged, so no green verdict rests on them (the run is "partial", as traffic's is)
        self.partly_judged: Counter[str] = Counter()

    # -- what was found -------------------------------------------------------------------------

    @property
    def findings(self) -> list[Finding]:
        return [finding for recorded in self.recorded.values() for finding in recorded.findings]

    @property
    def failed(self) -> set[str]:
        return {rule_id for rule_id, recorded in self.recorded.items() if recorded.findings}

    def root_causes(self) -> list[RootCause]:
        return group(self.symptoms, self.tallies)

    # -- limits ---------------------------------------------------------------------------------

    def can_send(self) -> bool:
        if self.aborted:
            return False
        if self.target.requests_sent >= self.options.max_requests:
            self.budget_hit = True
            self.budget_why = self.budget_why or f"{flag('--max-requests')} {self.options.max_requests} reached"
            return False
        if self.deadline is not None and time.monotonic() >= self.deadline:
            self.budget_hit = True
            self.budget_why = self.budget_why or f"{flag('--max-time')} {self.options.max_time:g} s ran out"
            return False
        return True

    # -- sending and judging ---------------------------------------------------------------------

    async def send(self, case: Case) -> Exchange:
        if self.sends_now:
            return self.send_now(case)
        return self._sent(await self.target.send(case))

    def send_now(self, case: Case) -> Exchange:
        """`send` from synchronous code (exploration, called by Hypothesis): through `blocking`."""
        return self._sent(self.blocking(case))

    def _sent(self, exchange: Exchange) -> Exchange:
        """What the run learns from any exchange: a request that never left, a timeout, a slower pace."""
        if exchange.client_error:
            # The request never left: nothing about the server can be concluded from it.
            raise ConfigError(f"the request could not be sent ({self.redactor.text(exchange.client_error)}); "
                              f"nothing was judged: check the keys and {flag('--base-url')}")
        if exchange.timed_out:
            self.timeouts += 1
            if self.timeouts >= self.options.max_timeouts:
                self.aborted = (f"{self.timeouts} requests timed out (limit {self.options.max_timeouts}, {flag('--max-timeouts')}); "
                                "stopped to keep the run bounded")
        if self.target.pace.interval > self._pace_warned:
            self._pace_warned = self.target.pace.interval
            self.warn(f"the target rate-limited the run (429 with Retry-After): one request every "
                      f"{self._pace_warned:.2f} s from now on")
        return exchange

    def judge(self, exchange: Exchange) -> list[Failure]:
        """Tally every rule this exchange exercised; return the rules it broke.

        The one judge (`judge_exchange`) decides what the request deserved and what the answer
        owed; the run adds what only it knows: the faults it injected, the answers it saw before
        (rules across responses, the vendor set's keyed pairs), the 429s it retried.
        """
        case = exchange.case
        failures: list[Failure] = []
        if (case.inject is not None and exchange.answered and exchange.status == case.inject
                and not exchange.throttled and not exchange.error):
            # the run's own fault: judged only by the rules about such an answer, kept for the retry
            if exchange.truncated:  # they read its body, cut at the run's own cap: not judged (judged in part)
                self.partly_judged[cut_body(self.options.max_response_bytes)] += 1
            else:
                self.keyed.judge_injected(exchange, failures)
            return failures
        if exchange.status is not None:
            self.statuses_seen[exchange.status] += 1
        if exchange.body_note is not None and exchange.body_note not in self._body_notes:  # said once a run
            self._body_notes.add(exchange.body_note)
            self.warn(f"an answer's body is {exchange.body_note}")
        verdict = judge_exchange(self.contract, self.level, exchange, self._knowledge(exchange), body=case.body,
                                 validator=self.validator)
        if verdict.facts is None and exchange.answered and not (exchange.timed_out or exchange.error):
            self.partly_judged[cut_body(self.options.max_response_bytes) if exchange.truncated
                               else verdict.partly or "its body was not read"] += 1
        judged = set()
        for rule_id, party, ok, expected, actual in verdict.judgements:
            if party == SERVER and rule_id not in self.not_exercisable:
                self._tally(rule_id, failures, ok, expected, actual)
                judged.add(rule_id)
        if case.rule_id and case.rule_id not in judged:  # its case got no answer that judges it (a 5xx, a hang)
            self.unjudged_cases[case.rule_id] += 1
            self.unjudged_answers.setdefault(case.rule_id, Counter())[exchange.status if exchange.answered else None] += 1
        # a body cut at the run's cap is not read by the rules across answers either
        if exchange.answered and not exchange.error and not exchange.truncated:
            self._judge_history(exchange, failures)
            self.keyed.judge_throttled(exchange, failures)
            self.keyed.judge_keyed(exchange, failures)
        return failures

    def _knowledge(self, exchange: Exchange) -> Knowledge:
        """What the run knows about one of its exchanges: its keys, that it built the data, its limits."""
        case = exchange.case
        return Knowledge(
            standing=self._standing(case),
            data_known=True,
            fixtures=self.fixtures,
            timeout=self.options.timeout,
            truncated_at=self.options.max_response_bytes if exchange.truncated else None,
            throttle_final=True,  # a 429 judged here is one the retries could not get past
            answer_text=self._answer(exchange),
            judge_status=case.rule_id not in self.keyed.rule_ids,  # the vendor set's forms judge their own answers
        )

    def _standing(self, case: Case) -> Standing:
        """What the run knows of the key a case carries: its own keys, or one it made up."""
        if case.auth == CaseAuth.FULL:
            return Standing.FULL
        key = bearer_key(next((v for k, v in case.headers if k.lower() == "authorization"), None))
        if key is not None and key == self.options.restricted_api_key:
            return Standing.RESTRICTED
        if key is not None and key in (self.options.api_key, self.options.second_api_key):
            return Standing.FULL
        return Standing.UNKNOWN

    def _judge_history(self, exchange: Exchange, failures: list[Failure]) -> None:
        """The rules judged across responses (result-id-unique), against what this run saw before."""
        assert exchange.status is not None
        rules = [(r, form) for r in self.history_rules
                 if (form := r.form.across_responses) is not None and form.applies(self.contract.spec, exchange.status)]
        if not rules:
            return
        facts = self._facts_of(exchange)
        if not facts.parsed:
            return
        sent = exchange.sent_headers
        replay = Replay.of(sent.get(IDEMPOTENCY_HEADER.lower()), sent.get("authorization"), exchange.request_content)
        for rule, form in rules:
            judged, message = form.judge(self.history[rule.id], facts, replay, exchange.case.label)
            if judged:
                self._tally(rule.id, failures, message is None, rule.text, message or "")

    # -- the vendor set: answers under one Idempotency-Key ----------------------------------------

    @staticmethod
    def _facts(status: int, headers: dict[str, str], body: bytes, request: Any = None) -> ResponseFacts:
        return response_facts(status, headers, body, request, None, None)

    def _facts_of(self, exchange: Exchange) -> ResponseFacts:
        """An exchange's answer as the rules read it, parsed once however many rules ask (the last few kept)."""
        memo = self._fact_memo.get(id(exchange))
        if memo is not None and memo[0] is exchange:
            return memo[1]
        assert exchange.status is not None
        facts = response_facts(exchange.status, exchange.headers, exchange.body, exchange.case.body, None, None)
        self._fact_memo[id(exchange)] = (exchange, facts)
        if len(self._fact_memo) > 16:
            self._fact_memo.pop(next(iter(self._fact_memo)))
        return facts

    def _judge_rule(self, rule: Any, failures: list[Failure], message: str | None) -> None:
        self._tally(rule.id, failures, message is None, rule.text, message or "")

    def _unjudged(self, rule_id: str, reason: str, *, warn: bool = False) -> None:
        """Why a rule was not judged by a case (the report gives it if nothing else judged the rule)."""
        if rule_id in self.tallies and rule_id not in self.not_exercisable:
            self.not_exercisable[rule_id] = reason
            if warn:
                self.warn(reason)

    def _tally(self, rule_id: str, failures: list[Failure], ok: bool, expected: str, actual: str) -> None:
        tally = self.tallies.get(rule_id)
        if tally is None:
            return
        tally.exercised += 1
        if ok:
            tally.passed += 1
        else:
            tally.failed += 1
            failures.append(Failure(rule_id, expected, actual))

    # -- findings --------------------------------------------------------------------------------

    def _key(self, exchange: Exchange, failure: Failure, value_class: Any) -> tuple[Any, ...]:
        """What makes a failure distinct from the others of its rule (see the module docstring)."""
        case = exchange.case
        status = exchange.status if exchange.answered else None
        if failure.rule_id != case.rule_id:
            crash = failure.rule_id in (NO_SERVER_ERROR.id, RESPONDS_IN_TIME.id)
            return ("response", status, symptom(failure.actual), value_class if crash else None)
        accepted = status is not None and 200 <= status < 300
        about_class = accepted != (case.rule_id == ACCEPTS_VALID.id)
        return ("case", status, value_class if about_class else None)

    def is_new(self, exchange: Exchange, failure: Failure) -> bool:
        """Whether recording this failure would add a finding (exploration: its symptom is new to the rule)."""
        recorded = self.recorded.get(failure.rule_id)
        if recorded is None:
            return True
        key = self._key(exchange, failure, None)
        if len(recorded.findings) >= self.options.max_findings_per_rule:
            if all(known[:-1] != key[:-1] for known in recorded.keys):
                self._unshown(recorded, key)  # a distinct failure past the bound: counted, not kept
            return False
        return all(known[:-1] != key[:-1] for known in recorded.keys)

    def record(self, exchange: Exchange, failures: list[Failure], culprit: Culprit | None = None,
               value_class: Any = None) -> None:
        """Keep each failure as a finding when it is distinct for its rule and the rule is under its bound."""
        for failure in failures:
            rule_id = failure.rule_id
            recorded = self.recorded.setdefault(rule_id, _Recorded())
            key = self._key(exchange, failure, value_class)
            if key in recorded.keys:
                recorded.findings[recorded.keys.index(key)].occurrences += 1
                continue
            if len(recorded.findings) >= self.options.max_findings_per_rule:
                self._unshown(recorded, key)
                continue
            rule = get_rule(rule_id)
            request, response = make_records(exchange, self.redactor, self.keys, self.display_base)
            case = exchange.case
            about_case = rule_id == case.rule_id or rule_id in (NO_SERVER_ERROR.id, RESPONDS_IN_TIME.id)
            attribution = culprit.explanation if culprit and about_case else None
            finding = Finding(
                rule=rule_id, level=rule.level.value, rule_text=rule.text, source=rule.source,
                expected=self.shown(failure.expected).strip(), actual=self.shown(failure.actual).strip(),
                case=case.id, case_label=self.shown(case.label), phase=case.phase,
                request=request, response=response,
                attribution=self.shown(attribution) if attribution else None,
                key=self._key_text(key),
            )
            finding.baselined = self.baseline.accepts(rule_id, finding.key)
            recorded.findings.append(finding)
            recorded.keys.append(key)
            self._note_symptom(exchange, rule_id)
            self.progress("finding", {"rule": rule_id, "actual": finding.actual, "case": finding.case_label})

    def _key_text(self, key: tuple[Any, ...]) -> str:
        """A finding's key for a baseline (`Finding.key`), from what makes it distinct for its rule (`_key`)."""
        kind, status, *rest = key
        parts = [str(status) if status is not None else "no-answer"]
        if kind == "response":
            parts.append(f"· {rest[0]}")
        value_class = rest[-1]
        if isinstance(value_class, tuple):
            parts.append("=".join(str(part) for part in value_class))
        elif value_class is not None:
            parts.append(str(value_class))
        return key_text(*(self.shown(part) for part in parts))

    def _unshown(self, recorded: _Recorded, key: tuple[Any, ...]) -> None:
        text = self._key_text(key)
        if text not in recorded.unshown:
            recorded.unshown.append(text)

    def shown(self, text: str) -> str:
        """Text for a finding (it may quote the server): redacted whole, then cleaned to one line."""
        return clean_text(self.redactor.text(text))

    def _note_symptom(self, exchange: Exchange, rule_id: str) -> None:
        """Remember a finding about the status, for the root causes."""
        case, status = exchange.case, exchange.status
        if status is None or not exchange.answered:
            return
        if rule_id == case.rule_id and case.rule_id in self.tallies:
            instead_of = replaced(status, case.expect)
            if instead_of is not None:
                self.symptoms.append(Symptom(rule_id, status, instead_of, get_rule(rule_id).subject, body_shape(exchange)))
        elif rule_id == STATUS_DOCUMENTED.id:
            self.symptoms.append(Symptom(rule_id, status, None, Subject.RESPONSE, body_shape(exchange)))

    # -- the plan's cases ------------------------------------------------------------------------

    async def preflight(self, full: Case | None, restricted: Case | None) -> list[Case]:
        """One valid request with each key before anything is judged: the user's mistakes are not the server's faults.

        A key the server refuses is a configuration error (nothing is judged), unless its 401 for the
        restricted key says in words that the key lacks a permission: then auth-scope is not exercised,
        with a warning (the key is right; the status is what looks wrong).
        Returns the cases sent (judged here), so the plan does not send them again.
        """
        sent: list[Exchange] = []
        answers: list[Exchange | None] = []
        for case in (full, restricted):
            exchange = None
            if case is not None and self.can_send():
                exchange = await self.send(case)
                self._check_reachable(exchange)
                sent.append(exchange)
            answers.append(exchange)
        if answers[0] is not None:
            self._check_endpoint(answers[0])
        # An answer from elsewhere (a redirect followed, the credentials left behind) says nothing of the keys.
        full_answer, restricted_answer = (a if a is not None and not a.redirects else None for a in answers)
        if full_answer is not None and full_answer.status in (401, 403):
            said = f"{full_answer.status}{self._answer(full_answer, bare=True)}"
            if restricted_answer is not None and restricted_answer.status is not None and 200 <= restricted_answer.status < 300:
                full_flag, restricted_flag = flag("--api-key"), flag("--restricted-api-key")
                raise ConfigError(f"the keys look swapped: the server refused {full_flag} ({said}) and accepted "
                                  f"{restricted_flag}; pass the full-scope key as {full_flag} and the one without email:send "
                                  f"as {restricted_flag}")
            if full_answer.status == 401:
                raise ConfigError(f"the server refused {flag('--api-key')} ({said}): check the key")
            raise ConfigError(f"the server refused {flag('--api-key')} ({said}): it lacks the email:send permission; pass a full-scope key")
        if restricted_answer is not None and restricted_answer.status == 401:
            said = f"401{self._answer(restricted_answer, bare=True)}"
            if _PERMISSION.search(said):  # its own words: the key is known, and lacks the permission
                why = (f"the server answered 401 to {flag('--restricted-api-key')} ({said}) where the document gives 403 to a "
                       "key without email:send: its own words say the key lacks a permission, so the status is what looks "
                       "wrong; auth-scope is not judged on a 401, which a wrong key gets too")
            else:  # a wrong key looks exactly like this: the user's mistake is no verdict (exit 2, nothing judged)
                raise ConfigError(f"the server refused {flag('--restricted-api-key')} ({said}): check the key; auth-scope needs "
                                  "a key the server knows, without email:send (a server that answers 401 where the document "
                                  f"gives 403 gets this too: leave {flag('--restricted-api-key')} out to skip auth-scope)")
            self.not_exercisable[AUTH_SCOPE.id] = why
            self.warn(why)
        for exchange in sent:
            await self.conclude(exchange)
        return [exchange.case for exchange in sent]

    def _check_endpoint(self, exchange: Exchange) -> None:
        """The first valid request answered as no API endpoint would (404, 405, a redirect, an HTML page): a
        wrong --base-url or a server in front, a configuration error (nothing is judged), never N rule failures."""
        status = exchange.status
        if status is None or not exchange.answered:
            return
        what = no_endpoint(status, exchange.headers.get("content-type"), (), (exchange.body,))
        if what is None:
            return
        tried = clean_text(strip_credentials(self.redactor.text(exchange.url)))
        location = exchange.headers.get("location")
        hops = "".join(f" -> {clean_text(strip_credentials(self.redactor.text(url)))}" for url in exchange.redirects)
        where = f" (Location: {clean_text(self.redactor.text(location))})" if location else ""
        hint = ("the path is doubled: give the API's root, not the endpoint" if "/v1/sending/v1/sending" in tried
                else "is this the API's root, and does the server answer POST /v1/sending there?")
        raise ConfigError(f"the first valid request, POST {tried}{hops}, was answered {what}{where}: "
                          f"no endpoint answers so; check {flag('--base-url')} ({hint})")

    def warn(self, message: str) -> None:
        self.warnings.append(message)
        self.progress("warning", {"message": message})

    def _check_reachable(self, exchange: Exchange) -> None:
        if self.target.requests_sent == 1 and exchange.error and exchange.error.startswith("cannot connect"):
            raise TargetUnreachable(f"cannot reach {self.target_label}: {self.redactor.text(exchange.error)}")

    async def run_case(self, case: Case) -> list[Failure]:
        if (case.step or case.inject is not None) and self.keyed.vendor_skip(case) is not None:
            return []
        if case.inject is not None and self.inject is not None:
            self.inject(case.inject)
        exchange = await self.send(case)
        self._check_reachable(exchange)
        return await self.conclude(exchange)

    async def conclude(self, exchange: Exchange) -> list[Failure]:
        """Judge an exchange, attribute what deserves it, and record the findings."""
        return await self.settle(exchange, self.judge(exchange))

    def settle_now(self, exchange: Exchange, failures: list[Failure]) -> list[Failure]:
        """`settle` on this thread, its controls sent through `blocking` (exploration: `sends_now` is set)."""
        if not self.sends_now:
            raise RuntimeError("settle_now needs blocking sends (RunState.sends_now)")
        settling = self.settle(exchange, failures)
        try:
            settling.send(None)
        except StopIteration as done:
            settled: list[Failure] = done.value
            return settled
        settling.close()
        raise RuntimeError("settling waited on something other than a blocking send")

    async def settle(self, exchange: Exchange, failures: list[Failure]) -> list[Failure]:
        """Attribute the failures of a judged exchange that deserve it, and record the findings."""
        case = exchange.case
        refused = [f for f in failures if f.rule_id == ACCEPTS_VALID.id and exchange.answered and exchange.status is not None
                   and not 200 <= exchange.status < 300]
        # a crash or no answer at all (a late but complete answer is about timing, not about a value)
        crashed = [f for f in failures if f.rule_id == NO_SERVER_ERROR.id or (f.rule_id == RESPONDS_IN_TIME.id and exchange.timed_out)]
        wanted = refused or crashed
        culprit: Culprit | None
        if wanted and case.phase in ("plan", "explore") and self._room_for(wanted[0].rule_id):
            culprit = (self.attribution.blamed_before(case, wanted[0].rule_id)
                       or await self.attribution.attribute(case, exchange, self.attribution.fails_like(exchange)))
            self.attribution.remember(wanted[0].rule_id, culprit)
            if culprit.minimal is not None:
                self.record(exchange, [f for f in failures if f not in wanted], value_class=self._own_class(case))
                again = [f for f in self.judge(culprit.minimal) if f.rule_id in {w.rule_id for w in wanted}]
                self.record(culprit.minimal, again or wanted, culprit, culprit.value_class)
            else:
                self.record(exchange, failures, culprit, culprit.value_class)
            return failures
        culprit = None
        if case.rule_id == AUTH_SCOPE.id and exchange.status is not None and 200 <= exchange.status < 300:
            culprit = Culprit(f"The server accepted {flag('--restricted-api-key')}: if that key does have email:send, pass one without it.")
        first = self.keyed.first_of(case.idempotency_key or "") if case.step == 2 else None
        if first is not None and first is not exchange:
            how = "injected" if first.case.inject is not None else "answered"
            culprit = Culprit(f"The first request under this {IDEMPOTENCY_HEADER} ({first.case.label}) was {how} {first.status}; "
                               "to reproduce, send that one first (the same key), then this one.")
        self.record(exchange, failures, culprit, value_class=self._own_class(case))
        return failures

    def _room_for(self, rule_id: str) -> bool:
        recorded = self.recorded.get(rule_id)
        return recorded is None or len(recorded.findings) < self.options.max_findings_per_rule

    @staticmethod
    def _own_class(case: Case) -> str | None:
        """A plan case's own value class: the mutation or credential it was built to carry (None: a positive send)."""
        return None if case.factors or case.phase != "plan" else case.id.split("~", 1)[0]

    def _answer(self, exchange: Exchange, *, bare: bool = False) -> str:
        """The `error` text of an answer, for a one-line summary: redacted before it is cut, cleaned."""
        error = error_field(exchange.body)
        if not error:
            return ""
        text = clean_text(self.redactor.text(error)).strip()[:160]
        if bare:
            return f" {text}"
        if exchange.status is not None and 200 <= exchange.status < 300:
            body = _json_object(exchange.body)
            if body is not None and body.get("success") is False:  # a 2xx whose body says it failed: not "accepted"
                return f" (success: false, error: {text})"
            return f" (accepted, with error: {text})"
        return f" (error: {text})"
