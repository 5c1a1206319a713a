"""Several implementations side by side: one rule x implementation matrix (Markdown, HTML).

Per implementation its compliance (rules passed / rules exercised); per rule who passes,
fails or was not exercised. Built from saved conformance.json files only, so every
value (and each --name) is escaped for its format: `md_text`/`md_code` in Markdown,
`_e` (clean, then `html.escape`) in HTML.
"""

from __future__ import annotations

from collections.abc import Iterable

from migma_contract.config.options import user_redactor
from migma_contract.reports._html import CSS, _e
from migma_contract.reports._markdown import md_code, md_text
from migma_contract.run.result import STATUS_LOOK, RunResult, Status


def render_comparison(results: list[tuple[str, RunResult]], fmt: str, secrets: Iterable[str | None] = ()) -> str:
    """The comparison page in `fmt` ("md" or "html"); any of `secrets` in a name or a result is masked first."""
    redactor = user_redactor(also=secrets)  # and every key of the user's environment
    pairs = [(redactor.text(name), redactor.data(result)) for name, result in results]
    return render_comparison_markdown(pairs) if fmt == "md" else render_comparison_html(pairs)


def _names(results: list[tuple[str, RunResult]]) -> list[str]:
    return [name for name, _ in results]


def _rule_order(results: list[tuple[str, RunResult]]) -> list[tuple[str, str, str]]:
    seen: dict[str, tuple[str, str, str]] = {}
    for _, result in results:
        for rule in result.rules:
            seen.setdefault(rule.id, (rule.id, rule.level, rule.text))
    return list(seen.values())


def _statuses(results: list[tuple[str, RunResult]]) -> list[dict[str, Status]]:
    """Each result's statuses by rule id, built once (pass X4, F8: a scan per rule and result made the page quadratic
    in the rules a file lists, which only the input cap bounds); a rule listed twice keeps its first status."""
    indexes: list[dict[str, Status]] = []
    for _, result in results:
        index: dict[str, Status] = {}
        for rule in result.rules:
            index.setdefault(rule.id, rule.status)
        indexes.append(index)
    return indexes


def render_comparison_markdown(results: list[tuple[str, RunResult]]) -> str:
    names = _names(results)
    lines = ["## migma-contract: implementations compared", ""]
    lines.append("| implementation | verdict | compliance | level | requests | spec |")
    lines.append("|---|---|---:|---|---:|---|")
    for name, result in results:
        passed, exercised = result.compliance
        lines.append(f"| {md_text(name)} | {md_text(result.verdict)} | {passed}/{exercised} | {md_text(result.level)} "
                     f"| {md_text(result.requests_sent)} | {md_code(str(result.spec.fingerprint)[:19] + '…')} |")
    lines += ["", "| rule | level | " + " | ".join(md_text(name) for name in names) + " |", "|---|---|" + "---|" * len(names)]
    statuses = _statuses(results)
    for rule_id, level, _ in _rule_order(results):
        cells = []
        for index in statuses:
            status = index.get(rule_id)
            cells.append(f"{STATUS_LOOK[status].icon} {STATUS_LOOK[status].word}" if status else "— not at this level")
        lines.append(f"| {md_code(rule_id)} | {md_text(level)} | " + " | ".join(cells) + " |")
    fingerprints = {result.spec.fingerprint for _, result in results}
    if len(fingerprints) > 1:
        lines += ["", "⚠️ These runs judged against different documents (spec fingerprints differ)."]
    return "\n".join(lines) + "\n"


def render_comparison_html(results: list[tuple[str, RunResult]]) -> str:
    names = _names(results)
    head = "".join(f"<th>{_e(n)}</th>" for n in names)
    summary_rows = ""
    for name, result in results:
        passed, exercised = result.compliance
        share = f"{100 * passed / exercised:.0f}%" if exercised else "—"
        summary_rows += (f"<tr><td>{_e(name)}</td><td>{_e(result.verdict)}</td><td>{passed}/{exercised} ({share})</td>"
                         f"<td>{_e(result.level)}</td><td>{_e(result.requests_sent)}</td><td>{_e(result.target.label)}</td></tr>")
    row_list: list[str] = []  # joined once: growing one string row by row copies it each time
    statuses = _statuses(results)
    for rule_id, level, text in _rule_order(results):
        cells = ""
        for index in statuses:
            status = index.get(rule_id)
            cells += f'<td class="cell {_e(status or "absent")}">{_e(STATUS_LOOK[status].word) if status else "—"}</td>'
        row_list.append(f'<tr><th scope="row" title="{_e(text)}"><code>{_e(rule_id)}</code><small>{_e(level)}</small></th>{cells}</tr>')
    rows = "".join(row_list)
    warning = ""
    if len({result.spec.fingerprint for _, result in results}) > 1:
        warning = '<p class="muted">These runs judged against different documents (spec fingerprints differ).</p>'
    extra_css = (
        ".matrix{border-collapse:collapse;width:100%;font-size:.85rem}.matrix th,.matrix td{border:1px solid var(--line);padding:5px 8px;text-align:left}"
        ".matrix th small{display:block;color:var(--muted);font-weight:400}.wrap{overflow-x:auto}"
        ".cell.passed{background:var(--pass-bg);color:var(--pass)}.cell.failed{background:var(--fail-bg);color:var(--fail);font-weight:600}"
        ".cell.not_exercised{background:var(--skip-bg);color:var(--skip)}.cell.accepted{background:var(--acc-bg);color:var(--acc)}"
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>migma-contract: {len(names)} implementations compared</title><style>{CSS}{extra_css}</style></head>
<body><main>
<h1>POST /v1/sending: {len(names)} implementations compared</h1>
{warning}
<h2>Compliance</h2>
<div class="wrap"><table class="matrix"><tr><th>implementation</th><th>verdict</th><th>rules passed / exercised</th><th>level</th><th>requests</th><th>target</th></tr>{summary_rows}</table></div>
<h2>Rules</h2>
<div class="wrap"><table class="matrix"><tr><th>rule</th>{head}</tr>{rows}</table></div>
<footer>Generated by migma-contract from saved conformance.json files.</footer>
</main></body></html>
"""
