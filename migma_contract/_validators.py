"""The catalogue bound to one document, its validators compiled once, and the public validators.

`Contract(spec)` is what every other part of the toolkit holds: it answers "which rules
does this body break?" and "which rules does this response break?", and builds the
enriched request schema the generators use. Validators are compiled once per level and
reused (jsonschema-rs: ~1 µs per valid body, against ~180 µs for the pure-Python
`jsonschema` and ~1 ms for a full openapi-core response validation, measured here).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import jsonschema_rs

from ._catalogue import BODY_JSON_OBJECT, OPEN_POINTS, RULES, rules_for
from ._email import is_email_address
from ._rules import (
    LONE_SURROGATE,
    IsJsonObject,
    Level,
    OpenPoint,
    RawBody,
    Refused,
    RequestForm,
    ResponseFacts,
    ResponsePredicate,
    ResponseSchema,
    Rule,
    Subject,
)
from ._spec import Spec, load_spec

__all__ = ["Contract", "ResponseVerdict", "Violation", "contract_for", "validate_request", "validate_response"]

_DIALECT = "https://json-schema.org/draft/2020-12/schema"
_ORDER = {rule.id: index for index, rule in enumerate(RULES)}  # violations are listed in catalogue order


@dataclass(frozen=True)
class Violation:
    """One rule broken by a request body or a response."""

    rule_id: str
    level: str
    pointer: str
    message: str

    def __str__(self) -> str:
        return f"[{self.rule_id}] {self.message}"

    def as_dict(self) -> dict[str, str]:
        return {"rule": self.rule_id, "level": self.level, "pointer": self.pointer, "message": self.message}


@dataclass(frozen=True)
class ResponseVerdict:
    """The response rules a response was judged by, and those it broke."""

    applied: tuple[str, ...]
    violations: tuple[Violation, ...]


def _compile(schema: dict[str, Any]) -> jsonschema_rs.Draft202012Validator:
    return jsonschema_rs.Draft202012Validator(schema, validate_formats=True, formats={"email": is_email_address})


def _pointer(path: list[Any]) -> str:
    return "".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in path)


def _strip(fragment: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in fragment.items() if k not in ("$defs", "$schema")}


class _RuleSet:
    """Several rules' fragments compiled into one validator; errors traced back to rules."""

    def __init__(self, rules: list[Rule], fragments: list[dict[str, Any]], defs: dict[str, Any]) -> None:
        self.rules = rules
        schema: dict[str, Any] = {"$schema": _DIALECT, "allOf": [_strip(f) for f in fragments]}
        if defs:
            schema["$defs"] = defs
        self.validator = _compile(schema)

    def violations(self, instance: Any) -> list[tuple[Rule, str, str]]:
        if self.validator.is_valid(instance):
            return []
        found: dict[tuple[str, str], tuple[Rule, str, str]] = {}
        for error in self.validator.iter_errors(instance):
            rule = self.rules[int(error.evaluation_path[1])]
            path = list(error.instance_path)
            kind = error.kind.as_dict() if hasattr(error.kind, "as_dict") else {}
            if "property" in kind and error.evaluation_path[-1] == "required":
                path.append(kind["property"])
            pointer = _pointer(path)
            found.setdefault((rule.id, pointer), (rule, pointer, error.message))
        return list(found.values())


class RequestValidator:
    """Which request rules (of one level) a body breaks."""

    def __init__(self, spec: Spec, rules: tuple[Rule, ...]) -> None:
        self.rules = [r for r in rules if r.subject is Subject.REQUEST]
        forms = [r.form for r in self.rules]
        assert all(isinstance(f, RequestForm) for f in forms)
        self._set = _RuleSet(self.rules, [f.fragment(spec) for f in forms], {})  # type: ignore[union-attr]

    def violations(self, body: Any) -> list[Violation]:
        shape = BODY_JSON_OBJECT
        assert isinstance(shape.form, IsJsonObject)
        try:
            if isinstance(body, RawBody):
                body = shape.form.parse(body.content)
            found = self._set.violations(body)
        except Refused as refused:
            return [Violation(shape.id, shape.level.value, "", refused.message)]
        except UnicodeEncodeError:  # a lone surrogate reached a keyword that reads the string
            return [Violation(shape.id, shape.level.value, "", LONE_SURROGATE)]
        violations = []
        for rule, pointer, detail in found:
            form = rule.form
            assert isinstance(form, RequestForm)
            violations.append(Violation(rule.id, rule.level.value, form.locate(pointer), form.message(pointer, detail)))
        return violations


