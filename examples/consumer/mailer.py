"""A consumer's integration with POST /v1/sending: the code under test in this example.

It is deliberately ordinary: it builds a body, posts it with httpx, treats anything but
`success: true` as an error (as the vendor's Node SDK does) and retries a 429 once it has
waited for `Retry-After`.
"""

from __future__ import annotations

import time
from typing import Any

import httpx


class SendError(Exception):
    """The API refused the send; `status` and the API's `error` text say why."""

    def __init__(self, status: int, error: str) -> None:
        super().__init__(f"{status}: {error}")
        self.status, self.error = status, error


def welcome_request(to: str, email_id: str, *, sender: str = "hello@example.com", brand: str = "Example") -> dict[str, Any]:
    return {
        "recipientType": "email",
        "recipientEmail": to,
        "from": sender,
        "fromName": brand,
        "subject": f"Welcome to {brand}!",
        "emailId": email_id,
    }


def segment_request(segment_id: str, email_id: str, *, sender: str = "news@example.com", brand: str = "Example") -> dict[str, Any]:
    return {
        "recipientType": "segment",
        "recipientId": segment_id,
        "from": sender,
        "fromName": brand,
        "subject": f"News from {brand}",
        "emailId": email_id,
    }


def send(client: httpx.Client, body: dict[str, Any], *, retries: int = 2) -> dict[str, Any]:
    """Send `body`; returns the result (`data`) or raises SendError."""
    for attempt in range(retries + 1):
        response = client.post("/v1/sending", json=body)
        if response.status_code == 429 and attempt < retries:
            time.sleep(float(response.headers.get("Retry-After", "1")))
            continue
        try:
            payload = response.json()
        except ValueError:
            raise SendError(response.status_code, "the answer was not JSON") from None
        if response.status_code != 200 or not payload.get("success"):
            raise SendError(response.status_code, str(payload.get("error")))
        return payload["data"]
    raise SendError(429, "rate limited")
