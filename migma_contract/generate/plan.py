"""The deterministic coverage plan: the fewest requests that exercise every rule.

- positive: one plain send per recipient type, the first of them again (identical, no
  `Idempotency-Key`: a send of its own, so a server answering it from a cache with the
  same `data.id` fails result-id-unique), then a pairwise-covering set (seeded with
  those plain sends) over every optional field (present / absent), every enum value,
  `transactional` true / false / default, and value classes for text and `variables`
  (ASCII, non-ASCII and emoji, long, nested, unicode keys); a field the conditional
  rules allow on some sends only (`recipientEmail`) takes its classes on those sends;
- auth: each credential the auth rules name as wrong, and the restricted key if given, on
  a valid send of every recipient type (`AuthForm.every_recipient_type`: a permission
  checked in some handlers only is caught);
- negative: the planned mutations of every request rule of the level (`form.planned`:
  all of them, or the form's pick), each breaking that rule alone;
- open: the value classes a tester of string fields expects where the document sets no
  bound (empty, blank, very long, astral and combining, bidi marks, control characters,
  a lone surrogate, numeric-looking), one request per class carrying it in every
  free-text field of an otherwise plain body. A server may accept or refuse them, so no
  request rule judges them; every response rule does (a crash is a finding, attributed
  to the field by the run). They cost one request per class, last in the plan.

Every response of every case is then checked against every response rule.

With the vendor set (`--with-vendor`), the plan adds, after the negative cases, the fewest
requests that judge it: a replay pair, a conflict pair, a pair under a second API key, one over-long key, and,
on a target with fault injection (the reference mock in-process), a send answered 503 then
retried, and a send answered 429 and retried after its `Retry-After`. Each pair has its own
`Idempotency-Key`, made for this run (`migma-contract-<uuid4>-<rule>`), used twice at most.

The minimal plan (`--plan minimal`) keeps one case per rule: the plain sends of two
recipient types and the first again (accepted sends, so result-id-unique is judged too), the first
credential of each auth rule, the first mutation of each request rule, and the vendor
requests when asked for.
"""

from __future__ import annotations

import copy
import functools
import itertools
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from migma_contract.contract.catalogue import ACCEPTS_VALID, IDEMPOTENCY_HEADER, REFUSAL_STATUSES, RULES, rules_for
from migma_contract.contract.rules import (
    Level,
    NotExercisable,
    Rule,
    RuleSet,
    Subject,
)
from migma_contract.contract.validators import Contract
from migma_contract.core.flags import flag
from migma_contract.generate.bodies import FIXTURE_FIELDS, BodyFactory
from migma_contract.generate.cases import Case, CaseAuth, slug

__all__ = ["IDEMPOTENCY_KEY_PREFIX", "Plan", "build_plan"]

IDEMPOTENCY_KEY_PREFIX = "migma-contract-"  # keys this toolkit made: recognisable in a target's logs

# --- value classes -------------------------------------------------------------------------

LONG_TEXT = ("A long line to check that long text is accepted. " * 12)[:512]
TEXT_CLASSES: dict[str, str] = {
    "ascii": "Contract check",
    "unicode": "Grüße aus Zürich, 世界 ✉️ 🎉",
    "long": LONG_TEXT,
}
VARIABLE_CLASSES: dict[str, dict[str, Any]] = {
    "ascii": {"firstName": "Ada", "plan": "pro", "visits": 3},
    "unicode": {"名前": "エイダ 🎉", "città": "Zürich", "emoji": "✉️"},
    "long": {"story": "x" * 10_000},
    "nested": {"order": {"items": [{"sku": "A1", "qty": 2}, {"sku": "B2", "qty": 1}], "total": 12.5}, "tags": ["new", "vip"], "flags": {"beta": True, "note": None}},
}
# Where the document sets no bound, a server may take or refuse these; it must not break on them.
OPEN_TEXT_CLASSES: dict[str, str] = {
    "empty": "",
    "whitespace-only": " \t\u00a0 ",
    "very-long": ("A very long text, to find where a server's length handling breaks. " * 300)[:20_000],
    "astral-combining": "\U0001d544\U0001d55a\U0001d558 \U0001f389 e\u0301 n\u0303 Z\u0351\u0368\u0364",
    "rtl-marks": "\u202eorder reversed\u202c \u200f\u05e9\u05dc\u05d5\u05dd\u200e",
    "control": "line one\r\nline two\ttab\u0007bell\u0000nul",
    "lone-surrogate": "half a pair: \ud83d",  # sent as the JSON escape \ud83d
    "numeric": "0123",
}
# Local parts of plain addresses (dot-atom, ASCII): what every reasonable server accepts.
ADDRESS_CLASSES: dict[str, str] = {
    "plain": "recipient",
    "dotted-subaddress": "first.last+contract-check",
}
ABSENT = "absent"
CONTENT_FIELDS = ("emailId", "conversationId")


