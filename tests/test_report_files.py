"""Report files beside other users and other threads: the processes' lock is waited for a bounded time and only this
user can take it; a report written never changes the process's umask (`reports`, `reports.processes`)."""

import json
import os
import stat
import weakref
from pathlib import Path

import anyio
import httpx
import pytest

from migma_contract import asgi
from migma_contract.asgi import ContractMiddleware
from migma_contract.reports import processes, write_file
from migma_contract.reports.processes import STATE_DIR
from migma_contract.wire.asgi_transport import SyncASGITransport

from .faulty_servers import FULL_KEY

fcntl = pytest.importorskip("fcntl")

AUTH = {"Authorization": f"Bearer {FULL_KEY}"}
VALID = {"recipientType": "email", "recipientEmail": "ann@example.com", "from": "news@example.com", "fromName": "News",
         "subject": "Hello", "emailId": "email_welcome"}


async def _faulty_app(scope, receive, send):
    """Answers every send 200 without data.id (result-has-id broken); speaks no lifespan."""
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass
    body = json.dumps({"success": True, "data": {"status": "queued", "provider": "migma"}, "error": None}).encode()
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": body})


def _send(middleware: ContractMiddleware) -> None:
    with httpx.Client(transport=SyncASGITransport(middleware), base_url="http://app") as client:
        client.post("/v1/sending", json=VALID, headers=AUTH)


def _report(directory: Path) -> dict:
    return json.loads((directory / "conformance.json").read_text(encoding="utf-8"))


def _shutdown(middleware: ContractMiddleware) -> list[str]:
    """The server's lifespan, started and shut down through the middleware: the messages the server was sent."""
    messages = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
    sent: list[str] = []

    async def receive():
        return messages.pop(0)

    async def send(message):
        sent.append(message["type"])

    anyio.run(middleware, {"type": "lifespan", "asgi": {"version": "3.0"}}, receive, send)
    return sent


def _never_waiting(monkeypatch) -> list[int]:
    """`fcntl.flock` as the code asks for it, recorded, but never blocking in the test (a blocking ask, as before the
    fix, would hang the test: it is made non-blocking here and the ask fails the test instead)."""
    asked: list[int] = []
    real = fcntl.flock

    def flock(fd, operation):
        asked.append(operation)
        return real(fd, operation | fcntl.LOCK_NB)

    monkeypatch.setattr(fcntl, "flock", flock)
    return asked


@pytest.mark.parametrize("caller", ["lifespan shutdown", "write_report", "at exit"])
def test_pass_t2_f3_a_lock_held_by_another_leaves_each_writer_its_own_reports_said_so(tmp_path, monkeypatch, caller):
    """Pass T2, F3: the states' lock was taken blocking, without a deadline, on the server's event loop, and its file
    was created 0644: any local user able to read the report directory opened it read-only, took LOCK_EX, and held the
    app's lifespan shutdown (and `write_report()` while serving, and the write at exit) for as long as they liked. The
    lock file is 0600, and is only ever tried without blocking, for a bounded time: past it, this process's own
    reports, said so (no green verdict)."""
    middleware = ContractMiddleware(_faulty_app, report_dir=tmp_path, formats=["json"])
    _send(middleware)
    middleware.write_report()  # (the first writing makes the lock)
    lock = tmp_path / STATE_DIR / "lock"
    assert stat.S_IMODE(lock.stat().st_mode) == 0o600  # 0o644 before (0o666 & ~umask)
    holder = os.open(lock, os.O_RDONLY)  # (a descriptor opened read-only takes flock too)
    try:
        fcntl.flock(holder, fcntl.LOCK_EX | fcntl.LOCK_NB)
        asked = _never_waiting(monkeypatch)
        monkeypatch.setattr(processes, "_LOCK_WAIT", 0.01)  # (held for the whole test: any bound is passed)
        _send(middleware)
        if caller == "lifespan shutdown":
            assert _shutdown(middleware) == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
        elif caller == "write_report":
            middleware.write_report()
        else:
            asgi._write_at_exit(weakref.ref(middleware))
        report = _report(tmp_path)
    finally:
        os.close(holder)
    assert asked and all(operation & fcntl.LOCK_NB for operation in asked), asked  # LOCK_EX alone (blocking) before
    assert report["exit_code"] == 1 and report["traffic"]["judged"] == 2, report["traffic"]
    assert any("held by another process" in note and "this process's alone" in note for note in report["traffic"]["notes"])