class ResponseValidator:
    """Which response rules (of one level) a response breaks, per status."""

    def __init__(self, spec: Spec, rules: tuple[Rule, ...]) -> None:
        self.spec = spec
        self.rules = [r for r in rules if r.subject is Subject.RESPONSE]
        self._by_status: dict[int, tuple[_RuleSet | None, list[Rule]]] = {}

    def _for_status(self, status: int) -> tuple[_RuleSet | None, list[Rule]]:
        cached = self._by_status.get(status)
        if cached is None:
            schema_rules = [r for r in self.rules if isinstance(r.form, ResponseSchema) and r.form.applies(self.spec, status)]
            predicates = [r for r in self.rules if isinstance(r.form, ResponsePredicate) and r.form.applies(self.spec, status)]
            rule_set = None
            if schema_rules:
                fragments = [r.form.fragment(self.spec, status) for r in schema_rules]  # type: ignore[union-attr]
                defs: dict[str, Any] = {}
                for fragment in fragments:
                    defs.update(fragment.get("$defs", {}))
                rule_set = _RuleSet(schema_rules, fragments, defs)
            cached = (rule_set, predicates)
            self._by_status[status] = cached
        return cached

    def evaluate(
        self,
        status: int,
        headers: Mapping[str, str],
        body: Any,
        request: Any = None,
        *,
        elapsed: float | None = None,
        timeout: float | None = None,
        truncated_at: int | None = None,
    ) -> ResponseVerdict:
        facts = response_facts(status, headers, body, request, elapsed, timeout)
        if truncated_at is not None:
            facts.parsed, facts.body = False, None
            facts.parse_error = f"the body is over the {truncated_at}-byte cap; not read in full"
        rule_set, predicates = self._for_status(status)
        applied: list[str] = []
        broken: dict[str, list[Violation]] = {}
        for rule in predicates:
            form = rule.form
            assert isinstance(form, ResponsePredicate)
            if (form.needs_body and not facts.parsed) or (form.needs_timing and elapsed is None):
                continue
            applied.append(rule.id)
            message = form.check(self.spec, facts)
            if message:
                broken.setdefault(rule.id, []).append(Violation(rule.id, rule.level.value, "", message))
        if rule_set is not None and facts.parsed:
            applied.extend(r.id for r in rule_set.rules)
            for rule, pointer, detail in rule_set.violations(facts.body):
                broken.setdefault(rule.id, []).append(Violation(rule.id, rule.level.value, pointer, f"{pointer or '/'}: {detail}"))
        violations = tuple(v for rule_id in sorted(broken, key=_ORDER.__getitem__) for v in broken[rule_id])
        return ResponseVerdict(tuple(sorted(applied, key=_ORDER.__getitem__)), violations)


def response_facts(
    status: int, headers: Mapping[str, str], body: Any, request: Any, elapsed: float | None, timeout: float | None
) -> ResponseFacts:
    """One response as the response rules see it (the body parsed when it is JSON)."""
    lowered = {str(k).lower(): str(v) for k, v in headers.items()}
    content_type = lowered.get("content-type")
    media_type = content_type.split(";", 1)[0].strip().lower() if content_type else None
    parsed, parse_error = True, None
    if isinstance(body, (bytes, bytearray, str)):
        try:
            text = body.decode("utf-8") if isinstance(body, (bytes, bytearray)) else body
            body = json.loads(text)
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:
            parsed, parse_error = False, f"{type(exc).__name__}: {str(exc)[:120]}"
            body = None
    if isinstance(request, RawBody):
        request = None
    return ResponseFacts(status, lowered, media_type, body, parsed, parse_error, request, elapsed, timeout)