@dataclass
class Factor:
    """One dimension of the positive cases: a field and the value classes it takes.

    `open_values` are classes a server may accept or refuse (never paired, never judged
    for acceptance); `only_when` names the field and values a conditional rule allows
    this one on (it takes its classes on those sends only).
    """

    name: str
    values: list[str]
    apply: Callable[[dict[str, Any], str, BodyFactory], None]
    open_values: list[str] = field(default_factory=list)
    only_when: tuple[str, tuple[str, ...]] | None = None

    def applies(self, choices: dict[str, str]) -> bool:
        return self.only_when is None or choices.get(self.only_when[0]) in self.only_when[1]


@dataclass
class Plan:
    cases: list[Case]
    not_exercised: dict[str, str] = field(default_factory=dict)
    variants_not_exercised: list[str] = field(default_factory=list)
    kind: str = "full"

    def by_rule(self) -> dict[str, list[Case]]:
        grouped: dict[str, list[Case]] = {}
        for case in self.cases:
            grouped.setdefault(case.rule_id, []).append(case)
        return grouped


def _set_or_drop(prop: str, value: Callable[[str, BodyFactory], Any]) -> Callable[[dict[str, Any], str, BodyFactory], None]:
    def apply(body: dict[str, Any], choice: str, bodies: BodyFactory) -> None:
        if choice == ABSENT:
            body.pop(prop, None)
        else:
            body[prop] = value(choice, bodies)

    return apply


def _content(body: dict[str, Any], choice: str, bodies: BodyFactory) -> None:
    for name in CONTENT_FIELDS:
        body.pop(name, None)
    if choice != "neither":
        body[choice] = bodies.valid_value(choice)


def _factors(contract: Contract, bodies: BodyFactory) -> list[Factor]:
    """The positive dimensions, read from the document's optional properties."""
    spec = contract.spec
    conditional = {r.form.condition.prop for r in RULES if r.form.condition is not None}
    factors: list[Factor] = []
    types = spec.request_properties.get("recipientType", {}).get("enum", [])
    factors.append(Factor("recipientType", list(types), lambda body, choice, b: body.update(recipientType=choice)))
    for prop, schema in spec.request_properties.items():
        if prop in ("recipientType", *CONTENT_FIELDS) or prop in conditional:
            continue
        required = prop in spec.request_required
        kind = schema.get("type")
        if schema.get("enum"):
            values = ([] if required else [ABSENT]) + [str(v) for v in schema["enum"]]
            factors.append(Factor(prop, values, _set_or_drop(prop, functools.partial(_enum_value, prop))))
        elif kind == "boolean":
            factors.append(Factor(prop, [ABSENT, "true", "false"], _set_or_drop(prop, lambda choice, b: choice == "true")))
        elif kind == "object":
            values = [ABSENT, *VARIABLE_CLASSES] if not required else list(VARIABLE_CLASSES)
            factors.append(Factor(prop, values, _set_or_drop(prop, lambda choice, b: copy.deepcopy(VARIABLE_CLASSES[choice]))))
        elif schema.get("format") == "email":
            if not required:
                factors.append(Factor(prop, [ABSENT, *ADDRESS_CLASSES], _set_or_drop(prop, lambda choice, b: _address(choice, b))))
        elif prop.endswith("Id"):
            if not required:
                factors.append(Factor(prop, [ABSENT, "present"], _set_or_drop(prop, functools.partial(_valid_value, prop))))
        elif kind == "string":  # free text
            values = list(TEXT_CLASSES) if required else [ABSENT, *TEXT_CLASSES]
            factors.append(Factor(prop, values, _set_or_drop(prop, lambda choice, b: _TEXT[choice]), open_values=list(OPEN_TEXT_CLASSES)))
    factors.append(Factor("content", ["emailId", "conversationId", "neither"], _content))
    for rule in RULES:  # an address a conditional rule requires on some sends only
        condition = rule.form.condition
        if condition is not None and condition.required and spec.request_properties.get(condition.prop, {}).get("format") == "email":
            factors.append(Factor(condition.prop, list(ADDRESS_CLASSES), _set_address(condition.prop),
                                  only_when=(condition.when, condition.values)))
    return factors


