"""`migma-contract diff` output: a console table, Markdown, and JSON.

Every string that comes from a document (names, enum values, descriptions, file names) is
untrusted: `_diff` already made control characters visible, and each writer escapes with its
format's own tool (rich markup escaping, HTML entities and Markdown backslashes, JSON).
"""

from __future__ import annotations

import json
from typing import Any, TextIO

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from migma_contract.core.untrusted import clean_text
from migma_contract.diff.compare import Change, Kind, RuleChange, SpecDiff
from migma_contract.reports._markdown import md_text

__all__ = ["FORMATS", "render", "render_json", "render_markdown", "render_table"]

FORMATS = ("table", "md", "json")
MAX_VALUE = 80  # in the console; Markdown shows more, JSON everything
MAX_VALUE_MD = 300
_STYLE = {Kind.TIGHTENED: "yellow", Kind.LOOSENED: "cyan", Kind.CHANGED: "magenta", Kind.ADDED: "yellow",
          Kind.REMOVED: "cyan", Kind.UNCHANGED: "dim", Kind.NOT_COMPARED: "dim"}


def _value(value: Any, limit: int = MAX_VALUE) -> str:
    if value is None:
        return "—"
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _breaks(parties: frozenset[Any]) -> str:
    return ", ".join(sorted(p.value for p in parties)) or "neither"


def _where(change: Change) -> str:
    return f"{change.scope} {change.pointer or '/'}"


def _phrase(change: Change, limit: int = MAX_VALUE) -> str:
    """What happened, in words: "values no longer allowed: [...]", "now required", ..."""
    old, new = _value(change.old, limit), _value(change.new, limit)
    if change.aspect == "enum value":
        return f"values no longer allowed: {old}" if change.kind is Kind.TIGHTENED else f"values newly allowed: {new}"
    if change.aspect == "required":
        return "now required" if change.kind is Kind.TIGHTENED else "no longer required"
    if change.aspect in ("property", "status"):
        return f"{change.aspect} {change.kind.value}: {new if change.kind is Kind.ADDED else old}"
    return f"{change.aspect} {change.kind.value}: {old} → {new}"


def _what(change: Change) -> str:
    return f"{_where(change)}: {_phrase(change)}"


def _rule_detail(rule: RuleChange) -> list[str]:
    lines = [_what(c) for c in rule.changes]
    if rule.note and rule.kind is not Kind.UNCHANGED:
        lines.append(rule.note)
    lines += [f'source text gone: "{q}"' for q in rule.stale_quotes]
    return lines


def _shown_rules(diff: SpecDiff) -> tuple[list[RuleChange], list[RuleChange]]:
    shown = [r for r in diff.rules if r.kind is not Kind.UNCHANGED or r.stale_quotes]
    return shown, [r for r in diff.rules if r not in shown]


# --- console -------------------------------------------------------------------------------


def render_table(diff: SpecDiff, stream: TextIO, width: int | None = None) -> None:
    """The console view: changed rules, changed fields, stale rules, then the verdict."""
    console = Console(file=stream, highlight=False, width=width or max(100, Console().width), soft_wrap=False)
    console.print(f"[bold]migma-contract diff[/] {escape(diff.old.source)} → {escape(diff.new.source)}")
    console.print(f"  {diff.old.fingerprint[:19]}… → {diff.new.fingerprint[:19]}…", markup=False)
    shown, unchanged = _shown_rules(diff)
    if shown:
        table = Table(title="Rules of the catalogue", title_justify="left")
        for column in ("rule", "level", "change", "breaks", "what changed"):
            table.add_column(column, no_wrap=column != "what changed", overflow="fold")
        for rule in shown:
            table.add_row(rule.rule, rule.level, f"[{_STYLE[rule.kind]}]{rule.kind.value}[/]", _styled_breaks(rule.breaks),
                          escape("\n".join(_rule_detail(rule))))
        console.print(table)
    if unchanged:
        console.print(f"unchanged ({len(unchanged)}): {', '.join(r.rule for r in unchanged)}", markup=False, soft_wrap=True)
    if diff.fields:
        table = Table(title="Request, responses and statuses", title_justify="left")
        for column in ("where", "change", "what", "breaks"):
            table.add_column(column, no_wrap=column in ("change", "breaks"), overflow="fold")
        for change in diff.fields:
            table.add_row(escape(_where(change)), f"[{_STYLE[change.kind]}]{change.kind.value}[/]", escape(_phrase(change)),
                          _styled_breaks(change.breaks))
        console.print(table)
        console.print("why each change breaks whom: --format md or json", style="dim")
    else:
        console.print("no field of the request or the responses changed, no status added or removed")
    for rule in diff.stale:
        for quote in rule.stale_quotes:
            console.print(f'[yellow]source text gone[/], {rule.rule} may be stale: "{escape(quote)}"', soft_wrap=True)
    style = "bold red" if diff.breaks_clients else "bold green"
    console.print(f"[{style}]{escape(diff.headline)}[/]", soft_wrap=True)


