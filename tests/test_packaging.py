"""The package as users receive it (issue 22): the sdist carries what the docs point to, a
misspelt settings table or a Windows path on POSIX is warned of, each command's --help is
true for that command, and a curl line from recorded traffic is a request a user can paste."""

from __future__ import annotations

import json
import os
import re
import tarfile
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from migma_contract.cli import main
from migma_contract.config.options import resolve_options

from .test_recordings import KEY, TAG_WITHOUT_ID, har, har_entry

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parent.parent
POSIX = pytest.mark.skipif(os.name == "nt", reason="a Windows path is a path on Windows")


def _run(args: list[str], cwd: Path, env: dict[str, str] | None = None):
    old = Path.cwd()
    os.chdir(cwd)
    try:
        return CliRunner().invoke(main, args, env=env, catch_exceptions=False)
    finally:
        os.chdir(old)


# --- settings that would be silently ignored ---------------------------------------------------------------


@pytest.mark.parametrize("table", ["migma_contract", "migma-contracts", "migma_contract_check", "Migma-Contract"])
def test_a_misspelt_pyproject_table_is_warned_of(tmp_path, table):
    (tmp_path / "pyproject.toml").write_text(f'[tool.{table}]\nlevel = "strict"\n\n[tool.ruff]\nline-length = 100\n')
    warned: list[str] = []
    resolve_options({}, environ={}, pyproject=tmp_path / "pyproject.toml", warn=warned.append)
    assert warned == [f"{tmp_path / 'pyproject.toml'}: [tool.{table}] is not read; did you mean [tool.migma-contract]?"]
    result = _run(["check", "--dry-run"], tmp_path)
    assert result.exit_code == 0 and f"warning: {tmp_path / 'pyproject.toml'}: [tool.{table}] is not read" in result.stderr


def test_the_right_table_and_other_tools_are_not_warned_of(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[tool.migma-contract]\nlevel = "strict"\n\n[tool.migma-other]\nx = 1\n'
                                             '[tool.ruff]\nline-length = 100\n')
    warned: list[str] = []
    options = resolve_options({}, environ={}, pyproject=tmp_path / "pyproject.toml", warn=warned.append)
    assert options.level == "strict" and warned == []


@POSIX
@pytest.mark.parametrize("value", ["C:\\reports\\mc", "D:/reports", "reports\\mc"])
def test_a_windows_path_on_posix_is_warned_of(tmp_path, value):
    warned: list[str] = []
    resolve_options({"report_dir": value}, environ={}, pyproject=tmp_path / "none.toml", warn=warned.append)
    assert len(warned) == 1 and warned[0].startswith(f"--report-dir: {value!r} looks like a Windows path")
    warned.clear()
    resolve_options({}, environ={"MIGMA_CONTRACT_SPEC": value}, pyproject=tmp_path / "none.toml", warn=warned.append)
    assert len(warned) == 1 and warned[0].startswith(f"MIGMA_CONTRACT_SPEC: {value!r} looks like a Windows path")
    result = _run(["check", "--dry-run", "--report-dir", value], tmp_path)
    assert result.exit_code == 0 and "looks like a Windows path" in result.stderr


@POSIX
def test_posix_paths_are_not_warned_of(tmp_path):
    warned: list[str] = []
    resolve_options({"report_dir": "out/reports", "baseline": "/tmp/known.json"}, environ={},
                    pyproject=tmp_path / "none.toml", warn=warned.append)
    assert warned == []


