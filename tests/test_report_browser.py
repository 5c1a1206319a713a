"""`index.html` in a real browser: Debian's headless Chromium, driven by Playwright.

The page is opened from disk as a user opens it (file://): no console error, the copy
button puts the exact curl line on the clipboard, findings expand and are titled by their
case, a report of 1,000 findings renders and expands, hostile text stays text.

The browser comes from the system's package manager (`apt-get install chromium`; `.ci/run`
installs it), never downloaded by Playwright. In CI (`CI=true`, what CI services set; the
Makefile's `CI=1` only derandomizes Hypothesis) a missing browser FAILS the test, loudly;
elsewhere it is skipped with the reason and the command that installs it.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from migma_contract.config.options import CheckOptions
from migma_contract.mock import load_mock_config
from migma_contract.reports import render
from migma_contract.run.result import RunResult
from migma_contract.run.runner import run_check

from .faulty_servers import FAULTS, FULL_KEY

pytestmark = pytest.mark.e2e  # a whole check's report opened in a browser process

CHROMIUM = os.environ.get("MIGMA_CONTRACT_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
INSTALL = "apt-get update && apt-get install -y chromium (Debian's package; .ci/run does it)"
HOSTILE = '</pre></details><script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2"> \u202e"\'&amp;'


def _required() -> bool:
    return os.environ.get("CI", "").lower() == "true" or os.environ.get("MIGMA_CONTRACT_REQUIRE_BROWSER") == "1"


def _unavailable(reason: str) -> None:
    if _required():
        pytest.fail(f"BROWSER TESTS CANNOT RUN IN CI: {reason}; install it with {INSTALL}", pytrace=False)
    pytest.skip(f"no browser for the HTML report tests: {reason}; install it with {INSTALL}")


@pytest.fixture(scope="module")
def browser(found: RunResult) -> Iterator[Any]:  # `found` first: a run cannot start inside the browser's event loop
    try:
        from playwright.sync_api import Error, sync_playwright
    except ImportError:
        _unavailable("playwright is not installed (pip install -e '.[test]')")
    if not os.access(CHROMIUM, os.X_OK):
        _unavailable(f"no Chromium at {CHROMIUM}")
    with sync_playwright() as playwright:
        try:
            launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        except Error as exc:
            _unavailable(f"Chromium at {CHROMIUM} does not start: {str(exc).splitlines()[0]}")
        yield launched
        launched.close()


class Page:
    """A report opened from disk, with what the page said on its console and what it copied."""

    def __init__(self, browser: Any, path: Path) -> None:
        self.errors: list[str] = []
        self.context = browser.new_context()
        # the clipboard, hooked: what the page writes is kept, whichever way it writes it
        self.context.add_init_script("""
            window.__copied = [];
            const keep = (text) => { window.__copied.push(text); return Promise.resolve(); };
            Object.defineProperty(navigator, 'clipboard', {value: {writeText: keep}, configurable: true});
            const exec = document.execCommand.bind(document);
            document.execCommand = (name, ...rest) => {
                if (name === 'copy') { const a = document.activeElement; keep(a && 'value' in a ? a.value : ''); return true; }
                return exec(name, ...rest);
            };
        """)
        self.page = self.context.new_page()
        self.page.on("console", lambda message: self.errors.append(message.text) if message.type == "error" else None)
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))
        self.page.goto(path.as_uri())

    def close(self) -> None:
        self.context.close()


@pytest.fixture(scope="module")
def found() -> RunResult:
    fault = next(v for v in FAULTS if v.name == "422-for-validation-errors")
    options = CheckOptions(api_key=FULL_KEY, explore=False, max_requests=200).with_fixtures(load_mock_config().fixtures())
    result = run_check(options, app=fault.app())
    assert result.findings and result.root_causes
    return result


def _open(browser: Any, tmp_path: Path, result: RunResult) -> Page:
    path = tmp_path / "index.html"
    path.write_text(render(result, "html"), encoding="utf-8")
    return Page(browser, path)


def test_no_console_errors_and_the_copy_button_copies_the_exact_curl_line(found, browser, tmp_path):
    page = _open(browser, tmp_path, found)
    try:
        last = len(found.findings) - 1
        details = page.page.locator("details").nth(last)
        details.locator("summary").click()
        details.locator(".curl button").click()
        page.page.wait_for_function("window.__copied.length === 1")
        assert page.page.evaluate("window.__copied") == [found.findings[last].request.curl]
        assert details.locator(".curl button").text_content() == "Copied"
        assert page.errors == []
    finally:
        page.close()


def test_findings_expand_and_are_titled_by_their_case(found, browser, tmp_path):
    page = _open(browser, tmp_path, found)
    try:
        summaries = page.page.locator("details > summary")
        assert summaries.count() == len(found.findings)
        for index, finding in enumerate(found.findings):
            title = summaries.nth(index).inner_text()
            assert finding.rule in title and finding.case_label in title, (title, finding.case_label)
        second = page.page.locator("details").nth(1)
        assert second.get_attribute("open") is None and not second.locator(".body").is_visible()
        second.locator("summary").click()
        assert second.get_attribute("open") == "" and second.locator(".body").is_visible()
        assert page.errors == []
    finally:
        page.close()


def test_root_causes_read_as_words(found, browser, tmp_path):
    page = _open(browser, tmp_path, found)
    try:
        cause = page.page.locator("ul.causes li").first.inner_text()
        assert "{" not in cause and "}" not in cause, cause
        assert "a JSON object with keys error, success, violations" in cause, cause
    finally:
        page.close()


def test_a_report_of_a_thousand_findings_renders_and_expands(found, browser, tmp_path):
    template = found.findings[0]
    many = [dataclasses.replace(template, case_label=f"case number {i}",
                                request=dataclasses.replace(template.request, curl=f"{template.request.curl} # {i}"))
            for i in range(1000)]
    page = _open(browser, tmp_path, dataclasses.replace(found, findings=many))
    try:
        assert page.page.locator("details").count() == 1000
        last = page.page.locator("details").nth(999)
        last.locator("summary").scroll_into_view_if_needed()
        last.locator("summary").click()
        assert last.locator(".body").is_visible() and "case number 999" in last.locator("summary").inner_text()
        last.locator(".curl button").click()
        page.page.wait_for_function("window.__copied.length === 1")
        assert page.page.evaluate("window.__copied") == [many[999].request.curl]
        assert page.errors == []
    finally:
        page.close()


def test_hostile_text_stays_text(found, browser, tmp_path):
    template = found.findings[0]
    hostile = dataclasses.replace(
        template, case_label=HOSTILE, actual=HOSTILE, rule_text=HOSTILE,
        request=dataclasses.replace(template.request, curl=f"curl {HOSTILE}", body=HOSTILE, headers={"x-evil": HOSTILE}),
        response=dataclasses.replace(template.response, body=HOSTILE))
    result = dataclasses.replace(found, findings=[hostile], warnings=[HOSTILE])
    page = _open(browser, tmp_path, result)
    try:
        assert page.page.evaluate("window.__pwned") is None
        assert page.page.locator("img").count() == 0 and page.page.locator("script").count() == 1
        summary = page.page.locator("details > summary").first.inner_text()
        assert "</pre></details><script>" in summary
        page.page.locator(".curl button").first.click()
        page.page.wait_for_function("window.__copied.length === 1")
        copied = page.page.evaluate("window.__copied[0]")
        assert copied.startswith("curl </pre></details><script>window.__pwned = 1</script>")
        assert page.errors == []
    finally:
        page.close()
