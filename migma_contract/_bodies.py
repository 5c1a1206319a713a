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

from ._catalogue import BATCH_TYPES, RULES, SINGLE_TYPE
from ._rules import ForbiddenWhen, NotExercisable, RequiredWhen
from ._spec import Spec
from ._validators import contract_for

__all__ = ["RESERVED_DOMAINS", "BodyFactory", "Fixtures", "NotExercisable"]

RESERVED_DOMAINS = ("example.com", "example.net", "example.org", ".test", ".example", ".invalid")

# Which fixture option feeds which property or recipient type.
RECIPIENT_ID_OPTION = {"audience": "--audience-id", "segment": "--segment-id", "tag": "--tag-id"}


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
        return any(
            value is not None
            for value in (
                self.from_address, self.email_id, self.conversation_id, self.project_id,
                self.audience_id, self.segment_id, self.tag_id, self.providers,
            )
        )

    def recipient_id(self, recipient_type: str) -> str | None:
        return {"audience": self.audience_id, "segment": self.segment_id, "tag": self.tag_id}.get(recipient_type)

    def with_domain(self, domain: str) -> Fixtures:
        return replace(self, recipient_domain=domain)


@dataclass
class BodyFactory:
    """Builds valid bodies and valid property values for one document and target."""

    spec: Spec
    fixtures: Fixtures = field(default_factory=Fixtures)

    def __post_init__(self) -> None:
        self._conditionals = [r.form for r in RULES if isinstance(r.form, (RequiredWhen, ForbiddenWhen))]
        self._avoid = [(p, v) for p, v in contract_for(self.spec).open_point_validators if p.effect == "avoid"]
        self._types = list(self.spec.request_properties.get("recipientType", {}).get("enum", [SINGLE_TYPE, *BATCH_TYPES]))

    # -- values --------------------------------------------------------------------------

    def valid_value(self, prop: str, recipient_type: str | None = None) -> Any:
        """A value of `prop` that no reasonable server may refuse (fixtures first)."""
        fx = self.fixtures
        domain = fx.recipient_domain
        generated: dict[str, Any] = {
            "recipientEmail": f"recipient@{domain}",
            "from": fx.from_address or f"sender@{domain}",
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
            return self._fixture_or(fx.recipient_id(kind), f"{kind}_contract_check", RECIPIENT_ID_OPTION[kind])
        if prop == "emailId":
            return self._fixture_or(fx.email_id, "email_contract_check", "--email-id")
        if prop == "conversationId":
            return self._fixture_or(fx.conversation_id, "conversation_contract_check", "--conversation-id")
        if prop == "projectId":
            return self._fixture_or(fx.project_id, "project_contract_check", "--project-id")
        schema = self.spec.request_properties.get(prop, {})
        if "default" in schema:
            return schema["default"]
        if schema.get("enum"):
            return schema["enum"][0]
        return {"string": "x", "boolean": True, "integer": 1, "number": 1, "object": {}, "array": []}.get(
            schema.get("type") if isinstance(schema.get("type"), str) else "string", "x"
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
            raise NotExercisable(f"providerType {value!r} must be connected on the target: pass --provider {value}")
        return value

    def _fixture_or(self, fixture: str | None, generated: str, option: str) -> str:
        if fixture is not None:
            return fixture
        if self.fixtures.data_bound:
            raise NotExercisable(f"needs a real value on a target with its own data: pass {option}")
        return generated

    def _first_batch_type(self) -> str:
        for kind in BATCH_TYPES:
            if not self.fixtures.data_bound or self.fixtures.recipient_id(kind) is not None:
                return kind
        raise NotExercisable("needs an audience, segment or tag of the target: pass --audience-id, --segment-id or --tag-id")

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
        kind = body.get("recipientType")
        for form in self._conditionals:
            if kind not in form.values:
                continue
            if isinstance(form, RequiredWhen) and form.prop not in body:
                body[form.prop] = self.valid_value(form.prop, kind)
            elif isinstance(form, ForbiddenWhen):
                body.pop(form.prop, None)
        for point, validator in self._avoid:
            if point.drop and validator.is_valid(body):
                body.pop(point.drop, None)
        order = {name: index for index, name in enumerate(self.spec.request_properties)}
        return dict(sorted(body.items(), key=lambda item: order.get(item[0], len(order))))

    def body_where_relevant(self, prop: str) -> dict[str, Any]:
        """A valid body in which `prop` matters (recipientId only counts on batch sends)."""
        for form in self._conditionals:
            if isinstance(form, RequiredWhen) and form.prop == prop:
                for kind in form.values:
                    try:
                        return self.valid_body(kind)
                    except NotExercisable:
                        continue
                raise NotExercisable(f"no {' / '.join(form.values)} send can be built: pass its fixture")
        return self.valid_body()