def test_traffic_commands_warn_too(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[tool.migma_contract]\nlevel = "strict"\n')
    path = tmp_path / "t.har"
    path.write_text(json.dumps(har([har_entry("POST", "https://staging.example.test/v1/sending", TAG_WITHOUT_ID, 200,
                                              {"success": True})])))
    result = _run(["judge", str(path), "--report-dir", str(tmp_path / "out")], tmp_path)
    assert "[tool.migma_contract] is not read; did you mean [tool.migma-contract]?" in result.stderr


# --- --help is true for each command ----------------------------------------------------------------------------


def _commands() -> dict[str, click.Command]:
    return dict(main.commands)


# flags of another tool a help text names on purpose, and the words that say whose they are (a flag of another
# command of the toolkit is named with it: `check --with-vendor`)
ELSEWHERE = {"spec": {"--url": "schemathesis run"}}


@pytest.mark.parametrize("name", sorted(_commands()))
def test_every_flag_a_help_text_names_is_an_option_of_that_command(name):
    command = _commands()[name]
    text = " ".join([command.help or "", *(getattr(param, "help", None) or "" for param in command.params)])
    own = {opt for param in command.params for opt in [*param.opts, *param.secondary_opts]} | {"--help"}
    elsewhere = ELSEWHERE.get(name, {})
    for flag, owner in elsewhere.items():
        assert owner in text, (flag, owner)
    commands = "|".join(_commands())
    text = re.sub(rf"\b(?:{commands}) --[a-z][a-z-]*", "", text)  # another command's flag, named with it
    named = set(re.findall(r"(?<![\w-])--[a-z][a-z-]*", text)) - set(elsewhere)
    assert named - own == set(), f"migma-contract {name} --help names flags it does not have: {sorted(named - own)}"


def test_the_proxys_allow_production_talks_about_upstream():
    ctx = click.Context(_commands()["proxy"], info_name="proxy")
    text = " ".join(_commands()["proxy"].get_help(ctx).split())
    assert "--allow-production Allow --upstream" in text


# --- curl lines of recorded traffic ------------------------------------------------------------------------------


def test_curl_lines_from_recorded_traffic_drop_transport_headers(tmp_path):
    entry = har_entry("POST", "https://staging.example.test/v1/sending", TAG_WITHOUT_ID, 200,
                      {"success": True, "data": {"id": "m", "provider": "migma", "status": "queued", "sentCount": 1},
                       "error": None})
    entry["request"]["headers"] += [{"name": name, "value": value} for name, value in [
        ("Accept-Encoding", "gzip, deflate"), ("Content-Length", "123"), ("Host", "staging.example.test"),
        ("Connection", "keep-alive"), ("Transfer-Encoding", "chunked"), ("Keep-Alive", "timeout=5"), ("TE", "trailers"),
        (":authority", "staging.example.test"), ("X-Trace", "t-9")]]
    path = tmp_path / "t.har"
    path.write_text(json.dumps(har([entry])))
    result = _run(["judge", str(path), "--report-dir", str(tmp_path / "out"), "--format", "json"], tmp_path)
    assert result.exit_code == 1, result.output
    findings = json.loads((tmp_path / "out" / "conformance.json").read_text())["findings"]
    curl = findings[0]["request"]["curl"]
    for dropped in ("accept-encoding", "content-length", "host:", "connection", "transfer-encoding", "keep-alive", "te:",
                    ":authority"):
        assert dropped not in curl.lower(), (dropped, curl)
    assert "'x-trace: t-9'" in curl.lower() and "'content-type: application/json'" in curl.lower()
    assert "'authorization: Bearer '\"$MIGMA_CONTRACT_API_KEY\"" in curl and KEY not in curl


# --- the sdist carries what the docs point to ------------------------------------------------------------------


def _docs() -> list[Path]:
    return [ROOT / "README.md", ROOT / "ARCHITECTURE.md", *sorted((ROOT / "docs").glob("**/*.md"))]


def _pointed_to() -> set[str]:
    """Repository paths the docs name: `examples/consumer/`, `benchmarks/run.py`, [links](docs/x.md)..."""
    found: set[str] = set()
    for path in _docs():
        text = path.read_text(encoding="utf-8")
        for match in re.finditer(r"(?<![\w/.-])((?:examples|benchmarks|spec|docs|tests|migma_contract)/[\w./-]*[\w/])", text):
            candidate = match.group(1)
            where = (path.parent / candidate) if path.parent != ROOT and (path.parent / candidate).exists() else ROOT / candidate
            if where.exists():
                found.add(str(where.relative_to(ROOT)))
    return found


@pytest.fixture(scope="module")
def sdist_members(tmp_path_factory) -> set[str]:
    from hatchling.builders.sdist import SdistBuilder

    out = tmp_path_factory.mktemp("sdist")
    [built] = list(SdistBuilder(str(ROOT)).build(directory=str(out), versions=["standard"]))
    with tarfile.open(built) as archive:
        names = archive.getnames()
    top = names[0].split("/")[0]
    return {name.removeprefix(top + "/") for name in names}


def _files(relative: str) -> list[str]:
    """The files at a repository path: itself, or every file under a folder (caches left out)."""
    path = ROOT / relative
    if path.is_file():
        return [relative]
    return sorted(str(f.relative_to(ROOT)) for f in path.rglob("*")
                  if f.is_file() and "__pycache__" not in f.parts and not any(part.startswith(".") for part in f.relative_to(path).parts))


def test_the_sdist_carries_every_path_the_docs_point_to(sdist_members):
    pointed = _pointed_to()
    assert "examples/consumer" in {p.rstrip("/") for p in pointed}
    missing = sorted({f for p in pointed for f in _files(p)} - sdist_members)
    assert missing == [], f"the docs point to files the sdist does not carry: {missing}"
    for needed in ("README.md", "mkdocs.yml", "examples/consumer/test_mailer.py", "examples/consumer/mailer.py"):
        assert needed in sdist_members



def test_pytest_help_spells_pytests_flags(pytester):
    text = " ".join(pytester.runpytest("--help").stdout.str().split())
    assert "Allow --migma-base-url to be the document's production server" in text
    assert "(with --migma-with-vendor)" in text and "(with --with-vendor)" not in text


def test_the_pytest_plugin_warns_of_a_misspelt_table(pytester):
    pytester.makepyprojecttoml('[tool.migma_contract]\nlevel = "strict"\n')
    result = pytester.runpytest("--migma-conformance", "--collect-only", "-q", "-p", "no:cacheprovider")
    assert "[tool.migma_contract] is not read; did you mean [tool.migma-contract]?" in result.stdout.str()
