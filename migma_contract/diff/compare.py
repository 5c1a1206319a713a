"""What a new version of the vendor's document changes, rule by rule and field by field.

`diff_specs(old, new)` compares two documents loaded by the same loader (`load_spec`, so
both are repaired alike) and reports three views of one comparison:

- **per rule of the catalogue**: each rule's form is evaluated on both documents (a request
  form's JSON Schema fragment, a response schema per status, a response predicate probed at
  every documented status, an auth form's security scheme) and the difference is called
  added, removed, tightened, loosened, changed (both ways at once) or unchanged;
- **per field** of the request body and of each documented response body, and per documented
  status;
- **prose rules that may be stale**: a rule whose `source` quotes the document ("...") when
  the quoted words were in the old document and are nowhere in the new one.

The schemas themselves are compared by `_schemadiff`; this module says what each difference
means for the rules, and whom it breaks.

Whom a change breaks
--------------------
The toolkit judges both sides of the contract, so a change can break a *client* (a program
that sends requests and reads the answers, written against the old document) or a *server*
(an implementation that conformed to the old document, as `migma-contract check` judges it:
valid requests accepted, invalid ones refused with 400, answers as documented). The
classification, in the manner of oasdiff's breaking-change checks:

=========================================  =========  =========  ==============================
change                                     clients    servers    oasdiff's nearest check
=========================================  =========  =========  ==============================
request tightened (enum value removed,     breaks     breaks     request-property-enum-value-
type narrowed, field made required, new                          removed, -became-required
format or bound)
request constraint on a property the old   -          breaks     new-optional-request-property
document did not declare (a new property)
request loosened (enum value added, type   -          breaks     (info in oasdiff: it judges
widened, field no longer required)                               clients only)
request property removed                   breaks     breaks     request-property-removed
response tightened (field made required,   -          breaks     response-required-property-
type narrowed, enum value removed)                               added (info)
response property added                    -          -          response-optional-property-
                                                                 added (info)
response loosened (field no longer         breaks     -          response-property-became-
required or removed, type widened, enum                          optional, -type-changed,
value added)                                                     -enum-value-added
changed both ways at once (a type          breaks     breaks     ...-type-changed
replaced, a default or condition changed)
status added: 2xx                          breaks     -          response-success-status-added
status added: other                        -          -          response-non-success-status-
                                                                 added (info)
status removed: 2xx                        breaks     breaks     response-success-status-
                                                                 removed
status removed: other                      -          breaks     response-non-success-status-
                                                                 removed (info)
a rule's scope only (a response schema     -          -
now also applied to a newly documented
status, a conditional rule's values
narrowed by the enum rule)
a description changed                      -          -          (prose: see stale rules)
=========================================  =========  =========  ==============================

Why: a tightened request refuses bodies clients sent, and a conforming server accepted them
and must now refuse them; a loosened request obliges servers to accept bodies they refused,
and asks nothing new of clients. A tightened response asks more of servers, and clients get
only answers they already handled; a loosened response may give clients an answer they never
handled. Clients are assumed to send only documented properties (a new property is new to
them) and servers to send only documented ones (a new response field reaches no old client).
A 2xx added or removed moves the success a client waits for (a sender that misses it may
retry and mail twice); other statuses are handled by class, as oasdiff has it.

Stale prose does not set the exit code: it asks for a review of the catalogue.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from migma_contract.contract.catalogue import rules_for
from migma_contract.contract.rules import (
    Acceptance,
    AuthForm,
    ForbiddenWhen,
    Level,
    RequestForm,
    RequiredWhen,
    ResponseFacts,
    ResponseHistory,
    ResponsePredicate,
    ResponseSchema,
    Rule,
    Subject,
)
from migma_contract.diff.schema import (
    Kind,
    Resolver,
    SchemaChange,
    canonical,
    compare_schemas,
    direction,
    plain,
    pointer_segment,
    printable,
)
from migma_contract.document.spec import JSON_MEDIA_TYPE, Spec, load_spec

__all__ = ["Change", "Kind", "Party", "RuleChange", "SpecDiff", "diff_documents", "diff_specs"]

FORMAT_VERSION = 1


class Party(StrEnum):
    """Who a change can break."""

    CLIENTS = "clients"
    SERVERS = "servers"


_BOTH = frozenset({Party.CLIENTS, Party.SERVERS})
_NOBODY: frozenset[Party] = frozenset()


@dataclass(frozen=True)
class Change:
    """One difference between the documents, and whom it breaks."""

    scope: str  # "request", "responses 400, 401, 403", "status 404", "probe at 404"
    pointer: str  # where in the body (JSON pointer), "" for the body itself
    aspect: str  # property, type, enum, format, required, default, description, status, scope, ...
    kind: Kind
    old: Any
    new: Any
    breaks: frozenset[Party]
    why: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "scope": self.scope, "pointer": self.pointer, "aspect": self.aspect, "kind": self.kind.value,
            "old": self.old, "new": self.new, "breaks": sorted(p.value for p in self.breaks), "why": self.why,
        }


@dataclass(frozen=True)
class RuleChange:
    """What the new document does to one rule of the catalogue."""

    rule: str
    level: str
    subject: str
    kind: Kind
    breaks: frozenset[Party]
    changes: tuple[Change, ...] = ()
    stale_quotes: tuple[str, ...] = ()  # quoted source text present in the old document, gone from the new
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule, "level": self.level, "subject": self.subject, "kind": self.kind.value,
            "breaks": sorted(p.value for p in self.breaks), "changes": [c.as_dict() for c in self.changes],
            "stale_quotes": list(self.stale_quotes), "note": self.note,
        }


@dataclass(frozen=True)
class DocumentInfo:
    source: str
    fingerprint: str

    def as_dict(self) -> dict[str, str]:
        return {"source": self.source, "fingerprint": self.fingerprint}


@dataclass(frozen=True)
class SpecDiff:
    """The whole comparison. `exit_code` is 1 when anything breaks clients."""

    old: DocumentInfo
    new: DocumentInfo
    rules: tuple[RuleChange, ...]
    request: tuple[Change, ...]
    responses: tuple[Change, ...]
    statuses: tuple[Change, ...]

    @property
    def stale(self) -> tuple[RuleChange, ...]:
        return tuple(rule for rule in self.rules if rule.stale_quotes)

    @property
    def fields(self) -> tuple[Change, ...]:
        return self.request + self.responses + self.statuses

    def breaking(self, party: Party) -> tuple[list[RuleChange], list[Change]]:
        """The rules and the field/status changes that break `party`."""
        return [r for r in self.rules if party in r.breaks], [c for c in self.fields if party in c.breaks]

    @property
    def breaks_clients(self) -> bool:
        return any(self.breaking(Party.CLIENTS))

    @property
    def identical(self) -> bool:
        return self.old.fingerprint == self.new.fingerprint

    @property
    def exit_code(self) -> int:
        return 1 if self.breaks_clients else 0

    @property
    def changed_rules(self) -> tuple[RuleChange, ...]:
        return tuple(r for r in self.rules if r.kind not in (Kind.UNCHANGED, Kind.NOT_COMPARED))

    def _who(self, party: Party) -> str:
        rules, fields = self.breaking(party)
        named = ", ".join(f"{r.rule} {r.kind.value}" for r in rules)
        counted = f"{len(fields)} field/status change(s)" if fields else ""
        return "; ".join(part for part in (named, counted) if part)

    @property
    def headline(self) -> str:
        clients, servers = self._who(Party.CLIENTS), self._who(Party.SERVERS)
        stale = f" · {len(self.stale)} rule(s) may be stale (quoted source gone)" if self.stale else ""
        if clients:
            return f"BREAKS CLIENTS ({clients})" + (f" · breaks servers ({servers})" if servers else "") + stale
        if servers:
            return f"breaks servers only ({servers}){stale}"
        if not self.changed_rules and not self.fields and not self.stale:
            return "no change to the contract" + (" (identical documents)" if self.identical else "")
        return (f"nothing breaks clients or servers ({len(self.changed_rules)} rule(s) and "
                f"{len(self.fields)} field/status change(s) without effect on either){stale}")

    def as_dict(self) -> dict[str, Any]:
        return {
            "format_version": FORMAT_VERSION,
            "old": self.old.as_dict(),
            "new": self.new.as_dict(),
            "headline": self.headline,
            "breaks_clients": self.breaks_clients,
            "exit_code": self.exit_code,
            "rules": [r.as_dict() for r in self.rules],
            "request": [c.as_dict() for c in self.request],
            "responses": [c.as_dict() for c in self.responses],
            "statuses": [c.as_dict() for c in self.statuses],
            "stale": [{"rule": r.rule, "quotes": list(r.stale_quotes)} for r in self.stale],
        }


def diff_documents(old_path: str | Path, new_path: str | Path) -> SpecDiff:
    """Load both documents with the toolkit's loader (raising `SpecError`) and compare them."""
    return diff_specs(load_spec(old_path), load_spec(new_path))


