"""The catalogue bound to one document, its validators compiled once, and the public validators.

`Contract(spec)` is what every other part of the toolkit holds: it answers "which rules
does this body break?" and "which rules does this response break?", and builds the
enriched request schema the generators use. Validators are compiled once per level and
reused (jsonschema-rs: ~0.5 µs per valid request body and ~3.5 µs per response, against
~70 µs for the pure-Python `jsonschema` and ~0.55 ms for an openapi-core response
validation, measured by `make bench`).
"""

from __future__ import annotations

import copy
import operator
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from enum import Enum
from functools import cached_property
from typing import Any, cast

import jsonschema_rs

from migma_contract.contract.catalogue import (
    BODY_FORM,
    BODY_JSON_OBJECT,
    BODY_UTF8,
    JSON_MEDIA_TYPE,
    OPEN_POINTS,
    RULES,
    rules_for,
)
from migma_contract.contract.email import FAST_ADDRESS_SCHEMA, is_email_address
from migma_contract.contract.fastschema import fast_formats, flatten, inline_refs, mentions_format
from migma_contract.contract.rules import (
    CONFLICTING_MEDIA_TYPES,
    JSON_DECODER,
    JSON_SCANNER,
    LONE_SURROGATE,
    MALFORMED_MEDIA_TYPE,
    Level,
    NotUtf8,
    OpenPoint,
    OutOfRange,
    RawBody,
    Refused,
    Repeat,
    RequestForm,
    ResponseFacts,
    ResponsePredicate,
    ResponseSchema,
    Rule,
    RuleSet,
    Subject,
    case_repeat,
    decode_whole,
    has_lone_surrogate,
    repeated_member,
)
from migma_contract.core.bounded import MAX_DEPTH, loads
from migma_contract.core.exceptions import SpecError, SpecInvalid
from migma_contract.core.fields import media_type as one_media_type
from migma_contract.core.fields import members_of, trimmed
from migma_contract.core.untrusted import nesting_depth
from migma_contract.document.spec import BUNDLED_SHA256, Spec, load_spec
from migma_contract.wire.coding import as_given

__all__ = ["Contract", "ResponseVerdict", "ResponseViolations", "Violation", "contract_for", "validate_request",
           "validate_response"]

_DIALECT = "https://json-schema.org/draft/2020-12/schema"
MAX_PER_RULE = 20  # places one body breaks one rule that are worded; the rest are counted ("and 1,499,980 more like it")
_DOCUMENTED = Level.DOCUMENTED  # the default level, compared by identity on the public validators' fast path
_ORDER = {rule.id: index for index, rule in enumerate(RULES)}  # violations are listed in catalogue order
_PY_FORMATS = {"email": is_email_address}  # what JSON Schema leaves to the implementation, decided here
_FAST_FORMATS = {"email": FAST_ADDRESS_SCHEMA}  # the same, narrowed to what Rust can accept alone


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
    """The response rules a response was judged by, and those it broke; when its body was not read (`unread` says
    why), the rules that body would have been judged by stand unjudged (`unjudged`): judged in part, never a pass."""

    applied: tuple[str, ...]
    violations: tuple[Violation, ...]
    unread: str | None = None
    unjudged: tuple[str, ...] = ()


class ResponseViolations(list[Violation]):
    """What `validate_response` answers: the violations found (a list of `Violation`), and what was left unjudged.

    `unread`: why the answer's body was not read, None when it was (a lone surrogate escape or a number past IEEE 754,
    whose reading RFC 8259 leaves to the client; a charset other than UTF-8 that reads its bytes otherwise; JSON
    nested deeper than the toolkit reads; a parsed body holding NaN or an infinity, which no JSON text gives).
    `unjudged`: the rule ids that body would have been judged by, none of them judged. Such an answer is judged in
    part, as every other way in says: the result is then never falsy and never equal to a plain list (`[]`), so
    `assert not validate_response(...)` and `assert validate_response(...) == []` fail on it rather than pass.
    `+`, `sum(..., [])`, slicing, `*` and `+=` keep it; `len()` counts violations only.
    """

    unread: str | None = None
    unjudged: tuple[str, ...] = ()

    def __init__(self, found: Iterable[Violation] = (), /) -> None:
        """From violations; built from another `ResponseViolations` it keeps what that one left unjudged (pass Z3, F6:
        `ResponseViolations(r)`, the type's own constructor, gave an empty result equal to `[]` for one judged in part)."""
        super().__init__(found)
        if isinstance(found, ResponseViolations) and found.unread is not None:
            self.unread, self.unjudged = found.unread, found.unjudged

    @property
    def judged_in_full(self) -> bool:
        """Whether every rule the answer's status calls for was judged (its body was read)."""
        return self.unread is None

    def __bool__(self) -> bool:
        return self.unread is not None or len(self) > 0

    def copy(self) -> ResponseViolations:
        """A copy that says what the original says (a plain list's `copy` would drop what was left unjudged)."""
        return ResponseViolations(self)

    # The operations that build a new result from this one keep what it left unjudged (pass Y3, F6: `r1 + r2`, `r[:]`
    # and `sum(..., [])` gave a plain list, `[]` for two answers judged in part). `len()` counts violations only, and
    # `[*r]`/`list(r)` are the plain violations: whether an answer was judged in full is `bool(r)`, `r == []` or
    # `r.judged_in_full`.
    def _with(self, found: Iterable[Violation], *others: object) -> ResponseViolations:
        result = ResponseViolations(found)
        unread, unjudged = self.unread, list(self.unjudged)
        for other in others:
            if getattr(other, "unread", None) is not None:
                unread = unread or other.unread  # type: ignore[attr-defined]
                unjudged += [rule for rule in other.unjudged if rule not in unjudged]  # type: ignore[attr-defined]
        if unread is not None:
            result.unread, result.unjudged = unread, tuple(unjudged)
        return result

    def __add__(self, other: Iterable[Violation]) -> ResponseViolations:  # type: ignore[override]
        if not isinstance(other, list):
            return NotImplemented
        return self._with([*self, *other], other)

    def __radd__(self, other: Iterable[Violation]) -> ResponseViolations:
        if not isinstance(other, list):
            return NotImplemented
        return self._with([*other, *self], other)

    def __iadd__(self, other: Iterable[Violation]) -> ResponseViolations:  # type: ignore[override]
        merged = self._with((), other)
        self.extend(other)
        self.unread, self.unjudged = merged.unread, merged.unjudged
        return self

    def __mul__(self, times: Any) -> ResponseViolations:
        return self._with(list.__mul__(self, times))

    __rmul__ = __mul__

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return self._with(list.__getitem__(self, index))
        return list.__getitem__(self, index)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, list):
            return NotImplemented
        if self.unread != getattr(other, "unread", None) or self.unjudged != getattr(other, "unjudged", ()):
            return False
        return list.__eq__(self, other)

    def __ne__(self, other: object) -> bool:
        equal = self.__eq__(other)
        return equal if equal is NotImplemented else not equal

    __hash__ = None  # (a list: unhashable)

    def __repr__(self) -> str:
        if self.unread is None:
            return list.__repr__(self)
        return f"ResponseViolations({list.__repr__(self)}, unread={self.unread!r}, unjudged={self.unjudged!r})"


