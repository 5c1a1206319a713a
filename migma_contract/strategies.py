"""Hypothesis strategies for request bodies of POST /v1/sending, for use with `@given`.

    from hypothesis import given
    from migma_contract.strategies import valid_requests, invalid_requests

    @given(valid_requests(recipient_type="segment"))
    def test_my_client_builds_what_the_api_accepts(body): ...

    @given(invalid_requests(RULE_ID))  # a request rule's id, e.g. batch-needs-recipientId
    def test_my_server_refuses(body): ...

`valid_requests` draws bodies that satisfy every rule and leave nothing open (plain
addresses on a reserved domain, printable text); `invalid_requests(rule_id)` draws a valid
body and breaks exactly that one rule, the way the conformance plan does.
"""

from __future__ import annotations

import copy
import string
from typing import Any

from hypothesis import reject
from hypothesis import strategies as st

from ._bodies import BodyFactory, Fixtures
from ._catalogue import get_rule
from ._open_points import open_in_valid_body
from ._rules import NotExercisable, RequestForm
from ._spec import Spec
from ._validators import contract_for

__all__ = ["invalid_requests", "valid_requests"]

_LOCAL = st.text(alphabet=string.ascii_lowercase + string.digits, min_size=1, max_size=12)
_TEXT = st.text(
    alphabet=st.characters(categories=["L", "M", "N", "P", "S", "Zs"], exclude_characters="\u2028\u2029"),
    min_size=1, max_size=80,
).filter(lambda s: s.strip() != "")
_JSON_LEAF = st.none() | st.booleans() | st.integers(-10**9, 10**9) | st.floats(allow_nan=False, allow_infinity=False) | _TEXT
_JSON = st.recursive(_JSON_LEAF, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_TEXT, inner, max_size=4), max_leaves=8)


def _value_strategy(prop: str, schema: dict[str, Any], bodies: BodyFactory, required: bool) -> st.SearchStrategy[Any]:
    if schema.get("enum"):
        return st.sampled_from([v for v in schema["enum"] if _usable(bodies, prop, v)])
    if schema.get("format") == "email":
        return _LOCAL.map(lambda local: f"{local}@{bodies.fixtures.recipient_domain}")
    if schema.get("type") == "boolean":
        return st.booleans()
    if schema.get("type") == "object":
        return st.dictionaries(_TEXT, _JSON, max_size=4)
    return _TEXT


def _usable(bodies: BodyFactory, prop: str, value: Any) -> bool:
    try:
        bodies.enum_value(prop, value)
    except NotExercisable:
        return False
    return True


_FIXED = frozenset({"recipientType", "recipientId", "recipientEmail", "from", "emailId", "conversationId", "projectId"})


def _valid_bodies(bodies: BodyFactory, kinds: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    """Valid bodies of `kinds`; every strategy is built here once, none per draw (draws stay ~1 ms)."""
    spec = bodies.spec
    templates = {kind: bodies.valid_body(kind) for kind in kinds}
    optional = [
        (prop, prop in spec.request_required, _value_strategy(prop, schema, bodies, prop in spec.request_required))
        for prop, schema in spec.request_properties.items()
        if prop not in _FIXED
    ]
    address = _value_strategy("recipientEmail", {"format": "email"}, bodies, True)
    try:
        conversation: str | None = bodies.valid_value("conversationId")
    except NotExercisable:  # no conversation fixture on a data-bound target: keep emailId
        conversation = None
    kind_of = st.sampled_from(kinds)
    coin = st.booleans()

    @st.composite
    def draw_body(draw: st.DrawFn) -> dict[str, Any]:
        body = copy.deepcopy(templates[draw(kind_of)])
        for prop, required, strategy in optional:
            if required or draw(coin):
                body[prop] = draw(strategy)
        if "recipientEmail" in body:
            body["recipientEmail"] = draw(address)
        if conversation is not None and draw(coin):
            body["conversationId"] = conversation
            body.pop("emailId", None)
        return bodies.complete(body)

    return draw_body()


def valid_requests(
    recipient_type: str | None = None, *, fixtures: Fixtures | None = None, spec: Spec | None = None
) -> st.SearchStrategy[dict[str, Any]]:
    """Bodies every rule accepts and no reasonable server may refuse.

    `recipient_type` pins the recipient type; `fixtures` supplies a data-bound target's
    real values (sender, emailId, list ids), used wherever real data is needed.
    """
    contract = contract_for(spec)
    bodies = BodyFactory(contract.spec, fixtures or Fixtures())
    if recipient_type is not None and recipient_type not in bodies.recipient_types:
        raise ValueError(f"unknown recipient_type {recipient_type!r}; choose one of {', '.join(bodies.recipient_types)}")
    kinds, missing = [], None
    for kind in [recipient_type] if recipient_type else bodies.recipient_types:
        try:
            bodies.valid_body(kind)
            kinds.append(kind)
        except NotExercisable as exc:  # a data-bound target without this list's fixture
            missing = exc
    if not kinds:
        raise ValueError(f"no valid request can be built: {missing.reason if missing else 'no recipient type'}")
    validator = contract.request_validator("strict")
    return _valid_bodies(bodies, kinds).filter(
        lambda body: not validator.violations(body) and open_in_valid_body(contract, body, bodies.fixtures) is None
    )


class _Seeded(BodyFactory):
    """A factory whose valid body of one recipient type is a drawn one (shares `base`'s set-up)."""

    def __init__(self, base: BodyFactory, seed: dict[str, Any]) -> None:  # no super().__init__: reuse base's state
        self.__dict__.update(base.__dict__)
        self._seed = seed

    def valid_body(self, recipient_type: str | None = None) -> dict[str, Any]:
        kind = recipient_type or self._seed["recipientType"]
        if kind == self._seed["recipientType"]:
            return copy.deepcopy(self._seed)
        return super().valid_body(kind)


def invalid_requests(
    rule_id: str, *, fixtures: Fixtures | None = None, spec: Spec | None = None
) -> st.SearchStrategy[Any]:
    """Bodies that break exactly the request rule `rule_id`, and nothing else."""
    rule = get_rule(rule_id)
    form = rule.form
    if not isinstance(form, RequestForm):
        raise ValueError(f"{rule_id!r} constrains {rule.constrains}s, not request bodies; request rules can be broken alone")
    contract = contract_for(spec)
    fixtures = fixtures or Fixtures()
    base = BodyFactory(contract.spec, fixtures)
    validator = contract.request_validator("strict")
    seeds = valid_requests(fixtures=fixtures, spec=spec)
    start = st.integers(min_value=0, max_value=63)

    @st.composite
    def broken(draw: st.DrawFn) -> Any:
        seed = draw(seeds)
        try:
            built = [m.body for m in form.mutations(contract.spec, _Seeded(base, seed))]
        except NotExercisable:  # a data-bound target without the fixture this rule's cases need
            built = []
        offset = draw(start)
        for index in range(len(built)):  # the first mutation, from a drawn offset, that breaks this rule alone
            body = built[(offset + index) % len(built)]
            if {v.rule_id for v in validator.violations(body)} == {rule_id}:
                return body
        reject()
        return None

    return broken()
