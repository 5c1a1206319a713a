"""The one result model of a run: typed records that every report format renders.

It holds only what is safe to show (requests and responses already redacted) and
round-trips through JSON: `to_dict` writes the versioned format, `from_dict` reads it
back *through the shipped schema* (`reports/conformance.schema.json`), so a file handed
over by a third party is checked field by field before any writer sees it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import Any

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
    method: str
    url: str
    headers: dict[str, str]
    body: str
    body_size: int
    curl: str


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
    kind: str = "full"  # which plan ran: full (then exploration) or minimal (one case per rule)
    cases: int = 0
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
                return f"VIOLATIONS OBSERVED: {failed} rule(s) broken in {judged} judged exchange(s), {passed}/{exercised} observed rules kept ({target})"
            return f"NO VIOLATION OBSERVED: {passed}/{exercised} observed rules kept in {judged} judged exchange(s) ({target})"
        if self.aborted:
            return f"ABORTED: {self.aborted} ({failed} rule(s) failed before that; {target})"
        if failed:
            return f"NOT CONFORMANT: {failed} rule(s) failed, {passed}/{exercised} exercised rules passed ({target})"
        accepted = self.count(Status.ACCEPTED)
        suffix = f", {accepted} known failure(s) accepted by the baseline" if accepted else ""
        return f"CONFORMANT: {passed}/{exercised} exercised rules passed{suffix} ({target})"

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
