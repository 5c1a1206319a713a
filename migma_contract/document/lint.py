"""Checking a document: an OpenAPI 3.1 document with the operation, JSON Schema the validators can follow (no
`$dynamicRef`, `$id`, reference loops), and notes on what it leaves to the prose."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from migma_contract.core.exceptions import SpecInvalid
from migma_contract.document.model import (
    _MISSING,
    _SCHEMA_REF_PREFIX,
    JSON_MEDIA_TYPE,
    OPERATION_METHOD,
    OPERATION_PATH,
    Note,
    _escape,
    _items_of,
    _lookup,
    _resolve_object,
    _target,
    iter_schemas,
    resolve_schema,
)

if TYPE_CHECKING:
    from migma_contract.document.spec import Spec


def _check_document(data: dict[str, Any], invalid: Callable[[str, str], SpecInvalid], *, validate: bool = True) -> str:
    version = data.get("openapi")
    if not isinstance(version, str) or not version.startswith(("3.0.", "3.1.")):
        raise invalid(f"'openapi' must be a 3.0.x or 3.1.x version string, found {version!r}", "/openapi")
    refs = _check_keywords(data, invalid)
    _check_schema_refs(data, invalid)
    _check_cycles(data, refs, invalid)
    paths = data.get("paths")
    if not isinstance(paths, dict):
        raise invalid("no 'paths': the document defines no operations", "/paths")
    operation = paths.get(OPERATION_PATH, {}).get(OPERATION_METHOD) if isinstance(paths.get(OPERATION_PATH), dict) else None
    op_pointer = f"/paths/{_escape(OPERATION_PATH)}/{OPERATION_METHOD}"
    if not isinstance(operation, dict):
        raise invalid(f"the document has no operation {OPERATION_METHOD.upper()} {OPERATION_PATH}", op_pointer)
    if validate:
        _validate_openapi(data, invalid)
    body = _resolve_object(data, operation.get("requestBody", {}))
    if not isinstance(body.get("content"), dict) or JSON_MEDIA_TYPE not in body["content"]:
        raise invalid("the operation has no application/json request body", f"{op_pointer}/requestBody")
    if not isinstance(operation.get("responses"), dict) or not operation["responses"]:
        raise invalid("the operation documents no responses", f"{op_pointer}/responses")
    return version


def _check_request_schema(document: dict[str, Any], invalid: Callable[[str, str], SpecInvalid]) -> None:
    """What the test plan is built from must be there: recipientType and its values."""
    body = _resolve_object(document, document["paths"][OPERATION_PATH][OPERATION_METHOD].get("requestBody", {}))
    media = body["content"][JSON_MEDIA_TYPE]
    schema = resolve_schema(document, media.get("schema", True) if isinstance(media, dict) else True)
    recipient_type = resolve_schema(document, _items_of(schema, "properties").get("recipientType", True))
    values = recipient_type.get("enum")
    if not (isinstance(values, list) and values and all(isinstance(value, str) for value in values)):
        pointer = f"/paths/{_escape(OPERATION_PATH)}/{OPERATION_METHOD}/requestBody/content/{_escape(JSON_MEDIA_TYPE)}/schema"
        found = "none" if values is None else _one_line(repr(values), 80)
        raise invalid(f"the request schema must give property recipientType an enum of strings (the test plan is built from it); found {found}", pointer)


def _nearest_line(lines: dict[str, int], pointer: str) -> int | None:
    while True:
        if pointer in lines:
            return lines[pointer]
        if not pointer:
            return None
        pointer = pointer.rsplit("/", 1)[0]


# Keys whose value is a map of names (properties, paths, status codes, media types...): a
# property called `$ref` or `$id` is a name there, not a keyword.
_NAME_MAPS = frozenset({
    "properties", "patternProperties", "$defs", "definitions", "dependentSchemas", "dependentRequired",
    "paths", "webhooks", "schemas", "responses", "parameters", "requestBodies", "headers", "securitySchemes",
    "links", "callbacks", "pathItems", "content", "encoding", "variables", "examples", "mapping", "scopes",
})


# Keys whose value is instance data (or an extension nothing interprets): no keyword inside.
_DATA_KEYWORDS = frozenset({"example", "default", "const", "enum", "value"})


# JSON Schema keywords the toolkit's validators cannot honour inside an OpenAPI document: a
# document with one would pass `lint` and then fail when a validator meets it mid-run.
_UNSUPPORTED = {
    "$id": "it moves the base that the $refs inside resolve against; refer to components by '#/components/schemas/...'",
    "$dynamicRef": "the validators resolve only plain local $refs",
    "$dynamicAnchor": "the validators resolve only plain local $refs",
    "$recursiveRef": "a draft 2019-09 keyword; the validators resolve only plain local $refs",
    "$recursiveAnchor": "a draft 2019-09 keyword; the validators resolve only plain local $refs",
}


# A local ref is a URI fragment holding a JSON pointer (RFC 6901, section 6): reserved
# characters percent-encoded, as the validators read it.
_LOCAL_REF = re.compile(r"#(?:/(?:[A-Za-z0-9\-._~!$&'()*+,;=:@]|%[0-9A-Fa-f]{2})*)*")


def _keywords(data: Any) -> Iterator[tuple[str, str, Any, bool]]:
    """(pointer, key, value, in_data) for each key of the document that is not a name in a
    map of names; `in_data` when it sits inside instance data or an extension. Iterative,
    in document order."""
    stack: list[tuple[Any, str, bool, bool]] = [(data, "", False, False)]
    while stack:
        node, pointer, names, in_data = stack.pop()
        children: list[tuple[Any, str, bool, bool]] = []
        if isinstance(node, list):
            children = [(item, f"{pointer}/{index}", False, in_data) for index, item in enumerate(node)]
        elif isinstance(node, dict):
            for key, value in node.items():
                child = f"{pointer}/{_escape(str(key))}"
                if names and not in_data:
                    children.append((value, child, False, False))
                    continue
                yield child, key, value, in_data
                data_value = key in _DATA_KEYWORDS or str(key).startswith("x-") or (key == "examples" and isinstance(value, list))
                children.append((value, child, key in _NAME_MAPS, in_data or data_value))
        stack.extend(reversed(children))


def _check_keywords(data: dict[str, Any], invalid: Callable[[str, str], SpecInvalid]) -> list[tuple[str, str]]:
    """Every $ref local and resolvable; no keyword the validators cannot honour. Returns
    each ref as (its pointer, the pointer it names)."""
    refs: list[tuple[str, str]] = []
    for pointer, key, value, in_data in _keywords(data):
        if key == "$ref" and isinstance(value, str) and not value.startswith("#"):
            # even inside data: a validator that meets it would fetch it
            raise invalid(f"$ref {value!r} points outside the document; only local refs ('#/...') are supported", pointer)
        if in_data:
            continue
        if key == "$ref":
            if not isinstance(value, str) or not _LOCAL_REF.fullmatch(value):
                raise invalid(
                    f"$ref {value!r} is not a local JSON-pointer ref ('#/...', reserved characters percent-encoded); "
                    "anchors ('#name') are not supported", pointer,
                )
            if _lookup(data, _target(value)) is _MISSING:
                raise invalid(f"$ref {value!r} points to nothing", pointer)
            refs.append((pointer, _target(value)))
        elif key in _UNSUPPORTED:
            raise invalid(f"{key} is not supported: {_UNSUPPORTED[key]}", pointer)
    return refs


def _check_schema_refs(data: dict[str, Any], invalid: Callable[[str, str], SpecInvalid]) -> None:
    """A schema's $ref names a schema under #/components/schemas: the standalone schemas the
    validators compile carry those (as `$defs`) and nothing else of the document."""
    for pointer, schema in iter_schemas(data):
        ref = schema.get("$ref")
        if not isinstance(ref, str):
            continue
        if not ref.startswith(_SCHEMA_REF_PREFIX):
            raise invalid(f"schema $ref {ref!r} must point into {_SCHEMA_REF_PREFIX}", f"{pointer}/$ref")
        target = _lookup(data, _target(ref))
        if not isinstance(target, dict | bool):
            raise invalid(f"schema $ref {ref!r} points to a {type(target).__name__}, not a schema", f"{pointer}/$ref")


_IN_PLACE_LISTS = ("allOf", "anyOf", "oneOf")


_IN_PLACE_ONE = ("not", "if", "then", "else")


def _check_cycles(data: dict[str, Any], refs: list[tuple[str, str]], invalid: Callable[[str, str], SpecInvalid]) -> None:
    """Refuse a loop of $refs (and of schemas applied in place: allOf, not, if...) that never
    steps into the data: every validator would recurse on it for ever."""
    edges: dict[str, list[tuple[str, str]]] = {}  # pointer -> (next pointer, pointer of the step)
    for pointer, target in refs:
        edges.setdefault(pointer.rsplit("/", 1)[0], []).append((target, pointer))
    for pointer, schema in iter_schemas(data):
        steps = [f"{pointer}/{k}/{i}" for k in _IN_PLACE_LISTS if isinstance(schema.get(k), list) for i in range(len(schema[k]))]
        steps += [f"{pointer}/{k}" for k in _IN_PLACE_ONE if isinstance(schema.get(k), dict)]
        if isinstance(schema.get("dependentSchemas"), dict):
            steps += [f"{pointer}/dependentSchemas/{_escape(name)}" for name in schema["dependentSchemas"]]
        edges.setdefault(pointer, []).extend((step, step) for step in steps)
    done: set[str] = set()
    for start in list(edges):
        if start in done:
            continue
        path: list[str] = [start]
        on_path = {start}
        iterators = [iter(edges.get(start, ()))]
        while iterators:
            step = next(iterators[-1], None)
            if step is None:
                finished = path.pop()
                on_path.discard(finished)
                done.add(finished)
                iterators.pop()
                continue
            target, where = step
            if target in on_path:
                loop = [*path[path.index(target):], target]
                raise invalid(f"$ref loop that never steps into the data: {' -> '.join(loop)}", where)
            if target in done:
                continue
            path.append(target)
            on_path.add(target)
            iterators.append(iter(edges.get(target, ())))


def _validate_openapi(data: dict[str, Any], invalid: Callable[[str, str], SpecInvalid]) -> None:
    from openapi_spec_validator import OpenAPIV30SpecValidator, OpenAPIV31SpecValidator

    validator_class = OpenAPIV31SpecValidator if data["openapi"].startswith("3.1.") else OpenAPIV30SpecValidator
    try:
        error = next(iter(validator_class(data).iter_errors()), None)
    except Exception as exc:  # the validator itself failed on this input
        raise invalid(f"not a valid OpenAPI document: {_one_line(str(exc))}", "") from None
    if error is not None:
        path = getattr(error, "path", None) or []
        pointer = _locate(data, "".join(f"/{_escape(str(part))}" for part in path), getattr(error, "instance", _MISSING))
        raise invalid(f"not a valid OpenAPI document: {_one_line(error.message)}", pointer)


def _one_line(text: str, limit: int = 240) -> str:
    """A validator's message as one line of bounded length: it may quote a whole schema."""
    text = " ".join(re.sub(r"[\x00-\x1f\x7f-\x9f]", " ", text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _locate(data: dict[str, Any], relative: str, instance: Any) -> str:
    """The validator reports paths relative to the schema it was checking: find which."""
    if _lookup(data, relative) == instance:
        return relative
    for pointer, _ in iter_schemas(data):
        if _lookup(data, pointer + relative) == instance:
            return pointer + relative
    return relative


def _notes(spec: Spec) -> list[Note]:
    notes = []
    for url in spec.servers:
        if url:
            notes.append(Note("/servers", f"server {url} is never targeted unless passed explicitly as --base-url (with --allow-production)"))
    emails = [pointer.rsplit("/", 1)[-1] for pointer, schema in iter_schemas(spec.document) if schema.get("format") == "email"]
    if emails:
        notes.append(Note(
            "/components/schemas",
            f"`format: email` on {', '.join(emails)} is only an annotation in OpenAPI 3.1; "
            "asserted by rule email-format (documented level)",
        ))
    result = spec.document.get("components", {}).get("schemas", {}).get("SendEmailResult")
    if isinstance(result, dict) and not result.get("required"):
        notes.append(Note("/components/schemas/SendEmailResult", "requires no property; the prose says more (rules result-has-id, result-status-known)"))
    return notes
