"""The one result model of a run. Every report format is a writer over it.

It holds only what is safe to show (requests and responses already redacted) and round-
trips through JSON (`to_dict` / `from_dict`), so `migma-contract report` can re-render
any format from a saved `conformance.json`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

__all__ = ["FORMAT", "Finding", "RequestRecord", "ResponseRecord", "RuleResult", "RunResult"]

FORMAT = "migma-contract/1"

PASSED, FAILED, NOT_EXERCISED, ACCEPTED = "passed", "failed", "not_exercised", "accepted"


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

    @property
    def message(self) -> str:
        text = f"[{self.rule}] expected {self.expected}; got {self.actual}"
        return f"{text}. {self.attribution}" if self.attribution else text


@dataclass
class RuleResult:
    id: str
    level: str
    subject: str
    text: str
    source: str
    status: str
    exercised: int = 0
    passed: int = 0
    failed: int = 0
    reason: str | None = None
    notes: list[str] = field(default_factory=list)


@dataclass
class RunResult:
    tool_version: str
    spec: dict[str, Any]
    target: dict[str, Any]
    level: str
    seed: int
    budget: dict[str, Any]
    started: str
    finished: str
    duration_s: float
    requests_sent: int
    verdict: str
    exit_code: int
    rules: list[RuleResult]
    findings: list[Finding]
    aborted: str | None = None
    plan: dict[str, Any] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    format: str = FORMAT

    # -- summaries the writers share -------------------------------------------------------

    def count(self, status: str) -> int:
        return sum(1 for rule in self.rules if rule.status == status)

    @property
    def compliance(self) -> tuple[int, int]:
        """(rules passed, rules exercised); accepted (baselined) failures count as exercised."""
        exercised = [r for r in self.rules if r.status != NOT_EXERCISED]
        return sum(1 for r in exercised if r.status == PASSED), len(exercised)

    @property
    def headline(self) -> str:
        passed, exercised = self.compliance
        failed = self.count(FAILED)
        target = self.target.get("label", "target")
        if self.aborted:
            return f"ABORTED: {self.aborted} ({failed} rule(s) failed before that; {target})"
        if failed:
            return f"NOT CONFORMANT: {failed} rule(s) failed, {passed}/{exercised} exercised rules passed ({target})"
        accepted = self.count(ACCEPTED)
        suffix = f", {accepted} known failure(s) accepted by the baseline" if accepted else ""
        return f"CONFORMANT: {passed}/{exercised} exercised rules passed{suffix} ({target})"

    def findings_for(self, rule_id: str) -> list[Finding]:
        return [f for f in self.findings if f.rule == rule_id]

    # -- JSON ----------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        ordered = {"format": data.pop("format")}
        ordered.update(data)
        ordered["summary"] = {
            "headline": self.headline,
            "passed": self.count(PASSED),
            "failed": self.count(FAILED),
            "not_exercised": self.count(NOT_EXERCISED),
            "accepted": self.count(ACCEPTED),
            "compliance": list(self.compliance),
        }
        return ordered

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunResult:
        names = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in names}
        values["rules"] = [RuleResult(**rule) for rule in data.get("rules", [])]
        values["findings"] = [
            Finding(**{**f, "request": RequestRecord(**f["request"]), "response": ResponseRecord(**f["response"])})
            for f in data.get("findings", [])
        ]
        return cls(**values)
