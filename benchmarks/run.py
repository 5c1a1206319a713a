"""Benchmarks of migma-contract, each ratio against a baseline measured in the same run.

    python benchmarks/run.py            # ~10 minutes on 2 cores (`make bench`)
    python benchmarks/run.py --quick    # smaller loads, a few minutes
    python benchmarks/run.py --smoke    # one tiny round of every row (the test suite runs this; figures meaningless)
    python benchmarks/run.py --only check --json results.json
    python benchmarks/run.py --package /tmp/before   # the migma_contract of another tree (before/after figures)

Everything talks to 127.0.0.1 only. Machines are shared and noisy, so what is reported is
ratios, each against its baseline measured here and now, in pairs (baseline and subject
back to back, alternating which goes first), as min / median / max over the pairs, each
beside its target from the speed issues (16 and 23). A fixed pure-Python workload is
timed at the start and the end ("CPU speed check") so a slow spell shows. Every baseline
asserts that each of its calls did the work (the right verdict, the status the server gave
the first time), so a failing baseline stops the run instead of looking fast.

1. validation: `validate_response` vs its floor, `json.loads` + jsonschema-rs `is_valid` on
   the vendor's 200 schema; `validate_request` vs the vendor request schema's `is_valid`;
   pure-Python jsonschema and openapi-core doing the response job, for scale.
2. the mock: requests/s of the reference mock vs a bare Starlette app answering a constant
   body, served the same way (same server settings, one process each), 50 keep-alive
   connections (wrk, else `load.py`).
3. the check as users run it: `migma-contract check` of the closed reference mock with
   its fixtures (`--from`, `--email-id`, `--tag-id`; a copy that records what it is sent)
   vs a bare process (`replay.py`: interpreter start, httpx, a plain loop) sending exactly
   the requests the check sent: the default check, `--no-explore`, the marginal CPU of an
   explored request between two budgets that both explore, the large check's CPU vs its
   bare process, `schemathesis run` at the same number of requests, one explored case of
   Schemathesis' vs one of the catalogue's strategies (`explored_case.py`: drawn and
   labelled, not sent), `check --dry-run` vs `rules`.
4. pytest: the plugin's cost on an unrelated one-test run (with vs `-p no:migma_contract`),
   and `pytest --migma-conformance` vs `migma-contract check` at the same budget.
5. traffic: `ContractMiddleware` around the mock vs the bare mock (server CPU per request);
   `migma-contract proxy` in front of the mock vs the mock directly (requests/s, and the
   added p50 latency of one client pacing itself at 200 requests/s); a forwarding-only
   proxy for scale. (`benchmarks/traffic.py` runs this section and the HAR memory one.)
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "benchmarks"
PY = sys.executable
PACKAGE = ROOT  # where migma_contract is imported from, here and in every process started (see --package)


def _as_users_run(environ: dict[str, str]) -> dict[str, str]:
    """The environment of every process started: a user's, whatever this one's.

    An installed package has its bytecode compiled (pip does it), and a program's output is
    buffered: with PYTHONDONTWRITEBYTECODE set (as on some CI and agent machines) every
    process would compile the toolkit's ~14,000 lines from source, a cost the bare process,
    whose httpx is compiled, never pays. The first run of each section writes the bytecode.
    """
    return {k: v for k, v in environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED")}


ENV: dict[str, str] = _as_users_run(dict(os.environ))


def _use_package(root: Path) -> None:
    global PACKAGE, ENV
    PACKAGE = root.resolve()
    ENV = _as_users_run({**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(PACKAGE), os.environ.get("PYTHONPATH")) if p)})
    sys.path.insert(0, str(PACKAGE))


FULL_KEY, RESTRICTED_KEY = "mc_test_full_access", "mc_test_no_email_send"
AUTH = {"Authorization": f"Bearer {FULL_KEY}"}
KEYS = {"MIGMA_CONTRACT_API_KEY": FULL_KEY, "MIGMA_CONTRACT_RESTRICTED_API_KEY": RESTRICTED_KEY,
        "MIGMA_API_KEY": FULL_KEY, "MIGMA_RESTRICTED_API_KEY": RESTRICTED_KEY}  # the environment names now, and before the options table
# The closed reference mock (its built-in world, as `migma-contract mock` serves it) and the
# fixtures its README line passes: the check users run against it.
FIXTURES = ("--from", "sender@example.com", "--email-id", "email_welcome", "--tag-id", "tag_vip")
MOCK_WORLD = "open_world: true\nlimits: {sent_log: 1000}\n"
VALID = {"recipientType": "email", "recipientEmail": "load@example.com", "from": "sender@example.com",
         "fromName": "Load", "subject": "Load test", "emailId": "email_welcome"}
JSON_HEADERS = {"content-type": "application/json"}
OK_BODY = json.dumps({"success": True, "data": {"id": "m_1", "status": "queued", "provider": "migma", "sentCount": 1}, "error": None}).encode()
BAD_BODY = json.dumps({"success": "yes", "data": {"id": 5}}).encode()


@dataclass(frozen=True)
class Scale:
    """How much of everything: `full` (make bench), `quick`, `smoke` (one tiny round of every row, for the test suite)."""

    name: str
    validation: tuple[int, int]  # rounds, calls per chunk
    load_seconds: float  # one load measurement (50 connections)
    mock_pairs: int
    check_pairs: int
    marginal: tuple[int, int]  # the two budgets, both exploring
    marginal_rounds: int
    schemathesis_examples: int  # its --max-examples; the check is then given the budget of what it sent
    schemathesis_pairs: int
    pytest_pairs: int
    conformance_budget: int
    traffic_pairs: int
    paced_requests: int  # the latency measurement, one client at 200 requests/s
    dry_pairs: int
    explored_cases: tuple[int, int] = (5, 100)  # rounds, cases per source and round (benchmarks/explored_case.py)


SCALES = {
    "full": Scale("full", (30, 2000), 3, 5, 5, (1500, 5000), 3, 10, 2, 7, 180, 5, 600, 7),  # Schemathesis joins from 1,200
    "quick": Scale("quick", (8, 1000), 2, 2, 2, (300, 1000), 1, 5, 1, 3, 180, 2, 200, 3, (3, 50)),
    "smoke": Scale("smoke", (1, 20), 0.3, 1, 1, (150, 170), 1, 1, 1, 1, 180, 1, 10, 1, (1, 3)),  # budgets above the plan: a cut one is not a pass
}


# --- results ---------------------------------------------------------------------------------------


@dataclass
class Row:
    """One measured quantity: a value per pair (or per run), and its target if issue 16 sets one."""

    label: str
    values: list[float]
    unit: str = ""
    target: tuple[str, float] | None = None  # (">=" or "<=", bound)
    note: str = ""

    def spread(self) -> tuple[float, float, float]:
        return min(self.values), statistics.median(self.values), max(self.values)

    def met(self) -> bool | None:
        if self.target is None:
            return None
        op, bound = self.target
        median = statistics.median(self.values)
        return median >= bound if op == ">=" else median <= bound

    def render(self) -> str:
        low, mid, high = self.spread()
        fmt = (lambda v: f"{v:,.0f}") if mid >= 1000 else (lambda v: f"{v:.3g}") if mid < 10 else (lambda v: f"{v:.1f}")
        measured = f"{fmt(mid)} (n=1)" if len(self.values) == 1 else f"{fmt(mid)} ({fmt(low)}–{fmt(high)}, n={len(self.values)})"
        text = f"  {self.label:<66} {measured + (' ' + self.unit if self.unit else ''):<32}"
        if self.target:
            text += f" target {self.target[0]} {self.target[1]:g}  {'MET' if self.met() else 'NOT MET'}"
        return text + (f"  [{self.note}]" if self.note else "")

    def as_dict(self) -> dict:
        low, mid, high = self.spread()
        return {"label": self.label, "unit": self.unit, "min": low, "median": mid, "max": high, "values": self.values,
                "target": list(self.target) if self.target else None, "met": self.met(), "note": self.note}


@dataclass
class Section:
    title: str
    rows: list[Row] = field(default_factory=list)
    facts: dict = field(default_factory=dict)

    def add(self, *args, **kwargs) -> Row:
        row = Row(*args, **kwargs)
        self.rows.append(row)
        return row


# --- helpers ------------------------------------------------------------------------------------------


def _chunk(call: Callable[[], object], n: int) -> float:
    """CPU µs per call over n calls; each call must return something true (its own success check).

    CPU time of this thread, not wall time: on a shared machine a chunk that is descheduled
    halfway would otherwise count another process's work, and longer chunks (the slower
    side of a pair) would be hit more often.
    """
    failed = 0
    start = time.thread_time()
    for _ in range(n):
        if not call():
            failed += 1
    elapsed = time.thread_time() - start
    if failed:
        raise AssertionError(f"{failed} of {n} calls did not succeed")
    return elapsed / n * 1e6


def _paired(subject: Callable[[], object], baseline: Callable[[], object], rounds: int, n: int) -> tuple[list[float], list[float]]:
    """µs per call of each, measured back to back `rounds` times, the order alternating."""
    _chunk(subject, n // 4 or 1)
    _chunk(baseline, n // 4 or 1)
    ours, theirs = [], []
    for index in range(rounds):
        if index % 2:
            theirs.append(_chunk(baseline, n))
            ours.append(_chunk(subject, n))
        else:
            ours.append(_chunk(subject, n))
            theirs.append(_chunk(baseline, n))
    return ours, theirs


@dataclass
class Run:
    wall_s: float
    returncode: int
    stdout: str
    stderr: str
    peak_rss_mib: float
    cpu_s: float  # user + system CPU of the process: steadier than wall time on a busy machine


def _run(command: list[str], env: dict | None = None, timeout: float = 900, cwd: Path | None = None) -> Run:
    """Run a command to completion; its wall time, CPU time (wait4) and peak RSS.

    A Python command runs under `peak_rss.py`, which reads the program's own high-water
    mark: wait4's ru_maxrss would report this benchmark's own (~100 MiB), inherited at fork.
    """
    peak_file = Path(tempfile.mkdtemp()) / "peak"
    if command[0] == PY:
        command = [PY, str(BENCH / "peak_rss.py"), *command[1:]]
        env = {**(env or {}), "MIGMA_BENCH_PEAK_FILE": str(peak_file)}
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        process = subprocess.Popen(command, stdout=out, stderr=err, cwd=cwd or PACKAGE, env={**ENV, **(env or {})})
        timer = threading.Timer(timeout, process.kill)
        timer.start()
        try:
            _, status, usage = os.wait4(process.pid, 0)
        finally:
            timer.cancel()
        wall = time.perf_counter() - start
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if command[0] == PY and not peak_file.exists():  # wait4's figure would be this benchmark's own, inherited
            raise AssertionError(f"{command[2:4]} exited {process.returncode} without reporting its peak RSS: {err.read()[-1000:]!r}")
        peak_kib = int(peak_file.read_text()) if peak_file.exists() else usage.ru_maxrss
        return Run(wall, process.returncode, out.read().decode(errors="replace"), err.read().decode(errors="replace"),
                   peak_kib / 1024, usage.ru_utime + usage.ru_stime)


class Server:
    """A server in its own process (load and service do not share an interpreter or a core)."""

    def __init__(self, *command: str) -> None:
        self.errors = tempfile.TemporaryFile()  # noqa: SIM115 (lives as long as the server)
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=self.errors, text=True, cwd=PACKAGE, env=ENV)
        line = self.process.stdout.readline()  # blocks until the server has bound its socket and said where
        if " at " not in line:
            self.process.kill()
            self.errors.seek(0)
            raise RuntimeError(f"{' '.join(command)} did not start: {line}{self.errors.read().decode(errors='replace')[-2000:]}")
        self.url = line.rsplit(" at ", 1)[1].strip()

    def stop(self) -> str:
        """Stop it; what it said on the way out."""
        self.process.send_signal(signal.SIGINT)
        try:
            said, _ = self.process.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return ""
        return said or ""


def _mock_world() -> Path:
    path = Path(tempfile.mkdtemp()) / "mock.yaml"
    path.write_text(MOCK_WORLD)
    return path


# --- 1. validation ------------------------------------------------------------------------------------


def validation(scale: Scale) -> Section:
    import jsonschema
    import jsonschema_rs
    import openapi_core
    from openapi_core.testing import MockRequest, MockResponse

    from migma_contract import load_spec, validate_request, validate_response

    section = Section("1. validation in-process (CPU µs per call; ratio = floor time / our time, higher is better)")
    rounds, n = scale.validation
    spec = load_spec()
    request = {"providerType": "migma"}

    rs_200 = jsonschema_rs.Draft202012Validator(spec.response_schema(200))
    rs_request = jsonschema_rs.Draft202012Validator(spec.request_schema)
    pure_200 = jsonschema.Draft202012Validator(spec.response_schema(200))
    api = openapi_core.OpenAPI.from_dict(spec.document)
    server = spec.servers[0]  # openapi-core finds the operation only under a server the document declares
    core_request = MockRequest(server, "post", "/v1/sending", data=json.dumps(VALID).encode(), content_type="application/json")
    core_ok = MockResponse(OK_BODY, status_code=200, content_type="application/json")

    # each baseline does the work: it accepts the good sample and refuses a bad one
    assert validate_response(200, JSON_HEADERS, OK_BODY, request=request) == []
    assert validate_response(200, JSON_HEADERS, BAD_BODY, request=request) != []
    assert validate_request(VALID) == [] and validate_request({**VALID, "from": "nobody"}) != []
    assert rs_200.is_valid(json.loads(OK_BODY)) and not rs_200.is_valid(json.loads(BAD_BODY))
    assert rs_request.is_valid(VALID) and not rs_request.is_valid({**VALID, "subject": 5})
    assert pure_200.is_valid(json.loads(OK_BODY)) and not pure_200.is_valid(json.loads(BAD_BODY))
    api.validate_response(core_request, core_ok)  # raises if openapi-core could not validate
    try:
        api.validate_response(core_request, MockResponse(BAD_BODY, status_code=200, content_type="application/json"))
    except Exception as exc:  # the schema error, not a failure to find the operation
        assert "ServerNotFound" not in type(exc).__name__ and "PathNotFound" not in type(exc).__name__, exc
    else:
        raise AssertionError("openapi-core accepted a body its schema refuses: it is not validating")

    def ours_response():
        return not validate_response(200, JSON_HEADERS, OK_BODY, request=request)

    def floor_response():
        return rs_200.is_valid(json.loads(OK_BODY))

    def ours_request():
        return not validate_request(VALID)

    def floor_request():
        return rs_request.is_valid(VALID)

    ours, floor = _paired(ours_response, floor_response, rounds, n)
    section.add("validate_response (200, raw body, default level)", ours, "µs")
    section.add("  floor: json.loads + jsonschema-rs is_valid (vendor 200 schema)", floor, "µs")
    section.add("validate_response vs its floor", [f / o for o, f in zip(ours, floor, strict=True)], "×", (">=", 0.75))
    ours, floor = _paired(ours_request, floor_request, rounds, n * 2)
    section.add("validate_request (valid body, default level)", ours, "µs")
    section.add("  floor: jsonschema-rs is_valid (vendor request schema)", floor, "µs")
    section.add("validate_request vs its floor", [f / o for o, f in zip(ours, floor, strict=True)], "×", (">=", 0.5))

    def pure():
        return pure_200.is_valid(json.loads(OK_BODY))

    def core():
        api.validate_response(core_request, core_ok)
        return True

    ours_s, pure_s = _paired(ours_response, pure, max(rounds // 2, 3), max(n // 10, 100))
    section.add("python-jsonschema is_valid (vendor 200 schema)", pure_s, "µs")
    section.add("  validate_response speed-up over it", [p / o for o, p in zip(ours_s, pure_s, strict=True)], "×")
    ours_s, core_s = _paired(ours_response, core, max(rounds // 2, 3), max(n // 20, 50))
    section.add(f"openapi-core validate_response (server {server})", core_s, "µs")
    section.add("  validate_response speed-up over it", [c / o for o, c in zip(ours_s, core_s, strict=True)], "×")
    return section


# --- 2. the mock vs a bare app ---------------------------------------------------------------------------


LOAD_TOOL = "wrk -t1 -c50" if shutil.which("wrk") else "benchmarks/load.py, 50 connections"


def _load(url: str, seconds: float) -> dict:
    body = Path(tempfile.mkdtemp()) / "body.json"
    body.write_text(json.dumps(VALID))
    if shutil.which("wrk"):
        script = body.with_name("post.lua")
        script.write_text(f'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
                          f'wrk.headers["Authorization"] = "Bearer {FULL_KEY}"\nwrk.body = {json.dumps(body.read_text())}\n')
        done = subprocess.run(["wrk", "-t1", "-c50", f"-d{max(1, round(seconds))}s", "-s", str(script), f"{url}/v1/sending"],
                              capture_output=True, text=True, timeout=seconds + 60)
        rate = float(re.search(r"Requests/sec:\s+([\d.]+)", done.stdout).group(1))
        total = int(re.search(r"(\d+) requests in", done.stdout).group(1))
        bad = re.search(r"Non-2xx or 3xx responses: (\d+)", done.stdout)
        errors = re.search(r"Socket errors: (.+)", done.stdout)
        result = {"tool": LOAD_TOOL, "requests": total, "rate_per_s": rate, "non_200": int(bad.group(1)) if bad else 0,
                  "socket_errors": errors.group(1) if errors else None}
    else:
        done = subprocess.run([PY, str(BENCH / "load.py"), f"{url}/v1/sending", "--connections", "50", "--seconds", str(seconds),
                               "--body-file", str(body), "--header", f"Authorization: Bearer {FULL_KEY}"],
                              capture_output=True, text=True, timeout=seconds + 60, env=ENV)
        result = json.loads(done.stdout)
    if result["non_200"] or result.get("socket_errors") or result.get("connection_errors") or not result["requests"]:
        raise AssertionError(f"load against {url} did not get 200s throughout: {result}")
    return result


def mock_throughput(scale: Scale) -> Section:
    try:
        from migma_contract.wire.serve import PROTOCOLS, stack_description
    except ImportError:  # the layout before the package's subfolders
        try:
            from migma_contract._http.serve import PROTOCOLS, stack_description
        except ImportError:  # --package of a tree from before the stack could be chosen: h11 only, no --http
            PROTOCOLS, stack_description = {}, lambda stack: "uvicorn, bounded h11 protocol (the only one then)"

    section = Section("2. the mock vs a bare Starlette app on the same server (the toolkit's server_config; 50 connections: requests/s, server CPU per request)")
    seconds, pairs = scale.load_seconds, scale.mock_pairs
    section.facts = {"seconds per measurement": seconds}
    for stack in PROTOCOLS or ["h11"]:  # httptools first where installed (the default), then the pure-Python fallback
        chosen = ["--http", stack] if PROTOCOLS else []
        bare = Server(PY, str(BENCH / "bare_app.py"), *chosen[1:])
        mock = Server(PY, "-m", "migma_contract.cli", "mock", "--port", "0", *chosen, "--config", str(_mock_world()))
        try:
            _load(bare.url, min(1, seconds))  # warm up both
            _load(mock.url, min(1, seconds))
            mock_rates, bare_rates, mock_cpu, bare_cpu = [], [], [], []
            for index in range(pairs):
                order = [("mock", mock), ("bare", bare)] if index % 2 == 0 else [("bare", bare), ("mock", mock)]
                for name, server in order:
                    rate, cpu = _served(server.url, seconds, server)
                    (mock_rates if name == "mock" else bare_rates).append(rate)
                    (mock_cpu if name == "mock" else bare_cpu).append(cpu)
        finally:
            bare.stop()
            mock.stop()
        section.facts["load"] = LOAD_TOOL
        section.add(f"{stack_description(stack)}: reference mock", mock_rates, "req/s")
        section.add("  bare Starlette", bare_rates, "req/s")
        section.add(f"  mock vs bare Starlette ({stack}), requests/s", [m / b for m, b in zip(mock_rates, bare_rates, strict=True)], "×")
        section.add("  reference mock: server CPU per request", mock_cpu, "µs")
        section.add("  bare Starlette: server CPU per request", bare_cpu, "µs")
        section.add(f"mock vs bare Starlette ({stack}), server CPU per request (bare / mock)",
                    [b / m for m, b in zip(mock_cpu, bare_cpu, strict=True)], "×", (">=", 0.85),
                    "CPU: steadier than requests/s on a shared machine")
    return section


# --- 3. the check -----------------------------------------------------------------------------------------


def _recorded(mock: Server) -> list[dict]:
    return httpx.get(f"{mock.url}/_bench/recorded", timeout=30).json()


def _finished(run: Run) -> bool:
    """A check that ran: conformant (0), or cut by the benchmark's own budget (3, INCOMPLETE: a small budget
    is below the plan's 153 requests), never unreachable or failing."""
    return run.returncode == 0 or (run.returncode == 3 and "INCOMPLETE" in run.stdout)