@contextmanager
def _document_errors(spec: Spec) -> Iterator[None]:
    """The one place a failure to compile the document's schemas becomes a document error (`SpecInvalid`, one line).

    `lint` and the OpenAPI validator read a schema with Python's eyes; the validators compile it in Rust:
    a `pattern` Python reads and Rust does not (`(?P=name)`), a number it cannot convert, a schema too deep
    for it. Whatever it raises, the document is what cannot be used, never an internal error.
    """
    try:
        yield
    except SpecError:
        raise
    except Exception as exc:  # jsonschema_rs.ValidationError, ValueError, OverflowError, RecursionError...
        pointer = None
        if isinstance(exc, jsonschema_rs.ValidationError):  # where in the compiled schema: its `$defs` are the components
            path = [str(part).replace("~", "~0").replace("/", "~1") for part in exc.instance_path]
            pointer = "/components/schemas/" + "/".join(path[1:]) if path[:1] == ["$defs"] and len(path) > 1 else None
            text = str(exc.message)
        else:
            text = str(exc) or type(exc).__name__
        text = " ".join(text.split())
        raise SpecInvalid(f"a schema the validators cannot compile: {text[:200]}", path=spec.source, pointer=pointer) from None


def _compile(schema: dict[str, Any]) -> jsonschema_rs.Draft202012Validator:
    return jsonschema_rs.Draft202012Validator(schema, validate_formats=True, formats=_PY_FORMATS)


def _compile_fast(schema: dict[str, Any]) -> jsonschema_rs.Draft202012Validator:
    """`schema` with the formats decided in Python narrowed to Rust-side checks.

    Without Python format callbacks when none is left: merely having them costs every
    `is_valid` call ~0.2 µs, a third of a typical body's whole validation.
    """
    fast = fast_formats(schema, _FAST_FORMATS)
    if mentions_format(fast, _PY_FORMATS):
        return _compile(fast)
    return jsonschema_rs.Draft202012Validator(fast, validate_formats=True)


def _more(count: int) -> str:
    return f" (and {count:,} more like it)" if count else ""


def _pointer(path: list[Any]) -> str:
    return "".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in path)


def _strip(fragment: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in fragment.items() if k not in ("$defs", "$schema")}


class _RuleSet:
    """Several rules' fragments compiled into one validator; errors traced back to rules.

    Two compilations of the same rules: `accepts`, flattened and without Python callbacks
    for the common case, trusted only when it says yes; `validator`, one `allOf` branch
    per rule, for the verdict and the errors otherwise (see `_fastschema`).
    """

    def __init__(self, rules: list[Rule], fragments: list[dict[str, Any]], defs: dict[str, Any]) -> None:
        self.rules = rules
        stripped = [_strip(f) for f in fragments]
        schema: dict[str, Any] = {"$schema": _DIALECT, "allOf": stripped}
        fast: dict[str, Any] = {"$schema": _DIALECT, **flatten([inline_refs(f, defs) for f in stripped])}
        if defs:
            schema["$defs"] = fast["$defs"] = defs
        self.validator = _compile(schema)
        self.fast = fast  # (before its formats are narrowed: `_compile_fast` does that)
        self.accepts = _compile_fast(fast).is_valid

    def violations(self, instance: Any) -> list[tuple[Rule, str, str, int]]:
        return [] if self.accepts(instance) else self.traced(instance)

    def traced(self, instance: Any) -> list[tuple[Rule, str, str, int]]:
        """Each (rule, pointer, message, more) the instance breaks; empty when it breaks none.

        At most `MAX_PER_RULE` places per rule: `more` (on a rule's first) counts the places past them, so what
        is done with each (wording it, suggesting a field) costs the same for a body with a million unknown keys.
        """
        found: dict[tuple[str, str], list[Any]] = {}
        first: dict[str, list[Any]] = {}
        kept: Counter[str] = Counter()
        for error in self.validator.iter_errors(instance):
            rule = self.rules[int(error.evaluation_path[1])]
            path = list(error.instance_path)
            kind = error.kind.as_dict() if hasattr(error.kind, "as_dict") else {}
            if "property" in kind and error.evaluation_path[-1] == "required":
                path.append(kind["property"])
            pointer = _pointer(path)
            if (rule.id, pointer) in found:
                continue
            if kept[rule.id] >= MAX_PER_RULE:
                first[rule.id][3] += 1  # counted, not kept (nor remembered: a million of them would cost their size again)
                continue
            kept[rule.id] += 1
            found[rule.id, pointer] = entry = [rule, pointer, error.message, 0]
            first.setdefault(rule.id, entry)
        return [(rule, pointer, message, more) for rule, pointer, message, more in found.values()]


