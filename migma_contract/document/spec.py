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
import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cache, cached_property
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import yaml

from migma_contract.core import bounded
from migma_contract.core.exceptions import SpecInvalid, SpecUnreadable

__all__ = ["OPERATION_METHOD", "OPERATION_PATH", "Note", "Repair", "Spec", "bundled_spec_path", "check_yaml_bounds", "load_spec"]

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


def _load(path: Path, source: str | None = None, trusted: str | None = None) -> Spec:
    label = str(path)
    raw = _read(path, label)
    digest = hashlib.sha256(raw).hexdigest()
    data, lines = _parse(raw, label, known=digest == trusted)

    def invalid(message: str, pointer: str) -> SpecInvalid:
        return SpecInvalid(message, path=label, pointer=pointer, line=_nearest_line(lines, pointer))

    version = _check_document(data, invalid, validate=digest != trusted)
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


# --- reading: bounded before anything is built -------------------------------
# A document comes from whoever hands over the file, so its cost is bounded before it is
# built: bytes read, nesting, nodes, and what YAML aliases may add. Each bound is far above
# what an OpenAPI document needs (the bundled one: 8 KiB, 415 nodes, 9 levels, no alias)
# and far below what hurts (a 416-byte alias bomb expands to 10^9 nodes; Python's own
# recursion limit is ~1000 levels).

MAX_DOCUMENT_BYTES = 5 * 1024 * 1024
MAX_NESTING = bounded.MAX_DEPTH
MAX_NODES = bounded.MAX_NODES
MAX_ALIAS_NODES = bounded.MAX_ALIAS_NODES  # what aliases add once expanded (see core.bounded)

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when present: ~10x faster
_TAG = "tag:yaml.org,2002:"
_JSON_TAGS = frozenset(_TAG + name for name in ("str", "int", "float", "bool", "null", "map", "seq"))
_TEXT_TAGS = frozenset(_TAG + name for name in ("timestamp", "value"))  # YAML 1.1 readings of plain text


def _read(path: Path, label: str) -> bytes:
    """At most the cap and one byte: a bounded read works for files, FIFOs and /dev/zero alike."""
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_DOCUMENT_BYTES + 1)
    except FileNotFoundError:
        raise SpecUnreadable("no such file; pass the path of an OpenAPI YAML or JSON document", path=label) from None
    except OSError as exc:
        raise SpecUnreadable(f"cannot read the file: {exc.strerror or exc}", path=label) from None
    if len(raw) > MAX_DOCUMENT_BYTES:
        raise SpecUnreadable(f"larger than {MAX_DOCUMENT_BYTES // 2**20} MiB, the cap on documents; not read further", path=label)
    return raw


