"""The floor for the mock's throughput: a bare Starlette app answering a constant JSON body.

    python benchmarks/bare_app.py [httptools|h11]

Served exactly like `migma-contract mock --http STACK`: the same socket setup and the same
server configuration (`server_config`: the bounded protocol with its per-request deadline,
the connection cap, the keep-alive timeout), so the ratio between the two measures the
mock's own work and not the server's. If the mock's server settings change, they change
here too, since both call the same function.
"""

import sys

import uvicorn
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

try:
    from migma_contract.wire.serve import bind_socket, server_config, url_of
except ImportError:  # the layout before the package's subfolders (--package of an older tree)
    from migma_contract._http.serve import bind_socket, server_config, url_of

BODY = {"success": True, "data": {"id": "msg_constant", "provider": "migma", "status": "queued", "sentCount": 1, "message": "ok"}, "error": None}


async def send(request):
    await request.body()
    return JSONResponse(BODY)


app = Starlette(routes=[Route("/v1/sending", send, methods=["POST"])])

if __name__ == "__main__":
    sock = bind_socket("127.0.0.1", 0)
    print(f"bare app: serving at {url_of(sock)}", flush=True)
    try:
        # no argument: the default stack (and a package from before the stack could be chosen, for --package)
        uvicorn.Server(server_config(app, **({"stack": sys.argv[1]} if len(sys.argv) > 1 else {}))).run(sockets=[sock])
    except KeyboardInterrupt:
        sys.exit(0)
