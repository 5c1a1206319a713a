"""The one result model of a run: typed records that every report format renders.

It holds only what is safe to show (requests and responses already redacted) and
round-trips through JSON: `to_dict` writes the versioned format, `from_dict` reads it
back *through the shipped schema* (`reports/conformance.schema.json`), so a file handed
over by a third party is checked field by field before any writer sees it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, fields
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import httpx

__all__ = [
    "FORMAT",
    "STATUS_LOOK",
    "Budget",
    "Finding",
    "PlanStats",
    "RequestRecord",
    "ResponseRecord",
    "ResultInvalid",
    "RootCause",
    "RuleResult",
    "RunResult",
    "RunSettings",
    "SpecInfo",
    "Status",
    "StatusLook",
    "TargetInfo",
    "TrafficStats",
]

FORMAT = "migma-contract/1"
OBSERVED_KINDS = ("proxy", "recorded", "middleware")  # targets judged on traffic the toolkit did not make
SCHEMA_PATH = Path(__file__).resolve().parent.parent / "reports" / "conformance.schema.json"


class Status(StrEnum):
    """A rule's outcome in one run."""

    PASSED = "passed"
    FAILED = "failed"
    NOT_EXERCISED = "not_exercised"
    ACCEPTED = "accepted"  # failed, but accepted by the user's baseline


@dataclass(frozen=True)
class StatusLook:
    """How every writer shows a status: one table, so the formats never disagree."""

    word: str  # plain: tables, HTML, comparisons
    shout: str  # the console's result column
    icon: str  # Markdown
    style: str  # rich style of the console


STATUS_LOOK: dict[Status, StatusLook] = {
    Status.PASSED: StatusLook("passed", "passed", "✅", "green"),
    Status.FAILED: StatusLook("failed", "FAILED", "❌", "bold red"),
    Status.NOT_EXERCISED: StatusLook("not exercised", "not exercised", "⚪", "yellow"),
    Status.ACCEPTED: StatusLook("accepted", "accepted (baseline)", "🟣", "magenta"),
}


# What a run reports as it goes (event name, details): the console's progress bar, the plugin.
ProgressCallback = Callable[[str, dict[str, Any]], None]


class ResultInvalid(ValueError):
    """A conformance.json that does not follow the shipped schema."""


@dataclass
class RequestRecord:
    """A request as a report shows it: redacted (keys read `[REDACTED]`), its body cut to an excerpt when long."""

    method: str
    url: str
    headers: dict[str, str]
    body: str
    body_size: int
    curl: str

    def to_httpx(self) -> httpx.Request:
        """This request as an `httpx.Request` (headers case-insensitive), as the report shows it: keys redacted, and
        a body the report cut is the excerpt (`body_size` says how long the whole one was)."""
        import httpx

        return httpx.Request(self.method, self.url, headers=self.headers, content=self.body.encode("utf-8"))


@dataclass
class ResponseRecord:
    status: int | None
    headers: dict[str, str]
    body: str
    body_size: int
    truncated: bool
    elapsed_ms: float
    error: str | None = None


@dataclass
class Finding:
    rule: str
    level: str
    rule_text: str
    source: str
    expected: str
    actual: str
    case: str
    case_label: str
    phase: str
    request: RequestRecord
    response: ResponseRecord
    attribution: str | None = None
    occurrences: int = 1
    baselined: bool = False
    broken_by: str | None = None  # observed traffic: "client" or "server"
    key: str = ""  # what makes the finding itself for a baseline: its planned case, or its symptom (see `finding_key`)

    @property
    def message(self) -> str:
        text = f"[{self.rule}] expected {self.expected}; got {self.actual}"
        return f"{text}. {self.attribution}" if self.attribution else text


@dataclass
class RootCause:
    """Failures of several rules that one wrong status explains (each is still a finding of its rule)."""

    summary: str  # "every request that breaks a rule was answered 422 where the document gives 400"
    status: int
    instead_of: int | None
    shapes: list[str]  # the outlines of the answers' bodies, e.g. "{error, success}"
    rules: list[str]

    @property
    def bodies(self) -> list[str]:
        """The answers' bodies in words: `{error, success}` reads "a JSON object with keys error, success"."""
        return [(f"a JSON object with keys {shape[1:-1]}" if shape[1:-1] else "an empty JSON object")
                if shape.startswith("{") and shape.endswith("}") else shape for shape in self.shapes]

    @property
    def line(self) -> str:
        """The summary with its count and rules, as one line."""
        return f"{self.summary}: {len(self.rules)} rules ({', '.join(self.rules)})"


