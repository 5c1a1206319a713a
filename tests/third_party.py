"""An independent implementation of POST /v1/sending, written from the vendor's docs alone.

It shares no code with the reference mock, so a clean check of it shows the checker does
not merely recognise its own mock; each of its switchable bugs is one a real
implementation could have and that the corpus did not plan for.
"""

from __future__ import annotations

import json
import re
import uuid

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

KEYS = {"tp_full": {"email:send"}, "tp_read": set()}
TYPES = {"recipientType": str, "recipientId": str, "recipientEmail": str, "from": str, "fromName": str, "replyTo": str,
         "subject": str, "variables": dict, "providerType": str, "projectId": str, "conversationId": str,
         "transactional": bool, "emailId": str}
ATEXT = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
NO_PLUS = re.compile(r"^[A-Za-z0-9._-]+@[A-Za-z0-9.-]+\.[a-z]{2,}$")


def app(*bugs: str) -> Starlette:
    """The implementation, with the named bugs: 'plus-address', 'subject-255', 'digit-crash'."""
    address = NO_PLUS if "plus-address" in bugs else ATEXT

    def error(status: int, message: str) -> Response:
        return JSONResponse({"success": False, "error": message}, status_code=status)

    async def send(request: Request) -> Response:
        auth = request.headers.get("authorization", "")
        if not auth.startswith("Bearer ") or auth[7:] not in KEYS:
            return error(401, "Unauthorized")
        if "email:send" not in KEYS[auth[7:]]:
            return error(403, "Missing permission email:send")
        try:
            # UTF-8 only (RFC 8259 §8.1, rule body-utf8 at strict): json.loads of bytes would read UTF-16 and UTF-32 too
            body = json.loads((await request.body()).decode("utf-8"))
        except (ValueError, UnicodeDecodeError, RecursionError):
            return error(400, "Invalid JSON body")
        if not isinstance(body, dict):
            return error(400, "The body must be an object")
        for name in ("recipientType", "from", "fromName", "subject"):
            if name not in body:
                return error(400, f"{name} is required")
        unknown = sorted(set(body) - set(TYPES))
        if unknown:  # the strictest reading (rule known-fields): a property the document does not name is refused
            return error(400, f"unknown field {unknown[0]}")
        for name, kind in TYPES.items():
            if name in body and (not isinstance(body[name], kind) or (kind is str and isinstance(body[name], bool))):
                return error(400, f"{name} must be a {kind.__name__}")
        if body["recipientType"] not in ("email", "audience", "segment", "tag"):
            return error(400, "Unknown recipientType")
        if body.get("providerType", "migma") not in ("ses", "resend", "sendgrid", "mailgun", "migma"):
            return error(400, "Unknown providerType")
        for name in ("recipientEmail", "from", "replyTo"):
            if name in body and not address.match(body[name]):
                return error(400, f"{name} is not a valid email address")
        if "subject-255" in bugs and len(body["subject"]) > 255:
            return error(400, "subject is too long")
        if body["recipientType"] == "email":
            if "recipientEmail" not in body:
                return error(400, "recipientEmail is required for single sends")
        elif "recipientId" not in body:
            return error(400, "recipientId is required for batch sends")
        elif "recipientEmail" in body:
            return error(400, "recipientEmail is only for single sends")
        if "digit-crash" in bugs and re.search(r"[0-9]", body["fromName"]):  # a display-name parser bug
            return JSONResponse({"detail": "Internal Server Error"}, status_code=500)
        batch = body["recipientType"] != "email"
        data = {"id": ("batch_" if batch else "msg_") + uuid.uuid4().hex, "provider": body.get("providerType", "migma"),
                "status": "queued", "sentCount": 3 if batch else 1, "message": "Queued"}
        return JSONResponse({"success": True, "data": data})

    return Starlette(routes=[Route("/v1/sending", send, methods=["POST"])])