class Contract:
    """The rule catalogue applied to one OpenAPI document."""

    def __init__(self, spec: Spec) -> None:
        self.spec = spec
        self._request: dict[Level, RequestValidator] = {}
        self._response: dict[Level, ResponseValidator] = {}

    def request_validator(self, level: Level | str = Level.DOCUMENTED) -> RequestValidator:
        key = Level.parse(level)
        if key not in self._request:
            self._request[key] = RequestValidator(self.spec, rules_for(key))
        return self._request[key]

    def response_validator(self, level: Level | str = Level.DOCUMENTED) -> ResponseValidator:
        key = Level.parse(level)
        if key not in self._response:
            self._response[key] = ResponseValidator(self.spec, rules_for(key))
        return self._response[key]

    def enriched_request_schema(self, level: Level | str = Level.DOCUMENTED) -> dict[str, Any]:
        """The repaired request schema plus every request rule of `level`, as one schema."""
        base = self.spec.request_schema
        fragments = [r.form.fragment(self.spec) for r in rules_for(level) if isinstance(r.form, RequestForm)]
        return {**copy.deepcopy(base), "allOf": [*base.get("allOf", []), *fragments]}

    def enriched_document(self, level: Level | str = Level.DOCUMENTED) -> dict[str, Any]:
        """The repaired document whose request body schema is the enriched one."""
        document = copy.deepcopy(self.spec.document)
        operation = document["paths"]["/v1/sending"]["post"]
        enriched = self.enriched_request_schema(level)
        enriched.pop("$schema", None)
        defs = enriched.pop("$defs", {})
        document.setdefault("components", {}).setdefault("schemas", {}).update(
            {k: v for k, v in defs.items() if k not in document["components"]["schemas"]}
        )
        operation["requestBody"] = {"required": True, "content": {"application/json": {"schema": _defs_to_components(enriched)}}}
        return document

    @cached_property
    def open_point_validators(self) -> list[tuple[OpenPoint, jsonschema_rs.Draft202012Validator]]:
        return [(point, _compile(point.when)) for point in OPEN_POINTS]


def _defs_to_components(node: Any) -> Any:
    if isinstance(node, dict):
        return {
            k: ("#/components/schemas/" + v[len("#/$defs/"):] if k == "$ref" and isinstance(v, str) and v.startswith("#/$defs/") else _defs_to_components(v))
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [_defs_to_components(v) for v in node]
    return node


_CONTRACTS: dict[str, Contract] = {}


def contract_for(spec: Spec | None = None) -> Contract:
    """The contract of `spec` (the bundled document by default), built once per document."""
    spec = spec or load_spec()
    key = f"{spec.source}|{spec.fingerprint}"
    if key not in _CONTRACTS:
        _CONTRACTS[key] = Contract(spec)
    return _CONTRACTS[key]


def validate_request(body: Any, level: Level | str = Level.DOCUMENTED, *, spec: Spec | None = None) -> list[Violation]:
    """Every request rule of `level` that `body` breaks (empty when a server must accept it).

    `body` is the parsed JSON value you are about to send (a dict for a well-formed
    request). Each violation names the rule id, a JSON pointer and what is wrong.
    """
    return contract_for(spec).request_validator(level).violations(body)


def validate_response(
    status: int,
    headers: Mapping[str, str],
    body: Any,
    request: Any = None,
    level: Level | str = Level.DOCUMENTED,
    *,
    elapsed: float | None = None,
    timeout: float | None = None,
    spec: Spec | None = None,
) -> list[Violation]:
    """Every response rule of `level` that this response breaks.

    `body` is either the raw body (`bytes` or `str`, parsed here, so a non-JSON body is
    reported) or the already-parsed JSON value. `request` is the request body that was
    sent; rule `result-provider` needs it. With `elapsed` and `timeout` (seconds), rule
    `responds-in-time` is checked too.
    """
    verdict = contract_for(spec).response_validator(level).evaluate(
        status, headers, body, request, elapsed=elapsed, timeout=timeout
    )
    return list(verdict.violations)
