"""The document as the toolkit reads it: the operation it covers, repairs and notes, walking its schemas,
and its schemas made standalone (JSON Schema 2020-12 with their refs inside)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

OPERATION_PATH = "/v1/sending"


OPERATION_METHOD = "post"


JSON_MEDIA_TYPE = "application/json"


@dataclass(frozen=True)
class Repair:
    """One change the loader made to the document before anything read it."""

    pointer: str
    kind: str
    before: Any
    after: Any
    why: str

    def describe(self) -> str:
        return f"{self.pointer}: {self.kind}: {self.why}"


@dataclass(frozen=True)
class Note:
    """Something worth knowing about the document that is not an error."""

    pointer: str
    message: str


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


_SCHEMA_REF_PREFIX = "#/components/schemas/"


# Keys whose value is a map of names (properties, paths, status codes, media types...): a
# property called `$ref` or `$id` is a name there, not a keyword.
_NAME_MAPS = frozenset({
    "properties", "patternProperties", "$defs", "definitions", "dependentSchemas", "dependentRequired",
    "paths", "webhooks", "schemas", "responses", "parameters", "requestBodies", "headers", "securitySchemes",
    "links", "callbacks", "pathItems", "content", "encoding", "variables", "examples", "mapping", "scopes",
})


# Keys whose value is instance data (or an extension nothing interprets): no keyword inside.
_DATA_KEYWORDS = frozenset({"example", "default", "const", "enum", "value"})


_MISSING = object()


def _target(ref: str) -> str:
    """The JSON pointer a local ref names: its fragment, percent-decoded."""
    return unquote(ref[1:])


def _lookup(data: Any, pointer: str) -> Any:
    if pointer == "":
        return data
    if not pointer.startswith("/"):
        return _MISSING
    node = data
    for raw in pointer[1:].split("/"):
        token = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and token in node:
            node = node[token]
        elif isinstance(node, list) and token.isascii() and token.isdigit() and len(token) < 10 and int(token) < len(node):
            # (ASCII digits only: "²" is a digit to isdigit() and no number to int())
            node = node[int(token)]
        else:
            return _MISSING
    return node


def _resolve_object(data: dict[str, Any], node: Any) -> dict[str, Any]:
    """Follow `$ref`s of OpenAPI objects (responses, request bodies)."""
    seen = 0
    while isinstance(node, dict) and isinstance(node.get("$ref"), str) and seen < 32:
        node = _lookup(data, _target(node["$ref"]))
        seen += 1
    return node if isinstance(node, dict) else {}


_SCHEMA_MAP_KEYWORDS = ("properties", "patternProperties", "$defs", "definitions", "dependentSchemas")


_SCHEMA_LIST_KEYWORDS = ("allOf", "anyOf", "oneOf", "prefixItems")


_SCHEMA_KEYWORDS = (
    "items", "additionalProperties", "not", "if", "then", "else", "contains",
    "propertyNames", "unevaluatedItems", "unevaluatedProperties",
)


def iter_schemas(document: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every schema object in the document, with its JSON pointer (not through $ref)."""
    roots: list[tuple[str, Any]] = []
    for name, schema in _items(_items_of(document, "components").get("schemas")):
        roots.append((f"/components/schemas/{_escape(name)}", schema))
    for pointer, node in _iter_media_types(document, ""):
        if isinstance(node, dict) and "schema" in node:
            roots.append((f"{pointer}/schema", node["schema"]))
    for pointer, schema in roots:
        yield from _walk_schema(schema, pointer)


def _iter_media_types(document: dict[str, Any], _: str) -> Iterator[tuple[str, Any]]:
    """Media type objects of request bodies and responses, following OpenAPI's structure."""
    holders: list[tuple[str, Any]] = []
    for path, item in _items(document.get("paths")):
        for method, operation in _items(item):
            if not isinstance(operation, dict):
                continue
            base = f"/paths/{_escape(path)}/{_escape(method)}"
            holders.append((f"{base}/requestBody", operation.get("requestBody")))
            for status, response in _items(operation.get("responses")):
                holders.append((f"{base}/responses/{_escape(status)}", response))
    components = _items_of(document, "components")
    for section in ("responses", "requestBodies"):
        for name, holder in _items(components.get(section)):
            holders.append((f"/components/{section}/{_escape(name)}", holder))
    for pointer, holder in holders:
        if isinstance(holder, dict) and isinstance(holder.get("content"), dict):
            for media, media_object in holder["content"].items():
                yield f"{pointer}/content/{_escape(media)}", media_object


def _items(node: Any) -> Iterator[tuple[str, Any]]:
    """A mapping's items; none for anything else (these walks run before the OpenAPI validation)."""
    return iter(node.items()) if isinstance(node, dict) else iter(())


