"""The mock's world (keys, domains, emails, lists, contacts, faults), from YAML or JSON.

A user's file is laid over the built-in default (`default.yaml`): top-level sections it
names replace the default's, except `limits`, `faults` and `inspection`, which merge key
by key. The result is checked once, with an error naming the file and the place. A
`MockConfig` is immutable: a running mock changes world or faults with
`ReferenceMock.configure(...)`, which builds a new one the same way.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import jsonschema_rs
import yaml

from migma_contract.contract.catalogue import BATCH_TYPES
from migma_contract.contract.rules import Level, ScopeRequired
from migma_contract.core import bounded
from migma_contract.core.exceptions import ConfigError
from migma_contract.core.untrusted import clean_text, read_bounded
from migma_contract.generate.bodies import Fixtures

__all__ = ["Contact", "MockConfig", "load_mock_config"]

SEND_SCOPE = ScopeRequired.SCOPE
CONTACT_STATUSES = ("subscribed", "unsubscribed", "bounced", "invalid")
LIST_KINDS = BATCH_TYPES

_ID = {"type": "string", "minLength": 1}
_ITEM = {"type": "object", "required": ["id"], "properties": {"id": _ID, "project": _ID, "topic": {"type": ["string", "null"]}}, "additionalProperties": False}
_LIST = {"type": "object", "required": ["id", "contacts"], "properties": {"id": _ID, "contacts": {"type": "array", "items": {"type": "string"}}}, "additionalProperties": False}
_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "open_world": {"type": "boolean"},
        "level": {"enum": [level.value for level in Level]},
        "keys": {"type": "array", "items": {
            "type": "object", "required": ["key", "scopes"], "additionalProperties": False,
            "properties": {"key": _ID, "name": {"type": "string"}, "scopes": {"type": "array", "items": {"type": "string"}}},
        }},
        "verified_domains": {"type": "array", "items": _ID},
        "providers": {"type": "array", "items": _ID},
        "projects": {"type": "array", "items": {"type": "object", "required": ["id"], "properties": {"id": _ID}, "additionalProperties": False}},
        "emails": {"type": "array", "items": _ITEM},
        "conversations": {"type": "array", "items": _ITEM},
        "contacts": {"type": "array", "items": {
            "type": "object", "required": ["email", "status"], "additionalProperties": False,
            "properties": {
                "email": _ID, "status": {"enum": list(CONTACT_STATUSES)},
                "unsubscribed_topics": {"type": "array", "items": {"type": "string"}},
            },
        }},
        "audiences": {"type": "array", "items": _LIST},
        "segments": {"type": "array", "items": _LIST},
        "tags": {"type": "array", "items": _LIST},
        "limits": {"type": "object", "additionalProperties": False, "properties": {
            "max_body_bytes": {"type": "integer", "minimum": 1},
            "max_depth": {"type": "integer", "minimum": 1},
            "sent_log": {"type": "integer", "minimum": 0},
            "request_log": {"type": "integer", "minimum": 0},
            "memory_bytes": {"type": "integer", "minimum": 0},
            "max_connections": {"type": "integer", "minimum": 1},
            "request_timeout": {"type": "number", "exclusiveMinimum": 0},
        }},
        "faults": {"type": "object", "additionalProperties": False, "properties": {
            "rate_limit": {"oneOf": [{"type": "null"}, {
                "type": "object", "required": ["requests", "per_seconds"], "additionalProperties": False,
                "properties": {"requests": {"type": "integer", "minimum": 1}, "per_seconds": {"type": "number", "exclusiveMinimum": 0}},
            }]},
            "failure_rate": {"type": "number", "minimum": 0, "maximum": 1},
            "failure_status": {"type": "integer", "minimum": 400, "maximum": 599},
            "retry_after": {"type": "integer", "minimum": 0},
            "latency_ms": {"type": "number", "minimum": 0},
            "seed": {"type": "integer"},
        }},
        "inspection": {"type": "object", "additionalProperties": False, "properties": {
            "allowed_hosts": {"type": "array", "items": _ID},
            "allowed_origins": {"type": "array", "items": _ID},
        }},
    },
}
_MERGED_SECTIONS = ("limits", "faults", "inspection")


@dataclass(frozen=True)
class Contact:
    email: str
    status: str
    unsubscribed_topics: frozenset[str] = frozenset()


@dataclass(frozen=True)
class MockConfig:
    """The checked configuration; lookups are dictionaries built once."""

    keys: dict[str, frozenset[str]]
    key_names: dict[str, str]
    verified_domains: frozenset[str]
    providers: tuple[str, ...]
    projects: frozenset[str]
    emails: dict[str, dict[str, Any]]
    conversations: dict[str, dict[str, Any]]
    contacts: dict[str, Contact]
    lists: dict[str, dict[str, tuple[str, ...]]]
    max_body_bytes: int
    max_depth: int
    sent_log: int
    rate_limit: tuple[int, float] | None
    failure_rate: float
    failure_status: int
    latency_ms: float
    seed: int
    open_world: bool = False
    level: str = Level.STRICT.value
    request_log: int = 10000
    memory_bytes: int = 64 << 20
    max_connections: int = 256
    request_timeout: float = 10.0
    retry_after: int = 1  # whole seconds (RFC 9110 delay-seconds)
    allowed_hosts: tuple[str, ...] = ()
    allowed_origins: tuple[str, ...] = ()
    raw: dict[str, Any] = field(repr=False, compare=False, default_factory=dict)

    @property
    def full_key(self) -> str | None:
        """A key with `email:send` (the first one configured)."""
        return next((k for k, scopes in self.keys.items() if SEND_SCOPE in scopes), None)

    @property
    def second_full_key(self) -> str | None:
        """Another key with `email:send`, if one is configured (idempotency keys are scoped per API key)."""
        return next((k for k, scopes in self.keys.items() if SEND_SCOPE in scopes and k != self.full_key), None)

    @property
    def restricted_key(self) -> str | None:
        """A valid key without `email:send`, if one is configured."""
        return next((k for k, scopes in self.keys.items() if SEND_SCOPE not in scopes), None)

    def fixtures(self, recipient_domain: str = "example.com") -> Fixtures:
        """Real values of this world, so a check of the mock exercises every variant."""
        domain = recipient_domain if recipient_domain in self.verified_domains else sorted(self.verified_domains)[0]

        def first(kind: str) -> str | None:
            return next(iter(self.lists[kind]), None)

        plain_email = next((e for e, item in self.emails.items() if not item.get("topic")), next(iter(self.emails), None))
        return Fixtures(
            from_address=f"sender@{domain}",
            email_id=plain_email,
            conversation_id=next(iter(self.conversations), None),
            project_id=self.emails.get(plain_email or "", {}).get("project") or next(iter(self.projects), None),
            audience_id=first("audience"),
            segment_id=first("segment"),
            tag_id=first("tag"),
            providers=self.providers,
            recipient_domain=recipient_domain,
        )


_YAML_LOADER = bounded.YAML_LOADER  # the one YAML loader (libyaml when present): scalars by the YAML 1.2 core schema


def _default_raw() -> dict[str, Any]:
    raw: dict[str, Any] = yaml.load((Path(__file__).parent / "default.yaml").read_text(), Loader=_YAML_LOADER)
    return raw


@lru_cache(maxsize=1)
def _accepts() -> Any:
    """The config schema's yes, from jsonschema-rs; python-jsonschema is imported only to word a no."""
    return jsonschema_rs.Draft202012Validator(_SCHEMA).is_valid


