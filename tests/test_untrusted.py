"""Text from outside in every output: cleaned where it enters, escaped by each writer for its format.

The catalogue of hostile payloads goes into every string field of a result, which every
format renders (JSON, JUnit, Markdown, HTML, the console, the comparison pages); each
output must parse as its format with nothing in it the writer did not put there.
"""

import io
import json
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st
from junitparser import JUnitXml
from markdown_it import MarkdownIt

from migma_contract.cli import main
from migma_contract.core.untrusted import clean_text
from migma_contract.reports import render
from migma_contract.reports._compare import render_comparison
from migma_contract.reports._html import JS, html_text
from migma_contract.reports._junit import xml_text
from migma_contract.reports._markdown import md_code, md_text
from migma_contract.reports.console import Progress, print_summary
from migma_contract.run.result import (
    Budget,
    Finding,
    PlanStats,
    RequestRecord,
    ResponseRecord,
    RuleResult,
    RunResult,
    RunSettings,
    SpecInfo,
    Status,
    TargetInfo,
)

from . import hostile_servers as servers

KEY = "mc_live_UNTRUSTED/secret+key=0123456789"

PAYLOADS = (
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(2)>',
    "' autofocus onfocus='alert(3)",
    "<svg/onload=alert(4)>",
    "]]><!-- --><?xml version='1.0'?><x/>",
    "\x1b[2J\x1b[H",  # clear the screen
    "\x1b]8;;https://evil.example/\x1b\\click\x1b]8;;\x1b\\",  # OSC 8 hyperlink
    "\x1b]0;pwned\x07",  # window title
    "\x9b31m",  # C1 CSI
    "nul\x00byte",
    "line\nCONFORMANT: 22/22 exercised rules passed",
    "cr\rreturn\x0bvt\x0cff\x85nel\u2028ls",
    "| cell | break |",
    "`code` ``` ~~~",
    "\ud800 lone \udfff",
    "rtl \u202egnp.exe\u2066",
    "# heading",
    "![x](https://evil.example/x.png)",
    "[link](javascript:alert(5))",
    "&amp; &lt; &#60;",
    "*em* _em_ ~~del~~",
    "[bold]markup[/] [/]",
    "\\",
    KEY,
)
HOSTILE = " ".join(PAYLOADS)
BENIGN = "plain words"
# Characters no output may hold: C0 (but \t \n), DEL, C1, bidirectional controls, lone surrogates.
CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u2028\u2029\ud800-\udfff]")


def make_result(text: str) -> RunResult:
    """A result with `text` in every string field (the rule levels and statuses stay what writers group by)."""
    request = RequestRecord(method=text, url=text, headers={text: text, "x-echo": text}, body=text, body_size=10, curl=text)
    response = ResponseRecord(status=400, headers={text: text}, body=f"{text}\n{text}", body_size=10, truncated=True,
                              elapsed_ms=1.5, error=text)
    rules = [
        RuleResult(id=f"{text}1", level="schema", subject=text, text=text, source=text, status=Status.FAILED,
                   exercised=2, passed=1, failed=1, notes=[text, text]),
        RuleResult(id=f"{text}2", level="documented", subject=text, text=text, source=text, status=Status.NOT_EXERCISED, reason=text),
        RuleResult(id=f"{text}3", level="documented", subject=text, text=text, source=text, status=Status.ACCEPTED,
                   exercised=1, failed=1),
        RuleResult(id=f"{text}4", level="strict", subject=text, text=text, source=text, status=Status.PASSED, exercised=1, passed=1),
    ]
    findings = [
        Finding(rule=rule.id, level=text, rule_text=text, source=text, expected=text, actual=text, case=text, case_label=text,
                phase=text, request=request, response=response, attribution=text, baselined=rule.status == Status.ACCEPTED)
        for rule in (rules[0], rules[2])
    ]
    return RunResult(
        tool_version=text, spec=SpecInfo(source=text, fingerprint=text, version=text, repairs=[text]),
        target=TargetInfo(label=text, url=text, kind=text, data_bound=False, fixtures=[text]), level=text, seed=7,
        budget=Budget(max_requests=10, max_time_s=None, timeout_s=1.0, rate_per_s=None, max_retries=0, explore=False),
        started=text, finished=text, duration_s=1.0,
        requests_sent=text,  # type: ignore[arg-type]  # mistyped on purpose: a writer escapes whatever it is given
        verdict=text, exit_code=1, rules=rules, findings=findings, aborted=text,
        plan=PlanStats(), settings=RunSettings(recipient_domain=text, baseline=[text]),
    )