_TEXT = {**TEXT_CLASSES, **OPEN_TEXT_CLASSES}


def _enum_value(prop: str, choice: str, bodies: BodyFactory) -> str:
    return bodies.enum_value(prop, choice)


def _valid_value(prop: str, choice: str, bodies: BodyFactory) -> Any:
    return bodies.valid_value(prop)


def _address(choice: str, bodies: BodyFactory) -> str:
    """A generated address of one value class, on the recipient domain."""
    return f"{ADDRESS_CLASSES[choice]}@{bodies.fixtures.recipient_domain}"


def _set_address(prop: str) -> Callable[[dict[str, Any], str, BodyFactory], None]:
    def apply(body: dict[str, Any], choice: str, bodies: BodyFactory) -> None:
        if prop in body:  # only where the conditional rule put it
            body[prop] = _address(choice, bodies)

    return apply


def pairwise(factors: list[list[str]], seeds: Sequence[tuple[str, ...]] = ()) -> list[tuple[str, ...]]:
    """A small set of rows covering every pair of values of every two factors (greedy, deterministic).

    Pairs the `seeds` (rows sent anyway) already cover are not covered again; only the new
    rows are returned. Each new row starts from one uncovered pair of the two factors with
    the most pairs left, then takes for each other factor the value covering most.
    """
    combos = list(itertools.combinations(range(len(factors)), 2))
    uncovered = {(i, a, j, b) for i, j in combos for a in factors[i] for b in factors[j]}
    for seed in seeds:
        uncovered -= {(i, seed[i], j, seed[j]) for i, j in combos}
    rows: list[tuple[str, ...]] = []
    while uncovered:
        left: dict[tuple[int, int], int] = {}
        for i, _, j, _ in uncovered:
            left[(i, j)] = left.get((i, j), 0) + 1
        i0, j0 = max(sorted(left), key=lambda pair: left[pair])
        a0, b0 = min((a, b) for i, a, j, b in uncovered if (i, j) == (i0, j0))
        row: list[str | None] = [None] * len(factors)
        row[i0], row[j0] = a0, b0
        for k in range(len(factors)):
            if row[k] is not None:
                continue
            row[k] = max(factors[k], key=lambda v: sum(
                1 for m, chosen in enumerate(row)
                if chosen is not None and m != k and ((k, v, m, chosen) if k < m else (m, chosen, k, v)) in uncovered
            ))
        full = tuple(v for v in row if v is not None)
        uncovered -= {(i, full[i], j, full[j]) for i, j in combos}
        rows.append(full)
    return rows


def _plain_choices(factors: list[Factor]) -> dict[str, str]:
    plain = {f.name: (ABSENT if ABSENT in f.values else f.values[0]) for f in factors}  # "ascii", "plain", ...
    plain["content"] = "emailId"
    return plain


def _applying(factors: list[Factor], choices: dict[str, str]) -> dict[str, str]:
    """`choices` without the fields a conditional rule keeps out of this send."""
    return {f.name: choices[f.name] for f in factors if f.name in choices and f.applies(choices)}


def _build(factors: list[Factor], bodies: BodyFactory, choices: dict[str, str]) -> dict[str, Any]:
    body = bodies.valid_body(choices["recipientType"])
    for factor in factors:
        if factor.applies(choices):
            factor.apply(body, choices[factor.name], bodies)
    return bodies.complete(body)


def describe(choices: dict[str, str]) -> str:
    """What sets a send apart from the plainest one (only fields it carries)."""
    return ", ".join(f"{k}={v}" for k, v in choices.items() if v not in (ABSENT, "ascii") or k in ("recipientType", "content"))


def plainest(contract: Contract, bodies: BodyFactory, case: Case) -> dict[str, Any] | None:
    """The plainest valid body of the case's recipient type (None: the case has no factors, or no such body)."""
    factors = _factors(contract, bodies)
    choices = dict(case.factors)
    if "recipientType" not in choices:
        return None
    try:
        return _build(factors, bodies, {**_plain_choices(factors), "recipientType": choices["recipientType"]})
    except NotExercisable:
        return None