def diff_specs(old: Spec, new: Spec) -> SpecDiff:
    """Compare two loaded documents: every rule of the catalogue, every field, every status."""
    texts = (_document_text(old), _document_text(new))
    return SpecDiff(
        old=DocumentInfo(printable(old.source), old.fingerprint),
        new=DocumentInfo(printable(new.source), new.fingerprint),
        # the document's rules only: the vendor set comes from the vendor's wider docs, not from a document version
        rules=tuple(_rule_change(rule, old, new, texts) for rule in rules_for(Level.STRICT)),
        request=tuple(_classified(compare_schemas(old.request_schema, new.request_schema), "request", _Side.REQUEST,
                                  declared=(old, new))),
        responses=tuple(_response_changes(old, new)),
        statuses=tuple(_status_changes(old, new)),
    )


# --- whom a change breaks ------------------------------------------------------------------


class _Side(StrEnum):
    REQUEST = "request"  # what clients send: bodies, credentials
    RESPONSE = "response"  # what servers answer


_WHY = {
    (_Side.REQUEST, Kind.TIGHTENED): "a body clients sent is now refused; servers must refuse it",
    (_Side.REQUEST, Kind.LOOSENED): "servers must now accept a body they had to refuse",
    (_Side.REQUEST, Kind.CHANGED): "some bodies clients sent are refused, some refused ones must be accepted",
    (_Side.RESPONSE, Kind.TIGHTENED): "servers must answer more narrowly; clients get nothing new",
    (_Side.RESPONSE, Kind.LOOSENED): "clients may get an answer they were never promised",
    (_Side.RESPONSE, Kind.CHANGED): "answers change both ways: some become allowed, some refused",
}


