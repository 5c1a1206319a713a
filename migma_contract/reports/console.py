"""What `migma-contract check` prints: progress while it runs, a per-rule table at the end.

A terminal acts on what it is sent, so nothing from outside reaches it as it came: every
value is shown through `_t` (control characters made visible by `clean_text`, then a
`rich.text.Text`, which Rich never reads as markup), and so is every line a CI runner reads
(no line starts a workflow command: `clean_text` marks a leading `::`, `##[` and `##vso[`). No ESC byte of a server's, no
newline that would print a line of its own (a fake `CONFORMANT:`), no `[/]` that
would crash Rich's markup parser.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, TextIO

from migma_contract.config.options import user_redactor
from migma_contract.core.untrusted import clean_text
from migma_contract.generate.cases import Case
from migma_contract.generate.plan import Plan
from migma_contract.run.result import STATUS_LOOK, RunResult

if TYPE_CHECKING:
    from rich.text import Text

__all__ = ["Progress", "print_plan", "print_summary"]

# Rich is imported where it is used, not above: `check --dry-run` prints its plan without it
# (importing Rich costs ~40 ms, a fifth of a dry run).


def _t(*parts: object, style: str = "") -> Text:
    """Values as one line of plain text for Rich (never markup, never a control character)."""
    from rich.text import Text

    # cleaned as one line, not part by part: two parts cannot form what neither is alone (a `#` and a `#[...]`)
    return Text(clean_text("".join(str(part) for part in parts)), style=style)


class Progress:
    """Progress on stderr: a live bar on a terminal, one line per finding in a CI log."""

    def __init__(self, stream: TextIO | None = None) -> None:
        from rich.console import Console

        self.console = Console(file=stream or sys.stderr, highlight=False)
        self.live = self.console.is_terminal
        self._bar: Any = None
        self._task: Any = None
        self._budget = 0  # exploration's budget (requests)
        self._quarter = 0  # in a CI log, the last quarter of the exploration budget reported

    def __call__(self, event: str, info: dict[str, Any]) -> None:
        from rich.markup import escape
        from rich.text import Text

        if event == "plan" and self.live:
            from rich.progress import BarColumn, MofNCompleteColumn, TextColumn
            from rich.progress import Progress as Bar

            self._bar = Bar(TextColumn("plan"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.description}"),
                            console=self.console, transient=True)
            self._task = self._bar.add_task("", total=info["cases"])
            self._bar.start()
        elif event == "case" and self._bar is not None:
            # the bar's description column is read as markup: escape it
            self._bar.update(self._task, completed=info["index"], description=escape(clean_text(info["case"])))
        elif event == "explore":
            self.stop()
            self.console.print(_t(f"exploring with the remaining budget ({info['budget']} requests)…"))
            self._budget, self._quarter = info["budget"], 0
            if self.live and info["budget"] > 0:
                from rich.progress import BarColumn, MofNCompleteColumn, TextColumn
                from rich.progress import Progress as Bar

                self._bar = Bar(TextColumn("explore"), BarColumn(), MofNCompleteColumn(), console=self.console, transient=True)
                self._task = self._bar.add_task("", total=info["budget"])
                self._bar.start()
        elif event == "explored":
            self._explored(info["sent"], info["max"])
        elif event == "finding":
            case = f" ({clean_text(info['case'])[:80]})" if info.get("case") else ""
            self.console.print(Text("  ✗ ", style="red") + _t(info["rule"], ": ", clean_text(info["actual"])[:160], case), soft_wrap=True)
        elif event == "warning":
            self.console.print(Text("migma-contract: warning: ", style="yellow") + _t(info["message"]), soft_wrap=True)

    def _explored(self, sent: int, most: int) -> None:
        """Exploration's progress: the bar on a terminal; in a CI log a line at each quarter of its budget."""
        budget = max(self._budget, 1)
        done = min(sent - (most - budget), budget)
        if self._bar is not None:
            self._bar.update(self._task, completed=done)
            return
        quarter = 4 * done // budget
        if quarter > self._quarter and quarter < 4:
            self._quarter = quarter
            self.console.print(_t(f"  exploring: {done}/{budget} requests ({25 * quarter}%)"))

    def stop(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None


def print_summary(result: RunResult, report_paths: list[str], stream: TextIO | None = None,
                  secrets: Iterable[str | None] = ()) -> None:
    from rich.console import Console, JustifyMethod
    from rich.table import Table
    from rich.text import Text

    # the result is redacted already; a label or a path may still hold a key (and every key of the environment is masked)
    redactor = user_redactor(also=secrets)
    result = redactor.data(result)
    console = Console(file=stream or sys.stdout, highlight=False, width=max(130, Console().width))
    table = Table(title=_t("POST /v1/sending — level ", result.level), title_justify="left", show_lines=False)
    columns: tuple[tuple[str, JustifyMethod], ...] = (("rule", "left"), ("level", "left"), ("result", "left"), ("exercised", "right"),
                                                      ("passed", "right"), ("failed", "right"), ("note", "left"))
    for column, justify in columns:
        table.add_column(column, justify=justify, no_wrap=column != "note", min_width=24 if column == "note" else None)
    for rule in result.rules:
        note = rule.reason or rule.observed or (f"{len(rule.notes)} variant(s) not exercised, listed below" if rule.notes else "")
        look = STATUS_LOOK[rule.status]
        table.add_row(_t(rule.id), _t(rule.level), Text(look.shout, style=look.style), _t(rule.exercised),
                      _t(rule.passed), _t(rule.failed), _t(note))
    console.print(table)
    for cause in result.root_causes:
        console.print(Text("root cause: ", style="bold red") + _t(cause.line), soft_wrap=True)
    for rule in result.rules:
        for note in rule.notes:
            console.print(_t("  ", rule.id, ": ", note), soft_wrap=True)
        more = rule.unshown_line(len(result.findings_for(rule.id)))
        if more:
            console.print(_t("  ", rule.id, ": ", more), soft_wrap=True)
    if result.stale_baseline:
        console.print(_t(f"baseline: {len(result.stale_baseline)} entr{'y' if len(result.stale_baseline) == 1 else 'ies'} no longer "
                         "fail (stale; --write-baseline rewrites it):", style="magenta"), soft_wrap=True)
        for entry in result.stale_baseline:
            console.print(_t("  ", entry), soft_wrap=True)
    if result.traffic is not None:
        traffic = result.traffic
        console.print(_t(f"traffic: {traffic.counts}"), soft_wrap=True)
        for note in traffic.notes:
            console.print(_t("  ", note), soft_wrap=True)
    for finding in result.findings:
        tag = " (accepted by the baseline)" if finding.baselined else ""
        console.print()
        console.print(_t("✗ ", finding.rule, " [", finding.level, "]", tag, ": ", finding.rule_text, style="bold red"), soft_wrap=True)
        console.print(_t("  case:     ", finding.case_label), soft_wrap=True)
        console.print(_t("  expected: ", finding.expected), soft_wrap=True)
        console.print(_t("  got:      ", finding.actual.rstrip()), soft_wrap=True)
        if finding.attribution:
            console.print(_t("  why:      ", finding.attribution), soft_wrap=True)
        console.print(_t("  repro:    ", finding.request.curl), soft_wrap=True)
    console.print()
    seed = "" if result.traffic is not None else f" · seed {result.seed}"
    console.print(_t(result.volume, " in ", f"{result.duration_s:.1f}", " s", seed, " · spec ", str(result.spec.fingerprint)[:19], "…"))
    for path in report_paths:
        console.print(_t("report: ", redactor.text(path)), soft_wrap=True)
    style = "bold green" if result.verdict == "passed" else "bold red"
    console.print(_t(result.headline, style=style), soft_wrap=True)


def print_plan(plan: Plan, stream: TextIO | None = None) -> None:
    """The planned requests, one aligned line each (plain text: a table of 150 rows would cost Rich ~0.1 s)."""
    rows = [("#", "rule", "expects", "case")] + [
        (str(index), clean_text(case.rule_id or "(response rules)"), clean_text(_expects(case)), clean_text(case.label))
        for index, case in enumerate(plan.cases, 1)
    ]
    widths = [max(len(row[column]) for row in rows) for column in range(3)]
    lines = [f"dry run: {len(plan.cases)} planned requests of the {plan.kind} plan (nothing sent)"]
    lines += [f"{n:>{widths[0]}}  {rule:<{widths[1]}}  {expects:<{widths[2]}}  {label}" for n, rule, expects, label in rows]
    lines += [clean_text(f"not exercised: {rule_id}: {reason}") for rule_id, reason in plan.not_exercised.items()]
    lines += [clean_text(f"variant not exercised: {variant}") for variant in plan.variants_not_exercised]
    (stream or sys.stdout).write("\n".join(lines) + "\n")


def _expects(case: Case) -> str:
    if case.inject is not None:
        return f"{case.inject} injected"
    if case.step:
        return "see its rule" if case.step == 2 else "a first answer"
    return " or ".join(str(s) for s in sorted(case.expect)) or "any"
