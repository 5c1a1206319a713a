"""One rule set's fragments flattened into a single schema, for the "is it valid?" fast path.

A rule set is compiled as `allOf: [fragment, …]` so that each error can be traced back to
its rule. Most bodies and responses break nothing, and for them only a yes is needed:
`flatten` merges the fragments into one schema object (one `properties` walk instead of
one per rule, conditionals with the same `if` evaluated once, `if: {type: T}` dropped when
the node already requires type T), and `fast_formats` replaces `format: email` with a
pattern jsonschema-rs checks without calling back into Python.

The flattened schema is only ever trusted for a yes: every step below keeps or narrows
what it accepts (merges are exact conjunctions; the email pattern accepts a subset of
what the Python predicate accepts). A no falls back to the traced validator, which gives
the verdict and the errors.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from migma_contract.document.lint import recursive_targets
from migma_contract.document.model import _escape

__all__ = ["fast_formats", "flatten", "inline_refs", "mentions_format"]

# Keywords whose meaning does not depend on their siblings: a schema object holding only
# these is the conjunction of its keywords, so two such objects merge into one. Anything
# else (additionalProperties, items, unevaluated*, $id, $defs, …) keeps its object whole.
_INDEPENDENT = frozenset({
    "type", "enum", "const", "pattern", "format", "minLength", "maxLength", "minimum", "maximum",
    "exclusiveMinimum", "exclusiveMaximum", "multipleOf", "minItems", "maxItems", "uniqueItems",
    "minProperties", "maxProperties", "required", "properties", "not", "anyOf", "oneOf", "allOf",
    "$ref", "if", "then", "else", "propertyNames",
})
_ANNOTATIONS = frozenset({"description", "title", "default", "examples", "deprecated", "readOnly", "writeOnly", "$comment"})
_BRANCH = ("if", "then", "else")


def _same(a: Any, b: Any) -> bool:
    """JSON equality (Python's == says 1 == True == 1.0; JSON Schema does not)."""
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def flatten(schemas: list[Any]) -> Any:
    """One schema accepting exactly what every schema of `schemas` accepts."""
    node: dict[str, Any] = {}
    rest: list[Any] = []
    properties: dict[str, list[Any]] = {}
    branches: list[tuple[Any, list[Any], list[Any]]] = []  # (if, thens, elses), one per distinct `if`
    queue = list(schemas)
    while queue:
        schema = queue.pop(0)
        if schema is True or schema == {}:
            continue
        if not isinstance(schema, dict) or not set(schema) <= _INDEPENDENT | _ANNOTATIONS:
            rest.append(schema)
            continue
        leftover: dict[str, Any] = {}
        for key, value in schema.items():
            if key in _ANNOTATIONS or key in _BRANCH:
                continue
            if key == "allOf":
                queue.extend(value)
            elif key == "properties":
                for name, sub in value.items():
                    properties.setdefault(name, []).append(sub)
            elif key == "required":
                node["required"] = list(dict.fromkeys([*node.get("required", []), *value]))
            elif key not in node:
                node[key] = value
            elif not _same(node[key], value):
                leftover[key] = value
        if "if" in schema:  # `then`/`else` without `if` assert nothing
            for condition, thens, elses in branches:
                if _same(condition, schema["if"]):
                    thens.append(schema.get("then", True))
                    elses.append(schema.get("else", True))
                    break
            else:
                branches.append((schema["if"], [schema.get("then", True)], [schema.get("else", True)]))
        if leftover:
            rest.append(leftover)
    if properties:
        node["properties"] = {name: flatten(subs) for name, subs in properties.items()}
    implied: list[Any] = []
    for condition, then, otherwise in _discriminated([(c, flatten(t), flatten(e)) for c, t, e in branches], node):
        if otherwise == {} and isinstance(node.get("type"), str) and _same(condition, {"type": node["type"]}):
            implied.append(then)  # the node already requires that type: the `if` always holds
        else:
            branch = {"if": condition, **({"then": then} if then != {} else {}), **({"else": otherwise} if otherwise != {} else {})}
            if "if" not in node:
                node.update(branch)
            else:
                rest.append(branch)
    if rest:
        node["allOf"] = rest
    return flatten([node, *implied]) if implied else node


def _discriminator(condition: Any, node: dict[str, Any]) -> tuple[str, list[str]] | None:
    """(X, values) when `condition`, among instances `node` accepts, says only "property X is one of values".

    `node` is already type object, requires X and lists X's string values in an `enum`; an
    instance it refuses is refused whatever the condition says, so only its own matter.
    """
    if not isinstance(condition, dict) or node.get("type") != "object":
        return None
    rest = {k: v for k, v in condition.items() if k not in _ANNOTATIONS}
    if rest.get("type") == "object":
        del rest["type"]
    properties = rest.pop("properties", None)
    if not isinstance(properties, dict) or len(properties) != 1:
        return None
    ((name, sub),) = properties.items()
    if rest.pop("required", [name]) != [name] or rest or name not in node.get("required", ()):
        return None
    known = node.get("properties", {}).get(name, {}).get("enum")
    values = sub.get("enum", [sub.get("const")] if "const" in sub else None) if isinstance(sub, dict) and set(sub) <= {"enum", "const"} else None
    if not isinstance(known, list) or not isinstance(values, list) or len(sub) != 1:
        return None
    if not all(isinstance(v, str) for v in (*known, *values)) or not set(values) <= set(known):
        return None
    return name, values


def _discriminated(branches: list[tuple[Any, Any, Any]], node: dict[str, Any]) -> list[tuple[Any, Any, Any]]:
    """Branches on one required property's values, simplified; two that split its values become one if/else.

    `if X in A then P` and `if X in B then Q`, where A and B split every value X may take,
    is `if X in A then P else Q`: one condition evaluated instead of two (the recipient
    variants of the send request are such a pair).
    """
    out: list[tuple[Any, Any, Any]] = []
    pending: dict[str, tuple[int, list[str]]] = {}  # property -> (index in out, its values) of a branch without `else`
    for condition, then, otherwise in branches:
        found = _discriminator(condition, node)
        if found is None:
            out.append((condition, then, otherwise))
            continue
        name, values = found
        known = node["properties"][name]["enum"]
        earlier = pending.pop(name, None) if otherwise == {} else None
        if earlier is not None and set(earlier[1]).isdisjoint(values) and set(earlier[1]) | set(values) == set(known):
            index, _ = earlier
            out[index] = (out[index][0], out[index][1], then)
            continue
        test = {"const": values[0]} if len(values) == 1 else {"enum": values}
        if otherwise == {}:
            pending[name] = (len(out), values)
        out.append(({"properties": {name: test}}, then, otherwise))
    return out


_SCHEMA_MAPS = ("properties", "patternProperties", "$defs", "dependentSchemas")
_SCHEMA_LISTS = ("allOf", "anyOf", "oneOf", "prefixItems")
_SCHEMAS = ("not", "if", "then", "else", "items", "contains", "additionalProperties", "propertyNames",
            "unevaluatedProperties", "unevaluatedItems")


def _map_subschemas(node: dict[str, Any], change: Callable[[Any], Any]) -> dict[str, Any]:
    """A copy of `node` with `change` applied to each of its direct subschemas (not to data such as `enum`)."""
    node = dict(node)
    for key in _SCHEMA_MAPS:
        if isinstance(node.get(key), dict):
            node[key] = {name: change(sub) for name, sub in node[key].items()}
    for key in _SCHEMA_LISTS:
        if isinstance(node.get(key), list):
            node[key] = [change(sub) for sub in node[key]]
    for key in _SCHEMAS:
        if key in node:
            node[key] = change(node[key])
    return node


def fast_formats(schema: Any, replacements: dict[str, dict[str, Any]]) -> Any:
    """`schema` with each `format: <name>` of `replacements` swapped for that (narrower) schema."""
    if not isinstance(schema, dict):
        return schema
    node = _map_subschemas(schema, lambda sub: fast_formats(sub, replacements))
    replacement = replacements.get(node["format"]) if isinstance(node.get("format"), str) else None
    if replacement is not None:
        del node["format"]
        if set(replacement).isdisjoint(node):
            node.update(replacement)
        else:
            node["allOf"] = [*node.get("allOf", []), replacement]
    return node


_LOCAL_REF = re.compile(r"#/\$defs/([A-Za-z0-9_.-]+)")
_SCOPE_KEYWORDS = frozenset({"$id", "$anchor", "$dynamicAnchor", "$dynamicRef", "$recursiveRef", "$recursiveAnchor"})


def inline_refs(schema: Any, defs: dict[str, Any]) -> Any:
    """`schema` with each `$ref` to one of `defs` replaced by the definition itself.

    In 2020-12 a `$ref` beside other keywords is the conjunction of the two, so the copy is
    `allOf: [definition, the rest]`, which `flatten` then merges. Recursive definitions (those
    that reach themselves through other `$ref`s) and those that change the resolution scope keep
    their `$ref`. Each definition is inlined once and shared wherever it is named, so the work is
    the document's size with its refs expanded (bounded when it is loaded), never one copy per path
    through a tangle of definitions naming each other (9 of them: 9! paths).
    """
    recursive = _recursive(defs)
    done: dict[str, Any] = {}

    def inline(node: Any) -> Any:
        if not isinstance(node, dict):
            return node
        ref = node.get("$ref")
        found = _LOCAL_REF.fullmatch(ref) if isinstance(ref, str) else None
        name = found[1] if found else None
        if name is not None and name in defs and name not in recursive and not _mentions_any(defs[name], _SCOPE_KEYWORDS):
            if name not in done:
                done[name] = inline(defs[name])
            rest = {k: v for k, v in node.items() if k != "$ref"}
            return {"allOf": [done[name], inline(rest)]} if rest else done[name]
        return _map_subschemas(node, inline)

    return inline(schema)


def _recursive(defs: dict[str, Any]) -> set[str]:
    """The names of `defs` that reach themselves through `$ref`s (any `$ref` counts, data too: more kept, never fewer)."""
    refs: list[tuple[str, str]] = []
    for name, definition in defs.items():
        stack = [definition]
        while stack:
            node = stack.pop()
            if isinstance(node, dict):
                found = _LOCAL_REF.fullmatch(node["$ref"]) if isinstance(node.get("$ref"), str) else None
                if found and found[1] in defs:
                    refs.append((f"/{_escape(name)}/$ref", f"/{_escape(found[1])}"))
                stack.extend(node.values())
            elif isinstance(node, list):
                stack.extend(node)
    return {_unescape(target[1:]) for target in recursive_targets(refs)}


def _unescape(token: str) -> str:
    return token.replace("~1", "/").replace("~0", "~")


def _mentions_any(node: Any, keys: frozenset[str]) -> bool:
    if isinstance(node, dict):
        return not keys.isdisjoint(node) or any(_mentions_any(v, keys) for v in node.values())
    if isinstance(node, list):
        return any(_mentions_any(v, keys) for v in node)
    return False


def mentions_format(node: Any, names: Any) -> bool:
    """Whether any object anywhere in `node` (data included: an over-approximation) says `format: <one of names>`."""
    if isinstance(node, dict):
        return node.get("format") in names or any(mentions_format(v, names) for v in node.values())
    if isinstance(node, list):
        return any(mentions_format(v, names) for v in node)
    return False
