"""A test case: one request, the rule it exercises, and the answers that pass.

The toolkit, not a generator, decides what each request deserves: a negative case
breaks exactly one rule and expects that rule's status; an auth case carries its own
credentials; a positive case expects 200 (or, for an open point of the document, either
200 or 400).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from migma_contract.contract.catalogue import IDEMPOTENCY_HEADER
from migma_contract.contract.rules import RawBody

__all__ = ["Case", "CaseAuth", "encode_body"]


class CaseAuth:
    """Which credentials a case is sent with."""

    FULL = "full"  # Bearer <the full-scope key>
    EXPLICIT = "explicit"  # exactly `Case.headers` (possibly no Authorization at all)


@dataclass(frozen=True)
class Case:
    id: str
    rule_id: str
    label: str
    body: Any
    expect: frozenset[int]
    auth: str = CaseAuth.FULL
    headers: tuple[tuple[str, str], ...] = ()
    factors: tuple[tuple[str, str], ...] = ()
    phase: str = "plan"
    step: int = 0  # of a pair of requests under one Idempotency-Key: 1 the first, 2 the second (0: no pair)
    inject: int | None = None  # a status the run injects into this request's answer (a target with fault injection)

    @property
    def content(self) -> bytes:
        return encode_body(self.body)

    @property
    def content_type(self) -> str:
        return self.body.content_type if isinstance(self.body, RawBody) else "application/json"

    @property
    def own_credentials(self) -> bool:
        """Sent with exactly its own headers (the wire adds no key)."""
        return self.auth == CaseAuth.EXPLICIT

    @property
    def idempotency_key(self) -> str | None:
        return next((value for name, value in self.headers if name.lower() == IDEMPOTENCY_HEADER.lower()), None)

    def with_body(self, body: Any, *, suffix: str, label: str) -> Case:
        """A control of this case: another body, the same credentials, never its Idempotency-Key (a key is spent twice at most)."""
        headers = tuple((name, value) for name, value in self.headers if name.lower() != IDEMPOTENCY_HEADER.lower())
        return Case(f"{self.id}~{suffix}", self.rule_id, label, body, self.expect, self.auth, headers, (), self.phase)


def encode_body(body: Any) -> bytes:
    if isinstance(body, RawBody):
        return body.content
    try:
        return json.dumps(body, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate has no UTF-8 form: send it as its JSON escape
        return json.dumps(body, ensure_ascii=True).encode("ascii")


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60] or "case"