def _breaks(side: _Side, raw: SchemaChange, declared_before: bool, declared_after: bool = True) -> tuple[frozenset[Party], str]:
    """The classification of the module docstring, for one difference.

    `declared_before`/`declared_after`: whether the request property the difference is about
    is declared by the old/new document (clients send only documented properties).
    """
    if raw.aspect == "description":
        return _NOBODY, "prose only; see the stale rules for what the catalogue quotes"
    if raw.aspect == "property":
        if not raw.constrains:
            return _NOBODY, f"the property is {raw.kind.value} but its schema constrains nothing"
        if side is _Side.REQUEST:
            if raw.kind is Kind.REMOVED and not declared_after:
                return _BOTH, ("clients that send it are no longer promised it is read; "
                               "servers that still refuse bad values of it refuse bodies now valid")
            if raw.kind is Kind.REMOVED:
                return frozenset({Party.SERVERS}), _WHY[(side, Kind.LOOSENED)]
            if not declared_before:
                return frozenset({Party.SERVERS}), "a new property: servers must check it; clients never sent it"
            return _BOTH, _WHY[(side, Kind.TIGHTENED)]
        if raw.kind is Kind.ADDED:
            return _NOBODY, "a new field: old servers never sent it, old clients ignore it"
        return frozenset({Party.CLIENTS}), "clients that read it are no longer promised it"
    kind = raw.kind
    if side is _Side.REQUEST:
        if kind is Kind.TIGHTENED:  # a value constraint on a property clients never sent breaks only servers
            return (_BOTH if declared_before or raw.aspect == "required" else frozenset({Party.SERVERS})), _WHY[(side, kind)]
        if kind is Kind.LOOSENED:
            return frozenset({Party.SERVERS}), _WHY[(side, kind)]
        return _BOTH, _WHY[(side, Kind.CHANGED)]
    if kind is Kind.TIGHTENED:
        return frozenset({Party.SERVERS}), _WHY[(side, kind)]
    if kind is Kind.LOOSENED:
        return frozenset({Party.CLIENTS}), _WHY[(side, kind)]
    return _BOTH, _WHY[(side, Kind.CHANGED)]


