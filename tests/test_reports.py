"""The four report formats, rendered from one result model, and the comparison matrix."""

import html
import json
import re
import subprocess
import sys

import jsonschema
import pytest
from click.testing import CliRunner
from junitparser import JUnitXml

from migma_contract.cli import main
from migma_contract.config.options import CheckOptions
from migma_contract.core.redact import REDACTED
from migma_contract.mock import load_mock_config
from migma_contract.reports import json_schema, load_result, render, write_reports
from migma_contract.run.result import RunResult
from migma_contract.run.runner import run_check
from migma_contract.wire.serve import serve_in_thread

from .faulty_servers import FAULTS, FULL_KEY, Resp, Variant

FIXTURES = load_mock_config().fixtures()


def fault(name):
    return next(v for v in FAULTS if v.name == name)


@pytest.fixture(scope="module")
def result(tmp_path_factory) -> RunResult:
    """A run with findings in several rules, one not-exercised rule and an accepted (baselined) one."""
    two_faults = Variant("two-faults", None, after=lambda req, resp: fault("status-done").after(req, fault("errors-claim-success").after(req, resp)))
    baseline = tmp_path_factory.mktemp("baseline") / "known.txt"
    baseline.write_text("result-status-known\n")
    options = CheckOptions(api_key=FULL_KEY, max_requests=160, baseline=str(baseline)).with_fixtures(FIXTURES)
    return run_check(options, app=two_faults.app(), target_label="two faults")


@pytest.mark.e2e
def test_fixture_result_has_what_the_formats_must_show(result):
    statuses = {r.id: r.status for r in result.rules}
    assert statuses["envelope-consistent"] == "failed" and statuses["result-status-known"] == "accepted"
    assert statuses["auth-scope"] == "not_exercised"
    assert {f.rule for f in result.findings} == {"envelope-consistent", "result-status-known"}


@pytest.mark.e2e
def test_json_validates_against_the_shipped_schema_and_round_trips(result):
    data = json.loads(render(result, "json"))
    jsonschema.Draft202012Validator(json_schema(), format_checker=jsonschema.FormatChecker()).validate(data)
    assert data["format"] == "migma-contract/1"
    assert data["spec"]["repairs"] and data["target"]["label"] == "two faults"
    assert RunResult.from_dict(data).to_dict() == data


@pytest.mark.e2e
def test_junit_parses_and_counts_match(result, tmp_path):
    path = tmp_path / "junit.xml"
    path.write_text(render(result, "junit"))
    xml = JUnitXml.fromfile(str(path))
    suites = list(xml)
    assert [s.name for s in suites] == ["migma-contract.schema", "migma-contract.documented"]
    cases = [case for suite in suites for case in suite]
    assert len(cases) == len(result.rules)
    failed = [c.name for c in cases if any(type(r).__name__ == "Failure" for r in c.result)]
    skipped = [c.name for c in cases if any(type(r).__name__ == "Skipped" for r in c.result)]
    assert failed == ["envelope-consistent"]
    assert sorted(skipped) == ["auth-scope", "result-status-known"]
    failure = next(c for c in cases if c.name == "envelope-consistent").result[0]
    assert "curl -sS -i --globoff --proto =http,https -X POST" in failure.text and failure.message.startswith("[envelope-consistent]")
    assert "--restricted-api-key" in next(c for c in cases if c.name == "auth-scope").result[0].message
    assert xml.tests == len(result.rules) and xml.failures == 1 and xml.skipped == 2


@pytest.mark.e2e
@pytest.mark.parametrize("fmt", ["md", "html"])
def test_markdown_and_html_name_every_rule_and_finding(result, fmt):
    text = render(result, fmt)
    for rule in result.rules:
        assert rule.id in text
    unescape = (lambda s: s) if fmt == "md" else __import__("html").unescape
    for finding in result.findings:
        assert finding.request.curl in unescape(text)
        assert finding.rule in text


@pytest.mark.e2e
def test_html_is_self_contained(result):
    text = render(result, "html")
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", text, re.I)
    assert not re.search(r"url\(\s*['\"]?(https?:)?//|@import", text, re.I)
    assert "<script src" not in text and "<link" not in text


