"""`summary.md`: a short summary for a pull request or a CI step summary.

Markdown is rendered by CI systems (GitHub's step summary, pull-request comments), so
text from outside is escaped for it: control characters made visible (`clean_text`),
then every character that could start markup (emphasis, links and images, raw HTML,
entities, table cells, code) backslash-escaped as CommonMark allows for any ASCII
punctuation; code spans and fences get a backtick run longer than any inside them. No
value can add a line: newlines are shown as `\\x0a`. GitHub also makes bare URLs links
(GFM's extended autolinks: `http://`, `https://`, `ftp://`, `www.`): a server's
`https://evil.example/reset` must stay text in a CI summary, so the scheme's colon and
the dot after `www` are escaped too (`no_autolinks`). An e-mail address still becomes a
`mailto:` link, and `xmpp:` before one an `xmpp:` link: GitHub's parser links them
whatever is escaped (it reads the text after unescaping).

GitHub also reads a server's `@octocat` or `@org/team` as a mention (notifying them when the
summary is posted as a pull-request comment) and `#1`, `GH-2`, `owner/repo#3` as references to
issues, on the rendered text: a backslash does not stop them (github/markup#1168). A zero-width
space after the `@` and before the number does, as bots posting others' text do: it is written
as the entity `&#8203;` (`no_mentions`), so the file itself holds no invisible character.

GitHub renders `$…$` and `$$…$$` as math (MathJax), found in the source before backslash escapes are undone, so a
server's `$\\Huge\\color{green}{\\textsf{CONFORMANT}}$` would be a huge green verdict in a failing run's summary
(pass X4, F5): every `$` of outside text is written as the entity `&#36;`, which no math delimiter is; a `:name:` is
an emoji on GitHub whatever is escaped, so a zero-width space follows such a colon (`no_emoji`). `md_text` is the one
escaper every Markdown writer uses (summary.md and the step summary, the comparison page, `diff --format md`).
"""

from __future__ import annotations

import re

from migma_contract.core.untrusted import clean_text
from migma_contract.run.result import STATUS_LOOK, RunResult

MAX_FINDINGS = 25

# Characters with a meaning inside a line of CommonMark / GFM (tables, strikethrough).
_INLINE = re.compile(r"([\\`*_\[\]<>!|~&^{}])")
# What may make a line something else when it starts it: a heading, a quote, a list item, a rule.
_LINE_START = re.compile(r"^(\d*)([#+\-=.)])")


_AUTOLINK = re.compile(r"(?i)(https?|ftp)(?=://)|(www)(?=\.)")


def no_autolinks(markdown: str) -> str:
    """Escaped Markdown text in which no bare URL starts a GFM autolink (text already escaped otherwise)."""
    return _AUTOLINK.sub(lambda m: f"{m.group(0)}\\", markdown)


# A mention (`@` not after a letter, digit or `_`, before one: an e-mail address is no mention), an issue reference
# (`#` before a digit, `GH-` before one)
_REFERENCE = re.compile(r"(?<![A-Za-z0-9_])@(?=[A-Za-z0-9])|#(?=[0-9])|(?<![A-Za-z0-9_])(?i:gh)-(?=[0-9])")
_ZWSP = "&#8203;"


def no_mentions(markdown: str) -> str:
    """Escaped Markdown text in which no server's `@user`, `#1` or `GH-2` mentions anyone or references an issue on
    GitHub (a zero-width space after the `@`, the `#` or the `GH-`, as the entity `&#8203;`)."""
    if "@" not in markdown and "#" not in markdown and "-" not in markdown:
        return markdown
    return _REFERENCE.sub(lambda m: m.group(0) + _ZWSP, markdown)


_EMOJI = re.compile(r":(?=[A-Za-z0-9_+\-\\]+:)")  # a name's `_` is escaped (`\_`) by then


def no_emoji(markdown: str) -> str:
    """Escaped Markdown text in which no server's `:white_check_mark:` is an emoji on GitHub (a zero-width space,
    `&#8203;`, after the colon that would open one; GitHub reads emoji codes on the rendered text, so no backslash
    stops them)."""
    return _EMOJI.sub(":" + _ZWSP, markdown) if ":" in markdown else markdown


def no_math(markdown: str) -> str:
    """Escaped Markdown text in which no `$` opens or closes GitHub math (each one as the entity `&#36;`)."""
    return markdown.replace("$", "&#36;")


