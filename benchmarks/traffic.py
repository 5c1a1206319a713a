"""Benchmarks of judging real traffic, each against a baseline measured in the same run.

    python benchmarks/traffic.py                 # a few minutes on 2 cores (writes a 200 MB HAR to a temp dir)
    python benchmarks/traffic.py --quick         # smaller loads and a 20 MB HAR, for a smoke test
    python benchmarks/traffic.py --only 3 --har-mb 1000

Everything talks to 127.0.0.1 only; the machines are shared and noisy, so what matters is
the ratios, each from the medians of interleaved rounds:

1. `ContractMiddleware` around the reference mock vs the bare mock: the server's CPU time
   per request under concurrent load (read from /proc: steadier than throughput on a
   shared machine), requests per second (wrk, or httpx without it), and the mean latency
   (median) of one client sending in sequence. Goal: at most 1.2x on the send path.
2. `migma-contract proxy` in front of the mock vs talking to the mock directly, and vs
   the same proxy forwarding without judging (what the judging itself costs).
3. Peak memory (max RSS of the process) of `migma-contract judge` on a generated HAR file
   of 200 MB, against the same command on a tiny HAR (the interpreter and the toolkit)
   and against `json.load` of the same file (what reading it whole would take).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from run import AUTH, VALID, Server, _httpx_load, _wrk  # noqa: E402

SERVE = [sys.executable, str(HERE / "serve_traffic.py")]


def _cpu_seconds(pid: int) -> float:
    """CPU time (user + system) a process has used so far, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _load(url: str, seconds: int, pids: list[int]) -> dict:
    """Requests per second under concurrent load, and the servers' CPU time per request (steadier on a shared machine)."""
    if shutil.which("wrk"):
        _wrk(url, 50, 1)  # warm up
        before = sum(_cpu_seconds(pid) for pid in pids)
        result = _wrk(url, 50, seconds)
    else:
        asyncio.run(_httpx_load(url, 8, 1))
        before = sum(_cpu_seconds(pid) for pid in pids)
        result = asyncio.run(_httpx_load(url, 8, seconds))
    used = sum(_cpu_seconds(pid) for pid in pids) - before
    return {**result, "server_cpu_us_per_request": round(used / result["requests"] * 1e6, 1)}


def _latency(url: str, count: int) -> float:
    """Median milliseconds per request of one keep-alive client sending in sequence (the mean hides in noise)."""
    with httpx.Client(base_url=url, headers=AUTH) as client:
        for _ in range(50):
            client.post("/v1/sending", json=VALID)
        times = []
        for _ in range(count):
            start = time.perf_counter()
            response = client.post("/v1/sending", json=VALID)
            times.append(time.perf_counter() - start)
            assert response.status_code == 200, response.text
        return statistics.median(times) * 1000


def _measure(servers: dict[str, list[str]], seconds: int, sequential: int, rounds: int) -> dict:
    """Each server in turn, `rounds` times (interleaved, so a noisy minute hits all of them); the median of each figure."""
    samples: dict[str, list[dict]] = {name: [] for name in servers}
    for _ in range(rounds):
        for name, command in servers.items():
            upstream = None
            if command[-1] == "UPSTREAM":
                upstream = Server(*SERVE, "mock")
                command = [*command[:-1], upstream.url]
            server = Server(*command)
            try:
                pids = [server.process.pid] + ([upstream.process.pid] if upstream is not None else [])
                load = _load(server.url, seconds, pids)
                samples[name].append({**load, "sequential_median_ms": round(_latency(server.url, sequential), 3)})
            finally:
                server.stop()
                if upstream is not None:
                    upstream.stop()
    medians = {}
    for name, runs in samples.items():
        medians[name] = {key: statistics.median(run[key] for run in runs) for key in ("rate_per_s", "server_cpu_us_per_request", "sequential_median_ms")}
        medians[name]["tool"] = runs[0]["tool"]
        medians[name]["rounds"] = len(runs)
    return medians


