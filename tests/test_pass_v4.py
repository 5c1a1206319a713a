"""Pass V4 (an outside attack on the configuration, the outputs and the redactor): each finding, by class."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from migma_contract.cli import main
from migma_contract.config.options import OPTIONS, resolve_options
from migma_contract.core.exceptions import ConfigError

from .faulty_servers import FAULTS, FULL_KEY

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[1]
_KEYED = {"MIGMA_CONTRACT_API_KEY": "mc_ci_secret_key_1", "MIGMA_CONTRACT_BASE_URL": "http://127.0.0.1:9"}
_HUGE = "1" + "0" * 400  # an integer TOML reads, which no float holds


def _hostile(text: str) -> bool:
    """Whether printed text holds a terminal escape, a BEL, or a line a CI runner acts on."""
    return any(ch in text for ch in "\x1b\x07\x9b") or any(line.lstrip().startswith("::") for line in text.splitlines())


# --- F1: pytest's selection from a repository file; the session's exit status is the check's verdict ---------------

_FIXTURES = ["--migma-from", "sender@example.com", "--migma-email-id", "email_welcome", "--migma-no-explore"]


def _faulty():
    return next(v for v in FAULTS if v.name == "status-done").app()


@pytest.fixture
def _keyed_env(monkeypatch):
    for name in ("MIGMA_CONTRACT_BASE_URL", "MIGMA_CONTRACT_LEVEL", "MIGMA_CONTRACT_TRUST_CONFIG_TARGET"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MIGMA_CONTRACT_API_KEY", FULL_KEY)


@pytest.mark.e2e
@pytest.mark.usefixtures("_keyed_env")
@pytest.mark.parametrize("addopts", ["--deselect migma-contract::result-status-known", "-m migma_schema", "-k body",
                                     "-qk body", "migma-contract::body-json-object", "--co"])
def test_f1_a_files_selection_cannot_turn_a_keyed_run_green(pytester, addopts):
    """Pass V4, F1 (f5/repro.sh): a pytest.ini `addopts` deselecting the failing rule (`--deselect`, `-m`, `-k`, a
    node id) or collecting only turned a faulty server green (exit 0) while conformance.json said "failed". On a run
    carrying the user's key to the target they typed, such a selection from a file is now a usage error."""
    from migma_contract.wire.serve import serve_in_thread

    pytester.makeini(f"[pytest]\naddopts = {addopts}\n")
    with serve_in_thread(_faulty()) as url:
        result = pytester.runpytest("--migma-conformance", "--migma-base-url", url, *_FIXTURES)
    assert result.ret == pytest.ExitCode.USAGE_ERROR, result.stdout.str()
    assert "a repository file's pytest options" in result.stderr.str() and FULL_KEY not in result.stderr.str()


@pytest.mark.e2e
@pytest.mark.usefixtures("_keyed_env")
def test_f1_the_users_own_deselection_works_and_the_verdict_still_fails_the_session(pytester):
    """Pass V4, F1: the user's own typed `--deselect` still selects (the rule is deselected, the others run), the
    summary names the rule left out and that it fails, and the session fails on the check's verdict (it was exit 0)."""
    from migma_contract.wire.serve import serve_in_thread

    with serve_in_thread(_faulty()) as url:
        result = pytester.runpytest("--migma-conformance", "--migma-base-url", url, *_FIXTURES,
                                    "--deselect", "migma-contract::result-status-known")
    assert result.ret == pytest.ExitCode.TESTS_FAILED, result.stdout.str()
    assert result.parseoutcomes().get("deselected") == 1 and "failed" not in result.parseoutcomes()
    result.stdout.fnmatch_lines(["*1 rule(s) left out of this pytest session*result-status-known; of them failing: "
                                 "result-status-known*"])