def _valid(raw: dict[str, Any]) -> bool:
    try:
        return bool(_accepts()(raw))
    except ValueError:  # a value JSON has no word for (YAML's dates, binary, number keys): python-jsonschema words it
        return False


def _worst_error(raw: dict[str, Any]) -> Any:
    import jsonschema  # ~40 ms to import: only for a config that is wrong

    return jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(_SCHEMA).iter_errors(raw))


def load_mock_config(source: str | Path | dict[str, Any] | None = None, *, base: dict[str, Any] | None = None) -> MockConfig:
    """The default world (or `base`, a config's `raw`), with `source` (a file path or a dict) laid over it."""
    raw = copy.deepcopy(base) if base is not None else _default_raw()
    label = "mock config"
    if source is not None:
        if isinstance(source, dict):
            user = source
        else:
            label = str(source)
            user = _read(Path(source))
        if not isinstance(user, dict):
            raise ConfigError(f"{label}: expected a mapping of sections (keys, verified_domains, ...), found {type(user).__name__}")
        for key, value in user.items():
            if key in _MERGED_SECTIONS and isinstance(value, dict) and isinstance(raw.get(key), dict):
                raw[key] = {**raw[key], **value}
            else:
                raw[key] = value
    error = None if _valid(raw) else _worst_error(raw)
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "(top level)"
        raise ConfigError(f"{label}: at {where}: {error.message}")
    return _build(raw, label)


_MAX_CONFIG_BYTES = 5 << 20  # a world of thousands of contacts is far smaller


def _read(path: Path) -> Any:
    """The file's data: a regular file, bounded in size and depth (a FIFO, /dev/zero or a deep document is refused)."""
    raw = read_bounded(path, _MAX_CONFIG_BYTES)
    shown = clean_text(path)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{shown}: not UTF-8 text (byte {exc.start})") from None
    try:
        if path.suffix == ".json":
            return bounded.load_json(text, what="mock worlds")
        return bounded.load_yaml(text, loader=_YAML_LOADER, what="mock worlds")  # depth, nodes, what aliases expand to (a YAML bomb)
    except bounded.Bounded as exc:
        raise ConfigError(f"{shown}: {clean_text(exc.message)}" + (f" (line {exc.line})" if exc.line else "")) from None


