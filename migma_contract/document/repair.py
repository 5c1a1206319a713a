"""Repairing a document's known defects (OpenAPI 3.0 `nullable` in a 3.1 document), each repair reported."""

from __future__ import annotations

from typing import Any

from migma_contract.document.model import Repair, iter_schemas


def _repair_nullable(document: dict[str, Any], version: str) -> list[Repair]:
    """Turn OpenAPI 3.0 `nullable` into the 3.1 form, so `null` is allowed where meant."""
    repairs = []
    why_31 = "OpenAPI 3.0 keyword, ignored by 3.1 validators"
    why = why_31 if version.startswith("3.1.") else "OpenAPI 3.0 semantics, expressed in JSON Schema 2020-12"
    for pointer, schema in list(iter_schemas(document)):
        if "nullable" not in schema:
            continue
        before = {k: schema[k] for k in ("type", "enum", "nullable") if k in schema}
        nullable = schema.pop("nullable")
        if nullable is True:
            if "type" in schema:
                types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
                if "null" not in types:
                    schema["type"] = [*types, "null"]
            if "enum" in schema and None not in schema["enum"]:
                schema["enum"] = [*schema["enum"], None]
            effect = (
                f"`nullable: true` -> type {schema['type']!r}" if "type" in schema
                else "`nullable: true` removed (no type, so null was already allowed)"
            )
        else:
            effect = "`nullable: false` removed (no effect)"
        after = {k: schema[k] for k in ("type", "enum") if k in schema}
        repairs.append(Repair(pointer=pointer, kind="nullable", before=before, after=after, why=f"{effect}; {why}"))
    return repairs
