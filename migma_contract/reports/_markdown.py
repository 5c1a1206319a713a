"""`summary.md`: a short summary for a pull request or a CI step summary."""

from __future__ import annotations

from .._result import STATUS_LOOK, RunResult

MAX_FINDINGS = 5


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def render_markdown(result: RunResult) -> str:
    lines = [f"## migma-contract: {result.headline}", ""]
    lines.append(
        f"**Target** {_cell(result.target.label)} · **level** {result.level} · **seed** {result.seed} · "
        f"**requests** {result.requests_sent} · **time** {result.duration_s:.1f} s · **spec** `{result.spec.fingerprint[:19]}…` · "
        f"migma-contract {result.tool_version}"
    )
    if result.traffic is not None:
        traffic = result.traffic
        lines += ["", f"**Traffic** {_cell(traffic.source)}: {traffic.exchanges} exchange(s) seen, {traffic.judged} judged, "
                      f"{traffic.other} for other paths skipped, {traffic.unanswered} without an answer"]
        lines += [f"- {_cell(note)}" for note in traffic.notes]
    lines += ["", "| rule | level | result | exercised | failed | note |", "|---|---|---|---:|---:|---|"]
    for rule in result.rules:
        note = rule.reason or rule.observed or "; ".join(rule.notes)
        lines.append(f"| `{rule.id}` | {rule.level} | {STATUS_LOOK[rule.status].icon} {STATUS_LOOK[rule.status].shout} | {rule.exercised} | {rule.failed} | {_cell(note)} |")
    shown = result.findings[:MAX_FINDINGS]
    if shown:
        lines += ["", f"### Findings ({len(result.findings)})", ""]
    for finding in shown:
        tag = " (accepted by the baseline)" if finding.baselined else ""
        lines += [
            f"#### ❌ `{finding.rule}` [{finding.level}]{tag}",
            "",
            f"{finding.rule_text} — *{finding.source}*",
            "",
            f"- case: {finding.case_label}",
            f"- expected: {finding.expected}",
            f"- got: {finding.actual}",
        ]
        if finding.attribution:
            lines.append(f"- why: {finding.attribution}")
        lines += ["", "```sh", finding.request.curl, "```", ""]
    if len(result.findings) > MAX_FINDINGS:
        lines.append(f"… and {len(result.findings) - MAX_FINDINGS} more finding(s) in conformance.json / index.html.")
    return "\n".join(lines).rstrip() + "\n"
