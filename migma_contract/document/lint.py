"""Checking a document: an OpenAPI 3.1 document with the operation, JSON Schema the validators can follow (no
`$dynamicRef`, `$id`, reference loops), and notes on what it leaves to the prose."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from functools import cache
from typing import TYPE_CHECKING, Any

from migma_contract.core.bounded import Bounded
from migma_contract.core.exceptions import SpecInvalid
from migma_contract.document.model import (
    _DATA_KEYWORDS,
    _MISSING,
    _NAME_MAPS,
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
    _check_expansion(data, refs)
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


# What a document may become once its $refs are followed. Every walker that expands references (the
# OpenAPI validator's, the validators' inlining, `diff`'s comparison) walks shared definitions once per
# reference: a 10 KB document of 30 schemas, each `allOf: [$ref next, $ref next]`, is 2^30 schemas
# expanded. The vendor's document expands to ~1,500 nodes; a real one to tens of thousands.
MAX_EXPANDED_NODES = 200_000


def _check_expansion(data: dict[str, Any], refs: list[tuple[str, str]]) -> None:
    """Refuse (`Bounded`, exit 2), before any walker expands its references, a document whose size with every
    $ref replaced by what it names is past `MAX_EXPANDED_NODES`. A $ref into a recursive definition (one that
    reaches itself: a tree) counts as one node, as every walker stops there. Linear: each node's expanded size
    is counted once (memoised over the reference graph, which is then a DAG)."""
    size = expanded_size(data, refs, MAX_EXPANDED_NODES)
    if size > MAX_EXPANDED_NODES:
        raise Bounded(f"its $refs expand to more than {MAX_EXPANDED_NODES:,} nodes (the cap on documents: shared definitions "
                      "are expanded once per reference); refused before any validator expands them")


def expanded_size(data: Any, refs: list[tuple[str, str]], cap: int) -> int:
    """The number of JSON nodes of `data` with each $ref of `refs` (pointer of the `$ref` key, pointer it names)
    replaced by its target, recursive targets counted as one; past `cap`, some number above it."""
    recursive = recursive_targets(refs)
    holders: dict[int, Any] = {}  # id of a $ref object -> what it names, when that is not recursive
    for pointer, target in refs:
        if target not in recursive:
            holders[id(_lookup(data, pointer.rsplit("/", 1)[0]))] = _lookup(data, target)
    memo: dict[int, int] = {}
    active: set[int] = set()
    stack: list[tuple[Any, bool]] = [(data, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        children = list(node.values()) if isinstance(node, dict) else node if isinstance(node, list) else []
        if key in holders:
            children = [*children, holders[key]]
        if done:
            active.discard(key)
            total = 1 + sum(memo.get(id(child), 1) for child in children)
            memo[key] = total
            if total > cap:
                return total
            continue
        if key in memo or key in active:
            continue
        active.add(key)
        stack.append((node, True))
        stack.extend((child, False) for child in children if isinstance(child, dict | list) and id(child) not in memo)
    return memo.get(id(data), 1)


def recursive_targets(refs: list[tuple[str, str]]) -> set[str]:
    """The targets of `refs` that reach themselves through other $refs and what they contain (Tarjan, iterative)."""
    targets = {target for _, target in refs}

    def owner(pointer: str) -> str | None:  # the innermost target holding `pointer` (itself included)
        while True:
            if pointer in targets:
                return pointer
            if not pointer:
                return None
            pointer = pointer.rsplit("/", 1)[0]

    edges: dict[str, set[str]] = {target: set() for target in targets}
    for target in targets:
        holder = owner(target.rsplit("/", 1)[0]) if target else None
        if holder is not None:
            edges[holder].add(target)
    for pointer, target in refs:
        holder = owner(pointer.rsplit("/", 1)[0])
        if holder is not None:
            edges[holder].add(target)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    order: list[str] = []
    recursive: set[str] = set()
    for start in edges:
        if start in index:
            continue
        work = [(start, iter(sorted(edges[start])))]
        index[start] = low[start] = len(index)
        order.append(start)
        on_stack.add(start)
        while work:
            node, successors = work[-1]
            step = next(successors, None)
            if step is not None:
                if step not in index:
                    index[step] = low[step] = len(index)
                    order.append(step)
                    on_stack.add(step)
                    work.append((step, iter(sorted(edges[step]))))
                elif step in on_stack:
                    low[node] = min(low[node], index[step])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = order.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1 or node in edges[node]:
                    recursive.update(component)
    return recursive


def _validate_openapi(data: dict[str, Any], invalid: Callable[[str, str], SpecInvalid]) -> None:
    validator_class = _spec_validator(data["openapi"].startswith("3.1."))
    try:
        error = next(iter(validator_class(data).iter_errors()), None)
    except Exception as exc:  # the validator itself failed on this input
        raise invalid(f"not a valid OpenAPI document: {_one_line(str(exc))}", "") from None
    if error is not None:
        path = getattr(error, "path", None) or []
        pointer = _locate(data, "".join(f"/{_escape(str(part))}" for part in path), getattr(error, "instance", _MISSING))
        raise invalid(f"not a valid OpenAPI document: {_one_line(error.message)}", pointer)


@cache
def _spec_validator(v31: bool) -> Any:
    """openapi-spec-validator's document validator whose schema walk counts each schema's properties once.

    Its walk (`SchemaValidator`) visits each schema once, but gathers the properties an `allOf` branch
    reaches (`_collect_properties`) afresh for every path to it, with no memory and no guard against a
    loop through `items`: exponential in a DAG of shared definitions (`MAX_EXPANDED_NODES` bounds the
    document; this makes the walk linear in it). Only that gathering is memoised, by the schema object
    read (one per definition); what it returns is unchanged.
    """
    from openapi_spec_validator import OpenAPIV30SpecValidator, OpenAPIV31SpecValidator

    base: Any = OpenAPIV31SpecValidator if v31 else OpenAPIV30SpecValidator
    schema_base: Any = base.keyword_validators["schema"]
    if not callable(getattr(schema_base, "_collect_properties", None)):  # pragma: no cover - another release's walk
        return base

    class _SchemaValidator(schema_base):  # type: ignore[misc]
        def _collect_properties(self, schema: Any) -> set[str]:
            memo: dict[int, set[str]] = self.__dict__.setdefault("_migma_properties", {})
            key = id(schema.read_value())
            found = memo.get(key)
            if found is None:
                memo[key] = set()  # a loop back here (through `items`, `not`) adds nothing new
                found = memo[key] = set(super()._collect_properties(schema))
            return set(found)

    return type(base.__name__, (base,), {"keyword_validators": {**base.keyword_validators, "schema": _SchemaValidator}})


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