def outputs(text: str) -> dict[str, str]:
    result = make_result(text)
    rendered = {fmt: render(result, fmt, secrets=[KEY]) for fmt in ("json", "junit", "md", "html")}
    pairs = [(text, result), (f"{text} again", result)]
    rendered["comparison.md"] = render_comparison(pairs, "md", secrets=[KEY])
    rendered["comparison.html"] = render_comparison(pairs, "html", secrets=[KEY])
    stream = io.StringIO()
    print_summary(result, [text], stream=stream, secrets=[KEY])
    rendered["console"] = stream.getvalue()
    return rendered


@pytest.fixture(scope="module")
def hostile():
    return outputs(HOSTILE)


@pytest.fixture(scope="module")
def benign():
    return outputs(BENIGN)


def test_no_output_holds_a_control_character_a_lone_surrogate_or_the_key(hostile):
    for name, text in hostile.items():
        text.encode("utf-8")  # a lone surrogate would raise here, as it did when writing the file
        assert not CONTROL.search(text), (name, CONTROL.search(text))
        assert not any(KEY[i:i + 20] in text for i in range(len(KEY) - 19)), name
        assert "[REDACTED]" in text, name


class _Structure(HTMLParser):
    """Elements and attribute names, in document order; the text of <script>."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, tuple[str, ...]]] = []
        self.hrefs: list[str] = []
        self.scripts: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, tuple(name for name, _ in attrs)))
        self.hrefs += [value for name, value in attrs if name in ("href", "src", "action", "formaction")]
        self._in_script = tag == "script"

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        self._in_script = False

    def handle_endtag(self, tag):
        self._in_script = False

    def handle_data(self, data):
        if self._in_script:
            self.scripts.append(data)


def structure(html: str) -> _Structure:
    parser = _Structure()
    parser.feed(html)
    parser.close()
    return parser


@pytest.mark.parametrize("page", ["html", "comparison.html"])
def test_html_has_no_element_or_attribute_the_page_did_not_write(hostile, benign, page):
    found, expected = structure(hostile[page]), structure(benign[page])
    # the catalogue's `backticked` names become <code>: the only element whose count follows the text
    assert [e for e in found.elements if e != ("code", ())] == [e for e in expected.elements if e != ("code", ())]
    assert all(href.startswith("#") for href in found.hrefs)
    assert found.scripts == expected.scripts and all(script in (JS,) for script in found.scripts)
    assert "<script>alert" not in hostile[page] and "onerror=alert" not in hostile[page].replace("onerror=alert(2)&gt;", "")


def test_junit_is_well_formed_xml_with_the_same_elements(hostile, benign, tmp_path):
    root, plain = ET.fromstring(hostile["junit"].encode()), ET.fromstring(benign["junit"].encode())
    assert [(e.tag, sorted(e.attrib)) for e in root.iter()] == [(e.tag, sorted(e.attrib)) for e in plain.iter()]
    path = tmp_path / "junit.xml"
    path.write_text(hostile["junit"], encoding="utf-8")
    xml = JUnitXml.fromfile(str(path))
    assert xml.tests == 5 and xml.failures == 1 and xml.skipped == 2 and xml.errors == 1  # the run was aborted: one error
    for element in root.iter():  # a newline in a one-line value cannot give an attribute a line of its own
        assert all("\n" not in value for value in element.attrib.values())


_MARKDOWN = MarkdownIt("commonmark").enable(["table", "strikethrough"])
_FORBIDDEN = {"html_inline", "html_block", "image", "link_open", "softbreak", "hardbreak", "s_open"}


def _blocks(text: str) -> list[tuple[str, str]]:
    return [(token.type, token.tag) for token in _MARKDOWN.parse(text)]


@pytest.mark.parametrize("page", ["md", "comparison.md"])
def test_markdown_has_no_raw_html_no_image_no_link_and_no_extra_line(hostile, benign, page):
    assert len(hostile[page].splitlines()) == len(benign[page].splitlines())
    assert _blocks(hostile[page]) == _blocks(benign[page])  # same headings, paragraphs, list items, table cells
    inline = [child.type for token in _MARKDOWN.parse(hostile[page]) for child in token.children or ()]
    assert not _FORBIDDEN & set(inline)
    rendered = _MARKDOWN.render(hostile[page])
    assert "<script" not in rendered and "<img" not in rendered and "<svg" not in rendered


def test_the_console_prints_no_escape_no_fake_line_and_survives_markup(hostile):
    console = hostile["console"]
    assert "\x1b" not in console
    lines = console.splitlines()
    assert not any(line.lstrip().startswith("CONFORMANT") for line in lines)
    assert lines[-1].startswith("NOT CONFORMANT: ")  # a failed rule is a verdict, aborted or not
    assert "[bold]markup[/]" in console  # shown as text, not read as Rich markup


def test_progress_lines_are_cleaned_too():
    stream = io.StringIO()
    progress = Progress(stream)
    progress("finding", {"rule": "rule", "actual": "\x1b]0;pwned\x07 [/] x\nCONFORMANT: 22/22"})
    progress("explore", {"budget": 3})
    assert "\x1b" not in stream.getvalue() and "\nCONFORMANT" not in stream.getvalue()


def test_json_keeps_every_value_readable(hostile):
    data = json.loads(hostile["json"])
    assert data["target"]["label"].startswith("<script>alert(1)</script>")
    assert "\\x1b[2J" in data["findings"][0]["actual"]  # the ESC made visible, the rest kept
    assert "\n" in data["findings"][0]["response"]["body"] and "\n" not in data["findings"][0]["actual"]


# --- a live server answering with all of it -------------------------------------------------------------

EVIL_ERROR = (
    rb"\ud800 lone surrogate first \u001b]0;pwned\u0007\u001b[2J\u001b]8;;https://evil.example/\u001b\\click\u001b]8;;\u001b\\ \u009b31m"
    rb"\nCONFORMANT: 22/22 exercised rules passed\n# owned <img src=x onerror=alert(1)> ![t](https://evil.example/t.png)"
    rb" | x | ``` \udfff \u202eright-to-left\u0000"
)
# `NaN`: no JSON, so every answer is a content-type-json finding (the lone surrogates alone are JSON whose reading RFC 8259
# leaves open: judged in part), and Python's json (which reads NaN) still gives the findings the server's error text.
EVIL_BODY = b'{"success": false, "error": "' + EVIL_ERROR + b'", "data": NaN}'


def _evil(request: bytes) -> bytes:
    """Every answer: 400 with a body and headers full of terminal, markup and encoding tricks."""
    answer = servers.response("400 Bad Request", EVIL_BODY, X_Evil="\u202eevil \x9b31m <script>")
    return answer.replace("\u202eevil \x9b31m".encode(), "\u202eevil".encode() + b" \x9b31m")  # raw UTF-8 RLO, raw C1 byte


@pytest.fixture(scope="module")
def evil_run(tmp_path_factory):
    reports = tmp_path_factory.mktemp("evil")
    with servers.raw_server(servers.each_request(_evil)) as url:
        done = CliRunner().invoke(main, ["check", "--base-url", f"{url}/x[/]y", "--api-key", "mc_live_EVIL_0123456789",
                                         "--report-dir", str(reports), "--max-requests", "12", "--no-explore", "--timeout", "5"])
    return done, reports


@pytest.mark.e2e
def test_a_server_cannot_drive_the_terminal_or_forge_a_verdict_line(evil_run):
    done, _ = evil_run
    assert done.exit_code == 1, (done.stdout, done.stderr, done.exception)  # Rich markup in --base-url crashed the run (3)
    printed = done.stdout + done.stderr
    assert not CONTROL.search(printed)
    assert not [line for line in printed.splitlines() if line.lstrip().startswith("CONFORMANT")]
    assert done.stdout.splitlines()[-1].startswith("NOT CONFORMANT") and "x[/]y" in done.stdout


@pytest.mark.e2e
def test_a_lone_surrogate_in_an_answer_still_gives_every_report(evil_run, tmp_path):
    _, reports = evil_run
    assert sorted(p.name for p in reports.iterdir()) == ["conformance.json", "index.html", "junit.xml", "summary.md"]
    for page in reports.iterdir():
        assert not CONTROL.search(page.read_text(encoding="utf-8")), page.name
    again = CliRunner().invoke(main, ["report", str(reports / "conformance.json"), "--format", "md", "--out", str(tmp_path)])
    assert again.exit_code == 0, again.output


@pytest.mark.e2e
def test_reports_of_a_hostile_server_parse_as_their_format(evil_run):
    _, reports = evil_run
    ET.parse(reports / "junit.xml")
    assert JUnitXml.fromfile(str(reports / "junit.xml")).failures >= 1
    page = structure((reports / "index.html").read_text())
    assert page.scripts == [JS] and all(href.startswith("#") for href in page.hrefs)
    assert not {tag for tag, _ in page.elements} & {"img", "svg", "iframe", "object", "embed"}
    summary = (reports / "summary.md").read_text()
    assert not _FORBIDDEN & {child.type for token in _MARKDOWN.parse(summary) for child in token.children or ()}
    assert not [line for line in summary.splitlines() if line.startswith(("# owned", "CONFORMANT"))]


# --- any text at all stays text: the escapers as properties --------------------------------------------


_ANY_TEXT = st.text(st.one_of(st.characters(exclude_categories=()), st.sampled_from("<>&\"'`|\\[]()!#*_~-=+.:\n\r\t\x1b\x00\u202e")))


@given(_ANY_TEXT)
def test_any_text_stays_one_line_of_text_in_every_format(text):
    cleaned = clean_text(text)
    assert not CONTROL.search(cleaned) and "\n" not in cleaned and clean_text(cleaned) == cleaned
    page = structure(f"<p title=\"{html_text(text)}\">{html_text(text)}</p>")
    assert page.elements == [("p", ("title",))]
    element = ET.Element("a", {"b": xml_text(text)})
    element.text = xml_text(text, multiline=True)
    assert ET.fromstring(ET.tostring(element, encoding="unicode")).get("b") == xml_text(text)
    table = f"| a | b |\n|---|---|\n| {md_text(text)} | {md_code(text)} |\n"
    assert len(table.splitlines()) == 3
    tokens = _MARKDOWN.parse(table)
    assert [t.type for t in tokens].count("td_open") == 2
    assert not _FORBIDDEN & {child.type for token in tokens for child in token.children or ()}


_LINE_OPENERS = ["# heading", "###### six", "#", "- item", "+ item", "* item", "1. one", "2) two", "> quote", "---", "***", "___",
                 "===", "```fence", "~~~fence", "    indented", "<div>block</div>", "[a]: https://evil.example", "| a | b |"]


@pytest.mark.parametrize("text", _LINE_OPENERS)
def test_text_that_starts_a_line_stays_a_paragraph(text):
    # a server's text at the start of a line cannot make it a heading, a list, a quote, a rule or a block
    assert [t.type for t in _MARKDOWN.parse(md_text(text, line_start=True))] == ["paragraph_open", "inline", "paragraph_close"]


@given(st.one_of(st.sampled_from(_LINE_OPENERS), _ANY_TEXT).filter(lambda text: clean_text(text).strip()))
def test_any_text_that_starts_a_line_stays_one_paragraph(text):
    assert [t.type for t in _MARKDOWN.parse(md_text(text, line_start=True))] == ["paragraph_open", "inline", "paragraph_close"]


# --- GitHub's own Markdown: no server text becomes a link ------------------------------------------------

def _gfm_links(markdown: str) -> list[str]:
    """The link targets GitHub's parser (cmark-gfm, with its autolink extension) makes of `markdown`."""
    import cmarkgfm

    return re.findall(r'<a href="([^"]*)"', cmarkgfm.github_flavored_markdown_to_html(markdown))


