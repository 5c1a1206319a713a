"""Two JSON Schemas compared by meaning: which valid values each difference removes or adds.

`compare_schemas` follows `$ref`s, merges `allOf`s, and walks types, enums, formats,
required properties, properties, items, conditions and bounds, saying of each difference
whether it *tightens* (fewer valid values), *loosens* (more) or *changes* (both, or cannot
tell) the schema. It knows nothing of requests, responses or rules: `_diff` says whom each
difference breaks. Recursive and self-referencing schemas are walked once per cycle, and the
whole walk is bounded, because the documents compared are untrusted.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

__all__ = ["Kind", "Resolver", "SchemaChange", "canonical", "compare_schemas", "direction", "plain", "pointer_segment", "printable"]


class Kind(StrEnum):
    ADDED = "added"
    REMOVED = "removed"
    TIGHTENED = "tightened"
    LOOSENED = "loosened"
    CHANGED = "changed"  # tightened and loosened at once, or a direction that cannot be told
    UNCHANGED = "unchanged"
    NOT_COMPARED = "not compared"  # the form reads nothing from the document


_ANNOTATIONS = frozenset({
    "title", "examples", "example", "$schema", "$defs", "definitions", "deprecated", "readOnly", "writeOnly",
    "$comment", "$id", "$anchor", "nullable", "xml", "externalDocs", "discriminator", "contentMediaType",
})
_LOWER_BOUNDS = ("minimum", "exclusiveMinimum", "minLength", "minItems", "minProperties", "minContains")
_UPPER_BOUNDS = ("maximum", "exclusiveMaximum", "maxLength", "maxItems", "maxProperties", "maxContains")
_HANDLED = frozenset({
    "type", "enum", "const", "format", "required", "properties", "items", "additionalProperties",
    "if", "then", "else", "default", "description", *_LOWER_BOUNDS, *_UPPER_BOUNDS,
})
_MAX_DEPTH = 16
_MAX_STEPS = 20_000  # schemas expanded per comparison: a hostile document's self-references stay cheap
_MAX_DIGEST_STEPS = 200_000  # nodes hashed per document to tell two schemas equal (past it: not told equal)


@dataclass(frozen=True)
class SchemaChange:
    """A difference found by `_compare`, not yet classified."""

    pointer: str
    aspect: str
    kind: Kind
    old: Any
    new: Any
    constrains: bool = True  # for a property added/removed: whether its schema says anything


def printable(text: str) -> str:
    """Control and format characters (newlines, escapes, bidi overrides) made visible."""
    return "".join(
        ch if unicodedata.category(ch) not in ("Cc", "Cf", "Zl", "Zp") else f"\\u{ord(ch):04x}" for ch in str(text)
    )


def pointer_segment(name: str) -> str:
    return printable(str(name).replace("~", "~0").replace("/", "~1"))


def plain(value: Any) -> Any:
    """A JSON value with every string (and key) made printable: documents are untrusted."""
    if isinstance(value, str):
        return printable(value)
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {printable(str(k)): plain(v) for k, v in value.items()}
    return value


def canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)


class Resolver:
    """Follows `$ref`s and merges `allOf`s of a standalone schema, so two schemas compare by meaning."""

    def __init__(self, root: dict[str, Any]) -> None:
        self.defs = root.get("$defs", {}) if isinstance(root, dict) else {}
        self.steps = 0
        self._digests: dict[str, str] = {}  # a definition's digest, when it does not depend on where it was reached
        self._digest_steps = 0

    def _target(self, ref: str) -> Any:
        return self.defs.get(ref.rsplit("/", 1)[-1]) if ref.startswith(("#/$defs/", "#/components/schemas/")) else None

    def digest(self, schema: Any) -> str | None:
        """A text two schemas share only when they are equal with every `$ref` they reach resolved, however deep.

        Two schemas whose own text is equal may differ two `$ref`s away (a request property's `$ref`
        to a definition whose own `$ref` changed): comparing texts alone said "no change". Each
        definition is hashed once (a DAG of shared references costs its size, not its paths); a
        reference back into the definitions being hashed (a cycle) is hashed by its name. None when
        the document is too large to tell (never equal, then: the walk compares it part by part).
        """
        try:
            return self._digest(schema, ())[0]
        except _TooLarge:
            return None

    def _digest(self, node: Any, stack: tuple[str, ...]) -> tuple[str, frozenset[str]]:
        """`node`'s digest, and the references on `stack` it reached (a digest that reached none is memoised)."""
        self._digest_steps += 1
        if self._digest_steps > _MAX_DIGEST_STEPS:
            raise _TooLarge
        if isinstance(node, list):
            parts = [self._digest(item, stack) for item in node]
            return _hash("[", [text for text, _ in parts]), frozenset().union(*(cut for _, cut in parts))
        if not isinstance(node, dict):
            return canonical(node), frozenset()
        cut: frozenset[str] = frozenset()
        texts = []
        for key in sorted(node, key=str):
            value = node[key]
            if key == "$ref" and isinstance(value, str) and isinstance(self._target(value), dict):
                if value in stack:
                    text, reached = f"<cycle {value}>", frozenset({value})
                elif value in self._digests:
                    text, reached = self._digests[value], frozenset()
                else:
                    text, reached = self._digest(self._target(value), (*stack, value))
                    reached -= {value}
                    if not reached:
                        self._digests[value] = text
                text = "$ref=" + text
            else:
                text, reached = self._digest(value, stack)
            texts.append(f"{canonical(str(key))}:{text}")
            cut |= reached
        return _hash("{", texts), cut

    @property
    def exhausted(self) -> bool:
        return self.steps > _MAX_STEPS

    def norm(self, schema: Any, depth: int = 0, expanding: frozenset[str] = frozenset()) -> dict[str, Any]:
        """The schema with its `$ref` followed and its `allOf` merged in (`expanding`: refs being merged)."""
        if schema is True or not isinstance(schema, dict):
            return {"not": {}} if schema is False else {}
        node: dict[str, Any] = schema
        self.steps += 1
        if self.exhausted:
            return node
        for _ in range(32):
            ref = node.get("$ref")
            if not isinstance(ref, str) or depth > _MAX_DEPTH:
                break
            if ref in expanding:  # A ∧ A = A: a cycle through allOf adds nothing
                return {}
            target = self._target(ref)
            if not isinstance(target, dict):
                break
            expanding |= {ref}
            node = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
        members = node.get("allOf")
        if not isinstance(members, list) or depth > _MAX_DEPTH:
            return node
        merged = {k: v for k, v in node.items() if k != "allOf"}
        for member in members:
            merged = _merge(merged, self.norm(member, depth + 1, expanding))
        return merged


