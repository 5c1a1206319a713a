"""One report directory written by several processes (`ContractMiddleware` under `uvicorn --workers N`, gunicorn's
workers, pytest-xdist): every process's exchanges count in the reports the directory ends with.

Each middleware keeps its own state (`TrafficJudge.state`: tallies, findings, notes, counts, redacted as its reports
are; and the credentials it learned as keyed digests only, salted with the folder's `salt`, which the merge masks in
every process's findings) in `<report_dir>/.migma-contract/state-<pid>-<token>.json`, written atomically (a temporary file renamed over it)
whenever it writes its reports; the reports it writes are the merge (`TrafficJudge.merged`) of the states of every
process of its run, taken under an exclusive lock on `.migma-contract/lock` (`fcntl.flock`), so whichever process
writes last writes the union. Where no other process's state is of its run, the reports are its own result, as a
single process's always were.

The lock is waited for at most `_LOCK_WAIT` seconds (a sibling holds it for milliseconds), never without bound: the
reports are written on the server's event loop (lifespan shutdown, `write_report()` while serving) and at exit, and a
process stopped while holding it (SIGSTOP, a debugger) must not hold every other's. Past the wait, or if the lock file
is not a regular file owned by this process's user, the reports are this process's alone, said so in them (as for any
state that cannot be kept). The lock file is created 0600 (one left more open by an earlier version is made so): a
descriptor opened read-only takes `flock` as well, so no other user may open it.

Everything the merge reads or trusts is this process's effective user's and no other's to write: where the folder, a
state or the salt is another user's, or its group's or others' to write (`_trusted`: a report_dir such as /tmp, where
another local user could make the folder or plant a state), the reports are this process's alone, said so, nothing of
the folder merged. Each is checked on its open descriptor (`O_NOFOLLOW`), and every file is opened, listed, renamed
and removed relative to the folder's descriptor (`_Folder`): a folder swapped after its check is never the one used.
The folder is made 0700, the states and the salt 0600, whatever the umask (under umask 002 a sibling's state made
0664 would be refused).

A run is the processes that served at the same time: a state is of this process's run if it was written since this
process's first middleware was made (or the process forked; that process was still alive then), or if a state of the run merged it when it was written,
or if this very process wrote it (same pid and same token, new at each fork: a fixture that makes a new app and
middleware for each test writes a state at each test's end, all of one run, never an earlier run's)
(so a worker that ended before a replacement started still counts, through a sibling that outlived both). A state
written before this process began, and merged by none of its run, is of an earlier run: never merged (a server run
after the last one ended starts a new report; so does a `--reload` restart, whose old process ended before the new
one began: new code). Times are the machine's wall clock. A process killed before it wrote its state is in no
report (nothing of it is on disk). Without `fcntl` (Windows) nothing is locked: two processes that end at the same
moment may each write a report missing the other's part (both states stay in the directory: the next writer of the
run merges them). The states of earlier runs are kept, never merged; beyond 64, those written over a week ago are
removed.
"""

from __future__ import annotations

import contextlib
import errno
import fnmatch
import json
import os
import secrets
import stat
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from migma_contract.core.exceptions import ConfigError
from migma_contract.core.untrusted import clean_text
from migma_contract.reports import check_writable, write_reports
from migma_contract.traffic.tally import TrafficJudge

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no lock (see the module's docstring)
    fcntl = None  # type: ignore[assignment]

__all__ = ["STATE_DIR", "write_shared"]

STATE_DIR = ".migma-contract"
_KEPT_STALE = 64  # states of earlier runs kept (never merged); the oldest beyond are removed...
_STALE_AFTER = 7 * 86_400.0  # ...once written over a week ago (a serving worker's run may reach back to them before)
_MAX_STATE_BYTES = 1 << 20  # a state larger than this is not read (a process's state is tallies and bounded findings)
_MAX_READ_BYTES = 8 << 20  # the states read in all, at one writing (JSON parsed costs ~25 times its bytes)
_LOCK_WAIT = 2.0  # seconds: the longest a writer waits for the states' lock (then its own reports, noted)
_CLOCK_SKEW = 5.0  # seconds: a state "written" later than now by more is forged or of a clock gone wrong: never merged
# one process's own name among its siblings': its pid and a token, new in each forked child (two containers' processes
# are both pid 1 writing to one shared folder)
_TOKEN = secrets.token_hex(6)


def _new_token() -> None:
    global _TOKEN
    _TOKEN = secrets.token_hex(6)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_new_token)