def suspects(contract: Contract, bodies: BodyFactory, case: Case) -> list[tuple[str, str]]:
    """The case's (field, value class) pairs that differ from the plainest send of its type."""
    plain = _plain_choices(_factors(contract, bodies))
    return [(name, value) for name, value in case.factors if name != "recipientType" and value != plain.get(name)]


def presence(contract: Contract, bodies: BodyFactory, name: str, value: str) -> bool:
    """Whether `value` is the plainest class of an optional field absent from the plainest send: a failure
    with it is caused by the field's presence, not by what its value is like."""
    factor = next((f for f in _factors(contract, bodies) if f.name == name), None)
    present = [v for v in factor.values if v != ABSENT] if factor is not None else []
    return factor is not None and ABSENT in factor.values and bool(present) and value == present[0]


def isolate(contract: Contract, bodies: BodyFactory, case: Case, name: str) -> dict[str, Any] | None:
    """The plainest body of the case's recipient type, with only factor `name` as in the case."""
    factors = _factors(contract, bodies)
    choices = dict(case.factors)
    if name not in choices:
        return None
    try:
        return _build(factors, bodies, {**_plain_choices(factors), "recipientType": choices["recipientType"], name: choices[name]})
    except NotExercisable:
        return None


def _positive_cases(contract: Contract, bodies: BodyFactory, plan: Plan) -> list[Case]:
    rule = ACCEPTS_VALID
    factors = _factors(contract, bodies)
    paired = [f for f in factors if f.only_when is None]
    conditional = [f for f in factors if f.only_when is not None]
    names = [f.name for f in paired]
    kinds = paired[0].values
    cases: list[Case] = []

    def make(choices: dict[str, str], case_id: str, label: str) -> Case:
        body = _build(factors, bodies, choices)
        expect = {rule.deserves}
        for point, validator in contract.open_point_validators:
            if point.effect == "either" and validator.is_valid(body):
                expect |= REFUSAL_STATUSES
                label += f" (open point {point.id}: 200 or 400)"
        return Case(case_id, rule.id, label, body, frozenset(expect), factors=tuple(_applying(factors, choices).items()))

    plain = _plain_choices(factors)
    allowed: dict[str, list[str]] = {"recipientType": []}
    for kind in kinds:
        try:
            cases.append(make({**plain, "recipientType": kind}, f"accepts-valid/plain-{kind}", f"a plain {kind} send"))
            allowed["recipientType"].append(kind)
        except NotExercisable as exc:
            plan.variants_not_exercised.append(f"recipientType={kind}: {exc.reason}")
    if not allowed["recipientType"]:
        return cases
    first_kind = allowed["recipientType"][0]
    for factor in factors[1:]:
        allowed[factor.name] = []
        only = factor.only_when
        carrier = first_kind if only is None else next((k for k in allowed["recipientType"] if k in only[1]), None)
        for value in factor.values:
            try:
                if carrier is None:
                    raise NotExercisable(f"no {' / '.join(only[1] if only else ())} send can be built")
                make({**plain, "recipientType": carrier, factor.name: value}, "probe", "probe")
                allowed[factor.name].append(value)
            except NotExercisable as exc:
                plan.variants_not_exercised.append(f"{factor.name}={value}: {exc.reason}")
    seeds = [tuple(dict(case.factors).get(name, plain[name]) for name in names) for case in cases]
    rows = [dict(zip(names, row, strict=True)) for row in pairwise([allowed[name] for name in names], seeds)]
    for factor in conditional:  # its classes in turn, on the sends that carry the field
        carrying = [row for row in rows if factor.applies(row)]
        for index, row in enumerate(carrying):
            row[factor.name] = allowed[factor.name][index % len(allowed[factor.name])] if allowed[factor.name] else plain[factor.name]
    for index, choices in enumerate(rows, 1):
        choices = {**plain, **choices}
        try:
            cases.append(make(choices, f"accepts-valid/pairwise-{index:02d}", f"valid send: {describe(_applying(factors, choices))}"))
        except NotExercisable:
            continue  # a combination the fixtures cannot serve; each value is still covered below
    exercised = {(name, value) for case in cases for name, value in case.factors}
    for factor in factors[1:]:
        for value in allowed[factor.name]:
            if (factor.name, value) not in exercised:
                kind = first_kind if factor.only_when is None or factor.applies({"recipientType": first_kind}) else factor.only_when[1][0]
                choices = {**plain, "recipientType": kind, factor.name: value}
                cases.append(make(choices, f"accepts-valid/{slug(factor.name)}-{slug(value)}", f"valid send: {factor.name}={value}"))
    return cases


