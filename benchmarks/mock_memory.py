"""The mock's memory under large bodies: its peak RSS while 2,000 sends of ~1 MiB go through it.

A bounded loopback measurement, not a timed test. `migma-contract mock` runs in its own
process (so only its memory is measured) on a free loopback port; four client threads
send valid requests whose `variables` hold just under 1 MiB, each with its own
Idempotency-Key (so the replay store is exercised too). The mock's peak RSS (VmHWM from
/proc) must stay under the bound; the sent log's drop count shows the byte budget at work.

    python benchmarks/mock_memory.py [--sends 2000] [--bound-mb 300]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
KEY = "mc_test_full_access"
BODY_LIMIT = 1 << 20


def _status(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak) of `pid`, in kB (Linux)."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, rest = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            values[name] = int(rest.split()[0])
    return values


def _body(index: int) -> bytes:
    head = {"recipientType": "email", "recipientEmail": f"r{index}@example.com", "from": "hello@example.com",
            "fromName": "Bench", "subject": f"Large send {index}", "emailId": "email_welcome", "variables": {"blob": ""}}
    empty = json.dumps(head).encode()
    blob = "x" * (BODY_LIMIT - len(empty) - 64)  # just under the mock's 1 MiB body limit
    return json.dumps({**head, "variables": {"blob": blob}}).encode()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sends", type=int, default=2000)
    parser.add_argument("--bound-mb", type=float, default=300.0)
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args()

    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    process = subprocess.Popen([sys.executable, "-m", "migma_contract.cli", "mock", "--port", "0"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        url = process.stdout.readline().rsplit(" at ", 1)[1].strip()  # type: ignore[union-attr]
        idle = _status(process.pid)["VmRSS"]
        sizes: list[int] = []
        statuses: dict[int, int] = {}
        started = time.perf_counter()

        def sender(worker: int) -> None:
            with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"},
                              timeout=60) as client:
                for index in range(worker, args.sends, args.threads):
                    body = _body(index)
                    status = client.post("/v1/sending", content=body, headers={"Idempotency-Key": f"bench-{index}"}).status_code
                    statuses[status] = statuses.get(status, 0) + 1
                    sizes.append(len(body))

        with ThreadPoolExecutor(args.threads) as pool:
            list(pool.map(sender, range(args.threads)))
        elapsed = time.perf_counter() - started
        memory = _status(process.pid)
        listed = httpx.get(f"{url}/_mock/sent").json()
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=30)

    peak_mb, idle_mb = memory["VmHWM"] / 1024, idle / 1024
    print(f"{len(sizes)} sends of {min(sizes):,}-{max(sizes):,} bytes ({sum(sizes) / 2**20:,.0f} MiB in all) "
          f"in {elapsed:.1f} s; answers: {dict(sorted(statuses.items()))}")
    print(f"mock RSS: {idle_mb:.0f} MB idle, {memory['VmRSS'] / 1024:.0f} MB at the end, peak {peak_mb:.0f} MB "
          f"(bound {args.bound_mb:.0f} MB)")
    print(f"kept: {listed['count']} sends, dropped {listed['dropped']}; "
          f"held {listed['memory']['bytes'] / 2**20:.1f} MiB of a {listed['memory']['budget'] / 2**20:.0f} MiB budget")
    ok = peak_mb < args.bound_mb and statuses.get(200) == args.sends
    print("OK" if ok else "OVER THE BOUND (or not every send was accepted)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