class _Folder:
    """The states' folder, opened once (`O_NOFOLLOW`, checked on its descriptor: `_trusted`): every file in it is
    opened, listed, renamed and removed relative to that descriptor (`dir_fd`), so a folder swapped for another after
    the check (a report_dir others may write to) is never the one read or written. Without `dir_fd` (Windows: no
    owners, no modes to check) by its path."""

    def __init__(self, place: Path, fd: int | None) -> None:
        self.place, self.fd = place, fd

    def _at(self, name: str) -> str:
        return name if self.fd is not None else str(self.place / name)

    def shown(self, name: str) -> str:
        return f"{clean_text(self.place)}/{clean_text(name)}"

    def open(self, name: str, flags: int, mode: int = 0o600) -> int:
        return os.open(self._at(name), flags, mode, dir_fd=self.fd)

    def lstat(self, name: str) -> os.stat_result:
        return os.stat(self._at(name), dir_fd=self.fd, follow_symlinks=False)

    def names(self) -> list[str]:
        return os.listdir(self.fd if self.fd is not None else self.place)

    def replace(self, source: str, name: str) -> None:
        os.replace(self._at(source), self._at(name), src_dir_fd=self.fd, dst_dir_fd=self.fd)

    def unlink(self, name: str) -> None:
        os.unlink(self._at(name), dir_fd=self.fd)


_BY_FD = (hasattr(os, "O_DIRECTORY") and hasattr(os, "O_NOFOLLOW") and os.open in os.supports_dir_fd
          and os.stat in os.supports_dir_fd and os.listdir in os.supports_fd and os.unlink in os.supports_dir_fd
          and os.rename in os.supports_dir_fd)  # (os.replace is renameat too, but listed under os.rename only)


def _trusted(info: os.stat_result, shown: str) -> None:
    """Refuse (ConfigError: this process's own reports, noted) what another local user made or may change: the folder,
    the lock, a state or the salt not owned by this process's effective user, or writable by its group or by others (a
    report_dir such as /tmp or a shared group folder: a state planted there would be merged, a sibling's removed)."""
    if not hasattr(os, "geteuid"):  # pragma: no cover - Windows: no owners or modes to read
        return
    if info.st_uid != os.geteuid():
        raise ConfigError(f"{shown}: owned by another user; refused")
    if info.st_mode & 0o022:
        raise ConfigError(f"{shown}: writable by other users (mode {stat.S_IMODE(info.st_mode):o}); refused")


