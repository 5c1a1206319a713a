"""Benchmarks of migma-contract, measured against baselines taken in the same run.

    python benchmarks/run.py            # about a minute on 2 cores
    python benchmarks/run.py --quick    # smaller loads, for a smoke test

Everything talks to 127.0.0.1 only. The machines are shared and noisy, so what matters is
the ratios, each against a baseline measured here and now:

1. the reference mock's request rate under concurrent load vs a bare Starlette app
   answering a constant JSON body, served the same way;
2. `migma-contract check` at default settings against the loopback mock (wall time,
   requests, verdict) vs `schemathesis run` on the vendor's document against the same
   mock (wall time, requests, what it flags), vs a bare httpx loop sending as many
   requests (the floor);
3. full response validations per second in-process vs pure-Python jsonschema and
   openapi-core doing the same job.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

FULL_KEY, RESTRICTED_KEY = "mc_test_full_access", "mc_test_no_email_send"
AUTH = {"Authorization": f"Bearer {FULL_KEY}"}
VALID = {"recipientType": "email", "recipientEmail": "load@example.com", "from": "sender@example.com",
         "fromName": "Load", "subject": "Load test", "emailId": "email_welcome"}


class Server:
    """A server in its own process (so load and service do not share one interpreter)."""

    def __init__(self, *command: str) -> None:
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, cwd=ROOT)
        line = self.process.stdout.readline()
        self.url = line.rsplit(" at ", 1)[1].strip()

    def requests(self) -> int:
        return httpx.get(f"{self.url}/_mock/health").json()["requests"]

    def stop(self) -> None:
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()


def mock_server(open_world: bool = True) -> Server:
    config = Path(tempfile.mkdtemp()) / "mock.yaml"
    config.write_text(f"open_world: {str(open_world).lower()}\nlimits: {{sent_log: 1000}}\n")
    return Server(sys.executable, "-m", "migma_contract.cli", "mock", "--port", "0", "--config", str(config))


# --- 1. throughput of the mock vs a bare app ----------------------------------------------------------

WRK_SCRIPT = f"""
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer {FULL_KEY}"
wrk.body = '{json.dumps(VALID)}'
"""


def _wrk(url: str, clients: int, seconds: int) -> dict:
    script = Path(tempfile.mkdtemp()) / "post.lua"
    script.write_text(WRK_SCRIPT)
    done = subprocess.run(["wrk", "-t2", f"-c{clients}", f"-d{seconds}s", "-s", str(script), f"{url}/v1/sending"],
                          capture_output=True, text=True, timeout=seconds + 60)
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", done.stdout).group(1))
    total = int(re.search(r"(\d+) requests in", done.stdout).group(1))
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", done.stdout)
    errors = re.search(r"Socket errors: (.+)", done.stdout)
    return {"tool": "wrk", "seconds": seconds, "requests": total, "rate_per_s": round(rate),
            "non_2xx": int(bad.group(1)) if bad else 0, "socket_errors": errors.group(1) if errors else "none"}


async def _httpx_load(url: str, clients: int, seconds: float) -> dict:
    """Fallback without wrk: a few keep-alive clients (httpx itself slows down with many)."""
    done = errors = 0
    deadline = time.perf_counter() + seconds
    async with httpx.AsyncClient(base_url=url, headers=AUTH, timeout=30) as client:
        async def worker() -> None:
            nonlocal done, errors
            while time.perf_counter() < deadline:
                response = await client.post("/v1/sending", json=VALID)
                done += 1
                errors += response.status_code != 200
        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(clients)))
        elapsed = time.perf_counter() - start
    return {"tool": "httpx", "seconds": round(elapsed, 2), "requests": done, "rate_per_s": round(done / elapsed), "non_2xx": errors}


def throughput(quick: bool) -> dict:
    seconds = 3 if quick else 10
    results = {}
    for name, server in (("bare starlette", Server(sys.executable, str(ROOT / "benchmarks" / "bare_app.py"))), ("reference mock", mock_server())):
        try:
            if shutil.which("wrk"):
                _wrk(server.url, 50, 1)  # warm up
                results[name] = _wrk(server.url, 50, seconds)
            else:
                results[name] = asyncio.run(_httpx_load(server.url, 8, seconds))
        finally:
            server.stop()
    results["ratio mock/bare"] = round(results["reference mock"]["rate_per_s"] / results["bare starlette"]["rate_per_s"], 3)
    return results


# --- 2. the check vs schemathesis vs a bare loop --------------------------------------------------------


def _timed(command: list[str], env: dict | None = None) -> tuple[float, subprocess.CompletedProcess]:
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, env={**os.environ, **(env or {})}, timeout=900)
    return time.perf_counter() - start, done


async def _bare_loop(url: str, bodies: list[bytes]) -> float:
    async with httpx.AsyncClient(base_url=url, headers={**AUTH, "Content-Type": "application/json"}) as client:
        start = time.perf_counter()
        for body in bodies:
            response = await client.post("/v1/sending", content=body)
            await response.aread()
        return time.perf_counter() - start


def check_vs_schemathesis() -> dict:
    from migma_contract import contract_for
    from migma_contract._bodies import BodyFactory, Fixtures
    from migma_contract._plan import build_plan
    from migma_contract._runner import CheckOptions, run_check

    results: dict = {}
    server = mock_server()
    try:
        reports = Path(tempfile.mkdtemp())
        before = server.requests()
        wall, done = _timed([sys.executable, "-m", "migma_contract.cli", "check", "--base-url", server.url,
                             "--report-dir", str(reports)], env={"MIGMA_API_KEY": FULL_KEY, "MIGMA_RESTRICTED_API_KEY": RESTRICTED_KEY})
        sent = server.requests() - before
        verdict = json.loads((reports / "conformance.json").read_text())
        results["migma-contract check (CLI)"] = {"wall_s": round(wall, 2), "requests": sent, "exit": done.returncode,
                                                 "verdict": verdict["summary"]["headline"]}
        # the same check in-process (warm: the second of two runs), without interpreter start-up
        options = CheckOptions(base_url=server.url, api_key=FULL_KEY, restricted_key=RESTRICTED_KEY)
        run_check(options)
        start = time.perf_counter()
        in_process = run_check(options)
        engine = time.perf_counter() - start
        results["migma-contract check (in-process, warm)"] = {"seconds": round(engine, 2), "requests": in_process.requests_sent,
                                                             "plan_s": in_process.plan.get("plan_s"), "explore_s": in_process.plan.get("explore_s"),
                                                             "explored": in_process.plan.get("explored")}

        before = server.requests()
        wall_st, st = _timed(["schemathesis", "run", str(ROOT / "spec" / "openapi.yaml"), "--url", server.url,
                              "-H", f"Authorization: Bearer {FULL_KEY}"])
        flagged = sorted(set(re.findall(r"^\s*-\s+(ST\d+ [^\n]+)$", st.stdout, re.M)))
        cases = re.search(r"(\d+) generated", st.stdout)
        results["schemathesis run (vendor document)"] = {
            "wall_s": round(wall_st, 2), "requests": server.requests() - before, "exit": st.returncode,
            "test_cases": int(cases.group(1)) if cases else None,
            "flags_on_a_correct_server": flagged,
        }

        contract = contract_for()
        plan = build_plan(contract, "documented", BodyFactory(contract.spec, Fixtures()), api_key=FULL_KEY, restricted_key=RESTRICTED_KEY)
        plan_bodies = [case.content for case in plan.cases]
        plan_floor = asyncio.run(_bare_loop(server.url, plan_bodies))
        all_bodies = (plan_bodies * 2)[: in_process.requests_sent]
        floor = asyncio.run(_bare_loop(server.url, all_bodies))
        results["bare httpx loop"] = {"plan_requests": len(plan_bodies), "plan_s": round(plan_floor, 3),
                                      "all_requests": len(all_bodies), "all_s": round(floor, 3)}
    finally:
        server.stop()
    cli, st_run = results["migma-contract check (CLI)"], results["schemathesis run (vendor document)"]
    results["ratio check wall / schemathesis wall (default settings)"] = round(cli["wall_s"] / st_run["wall_s"], 3)
    results["ratio per request: check / schemathesis"] = round((cli["wall_s"] / cli["requests"]) / (st_run["wall_s"] / max(st_run["requests"], 1)), 3)
    results["ratio plan phase / bare loop, same requests"] = round(in_process.plan["plan_s"] / plan_floor, 3)
    results["ratio whole check (with exploration) / bare loop, same count"] = round(engine / floor, 3)
    return results


# --- 3. validations per second ------------------------------------------------------------------------------


def validations(quick: bool) -> dict:
    import jsonschema
    import openapi_core
    from openapi_core.testing import MockRequest, MockResponse

    from migma_contract import contract_for, validate_response

    n = 5000 if quick else 40000
    ok = json.dumps({"success": True, "data": {"id": "m_1", "status": "queued", "provider": "migma", "sentCount": 1}, "error": None}).encode()
    bad = json.dumps({"success": False, "error": "recipientId is required"}).encode()
    headers = {"content-type": "application/json"}
    samples = [(200, ok, {"providerType": "migma"}), (400, bad, None)]

    def rate(function, count: int) -> float:
        for status, body, request in samples:  # warm up (compiles validators once)
            function(status, body, request)
        start = time.perf_counter()
        for index in range(count):
            status, body, request = samples[index % 2]
            function(status, body, request)
        return count / (time.perf_counter() - start)

    ours = rate(lambda status, body, request: validate_response(status, headers, body, request=request, level="strict"), n)

    spec = contract_for().spec
    pure = {status: jsonschema.Draft202012Validator(spec.response_schema(status)) for status in (200, 400)}
    python_jsonschema = rate(lambda status, body, request: list(pure[status].iter_errors(json.loads(body))), max(n // 20, 500))

    api = openapi_core.OpenAPI.from_dict(spec.document)
    core_request = MockRequest("http://127.0.0.1", "post", "/v1/sending", data=b"{}", content_type="application/json")

    def core(status, body, request):
        with contextlib.suppress(Exception):
            api.validate_response(core_request, MockResponse(body, status_code=status, content_type="application/json"))

    openapi = rate(core, max(n // 40, 250))
    return {
        "migma-contract validate_response (all strict rules) per s": round(ours),
        "python-jsonschema (schema rules only) per s": round(python_jsonschema),
        "openapi-core validate_response (schema rules only) per s": round(openapi),
        "ratio ours / python-jsonschema": round(ours / python_jsonschema, 1),
        "ratio ours / openapi-core": round(ours / openapi, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smaller loads (a smoke test)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--only", type=int, choices=[1, 2, 3], help="run one section")
    args = parser.parse_args()
    sections = {
        1: ("1. mock throughput on loopback, 50 concurrent connections", lambda: throughput(args.quick)),
        2: ("2. check vs schemathesis vs bare loop", check_vs_schemathesis),
        3: ("3. response validations in-process", lambda: validations(args.quick)),
    }
    results = {title: run() for number, (title, run) in sections.items() if args.only in (None, number)}
    for title, section in results.items():
        print(f"\n== {title}")
        for key, value in section.items():
            print(f"  {key}: {json.dumps(value, ensure_ascii=False) if isinstance(value, (dict, list)) else value}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