@pytest.mark.e2e
@pytest.mark.usefixtures("_keyed_env")
@pytest.mark.parametrize("addopts, trusted", [('-m "not slow"', False), ("-k body", True)])
def test_f1_a_files_harmless_or_trusted_selection_runs_and_the_verdict_decides(pytester, monkeypatch, addopts, trusted):
    """Pass V4, F1: a file's selection that leaves no rule out (`-m "not slow"`, common in addopts) is no refusal, nor is
    one the user trusts; either way the session's exit status is the check's verdict (a faulty server: exit 1)."""
    from migma_contract.wire.serve import serve_in_thread

    if trusted:
        monkeypatch.setenv("MIGMA_CONTRACT_TRUST_CONFIG_TARGET", "1")
    pytester.makeini(f"[pytest]\naddopts = {addopts}\nmarkers = slow\n")
    with serve_in_thread(_faulty()) as url:
        result = pytester.runpytest("--migma-conformance", "--migma-base-url", url, *_FIXTURES)
    assert result.ret == pytest.ExitCode.TESTS_FAILED, result.stdout.str()


# --- F2: every line a command prints is cleaned ---------------------------------------------------------------------

_BAD = "X\x1b]0;pwned\x07\n::error title=forged::forged"


def test_f2_lint_prints_a_hostile_documents_pointers_cleaned(tmp_path):
    """Pass V4, F2 (f4/repro.sh): `lint` printed a property name's ESC, BEL and a `::error` line raw (in `where:`,
    the repairs' and the notes' lines)."""
    for name, schema in {"ref": {"$ref": "https://example.invalid/x.json"}, "nullable": {"type": "string", "nullable": True}}.items():
        doc = json.loads((ROOT / "spec" / "openapi.json").read_text(encoding="utf-8"))
        doc["components"]["schemas"]["SendEmailRequest"]["properties"][_BAD] = schema
        path = tmp_path / f"evil-{name}.json"
        path.write_text(json.dumps(doc), encoding="utf-8")
        result = CliRunner().invoke(main, ["lint", str(path)])
        assert "pwned" in result.output, result.output  # the name is shown, cleaned
        assert not _hostile(result.output), result.output


@pytest.mark.e2e
def test_f2_the_mock_banner_prints_a_worlds_keys_and_domains_cleaned(tmp_path, monkeypatch):
    """Pass V4, F2 (f1_mock_banner.sh): `mock --config` printed its world's keys and verified domains raw: a key
    "k\\e]0;pwned\\a\\n::add-mask::x" set the terminal's title and gave GitHub an `::add-mask::` command."""
    import uvicorn

    world = tmp_path / "mock.json"
    world.write_text(json.dumps({"keys": [{"key": "k\x1b]0;pwned\x07\n::add-mask::x", "scopes": ["email:send"]}],
                                 "verified_domains": ["a\x1b[31mRED\n::error::forged"]}), encoding="utf-8")
    monkeypatch.setattr(uvicorn.Server, "run", lambda self, sockets=None: None)  # the banner, then no serving
    result = CliRunner().invoke(main, ["mock", "--config", str(world), "--port", "0"])
    assert "full-scope key" in result.output and "pwned" in result.output, result.output
    assert not _hostile(result.output), result.output


def test_f2_a_report_dir_resolved_through_a_link_to_control_characters_is_refused(tmp_path):
    """Pass V4, F2 (f3/repro.sh): `report-dir = "out"`, `out` a committed link to "\\e]0;pwned\\a\\n::error...": the
    printable check ran on "out", and `proxy` printed the resolved path raw. The resolved path is checked too."""
    target = tmp_path / "x\x1b]0;pwned\x07\n::error title=forged::forged"
    target.mkdir()
    (tmp_path / "out").symlink_to(target.name)
    (tmp_path / "pyproject.toml").write_text('[tool.migma-contract]\nreport-dir = "out"\n')
    with pytest.raises(ConfigError, match="control characters") as refused:
        resolve_options({}, environ={}, pyproject=tmp_path / "pyproject.toml")
    assert not _hostile(str(refused.value))


_ECHOES_ALLOWED = {"say", "fail", "_warn", "main"}  # the writers that clean; `main`: click's help (our own text)


