"""Attack pass H on the repository's own configuration and the outputs: a hostile pyproject.toml, settings a
repository file may not choose for a run that carries the user's key, and text a CI log would act on."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from migma_contract.cli import main
from migma_contract.config.options import resolve_options
from migma_contract.core.exceptions import ConfigError


# --- M4(b): pyproject.toml through the bounded loader ------------------------------------------------------------


@pytest.mark.parametrize("text, said", [
    ("[tool.migma-contract]\nlevel = " + "[" * 200_000 + "]" * 200_000 + "\n", "nested more than"),  # RecursionError in tomllib
    ("[tool.migma-contract]\nx = " + "[" * 70 + "]" * 70 + "\n", "nested more than 64 levels"),
    ("# " + "x" * (2 << 20) + "\n", "larger than"),
    ("[tool.migma-contract]\nlevel = \n", "not valid TOML"),
    (b"[tool.migma-contract]\nlevel = '\xff'\n", "not UTF-8"),
], ids=["nested-200k", "nested-70", "2-MiB", "malformed", "not-utf8"])
def test_a_hostile_pyproject_is_one_config_error(tmp_path, monkeypatch, text, said):
    """M4(b): a pyproject.toml of 200,000 nested arrays crashed `check --dry-run` with a RecursionError (internal
    error, exit 3), and any size was read whole. Each is one line and exit 2 now, from the one bounded loader."""
    path = tmp_path / "pyproject.toml"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    with pytest.raises(ConfigError, match=said):
        resolve_options({}, environ={}, pyproject=path)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["check", "--dry-run"])
    assert result.exit_code == 2, result.output
    assert said in result.output and "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1
