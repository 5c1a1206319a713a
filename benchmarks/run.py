"""Benchmarks of migma-contract, each ratio against a baseline measured in the same run.

    python benchmarks/run.py            # a few minutes on 2 cores (`make bench`)
    python benchmarks/run.py --quick    # a smoke run, under a minute
    python benchmarks/run.py --only validation --json results.json

Everything talks to 127.0.0.1 only. Machines are shared and noisy, so what is reported is
ratios, each against its baseline measured here and now, in pairs (baseline and subject
back to back, alternating which goes first), as min / median / max over the pairs, each
beside its target from issue 16. Every baseline asserts that each of its calls did the
work (the right verdict, the status the server gave the first time), so a failing
baseline stops the run instead of looking fast.

1. validation: `validate_response` vs its floor, `json.loads` + jsonschema-rs `is_valid` on
   the vendor's 200 schema; `validate_request` vs the vendor request schema's `is_valid`;
   pure-Python jsonschema and openapi-core doing the response job, for scale.
2. the mock: requests/s of the reference mock vs a bare Starlette app answering a constant
   body, served the same way (same uvicorn settings, one process each), under wrk or
   `load.py` with 50 keep-alive connections.
3. the check, through its CLI, against a loopback mock that records what it is sent:
   the default check (and, for scale, the same without exploration) and a 1000-request
   check vs a plain synchronous httpx loop replaying exactly those requests (`replay.py`,
   also a fresh process); a scaling table (150, 500, 2000 requests, three rounds: wall,
   requests/s, peak RSS) and the marginal cost of a request from it, per round;
   `check --dry-run` vs `rules`; `schemathesis run` for scale.
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
ENV: dict[str, str] = {}


def _use_package(root: Path) -> None:
    global PACKAGE, ENV
    PACKAGE = root.resolve()
    ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(PACKAGE), os.environ.get("PYTHONPATH")) if p)}
    sys.path.insert(0, str(PACKAGE))

FULL_KEY, RESTRICTED_KEY = "mc_test_full_access", "mc_test_no_email_send"
KEYS = {"MIGMA_CONTRACT_API_KEY": FULL_KEY, "MIGMA_CONTRACT_RESTRICTED_API_KEY": RESTRICTED_KEY,
        "MIGMA_API_KEY": FULL_KEY, "MIGMA_RESTRICTED_API_KEY": RESTRICTED_KEY}  # the environment names now, and before the options table
MOCK_WORLD = "open_world: true\nlimits: {sent_log: 1000}\n"
VALID = {"recipientType": "email", "recipientEmail": "load@example.com", "from": "sender@example.com",
         "fromName": "Load", "subject": "Load test", "emailId": "email_welcome"}
JSON_HEADERS = {"content-type": "application/json"}
OK_BODY = json.dumps({"success": True, "data": {"id": "m_1", "status": "queued", "provider": "migma", "sentCount": 1}, "error": None}).encode()
BAD_BODY = json.dumps({"success": "yes", "data": {"id": 5}}).encode()


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

    def stop(self) -> None:
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()


def _mock_world() -> Path:
    path = Path(tempfile.mkdtemp()) / "mock.yaml"
    path.write_text(MOCK_WORLD)
    return path


# --- 1. validation ------------------------------------------------------------------------------------


def validation(quick: bool) -> Section:
    import jsonschema
    import jsonschema_rs
    import openapi_core
    from openapi_core.testing import MockRequest, MockResponse

    from migma_contract import load_spec, validate_request, validate_response

    section = Section("1. validation in-process (CPU µs per call; ratio = floor time / our time, higher is better)")
    rounds, n = (8, 1000) if quick else (30, 2000)
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


def _load(url: str, seconds: float) -> dict:
    body = Path(tempfile.mkdtemp()) / "body.json"
    body.write_text(json.dumps(VALID))
    if shutil.which("wrk"):
        script = body.with_name("post.lua")
        script.write_text(f'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
                          f'wrk.headers["Authorization"] = "Bearer {FULL_KEY}"\nwrk.body = {json.dumps(body.read_text())}\n')
        done = subprocess.run(["wrk", "-t1", "-c50", f"-d{seconds:g}s", "-s", str(script), f"{url}/v1/sending"],
                              capture_output=True, text=True, timeout=seconds + 60)
        rate = float(re.search(r"Requests/sec:\s+([\d.]+)", done.stdout).group(1))
        total = int(re.search(r"(\d+) requests in", done.stdout).group(1))
        bad = re.search(r"Non-2xx or 3xx responses: (\d+)", done.stdout)
        errors = re.search(r"Socket errors: (.+)", done.stdout)
        result = {"tool": "wrk -t1 -c50", "requests": total, "rate_per_s": rate, "non_200": int(bad.group(1)) if bad else 0,
                  "socket_errors": errors.group(1) if errors else None}
    else:
        done = subprocess.run([PY, str(BENCH / "load.py"), f"{url}/v1/sending", "--connections", "50", "--seconds", str(seconds),
                               "--body-file", str(body), "--header", f"Authorization: Bearer {FULL_KEY}"],
                              capture_output=True, text=True, timeout=seconds + 60, env=ENV)
        result = json.loads(done.stdout)
    if result["non_200"] or result.get("socket_errors") or result.get("connection_errors") or not result["requests"]:
        raise AssertionError(f"load against {url} did not get 200s throughout: {result}")
    return result


def mock_throughput(quick: bool) -> Section:
    try:
        from migma_contract.wire.serve import PROTOCOLS, stack_description
    except ImportError:  # --package of a tree from before the stack could be chosen: h11 only, no --http
        PROTOCOLS, stack_description = {}, lambda stack: "uvicorn, bounded h11 protocol (the only one then)"

    section = Section("2. the mock vs a bare Starlette app on the same server (the toolkit's server_config; requests/s, 50 connections)")
    seconds, pairs = (2, 1) if quick else (3, 5)
    section.facts = {"seconds per measurement": seconds}
    for stack in PROTOCOLS or ["h11"]:  # httptools first where installed (the default), then the pure-Python fallback
        chosen = ["--http", stack] if PROTOCOLS else []
        bare = Server(PY, str(BENCH / "bare_app.py"), *chosen[1:])
        mock = Server(PY, "-m", "migma_contract.cli", "mock", "--port", "0", *chosen, "--config", str(_mock_world()))
        try:
            _load(bare.url, 1)  # warm up both
            _load(mock.url, 1)
            mock_rates, bare_rates = [], []
            for index in range(pairs):
                order = [("mock", mock), ("bare", bare)] if index % 2 == 0 else [("bare", bare), ("mock", mock)]
                for name, server in order:
                    result = _load(server.url, seconds)
                    section.facts["load"] = result["tool"]
                    (mock_rates if name == "mock" else bare_rates).append(result["rate_per_s"])
        finally:
            bare.stop()
            mock.stop()
        section.add(f"{stack_description(stack)}: reference mock", mock_rates, "req/s")
        section.add("  bare Starlette", bare_rates, "req/s")
        section.add(f"  mock vs bare Starlette ({stack})", [m / b for m, b in zip(mock_rates, bare_rates, strict=True)], "×", (">=", 0.85))
    return section


# --- 3. the check -----------------------------------------------------------------------------------------


def _recorded(mock: Server) -> list[dict]:
    return httpx.get(f"{mock.url}/_bench/recorded", timeout=30).json()


def _check(mock: Server, *options: str) -> tuple[Run, list[dict]]:
    """One `migma-contract check` against the recording mock: the run and what it sent."""
    _recorded(mock)  # forget anything earlier
    reports = tempfile.mkdtemp()
    run = _run([PY, "-m", "migma_contract.cli", "check", "--base-url", mock.url, "--report-dir", reports, *options], env=KEYS)
    if run.returncode != 0:
        raise AssertionError(f"the check of the mock exited {run.returncode}:\n{run.stdout[-2000:]}\n{run.stderr[-2000:]}")
    shutil.rmtree(reports, ignore_errors=True)
    return run, _recorded(mock)


def _replay(mock: Server, records: list[dict]) -> tuple[Run, dict]:
    """The same requests from a plain httpx loop in a fresh process; asserts each got the same status."""
    path = Path(tempfile.mkdtemp()) / "requests.json"
    path.write_text(json.dumps(records))
    run = _run([PY, str(BENCH / "replay.py"), mock.url, str(path)])
    if run.returncode != 0:
        raise AssertionError(f"the replay did not get the same answers: {run.stdout}{run.stderr[-2000:]}")
    _recorded(mock)  # the replay's own requests
    return run, json.loads(run.stdout)


def check(quick: bool) -> Section:
    section = Section("3. the check through its CLI vs a bare loop, against a loopback mock (seconds of wall time)")
    pairs = 1 if quick else 5
    big = 300 if quick else 1000
    sizes = (150, 500) if quick else (150, 500, 2000)
    mock = Server(PY, str(BENCH / "recording_mock.py"), "--config", str(_mock_world()))
    try:
        _check(mock)  # warm up (bytecode, page cache)
        checks = (("default check", (), pairs, 1.3),
                  ("default check without exploration (--no-explore)", ("--no-explore",), pairs, None),
                  (f"{big}-request check", ("--max-requests", str(big)), 1 if quick else 3, 3.5))
        for label, options, count, target in checks:
            walls, floors, loops, sent, cpus, floor_cpus = [], [], [], [], [], []
            for _ in range(count):
                run, records = _check(mock, *options)
                floor, replayed = _replay(mock, records)
                walls.append(run.wall_s)
                floors.append(floor.wall_s)
                loops.append(replayed["loop_s"])
                sent.append(len(records))
                cpus.append(run.cpu_s)
                floor_cpus.append(floor.cpu_s)
            section.add(f"{label} ({sent[0]} requests), CLI wall", walls, "s")
            section.add("  floor: sync httpx replaying them, process wall", floors, "s")
            section.add("  the loop alone (no interpreter start, no import)", loops, "s")
            section.add("  CPU of the check process / CPU of the replay process", [c / f for c, f in zip(cpus, floor_cpus, strict=True)], "×",
                        note=f"{statistics.median(cpus):.2f} s vs {statistics.median(floor_cpus):.2f} s")
            note = "" if big == 1000 or not label.endswith("-request check") else "target is set at 1000 requests"
            section.add(f"{label} vs the bare loop", [w / f for w, f in zip(walls, floors, strict=True)], "×",
                        ("<=", target) if target else None, note if target else "for scale: the plan alone")

        # Each size run `rounds` times, the sizes in turn (a slow spell of the machine hits every size);
        # the marginal cost is taken per round, from that round's smallest and largest run.
        rounds = 1 if quick else 3
        runs: dict[int, list[tuple[int, Run]]] = {size: [] for size in sizes}
        for index in range(rounds):
            for size in sizes if index % 2 == 0 else sizes[::-1]:
                run, records = _check(mock, "--max-requests", str(size))
                runs[size].append((len(records), run))
        for size in sizes:
            sent = runs[size][0][0]
            walls = [run.wall_s for _, run in runs[size]]
            rss = max(run.peak_rss_mib for _, run in runs[size])
            section.add(f"scaling: --max-requests {size}: {sent} requests, peak RSS {rss:.1f} MiB", [n / run.wall_s for n, run in runs[size]],
                        "req/s", note=f"wall {statistics.median(walls):.2f} s, CPU {statistics.median(run.cpu_s for _, run in runs[size]):.2f} s")
        first, last = sizes[0], sizes[-1]
        marginal = [(big_run.wall_s - small_run.wall_s) / (big_n - small_n) * 1000
                    for (small_n, small_run), (big_n, big_run) in zip(runs[first], runs[last], strict=True)]
        section.add(f"marginal cost per request, {runs[first][0][0]} → {runs[last][0][0]} requests", marginal, "ms",
                    ("<=", 4.0), "exploration ≤ 4 ms/request is set at 2000" if last < 2000 else "")

        if not quick:
            schemathesis = Path(PY).with_name("schemathesis")
            if schemathesis.exists():
                _recorded(mock)
                run = _run([str(schemathesis), "run", str(ROOT / "spec" / "openapi.yaml"), "--url", mock.url,
                            "-H", f"Authorization: Bearer {FULL_KEY}"], cwd=Path(tempfile.mkdtemp()))  # its cache, not in the tree
                sent = len(_recorded(mock))
                section.add(f"schemathesis run, vendor document, defaults ({sent} requests, exit {run.returncode})", [run.wall_s], "s",
                            note=f"{sent / run.wall_s:.0f} req/s; for scale, not a baseline")
    finally:
        mock.stop()

    rounds = 3 if quick else 7
    dry, rules = [], []
    for index in range(rounds):
        runs = {}
        for name, command in (("dry", ["check", "--dry-run"]), ("rules", ["rules"]))[:: 1 if index % 2 == 0 else -1]:
            runs[name] = _run([PY, "-m", "migma_contract.cli", *command], env=KEYS)
            if runs[name].returncode != 0:
                raise AssertionError(f"{command} exited {runs[name].returncode}: {runs[name].stderr[-1000:]}")
        dry.append(runs["dry"].wall_s)
        rules.append(runs["rules"].wall_s)
    section.add("check --dry-run, CLI wall", dry, "s")
    section.add("  baseline: rules, CLI wall", rules, "s")
    section.add("check --dry-run vs rules", [d / r for d, r in zip(dry, rules, strict=True)], "×", ("<=", 2.0))
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
            "python": platform.python_version(), "system": platform.platform(terse=True), "load average at start": os.getloadavg()[0],
            "CPU speed check at start (ms, lower is faster)": _cpu_speed()}


SECTIONS = {"validation": validation, "mock": mock_throughput, "check": check}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smaller loads: a smoke run under a minute")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--only", choices=list(SECTIONS), action="append", help="run these sections only")
    parser.add_argument("--package", type=Path, default=ROOT,
                        help="measure the migma_contract of this tree (e.g. an older commit's, for before/after figures)")
    args = parser.parse_args()
    _use_package(args.package)
    machine = _machine()
    print("migma-contract benchmarks" + (" (--quick)" if args.quick else "") + (f" of the package in {PACKAGE}" if PACKAGE != ROOT else ""))
    print("  " + "; ".join(f"{k}: {v}" for k, v in machine.items()))
    sections = []
    for name, build in SECTIONS.items():
        if args.only and name not in args.only:
            continue
        section = build(args.quick)
        sections.append(section)
        print(f"\n== {section.title}")
        for key, value in section.facts.items():
            print(f"  {key}: {value}")
        for row in section.rows:
            print(row.render())
    targets = [row for section in sections for row in section.rows if row.target]
    machine["CPU speed check at the end"] = _cpu_speed()
    print(f"\n== targets (issue 16): {sum(bool(r.met()) for r in targets)} of {len(targets)} met; load average at the end "
          f"{os.getloadavg()[0]:.2f}; CPU speed check at the end {machine['CPU speed check at the end']} ms (at the start "
          f"{machine['CPU speed check at start (ms, lower is faster)']})")
    for row in targets:
        print(row.render())
    if args.json:
        args.json.write_text(json.dumps({"machine": machine, "quick": args.quick,
                                         "sections": [{"title": s.title, "facts": s.facts, "rows": [r.as_dict() for r in s.rows]} for s in sections]},
                                        indent=2))


if __name__ == "__main__":
    main()