def _parse(raw: bytes, label: str, *, known: bool = False) -> tuple[dict[str, Any], dict[str, int]]:
    """The document and each pointer's line. `known` bytes (the bundled document's, checked
    by the test suite) have nothing to bound, refuse or locate: they are only built."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SpecUnreadable(f"not UTF-8 text (byte {exc.start})", path=label) from None
    loader = _LOADER(text)
    try:
        if known:
            data, lines = loader.get_single_data(), {}
        else:
            check_yaml_bounds(text, label)
            node = loader.get_single_node()
            lines = _index(node, label) if node is not None else {}
            data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = exc.problem or exc.context or "malformed"
        raise SpecUnreadable(f"not valid YAML/JSON: {problem}", path=label, line=line) from None
    except yaml.YAMLError as exc:
        raise SpecUnreadable(f"not valid YAML/JSON: {exc}", path=label) from None
    except RecursionError:  # the pure-Python composer (no libyaml) on deep input
        raise SpecUnreadable(f"nested more than {MAX_NESTING} levels deep, the cap on documents", path=label) from None
    finally:
        loader.dispose()
    if not isinstance(data, dict):
        kind = "empty" if data is None else type(data).__name__
        raise SpecInvalid(f"the document is {kind}, not an OpenAPI object", path=label, pointer="", line=1)
    return data, lines


def check_yaml_bounds(text: str, label: str) -> None:
    """Refuse (`SpecUnreadable`), before any node is built, a document too deep or too large,
    counting what each YAML alias would expand to (`core.bounded`, the loader every file goes through)."""
    try:
        bounded.check_yaml_bounds(text, what="documents", max_depth=MAX_NESTING, max_nodes=MAX_NODES, max_alias_nodes=MAX_ALIAS_NODES)
    except bounded.Bounded as exc:
        raise SpecUnreadable(exc.message, path=label, line=exc.line) from None


def _unreadable(message: str, label: str, event: yaml.Event | yaml.Node) -> SpecUnreadable:
    return SpecUnreadable(message, path=label, line=event.start_mark.line + 1 if event.start_mark else None)


def _index(root: yaml.Node, label: str) -> dict[str, int]:
    """Each JSON pointer's line, for error messages; on the way, hold the YAML to the JSON
    data model, as OpenAPI asks ("tags MUST be limited to those allowed by the JSON Schema
    ruleset", keys are strings): a key like `200:` is the string "200", an unquoted date is
    text, anything else JSON cannot say (`!!set`, `!!binary`, `.nan`) is refused here,
    before a validator meets it mid-run. Iterative: `_bound` has capped the work."""
    lines: dict[str, int] = {}
    stack: list[tuple[yaml.Node, str]] = [(root, "")]
    while stack:
        node, pointer = stack.pop()
        lines[pointer] = node.start_mark.line + 1
        if isinstance(node, yaml.ScalarNode):
            _check_scalar(node, label)
        elif node.tag not in _JSON_TAGS:
            raise _unreadable(f"YAML tag {node.tag.replace(_TAG, '!!')} is not allowed: an OpenAPI document holds JSON data only", label, node)
        elif isinstance(node, yaml.MappingNode):
            for key, value in reversed(node.value):
                if not isinstance(key, yaml.ScalarNode):
                    raise _unreadable("a mapping key is not a string: an OpenAPI document holds JSON data only", label, key)
                if key.tag != _TAG + "merge":  # `<<: *base` stays a merge
                    _check_scalar(key, label, key=True)
                stack.append((value, f"{pointer}/{_escape(str(key.value))}"))
        else:
            stack.extend((value, f"{pointer}/{index}") for index, value in reversed(list(enumerate(node.value))))
    return lines


def _check_scalar(node: yaml.ScalarNode, label: str, *, key: bool = False) -> None:
    if node.tag not in _JSON_TAGS and node.tag not in _TEXT_TAGS:
        raise _unreadable(f"YAML tag {node.tag.replace(_TAG, '!!')} is not allowed: an OpenAPI document holds JSON data only", label, node)
    if key or node.tag in _TEXT_TAGS:
        node.tag = _TAG + "str"  # keys are strings; JSON has no dates: `2024-01-01` is the text it looks like
    elif node.tag == _TAG + "float" and not math.isfinite(_SCALARS.construct_yaml_float(node)):
        raise _unreadable(f"{node.value} is not a number JSON can hold", label, node)


_SCALARS = yaml.constructor.SafeConstructor()


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


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
_SCHEMA_REF_PREFIX = "#/components/schemas/"


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
        elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
            node = node[int(token)]
        else:
            return _MISSING
    return node


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


def _resolve_object(data: dict[str, Any], node: Any) -> dict[str, Any]:
    """Follow `$ref`s of OpenAPI objects (responses, request bodies)."""
    seen = 0
    while isinstance(node, dict) and isinstance(node.get("$ref"), str) and seen < 32:
        node = _lookup(data, _target(node["$ref"]))
        seen += 1
    return node if isinstance(node, dict) else {}


# --- repairs ---------------------------------------------------------------

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


# --- standalone schemas ------------------------------------------------------


def standalone(document: dict[str, Any], schema: dict[str, Any] | bool) -> dict[str, Any]:
    """A JSON Schema 2020-12 that stands on its own: component refs point into `$defs`."""
    defs = _rewrite_refs(_items_of(document, "components").get("schemas", {}))
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **_rewrite_refs(_as_schema(schema)), "$defs": defs}


def _as_schema(schema: Any) -> dict[str, Any]:
    """A schema as an object: `true` accepts anything, `false` nothing (JSON Schema 2020-12)."""
    if isinstance(schema, dict):
        return schema
    return {} if schema is True else {"not": {}}


def _rewrite_refs(node: Any) -> Any:
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str) and value.startswith("#/components/schemas/"):
                out[key] = "#/$defs/" + value[len("#/components/schemas/"):]
            else:
                out[key] = _rewrite_refs(value)
        return out
    if isinstance(node, list):
        return [_rewrite_refs(item) for item in node]
    return node


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
        if not str(key).isdigit():
            continue
        response = _resolve_object(document, responses[key])
        media = response.get("content", {}).get(JSON_MEDIA_TYPE, {})
        result[int(key)] = standalone(document, media.get("schema", {}))
    return result

