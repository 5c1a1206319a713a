"""Benchmarks of judging real traffic, each against a baseline measured in the same run.

    python benchmarks/traffic.py                 # a few minutes on 2 cores (writes a 200 MB HAR to a temp dir)
    python benchmarks/traffic.py --quick         # smaller loads and a 20 MB HAR
    python benchmarks/traffic.py --smoke         # one tiny round (the test suite runs this; figures meaningless)
    python benchmarks/traffic.py --only memory --har-mb 1000

Everything talks to 127.0.0.1 only; the machines are shared and noisy, so what is reported
is ratios from paired rounds (min / median / max), with the CPU speed check at the start
and the end, printed like `benchmarks/run.py` (whose section 5 this runs):

1. traffic (run.py's section 5): `ContractMiddleware` around the reference mock vs the
   bare mock (server CPU per request under 50 connections); `migma-contract proxy` in
   front of the mock vs the mock directly (requests/s; the added p50 latency of one client
   at 200 requests/s), and a forwarding-only proxy for scale.
2. memory: peak RSS of `migma-contract judge` on a generated HAR file of 200 MB, against
   the same command on a tiny HAR (the interpreter and the toolkit) and against
   `json.load` of the same file (what reading it whole would take).
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import run  # noqa: E402
from run import VALID, Section  # noqa: E402

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
    """(peak RSS in MiB, wall seconds, exit code) of one Python process: its own high-water mark (see run._run)."""
    done = run._run(command)
    return done.peak_rss_mib, done.wall_s, done.returncode


def memory(megabytes: float) -> Section:
    section = Section(f"memory: migma-contract judge on a generated HAR of ~{megabytes:g} MB (peak RSS, MiB)")
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
        report = json.loads((workdir / "reports" / "conformance.json").read_text())
        if code not in (0, 1) or not report["traffic"]["judged"]:
            raise AssertionError(f"judge exited {code} after judging {report['traffic']['judged']} exchanges")
        whole = workdir / "whole.py"  # a script, not -c: peak_rss.py runs a module or a path
        whole.write_text(f"import json\nwith open({str(big)!r}, encoding='utf-8') as f:\n    assert json.load(f)['log']['entries']\n")
        whole_rss, whole_s, whole_code = _peak([sys.executable, str(whole)])
        if whole_code != 0:
            raise AssertionError(f"json.load of the HAR exited {whole_code}")
        section.facts = {"HAR file": f"{big.stat().st_size / 1e6:.0f} MB, {entries} entries (written in {written:.1f} s)",
                         "judge, large HAR": f"{report['traffic']['judged']} exchanges judged, exit {code}, "
                                             f"{report['traffic']['exchanges'] / big_s:,.0f} exchanges/s"}
        section.add("judge, tiny HAR: peak RSS", [tiny_rss], "MiB")
        section.add("judge, large HAR: peak RSS", [big_rss], "MiB")
        section.add("json.load of the same file: peak RSS", [whole_rss], "MiB", note=f"{whole_s:.1f} s")
        section.add("judge: large HAR vs tiny HAR, peak RSS", [big_rss / tiny_rss], "×")
        section.add("json.load vs judge, peak RSS", [whole_rss / big_rss], "×")
        return section
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="smaller loads and a 20 MB HAR")
    size.add_argument("--smoke", action="store_true", help="one tiny round and a 1 MB HAR (for the test suite)")
    parser.add_argument("--only", choices=["traffic", "memory"], help="run one section")
    parser.add_argument("--har-mb", type=float, help="size of the generated HAR file (default 200, 20 with --quick)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--package", type=Path, default=run.ROOT, help="measure the migma_contract of this tree")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # killed: the servers started are stopped on the way out
    run._use_package(args.package)
    scale = run.SCALES["smoke" if args.smoke else "quick" if args.quick else "full"]
    megabytes = args.har_mb or (1 if args.smoke else 20 if args.quick else 200)
    run.run_sections(["traffic"] if args.only in (None, "traffic") else [], scale, "migma-contract traffic benchmarks", args.json,
                     extra=(lambda: [memory(megabytes)]) if args.only in (None, "memory") else None)


if __name__ == "__main__":
    main()