def test_f2_no_command_echoes_text_uncleaned():
    """Pass V4, F2 (the class): in cli.py a `click.echo` is only in the writers that clean (`say`, `fail`, `_warn`),
    besides click's own help and the bundled document's bytes; a `print` only of `clean_text(...)`; and no other module
    of the package echoes or prints at all (the console writers go through `clean_text` in `_t`/`md_cell`)."""
    tree = ast.parse((ROOT / "migma_contract" / "cli.py").read_text(encoding="utf-8"))
    raw = []
    for function in ast.walk(tree):
        if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        for node in ast.walk(function):
            if not isinstance(node, ast.Call):
                continue
            called = ast.unparse(node.func)
            if called == "click.echo" and function.name not in _ECHOES_ALLOWED:
                shown = ast.unparse(node.args[0]) if node.args else ""
                if not (function.name == "spec_command" and shown == "path.read_bytes()"):
                    raw.append(f"{function.name}: {ast.unparse(node)}")
            if called == "print" and not all(ast.unparse(arg).startswith("clean_text(") for arg in node.args):
                raw.append(f"{function.name}: {ast.unparse(node)}")
    assert not raw, raw
    for path in (ROOT / "migma_contract").rglob("*.py"):
        if path.name == "cli.py" and path.parent.name == "migma_contract":
            continue
        text = path.read_text(encoding="utf-8")
        # (the pytest plugin's one line after pytest's `main` has no terminal left: written cleaned, pass X4, F1)
        assert not re.search(r"\bclick\.echo\(|(?<![\w.])print\(|sys\.std(out|err)\.write\((?!clean_text\()", text), path


# --- F3: every number of the configuration too large for a float is the one-line exit 2 -----------------------------


@pytest.mark.parametrize("name", [option.pyproject_key for option in OPTIONS if option.kind == "float"])
def test_f3_a_float_option_past_a_float_is_a_config_error(tmp_path, name):
    """Pass V4, F3 (f2/repro.sh): `timeout = 1000…0` (401 digits; `rate`, `max-time`, `max-retry-wait`) raised an
    OverflowError: "internal error", exit 3 (pytest: INTERNALERROR). Now "must be a finite number", exit 2."""
    (tmp_path / "pyproject.toml").write_text(f"[tool.migma-contract]\n{name} = {_HUGE}\n")
    with pytest.raises(ConfigError, match="must be a finite number"):
        resolve_options({}, environ={}, pyproject=tmp_path / "pyproject.toml")


def test_f3_the_commands_exit_2_on_it(tmp_path, monkeypatch):
    """Pass V4, F3: `check --dry-run` with such a pyproject.toml, and a huge negative whole number from the
    environment (its bound's message formatted it as a float), are one line, exit 2."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pyproject.toml").write_text(f"[tool.migma-contract]\ntimeout = {_HUGE}\n")
    result = CliRunner().invoke(main, ["check", "--dry-run"])
    assert result.exit_code == 2 and "must be a finite number" in result.output, result.output
    (tmp_path / "pyproject.toml").write_text("")
    result = CliRunner().invoke(main, ["check", "--dry-run"], env={"MIGMA_CONTRACT_MAX_REQUESTS": "-" + _HUGE})
    assert result.exit_code == 2 and "MAX_REQUESTS: must be at least 1" in result.output, result.output
    result = CliRunner().invoke(main, ["check", "--dry-run", "--max-requests", _HUGE])  # a budget no float holds
    assert result.exit_code == 2 and "--max-requests: must be at most" in result.output, result.output


@pytest.mark.parametrize("section, key", [("limits", "request_timeout"), ("faults", "latency_ms"),
                                          ("limits", "sent_log"), ("limits", "max_connections"),
                                          ("limits", "request_log"), ("faults", "seed")])
def test_f3_a_mock_worlds_number_past_its_type_is_a_config_error(section, key):
    """Pass V4, F3 (f10/repro.sh): a mock world's `limits.request_timeout` (and the other numbers) of 401 digits
    raised an OverflowError where it was read or used; now the world's ConfigError, exit 2."""
    from migma_contract.mock._config import load_mock_config

    with pytest.raises(ConfigError, match=f"at {section}/{key}: must be"):
        load_mock_config({section: {key: int(_HUGE)}})
    with pytest.raises(ConfigError, match="rate_limit/per_seconds: must be a finite number"):
        load_mock_config({"faults": {"rate_limit": {"requests": 1, "per_seconds": int(_HUGE)}}})
    assert load_mock_config({"limits": {"max_depth": 5.0}}).max_depth == 5  # JSON Schema's integer 5.0 still reads


