"""Valid request bodies, built from the document, the catalogue and the user's fixtures.

Every positive case and every negative case starts from a body this module builds, so a
negative case breaks exactly the one rule it mutates. The conditional rules are not
restated here: the factory reads the catalogue's `RequiredWhen` / `ForbiddenWhen` forms
and its open points ("avoid" ones are never sent in a valid body).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field, replace
from typing import Any

from migma_contract.contract.catalogue import BATCH_TYPES, RULES, SINGLE_TYPE
from migma_contract.contract.rules import NotExercisable
from migma_contract.contract.validators import contract_for
from migma_contract.core.flags import flag
from migma_contract.document.spec import Spec

__all__ = ["FIXTURE_FIELDS", "RESERVED_DOMAINS", "BodyFactory", "FixtureField", "Fixtures", "NotExercisable"]

RESERVED_DOMAINS = ("example.com", "example.net", "example.org", ".test", ".example", ".invalid")



@dataclass(frozen=True)
class FixtureField:
    """One fixture: the `Fixtures` attribute, the request property it fills, its option, and
    the value an open target gets instead (`{domain}`: the recipient domain)."""

    attribute: str
    prop: str
    option: str
    generated: str
    recipient_type: str | None = None  # recipientId: for which batch type
    needed_when_bound: bool = True  # False: a generated value still serves a data-bound target


# The one map between fixtures, request properties and options (the options table's fixture
# rows carry the same flags; tests/test_options.py holds them to it).
FIXTURE_FIELDS: tuple[FixtureField, ...] = (
    FixtureField("from_address", "from", "--from", "sender@{domain}", needed_when_bound=False),
    FixtureField("email_id", "emailId", "--email-id", "email_contract_check"),
    FixtureField("conversation_id", "conversationId", "--conversation-id", "conversation_contract_check"),
    FixtureField("project_id", "projectId", "--project-id", "project_contract_check"),
    *(FixtureField(f"{kind}_id", "recipientId", f"--{kind}-id", f"{kind}_contract_check", kind) for kind in BATCH_TYPES),
)
_BY_PROP = {f.prop: f for f in FIXTURE_FIELDS if f.recipient_type is None}
_BY_TYPE = {f.recipient_type: f for f in FIXTURE_FIELDS if f.recipient_type is not None}


@dataclass(frozen=True)
class Fixtures:
    """Real values of a target with its own data (staging), given by the user.

    A target given any of them is *data-bound*: valid requests use them, and a variant
    whose fixture is missing is not exercised. A target given none is *open*: generated
    values are used and must be accepted.
    """

    from_address: str | None = None
    email_id: str | None = None
    conversation_id: str | None = None
    project_id: str | None = None
    audience_id: str | None = None
    segment_id: str | None = None
    tag_id: str | None = None
    providers: tuple[str, ...] | None = None
    recipient_domain: str = "example.com"

    @property
    def data_bound(self) -> bool:
        return self.providers is not None or any(getattr(self, f.attribute) is not None for f in FIXTURE_FIELDS)

    def recipient_id(self, recipient_type: str) -> str | None:
        fixture = _BY_TYPE.get(recipient_type)
        return getattr(self, fixture.attribute) if fixture else None

    def value_of(self, prop: str) -> str | None:
        """The fixture given for request property `prop` (not recipientId: see `recipient_id`)."""
        fixture = _BY_PROP.get(prop)
        return getattr(self, fixture.attribute) if fixture else None

    def with_domain(self, domain: str) -> Fixtures:
        return replace(self, recipient_domain=domain)


@dataclass
class BodyFactory:
    """Builds valid bodies and valid property values for one document and target."""

    spec: Spec
    fixtures: Fixtures = field(default_factory=Fixtures)

    def __post_init__(self) -> None:
        self._keepers = [r.form for r in RULES if r.form.condition is not None]  # the forms a valid body must keep
        self._avoid = [(p, v) for p, v in contract_for(self.spec).open_point_validators if p.effect == "avoid"]
        self._types = list(self.spec.request_properties.get("recipientType", {}).get("enum", [SINGLE_TYPE, *BATCH_TYPES]))

    # -- values --------------------------------------------------------------------------

    def valid_value(self, prop: str, recipient_type: str | None = None) -> Any:
        """A value of `prop` that no reasonable server may refuse (fixtures first)."""
        fx = self.fixtures
        domain = fx.recipient_domain
        generated: dict[str, Any] = {
            "recipientEmail": f"recipient@{domain}",
            "fromName": "Contract Check",
            "replyTo": f"reply@{domain}",
            "subject": "Contract check",
            "variables": {"firstName": "Ada"},
            "transactional": True,
        }
        if prop in generated:
            return copy.deepcopy(generated[prop])
        if prop == "recipientId":
            kind = recipient_type if recipient_type in BATCH_TYPES else self._first_batch_type()
            return self._fixture_or(_BY_TYPE[kind])
        if prop in _BY_PROP:
            return self._fixture_or(_BY_PROP[prop])
        schema = self.spec.request_properties.get(prop, {})
        if "default" in schema:
            return schema["default"]
        if schema.get("enum"):
            return schema["enum"][0]
        return {"string": "x", "boolean": True, "integer": 1, "number": 1, "object": {}, "array": []}.get(
            schema["type"] if isinstance(schema.get("type"), str) else "string", "x"
        )

    def sample_value(self, prop: str) -> Any:
        """A well-formed value of `prop` (the fixture, else a generated one), never raising."""
        try:
            return self.valid_value(prop)
        except NotExercisable:
            return BodyFactory(self.spec, Fixtures(recipient_domain=self.fixtures.recipient_domain)).valid_value(prop)

    def enum_value(self, prop: str, value: str) -> str:
        """An enum value for a valid body; a provider must be connected on a target with its own data."""
        default = self.spec.request_properties.get(prop, {}).get("default")
        connected = self.fixtures.providers or ()
        if prop == "providerType" and value != default and self.fixtures.data_bound and value not in connected:
            raise NotExercisable(f"providerType {value!r} must be connected on the target: pass {flag('--provider')} {value}")
        return value

    def _fixture_or(self, fixture: FixtureField) -> str:
        value: str | None = getattr(self.fixtures, fixture.attribute)
        if value is not None:
            return value
        if self.fixtures.data_bound and fixture.needed_when_bound:
            raise NotExercisable(f"needs a real value on a target with its own data: pass {flag(fixture.option)}")
        return fixture.generated.format(domain=self.fixtures.recipient_domain)

    def _first_batch_type(self) -> str:
        for kind in BATCH_TYPES:
            if not self.fixtures.data_bound or self.fixtures.recipient_id(kind) is not None:
                return kind
        raise NotExercisable(f"needs an audience, segment or tag of the target: pass {flag('--audience-id')}, {flag('--segment-id')} or {flag('--tag-id')}")

    # -- bodies --------------------------------------------------------------------------

    @property
    def recipient_types(self) -> list[str]:
        return list(self._types)

    def valid_body(self, recipient_type: str | None = None) -> dict[str, Any]:
        """A minimal body every rule accepts, sending to `recipient_type` (email by default)."""
        kind = recipient_type or SINGLE_TYPE
        body: dict[str, Any] = {"recipientType": kind}
        for prop in self.spec.request_required:
            if prop not in body:
                body[prop] = self.valid_value(prop, kind)
        body["emailId"] = self.valid_value("emailId", kind)
        return self.complete(body)

    def complete(self, body: dict[str, Any]) -> dict[str, Any]:
        """Add what the conditional rules require, drop what they forbid, avoid open points."""
        for form in self._keepers:
            form.keep(body, self.valid_value)
        for point, validator in self._avoid:
            if point.drop and validator.is_valid(body):
                body.pop(point.drop, None)
        order = {name: index for index, name in enumerate(self.spec.request_properties)}
        return dict(sorted(body.items(), key=lambda item: order.get(item[0], len(order))))

    def body_where_relevant(self, prop: str) -> dict[str, Any]:
        """A valid body in which `prop` matters (recipientId only counts on batch sends)."""
        for form in self._keepers:
            condition = form.condition
            if condition is not None and condition.required and condition.prop == prop:
                for kind in condition.values:
                    try:
                        return self.valid_body(kind)
                    except NotExercisable:
                        continue
                raise NotExercisable(f"no {' / '.join(condition.values)} send can be built: pass its fixture")
        return self.valid_body()