class RequestValidator:
    """Which request rules (of one level) a body breaks."""

    def __init__(self, spec: Spec, rules: tuple[Rule, ...]) -> None:
        self.rules = [r for r in rules if r.subject is Subject.REQUEST]
        forms = [r.form for r in self.rules if isinstance(r.form, RequestForm)]
        assert len(forms) == len(self.rules)
        with _document_errors(spec):
            self._set = _RuleSet(self.rules, [f.fragment(spec) for f in forms], {})
        self._accepts = self._set.accepts
        self._utf8 = BODY_UTF8 if BODY_UTF8 in self.rules else None

    def violations(self, body: Any) -> list[Violation]:
        try:
            if self._accepts(body):
                return []
        except (UnicodeEncodeError, ValueError):  # a lone surrogate, a RawBody: the path below words them
            pass
        return self.refused(body)

    def breaks(self, body: Any) -> bool:
        """Whether the body breaks any of these rules: a yes or no, nothing traced or worded (cheap whatever it holds)."""
        try:
            return not (self._accepts(body) or self._set.validator.is_valid(body))
        except (UnicodeEncodeError, ValueError):  # a lone surrogate, a RawBody: the full path decides
            return bool(self.refused(body))

    def refused(self, body: Any) -> list[Violation]:
        """The violations of a body the fast check did not accept (possibly none: it only trusts a yes).

        A body that is not UTF-8 breaks body-utf8 when the validator's level has it; either
        way the rest is judged on what a lenient reader makes of it (see `rules.utf8_text`).
        """
        shape = BODY_JSON_OBJECT
        violations = []
        try:
            if isinstance(body, RawBody):
                try:
                    body = BODY_FORM.parse(body.content)
                except NotUtf8 as not_utf8:
                    if self._utf8 is not None:
                        violations.append(Violation(self._utf8.id, self._utf8.level.value, "", self._utf8.form.message("", not_utf8.message)))
                    body = BODY_FORM.parse(body.content, lenient=True)
            found = self._set.violations(body)
        except Refused as refused:
            return [*violations, Violation(shape.id, shape.level.value, "", refused.message)]
        except UnicodeEncodeError:  # a lone surrogate reached a keyword that reads the string
            return [*violations, Violation(shape.id, shape.level.value, "", LONE_SURROGATE)]
        for rule, pointer, detail, more in found:
            form = rule.form
            assert isinstance(form, RequestForm)
            violations.append(Violation(rule.id, rule.level.value, form.locate(pointer), form.message(pointer, detail) + _more(more)))
        return violations


class _StatusRules:
    """The response rules of one level that apply to one status, worked out once."""

    def __init__(self, rule_set: _RuleSet | None, predicates: list[tuple[Rule, ResponsePredicate]], spec: Spec, status: int,
                 documented: frozenset[int] | None) -> None:
        self.rule_set = rule_set
        self.predicates = [(r, form) for r, form in predicates if not form.status_only]
        # the rules "the body is the status's schema" (a body repeating a member name breaks them)
        self.whole = tuple(r for r in rule_set.rules if isinstance(r.form, ResponseSchema) and r.form.whole_body) if rule_set else ()
        # The status-only predicates, decided here once: what they find is found in every response of this status.
        facts = ResponseFacts(status, {}, None, None, False, documented=documented)
        self.decided = tuple(r.id for r, form in predicates if form.status_only)
        self.fixed: dict[str, list[Violation]] = {}
        for rule, form in predicates:
            message = form.check(spec, facts) if form.status_only else None
            if message:
                self.fixed[rule.id] = [Violation(rule.id, rule.level.value, "", message)]
        # rule -> whether a body gives it something to judge (rules about a field judge only the bodies that have it)
        forms = [*(rule_set.rules if rule_set is not None else ()), *(rule for rule, _ in predicates)]
        # (grouped by the test: rules asking the same question of a body, result-has-id and result-status-known, ask it once)
        groups: dict[Any, list[str]] = {}
        for rule in forms:
            speaks = getattr(rule.form, "speaks_of", None)
            if speaks is not None:
                groups.setdefault(speaks, []).append(rule.id)
        self.speakers = tuple((getattr(speaks, "test", speaks), tuple(ids)) for speaks, ids in groups.items())
        # Every rule kept and every rule given something to judge, asked at once in Rust: the rules' flattened schema
        # and each test's schema (`catalogue._Speaks`), trusted only for a yes (a no asks them one by one).
        self.quick: Any = None
        schemas = [schema for schema in (getattr(speaks, "schema", None) for speaks in groups) if schema is not None]
        if rule_set is not None and schemas and len(schemas) == len(groups):
            fast = rule_set.fast
            self.quick = _compile_fast({**fast, "allOf": [*fast.get("allOf", []), *(schema(status) for schema in schemas)]}).is_valid
        # (body parsed?, response timed?, request known?) -> (the predicates left to call, the verdict when nothing is broken)
        self.cases: dict[tuple[bool, bool, bool], tuple[list[tuple[Rule, Any]], ResponseVerdict]] = {}
        self.common = self.case(True, False)  # a JSON body, not timed, its request known (most calls)
        self.asks_request = any(form.needs_request for _, form in self.predicates)
        # The clean answer told at once (`clean`), where every predicate of a read body reads its media type alone
        # and Rust's `quick` asks every other rule: Content-Type value -> whether those predicates keep it.
        self.status, self.spec, self.documented = status, spec, documented
        active = {rule.id for rule, _ in self.common[0]}
        self.media_forms = [form for rule, form in self.predicates if rule.id in active]
        self.by_media: dict[str | None, bool] | None = None
        # member names no two of which are one name without case: an object whose names are all among them gives no
        # name in two cases (`case_repeat`). Any such set would do; the documented ones are those answers give.
        self.names: frozenset[str] = frozenset()
        if self.quick is not None and not self.fixed and all(form.media_only for form in self.media_forms):
            self.by_media = {}
            self.names = _unfolded_names(rule_set.fast if rule_set is not None else {})

    def media_keeps(self, content_type: str | None) -> bool:
        """Whether the predicates of a read body keep an answer with this Content-Type value (remembered)."""
        media_type = None if content_type is None else _MEDIA_TYPES.get(content_type) or _media_type(content_type)
        facts = ResponseFacts(self.status, {} if content_type is None else {"content-type": content_type}, media_type, None, True,
                              documented=self.documented)
        keeps = all(form.check(self.spec, facts) is None for form in self.media_forms)
        # another charset than UTF-8 named (`response_facts` may leave the body unread): the full reading decides
        keeps = keeps and (media_type is None or content_type is None or "=" not in content_type
                           or _other_charset(content_type, media_type) is None)
        assert self.by_media is not None
        if len(self.by_media) < 64:  # a server sends a handful of distinct values; a hostile one cannot grow this
            self.by_media[content_type] = keeps
        return keeps

    def clean(self, headers: Mapping[str, str], body: Any) -> ResponseVerdict | None:
        """The clean verdict of a raw answer (bytes or str) that plainly breaks no rule, told without building its
        `ResponseFacts`; None for anything else (the full reading, `response_facts`, then decides). Each check is
        `response_facts`'s own, narrowed to the plain case: whatever is not plainly clean is not decided here."""
        content_type = None
        for name, value in headers.items():  # (as `response_facts` reads them: a repeated field's values joined)
            if (name if type(name) is str else field_text(name)).lower() == "content-type":
                text = value if type(value) is str else field_text(value)
                content_type = text if content_type is None else f"{content_type}, {text}"
        by_media = self.by_media
        assert by_media is not None
        keeps = by_media.get(content_type)
        if not (keeps or (keeps is None and self.media_keeps(content_type))):
            return None
        kind = type(body)
        if kind is bytes:
            try:
                text = body.decode("utf-8")
            except UnicodeDecodeError:
                return None
        elif kind is str:
            text = body
        else:
            return None
        try:
            value, end = _SCAN(text, 0)
        except (StopIteration, ValueError, RecursionError):
            return None
        if end != len(text) and text[end:].strip(_JSON_WHITESPACE):  # (`decode` reads the whitespace after a value)
            return None
        # no more brackets than MAX_DEPTH (a text under twice that length cannot hold them: each one is closed)
        if len(text) >= 2 * MAX_DEPTH and text.count("{") + text.count("[") >= MAX_DEPTH:
            return None
        if "\\u" in text and ("\\ud" in text or "\\uD" in text):
            return None
        names = self.names
        if type(value) is dict:
            data = value.get("data")
            if type(data) is dict:
                if text.count(":") > len(value) + len(data) or not (value.keys() <= names and data.keys() <= names):
                    return None
            elif text.count(":") > len(value) or not value.keys() <= names:
                return None
        elif ":" in text:
            return None
        try:
            if self.quick(value):
                return self.common[1]
        except Exception:  # whatever Rust refuses to read, the full reading decides (and words)
            pass
        return None

    def case(self, parsed: bool, timed: bool, requested: bool = True) -> tuple[list[tuple[Rule, Any]], ResponseVerdict]:
        """The predicates to call and the verdict when none is broken, for a body parsed or not, a response timed or
        not, and a request whose JSON object is known or not (`requested`: a rule reading it is not applied without)."""
        found = self.cases.get((parsed, timed, requested))
        if found is None:
            active = []
            for rule, form in self.predicates:
                if ((parsed or not form.needs_body) and (timed or not form.needs_timing)
                        and (requested or not form.needs_request)):
                    active.append((rule, form.check))
            applied = [*self.decided, *(rule.id for rule, _ in active)]
            if self.rule_set is not None and parsed:
                applied.extend(r.id for r in self.rule_set.rules)
            found = self.cases[(parsed, timed, requested)] = (
                active, ResponseVerdict(tuple(sorted(applied, key=_ORDER.__getitem__)), ()))
        return found


