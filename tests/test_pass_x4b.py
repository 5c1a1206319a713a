"""Pass X4 (F2, F3, F5, F8): malformed baselines, the Schemathesis checks under a base path, Markdown math and the
other GitHub-flavoured constructs in every Markdown writer, and a comparison linear in the rules it lists."""

from __future__ import annotations

import copy
import dataclasses
import json
import re
from typing import Any

import pytest
from click.testing import CliRunner

from migma_contract.asgi import ContractMiddleware
from migma_contract.cli import main
from migma_contract.config.options import CheckOptions
from migma_contract.contract.catalogue import ACCEPTS_VALID, NO_SERVER_ERROR
from migma_contract.contract.validators import contract_for
from migma_contract.core.exceptions import ConfigError
from migma_contract.diff.render import render_markdown as render_diff_markdown
from migma_contract.generate.bodies import BodyFactory
from migma_contract.mock import create_app
from migma_contract.reports import load_result, render
from migma_contract.reports._compare import render_comparison, render_comparison_html, render_comparison_markdown
from migma_contract.reports._json import render_json
from migma_contract.run.result import RuleResult, Status
from migma_contract.run.runner import load_baseline, run_check
from migma_contract.schemathesis_checks import CHECKS, OperationUnknown, violations_of

from .test_diff import compare, schemas
from .test_explore import FIXTURES
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


# --- F2: the whole shape of every file read back ---------------------------------------------------------------------

JSON_VALUES: tuple[Any, ...] = (None, True, 7, 1.5, "text", [], ["text"], [7], {}, {"key": 7})


def _paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every member's path in a JSON value (the value itself included)."""
    found = [path]
    if isinstance(value, dict):
        for key, member in value.items():
            found += _paths(member, (*path, key))
    elif isinstance(value, list):
        for index, member in enumerate(value):
            found += _paths(member, (*path, index))
    return found