def _open_cases(contract: Contract, bodies: BodyFactory) -> list[Case]:
    """One request per open value class, carrying it in every free-text field of a plain body."""
    factors = _factors(contract, bodies)
    free_text = [f for f in factors if f.open_values]
    if not free_text:
        return []
    plain = _plain_choices(factors)
    fields = ", ".join(f.name for f in free_text)
    cases = []
    for kind in factors[0].values:
        try:
            bodies.valid_body(kind)
        except NotExercisable:
            continue
        for value in free_text[0].open_values:
            choices = {**plain, "recipientType": kind, **{f.name: value for f in free_text}}
            try:
                body = _build(factors, bodies, choices)
            except NotExercisable:
                continue
            cases.append(Case(f"open/{slug(value)}", "", f"open value class {value} in {fields} (accepting or refusing it are both fine)",
                              body, frozenset(), factors=tuple(_applying(factors, choices).items())))
        break
    return cases


def build_plan(
    contract: Contract,
    level: Level | str,
    bodies: BodyFactory,
    *,
    api_key: str | None,
    restricted_key: str | None,
    second_key: str | None = None,
    sets: tuple[RuleSet, ...] = (RuleSet.CONTRACT,),
    kind: str = "full",
    key_token: str | None = None,
    can_inject: bool = True,
) -> Plan:
    """Every case the deterministic phase sends, in the order it sends them.

    `kind`: `full` or `minimal` (one case per rule, see the module docstring). `key_token`
    makes this run's Idempotency-Keys (a fresh uuid4 when not given). `can_inject`: whether
    the target takes injected faults (the vendor set's provoked 429 and 503 are planned only then).
    """
    minimal = kind == "minimal"
    plan = Plan(cases=[], kind=kind)
    selected = rules_for(level, sets)
    positives = _positive_cases(contract, bodies, plan)
    baseline = [c for c in positives if "/plain-" in c.id]
    rest = [c for c in positives if "/plain-" not in c.id]
    plan.cases.extend(baseline[:2] if minimal else baseline)
    if baseline:  # the first plain send again, identical and without a key: a new send, so a new data.id
        first = baseline[0]
        plan.cases.append(Case(f"{first.id}-again", first.rule_id, f"{first.label} again, identical (no {IDEMPOTENCY_HEADER}): "
                               "a send of its own", copy.deepcopy(first.body), first.expect, first.auth, first.headers,
                               factors=first.factors))
    if minimal:  # variants the minimal plan never meant to send are no news
        plan.variants_not_exercised.clear()
    body = _first_valid_body(bodies)
    for rule in selected:
        if rule.subject is Subject.AUTH:
            plan.cases.extend(_auth_cases(rule, body, bodies, plan, api_key, restricted_key, minimal))
    for rule in selected:
        if rule.subject is Subject.REQUEST:
            plan.cases.extend(_broken_alone(rule, contract, bodies, plan, minimal))
    # asked for explicitly, so before the pairwise sends: a tight budget cuts those first
    plan.cases.extend(_vendor_cases(selected, body, second_key, key_token or uuid.uuid4().hex, plan, can_inject))
    if not minimal:
        plan.cases.extend(rest)
        plan.cases.extend(_open_cases(contract, bodies))
    if not positives:
        needed = ", ".join(flag(f.option) for f in FIXTURE_FIELDS if f.needed_when_bound and f.recipient_type is None)
        plan.not_exercised[ACCEPTS_VALID.id] = f"no valid request can be built without the target's fixtures: pass {needed}"
    return plan