def middleware(quick: bool) -> dict:
    results = _measure({"bare mock": [*SERVE, "mock"], "mock + ContractMiddleware": [*SERVE, "middleware"]},
                       3 if quick else 8, 300 if quick else 2000, 1 if quick else 5)
    bare, judged = results["bare mock"], results["mock + ContractMiddleware"]
    results["overhead ratio (server CPU per request)"] = round(judged["server_cpu_us_per_request"] / bare["server_cpu_us_per_request"], 3)
    results["overhead ratio (bare rate / middleware rate)"] = round(bare["rate_per_s"] / judged["rate_per_s"], 3)
    results["overhead ratio (sequential latency)"] = round(judged["sequential_median_ms"] / bare["sequential_median_ms"], 3)
    return results


def proxy(quick: bool) -> dict:
    results = _measure({"mock, direct": [*SERVE, "mock"], "forwarding proxy (no judging)": [*SERVE, "forward", "UPSTREAM"],
                        "migma-contract proxy": [*SERVE, "proxy", "UPSTREAM"]},
                       3 if quick else 8, 300 if quick else 2000, 1 if quick else 3)
    direct, forward, judged = results["mock, direct"], results["forwarding proxy (no judging)"], results["migma-contract proxy"]
    results["overhead ratio vs direct (servers' CPU per request)"] = round(judged["server_cpu_us_per_request"] / direct["server_cpu_us_per_request"], 3)
    results["overhead ratio vs direct (rate)"] = round(direct["rate_per_s"] / judged["rate_per_s"], 3)
    results["overhead ratio vs direct (sequential latency)"] = round(judged["sequential_median_ms"] / direct["sequential_median_ms"], 3)
    results["judging cost: proxy vs forwarding proxy (servers' CPU per request)"] = round(
        judged["server_cpu_us_per_request"] / forward["server_cpu_us_per_request"], 3)
    results["judging cost: proxy vs forwarding proxy (rate)"] = round(forward["rate_per_s"] / judged["rate_per_s"], 3)
    results["judging cost: proxy vs forwarding proxy (sequential latency)"] = round(judged["sequential_median_ms"] / forward["sequential_median_ms"], 3)
    return results


# --- 3. memory judging a large HAR -----------------------------------------------------------------------

OK = {"success": True, "data": {"id": "msg_0123456789abcdef", "provider": "migma", "status": "queued", "sentCount": 1,
                                "message": "Email queued for delivery (transactional)"}, "error": None}
REFUSED = {"success": False, "error": "recipientId is required when recipientType is audience / segment / tag"}


def _entry(index: int) -> dict:
    kind = index % 4
    if kind == 3:  # another endpoint, with a bulky answer (a page of contacts)
        method, url, body, status = "GET", f"https://staging.example.test/v1/contacts?page={index}", None, 200
        answer = {"contacts": [{"email": f"c{index}-{n}@example.com", "name": f"Contact {n}"} for n in range(40)]}
    elif kind == 2:  # a batch send that forgets recipientId, correctly refused
        method, url, status, answer = "POST", "https://staging.example.test/v1/sending", 400, REFUSED
        body = {"recipientType": "tag", "from": "news@example.com", "fromName": "News", "subject": f"Weekly {index}", "emailId": "email_1"}
    else:
        method, url, status, answer = "POST", "https://staging.example.test/v1/sending", 200, OK
        body = {**VALID, "subject": f"Hello {index}", "variables": {"name": "Ann", "order": index, "items": ["a" * 40] * 8}}
    headers = [{"name": "Content-Type", "value": "application/json"}, {"name": "Authorization", "value": "Bearer mc_live_benchmark_key"},
               {"name": "User-Agent", "value": "benchmark/1.0"}, {"name": "Accept", "value": "application/json"}]
    text = json.dumps(answer)
    request = {"method": method, "url": url, "httpVersion": "HTTP/1.1", "cookies": [], "headers": headers, "queryString": [],
               "headersSize": -1, "bodySize": 0}
    if body is not None:
        raw = json.dumps(body)
        request.update(postData={"mimeType": "application/json", "text": raw}, bodySize=len(raw))
    return {"startedDateTime": "2026-01-05T10:00:00.000+00:00", "time": 12.5, "request": request,
            "response": {"status": status, "statusText": "", "httpVersion": "HTTP/1.1", "cookies": [],
                         "headers": [{"name": "Content-Type", "value": "application/json"}],
                         "content": {"size": len(text), "mimeType": "application/json", "text": text},
                         "redirectURL": "", "headersSize": -1, "bodySize": len(text)},
            "cache": {}, "timings": {"send": 0.5, "wait": 11, "receive": 1}}