@pytest.mark.e2e
def test_report_command_rerenders_identically(result, tmp_path):
    """Everything as the run wrote it, but the curl lines: rebuilt from each request's parts (a file's own line is
    never shown), to the base URL the user sets and with keys as the report shows them."""
    import copy

    from migma_contract.run.records import rebuilt_curl

    write_reports(result, tmp_path)
    expected = copy.deepcopy(result)
    for finding in expected.findings:
        finding.request.curl = rebuilt_curl(finding.request)
    write_reports(expected, tmp_path / "expected")
    original = {p.name: p.read_text() for p in (tmp_path / "expected").iterdir()}
    out = tmp_path / "again"
    done = CliRunner().invoke(main, ["report", str(tmp_path / "conformance.json"), "--format", "json,junit,md,html", "--out", str(out)])
    assert done.exit_code == 0, done.output
    assert {p.name: p.read_text() for p in out.iterdir()} == original


@pytest.mark.e2e
def test_comparison_of_several_implementations(result, tmp_path):
    conformant = run_check(CheckOptions(max_requests=200, explore=False))
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    write_reports(result, tmp_path / "a", ("json",))
    write_reports(conformant, tmp_path / "b", ("json",))
    done = CliRunner().invoke(main, ["report", str(tmp_path / "a" / "conformance.json"), str(tmp_path / "b" / "conformance.json"),
                                     "--name", "acme", "--name", "reference", "--out", str(tmp_path)])
    assert done.exit_code == 0, done.output
    markdown = (tmp_path / "comparison.md").read_text()
    assert "| acme | failed |" in markdown and "| reference | passed |" in markdown
    row = next(line for line in markdown.splitlines() if line.startswith("| `envelope-consistent`"))
    assert "❌ failed" in row and "✅ passed" in row
    html = (tmp_path / "comparison.html").read_text()
    assert "acme" in html and "reference" in html and 'class="cell failed"' in html


def test_report_of_a_file_that_is_not_a_result(tmp_path):
    bogus = tmp_path / "x.json"
    bogus.write_text('{"format": "other"}')
    done = CliRunner().invoke(main, ["report", str(bogus)])
    assert done.exit_code == 2 and "not a migma-contract result" in done.output
    assert CliRunner().invoke(main, ["report", str(tmp_path / "missing.json")]).exit_code == 2