class ResponseValidator:
    """Which response rules (of one level) a response breaks, per status."""

    def __init__(self, spec: Spec, rules: tuple[Rule, ...]) -> None:
        self.spec = spec
        self.rules = [r for r in rules if r.subject is Subject.RESPONSE]
        self._by_status: dict[int, _StatusRules] = {}
        # Statuses a rule of the run's sets documents beyond the document (409 for a reused key, vendor set).
        extra = frozenset(r.expected_status for r in rules if r.subject is Subject.IDEMPOTENCY and r.expected_status)
        self.documented = spec.documented_statuses | extra if extra - spec.documented_statuses else None

    def _for_status(self, status: int) -> _StatusRules:
        cached = self._by_status.get(status)
        if cached is None:
            schemas = [(r, r.form) for r in self.rules if isinstance(r.form, ResponseSchema) and r.form.applies(self.spec, status)]
            schema_rules = [r for r, _ in schemas]
            predicates = [(r, r.form) for r in self.rules if isinstance(r.form, ResponsePredicate) and r.form.applies(self.spec, status)]
            rule_set = None
            fragments = [form.fragment(self.spec, status) for _, form in schemas]
            defs: dict[str, Any] = {}
            for fragment in fragments:
                defs.update(fragment.get("$defs", {}))
            with _document_errors(self.spec):
                if schema_rules:
                    rule_set = _RuleSet(schema_rules, fragments, defs)
                cached = self._by_status[status] = _StatusRules(rule_set, predicates, self.spec, status, self.documented)
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
        facts: ResponseFacts | None = None,
    ) -> ResponseVerdict:
        """The rules applied and broken. `facts`: the response already read (`response_facts` of the same
        arguments, with this validator's `documented`), when the caller needs them too."""
        if facts is None:
            if elapsed is None and truncated_at is None:
                rules = self._by_status.get(status) or self._for_status(status)
                if rules.by_media is not None and (clean := rules.clean(headers, body)) is not None:
                    return clean
            facts = response_facts(status, headers, body, request, elapsed, timeout, self.documented)
        if truncated_at is not None:  # not judged by body rules (judged in part); the Content-Type by its header alone
            facts = replace(facts, parsed=False, body=None, repeated=None, unread=cut_body(truncated_at))
        rules = self._by_status.get(status) or self._for_status(status)
        parsed, spec = facts.parsed, self.spec
        requested = facts.request is not None or not rules.asks_request
        active, clean = (rules.common if parsed and elapsed is None and requested else
                         rules.case(parsed, elapsed is not None, requested))
        broken: dict[str, list[Violation]] | None = dict(rules.fixed) if rules.fixed else None
        for rule, check in active:
            message = check(spec, facts)
            if message:
                broken = broken or {}
                broken[rule.id] = [Violation(rule.id, rule.level.value, "", message)]
        rule_set = rules.rule_set
        spoken = False  # every rule that may be silent was given something to judge
        if rule_set is not None and parsed:
            quick = rules.quick
            if quick is not None and quick(facts.body):
                spoken = True
            elif not rule_set.accepts(facts.body):
                broken = broken or {}
                for rule, pointer, detail, more in rule_set.traced(facts.body):
                    broken.setdefault(rule.id, []).append(Violation(rule.id, rule.level.value, pointer, f"{pointer or '/'}: {detail}{_more(more)}"))
            if facts.repeated is not None and rules.whole:  # no one value: whichever a reader keeps, it guessed
                broken = broken or {}
                for rule in rules.whole:
                    broken.setdefault(rule.id, []).append(Violation(rule.id, rule.level.value, "", repeats(facts.repeated)))
        applied = clean.applied
        if parsed and rules.speakers and not spoken:  # asked of the few rules that may be silent, not of every rule applied
            body = facts.body
            silent: list[str] | None = None
            for speaks, ids in rules.speakers:
                if not speaks(status, body):
                    silent = (silent or []) + [r for r in ids if not (broken and r in broken)]
            if silent:
                applied = tuple(r for r in applied if r not in silent)
        unread = facts.unread
        unjudged: tuple[str, ...] = ()
        if unread is not None:  # the rules a read body would have been judged by stand unjudged (judged in part)
            unjudged = tuple(r for r in rules.case(True, elapsed is not None)[1].applied if r not in applied)
        if not broken:
            if unread is not None:
                return ResponseVerdict(applied, (), unread, unjudged)
            return clean if applied is clean.applied else ResponseVerdict(applied, ())
        violations = tuple(v for rule_id in sorted(broken, key=_ORDER.__getitem__) for v in broken[rule_id])
        return ResponseVerdict(applied, violations, unread, unjudged)