def md_text(value: object, *, line_start: bool = True) -> str:
    """`value` as inline Markdown text that renders as itself, wherever it is put: what would start a block at the
    start of a line or of a list item (`#`, `>`, `-`, `+`, `*`, `1.`, a fence, `|`, `=`) is escaped too, which
    renders the same in the middle of a line (pass V4, F5: a recording named `# PWNED.har` in a `- ` item was an
    h1). `line_start=False` only where the text follows other text on its line."""
    text = no_emoji(no_math(no_mentions(no_autolinks(_INLINE.sub(r"\\\1", clean_text(value))))))
    return _LINE_START.sub(r"\1\\\2", text.lstrip()) if line_start else text


def md_code(value: object) -> str:
    """`value` as a code span (also inside a table cell)."""
    text = clean_text(value).replace("|", "\\|")
    fence = "`" * (max((len(run) for run in re.findall(r"`+", text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") or not text.strip() else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def md_words(value: object, *, line_start: bool = True) -> str:
    """Text in the catalogue's manner, `backticked` names shown as code, the rest as text."""
    parts = clean_text(value).split("`")
    shown = [md_code(part) if index % 2 else md_text(part, line_start=line_start and index == 0) for index, part in enumerate(parts)]
    return "".join(shown)


def md_block(value: object, info: str = "") -> list[str]:
    """`value` (one line) as a fenced code block: three lines, the fences included."""
    text = clean_text(value)
    fence = "`" * max(3, max((len(run) for run in re.findall(r"`+", text)), default=0) + 1)
    return [fence + info, text, fence]


def render_markdown(result: RunResult) -> str:
    lines = [f"## migma-contract: {md_text(result.headline)}", ""]
    lines.append(
        f"**Target** {md_text(result.target.label)} · **level** {md_text(result.level)} · **seed** {md_text(result.seed)} · "
        f"**ran** {md_text(result.volume)} · **time** {result.duration_s:.1f} s · "
        f"**spec** {md_code(str(result.spec.fingerprint)[:19] + '…')} · migma-contract {md_text(result.tool_version)}"
    )
    if result.traffic is not None:
        traffic = result.traffic
        lines += ["", f"**Traffic** {md_text(traffic.source)}: {traffic.counts}"]
        lines += [f"- {md_text(note)}" for note in traffic.notes]
    lines += ["", "| rule | level | result | exercised | failed | note |", "|---|---|---|---:|---:|---|"]
    for rule in result.rules:
        note = rule.reason or rule.observed or "; ".join(rule.notes)
        look = STATUS_LOOK[rule.status]
        lines.append(f"| {md_code(rule.id)} | {md_text(rule.level)} | {look.icon} {look.shout} | {md_text(rule.exercised)} "
                     f"| {md_text(rule.failed)} | {md_text(note)} |")
    unshown = [(rule.id, rule.unshown_line(len(result.findings_for(rule.id)))) for rule in result.rules if rule.unshown]
    if unshown:
        lines += ["", *[f"- {md_code(rule_id)}: {md_text(line)}" for rule_id, line in unshown]]
    if result.stale_baseline:
        lines += ["", f"### Stale baseline entries ({len(result.stale_baseline)}): no longer failing", ""]
        lines += [f"- {md_code(entry)}" for entry in result.stale_baseline]
    if result.warnings:
        lines += ["", f"### Warnings ({len(result.warnings)})", ""]
        lines += [f"- ⚠️ {md_text(warning)}" for warning in result.warnings]
    if result.root_causes:
        lines += ["", f"### Root causes ({len(result.root_causes)})", ""]
        for cause in result.root_causes:
            rules = ", ".join(md_code(rule_id) for rule_id in cause.rules)
            lines.append(f"- ❌ {md_text(cause.summary)}: {len(cause.rules)} rules ({rules})")
    shown = result.findings[:MAX_FINDINGS]
    if shown:
        lines += ["", f"### Findings ({len(result.findings)})", ""]
    for finding in shown:
        tag = " (accepted by the baseline)" if finding.baselined else ""
        lines += [
            f"#### ❌ {md_code(finding.rule)} \\[{md_text(finding.level)}\\]{tag}",
            "",
            f"{md_words(finding.rule_text, line_start=True)} — *{md_words(finding.source)}*",
            "",
            f"- case: {md_text(finding.case_label)}",
            f"- expected: {md_text(finding.expected)}",
            f"- got: {md_text(finding.actual)}",
        ]
        if finding.attribution:
            lines.append(f"- why: {md_text(finding.attribution)}")
        lines += ["", *md_block(finding.request.curl, "sh"), ""]
    if len(result.findings) > MAX_FINDINGS:
        lines.append(f"… and {len(result.findings) - MAX_FINDINGS} more finding(s) in conformance.json / index.html.")
    return "\n".join(lines).rstrip() + "\n"
