"""`migma-contract lint` and `migma-contract rules` as a user runs them."""

import json
import shutil
import subprocess
import sys

import pytest
import yaml
from click.testing import CliRunner

from migma_contract import RULES
from migma_contract.cli import main
from migma_contract.document.spec import bundled_spec_path


def run(*args):
    return CliRunner().invoke(main, list(args))


def test_lint_bundled_reports_the_nullable_repair_and_exits_0():
    result = run("lint")
    assert result.exit_code == 0, result.output
    assert "document usable" in result.output
    assert "nullable" in result.output and "['string', 'null']" in result.output


def test_lint_exit_codes(tmp_path):
    unreadable = tmp_path / "bad.yaml"
    unreadable.write_text("openapi: 3.1.0\ninfo: {title: x\n")
    result = run("lint", str(unreadable))
    assert result.exit_code == 2 and "not valid YAML" in result.output and "Traceback" not in result.output

    document = yaml.safe_load(bundled_spec_path().read_text())
    del document["paths"]
    invalid = tmp_path / "nopaths.yaml"
    invalid.write_text(yaml.safe_dump(document))
    result = run("lint", str(invalid))
    assert result.exit_code == 1 and "no 'paths'" in result.output

    assert run("lint", str(tmp_path / "missing.yaml")).exit_code == 2


def test_rules_json_lists_every_id_with_level():
    listed = json.loads(run("rules", "--json").output)
    assert [(r["id"], r["level"]) for r in listed] == [(r.id, r.level.value) for r in RULES]
    schema_only = json.loads(run("rules", "--json", "--level", "schema").output)
    assert {r["level"] for r in schema_only} == {"schema"}


def test_rules_text_and_help():
    result = run("rules", "--level", "documented")
    assert "batch-needs-recipientId" in result.output and "result-provider" not in result.output
    for command in ([], ["lint"], ["rules"]):
        assert run(*command, "--help").exit_code == 0
    assert run("rules", "--level", "loose").exit_code == 2


@pytest.mark.e2e
def test_console_script_is_installed():
    exe = shutil.which("migma-contract") or f"{sys.prefix}/bin/migma-contract"
    done = subprocess.run([exe, "lint"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "repairs applied (2)" in done.stdout