def _finite(value: Any, label: str, where: str) -> float:
    """A number of the world as a float: one too large for a float (a 401-digit integer) or not finite is a
    ConfigError, the one-line exit 2, never an OverflowError (pass V4, F3)."""
    try:
        number = float(value)
    except (OverflowError, ValueError, TypeError):
        number = math.inf
    if not math.isfinite(number):
        raise ConfigError(f"{label}: at {where}: must be a finite number")
    return number


def _whole(value: Any, label: str, where: str) -> int:
    """A whole number of the world, at most 2**63 - 1 (a queue's length, a count of connections): a larger one is a
    ConfigError, not an OverflowError where it is used (pass V4, F3)."""
    if isinstance(value, float) and value.is_integer():  # JSON Schema's integer: 5.0 is one
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or abs(value) > _LARGEST:
        raise ConfigError(f"{label}: at {where}: must be a whole number of at most {_LARGEST}")
    return value


_LARGEST = (1 << 63) - 1


def _build(raw: dict[str, Any], label: str) -> MockConfig:
    contacts = {
        c["email"].lower(): Contact(c["email"], c["status"], frozenset(c.get("unsubscribed_topics", ())))
        for c in raw.get("contacts", [])
    }
    lists: dict[str, dict[str, tuple[str, ...]]] = {}
    for kind in LIST_KINDS:
        lists[kind] = {}
        for item in raw.get(f"{kind}s", []):
            unknown = [e for e in item["contacts"] if e.lower() not in contacts]
            if unknown:
                raise ConfigError(f"{label}: {kind} {item['id']!r} lists {unknown[0]!r}, which is not under contacts")
            lists[kind][item["id"]] = tuple(e.lower() for e in item["contacts"])
    projects = frozenset(p["id"] for p in raw.get("projects", []))
    for section in ("emails", "conversations"):
        for item in raw.get(section, []):
            if item.get("project") and item["project"] not in projects:
                raise ConfigError(f"{label}: {section} {item['id']!r} names project {item['project']!r}, which is not under projects")
    limits, faults, inspection = raw.get("limits", {}), raw.get("faults", {}), raw.get("inspection", {})
    rate = faults.get("rate_limit")
    return MockConfig(
        keys={k["key"]: frozenset(k["scopes"]) for k in raw.get("keys", [])},
        key_names={k["key"]: k.get("name", "") for k in raw.get("keys", [])},
        verified_domains=frozenset(d.lower() for d in raw.get("verified_domains", [])),
        providers=tuple(raw.get("providers", [])),
        projects=projects,
        emails={e["id"]: e for e in raw.get("emails", [])},
        conversations={c["id"]: c for c in raw.get("conversations", [])},
        contacts=contacts,
        lists=lists,
        max_body_bytes=_whole(limits.get("max_body_bytes", 1 << 20), label, "limits/max_body_bytes"),
        max_depth=_whole(limits.get("max_depth", 64), label, "limits/max_depth"),
        sent_log=_whole(limits.get("sent_log", 10000), label, "limits/sent_log"),
        rate_limit=(_whole(rate["requests"], label, "faults/rate_limit/requests"),
                    _finite(rate["per_seconds"], label, "faults/rate_limit/per_seconds")) if rate else None,
        failure_rate=_finite(faults.get("failure_rate", 0.0), label, "faults/failure_rate"),
        failure_status=_whole(faults.get("failure_status", 503), label, "faults/failure_status"),
        latency_ms=_finite(faults.get("latency_ms", 0), label, "faults/latency_ms"),
        seed=_whole(faults.get("seed", 0), label, "faults/seed"),
        open_world=bool(raw.get("open_world", False)),
        level=str(raw.get("level", Level.STRICT.value)),
        request_log=_whole(limits.get("request_log", 10000), label, "limits/request_log"),
        memory_bytes=_whole(limits.get("memory_bytes", 64 << 20), label, "limits/memory_bytes"),
        max_connections=_whole(limits.get("max_connections", 256), label, "limits/max_connections"),
        request_timeout=_finite(limits.get("request_timeout", 10.0), label, "limits/request_timeout"),
        retry_after=_whole(faults.get("retry_after", 1), label, "faults/retry_after"),
        allowed_hosts=tuple(h.lower() for h in inspection.get("allowed_hosts", ())),
        allowed_origins=tuple(inspection.get("allowed_origins", ())),
        raw=raw,
    )