def _check(mock: Server, *options: str, cut_ok: bool = False) -> tuple[Run, list[dict]]:
    """One `migma-contract check` of the recording mock with its fixtures, as users run it: the run and what it sent.

    `cut_ok`: a budget below the plan's size is the point (a count matched to another tool's):
    its INCOMPLETE verdict (no verdict: exit 3, every exercised rule passed) is accepted, nothing else.
    """
    _recorded(mock)  # forget anything earlier
    reports = tempfile.mkdtemp()
    run = _run([PY, "-m", "migma_contract.cli", "check", "--base-url", mock.url, "--report-dir", reports, *FIXTURES, *options], env=KEYS)
    if cut_ok and run.returncode == 3 and "INCOMPLETE: the plan was cut" in run.stdout and "no verdict" in run.stdout:
        run.returncode = 0
    if run.returncode != 0:
        raise AssertionError(f"the check of the mock exited {run.returncode}:\n{run.stdout[-2000:]}\n{run.stderr[-2000:]}")
    if not (Path(reports) / "conformance.json").exists():
        raise AssertionError(f"the check exited 0 without writing its report: {run.stdout[-1000:]}")
    shutil.rmtree(reports, ignore_errors=True)
    return run, _recorded(mock)


def _replay(mock: Server, records: list[dict]) -> Run:
    """The same requests from a plain httpx loop in a fresh process; asserts each got the same status."""
    path = Path(tempfile.mkdtemp()) / "requests.json"
    path.write_text(json.dumps(records))
    run = _run([PY, str(BENCH / "replay.py"), mock.url, str(path)])
    if run.returncode != 0:
        raise AssertionError(f"the replay did not get the same answers: {run.stdout}{run.stderr[-2000:]}")
    sent = json.loads(run.stdout)["requests"]
    if sent != len(records) or len(_recorded(mock)) != sent:
        raise AssertionError(f"the replay sent {sent} of {len(records)} requests")
    return run