_MEDIA_TYPES: dict[str, str] = {}  # Content-Type header -> its media type
# The request's reading (`rules.JSON_DECODER`: no NaN, no Infinity, no number past IEEE 754) with integers read in C;
# its scanner is called inline. An integer past Python's digit limit raises ValueError, and the text is read again.
_DECODER = JSON_SCANNER
_SCAN = _DECODER.scan_once  # type: ignore[attr-defined]  # set by JSONDecoder.__init__, not in typeshed


_JSON_WHITESPACE = " \t\n\r"  # RFC 8259 §2 (and `json`'s)


def _unfolded_names(schema: Any) -> frozenset[str]:
    """The property names `schema` declares anywhere, less those that are one name without case with another."""
    found: set[str] = set()
    stack = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            properties = node.get("properties")
            if isinstance(properties, dict):
                found.update(name for name in properties if isinstance(name, str))
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    folds = Counter(name.casefold() for name in found)
    return frozenset(name for name in found if folds[name.casefold()] == 1)


def _media_type(content_type: str) -> str:
    """The media type a Content-Type value names (remembered in `_MEDIA_TYPES`): `MALFORMED_MEDIA_TYPE` when a member
    is not one well-formed media type (`core.fields.media_type`: `application/json,`, `,application/json` from an empty
    field line joined beside it, `; =x`: a strict client, Go's `mime.ParseMediaType`, refuses it, and one reading the
    first of two lines reads `""`); `CONFLICTING_MEDIA_TYPES` for members that differ (a singleton field given twice
    differently); the same value repeated (two alike lines, joined) is that value."""
    # SP and HTAB trimmed only (`core.fields`)
    members = members_of(content_type) if "," in content_type else [content_type]
    parsed = [one_media_type(member) for member in members]
    if any(one is None for one in parsed):
        media_type = MALFORMED_MEDIA_TYPE
    elif len({member.lower() for member in members}) > 1:
        media_type = CONFLICTING_MEDIA_TYPES
    else:
        assert parsed[0] is not None
        media_type = parsed[0][0]
    if len(_MEDIA_TYPES) < 64:  # a server sends a handful of distinct values; a hostile one cannot grow this
        _MEDIA_TYPES[content_type] = media_type
    return media_type


def repeats(repeat: Repeat) -> str:
    """What is wrong with a JSON text that gives a member name twice in one object (`repeated_member`)."""
    return f"the JSON gives {repeat.words()} in one object (RFC 8259 §4: which value a reader keeps is unpredictable)"


_CHARSETS: dict[str, str | None] = {}  # Content-Type header -> the other charset than UTF-8 a JSON answer names (None: none)
_UNSEEN = ""  # (not worked out yet)
_UTF8 = ("utf-8", "utf8")


def _other_charset(content_type: str, media_type: str) -> str | None:
    """The charset other than UTF-8 a JSON answer's Content-Type names (None: UTF-8, none named, or no JSON media type:
    content-type-json judges a media type that is no JSON's, whatever its charset)."""
    if not (media_type == JSON_MEDIA_TYPE or media_type.endswith("+json")):
        return None
    parsed = one_media_type(members_of(content_type)[0])  # (well-formed, all members alike: `_media_type`)
    charset = "utf-8" if parsed is None else parsed[1].get("charset", "utf-8").lower()
    return None if charset in _UTF8 else charset