def _open_folder(place: Path) -> _Folder:
    """`.migma-contract`, made 0700 where missing, opened and checked: a folder of this user's that no other may
    write to, or ConfigError."""
    shown = clean_text(place)
    if place.is_symlink():
        raise ConfigError(f"{shown}: a symbolic link; refused (the processes' states are kept in a folder)")
    try:
        os.mkdir(place, 0o700)
    except FileExistsError:
        pass
    except OSError as exc:
        raise ConfigError(f"{shown}: cannot create it: {exc.strerror or type(exc).__name__}") from None
    if not _BY_FD:  # pragma: no cover - Windows (no owners, no modes): by its path, checked as far as it can be
        info = place.lstat()
        if not stat.S_ISDIR(info.st_mode):
            raise ConfigError(f"{shown}: not a folder; refused")
        _trusted(info, shown)
        return _Folder(place, None)
    try:
        fd = os.open(place, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as exc:
        raise ConfigError(f"{shown}: cannot open it: {exc.strerror or type(exc).__name__}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISDIR(info.st_mode):
            raise ConfigError(f"{shown}: not a folder; refused")
        _trusted(info, shown)
    except BaseException:
        os.close(fd)
        raise
    return _Folder(place, fd)


@contextlib.contextmanager
def _locked(place: Path) -> Iterator[_Folder]:
    """The directory's folder (`_open_folder`) and its lock, held exclusively while the run is read or the reports are
    written: taken within `_LOCK_WAIT` seconds, or ConfigError (the caller's fallback: this process's own reports,
    noted)."""
    folder = _open_folder(place)
    try:
        if fcntl is None:  # pragma: no cover
            yield folder
            return
        shown = folder.shown("lock")
        flags = os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0)
        try:  # (O_NONBLOCK: a FIFO planted there is never waited on; it is refused just below)
            fd = folder.open("lock", flags, 0o600)
        except OSError as exc:
            raise ConfigError(f"{shown}: cannot open it: {exc.strerror or type(exc).__name__}") from None
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise ConfigError(f"{shown}: not a regular file; refused")
            if info.st_uid != os.geteuid():  # (another user's lock file: its owner could hold it, or open it to others)
                raise ConfigError(f"{shown}: owned by another user; refused")
            if info.st_mode & 0o077:  # (made by an earlier version, 0644: readable, so lockable, by every local user)
                with contextlib.suppress(OSError):  # (a file system without modes, FAT, SMB: the bounded wait still holds)
                    os.fchmod(fd, 0o600)
            _take(fd, shown)
            yield folder
        finally:
            os.close(fd)  # (releases the lock)
    finally:
        if folder.fd is not None:
            os.close(folder.fd)


def _take(fd: int, shown: str) -> None:
    """`flock(LOCK_EX)` on `fd`, never blocking: tried again, a little later each time, for at most `_LOCK_WAIT`
    seconds in all (the wait blocks the caller's thread, the server's event loop at shutdown, for no longer)."""
    deadline = time.monotonic() + _LOCK_WAIT
    pause = 0.001
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            left = deadline - time.monotonic()
            if left <= 0:
                raise ConfigError(f"{shown}: held by another process for over {_LOCK_WAIT:g} s") from None
            time.sleep(min(pause, left))
            pause = min(pause * 2, 0.05)


def _read_json(folder: _Folder, name: str) -> Any:
    """A state file, read only if it is a regular file of this user's that no other may write to (never a link, a
    FIFO, a device: a planted `/dev/stdin` would hold the lock for ever) and within `_MAX_STATE_BYTES`."""
    return json.loads(_read_bytes(folder, name, _MAX_STATE_BYTES))


def _read_bytes(folder: _Folder, name: str, most: int) -> bytes:
    """A regular file's bytes (never a link's, a FIFO's, a device's), at most `most` of them (ValueError past); checked
    on its open descriptor, not before opening it: another user's, or one others may write to, is ConfigError."""
    fd = folder.open(name, os.O_RDONLY | os.O_CLOEXEC | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ValueError("not a regular file")
        _trusted(info, folder.shown(name))
        with os.fdopen(fd, "rb", closefd=False) as handle:
            data = handle.read(most + 1)
    finally:
        os.close(fd)
    if len(data) > most:
        raise ValueError("too large")
    return data


def _write(folder: _Folder, name: str, text: str) -> None:
    """Write `text` to the folder's file `name` (0600: the states and the salt are this user's alone) by renaming a new
    file over it, relative to the folder's descriptor: a link there is replaced, never followed. ConfigError if not."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
    temporary = ""
    try:
        for _ in range(100):  # (a name taken: another)
            temporary = f".{name}.{os.urandom(6).hex()}.tmp"
            try:
                fd = folder.open(temporary, flags, 0o600)
                break
            except FileExistsError:
                continue
        else:
            raise FileExistsError(errno.EEXIST, "no unused temporary name")
        try:
            with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
                handle.write(text)
            folder.replace(temporary, name)
        except BaseException:
            with contextlib.suppress(OSError):
                folder.unlink(temporary)
            raise
    except OSError as exc:
        raise ConfigError(f"{folder.shown(name)}: cannot write: {exc.strerror or type(exc).__name__}") from None


def _state_files(folder: _Folder) -> list[tuple[int, float, str]]:
    """The regular state files of the folder (links and others left), newest first: (size, time on disk, name). One
    of another user's, or that others may write to, is ConfigError (checked again on its descriptor when read)."""
    found: list[tuple[int, float, str]] = []
    for name in folder.names():
        if not fnmatch.fnmatchcase(name, "state-*.json"):
            continue
        try:
            info = folder.lstat(name)
        except OSError:
            continue
        if stat.S_ISREG(info.st_mode):
            _trusted(info, folder.shown(name))
            found.append((info.st_size, info.st_mtime, name))
    return sorted(found, key=lambda item: item[1], reverse=True)


def write_shared(judge: TrafficJudge, began: float, directory: Path, formats: tuple[str, ...], name: str) -> list[Path]:
    """Write this judge's state, then the reports of every process of its run (this one began at `began`, a
    `time.time()`) to `directory`, under the directory's lock. `name`: this judge's own among the writers (a token per
    middleware: two in one process, a fixture's each test, each keep their own state)."""
    check_writable(directory, formats, step_summary=False)
    place = directory / STATE_DIR
    try:
        return _write_shared(judge, began, directory, formats, place, name)
    except Exception as exc:  # the states' folder cannot be kept (a file, a link, a lock that is not one) or a state
        # no writer made broke the reading: this process's own reports, said so, never an older report left standing
        why = f"the processes' shared state could not be kept ({clean_text(str(exc))[:160]}): this report is this process's alone"
        judge.note(why)
        result = judge.result()
        if result.exit_code == 0:  # another process's findings may be missing from it: no green verdict (exit 3)
            result.completion, result.stopped, result.verdict, result.exit_code = "partial", why, "incomplete", 3
        return write_reports(result, directory, formats)


def _write_shared(judge: TrafficJudge, began: float, directory: Path, formats: tuple[str, ...], place: Path,
                  name: str) -> list[Path]:
    mine = f"state-{os.getpid()}-{_TOKEN}{name}.json"
    own_id = f"{os.getpid()}-{_TOKEN}{name}-{began!r}"
    process = f"{os.getpid()}-{_TOKEN}"  # (this very process: its pid and its token, new at each fork)
    with _locked(place) as folder:
        state = judge.state(_salt(folder))
        others: dict[str, dict[str, Any]] = {}
        paths: dict[str, str] = {}
        notes: list[str] = []
        now = time.time()
        budget = _MAX_READ_BYTES
        for size, _, path in _state_files(folder):
            if path == mine:
                continue
            try:
                if size > _MAX_STATE_BYTES or size > budget:  # (a state of a run missed: noted below, no green verdict)
                    raise ValueError("over the bound on the states read")
                budget -= size
                data = _read_json(folder, path)
                if not isinstance(data, dict) or not isinstance(data.get("state"), dict):
                    raise ValueError("not a state")
                others[str(data["id"])] = data
                paths[str(data["id"])] = path
            except ConfigError:  # (another user's state, or one others may change: no merge at all)
                raise
            except Exception as exc:  # (a state no writer made: cut, nested past the parser's depth, a number too large)
                with contextlib.suppress(OSError):
                    if folder.lstat(path).st_mtime < began:  # (of an earlier run: never merged)
                        continue
                notes.append(f"the state {clean_text(path)[:80]} of another process could not be read "
                             f"({type(exc).__name__}): its exchanges may be missing from this report")
        # written since this process began, and not later than now (a state dated in the future, checked in or
        # written under a clock gone wrong, would join every run)
        # (or written by this very process, whenever: a fixture making a new middleware per test writes a state at
        # each test's end, each of the one run of the process, never an earlier run's)
        run = {key for key, data in others.items()
               if data.get("process") == process or began <= _float(data.get("written")) <= now + _CLOCK_SKEW}
        while True:  # and whatever a state of the run merged when it was written
            more = {str(merged) for key in run for merged in _listed(others[key].get("with")) if str(merged) in others} - run
            if not more:
                break
            run |= more
        unread = {str(merged) for key in run for merged in _listed(others[key].get("with"))} - set(others) - {own_id}
        if unread:  # a state of the run merged before, not read now (removed, or past the bound): no green verdict
            notes.append(f"{len(unread)} state(s) of this run's processes, merged by another before, could not be read "
                         "now: their exchanges are missing from this report")
        # every state of the run masked with the credentials of them all (a key one process learned, echoed in an
        # answer another judged, stays in no state on disk): this one's, and another's rewritten where that changes it
        keys = sorted(run)
        states = judge.masked_states([state] + [others[key]["state"] for key in keys]) if run else [state]
        for key, masked in zip(keys, states[1:], strict=True):
            if masked != others[key]["state"]:
                with contextlib.suppress(ConfigError):
                    _write(folder, paths[key], json.dumps({**others[key], "state": masked}))
        own = {"id": own_id, "pid": os.getpid(), "process": process, "began": began, "written": time.time(),
               "with": keys, "state": states[0]}
        _write(folder, mine, json.dumps(own))
        _forget(folder, sorted((_float(data.get("written")), key) for key, data in others.items() if key not in run))
        if not run and not notes:
            return write_reports(judge.result(), directory, formats)  # one process: its own result, as always
        return write_reports(judge.merged(states, notes, len(notes)), directory, formats)


def _salt(folder: _Folder) -> bytes | None:
    """The folder's salt for the digests of the states' credentials (made by its first writer, under the lock): one
    for every state of the folder, so a merge searches each text once for them all, not once per process. None (each
    process's own salt, `TrafficJudge.state`) where it cannot be read or kept. Another user's salt, or one others may
    write to, is ConfigError (its maker could read back the digests of every key this process learned)."""
    with contextlib.suppress(OSError, ValueError):
        salt = bytes.fromhex(_read_bytes(folder, "salt", 128).decode("ascii").strip())
        if 16 <= len(salt) <= 64:
            return salt
    salt = secrets.token_bytes(16)
    with contextlib.suppress(ConfigError):
        _write(folder, "salt", salt.hex())
        return salt
    return None


def _forget(folder: _Folder, stale: list[tuple[float, str]]) -> None:
    """Remove the states of earlier runs written over `_STALE_AFTER` ago, the oldest first, beyond `_KEPT_STALE`. A
    state of an earlier run for this process may be of the run of a process still serving, which began before it was
    written (a long-lived worker beside recycled ones): only states older than any serving process plausibly is are
    removed; a state dated in the future is never among them (it is of no run, and counts in the bound on reading)."""
    now = time.time()
    old = [(written, key) for written, key in stale if written < now - _STALE_AFTER]
    for _, key in old[:max(len(stale) - _KEPT_STALE, 0)]:
        pid, token = [*key.split("-"), "", ""][:2]
        if pid.isdigit() and token.isalnum() and len(token) <= 64:  # (a key of this module's own shape only)
            with contextlib.suppress(OSError):
                folder.unlink(f"state-{pid}-{token}.json")


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _float(value: Any) -> float:
    try:
        return float(value) if isinstance(value, int | float) else float("-inf")
    except OverflowError:  # (an integer past a float: no time a writer writes)
        return float("-inf")
