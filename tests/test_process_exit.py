"""The console script ends its process once its output is flushed, skipping the interpreter's teardown.

Tearing the interpreter down (collecting Hypothesis, Schemathesis, the document, ...) was
18% of the default check's time and does nothing a user sees. `migma_contract.cli:run` (the
console script and `python -m migma_contract.cli`) runs the exit handlers, flushes stdout and
stderr and ends the process with the command's exit code; `main` called in-process (tests,
CliRunner, embedding) still returns or raises SystemExit.
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner

from migma_contract.cli import main

pytestmark = pytest.mark.e2e  # the command line run in subprocesses

ROOT = Path(__file__).resolve().parent.parent

# A process that runs a command through `run`, with an object only the interpreter's teardown
# would finalise, and an exit handler that must still run (logging's flush is one).
PROBE = """
import atexit, sys, threading
from migma_contract import cli

class TornDown:
    def __del__(self):
        sys.stderr.write("TEARDOWN RAN\\n")

cli._probe = TornDown()  # held by a module: finalised only when the interpreter is torn down
atexit.register(lambda: sys.stdout.write("ATEXIT RAN\\n"))
if "--thread" in sys.argv:  # a non-daemon thread still working: the normal shutdown must wait for it
    sys.argv.remove("--thread")
    threading.Thread(target=lambda: (threading.main_thread().join(), print("THREAD FINISHED", flush=True))).start()
cli.run(sys.argv[1:])
"""


def _probe(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True, cwd=ROOT, timeout=300)


def test_the_console_script_is_run() -> None:
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["migma-contract"] == "migma_contract.cli:run"


@pytest.mark.e2e
def test_output_flushed_exit_handlers_run_teardown_skipped() -> None:
    done = _probe("rules", "--json")
    in_process = CliRunner().invoke(main, ["rules", "--json"])
    assert done.returncode == 0, done.stderr
    assert done.stdout == in_process.output + "ATEXIT RAN\n"  # every byte out, and the exit handlers after
    assert "TEARDOWN RAN" not in done.stderr


@pytest.mark.parametrize(("args", "code", "text"), [
    (["rules", "--level", "nope"], 2, "migma-contract: error:"),  # a usage error: one line, exit 2
    (["lint", "/nonexistent/openapi.yaml"], 2, "NOT USABLE"),  # a command's own sys.exit
])
@pytest.mark.e2e
def test_the_exit_code_is_kept(args: list[str], code: int, text: str) -> None:
    done = _probe(*args)
    assert done.returncode == code, done.stdout + done.stderr
    assert text in done.stdout + done.stderr
    assert "TEARDOWN RAN" not in done.stderr and "ATEXIT RAN" in done.stdout


@pytest.mark.e2e
def test_a_running_thread_is_waited_for() -> None:
    done = _probe("--thread", "rules")
    assert done.returncode == 0, done.stderr
    assert "THREAD FINISHED" in done.stdout  # the normal shutdown: it joins non-daemon threads


def test_main_in_process_is_not_ended(capsys: pytest.CaptureFixture[str]) -> None:
    main(["rules"])  # returns (this process goes on)
    with pytest.raises(SystemExit) as raised:
        main(["rules", "--level", "nope"])
    assert raised.value.code == 2
    assert "auth-required" in capsys.readouterr().out


@pytest.mark.e2e
def test_httpx_comes_without_its_command_line(tmp_path: Path) -> None:
    """httpx imports its CLI (Rich's progress bars, Pygments) when those are installed: not in our process."""
    code = ("import atexit, sys\nfrom migma_contract import cli\n"
            "atexit.register(lambda: print('LOADED', sorted(m for m in ('httpx', 'httpx._main', 'pygments') if sys.modules.get(m))))\n"
            "cli.run(sys.argv[1:])")
    done = subprocess.run([sys.executable, "-c", code, "check", "--plan", "minimal", "--report-dir", str(tmp_path), "--format", "json"],
                          capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "LOADED ['httpx']" in done.stdout


def test_the_command_collects_young_objects_less_often_and_the_library_keeps_pythons_setting():
    # The command's process keeps what it imports until it ends: its collector walks them less often
    # (`run` raises the young generation's threshold). Importing the module (tests, CliRunner, embedding,
    # the pytest plugin's process) leaves Python's thresholds as they were.
    script = ("import gc, sys\n"
              "before = gc.get_threshold()\n"
              "from migma_contract import cli\n"
              "imported = gc.get_threshold()\n"
              "cli.main = lambda args: print(before, imported, gc.get_threshold(), flush=True)\n"
              "cli.run([])\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "(700, 10, 10) (700, 10, 10) (50000, 20, 20)"