def write_har(path: Path, megabytes: float) -> int:
    """A HAR 1.2 file of about `megabytes`, written entry by entry; the number of entries."""
    target = int(megabytes * 1_000_000)
    count = 0
    with path.open("w", encoding="utf-8") as handle:
        handle.write('{"log": {"version": "1.2", "creator": {"name": "migma-contract benchmark", "version": "1"}, "pages": [], "entries": [\n')
        while handle.tell() < target:
            handle.write(("," if count else "") + json.dumps(_entry(count)) + "\n")
            count += 1
        handle.write("]}}\n")
    return count


def _peak(command: list[str]) -> tuple[float, float, int]:
    """(peak RSS in MB, wall seconds, exit code) of one child process, measured by the kernel (wait4)."""
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT,
                               env={**os.environ, "PYTHONPATH": str(ROOT)})
    _, status, usage = os.wait4(process.pid, 0)
    return round(usage.ru_maxrss / 1024, 1), round(time.perf_counter() - start, 2), os.waitstatus_to_exitcode(status)


def memory(megabytes: float) -> dict:
    workdir = Path(tempfile.mkdtemp(prefix="migma-har-"))
    try:
        big, tiny = workdir / "big.har", workdir / "tiny.har"
        start = time.perf_counter()
        entries = write_har(big, megabytes)
        written = time.perf_counter() - start
        write_har(tiny, 0.01)
        judge = [sys.executable, "-m", "migma_contract.cli", "judge", "--report-dir", str(workdir / "reports"), "--format", "json"]
        tiny_rss, _, _ = _peak([*judge, str(tiny)])
        big_rss, big_s, code = _peak([*judge, str(big)])
        whole_rss, whole_s, _ = _peak([sys.executable, "-c", f"import json; json.load(open({str(big)!r}, encoding='utf-8'))"])
        report = json.loads((workdir / "reports" / "conformance.json").read_text())
        return {
            "HAR file": f"{big.stat().st_size / 1e6:.0f} MB, {entries} entries (written in {written:.1f} s)",
            "judge, tiny HAR: peak RSS MB": tiny_rss,
            "judge, large HAR: peak RSS MB": big_rss,
            "judge, large HAR: wall s": big_s,
            "judge, large HAR: exchanges judged": report["traffic"]["judged"],
            "judge, large HAR: exit code": code,
            "judge, large HAR: exchanges per s": round(report["traffic"]["exchanges"] / big_s),
            "json.load of the same file: peak RSS MB": whole_rss,
            "json.load of the same file: wall s": whole_s,
            "ratio large / tiny peak RSS": round(big_rss / tiny_rss, 3),
            "ratio json.load / judge peak RSS": round(whole_rss / big_rss, 1),
        }
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smaller loads and a 20 MB HAR (a smoke test)")
    parser.add_argument("--only", type=int, choices=[1, 2, 3], help="run one section")
    parser.add_argument("--har-mb", type=float, help="size of the generated HAR file (default 200, 20 with --quick)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    sections = {
        1: ("1. ContractMiddleware around the mock vs the bare mock", lambda: middleware(args.quick)),
        2: ("2. migma-contract proxy vs direct vs a forwarding proxy", lambda: proxy(args.quick)),
        3: ("3. peak memory judging a large HAR file", lambda: memory(args.har_mb or (20 if args.quick else 200))),
    }
    results = {}
    for number, (title, run) in sections.items():
        if args.only in (None, number):
            results[title] = run()
            print(f"\n== {title}")
            for key, value in results[title].items():
                print(f"  {key}: {json.dumps(value, ensure_ascii=False) if isinstance(value, (dict, list)) else value}", flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
