"""Pass X4 (F2, F3, F5, F8): malformed baselines, the Schemathesis checks under a base path, Markdown math and the
other GitHub-flavoured constructs in every Markdown writer, and a comparison linear in the rules it lists."""

from __future__ import annotations

import dataclasses

from migma_contract.reports._compare import render_comparison_html, render_comparison_markdown
from migma_contract.run.result import RuleResult, Status

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
    for render in (render_comparison_markdown, render_comparison_html):
        _CountedRules.walks = 0
        page = render(results)
        assert _CountedRules.walks <= 4 * len(results), (render.__name__, _CountedRules.walks)
        assert page.count("r4999") == 1 and "r0" in page