@pytest.mark.e2e
def test_github_step_summary_is_appended(result, tmp_path, monkeypatch):
    summary = tmp_path / "step-summary.md"
    summary.write_text("# earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    write_reports(result, tmp_path / "out")
    text = summary.read_text()
    assert text.startswith("# earlier step\n") and "## migma-contract:" in text


@pytest.mark.e2e
def test_large_bodies_are_cut_with_their_size(tmp_path):
    huge = "x" * 200_000
    failing = Variant("huge-and-wrong", None, after=lambda req, resp: Resp.of(resp.status, {**resp.json, "success": True, "error": huge}) if resp.status >= 400 else resp)
    found = run_check(CheckOptions(api_key=FULL_KEY, explore=False, max_requests=200).with_fixtures(FIXTURES), app=failing.app())
    finding = next(f for f in found.findings if f.rule == "envelope-consistent")
    assert len(finding.response.body) < 5000 and "bytes in all" in finding.response.body
    assert finding.response.body_size > 200_000


@pytest.mark.e2e
def test_no_key_in_any_output_even_when_the_server_echoes_it(tmp_path):
    """A hostile server reflecting credentials back: the key is in no report, log or console line."""
    key = "mc_live_SECRET_0123456789abcdef"
    restricted = "mc_live_RESTRICTED_fedcba9876543210"

    def echo(req, resp):
        if resp.status in (401, 403) or resp.status == 400:
            echoed = req.headers.get("authorization")
            payload = {**(resp.json or {}), "success": f"no ({echoed})", "error": f"rejected key {echoed}", "cookie": echoed}
            return Resp.of(resp.status, payload, **{"set-cookie": f"session={key}", "x-api-key": key, "x-echo": req.headers.get("authorization", "")})
        return resp

    config = {"keys": [{"key": key, "scopes": ["email:send"]}, {"key": restricted, "scopes": []}]}
    server = Variant("echo", None, after=echo, config=config)
    with serve_in_thread(server.app()) as url:
        done = subprocess.run(
            [sys.executable, "-m", "migma_contract.cli", "check", "--base-url", url, "--report-dir", str(tmp_path),
             "--from", "a@example.com", "--email-id", "email_welcome", "--max-requests", "170"],
            capture_output=True, text=True, timeout=120,
            env={"MIGMA_CONTRACT_API_KEY": key, "MIGMA_CONTRACT_RESTRICTED_API_KEY": restricted, "PATH": "/usr/bin:/bin"},
        )
    assert done.returncode == 1, done.stderr
    outputs = [done.stdout, done.stderr] + [p.read_text() for p in tmp_path.iterdir()]
    for text in outputs:
        assert key not in text and restricted not in text
        assert "bWNfbGl2ZV9TRUNSRVQ" not in text  # the key inside a Basic credential, base64
    assert REDACTED in (tmp_path / "conformance.json").read_text()
    loaded = load_result(tmp_path / "conformance.json")
    assert {"error-schema", "envelope-consistent"} <= {f.rule for f in loaded.findings}
    assert any(REDACTED in f.response.headers.get("x-api-key", "") for f in loaded.findings)


@pytest.mark.e2e
def test_root_causes_and_several_findings_per_rule_in_every_format():
    options = CheckOptions(api_key=FULL_KEY, explore=False, max_requests=200).with_fixtures(FIXTURES)
    found = run_check(options, app=fault("422-for-validation-errors").app())
    [cause] = found.root_causes
    markdown = render(found, "md")
    assert f"### Root causes (1)\n\n- ❌ {cause.summary}: {len(cause.rules)} rules (`body-json-object`" in markdown
    page = render(found, "html")
    assert page.index("Root causes (1)") < page.index("<h2>Rules</h2>") and html.escape(cause.summary) in page
    data = json.loads(render(found, "json"))
    jsonschema.Draft202012Validator(json_schema(), format_checker=jsonschema.FormatChecker()).validate(data)
    assert RunResult.from_dict(data).root_causes == found.root_causes
    coercions = run_check(options, app=fault("coerces-like-ajv").app())
    page = render(coercions, "html")
    anchors = re.findall(r'<details id="([^"]+)"', page)
    assert len(anchors) == len(coercions.findings) == len(set(anchors)) and "finding-field-types-4" in anchors
    assert render(coercions, "md").count("#### ❌ `field-types`") == 4


def test_written_reports_are_what_render_gives_though_redacted_once(tmp_path, monkeypatch):
    # write_reports redacts the result once for every format; `render` redacts it (again) for each: the same pages
    import base64
    from urllib.parse import quote

    from migma_contract import contract_for
    from migma_contract.reports import FILENAMES
    from migma_contract.traffic.tally import ObservedExchange, TrafficJudge

    env_key, given = "mc_env_key_0123456789abcdef", "given-secret-0123456789"
    monkeypatch.setenv("MIGMA_CONTRACT_API_KEY", env_key)
    echo = " ".join([env_key, given, quote(given, safe=""), base64.b64encode(f"api:{env_key}".encode()).decode(),
                     json.dumps(given.upper())[1:-1], "\\u0067iven-secret-0123456789", "apiKey=" + given])
    judge = TrafficJudge(contract_for(), kind="recorded", label=f"t {given}")
    judge.observe(ObservedExchange(
        "POST", f"https://recorded.test/v1/sending?token={given}", [("Authorization", f"Bearer {env_key}")],
        b'{"recipientType": "tag"}', 500, [("content-type", "application/json"), ("x-debug", echo)],
        json.dumps({"success": False, "error": f"echo {echo}", "apiKey": given}).encode(), where="entry 1"))
    result = judge.result()
    assert result.findings
    formats = tuple(FILENAMES)
    written = {path.name: path.read_text(encoding="utf-8") for path in write_reports(result, tmp_path, formats, secrets=[given])}
    assert written == {FILENAMES[fmt]: render(result, fmt, [given]) for fmt in formats}
    assert not any(secret in page for page in written.values() for secret in (env_key, given))