def _classified(raws: Iterable[SchemaChange], scope: str, side: _Side, *, declared: tuple[Spec, Spec] | None = None,
                rule_view: bool = False) -> list[Change]:
    """Differences with whom they break; the rule view leaves out prose and unconstrained properties.

    `declared`: the (old, new) documents whose request properties the pointers name.
    """
    changes = []
    for raw in raws:
        if rule_view and (raw.aspect == "description" or not raw.constrains):
            continue
        before, after = (_declares(declared[0], raw.pointer), _declares(declared[1], raw.pointer)) if declared else (True, True)
        breaks, why = _breaks(side, raw, before, after)
        changes.append(Change(scope, raw.pointer, raw.aspect, raw.kind, plain(raw.old), plain(raw.new), breaks, why))
    return changes


def _declares(spec: Spec, pointer: str) -> bool:
    """Whether `spec`'s request schema declares the property at `pointer` (e.g. /variables/name)."""
    resolver = Resolver(spec.request_schema)
    schema = resolver.norm(spec.request_schema)
    for token in pointer.split("/")[1:]:
        if token == "[]":
            schema = resolver.norm(schema.get("items", {}))
            continue
        props: dict[str, Any] = schema["properties"] if isinstance(schema.get("properties"), dict) else {}
        match = next((sub for name, sub in props.items() if pointer_segment(name) == token), None)
        if match is None:  # a free-form object (`additionalProperties: true`) documents any key
            return schema.get("additionalProperties") not in (None, False)
        schema = resolver.norm(match)
    return True


def _status_breaks(status: int, added: bool) -> tuple[frozenset[Party], str]:
    success = 200 <= status < 300
    if added:
        if success:
            return frozenset({Party.CLIENTS}), "a success clients do not recognise (a sender that misses it may retry and mail twice)"
        return _NOBODY, "clients handle error statuses by class; old servers never sent it"
    if success:
        return _BOTH, "the success clients wait for is no longer promised; servers that answer it no longer conform"
    return frozenset({Party.SERVERS}), "servers that answer it no longer conform; clients just stop getting it"


# --- field view ----------------------------------------------------------------------------


def _status_changes(old: Spec, new: Spec) -> Iterator[Change]:
    for status in sorted(old.documented_statuses ^ new.documented_statuses):
        added = status in new.documented_statuses
        breaks, why = _status_breaks(status, added)
        yield Change(f"status {status}", "", "status", Kind.ADDED if added else Kind.REMOVED,
                     None if added else status, status if added else None, breaks, why)


def _response_changes(old: Spec, new: Spec) -> Iterator[Change]:
    """Per status documented by both documents."""
    for scope, raws in _per_status(old.documented_statuses & new.documented_statuses,
                                   lambda status: (old.response_schema(status) or {}, new.response_schema(status) or {})):
        yield from _classified(raws, scope, _Side.RESPONSE)


