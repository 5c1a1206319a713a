"""What `migma-contract check` prints: progress while it runs, a per-rule table at the end."""

from __future__ import annotations

import sys
from typing import Any, TextIO

from rich.console import Console
from rich.table import Table
from rich.text import Text

from ._cases import Case
from ._plan import Plan
from ._result import STATUS_LOOK, RunResult

__all__ = ["Progress", "print_plan", "print_summary"]



class Progress:
    """Progress on stderr: a live bar on a terminal, one line per finding in a CI log."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.console = Console(file=stream or sys.stderr, highlight=False)
        self.live = self.console.is_terminal
        self._bar: Any = None
        self._task: Any = None

    def __call__(self, event: str, info: dict[str, Any]) -> None:
        if event == "plan" and self.live:
            from rich.progress import BarColumn, MofNCompleteColumn, TextColumn
            from rich.progress import Progress as Bar

            self._bar = Bar(TextColumn("plan"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.description}"),
                            console=self.console, transient=True)
            self._task = self._bar.add_task("", total=info["cases"])
            self._bar.start()
        elif event == "case" and self._bar is not None:
            self._bar.update(self._task, completed=info["index"], description=info["case"])
        elif event == "explore":
            self.stop()
            self.console.print(f"exploring with the remaining budget ({info['budget']} requests)…")
        elif event == "finding":
            self.console.print(Text("  ✗ ", style="red") + Text(f"{info['rule']}: {info['actual'][:160]}"), soft_wrap=True)

    def stop(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None


def print_summary(result: RunResult, report_paths: list[str], stream: TextIO | None = None) -> None:
    console = Console(file=stream or sys.stdout, highlight=False, width=max(130, Console().width))
    table = Table(title=f"POST /v1/sending — level {result.level}", title_justify="left", show_lines=False)
    for column, justify in (("rule", "left"), ("level", "left"), ("result", "left"), ("exercised", "right"),
                            ("passed", "right"), ("failed", "right"), ("note", "left")):
        table.add_column(column, justify=justify, no_wrap=column != "note", min_width=24 if column == "note" else None)  # type: ignore[arg-type]
    for rule in result.rules:
        note = rule.reason or rule.observed or (f"{len(rule.notes)} variant(s) not exercised, listed below" if rule.notes else "")
        table.add_row(rule.id, rule.level, Text(STATUS_LOOK[rule.status].shout, style=STATUS_LOOK[rule.status].style), str(rule.exercised),
                      str(rule.passed), str(rule.failed), note)
    console.print(table)
    for rule in result.rules:
        for note in rule.notes:
            console.print(f"  {rule.id}: {note}", markup=False, soft_wrap=True)
    if result.traffic is not None:
        traffic = result.traffic
        console.print(f"traffic: {traffic.exchanges} exchange(s) seen, {traffic.judged} judged, {traffic.other} for other "
                      f"paths or methods skipped, {traffic.unanswered} without an answer", markup=False, soft_wrap=True)
        for note in traffic.notes:
            console.print(f"  {note}", markup=False, soft_wrap=True)
    for finding in result.findings:
        tag = " (accepted by the baseline)" if finding.baselined else ""
        console.print()
        console.print(Text(f"✗ {finding.rule} [{finding.level}]{tag}: {finding.rule_text}", style="bold red"), soft_wrap=True)
        console.print(f"  case:     {finding.case_label}", soft_wrap=True, markup=False)
        console.print(f"  expected: {finding.expected}", soft_wrap=True, markup=False)
        console.print(f"  got:      {finding.actual.rstrip()}", soft_wrap=True, markup=False)
        if finding.attribution:
            console.print(f"  why:      {finding.attribution}", soft_wrap=True, markup=False)
        console.print(f"  repro:    {finding.request.curl}", soft_wrap=True, markup=False)
    console.print(
        f"\n{result.requests_sent} requests in {result.duration_s:.1f} s · seed {result.seed} · spec {result.spec.fingerprint[:19]}…",
        markup=False,
    )
    for path in report_paths:
        console.print(f"report: {path}", markup=False)
    style = "bold green" if result.verdict == "passed" else "bold red"
    console.print(f"[{style}]{result.headline}[/]", soft_wrap=True)


def print_plan(plan: Plan, stream: TextIO | None = None) -> None:
    console = Console(file=stream or sys.stdout, highlight=False)
    table = Table(title=f"dry run: {len(plan.cases)} planned requests (nothing sent)", title_justify="left")
    for column in ("#", "rule", "expects", "case"):
        table.add_column(column, no_wrap=column != "case")
    for index, case in enumerate(plan.cases, 1):
        table.add_row(str(index), case.rule_id, _expects(case), case.label)
    console.print(table)
    for rule_id, reason in plan.not_exercised.items():
        console.print(f"not exercised: {rule_id}: {reason}", markup=False)
    for variant in plan.variants_not_exercised:
        console.print(f"variant not exercised: {variant}", markup=False)


def _expects(case: Case) -> str:
    return " or ".join(str(s) for s in sorted(case.expect))
