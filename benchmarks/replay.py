"""The floor for a check: a plain synchronous httpx loop sending recorded requests.

    python benchmarks/replay.py BASE_URL requests.json

Sends each request (method, path, headers, body) in order on one keep-alive connection,
checks that each gets the status the server answered the first time, and prints one JSON
line: how many were sent and the seconds the loop took. Exit 1 if any status differs.
"""

from __future__ import annotations

import base64
import json
import sys
import time
from pathlib import Path

import httpx

SKIP = {"host", "content-length", "transfer-encoding", "connection"}


def main() -> None:
    base_url, path = sys.argv[1], Path(sys.argv[2])
    records = json.loads(path.read_text())
    prepared = [(r["method"], r["path"], [(k, v) for k, v in r["headers"] if k.lower() not in SKIP], base64.b64decode(r["body"]), r["status"])
                for r in records]
    mismatches = []
    with httpx.Client(base_url=base_url, timeout=30) as client:
        start = time.perf_counter()
        for method, target, headers, content, status in prepared:
            response = client.request(method, target, headers=headers, content=content)
            if response.status_code != status:
                mismatches.append((target, status, response.status_code))
        elapsed = time.perf_counter() - start
    print(json.dumps({"requests": len(prepared), "loop_s": elapsed, "mismatches": mismatches[:5], "mismatched": len(mismatches)}))
    sys.exit(1 if mismatches else 0)


if __name__ == "__main__":
    main()
