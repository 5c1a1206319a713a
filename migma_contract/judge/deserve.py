"""What a request deserves: the one place that decides the status a conforming server answers.

From the request alone (its body, its `Authorization` header) and what the judging party
knows of the key, the catalogue says which rules the request breaks, which statuses keep
the contract, and what is left open. The plan's cases, the exploration's labels, the
judging of every exchange and the reference mock's refusals all ask `deserve`; each status
comes from a rule's `expected_status`, never from a literal.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from migma_contract.contract.catalogue import (
    ACCEPTS_VALID,
    AUTH_REQUIRED,
    AUTH_SCOPE,
    BODY_FORM,
    REFUSAL_STATUSES,
    get_rule,
    judge_credentials,
    rules_for,
)
from migma_contract.contract.rules import Level, RawBody, Refused, ScopeRequired
from migma_contract.contract.validators import Contract
from migma_contract.generate.bodies import Fixtures
from migma_contract.generate.open_points import open_in_valid_body, open_in_violation

__all__ = ["DATA_REFUSAL", "NOT_RECORDED", "Deserved", "Standing", "deserve", "parsed_body", "refusal_status"]


class Standing(StrEnum):
    """What the judging party knows of the Bearer key a request carries."""

    FULL = "full"  # a key known to hold email:send (the run's own, the mock's world)
    RESTRICTED = "restricted"  # a key known to lack email:send
    UNKNOWN = "unknown"  # a key known not to exist (the run made it up)
    UNSURE = "unsure"  # traffic: whether the key exists or may send does not show; given the benefit
    HIDDEN = "hidden"  # the recording masked the credential: nothing about it is judged


NOT_RECORDED: Any = object()  # a request body the recording did not keep: request rules not judged

_SCOPES = {
    Standing.FULL: frozenset({ScopeRequired.SCOPE}),
    Standing.UNSURE: frozenset({ScopeRequired.SCOPE}),
    Standing.RESTRICTED: frozenset(),
    Standing.UNKNOWN: None,
}
# A body that may break a rule (not recorded, or breaking one the contract leaves open): the request rules' statuses.
_BODY_STATUSES = REFUSAL_STATUSES
# A valid request the target's data refuses (an unverified domain, an unknown id): the document's one refusal, as for a bad body.
DATA_REFUSAL = min(REFUSAL_STATUSES)
_AUTH_STATUSES = frozenset({AUTH_REQUIRED.deserves, AUTH_SCOPE.deserves})
_ORDER = {rule: index for index, rule in enumerate(rules_for(Level.STRICT, ("contract", "vendor")))}
_IDS_AT = {level: frozenset(rule.id for rule in rules_for(level)) for level in Level}


@dataclass(frozen=True)
class Deserved:
    """What a request deserves, and from whom.

    `rules`: the rules a wrong answer breaks (none: no answer is judged), each kept by any of
    `statuses`. `client`: the rules the request itself breaks, with why. `unsettled`: the
    other answers that are not judged either way, because data the judge does not see (a
    key's standing, the target's records) or an open point may explain them; `notes` say why.
    """

    statuses: frozenset[int]
    rules: tuple[str, ...]
    why: str
    client: tuple[tuple[str, str, str], ...] = ()  # (rule id, what was expected, what the request did)
    unsettled: frozenset[int] = frozenset()
    unsettled_why: str = ""
    notes: tuple[str, ...] = ()
    valid: bool = False  # a rule-abiding JSON object (whatever its credentials)

    @property
    def expected(self) -> str:
        """The answers that keep the contract, for a sentence: "400 or 401 (the request breaks field-types)"."""
        return f"{' or '.join(str(s) for s in sorted(self.statuses))} ({self.why})"


def refusal_status(rule_ids: Iterable[str]) -> int:
    """The status a request breaking these rules deserves (the first in catalogue order decides; a refusing server
    names one): the reference mock's refusals come from here."""
    return min((get_rule(rule_id) for rule_id in rule_ids), key=_ORDER.__getitem__).deserves


def _scopes_of(standing: Standing) -> Any:
    scopes = _SCOPES.get(standing)
    return lambda key: scopes