@dataclass
class RuleResult:
    id: str
    level: str
    subject: str
    text: str
    source: str
    status: Status
    exercised: int = 0
    passed: int = 0
    failed: int = 0
    reason: str | None = None
    notes: list[str] = field(default_factory=list)
    observed: str | None = None  # observed traffic: how many real exchanges exercised it, and who broke it
    set: str = "contract"  # the rule set: contract (the bundled document) or vendor (opt-in)
    unshown: list[str] = field(default_factory=list)  # keys of distinct failures beyond --max-findings-per-rule: counted, not kept

    def unshown_line(self, shown: int) -> str | None:
        """'8 failed, 5 shown, 3 more ...' when distinct failures were counted but not kept (None otherwise)."""
        if not self.unshown:
            return None
        return (f"{self.failed} failed, {shown} shown, {len(self.unshown)} more distinct failure(s) not kept "
                "(--max-findings-per-rule)")


@dataclass
class SpecInfo:
    """Which document the run judged against."""

    source: str
    fingerprint: str
    version: str
    repairs: list[str] = field(default_factory=list)


@dataclass
class TargetInfo:
    """What was checked: its label for people, its URL (credentials stripped), its kind."""

    label: str
    url: str | None
    kind: str  # "http" or "in-process"; observed traffic: "proxy", "recorded" or "middleware"
    data_bound: bool
    fixtures: list[str] = field(default_factory=list)


@dataclass
class Budget:
    max_requests: int
    max_time_s: float | None
    timeout_s: float
    rate_per_s: float | None
    max_retries: int
    explore: bool


@dataclass
class PlanStats:
    kind: str = "full"  # which plan ran: full (then exploration), minimal (one case per rule), observed (traffic: no plan)
    cases: int = 0
    skipped: int = 0  # planned cases not sent (the plan was cut)
    budget_exhausted: bool = False
    explored: int = 0
    plan_s: float | None = None
    explore_s: float | None = None


@dataclass
class TrafficStats:
    """Observed traffic: what was seen, what was judged, and what was left and why."""

    source: str
    exchanges: int = 0  # every exchange seen
    judged: int = 0  # POST /v1/sending exchanges judged
    other: int = 0  # other paths or methods: counted and skipped
    unanswered: int = 0  # no response (an upstream that failed, a recording without one)
    notes: list[str] = field(default_factory=list)  # what was not judged and why; where a file stopped
    partly_judged: int = 0  # judged in part: a body the way in held but could not read (over its cap, an unknown coding)
    unjudged: int = 0  # sends that passed unjudged (judging fell behind, a client that stopped reading, a judging error)

    @property
    def counts(self) -> str:
        """What was seen and judged, in one phrase (every writer shows it)."""
        gaps = (f", {self.partly_judged} judged in part" if self.partly_judged else "") + (
            f", {self.unjudged} passed unjudged" if self.unjudged else "")
        return (f"{self.exchanges} exchange(s) seen, {self.judged} judged{gaps}, {self.other} for other paths or methods "
                f"skipped, {self.unanswered} without an answer")

    @property
    def in_full(self) -> bool:
        """Whether every send seen was judged in full (else no verdict but a violation can be given)."""
        return not (self.partly_judged or self.unjudged)


@dataclass
class RunSettings:
    verify_tls: bool = True
    follow_redirects: bool = False
    recipient_domain: str = "example.com"
    recipient_domain_reserved: bool = True
    baseline: list[str] = field(default_factory=list)


