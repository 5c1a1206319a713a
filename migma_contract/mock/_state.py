"""What the mock remembers: accepted sends, idempotent replies, rate-limit windows.

The ASGI handlers run on one event loop, but tests read `mock.sent` from other threads,
so every access takes one lock. The log of sends is capped (`limits.sent_log`); how many
were dropped is reported, so a long load test never grows memory without bound.
"""

from __future__ import annotations

import random
import threading
import time
from collections import OrderedDict, deque
from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["MockState", "SentRecord"]

_IDEMPOTENCY_KEYS = 1000


@dataclass(frozen=True)
class SentRecord:
    """One accepted send, as a consumer's test wants to inspect it."""

    id: str
    at: str
    recipient_type: str
    request: dict[str, Any]
    recipients: tuple[str, ...]
    excluded: dict[str, str]
    transactional: bool
    list_unsubscribe: bool
    provider: str
    project_id: str | None
    email_id: str | None
    conversation_id: str | None
    sent_count: int
    idempotency_key: str | None = None
    user_agent: str | None = None

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["recipients"] = list(self.recipients)
        return data


class MockState:
    def __init__(self, sent_log: int, seed: int) -> None:
        self._lock = threading.Lock()
        self._sent: deque[SentRecord] = deque(maxlen=sent_log or None)
        self._dropped = 0
        self._replies: OrderedDict[str, tuple[int, dict[str, Any]]] = OrderedDict()
        self._windows: dict[str, tuple[float, int]] = {}
        self._seed = seed
        self._random = random.Random(seed)
        self.requests = 0

    def record(self, record: SentRecord) -> None:
        with self._lock:
            if self._sent.maxlen is not None and len(self._sent) == self._sent.maxlen:
                self._dropped += 1
            self._sent.append(record)

    @property
    def sent(self) -> list[SentRecord]:
        with self._lock:
            return list(self._sent)

    @property
    def dropped(self) -> int:
        with self._lock:
            return self._dropped

    def reset(self) -> int:
        with self._lock:
            cleared = len(self._sent)
            self._sent.clear()
            self._dropped = 0
            self._replies.clear()
            self._windows.clear()
            self._random = random.Random(self._seed)
            self.requests = 0
            return cleared

    def count_request(self) -> None:
        with self._lock:
            self.requests += 1

    def draw(self) -> float:
        with self._lock:
            return self._random.random()

    def reply_for(self, key: str) -> tuple[int, dict[str, Any]] | None:
        with self._lock:
            return self._replies.get(key)

    def remember_reply(self, key: str, reply: tuple[int, dict[str, Any]]) -> None:
        with self._lock:
            self._replies[key] = reply
            while len(self._replies) > _IDEMPOTENCY_KEYS:
                self._replies.popitem(last=False)

    def take_slot(self, client: str, limit: int, window: float) -> float | None:
        """Count a request in `client`'s fixed window; seconds to wait when it is full."""
        now = time.monotonic()
        with self._lock:
            start, used = self._windows.get(client, (now, 0))
            if now - start >= window:
                start, used = now, 0
            if used >= limit:
                return window - (now - start)
            self._windows[client] = (start, used + 1)
            return None
