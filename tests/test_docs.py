"""The README and the docs site run: every code example is extracted from its fenced block and
executed, and the site builds with `mkdocs build --strict` (issue 22).

How a block runs, by its language:

- `python`: a module with `def test_...` is a test file, run by pytest (every test must pass,
  strict consumer mode's warnings as errors); any other block runs as a script;
- `sh` / `bash`: the block runs in bash (`set -e`) in a scratch folder that has the repository's
  `spec/`, with the package's commands on PATH. The reference mock the docs
  start with `migma-contract mock ... &` is served by the suite instead, on a free loopback
  port that stands in for `http://127.0.0.1:4010`;
- `console`: the lines after `$ ` are the commands, run the same way (the rest is output);
- `toml`: a pyproject.toml the check reads without an error or a warning.

A block that cannot run here (a live target, a server that serves until Ctrl-C, a faulty
server the reader does not have) is marked on the line before its fence with
`<!-- not-run: the reason -->`; `<!-- exit: N -->` expects exit status N instead of 0.
Output is fenced as `text`.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest

from migma_contract.config.options import resolve_options
from migma_contract.mock import create_app
from migma_contract.wire.serve import serve_in_thread

pytestmark = pytest.mark.e2e  # the examples and mkdocs run as processes, against a served mock

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
RUN = {"python", "sh", "bash", "console", "toml"}
SHOWN = {"text", "yaml", "json"}  # shown, not run: output, a file's content
MOCK_URL = "http://127.0.0.1:4010"
BIN = Path(sys.executable).parent


@dataclass(frozen=True)
class Block:
    path: Path
    line: int
    lang: str
    code: str
    marker: str | None  # "not-run" or "exit"
    note: str

    @property
    def id(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def blocks(path: Path) -> list[Block]:
    found: list[Block] = []
    lines = path.read_text(encoding="utf-8").split("\n")
    index = 0
    while index < len(lines):
        opened = re.fullmatch(r"```(\S*)\s*", lines[index])
        if opened is None:
            index += 1
            continue
        end = next(i for i in range(index + 1, len(lines)) if lines[i].startswith("```"))
        marked = re.fullmatch(r"<!-- (not-run|exit): (.+?) -->", lines[index - 1]) if index else None
        found.append(Block(path, index + 1, opened.group(1), "\n".join(lines[index + 1:end]) + "\n",
                           marked.group(1) if marked else None, marked.group(2) if marked else ""))
        index = end + 1
    return found


ALL = [block for path in DOCS for block in blocks(path)]
RUNNABLE = [block for block in ALL if block.lang in RUN and block.marker != "not-run"]


def test_the_docs_have_examples_and_every_block_says_its_language():
    assert len(RUNNABLE) >= 12, [b.id for b in RUNNABLE]
    unknown = [f"{b.id} ({b.lang or 'no language'})" for b in ALL if b.lang not in RUN | SHOWN]
    assert unknown == [], "fence every block with its language (output as `text`): " + ", ".join(unknown)


def test_commands_are_not_hidden_in_output():
    """A transcript with `$ command` lines is a `console` block: it runs, or says why it does not."""
    hidden = [b.id for b in ALL if b.lang in SHOWN and re.search(r"^\$ ", b.code, flags=re.M)]
    assert hidden == []


def test_a_block_that_does_not_run_says_why():
    for block in ALL:
        if block.marker == "not-run":
            assert block.lang in RUN and len(block.note) >= 15, f"{block.id}: say why it does not run"


@pytest.fixture(scope="module")
def served_mock():
    with serve_in_thread(create_app(), "127.0.0.1", 0) as url:
        yield url


@pytest.fixture
def scratch(tmp_path: Path) -> Path:
    (tmp_path / "spec").symlink_to(ROOT / "spec")
    return tmp_path


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MIGMA_", "PYTEST_", "COV_"))}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env["PYTEST_ADDOPTS"] = "-p no:cacheprovider"  # no .pytest_cache left in the scratch folder
    env["HYPOTHESIS_STORAGE_DIRECTORY"] = str(Path(os.environ.get("TMPDIR", "/tmp")) / "migma-docs-hypothesis")
    return env


def _shell(block: Block, url: str) -> str:
    if block.lang == "console":
        commands, keep = [], False
        for line in block.code.split("\n"):
            if line.startswith("$ "):
                commands.append(line[2:])
                keep = line.endswith("\\")
            elif keep:
                commands.append(line)
                keep = line.endswith("\\")
        code = "\n".join(commands)
    else:
        code = block.code
    # the suite serves the mock: a line that starts it in the background is the suite's job
    code = re.sub(r"^migma-contract mock\b[^\n]*&[^\n]*$", ": the suite serves the mock", code, flags=re.M)
    return code.replace(MOCK_URL, url)


@pytest.mark.e2e
@pytest.mark.parametrize("block", RUNNABLE, ids=[b.id for b in RUNNABLE])
def test_every_example_runs(block: Block, served_mock: str, scratch: Path):
    expected = int(block.note) if block.marker == "exit" else 0
    if block.lang == "toml":
        (scratch / "pyproject.toml").write_text(block.code, encoding="utf-8")
        tomllib.loads(block.code)
        warned: list[str] = []
        resolve_options({}, environ={}, pyproject=scratch / "pyproject.toml", warn=warned.append)
        assert warned == []
        return
    if block.lang == "python" and re.search(r"^(async )?def test_", block.code, flags=re.M):
        (scratch / "test_doc_example.py").write_text(block.code, encoding="utf-8")
        command = [sys.executable, "-m", "pytest", "-q", "-p", "no:xdist",
                   "-W", "error::migma_contract.testing.MigmaContractWarning", "test_doc_example.py"]
    elif block.lang == "python":
        command = [sys.executable, "-c", block.code]
    else:
        script = ("set -eo pipefail\n" if block.marker != "exit" else "") + _shell(block, served_mock)
        command = ["bash", "-c", script]
    done = subprocess.run(command, cwd=scratch, env=_env(), capture_output=True, text=True, timeout=300)
    shown = f"{block.id} exited {done.returncode}\n--- stdout\n{done.stdout[-3000:]}\n--- stderr\n{done.stderr[-3000:]}"
    assert done.returncode == expected, shown
    if block.lang == "python" and "def test_" in block.code:
        assert re.search(r"\d+ passed", done.stdout) and "failed" not in done.stdout and "error" not in done.stdout, shown


@pytest.mark.e2e
def test_mkdocs_builds_the_site_strictly(tmp_path):
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    pages = {p.relative_to(tmp_path / "site").as_posix() for p in (tmp_path / "site").glob("**/index.html")}
    for page in sorted((ROOT / "docs").glob("*.md")):
        expected = "index.html" if page.stem == "index" else f"{page.stem}/index.html"
        assert expected in pages, f"{page.name} is not built"


def test_the_readme_is_short_and_has_the_ways_in():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 220
    for heading in ("## Quickstart", "## Three ways in", "## The consumer route", "## Exit codes"):
        assert heading in text, heading
    assert "@pytest.mark.anyio" in text and "async def test_" in text
    assert "make check" in text and "make test" in text
