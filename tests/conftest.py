"""Shared fixtures for the project's own tests, and the tripwire that keeps the e2e marker honest."""

import functools
import os
import socket
import subprocess

import pytest

import migma_contract.run.runner
from migma_contract.mock import create_app

from .helpers import client_for

# The suite sets the toolkit's environment itself, test by test: what the developer's shell exports (a key, a base URL,
# a report dir) would otherwise reach every check the tests run, and the processes they start. The CI's own switch stays.
for _name in [name for name in os.environ if name.startswith("MIGMA_CONTRACT_") and name != "MIGMA_CONTRACT_REQUIRE_BROWSER"]:
    del os.environ[_name]

# The fast tier (`pytest -m "not e2e"`) holds units only. What makes a test end to end is watched:
# a test not marked e2e that starts a process, listens on a socket or runs a whole check fails, and
# says so. (What a module-scoped fixture does counts for the test that first sets it up.)
_SEEN: set[str] = set()


def _watch(owner: object, name: str, what: str) -> None:
    original = getattr(owner, name)

    @functools.wraps(original)
    def watched(*args, **kwargs):
        _SEEN.add(what)
        return original(*args, **kwargs)

    setattr(owner, name, watched)


_watch(subprocess.Popen, "__init__", "started a process")
_watch(socket.socket, "listen", "listened on a socket")
_watch(migma_contract.run.runner, "_run_plan", "ran a whole check")  # its plan phase: refused options do not count


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    _SEEN.clear()


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item):
    if _SEEN and item.get_closest_marker("e2e") is None:
        seen, _ = sorted(_SEEN), _SEEN.clear()
        pytest.fail(f"{item.nodeid} {', '.join(seen)}: mark it e2e (pytest.mark.e2e)", pytrace=False)


@pytest.fixture
def mock():
    return create_app()


@pytest.fixture
def client(mock):
    with client_for(mock) as c:
        yield c


class FakeTime:
    """Stands in for the `time` module the middleware reads its clock from: time moves only when a test says."""

    def __init__(self):
        self.now = 1000.0

    def perf_counter(self):
        return self.now


@pytest.fixture
def fake_time(monkeypatch):
    """The middleware's clock, moved by hand (`fake_time.now += 5`): no test waits on real time."""
    import migma_contract.asgi

    clock = FakeTime()
    monkeypatch.setattr(migma_contract.asgi, "time", clock)
    return clock