def _auth_cases(rule: Rule, body: dict[str, Any] | None, bodies: BodyFactory, plan: Plan, api_key: str | None,
                restricted_key: str | None, minimal: bool) -> list[Case]:
    """Each credential breaking an auth rule alone, on a valid send (of every recipient type where the form asks)."""
    variants = list(rule.form.header_variants(api_key, restricted_key))
    if not variants:
        plan.not_exercised[rule.id] = f"no key without email:send was given: pass {flag('--restricted-api-key')}"
    if body is None:
        plan.not_exercised[rule.id] = "no valid request can be built: pass the target's fixtures"
        return []
    sends: list[tuple[str | None, dict[str, Any]]] = [(None, body)]
    if rule.form.every_recipient_type and not minimal:
        sends = [(recipient, valid) for recipient, valid in _valid_bodies(bodies)]
    cases = []
    for label, headers in variants[:1] if minimal else variants:
        for recipient, sent in sends:
            cases.append(Case(
                f"{rule.id}/{slug(label)}" + (f"-{slug(recipient)}" if recipient and recipient != sends[0][0] else ""),
                rule.id, f"{label}, a {recipient} send" if recipient and len(sends) > 1 else label, copy.deepcopy(sent),
                frozenset({rule.deserves}), CaseAuth.EXPLICIT, tuple((headers or {}).items()),
            ))
    return cases


def _broken_alone(rule: Rule, contract: Contract, bodies: BodyFactory, plan: Plan, minimal: bool) -> list[Case]:
    """The bodies breaking a request rule alone that the plan sends (none for a rule only clients are held to)."""
    if not rule.form.judges_servers:
        plan.not_exercised[rule.id] = f"a rule for clients only: {rule.form.undecided('', None)}"
        return []
    try:
        mutations = list(rule.form.planned(contract.spec, bodies))
    except NotExercisable as exc:
        plan.not_exercised[rule.id] = exc.reason
        return []
    cases, seen = [], set()
    for mutation in mutations[:1] if minimal else mutations:
        case_id = f"{rule.id}/{slug(mutation.label)}"
        while case_id in seen:
            case_id += "-2"
        seen.add(case_id)
        cases.append(Case(case_id, rule.id, mutation.label, mutation.body, frozenset({rule.deserves})))
    return cases


def idempotency_key(token: str, rule: Rule, length: int | None = None) -> str:
    """This run's key for `rule`'s requests (`length` characters exactly when given)."""
    key = f"{IDEMPOTENCY_KEY_PREFIX}{token}-{rule.id}"
    return key if length is None else (key + "-" * length)[:length]


def _vendor_cases(selected: tuple[Rule, ...], body: dict[str, Any] | None, second_key: str | None, token: str,
                  plan: Plan, can_inject: bool) -> list[Case]:
    """The requests that judge the vendor set: a pair (or one request) per rule, each pair under its own key."""
    cases: list[Case] = []
    for rule in selected:
        form = rule.form
        if not form.keyed and not form.provoke:
            continue
        if body is None:
            plan.not_exercised[rule.id] = "no valid request can be built: pass the target's fixtures"
            continue
        if form.provoke and not can_inject:
            plan.not_exercised[rule.id] = (f"needs a {form.provoke} answer, and the target takes no injected faults (the "
                                           "reference mock in-process does): judged only when one comes during the run")
            continue
        key = idempotency_key(token, rule, form.key_length)
        keyed = ((IDEMPOTENCY_HEADER, key),)
        sends = form.keyed_sends(key)
        if any(send.credentials == "second" for send in sends) and not second_key:
            plan.not_exercised[rule.id] = f"needs a second full-scope key: pass {flag('--second-api-key')}"
            continue
        for send in sends:
            sent = {**body, "subject": f"{body.get('subject', '')} (another body)"} if send.body == "other-body" else body
            auth, headers = ((CaseAuth.EXPLICIT, (("Authorization", f"Bearer {second_key}"), *keyed))
                             if send.credentials == "second" else (CaseAuth.FULL, keyed))
            cases.append(Case(f"{rule.id}/{send.suffix}", rule.id, send.label, copy.deepcopy(sent), frozenset(), auth,
                              headers, step=send.step, inject=send.inject))
    return cases


def _valid_bodies(bodies: BodyFactory) -> list[tuple[str, dict[str, Any]]]:
    """A valid body of each recipient type that can be built, in the document's order."""
    found = []
    for kind in bodies.recipient_types:
        try:
            found.append((kind, bodies.valid_body(kind)))
        except NotExercisable:
            continue
    return found


def _first_valid_body(bodies: BodyFactory) -> dict[str, Any] | None:
    return next((body for _, body in _valid_bodies(bodies)), None)

