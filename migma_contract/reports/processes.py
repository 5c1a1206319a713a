"""One report directory written by several processes (`ContractMiddleware` under `uvicorn --workers N`, gunicorn's
workers, pytest-xdist): every process's exchanges count in the reports the directory ends with.

Each process keeps its own state (`TrafficJudge.state`: tallies, findings, notes, counts; redacted as its reports
are) in `<report_dir>/.migma-contract/state-<pid>.json`, written atomically (a temporary file renamed over it)
whenever it writes its reports; the reports it writes are the merge (`TrafficJudge.merged`) of the states of every
process of its run, taken under an exclusive lock on `.migma-contract/lock` (`fcntl.flock`), so whichever process
writes last writes the union. Where no other process's state is of its run, the reports are its own result, as a
single process's always were.

A run is the processes that served at the same time: a state is of this process's run if it was written since this
process began serving (that process was still alive then), or if a state of the run merged it when it was written
(so a worker that ended before a replacement started still counts, through a sibling that outlived both). A state
written before this process began, and merged by none of its run, is of an earlier run: never merged (a server run
after the last one ended starts a new report; so does a `--reload` restart, whose old process ended before the new
one began: new code). Times are the machine's wall clock. A process killed before it wrote its state is in no
report (nothing of it is on disk). Without `fcntl` (Windows) nothing is locked: two processes that end at the same
moment may each write a report missing the other's part (both states stay in the directory: the next writer of the
run merges them). The states of earlier runs are kept, never merged, up to 64; the oldest beyond are removed.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from migma_contract.core.exceptions import ConfigError
from migma_contract.core.untrusted import clean_text
from migma_contract.reports import check_writable, write_file, write_reports
from migma_contract.traffic.tally import TrafficJudge

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no lock (see the module's docstring)
    fcntl = None  # type: ignore[assignment]

__all__ = ["STATE_DIR", "write_shared"]

STATE_DIR = ".migma-contract"
_KEPT_STALE = 64  # states of earlier runs kept (never merged); the oldest beyond are removed
_MAX_STATE_BYTES = 64 << 20  # a state larger than this is not read (no process writes one near it)


@contextlib.contextmanager
def _locked(place: Path) -> Iterator[None]:
    """The directory's lock, held exclusively (blocking) while the run is read or the reports are written."""
    if place.is_symlink():
        raise ConfigError(f"{clean_text(place)}: a symbolic link; refused (the processes' states are kept in a folder)")
    try:
        place.mkdir(exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"{clean_text(place)}: cannot create it: {exc.strerror or type(exc).__name__}") from None
    if fcntl is None:  # pragma: no cover
        yield
        return
    try:
        fd = os.open(place / "lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | getattr(os, "O_NOFOLLOW", 0), 0o666)
    except OSError as exc:
        raise ConfigError(f"{clean_text(place)}/lock: cannot open it: {exc.strerror or type(exc).__name__}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # (releases the lock)


def _read_json(path: Path) -> Any:
    with path.open("rb") as handle:
        data = handle.read(_MAX_STATE_BYTES + 1)
    if len(data) > _MAX_STATE_BYTES:
        raise ValueError("too large")
    return json.loads(data)


def write_shared(judge: TrafficJudge, began: float, directory: Path, formats: tuple[str, ...]) -> list[Path]:
    """Write this process's state, then the reports of every process of its run (this process began serving at
    `began`, a `time.time()`) to `directory`, under the directory's lock."""
    check_writable(directory, formats, step_summary=False)
    place = directory / STATE_DIR
    state = judge.state()
    mine = f"state-{os.getpid()}.json"
    with _locked(place):
        others: dict[str, dict[str, Any]] = {}
        notes: list[str] = []
        for path in sorted(place.glob("state-*.json")):
            if path.name == mine:
                continue
            try:
                data = _read_json(path)
                if not isinstance(data, dict) or not isinstance(data.get("state"), dict):
                    raise ValueError("not a state")
                others[str(data["id"])] = data
            except (OSError, ValueError, KeyError, TypeError) as exc:
                with contextlib.suppress(OSError):
                    if path.stat().st_mtime < began:  # (of an earlier run: never merged)
                        continue
                notes.append(f"the state {path.name} of another process could not be read "
                             f"({type(exc).__name__}): its exchanges may be missing from this report")
        run = {key for key, data in others.items() if _float(data.get("written")) >= began}
        while True:  # and whatever a state of the run merged when it was written
            more = {str(merged) for key in run for merged in _listed(others[key].get("with")) if str(merged) in others} - run
            if not more:
                break
            run |= more
        own = {"id": f"{os.getpid()}-{began!r}", "pid": os.getpid(), "began": began, "written": time.time(),
               "with": sorted(run), "state": state}
        write_file(place / mine, json.dumps(own))
        _forget(place, sorted((_float(data.get("written")), key) for key, data in others.items() if key not in run))
        if not run and not notes:
            return write_reports(judge.result(), directory, formats)  # one process: its own result, as always
        states = [state] + [others[key]["state"] for key in sorted(run)]
        return write_reports(judge.merged(states, notes, len(notes)), directory, formats)


def _forget(place: Path, stale: list[tuple[float, str]]) -> None:
    """Remove the oldest states of earlier runs beyond `_KEPT_STALE` (a state of an earlier run for this process may
    be of the run of a process still serving, which began before it was written: only the oldest are removed)."""
    for _, key in stale[:max(len(stale) - _KEPT_STALE, 0)]:
        with contextlib.suppress(OSError, ValueError):
            (place / f"state-{int(key.split('-', 1)[0])}.json").unlink()


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _float(value: Any) -> float:
    return float(value) if isinstance(value, int | float) else float("-inf")
