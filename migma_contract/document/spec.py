"""Load the vendor's OpenAPI document, check it, and repair its known defects.

Nothing else in the toolkit reads the YAML: validators, generators, the mock and the
reports all take a `Spec`, which holds the document *after* repair, the list of repairs,
and the fingerprint of the bytes as loaded (so a report says exactly which document it
judged against).

A document is whatever file someone hands over: reading it is bounded (bytes, nesting,
nodes, what YAML aliases add) before anything builds it, and what the validators could
not follow mid-run (`$dynamicRef`, `$id`, $ref loops...) is refused here, as a `lint` error.
"""

from __future__ import annotations

import copy
import hashlib
from dataclasses import dataclass, field
from functools import cache, cached_property
from pathlib import Path
from typing import Any

from migma_contract.core.bounded import Bounded
from migma_contract.core.exceptions import SpecInvalid, SpecUnreadable
from migma_contract.document.lint import _check_document, _check_request_schema, _nearest_line, _notes
from migma_contract.document.model import (
    JSON_MEDIA_TYPE,
    OPERATION_METHOD,
    OPERATION_PATH,
    Note,
    Repair,
    _items,
    _response_object,
    request_schema_of,
    resolve_schema,
    response_schemas_of,
)
from migma_contract.document.read import _parse, _read
from migma_contract.document.repair import _repair_nullable

__all__ = ["JSON_MEDIA_TYPE", "OPERATION_METHOD", "OPERATION_PATH", "Note", "Repair", "Spec", "bundled_spec_path", "load_spec"]


@dataclass
class Spec:
    """The document as the toolkit uses it: repaired, indexed, fingerprinted."""

    source: str
    fingerprint: str
    version: str
    original: dict[str, Any]
    document: dict[str, Any]
    repairs: list[Repair] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)

    @property
    def operation(self) -> dict[str, Any]:
        operation: dict[str, Any] = self.document["paths"][OPERATION_PATH][OPERATION_METHOD]
        return operation

    @property
    def servers(self) -> list[str]:
        return [s.get("url", "") for s in self.document.get("servers", []) if isinstance(s, dict)]

    @cached_property
    def request_schema(self) -> dict[str, Any]:
        """The request body schema, standalone (components inlined under `$defs`)."""
        return request_schema_of(self.document)

    @cached_property
    def request_properties(self) -> dict[str, dict[str, Any]]:
        """Each request property's own schema, refs resolved."""
        schema = resolve_schema(self.document, self.request_schema)
        return {name: resolve_schema(self.document, prop) for name, prop in _items(schema.get("properties"))}

    @cached_property
    def request_required(self) -> list[str]:
        required = resolve_schema(self.document, self.request_schema).get("required")
        return [name for name in required if isinstance(name, str)] if isinstance(required, list) else []

    @cached_property
    def _response_schemas(self) -> dict[int, dict[str, Any]]:
        return response_schemas_of(self.document)

    @cached_property
    def documented_statuses(self) -> frozenset[int]:
        return frozenset(self._response_schemas)

    def response_schema(self, status: int) -> dict[str, Any] | None:
        """The JSON body schema documented for `status`, or None if not documented."""
        return self._response_schemas.get(status)

    def response_media_types(self, status: int) -> tuple[str, ...]:
        cached = self._media_types.get(status)
        if cached is None:
            response = _response_object(self.document, status)
            cached = self._media_types[status] = tuple(response.get("content", {})) if response else ()
        return cached

    @cached_property
    def _media_types(self) -> dict[int, tuple[str, ...]]:
        return {}


def bundled_spec_path() -> Path:
    """The vendor's document shipped with the toolkit (installed copy, else the repo's)."""
    package = Path(__file__).resolve().parent.parent
    packaged = package / "_bundled" / "openapi.yaml"
    if packaged.exists():
        return packaged
    return package.parent / "spec" / "openapi.yaml"


# The bundled document's sha256 (spec/ORIGIN.md). A document with exactly these bytes was
# validated as OpenAPI when it was added (and is, again, by the test suite and `lint`), so
# runs skip the costly re-validation (~0.6 s, mostly importing the validator).
BUNDLED_SHA256 = "edf3eba05ada84406e10bfea3514b744b416c9a63e3c9ba3b58c8ef25be964e3"

# The sha256 of the bundled document's JSON copy (`openapi.json` beside it, made from the YAML by
# the test suite's `test_the_bundled_json_copy_is_the_yaml`, which fails when the two differ). The
# YAML stays the source: the copy is read only when the YAML's bytes are the trusted ones and the
# copy's are these, so a run need not import PyYAML (~10 ms) for the document it ships.
BUNDLED_JSON_SHA256 = "c2a1460371f5fccf7511c98c4cf617e3f060938d764ef26eceab1a4a59bede3b"


def load_spec(path: str | Path | None = None, *, full_validation: bool = False) -> Spec:
    """Load, check and repair a document; the bundled one when `path` is None.

    Raises `SpecUnreadable` (missing file, not YAML/JSON) or `SpecInvalid` (not a usable
    OpenAPI document), each naming the file, the place and the problem. The OpenAPI
    validation is skipped only for the bundled bytes, unless `full_validation`.
    """
    if path is None and not full_validation:
        return _load_bundled()
    return _load(Path(path) if path is not None else bundled_spec_path(), source=None if path is not None else "bundled",
                 trusted=None if full_validation else BUNDLED_SHA256)


@cache
def _load_bundled() -> Spec:
    return _load(bundled_spec_path(), source="bundled", trusted=BUNDLED_SHA256)


def _json_copy(path: Path) -> dict[str, Any] | None:
    """The bundled document's JSON copy beside it, if its bytes are the recorded ones (else the YAML is parsed)."""
    import json

    try:
        raw = path.with_name(f"{path.stem}.json").read_bytes()
    except OSError:
        return None
    if hashlib.sha256(raw).hexdigest() != BUNDLED_JSON_SHA256:
        return None
    data: dict[str, Any] = json.loads(raw)
    return data


def _load(path: Path, source: str | None = None, trusted: str | None = None) -> Spec:
    label = str(path)
    raw = _read(path, label)
    digest = hashlib.sha256(raw).hexdigest()
    copied = _json_copy(path) if digest == trusted == BUNDLED_SHA256 else None
    data, lines = (copied, {}) if copied is not None else _parse(raw, label, known=digest == trusted)

    def invalid(message: str, pointer: str) -> SpecInvalid:
        return SpecInvalid(message, path=label, pointer=pointer, line=_nearest_line(lines, pointer))

    try:
        version = _check_document(data, invalid, validate=digest != trusted)
    except Bounded as exc:  # over a bound on what the document costs to walk: refused like one over the bytes read
        raise SpecUnreadable(exc.message, path=label) from None
    document = copy.deepcopy(data)
    repairs = _repair_nullable(document, version)
    _check_request_schema(document, invalid)
    spec = Spec(
        source=source or label,
        fingerprint="sha256:" + digest,
        version=version,
        original=data,
        document=document,
        repairs=repairs,
    )
    spec.notes = _notes(spec)
    return spec
