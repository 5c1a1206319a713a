"""One report directory written by several processes (`ContractMiddleware` under `uvicorn --workers N`, gunicorn's
workers, pytest-xdist): every process's exchanges count in the reports the directory ends with.

Each process keeps its own state (`TrafficJudge.state`: tallies, findings, notes, counts; redacted as its reports
are) in `<report_dir>/.migma-contract/state-<pid>.json`, written atomically (a temporary file renamed over it)
whenever it writes its reports; the reports it writes are the merge (`TrafficJudge.merged`) of the states of every
process of its run, taken under an exclusive lock on `.migma-contract/lock` (`fcntl.flock`), so whichever process
writes last writes the union. Where every state is this process's own, the reports are its own result, as a single
process's always were.

A run is told apart by its members, listed in `.migma-contract/run.json`: a process joins the run of the directory
when it starts (its first lifespan event or request) if one of that run's members is still alive (the same pid, and,
on Linux, the same start time, so a reused pid is not taken for it); otherwise it starts a new run, and the states of
every earlier run are removed. So the workers of one server, and the processes of one pytest-xdist session, that
overlap in time share one report; a server started after the last one ended (a new run, a `--reload` restart, whose
old process ended before the new one starts: new code) starts a new report. A member that wrote no state by the time
the reports are written (still running, or killed) leaves them without a green verdict, noted (the last to end
writes the union). Without `fcntl` (Windows) nothing is locked: two processes that end at the same moment may each
write a report missing the other's part (each state stays in the directory).
"""

from __future__ import annotations

import contextlib
import json
import os
import uuid
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

__all__ = ["STATE_DIR", "join_run", "write_shared"]

STATE_DIR = ".migma-contract"
_RUN = "run.json"
_MAX_STATE_BYTES = 64 << 20  # a state larger than this is not read (no process writes one near it)


def _start_of(pid: int) -> str | None:
    """When process `pid` started (Linux: /proc/<pid>/stat's start time, in clock ticks since boot), else None."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="latin-1")
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[-1].split()
    return fields[19] if len(fields) > 19 else None


def _alive(pid: int, start: str | None) -> bool:
    """Whether process `pid` (started at `start`, where known) still runs."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # (another user's process: it exists)
        pass
    return start is None or _start_of(pid) in (None, start)


@contextlib.contextmanager
def _locked(place: Path) -> Iterator[None]:
    """The directory's lock, held exclusively (blocking) while the run is read or the reports are written."""
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


def join_run(directory: Path) -> str:
    """The run this process writes `directory`'s reports in: the directory's run if a member of it is alive (this
    process joins it), else a new one (every earlier run's states removed). Raises OSError or ConfigError (the run's file cannot be written)."""
    check_writable(directory, (), step_summary=False)
    place = directory / STATE_DIR
    me = (os.getpid(), _start_of(os.getpid()))
    with _locked(place):
        try:
            run = _read_json(place / _RUN)
            members: list[tuple[int, str | None]] = [(int(pid), start if isinstance(start, str) else None)
                                                     for pid, start in run["members"]]
            current = str(run["run"])
        except (OSError, ValueError, KeyError, TypeError):
            members, current = [], ""
        if not current or not any(_alive(pid, start) for pid, start in members if pid != me[0]):
            current, members = uuid.uuid4().hex, []
            for old in place.glob("state-*.json"):
                with contextlib.suppress(OSError):
                    old.unlink()
        members = [m for m in members if m[0] != me[0]] + [me]
        write_file(place / _RUN, json.dumps({"run": current, "members": members}))
    return current


def write_shared(judge: TrafficJudge, run: str, directory: Path, formats: tuple[str, ...]) -> list[Path]:
    """Write this process's state, then the reports of every process of `run` to `directory` (under the lock)."""
    check_writable(directory, formats, step_summary=False)
    place = directory / STATE_DIR
    state = judge.state()
    own = {"run": run, "pid": os.getpid(), "state": state}
    with _locked(place):
        write_file(place / f"state-{os.getpid()}.json", json.dumps(own))
        try:
            members = {int(pid) for pid, _ in _read_json(place / _RUN)["members"]}
        except (OSError, ValueError, KeyError, TypeError):
            members = set()
        states: list[dict[str, Any]] = []
        notes: list[str] = []
        seen: set[int] = set()
        for path in sorted(place.glob("state-*.json")):
            if path.name == f"state-{os.getpid()}.json":
                continue
            try:
                data = _read_json(path)
                if data.get("run") != run:
                    continue
                seen.add(int(data["pid"]))
                states.append(data["state"])
            except (OSError, ValueError, KeyError, TypeError, AttributeError):
                notes.append(f"the state {path.name} of another process could not be read: its exchanges are not in "
                             "this report")
        missing = len(members - seen - {os.getpid()})
        if not states and not notes and not missing:
            return write_reports(judge.result(), directory, formats)  # one process: its own result, as always
        return write_reports(judge.merged([state, *states], notes, missing + len(notes)), directory, formats)
