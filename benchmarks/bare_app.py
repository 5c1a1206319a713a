"""The floor for the mock's throughput: a bare Starlette app answering a constant JSON body.

Served exactly like `migma-contract mock` (same socket setup, same uvicorn settings: HTTP
parser and event loop left to uvicorn's "auto", so both get httptools and uvloop when
installed and h11 and asyncio otherwise), so the ratio between the two measures the
mock's own work. If the mock's server settings change, change them here too.
"""

import sys

import uvicorn
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from migma_contract._http.serve import bind_socket, url_of

BODY = {"success": True, "data": {"id": "msg_constant", "provider": "migma", "status": "queued", "sentCount": 1, "message": "ok"}, "error": None}


async def send(request):
    await request.body()
    return JSONResponse(BODY)


app = Starlette(routes=[Route("/v1/sending", send, methods=["POST"])])

if __name__ == "__main__":
    sock = bind_socket("127.0.0.1", 0)
    print(f"bare app: serving at {url_of(sock)}", flush=True)
    try:
        uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False)).run(sockets=[sock])
    except KeyboardInterrupt:
        sys.exit(0)
