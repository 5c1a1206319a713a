"""Report writers over the one result model: JSON, JUnit XML, Markdown, HTML.

No writer recomputes anything: each renders `RunResult` as it is.
"""

from __future__ import annotations

import os
from pathlib import Path

from .._exceptions import ConfigError
from .._result import RunResult
from ._json import json_schema, load_result, render_json

__all__ = ["FILENAMES", "check_writable", "json_schema", "load_result", "render", "write_reports"]

FILENAMES = {"json": "conformance.json", "junit": "junit.xml", "md": "summary.md", "html": "index.html"}


def render(result: RunResult, fmt: str) -> str:
    if fmt == "json":
        return render_json(result)
    if fmt == "junit":
        from ._junit import render_junit

        return render_junit(result)
    if fmt == "md":
        from ._markdown import render_markdown

        return render_markdown(result)
    if fmt == "html":
        from ._html import render_html

        return render_html(result)
    raise ConfigError(f"unknown report format {fmt!r}; choose from {', '.join(FILENAMES)}")


def check_writable(directory: Path, formats: tuple[str, ...] = tuple(FILENAMES)) -> None:
    """Fail before the first request (ConfigError, exit 2) when the reports could not be written."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"--report-dir {directory}: cannot create it: {exc.strerror or exc}") from None
    if not os.access(directory, os.W_OK | os.X_OK):
        raise ConfigError(f"--report-dir {directory}: not writable")
    for fmt in formats:
        path = directory / FILENAMES[fmt]
        if path.is_dir():
            raise ConfigError(f"--report-dir {directory}: {path.name} is a directory; cannot write the {fmt} report there")
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary and "md" in formats:
        target = Path(summary)
        if target.is_dir() or (target.exists() and not os.access(target, os.W_OK)) or not os.access(target.parent, os.W_OK):
            raise ConfigError(f"GITHUB_STEP_SUMMARY={summary}: not a writable file")


def write_reports(result: RunResult, directory: Path, formats: tuple[str, ...] = tuple(FILENAMES)) -> list[Path]:
    """Write each format under `directory`; append the Markdown to $GITHUB_STEP_SUMMARY if set."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"--report-dir {directory}: cannot create it: {exc.strerror or exc}") from None
    written = []
    for fmt in formats:
        path = directory / FILENAMES[fmt]
        path.write_text(render(result, fmt), encoding="utf-8")
        written.append(path)
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary and "md" in formats:
        with open(summary, "a", encoding="utf-8") as handle:
            handle.write(render(result, "md") + "\n")
    return written
