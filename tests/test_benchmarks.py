"""The benchmarks cannot rot: every script under benchmarks/ is imported and run for one tiny round.

`benchmarks/run.py --smoke` runs every row of `make bench` once at the smallest size (the
figures mean nothing; no time is asserted): what is checked is that each script still
imports, each row is produced, and each baseline still did its work (the benchmarks assert
that themselves, and exit non-zero when one did not). The helpers are exercised by the
benchmarks that start them; `load.py` (used only where wrk is not installed) and
`bare_app.py` are also run directly.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e  # the benchmarks run as scripts, in subprocesses

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "benchmarks"
SCRIPTS = sorted(path.name for path in BENCH.glob("*.py"))
SECTIONS = ("validation", "mock", "check", "pytest", "traffic")

# Which test of this module runs each script for one tiny round.
RUN_BY = {
    "run.py": "test_run_smoke",
    "traffic.py": "test_traffic_smoke (memory) and test_run_smoke[traffic]",
    "serve_traffic.py": "test_run_smoke[traffic]",
    "recording_mock.py": "test_run_smoke[check]",
    "replay.py": "test_run_smoke[check]",
    "explored_case.py": "test_run_smoke[check]",
    "peak_rss.py": "test_run_smoke[check] (every Python process of the benchmarks runs under it)",
    "bare_app.py": "test_run_smoke[mock], test_load_against_the_bare_app",
    "load.py": "test_load_against_the_bare_app (and the mock and traffic sections without wrk)",
    "mock_memory.py": "test_mock_memory_smoke",
}


def _bench(*args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=ROOT, timeout=timeout)


def test_every_script_is_run_by_the_suite() -> None:
    assert set(SCRIPTS) == set(RUN_BY), "a script under benchmarks/ without a smoke run here (or a stale entry)"


@pytest.mark.parametrize("script", SCRIPTS)
def test_every_script_imports(script: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(BENCH))  # as when run: the script's folder first (traffic.py imports run)
    spec = importlib.util.spec_from_file_location(f"_bench_{Path(script).stem}", BENCH / script)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)  # as an imported module is (dataclasses look it up)
    spec.loader.exec_module(module)  # each script's work is under `if __name__ == "__main__"`
    assert module.__doc__, f"{script} says what it measures"


@pytest.mark.parametrize("section", SECTIONS)
@pytest.mark.e2e  # servers and whole checks, one tiny round; the timeout bounds a hang on a busy machine, no time is asserted
@pytest.mark.timeout(900)
def test_run_smoke(section: str, tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    done = _bench(str(BENCH / "run.py"), "--smoke", "--only", section, "--json", str(out))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    results = json.loads(out.read_text())
    rows = [row for s in results["sections"] for row in s["rows"]]
    assert rows and all(row["values"] for row in rows)
    assert {"CPU speed check at start (ms, lower is faster)", "CPU speed check at the end"} <= set(results["machine"])
    assert "CPU speed check at the end" in done.stdout
    # every row with a target says what it compares; ratios and the target are printed
    targets = [row for row in rows if row["target"]]
    assert targets and all(" vs " in row["label"] or "added" in row["label"] or "marginal" in row["label"] for row in targets)


def test_the_check_rows_compare_like_with_like(tmp_path: Path) -> None:
    """Cheap: the rows' definitions, read from the smoke scale, not another run."""
    sys.path.insert(0, str(BENCH))
    try:
        import run
    finally:
        sys.path.remove(str(BENCH))
    assert "--no-explore" not in run.FIXTURES and "--from" in run.FIXTURES  # the closed mock, checked with its fixtures
    for scale in run.SCALES.values():
        small, large = scale.marginal
        assert small < large  # both budgets above the plan's ~130 requests in make bench: both explore
    assert run.SCALES["full"].marginal[0] >= 1000  # Schemathesis takes its share from 1000 requests left: in both


@pytest.mark.e2e
@pytest.mark.timeout(900)
def test_traffic_smoke(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    done = _bench(str(BENCH / "traffic.py"), "--smoke", "--only", "memory", "--har-mb", "0.2", "--json", str(out))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    rows = {row["label"]: row for s in json.loads(out.read_text())["sections"] for row in s["rows"]}
    assert rows["judge, large HAR: peak RSS"]["values"][0] > 0


@pytest.mark.e2e
@pytest.mark.timeout(900)
def test_load_against_the_bare_app() -> None:
    sys.path.insert(0, str(BENCH))
    try:
        import run
    finally:
        sys.path.remove(str(BENCH))
    server = run.Server(sys.executable, str(BENCH / "bare_app.py"))
    try:
        body = Path(run.tempfile.mkdtemp()) / "body.json"
        body.write_text(json.dumps(run.VALID))
        done = _bench(str(BENCH / "load.py"), f"{server.url}/v1/sending", "--connections", "2", "--seconds", "0.2",
                      "--body-file", str(body), "--header", "Authorization: Bearer x")
    finally:
        server.stop()
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout)
    assert result["requests"] > 0 and result["non_200"] == 0


@pytest.mark.e2e
@pytest.mark.timeout(900)
def test_mock_memory_smoke() -> None:
    done = _bench(str(BENCH / "mock_memory.py"), "--sends", "2", "--threads", "1")
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "OK" in done.stdout
