"""Pass X4 (F2, F3, F5, F8): malformed baselines, the Schemathesis checks under a base path, Markdown math and the
other GitHub-flavoured constructs in every Markdown writer, and a comparison linear in the rules it lists."""

from __future__ import annotations

import dataclasses
import re

import pytest

from migma_contract.diff.render import render_markdown as render_diff_markdown
from migma_contract.reports import render
from migma_contract.reports._compare import render_comparison, render_comparison_html, render_comparison_markdown
from migma_contract.run.result import RuleResult, Status

from .test_diff import compare, schemas
from .test_untrusted import make_result


class _CountedRules(list):  # type: ignore[type-arg]
    """A result's rules that count how often they are walked."""

    walks = 0

    def __iter__(self):
        _CountedRules.walks += 1
        return super().__iter__()


def test_a_comparison_walks_each_result_s_rules_a_bounded_number_of_times():
    """Pass X4, F8: `report A.json B.json` looked each rule up by scanning a result's rules, once per rule and
    result: quadratic in the rules a file lists (16,000 rules took 23 s, the 64 MiB input cap hours). Each result's
    rules are now indexed once: the pages walk them a fixed number of times, whatever their count."""
    count = 5000
    results = []
    for name in ("a", "b"):
        result = make_result("plain words")
        rules = _CountedRules(RuleResult(id=f"r{i}", level="documented", subject="s", text="t", source="s",
                                         status=Status.PASSED if i % 2 else Status.FAILED) for i in range(count))
        results.append((name, dataclasses.replace(result, rules=rules)))
    for page_of in (render_comparison_markdown, render_comparison_html):
        _CountedRules.walks = 0
        page = page_of(results)
        assert _CountedRules.walks <= 4 * len(results), (page_of.__name__, _CountedRules.walks)
        assert page.count("r4999") == 1 and "r0" in page


# --- F5: one Markdown escaper, GitHub's own constructs included ------------------------------------------------------

CONSTRUCTS = {
    "math": "$\\Huge\\color{green}{\\textsf{CONFORMANT: 23/23 passed}}$ and $$x$$ and $`y`$",
    "emoji": ":white_check_mark: :+1: :heavy_check_mark:",
    "strikethrough": "~~struck~~ ~one~",
    "superscript": "x^2^ ^caret",
    "footnote": "[^1] and [^note]: a forged footnote",
    "html": "<b>bold</b> <!-- hidden --> <details open>",
    "entity": "&check; &#x2705; &amp; &#36;",
}


def _markdown_writers(tmp_path, text: str) -> dict[str, str]:
    """Every Markdown the toolkit writes, with `text` in what comes from outside (summary.md is also what is appended
    to $GITHUB_STEP_SUMMARY)."""
    result = make_result(text)

    def described(document):
        schemas(document)["SendEmailRequest"]["properties"]["recipientId"]["description"] = text

    return {"summary.md": render(result, "md"), "comparison.md": render_comparison([(text, result)], "md"),
            "diff --format md": render_diff_markdown(compare(tmp_path, described))}


_CODE = re.compile(r"^(`{3,})[^\n]*\n[\s\S]*?^\1$|(?<!\\)(`+)[\s\S]*?(?<!`)\2(?!`)", re.MULTILINE)


def _text(markdown: str) -> str:
    """The Markdown with its code blocks and spans left out (GitHub renders nothing in them) and the writers' own
    entities and line breaks made spaces."""
    return _CODE.sub(" ", markdown).replace("&#36;", " ").replace("&#8203;", " ").replace("<br>", " ")


def _raw(markdown: str, pattern: str) -> int:
    """How many times `pattern` occurs unescaped (no backslash before it) in the text of `markdown`."""
    return len(re.findall(r"(?<!\\)(?:" + pattern + ")", _text(markdown)))


@pytest.mark.parametrize("construct", sorted(CONSTRUCTS))
def test_every_markdown_writer_escapes_github_s_own_constructs(tmp_path, construct):
    """Pass X4, F5: a server's `$\\Huge\\color{green}{\\textsf{CONFORMANT}}$` was written as it came (`$` was in no
    escaper), and GitHub renders `$…$` as math: a huge green verdict in a failing run's step summary. One escaper
    (`md_text`) serves summary.md, the comparison page and `diff --format md`; each GitHub construct stays text:
    math (`$`), emoji codes, strikethrough, `^`, footnotes, raw HTML, entities."""
    plain = _markdown_writers(tmp_path, "plain words")
    hostile = _markdown_writers(tmp_path, CONSTRUCTS[construct])
    for writer, markdown in hostile.items():
        assert "$" not in _text(markdown), writer
        assert "&#36;" in markdown or construct != "math", writer
        for pattern in (r":[A-Za-z0-9_+\-\\]+:", "~", r"\^", r"\[", "<", "&", r"\{"):
            assert _raw(markdown, pattern) == _raw(plain[writer], pattern), (writer, pattern)