def _per_status(statuses: Iterable[int], schemas: Callable[[int], tuple[Any, Any]]) -> Iterator[tuple[str, list[SchemaChange]]]:
    """Differences per status; statuses with the same differences (400, 401, 403) are reported once."""
    groups: dict[str, tuple[list[int], list[SchemaChange]]] = {}
    for status in sorted(statuses):
        raws = compare_schemas(*schemas(status))
        groups.setdefault(canonical([r.__dict__ for r in raws]), ([], raws))[0].append(status)
    for grouped, raws in groups.values():
        if raws:
            yield ("response " if len(grouped) == 1 else "responses ") + ", ".join(str(s) for s in grouped), raws


# --- rule view -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Outcome:
    kind: Kind
    breaks: frozenset[Party] = _NOBODY
    changes: tuple[Change, ...] = ()
    note: str = ""

    @classmethod
    def of(cls, changes: list[Change], note: str = "") -> _Outcome:
        """A rule's change from its differences: one direction, or `changed` when they disagree."""
        directions = {Kind.ADDED: Kind.TIGHTENED, Kind.REMOVED: Kind.LOOSENED}
        kinds = {directions.get(c.kind, c.kind) for c in changes}
        kind = Kind.UNCHANGED if not kinds else kinds.pop() if len(kinds) == 1 else Kind.CHANGED
        return cls(kind, frozenset().union(*(c.breaks for c in changes)), tuple(changes), note if changes else "")

    @classmethod
    def whole(cls, added: bool, side: _Side, note: str, declared_before: bool = True) -> _Outcome:
        """A rule the new document introduces (a tightening) or drops (a loosening) as a whole."""
        breaks, _ = _breaks(side, SchemaChange("", "rule", Kind.TIGHTENED if added else Kind.LOOSENED, None, None), declared_before)
        return cls(Kind.ADDED if added else Kind.REMOVED, breaks, (), note)


def _side(rule: Rule) -> _Side:
    return _Side.REQUEST if rule.subject in (Subject.REQUEST, Subject.AUTH) else _Side.RESPONSE


def _scope_change(scope: str, kind: Kind, old: Any, new: Any, why: str) -> Change:
    return Change(scope, "", "scope", kind, plain(old), plain(new), _NOBODY, why)


def _conditional_values(form: RequiredWhen | ForbiddenWhen, spec: Spec) -> tuple[str, ...] | None:
    """The condition's values the document still allows, or None when a property it names is gone."""
    props = spec.request_properties
    if form.when not in props or form.prop not in props:
        return None
    enum = props[form.when].get("enum")
    return tuple(v for v in form.values if not isinstance(enum, list) or v in enum) or None


def _conditional_rule(form: RequiredWhen | ForbiddenWhen, side: _Side, old: Spec, new: Spec) -> _Outcome:
    """A prose rule "when X is v, Y must (not) be there": its premises are the properties and values it names."""
    before, after = _conditional_values(form, old), _conditional_values(form, new)
    if before == after:
        return _Outcome(Kind.UNCHANGED, note="" if before else f"{form.when} or {form.prop} is declared by neither document")
    if before is None or after is None:
        state = "no longer declares" if after is None else "now declares"
        return _Outcome.whole(after is not None, side, f"the new document {state} {form.when} (with these values) and {form.prop}")
    kind = direction(set(after) >= set(before), set(before) >= set(after))
    why = f"the bodies concerned are refused or accepted by the enum of {form.when} (see that rule)"
    return _Outcome.of([_scope_change("request", kind, list(before), list(after), why)])


def _request_fragment(form: RequestForm, spec: Spec) -> dict[str, Any] | None:
    """The JSON Schema the form gives on `spec`, or None when the document gives it nothing to check."""
    if form.compared_as == "body-type":  # its fragment is fixed; the document's own word is the body's type
        declared = Resolver(spec.request_schema).norm(spec.request_schema).get("type")
        return {"type": declared} if declared else None
    return form.documented_fragment(spec)