def test_a_process_that_cannot_merge_keeps_no_green_verdict_of_its_own(tmp_path, monkeypatch):
    """A process whose siblings' states cannot be read (the lock held past its wait) writes its own reports; another
    process's violations may be missing from them, so a correct process's own result there is no green verdict
    (INCOMPLETE, exit 3), as docs/traffic.md says: it was "passed", exit 0."""
    from migma_contract.mock import create_app

    middleware = ContractMiddleware(create_app(), report_dir=tmp_path, formats=["json"])
    _send(middleware)
    middleware.write_report()
    assert _report(tmp_path)["exit_code"] == 0  # merged (alone): its own green verdict
    holder = os.open(tmp_path / STATE_DIR / "lock", os.O_RDONLY)
    try:
        fcntl.flock(holder, fcntl.LOCK_EX | fcntl.LOCK_NB)
        _never_waiting(monkeypatch)
        monkeypatch.setattr(processes, "_LOCK_WAIT", 0.01)
        _send(middleware)
        middleware.write_report()
        report = _report(tmp_path)
    finally:
        os.close(holder)
    assert report["exit_code"] == 3 and report["completion"] == "partial", report.get("stopped")
    assert "this process's alone" in report["stopped"]


def test_pass_t2_f3_a_lock_that_is_no_regular_file_is_refused(tmp_path, monkeypatch):
    """Pass T2, F3: a `lock` that is a FIFO was opened and locked as one. The lock is a regular file or refused (this
    process's own reports, said so); a lock file left 0644 by an earlier version is made 0600."""
    asked = _never_waiting(monkeypatch)
    place = tmp_path / STATE_DIR
    place.mkdir()
    os.mkfifo(place / "lock")
    middleware = ContractMiddleware(_faulty_app, report_dir=tmp_path, formats=["json"])
    _send(middleware)
    middleware.write_report()
    report = _report(tmp_path)
    assert report["exit_code"] == 1 and any("lock: not a regular file" in note for note in report["traffic"]["notes"])
    assert asked == []

    (tmp_path / "b" / STATE_DIR).mkdir(parents=True)
    (tmp_path / "b" / STATE_DIR / "lock").touch(mode=0o644)
    os.chmod(tmp_path / "b" / STATE_DIR / "lock", 0o644)
    other = ContractMiddleware(_faulty_app, report_dir=tmp_path / "b", formats=["json"])
    _send(other)
    other.write_report()
    assert stat.S_IMODE((tmp_path / "b" / STATE_DIR / "lock").stat().st_mode) == 0o600
    assert not _report(tmp_path / "b")["traffic"]["notes"]


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="making a file another user's needs root")
def test_pass_t2_f3_a_lock_file_of_another_user_is_refused(tmp_path, monkeypatch):
    """Pass T2, F3: a `lock` made by another user (who may hold it, or open it to everyone) was taken as the run's.
    It is refused: this process's own reports, said so."""
    asked = _never_waiting(monkeypatch)
    place = tmp_path / STATE_DIR
    place.mkdir()
    (place / "lock").touch(mode=0o600)
    os.chown(place / "lock", 65534, 65534)
    middleware = ContractMiddleware(_faulty_app, report_dir=tmp_path, formats=["json"])
    _send(middleware)
    middleware.write_report()
    report = _report(tmp_path)
    assert report["exit_code"] == 1 and any("lock: owned by another user" in note for note in report["traffic"]["notes"])
    assert asked == []


def test_pass_t2_f4_writing_reports_never_sets_the_umask(tmp_path, monkeypatch):
    """Pass T2, F4: each report file was made 0o666 & ~umask by reading the umask, which sets it (to 0, briefly) for
    every thread of the process: an app's thread creating files meanwhile made them world-writable. The umask is
    never set; the files come out as the umask says (the kernel applies it at their creation)."""
    real_umask = os.umask

    def umask(mask):
        raise AssertionError("os.umask called while writing a report: it sets the mask of every thread of the process")

    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)  # (the reports alone are looked at)
    previous = real_umask(0o027)
    try:
        monkeypatch.setattr(os, "umask", umask)
        write_file(tmp_path / "one.json", "{}")
        middleware = ContractMiddleware(_faulty_app, report_dir=tmp_path / "run")
        _send(middleware)
        written = middleware.write_report()  # (its state, under the lock, and every format)
    finally:
        monkeypatch.undo()
        real_umask(previous)
    assert stat.S_IMODE((tmp_path / "one.json").stat().st_mode) == 0o640
    states = list((tmp_path / "run" / STATE_DIR).glob("state-*.json"))
    assert len(written) == 4 and len(states) == 1
    assert {stat.S_IMODE(path.stat().st_mode) for path in written} == {0o640}
    assert stat.S_IMODE(states[0].stat().st_mode) == 0o600  # (a state is its user's alone: pass V1, F5)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["one.json", "run"]  # (no temporary left)
    assert not [path for path in (tmp_path / "run").iterdir() if path.name.endswith(".tmp")]