@dataclass
class RunResult:
    tool_version: str
    spec: SpecInfo
    target: TargetInfo
    level: str
    seed: int
    budget: Budget
    started: str
    finished: str
    duration_s: float
    requests_sent: int
    verdict: str
    exit_code: int
    rules: list[RuleResult]
    findings: list[Finding]
    root_causes: list[RootCause] = field(default_factory=list)
    aborted: str | None = None
    # whether the run did all it planned: complete, cut (the budget ended the plan), aborted (--max-timeouts), interrupted
    completion: str = "complete"
    stopped: str | None = None  # why it did not complete: what was cut and why, the abort, the interruption
    stale_baseline: list[str] = field(default_factory=list)  # baseline entries that no longer fail
    plan: PlanStats = field(default_factory=PlanStats)
    settings: RunSettings = field(default_factory=RunSettings)
    traffic: TrafficStats | None = None
    # what the run printed as a warning on its way (a slower pace after a 429, a key the server refused), kept for the reports
    warnings: list[str] = field(default_factory=list)
    format: str = FORMAT

    # -- summaries the writers share -------------------------------------------------------

    def count(self, status: Status | str) -> int:
        return sum(1 for rule in self.rules if rule.status == status)

    @property
    def compliance(self) -> tuple[int, int]:
        """(rules passed, rules exercised); accepted (baselined) failures count as exercised."""
        exercised = [r for r in self.rules if r.status != Status.NOT_EXERCISED]
        return sum(1 for r in exercised if r.status == Status.PASSED), len(exercised)

    @property
    def headline(self) -> str:
        passed, exercised = self.compliance
        failed = self.count(Status.FAILED)
        target = self.target.label
        if self.target.kind in OBSERVED_KINDS and not self.aborted:
            judged = self.traffic.judged if self.traffic else self.requests_sent
            if failed:
                text = f"VIOLATIONS OBSERVED: {failed} rule(s) broken in {judged} judged exchange(s), {passed}/{exercised} observed rules kept ({target})"
                return text if self.complete else f"{text}; {self.completion_words}"
            if not self.complete:
                said = "INTERRUPTED" if self.completion == "interrupted" else "INCOMPLETE"
                return f"{said}: {self.stopped}; no verdict: {passed}/{exercised} observed rules kept in {judged} judged exchange(s) ({target})"
            return f"NO VIOLATION OBSERVED: {passed}/{exercised} observed rules kept in {judged} judged exchange(s) ({target})"
        if failed:
            text = f"NOT CONFORMANT: {failed} rule(s) failed, {passed}/{exercised} exercised rules passed ({target})"
            return text if self.complete else f"{text}; {self.completion_words}"
        if self.aborted:
            return f"ABORTED: {self.aborted} (no rule failed before that; {target})"
        if not self.complete:
            said = f"INTERRUPTED: {self.stopped}" if self.completion == "interrupted" else f"INCOMPLETE: {self.completion_words}"
            return f"{said}; no verdict: {passed}/{exercised} exercised rules passed in what ran ({target})"
        accepted = self.count(Status.ACCEPTED)
        suffix = f", {accepted} known failure(s) accepted by the baseline" if accepted else ""
        return f"CONFORMANT: {passed}/{exercised} exercised rules passed{suffix} ({target})"

    def interrupted_by(self, why: str) -> None:
        """Mark the result of what ran before Ctrl-C or SIGTERM: no verdict (exit 3) unless a violation was found (1)."""
        self.completion, self.stopped = "interrupted", why
        if self.exit_code == 0:
            self.verdict, self.exit_code = "interrupted", 3

    @property
    def complete(self) -> bool:
        """Whether the run did all it planned (not cut, not aborted, not interrupted)."""
        return self.completion == "complete" and not self.aborted

    @property
    def completion_words(self) -> str:
        """One phrase for an incomplete run: 'the run was interrupted: ...' (empty when it completed)."""
        if self.complete:
            return ""
        how = {"cut": "the plan was cut", "aborted": "the run was aborted", "interrupted": "the run was interrupted",
               "partial": "not every exchange was judged in full"}
        return f"{how.get(self.completion, 'the run did not complete')}: {self.stopped or self.aborted}"

    @property
    def volume(self) -> str:
        """What ran, in one phrase: '119 requests (the full plan)', or '5 exchanges judged from <source>' for observed traffic."""
        if self.traffic is not None or self.plan.kind == "observed":
            judged = self.traffic.judged if self.traffic is not None else self.requests_sent
            source = f" from {self.traffic.source}" if self.traffic is not None else ""
            return f"{judged} exchange(s) judged{source}"
        cut = f", cut: {self.plan.skipped} of {self.plan.cases} cases not sent" if self.plan.skipped else ""
        return f"{self.requests_sent} requests (the {self.plan.kind} plan{cut})"

    def findings_for(self, rule_id: str) -> list[Finding]:
        return [f for f in self.findings if f.rule == rule_id]

    def rule(self, rule_id: str) -> RuleResult | None:
        return next((r for r in self.rules if r.id == rule_id), None)

    # -- JSON ----------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        ordered = {"format": data.pop("format")}
        ordered.update(data)
        for rule in ordered["rules"]:
            rule["status"] = str(rule["status"])
        ordered["summary"] = {
            "headline": self.headline,
            "passed": self.count(Status.PASSED),
            "failed": self.count(Status.FAILED),
            "not_exercised": self.count(Status.NOT_EXERCISED),
            "accepted": self.count(Status.ACCEPTED),
            "compliance": list(self.compliance),
        }
        return ordered

    @classmethod
    def from_dict(cls, data: Any) -> RunResult:
        """The result a conformance.json holds; `ResultInvalid` naming the first bad field otherwise."""
        _check_against_schema(data)
        values = {f.name: data[f.name] for f in fields(cls) if f.name in data}
        values["spec"] = SpecInfo(**data["spec"])
        values["target"] = TargetInfo(**data["target"])
        values["budget"] = Budget(**data["budget"])
        values["plan"] = PlanStats(**data.get("plan", {}))
        values["settings"] = RunSettings(**data.get("settings", {}))
        values["root_causes"] = [RootCause(**cause) for cause in data["root_causes"]]
        values["traffic"] = TrafficStats(**data["traffic"]) if data.get("traffic") else None
        values["rules"] = [RuleResult(**{**rule, "status": Status(rule["status"])}) for rule in data["rules"]]
        values["findings"] = [
            Finding(**{**f, "request": RequestRecord(**f["request"]), "response": ResponseRecord(**f["response"])})
            for f in data["findings"]
        ]
        return cls(**values)