def _request_rule(form: RequestForm, side: _Side, old: Spec, new: Spec) -> _Outcome:
    before, after = _request_fragment(form, old), _request_fragment(form, new)
    if before is None and after is None:
        return _Outcome(Kind.UNCHANGED, note="neither document gives this rule anything to check")
    if before is None or after is None:
        prop = getattr(form, "prop", None)  # an enum on a property the old document did not declare is new to clients
        return _Outcome.whole(after is not None, side,
                              "the old document gave it nothing to check" if after is not None
                              else "the new document gives it nothing to check",
                              declared_before=prop is None or _declares(old, f"/{pointer_segment(prop)}"))
    raws = compare_schemas(before, after, old_root=old.request_schema, new_root=new.request_schema)
    return _Outcome.of(_classified(raws, "request", side, declared=(old, new), rule_view=True))


def _response_schema_rule(form: ResponseSchema, side: _Side, old: Spec, new: Spec) -> _Outcome:
    before, after = form.statuses(old), form.statuses(new)
    if not before and not after:
        return _Outcome(Kind.UNCHANGED, note="no documented status falls under this rule in either document")
    if not before or not after:
        return _Outcome.whole(bool(after), side, "no documented status fell under it before" if after
                              else "no documented status falls under it any more")
    changes = [
        _scope_change(f"response {status}", Kind.TIGHTENED, None, status,
                      "the status is newly documented: no server that conformed sent it") if status in after else
        _scope_change(f"response {status}", Kind.LOOSENED, status, None, "the status is no longer documented (see the statuses removed)")
        for status in sorted(before ^ after)
    ]
    for scope, raws in _per_status(before & after, lambda status: (form.fragment(old, status), form.fragment(new, status))):
        changes += _classified(raws, scope, side, rule_view=True)
    return _Outcome.of(changes)


def _probe(form: ResponsePredicate, spec: Spec, status: int) -> bool | None:
    """Whether a plain JSON answer at `status` passes the predicate on `spec` (None: it does not apply)."""
    if not form.applies(spec, status):
        return None
    facts = ResponseFacts(status=status, headers={"content-type": JSON_MEDIA_TYPE}, media_type=JSON_MEDIA_TYPE,
                          body={}, parsed=True, request={})
    return form.check(spec, facts) is None


def _predicate_rule(form: ResponsePredicate, side: _Side, old: Spec, new: Spec) -> _Outcome:
    """A predicate cannot be read, only run: probe it at every status either document lists."""
    changes = []
    for status in sorted(old.documented_statuses | new.documented_statuses):
        before, after = _probe(form, old, status), _probe(form, new, status)
        if before == after:
            continue
        if before is None or after is None:
            changes.append(_scope_change(f"probe at {status}", Kind.TIGHTENED if before is None else Kind.LOOSENED, before, after,
                                         "the rule now applies to this status" if before is None
                                         else "the rule no longer applies to this status"))
            continue
        breaks, why = _status_breaks(status, added=after)
        changes.append(Change(f"probe at {status}", "", "verdict", Kind.LOOSENED if after else Kind.TIGHTENED,
                              "passes" if before else "fails", "passes" if after else "fails", breaks,
                              f"a plain JSON answer at {status} now {'passes' if after else 'fails'}: {why}"))
    return _Outcome.of(changes, "probed with a plain JSON answer at every status either document lists")


def _security(spec: Spec) -> Any:
    """The operation's effective security requirement, with the schemes it names (prose left out)."""
    requirement = spec.operation.get("security", spec.document.get("security", []))
    schemes = spec.document.get("components", {}).get("securitySchemes", {})
    resolved = []
    for alternative in requirement if isinstance(requirement, list) else []:
        if isinstance(alternative, dict):
            resolved.append({
                name: {"scopes": scopes, "scheme": {k: v for k, v in (schemes.get(name) or {}).items() if k != "description"}}
                for name, scopes in alternative.items()
            })
    return resolved or None