def _alternate(index: int, *calls: Callable[[], object]) -> None:
    """Run the calls in order on even rounds, in reverse on odd ones (a slow spell hits both sides)."""
    for call in calls if index % 2 == 0 else calls[::-1]:
        call()


def _versus_bare(mock: Server, options: tuple[str, ...], pairs: int) -> tuple[list[dict], list[float], list[float], list[float], list[float]]:
    """The check with `options` and a bare process sending its requests, in pairs: (requests, walls, bare walls, CPUs, bare CPUs)."""
    _, records = _check(mock, *options)  # the requests it sends (the same each run: the seed is fixed)
    walls, floors, cpus, floor_cpus = [], [], [], []

    def subject() -> None:
        run, again = _check(mock, *options)
        if len(again) != len(records):
            raise AssertionError(f"the check sent {len(again)} requests, {len(records)} the first time")
        walls.append(run.wall_s)
        cpus.append(run.cpu_s)

    def baseline() -> None:
        run = _replay(mock, records)
        floors.append(run.wall_s)
        floor_cpus.append(run.cpu_s)

    for index in range(pairs):
        _alternate(index, subject, baseline)
    return records, walls, floors, cpus, floor_cpus


def check(scale: Scale) -> Section:
    section = Section("3. the check as users run it (the closed mock, its fixtures) vs a bare process sending the same requests")
    section.facts = {"target": "a recording copy of the reference mock's closed built-in world on loopback; the check gets "
                               + " ".join(FIXTURES) + " and the development keys",
                     "bare process": "benchmarks/replay.py: a fresh interpreter, import httpx, one keep-alive Client, the same "
                                     "requests in order, each asserted to get the status the check got"}
    mock = Server(PY, str(BENCH / "recording_mock.py"))
    try:
        _check(mock)  # warm up (bytecode, page cache)
        for label, options, target in (("default check", (), 2.0), ("check --no-explore", ("--no-explore",), 1.5)):
            records, walls, floors, cpus, floor_cpus = _versus_bare(mock, options, scale.check_pairs)
            section.add(f"{label} ({len(records)} requests), process wall", walls, "s")
            section.add(f"  bare process sending the same {len(records)} requests, wall", floors, "s")
            section.add("  CPU of the check / CPU of the bare process", [c / f for c, f in zip(cpus, floor_cpus, strict=True)], "×",
                        note=f"{statistics.median(cpus):.2f} s vs {statistics.median(floor_cpus):.2f} s")
            section.add(f"{label} vs a bare process, same {len(records)} requests (wall)",
                        [w / f for w, f in zip(walls, floors, strict=True)], "×", ("<=", target))

        # Both budgets explore (the plan is ~150 requests): the difference is what an explored request costs.
        small, large = scale.marginal
        cpu: dict[int, list[float]] = {small: [], large: []}
        bare_cpu: dict[int, list[float]] = {small: [], large: []}
        count: dict[int, int] = {}
        rss: dict[int, float] = {}
        for index in range(scale.marginal_rounds):
            for size in (small, large) if index % 2 == 0 else (large, small):
                run, records = _check(mock, "--max-requests", str(size))
                count[size] = len(records)
                rss[size] = max(rss.get(size, 0.0), run.peak_rss_mib)
                cpu[size].append(run.cpu_s)
                bare_cpu[size].append(_replay(mock, records).cpu_s)
        span = count[large] - count[small]
        section.add(f"check --max-requests {large}: {count[large]} requests, CPU", cpu[large], "s", note=f"peak RSS {rss[large]:.0f} MiB")
        section.add("  bare process sending them, CPU", bare_cpu[large], "s")
        section.add(f"{count[large]}-request check vs a bare process sending them (CPU)",
                    [c / b for c, b in zip(cpu[large], bare_cpu[large], strict=True)], "×", ("<=", 3.0))
        section.add(f"marginal CPU per explored request, {count[small]} → {count[large]} requests (both explore)",
                    [(b - a) / span * 1000 for a, b in zip(cpu[small], cpu[large], strict=True)], "ms", ("<=", 1.5))
        section.add("  the bare process's marginal CPU per request, same counts",
                    [(b - a) / span * 1000 for a, b in zip(bare_cpu[small], bare_cpu[large], strict=True)], "ms")

        schemathesis = Path(PY).with_name("schemathesis")
        if schemathesis.exists():
            st_cpu, our_cpu, st_sent, our_sent, codes = [], [], [], [], set()
            for index in range(scale.schemathesis_pairs):
                def theirs() -> None:
                    _recorded(mock)
                    run = _run([str(schemathesis), "run", str(ROOT / "spec" / "openapi.yaml"), "--url", mock.url,
                                "-H", f"Authorization: Bearer {FULL_KEY}", "--checks", "all", "--continue-on-failure",
                                "--max-examples", str(scale.schemathesis_examples), "--seed", "1", "--no-color"],
                               cwd=Path(tempfile.mkdtemp()))  # its cache, not in the tree
                    st_sent.append(len(_recorded(mock)))
                    st_cpu.append(run.cpu_s)
                    codes.add(run.returncode)
                    if not st_sent[-1] or run.returncode not in (0, 1):
                        raise AssertionError(f"schemathesis run exited {run.returncode} after {st_sent[-1]} requests: {run.stdout[-1500:]}")

                def ours() -> None:
                    budget = st_sent[-1] if st_sent else 180
                    run, records = _check(mock, "--max-requests", str(budget), cut_ok=True)
                    our_sent.append(len(records))
                    our_cpu.append(run.cpu_s)

                _alternate(index, theirs, ours)  # reversed on odd rounds: ours then takes the previous round's count
            n = statistics.median(st_sent)
            section.add(f"schemathesis run --checks all --continue-on-failure --max-examples {scale.schemathesis_examples}: "
                        f"{n:.0f} requests, CPU per request", [c / s * 1000 for c, s in zip(st_cpu, st_sent, strict=True)], "ms",
                        note=f"exit {'/'.join(map(str, sorted(codes)))}")
            section.add(f"  check --max-requests {n:.0f} (matched): {statistics.median(our_sent):.0f} requests, CPU per request",
                        [c / s * 1000 for c, s in zip(our_cpu, our_sent, strict=True)], "ms")
            section.add(f"check vs Schemathesis, CPU per request at {n:.0f} requests",
                        [(c / s) / (t / u) for c, s, t, u in zip(our_cpu, our_sent, st_cpu, st_sent, strict=True)], "×", ("<=", 1.0))
    finally:
        mock.stop()

    # One explored case before the wire (drawn, made a body, labelled), Schemathesis' vs the catalogue's.
    rounds, cases = scale.explored_cases
    run = _run([PY, str(BENCH / "explored_case.py"), str(rounds), str(cases)])
    if run.returncode != 0:
        raise AssertionError(f"explored_case.py exited {run.returncode}: {run.stderr[-1500:]}")
    per_case = json.loads(run.stdout.strip().splitlines()[-1])["ms_per_case"]
    theirs = [statistics.mean(pair) for pair in zip(per_case["schemathesis positive"], per_case["schemathesis negative"], strict=True)]
    ours = [statistics.mean(pair) for pair in zip(per_case["catalogue valid"], per_case["catalogue one rule broken"], strict=True)]
    for name, values in per_case.items():
        section.add(f"  one explored case, {name}: drawn and labelled, CPU", values, "ms")
    section.add("one Schemathesis case vs one of the catalogue's, drawn and labelled (CPU)",
                [t / o for t, o in zip(theirs, ours, strict=True)], "×", ("<=", 2.0),
                note=f"{cases} cases per source and round, the modes and the catalogue's two sources averaged")

    dry, rules = [], []
    for command in (["check", "--dry-run"], ["rules"]):  # warm up
        _run([PY, "-m", "migma_contract.cli", *command], env=KEYS)
    for index in range(scale.dry_pairs):
        runs = {}
        for name, command in (("dry", ["check", "--dry-run"]), ("rules", ["rules"]))[:: 1 if index % 2 == 0 else -1]:
            runs[name] = _run([PY, "-m", "migma_contract.cli", *command], env=KEYS)
            if runs[name].returncode != 0:
                raise AssertionError(f"{command} exited {runs[name].returncode}: {runs[name].stderr[-1000:]}")
        dry.append(runs["dry"].wall_s)
        rules.append(runs["rules"].wall_s)
    section.add("check --dry-run, process wall", dry, "s")
    section.add("  baseline: rules, process wall", rules, "s")
    section.add("check --dry-run vs rules", [d / r for d, r in zip(dry, rules, strict=True)], "×", ("<=", 2.0))
    return section