def _swapped(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    changed = copy.deepcopy(value)
    parent = changed
    for part in path[:-1]:
        parent = parent[part]
    parent[path[-1]] = new
    return changed


def _mutants(value: Any, values: tuple[Any, ...] = JSON_VALUES):
    for path in _paths(value):
        for new in values:
            yield path, _swapped(value, path, new)


def _one_line(exc: ConfigError) -> str:
    text = str(exc)
    assert "\n" not in text and "Traceback" not in text and "TypeError" not in text and "KeyError" not in text, text
    return text


A_BASELINE = {
    "format": "migma-contract/1",
    "rules": [{"id": ACCEPTS_VALID.id, "status": "failed", "unshown": ["a key"]},
              {"id": NO_SERVER_ERROR.id, "status": "passed"}],
    "findings": [{"rule": ACCEPTS_VALID.id, "key": "another key"}],
}


@pytest.mark.parametrize("bad, where", [
    ({"rules": 5}, "rules is not a list"),
    ({"findings": None}, "findings is not a list"),
    ({"rules": [{"id": ACCEPTS_VALID.id, "status": "failed", "unshown": 7}],
      "findings": [{"rule": ACCEPTS_VALID.id, "key": "k"}]}, "rules[0].unshown is not a list"),
])
def test_a_baseline_of_the_wrong_shape_is_a_usage_error_naming_where(tmp_path, bad, where):
    """Pass X4, F2: a conformance.json-shaped baseline whose `rules`, `findings` or a rule's `unshown` was no list was
    a TypeError: "internal error" (exit 3) in the command line, an INTERNALERROR in pytest, a TypeError from the
    middleware's constructor. The whole shape is checked first (`BASELINE_SCHEMA`): one line, exit 2."""
    path = tmp_path / "baseline.json"
    path.write_text(json.dumps(bad))
    outcome = CliRunner().invoke(main, ["check", "--baseline", str(path), "--dry-run"])
    assert outcome.exit_code == 2, outcome.output
    assert where in outcome.output and "internal error" not in outcome.output
    with pytest.raises(ConfigError, match=re.escape(where)):
        ContractMiddleware(create_app(), baseline=str(path))


def test_every_member_of_a_baseline_swapped_for_each_json_type_is_read_or_refused_in_one_line(tmp_path):
    """Pass X4, F2: every member of a baseline (a conformance.json's shape, and a list of entries) swapped for each
    JSON type: a baseline, or a ConfigError of one line; never another exception."""
    path = tmp_path / "baseline.json"
    assert load_baseline(str(_write(path, A_BASELINE))).findings
    refused = 0
    for shape in (A_BASELINE, [ACCEPTS_VALID.id, f"{NO_SERVER_ERROR.id} a key"]):
        for where, mutant in _mutants(shape):
            try:
                load_baseline(str(_write(path, mutant)))
            except ConfigError as exc:
                refused += 1
                assert _one_line(exc).startswith(f"--baseline {path}: "), where
    assert refused > 50


def _write(path, value):
    path.write_text(json.dumps(value))
    return path


@pytest.mark.e2e  # a whole check (in-process, on the mock) makes the file
def test_every_member_of_a_conformance_json_swapped_for_each_json_type_is_read_or_refused_in_one_line(tmp_path):
    """Pass X4, F2 (its class): `report A.json B.json` reads conformance.json files back; every member of one swapped
    for each JSON type is a result, or a ConfigError of one line (the shipped schema), never another exception."""
    result = run_check(CheckOptions(api_key="mc_test_full_access", explore=False, max_requests=10), app=create_app())
    document = json.loads(render_json(result))
    assert document["findings"] and document["rules"]
    path = tmp_path / "conformance.json"
    load_result(_write(path, document))
    for where, mutant in _mutants(document, (None, True, 7, "text", [], {})):  # each JSON type (the schema is slow)
        try:
            load_result(_write(path, mutant))
        except ConfigError as exc:
            _one_line(exc)
        except Exception as exc:  # pragma: no cover - the failure's own report
            raise AssertionError(f"{where}: {type(exc).__name__}: {exc}") from None


# --- F3: the Schemathesis checks find the operation by the path the request went to ----------------------------------


async def _html_everywhere(scope, receive, send):
    """An ASGI app answering every request 200 text/html: a faulty answer to any send."""
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/html")]})
    await send({"type": "http.response.body", "body": b"<h1>oops</h1>"})


def _schema_at(server: str, path: str):
    """The bundled document with the send operation's path template `path`, under the server `server`."""
    import schemathesis

    document = copy.deepcopy(contract_for().spec.document)
    document["servers"] = [{"url": server}]
    document["paths"] = {path: document["paths"]["/v1/sending"]}
    schema = schemathesis.openapi.from_dict(document)
    schema.app = _html_everywhere
    return schema, schema[path]["POST"]


def _failures(response, case) -> list[str]:
    failures = []
    for registered in CHECKS:
        try:
            registered(None, response, case)
        except AssertionError as exc:
            failures.append(str(exc))
    return failures


@pytest.mark.parametrize("server, path", [("/v1", "/sending"), ("/", "/v1/sending"), ("/api/v1", "/sending"),
                                          ("/api", "/v1/sending")])
def test_the_schemathesis_checks_judge_the_operation_under_any_base_path(server, path):
    """Pass X4, F3: the checks compared the operation's path template to `/v1/sending` literally, so a document writing
    it as server `…/v1` + path `/sending` had every answer judged by no check: a 200 text/html passed them all. The
    operation is now found by the path the request went to (its server's path and the template), as `api_root`
    finds it on every other way in."""
    _, operation = _schema_at(server, path)
    case = operation.Case(body=BodyFactory(contract_for().spec, FIXTURES).valid_body(),
                          headers={"Authorization": "Bearer mc_test_full_access"})
    response = case.call()
    assert response.request.url.endswith("/v1/sending")
    assert violations_of(response, case)
    assert _failures(response, case)


def test_a_post_the_checks_cannot_tie_to_the_operation_fails_them_saying_so():
    """Pass X4, F3: a send whose path the checks cannot tie to POST /v1/sending (mounted at `/sending`, no `/v1`) is not
    passed silently: every check fails, saying it judged nothing. Another operation of the document is not judged."""
    _, operation = _schema_at("/", "/sending")
    case = operation.Case(body={"recipientType": "email"}, headers={"Authorization": "Bearer mc_test_full_access"})
    response = case.call()
    with pytest.raises(OperationUnknown, match="cannot tie"):
        violations_of(response, case)
    failures = _failures(response, case)
    assert failures and all("nothing was judged" in failure for failure in failures)  # every check of the level
    _, other = _schema_at("/v1", "/projects")
    case = other.Case(body={}, headers={})
    assert violations_of(case.call(), case) == [] and not _failures(case.call(), case)
