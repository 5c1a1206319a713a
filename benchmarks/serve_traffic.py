"""One server for the traffic benchmarks, in its own process; prints "serving at URL" once listening.

    python benchmarks/serve_traffic.py mock                  # the reference mock, bare
    python benchmarks/serve_traffic.py middleware            # the mock behind ContractMiddleware
    python benchmarks/serve_traffic.py forward UPSTREAM      # the proxy forwarding only (no judging)
    python benchmarks/serve_traffic.py proxy UPSTREAM        # the proxy as `migma-contract proxy` runs it

Every server runs on the toolkit's bounded configuration (`server_config`), the mock and the
middleware as `migma-contract mock` serves them, the proxy as `migma-contract proxy` does
(without the Server and Date headers), all on the same socket setup, so the ratios between
them measure the toolkit's work.
"""

import contextlib
import sys

import uvicorn

from migma_contract import contract_for
from migma_contract.asgi import ContractMiddleware
from migma_contract.mock import create_app

try:
    from migma_contract.traffic.proxy import TrafficProxy
    from migma_contract.traffic.tally import TrafficJudge
    from migma_contract.wire.serve import bind_socket, server_config, url_of
except ImportError:  # the layout before the package's subfolders (--package of an older tree)
    from migma_contract._http.serve import bind_socket, server_config, url_of
    from migma_contract._proxy import TrafficProxy
    from migma_contract._traffic import TrafficJudge

WORLD = {"open_world": True, "limits": {"sent_log": 1000}}


def app_for(mode: str, upstream: str | None):
    if mode == "mock":
        return create_app(WORLD)
    if mode == "middleware":
        return ContractMiddleware(create_app(WORLD), level="documented")
    judge = TrafficJudge(contract_for(), "documented", kind="proxy", label="benchmark", url=upstream) if mode == "proxy" else None
    return TrafficProxy(upstream, judge)


if __name__ == "__main__":
    mode, upstream = sys.argv[1], (sys.argv[2] if len(sys.argv) > 2 else None)
    app = app_for(mode, upstream)
    sock = bind_socket("127.0.0.1", 0)
    print(f"{mode}: serving at {url_of(sock)}", flush=True)
    # the mock and the middleware as `migma-contract mock` serves them; the proxy as `migma-contract proxy` does
    config = server_config(app) if mode in ("mock", "middleware") else server_config(app, server_header=False, date_header=False)
    with contextlib.suppress(KeyboardInterrupt):
        uvicorn.Server(config).run(sockets=[sock])
    if mode == "middleware" or mode == "proxy":
        failed = app.judge.violations  # (waits for what is still being judged)
        judged = app.judge.stats.judged
        print(f"{mode}: judged {judged} exchange(s), {app.judge.stats.unjudged} passed unjudged, {failed} rule(s) broken", flush=True)