# --- 4. pytest ----------------------------------------------------------------------------------------------


def pytest_costs(scale: Scale) -> Section:
    section = Section("4. pytest: the plugin on an unrelated run, and the conformance suite vs the CLI at the same budget")
    work = Path(tempfile.mkdtemp(prefix="migma-bench-pytest-"))
    (work / "test_unrelated.py").write_text("def test_one():\n    assert 1 + 1 == 2\n")
    base = [PY, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly"]
    with_plugin: list[Run] = []
    without: list[Run] = []

    def plain(*extra: str) -> Run:
        run = _run([*base, *extra, "test_unrelated.py"], cwd=work)
        if run.returncode != 0 or "1 passed" not in run.stdout:
            raise AssertionError(f"the one-test pytest run failed ({run.returncode}): {run.stdout[-1500:]}{run.stderr[-1500:]}")
        return run

    smoke = scale.name == "smoke"  # one of each, no warm-up: the suite's round checks the rows, not the figures
    if not smoke:
        plain()  # warm up
    for index in range(scale.pytest_pairs * (1 if smoke else 2)):  # twice the pairs: a difference of two whole runs is a small figure in noise
        _alternate(index, lambda: with_plugin.append(plain()), lambda: without.append(plain("-p", "no:migma_contract")))
    section.add("one unrelated test, pytest with the plugin installed, process wall", [r.wall_s for r in with_plugin], "s",
                note="the environment's other plugins (Hypothesis', Schemathesis') load in both")
    section.add("  the same with -p no:migma_contract", [r.wall_s for r in without], "s")
    section.add("  the plugin's added wall time", [(w.wall_s - o.wall_s) * 1000 for w, o in zip(with_plugin, without, strict=True)], "ms")
    section.add("plugin's added CPU time on an unrelated one-test run",
                [(w.cpu_s - o.cpu_s) * 1000 for w, o in zip(with_plugin, without, strict=True)], "ms", ("<=", 20.0),
                "CPU: steadier than wall on a shared machine")

    # What the plugin itself runs at every pytest start, timed inside a fresh process: steadier than
    # the difference of two whole pytest runs, which the machine's noise swamps at this size.
    probe = ("import time, pytest\nfrom _pytest.config.argparsing import Parser\nstart = time.process_time()\n"
             "import migma_contract.pytest_plugin as plugin\nplugin.pytest_addoption(Parser())\n"
             "print((time.process_time() - start) * 1000)")
    own = []
    for _ in range(1 if smoke else scale.pytest_pairs * 2):
        done = subprocess.run([PY, "-c", probe], capture_output=True, text=True, env=ENV, cwd=work, timeout=120)
        if done.returncode != 0:
            raise AssertionError(f"the plugin did not import: {done.stderr[-1500:]}")
        own.append(float(done.stdout))
    section.add("the plugin's own start (import + pytest_addoption), CPU in a fresh process", own, "ms")

    budget = str(scale.conformance_budget)
    suite, cli = [], []

    def conformance() -> None:
        reports = tempfile.mkdtemp()
        # `--migma-report-dir=PATH`, one argument: given as two, pytest takes the path for one to collect from while it
        # finds its rootdir (before any plugin's options are known, pytest issue #8846), and lists all of /tmp at collection
        run = _run([*base, "--migma-conformance", "--migma-max-requests", budget, f"--migma-report-dir={reports}"], cwd=work, env=KEYS)
        if run.returncode not in (0, 3) or "passed" not in run.stdout:  # 3: the budget cut the plan (a small one)
            raise AssertionError(f"pytest --migma-conformance exited {run.returncode}: {run.stdout[-1500:]}{run.stderr[-1500:]}")
        suite.append(run.wall_s)

    def command() -> None:
        reports = tempfile.mkdtemp()
        run = _run([PY, "-m", "migma_contract.cli", "check", "--max-requests", budget, "--report-dir", reports], cwd=work, env=KEYS)
        if not _finished(run):
            raise AssertionError(f"migma-contract check exited {run.returncode}: {run.stdout[-1500:]}{run.stderr[-1500:]}")
        cli.append(run.wall_s)

    if not smoke:
        conformance()  # warm up (bytecode of every module the check imports)
        command()
        suite.clear()
        cli.clear()
    for index in range(scale.pytest_pairs):
        _alternate(index, conformance, command)
    section.add(f"pytest --migma-conformance --migma-max-requests {budget} (embedded mock), process wall", suite, "s")
    section.add(f"  migma-contract check --max-requests {budget} (embedded mock), process wall", cli, "s")
    section.add("pytest --migma-conformance vs migma-contract check, same budget",
                [s / c for s, c in zip(suite, cli, strict=True)], "×", ("<=", 1.5))
    shutil.rmtree(work, ignore_errors=True)
    return section


# --- 5. traffic: the middleware and the proxy -----------------------------------------------------------------


def _cpu_seconds(pid: int) -> float:
    """CPU time (user + system) a process has used so far, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _served(url: str, seconds: float, *servers: Server) -> tuple[float, float]:
    """(requests/s, the servers' CPU µs per request) under 50 connections of load."""
    before = sum(_cpu_seconds(s.process.pid) for s in servers)
    result = _load(url, seconds)
    used = sum(_cpu_seconds(s.process.pid) for s in servers) - before
    return result["rate_per_s"], used / result["requests"] * 1e6


def _paced_p50(url: str, count: int, rate: float = 200.0) -> float:
    """Median ms per request of one keep-alive client sending `rate` requests a second (a steady stream, not a flood)."""
    interval = 1 / rate
    times = []
    with httpx.Client(base_url=url, headers=AUTH, timeout=30) as client:
        client.post("/v1/sending", json=VALID)
        next_at = time.perf_counter()
        for _ in range(count):
            pause = next_at - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
            start = time.perf_counter()
            response = client.post("/v1/sending", json=VALID)
            times.append(time.perf_counter() - start)
            if response.status_code != 200:
                raise AssertionError(f"{url}: {response.status_code} {response.text[:300]}")
            next_at = max(next_at + interval, time.perf_counter())
    return statistics.median(times) * 1000


def _unjudged(said: str) -> str | None:
    """How many sends a judging server passed unjudged, from what it said when stopped (serve_traffic.py): a send
    passed unjudged (judging behind, over its CPU share) costs no judging, so a CPU row is what it says only when
    (almost) every send was judged."""
    counts = re.search(r"judged (\d+) exchange\(s\), (\d+) passed unjudged", said)
    if counts is None:
        return None
    judged, unjudged = int(counts.group(1)), int(counts.group(2))
    return f"{unjudged:,} of {judged + unjudged:,} sends passed unjudged"


def traffic(scale: Scale) -> Section:
    section = Section("5. traffic: ContractMiddleware and migma-contract proxy vs the bare mock (50 connections; one paced client)")
    serve = [PY, str(BENCH / "serve_traffic.py")]
    seconds = scale.load_seconds
    bare, wrapped = Server(*serve, "mock"), Server(*serve, "middleware")
    try:
        _load(bare.url, min(1, seconds))
        _load(wrapped.url, min(1, seconds))
        cpu: dict[str, list[float]] = {"bare": [], "wrapped": []}
        for index in range(scale.traffic_pairs):
            _alternate(index, lambda: cpu["bare"].append(_served(bare.url, seconds, bare)[1]),
                       lambda: cpu["wrapped"].append(_served(wrapped.url, seconds, wrapped)[1]))
    finally:
        bare.stop()
        said = wrapped.stop()
    section.add("the mock, bare: server CPU per request", cpu["bare"], "µs")
    section.add("  the mock inside ContractMiddleware: server CPU per request", cpu["wrapped"], "µs", note=_unjudged(said))
    section.add("middleware: wrapped app vs bare app, server CPU per request",
                [w / b for w, b in zip(cpu["wrapped"], cpu["bare"], strict=True)], "×", ("<=", 1.3))

    upstream = Server(*serve, "mock")
    proxy = Server(*serve, "proxy", upstream.url)
    forward = Server(*serve, "forward", upstream.url)
    try:
        for server in (upstream, proxy, forward):
            _load(server.url, min(1, seconds))
        rates: dict[str, list[float]] = {"direct": [], "proxy": [], "forward": []}
        used: dict[str, list[float]] = {"direct": [], "proxy": [], "forward": []}  # the servers' CPU µs per request
        p50: dict[str, list[float]] = {"direct": [], "proxy": []}

        def measure(name: str, url: str, *servers: Server) -> None:
            rate, cpu = _served(url, seconds, *servers)
            rates[name].append(rate)
            used[name].append(cpu)

        for index in range(scale.traffic_pairs):
            _alternate(index, lambda: measure("direct", upstream.url, upstream), lambda: measure("proxy", proxy.url, proxy, upstream),
                       lambda: measure("forward", forward.url, forward, upstream))
            _alternate(index, lambda: p50["direct"].append(_paced_p50(upstream.url, scale.paced_requests)),
                       lambda: p50["proxy"].append(_paced_p50(proxy.url, scale.paced_requests)))
    finally:
        said = {server: server.stop() for server in (forward, proxy, upstream)}
    section.add("the mock directly", rates["direct"], "req/s")
    section.add("  through migma-contract proxy (judging)", rates["proxy"], "req/s")
    section.add("  through the proxy forwarding only (no judging), for scale", rates["forward"], "req/s")
    section.add("proxy throughput vs the mock directly", [p / d for p, d in zip(rates["proxy"], rates["direct"], strict=True)],
                "×", (">=", 0.25))
    # requests/s swing with what else the shared machine runs; the CPU each request costs the servers does not
    section.add("  the mock directly: server CPU per request", used["direct"], "µs")
    proxied = _unjudged(said.get(proxy, ""))
    section.add("  through the proxy (judging): proxy's and mock's CPU per request", used["proxy"], "µs",
                note="judging may take a quarter of a core" + (f"; {proxied}" if proxied else ""))
    section.add("  through the proxy forwarding only: proxy's and mock's CPU per request", used["forward"], "µs")
    section.add("p50 latency at 200 req/s, the mock directly", p50["direct"], "ms")
    section.add("  through migma-contract proxy", p50["proxy"], "ms")
    section.add("proxy's added p50 latency at 200 req/s", [p - d for p, d in zip(p50["proxy"], p50["direct"], strict=True)],
                "ms", ("<=", 2.0))
    return section


# --- the run ------------------------------------------------------------------------------------------------


def _cpu_speed() -> float:
    """Milliseconds of CPU for a fixed pure-Python workload (median of 5): the machine's speed now.

    The machine is shared: in a slow spell every absolute figure (the marginal cost in ms) grows,
    and ratios less so. Taken at the start and the end of a run, so a reader can tell.
    """
    times = []
    for _ in range(5):
        start = time.process_time()
        total = 0
        for i in range(300_000):
            total += i * i % 7
        times.append((time.process_time() - start) * 1000)
    return round(statistics.median(times), 1)


def _machine() -> dict:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name")), platform.processor()) \
        if Path("/proc/cpuinfo").exists() else platform.processor()
    return {"date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"), "cpu": cpu, "cores": os.cpu_count(),
            "python": platform.python_version(), "load average at start": round(os.getloadavg()[0], 2),
            "CPU speed check at start (ms, lower is faster)": _cpu_speed()}


SECTIONS: dict[str, Callable[[Scale], Section]] = {
    "validation": validation, "mock": mock_throughput, "check": check, "pytest": pytest_costs, "traffic": traffic}


def run_sections(names: list[str], scale: Scale, title: str, json_path: Path | None = None,
                 extra: Callable[[], list[Section]] | None = None) -> list[Section]:
    """Run and print the named sections (and `extra`'s), then the targets with the CPU speed check at the end."""
    machine = _machine()
    print(title + (f" ({scale.name})" if scale.name != "full" else "") + (f" of the package in {PACKAGE}" if PACKAGE != ROOT else ""))
    print("  " + "; ".join(f"{k}: {v}" for k, v in machine.items()), flush=True)
    sections = []

    def show(section: Section) -> None:
        sections.append(section)
        print(f"\n== {section.title}")
        for key, value in section.facts.items():
            print(f"  {key}: {value}")
        for row in section.rows:
            print(row.render())
        sys.stdout.flush()

    for name in names:
        show(SECTIONS[name](scale))
    for section in extra() if extra else []:
        show(section)
    targets = [row for section in sections for row in section.rows if row.target]
    machine["CPU speed check at the end"] = _cpu_speed()
    print(f"\n== targets (issues 16 and 23): {sum(bool(r.met()) for r in targets)} of {len(targets)} met (on the medians); "
          f"load average at the end {os.getloadavg()[0]:.2f}; CPU speed check at the end {machine['CPU speed check at the end']} ms "
          f"(at the start {machine['CPU speed check at start (ms, lower is faster)']})")
    for row in targets:
        print(row.render())
    if json_path:
        json_path.write_text(json.dumps({"machine": machine, "scale": scale.name,
                                         "sections": [{"title": s.title, "facts": s.facts, "rows": [r.as_dict() for r in s.rows]}
                                                      for s in sections]}, indent=2))
    return sections


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="smaller loads: a few minutes")
    size.add_argument("--smoke", action="store_true", help="one tiny round of every row (for the test suite: the figures mean nothing)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--only", choices=list(SECTIONS), action="append", help="run these sections only")
    parser.add_argument("--package", type=Path, default=ROOT,
                        help="measure the migma_contract of this tree (e.g. an older commit's, for before/after figures)")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # killed: the servers started are stopped on the way out
    _use_package(args.package)
    scale = SCALES["smoke" if args.smoke else "quick" if args.quick else "full"]
    run_sections([name for name in SECTIONS if not args.only or name in args.only], scale, "migma-contract benchmarks", args.json)


if __name__ == "__main__":
    main()