def _styled_breaks(parties: frozenset[Any]) -> str:
    text = _breaks(parties)
    return f"[bold red]{text}[/]" if "clients" in text else f"[yellow]{text}[/]" if parties else f"[dim]{text}[/]"


# --- Markdown ------------------------------------------------------------------------------

def md_cell(text: object) -> str:
    """Text safe in a Markdown table cell: one line, escaped as every Markdown writer escapes (`md_text`: no HTML, no
    table break, no formatting, no autolink, no mention, no math, no emoji)."""
    return md_text(" ".join(clean_text(text, multiline=True).splitlines()), line_start=False)


def render_markdown(diff: SpecDiff) -> str:
    lines = [f"## migma-contract diff: {md_cell(diff.headline)}", "",
             f"**Old** {md_cell(diff.old.source)} (`{diff.old.fingerprint[:19]}…`) · "
             f"**new** {md_cell(diff.new.source)} (`{diff.new.fingerprint[:19]}…`)", ""]
    shown, unchanged = _shown_rules(diff)
    if shown:
        lines += ["### Rules", "", "| rule | level | change | breaks | what changed |", "|---|---|---|---|---|"]
        for rule in shown:
            detail = "<br>".join(md_cell(line) for line in _rule_detail(rule))
            lines.append(f"| `{rule.rule}` | {rule.level} | {rule.kind.value} | {_breaks(rule.breaks)} | {detail} |")
        lines.append("")
    if unchanged:
        lines += [f"Unchanged ({len(unchanged)}): {', '.join(f'`{r.rule}`' for r in unchanged)}", ""]
    if diff.fields:
        lines += ["### Request, responses and statuses", "", "| where | change | what | breaks | why |", "|---|---|---|---|---|"]
        for change in diff.fields:
            lines.append(f"| {md_cell(_where(change))} | {change.kind.value} | {md_cell(_phrase(change, MAX_VALUE_MD))} | "
                         f"{_breaks(change.breaks)} | {md_cell(change.why)} |")
        lines.append("")
    if diff.stale:
        lines += ["### Rules whose quoted source is gone (may be stale)", "", "| rule | quoted text no longer in the new document |",
                  "|---|---|"]
        lines += [f"| `{rule.rule}` | {md_cell(quote)} |" for rule in diff.stale for quote in rule.stale_quotes]
        lines.append("")
    return "\n".join(lines)


# --- JSON ----------------------------------------------------------------------------------


def render_json(diff: SpecDiff) -> str:
    return json.dumps(diff.as_dict(), indent=2, sort_keys=True, ensure_ascii=False, default=str) + "\n"


def render(diff: SpecDiff, fmt: str, stream: TextIO, width: int | None = None) -> None:
    if fmt == "table":
        render_table(diff, stream, width)
    elif fmt == "md":
        stream.write(render_markdown(diff))
    elif fmt == "json":
        stream.write(render_json(diff))
    else:
        raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