def _auth_rule(form: AuthForm, side: _Side, old: Spec, new: Spec) -> _Outcome:
    before, after = _security(old), _security(new)
    if canonical(before) == canonical(after):
        return _Outcome(Kind.UNCHANGED)
    if before is None or after is None:
        return _Outcome.whole(after is not None, side, "the operation's security requirement")
    return _Outcome.of([Change("request", "", "security", Kind.CHANGED, plain(before), plain(after), _BOTH,
                               "the credentials the operation requires changed")])


def _acceptance_rule(form: Acceptance, side: _Side, old: Spec, new: Spec) -> _Outcome:
    before = any(200 <= s < 300 for s in old.documented_statuses)
    after = any(200 <= s < 300 for s in new.documented_statuses)
    if before == after:
        return _Outcome(Kind.UNCHANGED, note="which bodies are valid is told by the request rules")
    return _Outcome.whole(after, side, "a 2xx status is documented")


def _history_rule(form: ResponseHistory, side: _Side, old: Spec, new: Spec) -> _Outcome:
    """A rule across responses (e.g. ids never repeat): the document decides only which statuses it covers."""
    before, after = form.statuses(old), form.statuses(new)
    if before == after:
        return _Outcome(Kind.UNCHANGED, note="what it judges is read from the responses, not the document")
    changes = [_scope_change(f"response {status}", Kind.TIGHTENED, None, status, "now covered") for status in sorted(after - before)]
    changes += [_scope_change(f"response {status}", Kind.LOOSENED, status, None, "no longer covered") for status in sorted(before - after)]
    return _Outcome.of(changes)


# How each form says it is compared (`Form.compared_as`): the comparison of each kind.
_COMPARISONS: dict[str, Callable[[Any, _Side, Spec, Spec], _Outcome]] = {
    "conditional": _conditional_rule,
    "request": _request_rule,
    "body-type": _request_rule,
    "response-schema": _response_schema_rule,
    "predicate": _predicate_rule,
    "history": _history_rule,
    "auth": _auth_rule,
    "acceptance": _acceptance_rule,
}


def _rule_change(rule: Rule, old: Spec, new: Spec, texts: tuple[str, str]) -> RuleChange:
    compare = _COMPARISONS.get(rule.form.compared_as)
    outcome = (compare(rule.form, _side(rule), old, new) if compare is not None
               else _Outcome(Kind.NOT_COMPARED, note="this rule's form reads nothing from the document"))
    return RuleChange(rule.id, rule.level.value, rule.subject.value, outcome.kind, outcome.breaks, outcome.changes,
                      _stale_quotes(rule, *texts), outcome.note)


# --- stale prose -----------------------------------------------------------------------------

_QUOTE = re.compile(r'"([^"]+)"')
_ELLIPSIS = re.compile(r"\s*(?:…|\.\.\.)\s*")


def _words(text: str) -> str:
    return " ".join(text.split()).casefold()


def _document_text(spec: Spec) -> str:
    """Every string of the document as written (keys, descriptions, enum values), one line."""
    parts: list[str] = []

    def collect(node: Any) -> None:
        if isinstance(node, str):
            parts.append(node)
        elif isinstance(node, dict):
            for key, value in node.items():
                parts.append(str(key))
                collect(value)
        elif isinstance(node, list):
            for item in node:
                collect(item)

    collect(spec.original)
    return "\n".join(_words(p) for p in parts)


def _quoted(text: str, corpus: str) -> bool:
    """Whether `corpus` holds the quote (its parts around an ellipsis, in order, in one string)."""
    pieces = [_words(p) for p in _ELLIPSIS.split(text) if p.strip()]
    for line in corpus.split("\n"):
        at = 0
        for piece in pieces:
            found = line.find(piece, at)
            if found < 0:
                break
            at = found + len(piece)
        else:
            return bool(pieces)
    return False


def _stale_quotes(rule: Rule, before: str, after: str) -> tuple[str, ...]:
    """The rule's quotes of the old document that the new one no longer holds."""
    quotes = _QUOTE.findall(rule.source)
    return tuple(printable(q) for q in quotes if _quoted(q, before) and not _quoted(q, after))