# --- F4: a repository file may not raise what a keyed run costs the user's target ----------------------------------


@pytest.mark.parametrize("line, flag", [("max-requests = 100000000", "--max-requests"), ("max-retries = 50", "--max-retries"),
                                        ("rate = 0.5", "--rate")])
def test_f4_a_repository_file_cannot_raise_the_budget_of_a_keyed_run(tmp_path, line, flag):
    """Pass V4, F4 (f3/budget.sh): `max-requests = 100000000` in a pull request's pyproject sent 7,502 requests with
    the user's key in 20 s; more retries or a crawling rate alike. Refused (exit 2) for a keyed run of a user-named
    target; the user's flag, no key, or an explicit trust take it."""
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(f"[tool.migma-contract]\n{line}\n")
    with pytest.raises(ConfigError, match=f"may not set {flag}"):
        resolve_options({}, environ=_KEYED, pyproject=pyproject)
    assert resolve_options({}, environ={}, pyproject=pyproject)
    assert resolve_options({}, environ={**_KEYED, "MIGMA_CONTRACT_TRUST_CONFIG_TARGET": "1"}, pyproject=pyproject)
    name, value = (part.strip() for part in line.split("=", 1))
    assert resolve_options({name.replace("-", "_"): float(value) if name == "rate" else int(value)},
                           environ=_KEYED, pyproject=tmp_path / "none.toml")


@pytest.mark.parametrize("source", ["typed", "environment", "pyproject"])
def test_f4_a_rate_that_can_never_send_is_a_usage_error(tmp_path, source):
    """Pass V4, F4: `rate = 1e-300` hung the run until the CI job's timeout; under 0.01 a second it is exit 2 from
    anywhere."""
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text("[tool.migma-contract]\nrate = 1e-300\n" if source == "pyproject" else "")
    given = {"rate": 1e-300} if source == "typed" else {}
    environ = {"MIGMA_CONTRACT_RATE": "1e-300"} if source == "environment" else {}
    with pytest.raises(ConfigError, match=r"must be at least 0\.01"):
        resolve_options(given, environ=environ, pyproject=pyproject)
    assert resolve_options({"rate": 0.01}, environ={}, pyproject=tmp_path / "none.toml").rate == 0.01


# --- F5: no text starts a Markdown block, wherever a writer puts it ---------------------------------------------------


@pytest.mark.parametrize("name", ["# PWNED heading.har", "1. ordered.har", "- nested.har", "> quote.har", "+ plus.har",
                                  "= setext.har", "   # indented.har"])
def test_f5_a_recording_name_starts_no_block_in_a_list_item(name):
    """Pass V4, F5 (f7/repro.sh): a traffic note `- # PWNED heading.har: ...` rendered an h1 inside the list item of
    summary.md ($GITHUB_STEP_SUMMARY); `- 1. `, `- - ` nested lists alike. Every Markdown text escapes what would
    start a block."""
    from migma_contract.reports._markdown import render_markdown
    from migma_contract.run.result import TrafficStats

    from .test_untrusted import make_result

    result = make_result("plain")
    result.traffic = TrafficStats(source="a.har", notes=[f"{name}: 1 exchange(s) also in a file judged before it"])
    markdown = render_markdown(result)
    item = next(line for line in markdown.splitlines() if "exchange(s) also in a file" in line)
    assert item.startswith("- ") and re.match(r"- (\\[#>+\-=]|1\\\.)", item), item