def _items_of(node: Any, key: str) -> dict[str, Any]:
    value = node.get(key) if isinstance(node, dict) else None
    return value if isinstance(value, dict) else {}


def _walk_schema(schema: Any, pointer: str) -> Iterator[tuple[str, dict[str, Any]]]:
    if not isinstance(schema, dict):
        return
    yield pointer, schema
    for keyword in _SCHEMA_MAP_KEYWORDS:
        for name, sub in (schema.get(keyword) or {}).items() if isinstance(schema.get(keyword), dict) else ():
            yield from _walk_schema(sub, f"{pointer}/{keyword}/{_escape(name)}")
    for keyword in _SCHEMA_LIST_KEYWORDS:
        for index, sub in enumerate(schema.get(keyword) or []) if isinstance(schema.get(keyword), list) else ():
            yield from _walk_schema(sub, f"{pointer}/{keyword}/{index}")
    for keyword in _SCHEMA_KEYWORDS:
        if isinstance(schema.get(keyword), dict):
            yield from _walk_schema(schema[keyword], f"{pointer}/{keyword}")


_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def standalone(document: dict[str, Any], schema: dict[str, Any] | bool) -> dict[str, Any]:
    """A JSON Schema 2020-12 that stands on its own: component refs point into `$defs`.

    The dialect is the validators' own, whatever the document says: a `$schema` of the document's
    (at the root or in any schema object) is not carried into the standalone schema.
    """
    defs = _rewrite_refs(_items_of(document, "components").get("schemas", {}), names=True)
    return {"$schema": _DIALECT, **_rewrite_refs(_as_schema(schema)), "$defs": defs}


def _as_schema(schema: Any) -> dict[str, Any]:
    """A schema as an object: `true` accepts anything, `false` nothing (JSON Schema 2020-12)."""
    if isinstance(schema, dict):
        return schema
    return {} if schema is True else {"not": {}}


def _rewrite_refs(node: Any, *, names: bool = False, data: bool = False) -> Any:
    """A copy of a schema (`names`: of a map of names to schemas) with component refs pointing into `$defs` and
    no `$schema`; instance data inside (`const`, `enum`, `default`, examples, extensions) copied unchanged."""
    if isinstance(node, list):
        return [_rewrite_refs(item, data=data) for item in node]
    if not isinstance(node, dict):
        return node
    out = {}
    for key, value in node.items():
        if data or names:
            out[key] = _rewrite_refs(value, data=data)
        elif key == "$ref" and isinstance(value, str) and value.startswith(_SCHEMA_REF_PREFIX):
            out[key] = "#/$defs/" + value[len(_SCHEMA_REF_PREFIX):]
        elif key == "$schema":
            continue
        else:
            in_data = key in _DATA_KEYWORDS or str(key).startswith("x-") or (key == "examples" and isinstance(value, list))
            out[key] = _rewrite_refs(value, names=key in _NAME_MAPS, data=in_data)
    return out


def resolve_schema(document: dict[str, Any], schema: dict[str, Any] | bool) -> dict[str, Any]:
    """Follow a schema's top-level `$ref` (either form) to the schema it names."""
    schema = _as_schema(schema)
    for _ in range(32):
        ref = schema.get("$ref")
        if not isinstance(ref, str):
            return schema
        if ref.startswith("#/$defs/"):
            ref = _SCHEMA_REF_PREFIX + ref[len("#/$defs/"):]
        target = _lookup(document, _target(ref))
        if not isinstance(target, dict | bool):
            return schema
        schema = _as_schema(target)
    return schema


def request_schema_of(document: dict[str, Any]) -> dict[str, Any]:
    operation = document["paths"][OPERATION_PATH][OPERATION_METHOD]
    body = _resolve_object(document, operation.get("requestBody", {}))
    return standalone(document, body["content"][JSON_MEDIA_TYPE].get("schema", {}))


def _response_object(document: dict[str, Any], status: int) -> dict[str, Any] | None:
    responses = document["paths"][OPERATION_PATH][OPERATION_METHOD].get("responses", {})
    for key in (str(status), f"{str(status)[0]}XX"):
        if key in responses:
            return _resolve_object(document, responses[key])
    return None


def response_schemas_of(document: dict[str, Any]) -> dict[int, dict[str, Any]]:
    """Documented status -> standalone JSON body schema (an empty schema if none given)."""
    responses = document["paths"][OPERATION_PATH][OPERATION_METHOD].get("responses", {})
    result: dict[int, dict[str, Any]] = {}
    for key in responses:
        if not (str(key).isascii() and str(key).isdigit()):  # ("²" is a digit to isdigit(), no number to int())
            continue
        response = _resolve_object(document, responses[key])
        media = response.get("content", {}).get(JSON_MEDIA_TYPE, {})
        result[int(key)] = standalone(document, media.get("schema", {}))
    return result
