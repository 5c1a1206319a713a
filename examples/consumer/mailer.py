"""A consumer's integration with POST /v1/sending: the code under test in this example.

Deliberately ordinary httpx code: it builds a body, posts it, treats anything but
`success: true` as an error (as the vendor's Node SDK does) and retries what is worth
retrying: a 429 after its `Retry-After`, a 5xx or a dropped connection after a short
backoff, at most `attempts` tries in all. Every try of one send carries the same
`Idempotency-Key` (as the SDK does), so a retry after a failure the API had already acted
on is answered from the first try instead of mailing twice. The base URL may be written
with or without the trailing `/v1`.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import anyio
import httpx

DEFAULT_BASE_URL = "https://api.migma.ai"
RETRIED = (429, 500, 502, 503, 504)


class SendError(Exception):
    """The API refused the send; `status`, the API's `error` text and every violation it listed say why."""

    def __init__(self, status: int, error: str, violations: list[dict[str, Any]] | None = None) -> None:
        super().__init__(f"{status}: {error}")
        self.status, self.error, self.violations = status, error, violations or []


def make_client(api_key: str, base_url: str = DEFAULT_BASE_URL, **options: Any) -> httpx.Client:
    """A client for the API; `base_url` as the settings hold it (`https://api.migma.ai` or `.../v1`)."""
    root = base_url.rstrip("/").removesuffix("/v1")
    return httpx.Client(base_url=root, headers={"Authorization": f"Bearer {api_key}"}, timeout=10, **options)


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


def _wait(response: httpx.Response | None, attempt: int, backoff: float) -> float:
    if response is not None and response.status_code == 429:
        return int(response.headers.get("Retry-After", "1"))  # whole seconds, as the vendor documents
    return backoff * 2**attempt


def parse_result(response: httpx.Response) -> dict[str, Any]:
    """The send's result (`data`) from an answer; SendError for anything else."""
    try:
        payload = response.json()
    except ValueError:
        raise SendError(response.status_code, "the answer was not JSON") from None
    if not isinstance(payload, dict):
        raise SendError(response.status_code, "the answer was not a JSON object")
    if response.status_code != 200 or payload.get("success") is not True or not isinstance(payload.get("data"), dict):
        violations = payload.get("violations")
        raise SendError(response.status_code, str(payload.get("error") or "the send failed"),
                        violations if isinstance(violations, list) else None)
    return payload["data"]


def send(client: httpx.Client, body: dict[str, Any], *, attempts: int = 3, backoff: float = 0.05,
         sleep: Any = time.sleep, idempotency_key: str | None = None) -> dict[str, Any]:
    """Send `body`; the result (`data`), or SendError once retries are spent. One key for every try."""
    headers = {"Idempotency-Key": idempotency_key or str(uuid.uuid4())}
    for attempt in range(attempts):
        try:
            response = client.post("/v1/sending", json=body, headers=headers)
        except httpx.TransportError:
            if attempt == attempts - 1:
                raise
            sleep(_wait(None, attempt, backoff))
            continue
        if response.status_code in RETRIED and attempt < attempts - 1:
            sleep(_wait(response, attempt, backoff))
            continue
        return parse_result(response)
    raise AssertionError("unreachable")


async def async_send(client: httpx.AsyncClient, body: dict[str, Any], *, attempts: int = 3, backoff: float = 0.05,
                     idempotency_key: str | None = None) -> dict[str, Any]:
    """`send` for async code."""
    headers = {"Idempotency-Key": idempotency_key or str(uuid.uuid4())}
    for attempt in range(attempts):
        response = await client.post("/v1/sending", json=body, headers=headers)
        if response.status_code in RETRIED and attempt < attempts - 1:
            await anyio.sleep(_wait(response, attempt, backoff))
            continue
        return parse_result(response)
    raise AssertionError("unreachable")