class _TooLarge(Exception):
    pass


def _hash(kind: str, parts: list[str]) -> str:
    import hashlib

    return kind + hashlib.sha256("\x00".join(parts).encode("utf-8", errors="surrogatepass")).hexdigest()[:32]


def _merge(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """The conjunction of two schemas, as far as comparing them needs (first one wins on the rest)."""
    out = dict(a)
    for key, value in b.items():
        if key not in out:
            out[key] = value
        elif key == "properties" and isinstance(value, dict) and isinstance(out[key], dict):
            props = dict(out[key])
            for name, sub in value.items():
                props[name] = {"allOf": [props[name], sub]} if name in props else sub
            out[key] = props
        elif key == "required" and isinstance(value, list) and isinstance(out[key], list):
            out[key] = [*out[key], *(n for n in value if n not in out[key])]
        elif key == "type":
            left, right = _types({"type": out[key]}), _types({"type": value})
            both = sorted((left or frozenset()) & (right or frozenset()))
            out[key] = both[0] if len(both) == 1 else both
        elif key == "enum" and isinstance(value, list) and isinstance(out[key], list):
            keep = {canonical(v) for v in value}
            out[key] = [v for v in out[key] if canonical(v) in keep]
    return out


def _types(schema: dict[str, Any]) -> frozenset[str] | None:
    declared = schema.get("type")
    if declared is None:
        return None
    return frozenset(str(t) for t in (declared if isinstance(declared, list) else [declared]))


def _covers(wide: frozenset[str] | None, narrow: frozenset[str] | None) -> bool:
    """Every value of type set `narrow` is allowed by `wide` (None: any type)."""
    if wide is None:
        return True
    if narrow is None:
        return False
    return all(t in wide or (t == "integer" and "number" in wide) for t in narrow)


def _values(schema: dict[str, Any]) -> dict[str, Any] | None:
    """The allowed values (`enum` and `const`), keyed canonically; None when any value goes."""
    allowed: dict[str, Any] | None = None
    if isinstance(schema.get("enum"), list):
        allowed = {canonical(v): v for v in schema["enum"]}
    if "const" in schema:
        const = {canonical(schema["const"]): schema["const"]}
        allowed = const if allowed is None else {k: v for k, v in allowed.items() if k in const}
    return allowed


def _constrains(schema: dict[str, Any]) -> bool:
    return any(key not in _ANNOTATIONS and key not in ("description", "default") and not key.startswith("x-") for key in schema)


def direction(old_covers_new: bool, new_covers_old: bool) -> Kind:
    if old_covers_new and not new_covers_old:
        return Kind.TIGHTENED
    if new_covers_old and not old_covers_new:
        return Kind.LOOSENED
    return Kind.CHANGED


def compare_schemas(old: Any, new: Any, pointer: str = "", *, old_root: Any = None, new_root: Any = None,
                    depth: int = 0) -> list[SchemaChange]:
    """Differences between two schemas; each says whether the set of valid values shrank or grew."""
    left, right = Resolver(old_root if old_root is not None else old), Resolver(new_root if new_root is not None else new)
    return list(_walk(left, right, old, new, pointer, depth, set()))


def _ref(schema: Any) -> str | None:
    return schema.get("$ref") if isinstance(schema, dict) and isinstance(schema.get("$ref"), str) else None


def _walk(left: Resolver, right: Resolver, old: Any, new: Any, pointer: str, depth: int,
          compared: set[tuple[str, str]]) -> Iterator[SchemaChange]:
    if _ref(old) is not None or _ref(new) is not None:
        pair = (canonical(old), canonical(new))
        if pair in compared:  # a recursive or shared schema: its differences were reported where it was first reached
            return
        compared.add(pair)
    o, n = left.norm(old, depth), right.norm(new, depth)
    if canonical(o) == canonical(n) and left.digest(o) == right.digest(n) is not None:  # equal however deep
        return
    if depth > _MAX_DEPTH or left.exhausted or right.exhausted:
        yield SchemaChange(pointer, "schema", Kind.CHANGED, "too deep or too large to compare", None)
        return

    def deeper(a: Any, b: Any, at: str) -> Iterator[SchemaChange]:
        return _walk(left, right, a, b, at, depth + 1, compared)

    yield from _type_changes(o, n, pointer)
    yield from _value_changes(o, n, pointer)
    yield from _required_changes(o, n, pointer)
    yield from _property_changes(left, right, o, n, pointer, depth, deeper)
    if "items" in o or "items" in n:
        yield from deeper(o.get("items", {}), n.get("items", {}), f"{pointer}/[]")
    closed_old, closed_new = o.get("additionalProperties") is False, n.get("additionalProperties") is False
    if closed_old != closed_new:
        yield SchemaChange(pointer, "additionalProperties", Kind.TIGHTENED if closed_new else Kind.LOOSENED, not closed_old, not closed_new)
    if canonical(o.get("if")) == canonical(n.get("if")):
        for branch in ("then", "else"):
            if branch in o or branch in n:
                yield from deeper(o.get(branch, {}), n.get(branch, {}), pointer)
    else:
        yield SchemaChange(pointer, "condition", Kind.CHANGED, o.get("if"), n.get("if"))
    yield from _bound_changes(o, n, pointer)
    yield from _other_changes(o, n, pointer)


def _type_changes(o: dict[str, Any], n: dict[str, Any], pointer: str) -> Iterator[SchemaChange]:
    ot, nt = _types(o), _types(n)
    if ot != nt:
        yield SchemaChange(pointer, "type", direction(_covers(ot, nt), _covers(nt, ot)),
                           sorted(ot) if ot is not None else None, sorted(nt) if nt is not None else None)


def _value_changes(o: dict[str, Any], n: dict[str, Any], pointer: str) -> Iterator[SchemaChange]:
    """The allowed values (enum, const) and the format."""
    ov, nv = _values(o), _values(n)
    if ov is None and nv is not None:
        yield SchemaChange(pointer, "enum", Kind.TIGHTENED, None, list(nv.values()))
    elif nv is None and ov is not None:
        yield SchemaChange(pointer, "enum", Kind.LOOSENED, list(ov.values()), None)
    elif ov is not None and nv is not None:
        gone = [v for k, v in ov.items() if k not in nv]
        came = [v for k, v in nv.items() if k not in ov]
        if gone:
            yield SchemaChange(pointer, "enum value", Kind.TIGHTENED, gone, None)
        if came:
            yield SchemaChange(pointer, "enum value", Kind.LOOSENED, None, came)
    if o.get("format") != n.get("format"):
        kind = Kind.TIGHTENED if "format" not in o else Kind.LOOSENED if "format" not in n else Kind.CHANGED
        yield SchemaChange(pointer, "format", kind, o.get("format"), n.get("format"))


def _names(schema: dict[str, Any], key: str) -> list[str]:
    value = schema.get(key)
    return [r for r in value if isinstance(r, str)] if isinstance(value, list) else []


def _required_changes(o: dict[str, Any], n: dict[str, Any], pointer: str) -> Iterator[SchemaChange]:
    old_required, new_required = _names(o, "required"), _names(n, "required")
    for name in new_required:
        if name not in old_required:
            yield SchemaChange(f"{pointer}/{pointer_segment(name)}", "required", Kind.TIGHTENED, False, True)
    for name in old_required:
        if name not in new_required:
            yield SchemaChange(f"{pointer}/{pointer_segment(name)}", "required", Kind.LOOSENED, True, False)


def _property_changes(left: Resolver, right: Resolver, o: dict[str, Any], n: dict[str, Any], pointer: str, depth: int,
                      deeper: Callable[[Any, Any, str], Iterator[SchemaChange]]) -> Iterator[SchemaChange]:
    old_props: dict[str, Any] = o["properties"] if isinstance(o.get("properties"), dict) else {}
    new_props: dict[str, Any] = n["properties"] if isinstance(n.get("properties"), dict) else {}
    for name in [*old_props, *(p for p in new_props if p not in old_props)]:
        child = f"{pointer}/{pointer_segment(name)}"
        if name not in new_props:
            schema = left.norm(old_props[name], depth + 1)
            yield SchemaChange(child, "property", Kind.REMOVED, _summary(schema), None, constrains=_constrains(schema))
        elif name not in old_props:
            schema = right.norm(new_props[name], depth + 1)
            yield SchemaChange(child, "property", Kind.ADDED, None, _summary(schema), constrains=_constrains(schema))
        else:
            yield from deeper(old_props[name], new_props[name], child)


def _bound_changes(o: dict[str, Any], n: dict[str, Any], pointer: str) -> Iterator[SchemaChange]:
    for bounds, lower in ((_LOWER_BOUNDS, True), (_UPPER_BOUNDS, False)):
        for key in bounds:
            a, b = o.get(key), n.get(key)
            if a == b:
                continue
            if a is None or b is None:
                kind = Kind.TIGHTENED if a is None else Kind.LOOSENED
            elif isinstance(a, int | float) and isinstance(b, int | float):
                kind = Kind.TIGHTENED if (b > a if lower else b < a) else Kind.LOOSENED
            else:
                kind = Kind.CHANGED
            yield SchemaChange(pointer, key, kind, a, b)


def _other_changes(o: dict[str, Any], n: dict[str, Any], pointer: str) -> Iterator[SchemaChange]:
    """The default, the description, and any keyword not compared above (its change is a change, not a direction)."""
    if canonical(o.get("default")) != canonical(n.get("default")):
        yield SchemaChange(pointer, "default", Kind.CHANGED, o.get("default"), n.get("default"))
    if o.get("description") != n.get("description"):
        yield SchemaChange(pointer, "description", Kind.CHANGED, o.get("description"), n.get("description"))
    for key in sorted((set(o) | set(n)) - _HANDLED - _ANNOTATIONS - {"$ref", "allOf"}):
        if not key.startswith("x-") and canonical(o.get(key)) != canonical(n.get(key)):
            yield SchemaChange(pointer, key, Kind.CHANGED, o.get(key), n.get(key))


def _summary(schema: dict[str, Any]) -> dict[str, Any]:
    """What a property added or removed was (its type, values, format, default)."""
    keep: dict[str, Any] = {k: schema[k] for k in ("type", "enum", "const", "format", "default") if k in schema}
    if isinstance(schema.get("properties"), dict):
        keep["properties"] = sorted(schema["properties"])
    return keep
