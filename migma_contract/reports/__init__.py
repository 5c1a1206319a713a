"""Report writers over the one result model: JSON, JUnit XML, Markdown, HTML.

No writer recomputes anything: each renders `RunResult` as it is, escaping every value
for its own format. Files are written without following links: each is written to a
temporary file in the same directory and renamed over the destination, so a symlink
planted there is replaced, never written through. The temporary file is created with
mode 0o666, which the kernel masks with the process's umask (and a directory's default
ACL), as for any file the process creates: the umask is never read (reading it means
setting it, for every thread of the process at once). `$GITHUB_STEP_SUMMARY` is appended
to (it is an append target by design), but only when it is a regular file. No writer
waits without bound on anything another process holds: a FIFO is opened non-blocking,
and the lock of the processes' states (`processes`) is waited for a short bounded time.
`check_writable` says what would fail before the first request is sent.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Iterable
from pathlib import Path

from migma_contract.config.options import user_redactor
from migma_contract.core.exceptions import ConfigError
from migma_contract.core.flags import flag
from migma_contract.core.untrusted import clean_text
from migma_contract.reports._json import json_schema, load_result, render_json
from migma_contract.run.result import RunResult, render_baseline

__all__ = ["FILENAMES", "check_writable", "json_schema", "load_result", "render", "write_baseline", "write_file", "write_reports"]

FILENAMES = {"json": "conformance.json", "junit": "junit.xml", "md": "summary.md", "html": "index.html"}
STEP_SUMMARY = "GITHUB_STEP_SUMMARY"


def render(result: RunResult, fmt: str, secrets: Iterable[str | None] = ()) -> str:
    """`result` in format `fmt`; any of `secrets` still in it (a label, a path) is masked first, and every key of
    the user's environment (`user_secrets`: whichever way in made the result, and whatever it was told)."""
    return _render(user_redactor(also=secrets).data(result), fmt)


def _render(result: RunResult, fmt: str) -> str:
    """`render` of a result already redacted with (at least) what `render` masks."""
    if fmt == "json":
        return render_json(result)
    if fmt == "junit":
        from migma_contract.reports._junit import render_junit

        return render_junit(result)
    if fmt == "md":
        from migma_contract.reports._markdown import render_markdown

        return render_markdown(result)
    if fmt == "html":
        from migma_contract.reports._html import render_html

        return render_html(result)
    raise ConfigError(f"unknown report format {fmt!r}; choose from {', '.join(FILENAMES)}")


def check_writable(directory: Path, formats: tuple[str, ...] = tuple(FILENAMES), *, names: list[str] | None = None,
                   option: str | None = None, step_summary: bool | None = None) -> None:
    """Fail before the first request (ConfigError, exit 2) when the reports could not be written.

    The files checked are the `formats`' (or `names`); $GITHUB_STEP_SUMMARY, which the
    Markdown is appended to, is checked too when "md" is among the formats (or as told).
    """
    option = option or flag("--report-dir")
    shown = clean_text(directory)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"{option} {shown}: cannot create it: {exc.strerror or type(exc).__name__}") from None
    if not os.access(directory, os.W_OK | os.X_OK):
        raise ConfigError(f"{option} {shown}: not writable")
    for name in names if names is not None else [FILENAMES[fmt] for fmt in formats]:
        path = directory / name
        if path.is_dir() and not path.is_symlink():
            raise ConfigError(f"{option} {shown}: {name} is a directory; cannot write a report there")
    summary = os.environ.get(STEP_SUMMARY)
    if summary and (step_summary if step_summary is not None else "md" in formats):
        _check_step_summary(Path(summary))


def _check_step_summary(path: Path) -> None:
    shown = f"{STEP_SUMMARY}={clean_text(path)}"
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:
        if not os.access(path.parent, os.W_OK | os.X_OK):
            raise ConfigError(f"{shown}: its directory is not writable") from None
        return
    except OSError as exc:
        raise ConfigError(f"{shown}: {exc.strerror or type(exc).__name__}") from None
    if stat.S_ISLNK(mode):
        raise ConfigError(f"{shown}: a symbolic link; refused (the summary is appended to a regular file only)")
    if not stat.S_ISREG(mode):
        raise ConfigError(f"{shown}: not a regular file")
    if not os.access(path, os.W_OK):
        raise ConfigError(f"{shown}: not writable")


def write_file(path: Path, text: str) -> None:
    """Write `text` to `path` by renaming a temporary file over it: a symlink there is replaced, not followed."""
    if path.is_dir() and not path.is_symlink():
        raise ConfigError(f"{clean_text(path)}: is a directory; cannot write a report there")
    try:
        fd, temporary = _temporary(path)
    except OSError as exc:
        raise ConfigError(f"{clean_text(path)}: cannot write: {exc.strerror or type(exc).__name__}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
        os.replace(temporary, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        if isinstance(exc, OSError):
            raise ConfigError(f"{clean_text(path)}: cannot write: {exc.strerror or type(exc).__name__}") from None
        raise


_CREATE = (os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOFOLLOW", 0)
           | getattr(os, "O_BINARY", 0))


def _temporary(path: Path) -> tuple[int, str]:
    """A new file beside `path` (`.NAME.RANDOM.tmp`), open for writing: created with mode 0o666, which the kernel masks
    with the umask (and a default ACL) as for any file the process makes; never `os.umask`, which reads it only by
    setting it, process-wide (pass T2, F4: another thread's files made meanwhile came out world-writable)."""
    for _ in range(100):  # (a name taken: another, as mkstemp does)
        temporary = str(path.parent / f".{path.name}.{os.urandom(6).hex()}.tmp")
        try:
            return os.open(temporary, _CREATE, 0o666), temporary
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "no unused temporary name")


def _append_step_summary(text: str) -> None:
    """Append to $GITHUB_STEP_SUMMARY: never through a symlink, only to a regular file."""
    path = os.environ[STEP_SUMMARY]
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    try:
        fd = os.open(path, flags, 0o666)
    except OSError as exc:
        raise ConfigError(f"{STEP_SUMMARY}={clean_text(path)}: cannot append: {exc.strerror or type(exc).__name__}") from None
    with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ConfigError(f"{STEP_SUMMARY}={clean_text(path)}: not a regular file")
        handle.write(text)


def write_baseline(result: RunResult, path: str | Path, secrets: Iterable[str | None] = ()) -> Path:
    """Write a baseline (`--write-baseline`) accepting exactly the distinct failures of `result`."""
    target = Path(path)
    write_file(target, user_redactor(also=secrets).text(render_baseline(result)))
    return target


def write_reports(result: RunResult, directory: Path, formats: tuple[str, ...] = tuple(FILENAMES),
                  secrets: Iterable[str | None] = ()) -> list[Path]:
    """Write each format under `directory`; append the Markdown to $GITHUB_STEP_SUMMARY if set.

    `secrets` and every key of the user's environment (`user_secrets`) are masked in all of it."""
    check_writable(directory, formats, step_summary=False)
    result = user_redactor(also=secrets).data(result)  # once for every format (`render` would redact it again for each)
    written: list[Path] = []
    pages: dict[str, str] = {}
    for fmt in formats:
        path = directory / FILENAMES[fmt]
        pages[fmt] = _render(result, fmt)
        write_file(path, pages[fmt])
        written.append(path)
    if os.environ.get(STEP_SUMMARY) and "md" in formats:
        _append_step_summary(pages["md"] + "\n")
    return written