def deserve(contract: Contract, level: Level, body: Any, authorization: str | None, standing: Standing, *,
            fixtures: Fixtures | None = None, data_known: bool = False) -> Deserved:
    """What a request with this (parsed) `body` and `Authorization` header deserves at `level`.

    `body`: the JSON value, a `RawBody` for bytes that are not one, or `NOT_RECORDED`.
    `data_known`: the request's data is the target's own (a check builds it from the
    fixtures, or the target is open), so a valid request must be accepted; otherwise (traffic)
    a documented refusal of a valid request may be the target's data speaking, and is not judged.
    """
    fixtures = fixtures or Fixtures()
    notes: list[str] = []
    client: list[tuple[str, str, str]] = []

    # -- the credentials, where knowable ---------------------------------------------------------------
    credentials: str | None = None  # the auth rule the credentials break
    if standing is not Standing.HIDDEN:
        refused = judge_credentials(authorization, _scopes_of(standing))
        if refused is not None:
            rule, why = refused
            credentials = rule.id
            client.append((rule.id, "an `Authorization: Bearer <key>` header" if rule is AUTH_REQUIRED
                           else f"a key with the {ScopeRequired.SCOPE} permission", why))

    # -- the body ----------------------------------------------------------------------------------------
    broken: list[str] = []
    valid = False
    unsure_body = True
    if body is NOT_RECORDED:
        notes.append("request body not recorded: request rules not judged")
    else:
        every = contract.request_validator(Level.STRICT).violations(body)
        in_level = [v for v in every if v.rule_id in _IDS_AT[level]]
        for violation in in_level:
            if open_in_violation(violation, body) is not None:
                notes.append(f"breaks {violation.rule_id} in a way the contract leaves open: not judged")
                continue
            if violation.rule_id not in broken:
                broken.append(violation.rule_id)
                client.append((violation.rule_id, get_rule(violation.rule_id).text, violation.message))
        if not every:
            valid, unsure_body = isinstance(body, dict), not isinstance(body, dict)
        elif not in_level:
            notes.append("breaks only rules above the selected level: not judged")
        elif broken:
            unsure_body = False
    body_statuses = frozenset(get_rule(r).deserves for r in broken)

    # -- the status it deserves ----------------------------------------------------------------------------
    if credentials == AUTH_REQUIRED.id:
        # No usable credentials: 401 first; with a bad body 400 is fine too (the document does not order them).
        statuses = frozenset({AUTH_REQUIRED.deserves}) | body_statuses | (_BODY_STATUSES if unsure_body else frozenset())
        why = "no usable Bearer credentials" + (", and a body that breaks a rule" if broken else "")
        return Deserved(statuses, (AUTH_REQUIRED.id, *broken), why, tuple(client), notes=tuple(notes), valid=valid)
    if credentials == AUTH_SCOPE.id:
        statuses = frozenset({AUTH_SCOPE.deserves}) | body_statuses
        why = f"a key without {ScopeRequired.SCOPE}" + (", and a body that breaks a rule" if broken else "")
        return Deserved(statuses, (AUTH_SCOPE.id, *broken), why, tuple(client), notes=tuple(notes), valid=valid)
    unsure_key = standing in (Standing.UNSURE, Standing.HIDDEN)
    if broken:
        statuses = body_statuses | (_AUTH_STATUSES if unsure_key else frozenset())
        return Deserved(statuses, tuple(broken), f"the request breaks {', '.join(broken)}", tuple(client),
                        notes=tuple(notes))
    if not valid:
        return Deserved(frozenset(), (), "nothing judged", tuple(client), notes=tuple(notes))

    # -- a valid request -------------------------------------------------------------------------------------
    statuses = {ACCEPTS_VALID.deserves}
    why = "a valid request"
    for point, validator in contract.open_point_validators:
        if point.effect == "either" and validator.is_valid(body):
            statuses |= _BODY_STATUSES
            why += f" (open point {point.id}: either answer)"
    unsettled: frozenset[int] = frozenset()
    unsettled_why = ""
    reason = open_in_valid_body(contract, body, fixtures)
    documented_errors = frozenset(s for s in contract.spec.documented_statuses if 400 <= s < 500)
    if reason:
        unsettled, unsettled_why = frozenset(range(400, 500)), f"an open point ({reason})"
    elif not data_known:
        unsettled = documented_errors
        unsettled_why = "data the traffic does not show (a key, a permission, an id, a domain) may explain it"
    elif unsure_key:
        unsettled, unsettled_why = _AUTH_STATUSES, "the key's standing does not show"
    return Deserved(frozenset(statuses), (ACCEPTS_VALID.id,), why, tuple(client), unsettled - statuses, unsettled_why,
                    tuple(notes), valid=True)


def parsed_body(raw: bytes | None, content_type: str | None = None) -> Any:
    """A request body as `deserve` reads it: the JSON value, a `RawBody` when it is none, `NOT_RECORDED` for None."""
    if raw is None:
        return NOT_RECORDED
    try:
        return BODY_FORM.parse(raw)
    except Refused:
        return RawBody(raw, content_type or "application/json")