_URLS = st.sampled_from(["https://evil.example/reset", "HTTP://evil.example", "ftp://evil.example/f", "www.evil.example",
                         "WwW.evil.example/x", "(https://evil.example)", "*https://evil.example*", "~www.evil.example~",
                         "https\\://evil.example", "x<https://evil.example>", "[a](https://evil.example)"])


@given(st.lists(st.one_of(_URLS, _ANY_TEXT), max_size=6).map(" ".join))
def test_no_url_in_any_text_becomes_a_link_on_github(text):
    from migma_contract.diff.render import md_cell

    for markdown in (md_text(text), md_text(text, line_start=True), md_code(text), md_cell(text)):
        assert [href for href in _gfm_links(markdown) if not href.startswith(("mailto:", "xmpp:"))] == [], markdown


@pytest.mark.e2e
def test_a_hostile_servers_urls_are_text_in_the_step_summary(evil_run):
    _, reports = evil_run
    summary = (reports / "summary.md").read_text()
    assert "evil.example" in summary and _gfm_links(summary) == []


def test_a_diff_cell_carries_no_lone_surrogate():
    """Found by the Hypothesis test above (random mode): `diff`'s Markdown cells skipped clean_text, so a lone
    surrogate from a document's text made the Markdown unwritable as UTF-8."""
    from migma_contract.diff.render import md_cell

    md_cell("a\ud800b\x1bc").encode("utf-8")


def test_what_junit_replaces_is_exactly_what_xml_1_0_forbids():
    # XML 1.0 Char: #x9 | #xA | #xD | [#x20-#xD7FF] | [#xE000-#xFFFD] | [#x10000-#x10FFFF]: every other code point, none of these
    from migma_contract.reports._junit import _NOT_XML

    def allowed(code):
        return code in (0x9, 0xA, 0xD) or 0x20 <= code <= 0xD7FF or 0xE000 <= code <= 0xFFFD or 0x10000 <= code <= 0x10FFFF

    everything = "".join(map(chr, range(0x110000)))
    assert [m.start() for m in _NOT_XML.finditer(everything)] == [code for code in range(0x110000) if not allowed(code)]