def _charset_doubt(content_type: str, charset: str, body: bytes) -> str | None:
    """Why a JSON answer labelled with another charset than UTF-8 is not read; None when its bytes read alike either way
    (ASCII under `iso-8859-1`), or are no UTF-8 (then they are no JSON text, RFC 8259 §8.1, whatever the label).

    RFC 8259 §11: the parameter means nothing to a compliant recipient, which reads UTF-8; but clients decoding text
    by the charset (requests' `.json()`) read other text than the bytes say, or fail on it. Neither reading is the
    answer's, so its body rules stand unjudged (as a request's other charset leaves the request's)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:  # no JSON text whatever the label (RFC 8259 §8.1): content-type-json says so
        return None
    try:
        if body.decode(charset) == text:
            return None
    except (LookupError, ValueError, TypeError):  # a charset Python does not know, or bytes not in it
        pass
    shown = repr(content_type[:80]) + ("…" if len(content_type) > 80 else "")
    return (f"its answer's Content-Type names another charset than UTF-8 ({shown}) that reads its bytes otherwise: "
            "clients decoding by it read other text, so its body was not read")


def cut_body(cap: int) -> str:
    """Why an answer's body cut at the run's own `cap` was not read: not judged by body rules (judged in part)."""
    return f"the answer's body is over the run's {cap}-byte cap (max-response-bytes), not read in full"


def response_facts(
    status: int, headers: Mapping[str, str], body: Any, request: Any, elapsed: float | None, timeout: float | None,
    documented: frozenset[int] | None = None,
) -> ResponseFacts:
    """One response as the response rules see it (the body parsed when it is JSON)."""
    lowered: dict[str, str] = {}
    for name, value in headers.items():  # (a loop, not a comprehension: no function made and called for each response)
        # (bytes read as Latin-1, a list of a repeated field's values joined: `field_text`). A name given again (a
        # multi-valued mapping's `items()`: `email.message.Message`, werkzeug's `Headers`, aiohttp's; a dict holding
        # `Content-Type` and `content-type`) is a repeated field, its values joined in order as pairs are (pass Y3, F1:
        # the last one alone was read, so the verdict depended on which came last)
        key = (name if type(name) is str else field_text(name)).lower()
        text = value if type(value) is str else field_text(value)
        lowered[key] = f"{lowered[key]}, {text}" if key in lowered else text
    content_type = lowered.get("content-type")
    media_type = None if content_type is None else _MEDIA_TYPES.get(content_type) or _media_type(content_type)
    if content_type is not None and media_type is not None and "=" in content_type:  # a parameter: a charset?
        charset = _CHARSETS.get(content_type, _UNSEEN)
        if charset == _UNSEEN:
            charset = _other_charset(content_type, media_type)
            if len(_CHARSETS) < 64:  # a server sends a handful of distinct values
                _CHARSETS[content_type] = charset
        doubt = _charset_doubt(content_type, charset, body) if charset and isinstance(body, bytes) else None
        if doubt is not None:  # not read: neither judged nor failed by a rule of its body (judged in part)
            return ResponseFacts(status, lowered, media_type, None, False, doubt, None if type(request) is RawBody else request,
                                 elapsed, timeout, documented, None, doubt)
    parsed, parse_error, repeated = True, None, None
    kind = type(body)
    if kind is bytes or kind is str or isinstance(body, (bytes, bytearray, str)):
        try:
            text = body if kind is str or isinstance(body, str) else body.decode("utf-8")
            try:  # `decode_whole(_DECODER, text)`, inlined: the scanner alone when no whitespace surrounds the value
                body, end = _SCAN(text, 0)
                if end != len(text):
                    body = _DECODER.decode(text)
            except (StopIteration, ValueError):
                if text.startswith("\ufeff"):
                    loads(text)  # raises, and words a leading BOM as one
                body = decode_whole(JSON_DECODER, text)  # raises in decode's words, or reads an integer past the digit limit
            # deeper than the validator recurses (a value nests at most one deeper than its text has brackets: most
            # answers are not walked): not read, so neither judged nor failed by a rule of its body
            unread = None
            if text.count("{") + text.count("[") >= MAX_DEPTH and nesting_depth(body, MAX_DEPTH) > MAX_DEPTH:
                unread = f"its answer's JSON nests deeper than {MAX_DEPTH} levels, deeper than the toolkit reads"
            elif "\\u" in text and ("\\ud" in text or "\\uD" in text) and has_lone_surrogate(body):
                unread = _LONE_SURROGATE_ANSWER
            if unread is not None:
                return ResponseFacts(status, lowered, media_type, None, False, unread, None if type(request) is RawBody else request,
                                     elapsed, timeout, documented, None, unread)
            # a member name given twice (RFC 8259 §4)? Cheap evidence first: no more colons than the members of the
            # object and of its `data` (a send's answer) rules it out; anything else is read again (`repeated_member`)
            if type(body) is dict:
                data = body.get("data")
                if text.count(":") > len(body) + (len(data) if type(data) is dict else 0):
                    repeated = repeated_member(text, body)
                else:  # no deeper member, no exact repeat: the same name in two cases? (`case_repeat`)
                    repeated = case_repeat(body, data)
            elif ":" in text:
                repeated = repeated_member(text, body)
        except OutOfRange as exc:  # JSON's grammar, a number RFC 8259 §6 lets clients read or refuse: judged in part
            unread = f"its answer's JSON holds a number beyond IEEE 754 ({str(exc)[-60:]}; RFC 8259 §6 leaves its reading open)"
            return ResponseFacts(status, lowered, media_type, None, False, unread, None if type(request) is RawBody else request,
                                 elapsed, timeout, documented, None, unread)
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:
            parsed, parse_error = False, f"{type(exc).__name__}: {str(exc)[:120]}"
            body = None
    elif isinstance(body, (dict, list, float)) and (found := non_finite(body)) is not None:
        # a parsed value no JSON text gives: the validators would read it as null; the raw body tells which text it was
        unread = (f"its answer's parsed body holds {found[1]} at {found[0] or '/'}, which no JSON text gives (RFC 8259 §6): "
                  "the server wrote NaN/Infinity (not JSON) or a number past IEEE 754 (Python's json reads 1e999 as an "
                  "infinity); pass the raw bytes to judge it")
        return ResponseFacts(status, lowered, media_type, None, False, unread, None if type(request) is RawBody else request,
                             elapsed, timeout, documented, None, unread)
    if request is not None and type(request) is RawBody:
        request = None
    return ResponseFacts(status, lowered, media_type, body, parsed, parse_error, request, elapsed, timeout, documented, repeated)


def non_finite(value: Any) -> tuple[str, str] | None:
    """The JSON pointer and the spelling of the first NaN or infinity in a parsed value (None: none): Python's json
    reads NaN, Infinity and a number past IEEE 754 into such floats, which no JSON value is."""
    stack: list[Any] = [value]
    while stack:  # (the values alone first: most bodies hold none, and are walked without a pointer made)
        node = stack.pop()
        if isinstance(node, float):
            if node != node or node in (_INFINITY, -_INFINITY):
                break
        elif isinstance(node, dict):
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    else:
        return None
    stack = [("", value)]
    while stack:
        pointer, node = stack.pop()
        if isinstance(node, float):
            if node != node or node in (_INFINITY, -_INFINITY):
                return pointer, "NaN" if node != node else "Infinity" if node > 0 else "-Infinity"
        elif isinstance(node, dict):
            stack.extend((f"{pointer}/{str(k).replace('~', '~0').replace('/', '~1')}", v) for k, v in reversed(node.items()))
        elif isinstance(node, list):
            stack.extend((f"{pointer}/{i}", v) for i, v in reversed(list(enumerate(node))))
    return None


_INFINITY = float("inf")


# A lone surrogate escape in an answer is JSON's grammar whose handling RFC 8259 §8.2 leaves open: JSON.parse, Python's
# json and httpx read it, a strict parser refuses it. The answer is JSON (never content-type-json's "not JSON"), judged
# in part as one no single reading of which is the client's.
_LONE_SURROGATE_ANSWER = ("its answer's JSON holds a lone surrogate escape (\\ud800-\\udfff; RFC 8259 §8.2 leaves its "
                          "handling to the client: JSON.parse and Python read it, a strict parser refuses it)")


class Contract:
    """The rule catalogue applied to one OpenAPI document."""

    def __init__(self, spec: Spec) -> None:
        self.spec = spec
        self._request: dict[str, RequestValidator] = {}  # by Level, a str: found by its value too
        self._response: dict[str, ResponseValidator] = {}
        self._response_sets: dict[tuple[Level, frozenset[RuleSet]], ResponseValidator] = {}

    # A Level is a str enum: "documented" and Level.DOCUMENTED find the same entry, so a
    # call parses its level only the first time.

    def request_validator(self, level: Level | str = Level.DOCUMENTED) -> RequestValidator:
        found = self._request.get(level)
        if found is None:
            key = Level.parse(level)
            if key not in self._request:
                self._request[key] = RequestValidator(self.spec, rules_for(key))
            found = self._request[key]
        return found

    def response_validator(self, level: Level | str = Level.DOCUMENTED, sets: Iterable[RuleSet | str] | None = None) -> ResponseValidator:
        """The response rules of `level` (of the contract set, unless `sets` names others), compiled once."""
        if sets is not None:
            key_sets = (Level.parse(level), frozenset(RuleSet(s) for s in sets))
            if key_sets not in self._response_sets:
                self._response_sets[key_sets] = ResponseValidator(self.spec, rules_for(*key_sets))
            return self._response_sets[key_sets]
        found = self._response.get(level)
        if found is None:
            key = Level.parse(level)
            if key not in self._response:
                self._response[key] = ResponseValidator(self.spec, rules_for(key))
            found = self._response[key]
        return found

    def compile_all(self) -> Contract:
        """Compile every schema the document gives the validators, at the strictest level, now: a document they
        cannot compile is a `SpecInvalid` before anything runs (`lint` says NOT USABLE), never a failure mid-run."""
        self.request_validator(Level.STRICT)
        responses = self.response_validator(Level.STRICT)
        for status in sorted(self.spec.documented_statuses):
            responses._for_status(status)
        return self

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

    @cached_property
    def settled_valid(self) -> Any:
        """One Rust call: whether a body keeps every request rule at every level and matches no open point whose
        effect is "either" (a plain valid send: the judge's common case). Trusted only when it says yes (the strict
        rules' flattened schema, as `_RuleSet.accepts`); None when the open points cannot join it exactly."""
        fast = self.request_validator(Level.STRICT)._set.fast
        either = [point.when for point in OPEN_POINTS if point.effect == "either"]
        if mentions_format(either, _PY_FORMATS) or mentions_format(either, _FAST_FORMATS):
            return None  # narrowing a format inside `not` would turn a stricter check into a looser one
        schema = {**fast, "allOf": [*fast.get("allOf", []), {"not": {"anyOf": either}}]} if either else fast
        return _compile_fast(schema).is_valid


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
_last: tuple[Spec | None, Contract | None] = (None, None)  # the last call's argument and answer: most calls repeat it


def contract_for(spec: Spec | None = None) -> Contract:
    """The contract of `spec` (the bundled document by default), built once per document."""
    global _last
    argument, contract = _last
    if contract is not None and argument is spec:
        return contract
    document = spec or load_spec()
    key = f"{document.source}|{document.fingerprint}"
    if key not in _CONTRACTS:
        contract = Contract(document)
        # a document handed in is compiled whole now: one the validators cannot take is refused before anything runs
        # (the bundled bytes are known to compile: a check's start is spared the ~10 ms)
        _CONTRACTS[key] = contract if document.fingerprint == "sha256:" + BUNDLED_SHA256 else contract.compile_all()
    _last = (spec, _CONTRACTS[key])
    return _CONTRACTS[key]


def validate_request(body: Any, level: Level | str = _DOCUMENTED, *, spec: Spec | None = None) -> list[Violation]:
    """Every request rule of `level` that `body` breaks (empty when a server must accept it).

    `body` is the parsed JSON value you are about to send (a dict for a well-formed
    request). Each violation names the rule id, a JSON pointer and what is wrong.
    """
    if spec is None and level is _DOCUMENTED:
        # The common call, with `RequestValidator.violations` written out: one C call for a valid
        # body. Calling `violations` instead costs a Python frame, ~10% of a whole validation.
        accepts = _default_accepts or _bind_defaults()[0]._accepts
        try:
            if accepts(body):
                return []
        except (UnicodeEncodeError, ValueError):
            pass
        return (_default_request or _bind_defaults()[0]).refused(body)
    return contract_for(spec).request_validator(level).violations(body)


def validate_response(
    status: int | str,
    headers: Mapping[str, Any] | Iterable[tuple[Any, Any]],
    body: Any,
    request: Any = None,
    level: Level | str = _DOCUMENTED,
    *,
    elapsed: float | None = None,
    timeout: float | None = None,
    spec: Spec | None = None,
) -> ResponseViolations:
    """Every response rule of `level` that this response breaks, and what was left unjudged.

    `status`: an int (a string of digits, `"200"`, is read as one). `headers`: a mapping or
    an iterable of `(name, value)` pairs (ASGI's and httpx's `raw` give pairs); names and
    values `str` or `bytes` (read as Latin-1); a value may be a list of values (Schemathesis's
    `Response.headers`); a name given more than once (pairs, or a mapping whose `items()` repeat
    it: `email.message.Message`, werkzeug's `Headers`, `Content-Type` and `content-type` in one
    dict) is one repeated field, its values joined in order. `body` is either the raw body (`bytes` or `str`, parsed here, so a
    non-JSON body is reported) or the already-parsed JSON value. A raw body is the body the client
    read, decoded (requests' and httpx's `.content`), never decoded here: under a `Content-Encoding` other than
    `identity`, one that is not readable JSON is judged in part ("it may still be coded: pass the decoded body"),
    neither read through a coding nor reported as not JSON (pass Z3, F4/F5: a guess read a body gzipped twice through
    a second layer and took a raw deflate stream for text). `request` is the request
    body that was sent; rule `result-provider` needs it. With `elapsed` and `timeout`
    (seconds), rule `responds-in-time` is checked too.

    The answer is a list of `Violation` (`ResponseViolations`). When the body was not read
    (`unread` says why: a lone surrogate escape, a number past IEEE 754, a charset other than
    UTF-8, JSON nested too deep, NaN or an infinity in a parsed body), its rules stand
    unjudged (`unjudged`) and the result is never falsy nor equal to `[]`: judged in part.
    """
    if type(status) is not int:
        status = _status_of(status)
    if type(headers) is not dict and not isinstance(headers, Mapping) and not callable(getattr(headers, "items", None)):
        headers = _header_pairs(headers)  # (an object with `items()`, an `email.message.Message`, is read as a mapping)
    if spec is None and level is _DOCUMENTED:
        validator = _default_response or _bind_defaults()[1]
    else:
        validator = contract_for(spec).response_validator(level)
    fields = cast("Mapping[str, str]", headers)  # (a mapping now, or an object read as one: its `items()`)
    if type(body) is memoryview:  # a bytes-like raw body (pass Y3, F5)
        body = body.tobytes()
    why = None
    if type(body) is bytes or isinstance(body, bytearray):  # under a coding and no JSON: may still be coded (pass Z3, F4)
        coding = _content_encoding(fields)
        if coding is not None:
            body, why = as_given(bytes(body), coding)
    if why is not None:  # perhaps still coded: judged in part (its body rules unjudged), never "not JSON"
        facts = replace(response_facts(status, fields, b"", request, elapsed, timeout, validator.documented),
                        body=None, parsed=False, parse_error=None, repeated=None, unread=why)
        verdict = validator.evaluate(status, facts.headers, None, request, elapsed=elapsed, timeout=timeout, facts=facts)
    else:
        verdict = _evaluated(validator, status, fields, body, request, elapsed, timeout)
    found = ResponseViolations(verdict.violations) if verdict.violations else ResponseViolations()
    if verdict.unread is not None:
        found.unread, found.unjudged = verdict.unread, verdict.unjudged
    return found


def _content_encoding(headers: Mapping[str, Any]) -> str | None:
    """The `Content-Encoding` of headers as `validate_response` takes them (every value of a repeated field, joined)."""
    found = None
    for name, value in headers.items():
        if len(name) == 16 and (name if type(name) is str else field_text(name)).lower() == "content-encoding":
            text = value if type(value) is str else field_text(value)
            found = text if found is None else f"{found}, {text}"
    return found


def _evaluated(validator: ResponseValidator, status: int, headers: Mapping[str, str], body: Any, request: Any,
               elapsed: float | None, timeout: float | None) -> ResponseVerdict:
    """`evaluate`, a body the compiled validator cannot take (a set, a dict with an int key, an object JSON has no
    form for) refused as a TypeError naming it (pass Y3, F5: the serializer's bare ValueError "Unsupported type")."""
    try:
        return validator.evaluate(status, headers, body, request, elapsed=elapsed, timeout=timeout)
    except ValueError as exc:
        odd = _not_json(body)
        if odd is None:
            raise
        raise TypeError(f"validate_response: body holds {odd}, which no JSON text gives: pass the raw body (bytes or "
                        "str) or a parsed JSON value (dict, list, str, int, float, bool, None)") from exc


def _not_json(value: Any, depth: int = 0) -> str | None:
    """What in a parsed body is no JSON value (a key not a str, a set, a bytes object...), None when all is."""
    if value is None or type(value) in _JSON_SCALARS or isinstance(value, Enum) or depth > MAX_DEPTH:
        return None  # (an enum member of str or int, a StrEnum's, is taken as its value)
    if isinstance(value, dict):
        for key, item in value.items():
            if type(key) is not str and not isinstance(key, Enum):
                return f"a key of type {type(key).__name__}"
            found = _not_json(item, depth + 1)
            if found is not None:
                return found
        return None
    if isinstance(value, (list, tuple)):
        for item in value:
            found = _not_json(item, depth + 1)
            if found is not None:
                return found
        return None
    return f"a value of type {type(value).__name__}"


_JSON_SCALARS = frozenset({bool, int, float, str})


def _status_of(status: object) -> int:
    """A status given otherwise than as an int, as one: an integer (`HTTPStatus`, NumPy's) or ASCII digits (`"200"`)."""
    if not isinstance(status, (bool, str, bytes)):
        try:
            return operator.index(status)  # type: ignore[arg-type]  # (raises TypeError for a float, None...)
        except TypeError:
            pass
    if not isinstance(status, (str, bytes)):
        raise TypeError(f"validate_response: status must be an int (such as 200), not {type(status).__name__}")
    text = status.decode("latin-1") if isinstance(status, bytes) else status
    digits = trimmed(text)
    if not (digits.isascii() and digits.isdigit() and len(digits) == 3):
        raise ValueError(f"validate_response: status must be an int or three digits such as '200', not {text[:40]!r}")
    return int(digits)


def _header_pairs(headers: object) -> dict[str, str]:
    """Header fields given as `(name, value)` pairs, as a mapping: names lowercased, a name given more than once its
    values joined with ", " in order (RFC 9110 §5.3: how a repeated field reads as one)."""
    if isinstance(headers, (str, bytes, bytearray)) or not isinstance(headers, Iterable):
        raise TypeError("validate_response: headers must be a mapping or an iterable of (name, value) pairs, "
                        f"not {type(headers).__name__}")
    found: dict[str, str] = {}
    for pair in headers:
        if isinstance(pair, (str, bytes, bytearray)) or not isinstance(pair, (tuple, list)) or len(pair) != 2:
            raise TypeError("validate_response: headers must be a mapping or an iterable of (name, value) pairs, "
                            f"found {type(pair).__name__} {str(pair)[:40]!r} among them")
        name, value = field_text(pair[0]).lower(), field_text(pair[1])
        found[name] = f"{found[name]}, {value}" if name in found else value
    return found


def field_text(item: Any) -> str:
    """A header field's name or value as text: bytes read as Latin-1 (as HTTP and ASGI carry them), a list or tuple of
    values joined with ", " (a field given more than once, as Schemathesis's `Response.headers` holds it)."""
    if isinstance(item, str):
        return item
    if isinstance(item, (bytes, bytearray)):
        return bytes(item).decode("latin-1")
    if isinstance(item, (list, tuple)):
        return ", ".join(field_text(each) for each in item)
    return str(item)


# The bundled document's validators at the default level, bound on first use: most calls use them,
# and a call that finds them here costs one C call more than jsonschema-rs alone.
_default_request: RequestValidator | None = None
_default_accepts: Any = None
_default_response: ResponseValidator | None = None


def _bind_defaults() -> tuple[RequestValidator, ResponseValidator]:
    global _default_request, _default_response, _default_accepts
    contract = contract_for()
    _default_request, _default_response = contract.request_validator(), contract.response_validator()
    _default_accepts = _default_request._accepts
    return _default_request, _default_response