_VALUES = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|\d+(?:\.\d+)?")


def symptom(text: str) -> str:
    """A failure's words with their values left out ('…'): what two failures of one kind share."""
    return _VALUES.sub("…", text)


def key_text(*parts: object) -> str:
    """A finding's key: its parts as one line of single spaces (a baseline file holds it after the rule id)."""
    return " ".join(" ".join(str(part) for part in parts if part not in (None, "")).split())


@dataclass(frozen=True)
class Baseline:
    """Known failures a team accepts for now: findings (rule id and the finding's key), and whole rules.

    A finding's key is what makes it itself (`Finding.key`): a planned case's value class, or a
    response rule's symptom. A whole rule (a bare rule id in a list, or a conformance.json written
    before findings had keys) accepts every failure of that rule.
    """

    findings: frozenset[tuple[str, str]] = frozenset()
    rules: frozenset[str] = frozenset()
    notice: str | None = None  # what the run warns of (a file of an earlier version, read as whole rules)

    def accepts(self, rule_id: str, key: str) -> bool:
        return rule_id in self.rules or (rule_id, key) in self.findings

    def __contains__(self, rule_id: object) -> bool:
        """Whether any entry names this rule."""
        return rule_id in self.rules or any(rule == rule_id for rule, _ in self.findings)

    def __iter__(self) -> Iterator[str]:
        """The rules it names, once each."""
        return iter(sorted(self.rules | {rule for rule, _ in self.findings}))

    def __bool__(self) -> bool:
        return bool(self.findings or self.rules)

    def status(self, rule_id: str, findings: list[Finding], unshown_new: bool) -> Status:
        """A failed rule's status: accepted only when each of its failures is a known one."""
        known = findings and all(self.accepts(rule_id, f.key) for f in findings) and not unshown_new
        return Status.ACCEPTED if known or rule_id in self.rules else Status.FAILED

    def stale(self, failures: set[tuple[str, str]]) -> list[str]:
        """Entries that no longer fail (of `failures`, each distinct failure's rule and key): 'rule-id key', a whole rule its id alone."""
        seen = failures
        failing = {rule for rule, _ in failures}
        gone = [f"{rule} {key}" for rule, key in sorted(self.findings) if (rule, key) not in seen]
        return gone + [rule for rule in sorted(self.rules) if rule not in failing]


BASELINE_HEADER = ("# migma-contract baseline: known failures a check accepts, one per line: the rule id, then the finding's key.\n"
                   "# A rule id alone accepts every failure of that rule. Rewrite it: migma-contract check --write-baseline PATH\n")


def failure_keys(result: RunResult) -> set[tuple[str, str]]:
    """Each distinct failure of a run: its rule and key (the findings', and those counted beyond --max-findings-per-rule)."""
    return {(f.rule, f.key) for f in result.findings} | {(r.id, key) for r in result.rules for key in r.unshown}


def render_baseline(result: RunResult) -> str:
    """A baseline file that accepts exactly the failures of `result` (each distinct failure: its rule and key)."""
    entries = sorted(failure_keys(result))
    return BASELINE_HEADER + "".join(f"{rule} {key}".rstrip() + "\n" for rule, key in entries)


@cache
def _validator() -> Any:
    import jsonschema

    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)


def _check_against_schema(data: Any) -> None:
    import jsonschema

    if not isinstance(data, dict) or data.get("format") != FORMAT:
        found = data.get("format") if isinstance(data, dict) else type(data).__name__
        raise ResultInvalid(f"not a migma-contract result (format {str(found)[:40]!r}, expected {FORMAT!r})")
    error = jsonschema.exceptions.best_match(_validator().iter_errors(data))
    if error is not None:
        where = "/" + "/".join(str(part) for part in error.absolute_path)
        raise ResultInvalid(f"at {where[:80]}: {error.message[:160]}")
