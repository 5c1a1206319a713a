"""What a request deserves: the one place that decides the status a conforming server answers.

From the request alone (its body, its `Authorization` header) and what the judging party
knows of the key, the catalogue says which rules the request breaks, which statuses keep
the contract, and what is left open. The plan's cases, the exploration's labels, the
judging of every exchange and the reference mock's refusals all ask `deserve`; each status
comes from a rule's `expected_status`, never from a literal.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from enum import StrEnum
from functools import lru_cache
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
from migma_contract.contract.rules import (
    LONE_SURROGATE,
    LeftOpen,
    Level,
    RawBody,
    Refused,
    Repeat,
    ScopeRequired,
    TooDeep,
    bearer_key,
    repeated_member,
)
from migma_contract.contract.validators import Contract
from migma_contract.generate.bodies import Fixtures
from migma_contract.generate.open_points import open_in_valid_body, open_in_violation
from migma_contract.judge.refusals import coded

__all__ = ["DATA_REFUSAL", "NOT_RECORDED", "Ambiguous", "Deserved", "Standing", "deserve", "parsed_body", "refusal_status"]


class Standing(StrEnum):
    """What the judging party knows of the Bearer key a request carries."""

    FULL = "full"  # a key known to hold email:send (the run's own, the mock's world)
    RESTRICTED = "restricted"  # a key known to lack email:send
    UNKNOWN = "unknown"  # a key known not to exist (the run made it up)
    UNSURE = "unsure"  # traffic: whether the key exists or may send does not show; given the benefit
    HIDDEN = "hidden"  # the recording masked the credential: nothing about it is judged


NOT_RECORDED: Any = object()  # a request body the recording did not keep: request rules not judged


@dataclass(frozen=True)
class Ambiguous:
    """A request its parties may read differently: judged on no guessed reading (its rules stand unjudged, as for a
    body not recorded); the exchange is judged in part (`why`). Its JSON gives a member name twice in one object
    (RFC 8259 §4, `member`), its bytes or a header leave the reading open (`reading`: a Content-Encoding, a leading
    BOM, deeper nesting than the toolkit reads, JSON whose reading RFC 8259 leaves open: `rules.LeftOpen`), or its headers do (`judge.verdict`: a media type other than
    `application/json`, a singleton field given twice)."""

    why: str

    @classmethod
    def member(cls, repeat: Repeat) -> Ambiguous:
        return cls(f"its request body gives {repeat.words()} in one object (RFC 8259 §4): which value the "
                   "server read does not show, so the request rules were not judged")

    @classmethod
    def reading(cls, what: str) -> Ambiguous:
        """A request body its parties may read differently: it has `what`."""
        return cls(f"its request body has {what}: how the server read it does not show, so the request rules were "
                   "not judged")


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
        return _expected(self.statuses, self.why)


@lru_cache(maxsize=256)  # a handful of (statuses, reason) pairs, asked of every judged exchange
def _expected(statuses: frozenset[int], why: str) -> str:
    return f"{' or '.join(str(s) for s in sorted(statuses))} ({why})"


def refusal_status(rule_ids: Iterable[str]) -> int:
    """The status a request breaking these rules deserves (the first in catalogue order decides; a refusing server
    names one): the reference mock's refusals come from here."""
    return min((get_rule(rule_id) for rule_id in rule_ids), key=_ORDER.__getitem__).deserves


def _scopes_of(standing: Standing) -> Any:
    scopes = _SCOPES.get(standing)
    return lambda key: scopes


@dataclass
class _BodyFacts:
    """What the body of a request shows: the rules it breaks, whether it is a valid object, what is left open."""

    broken: list[str]
    valid: bool
    unsure: bool  # it may break a rule (not recorded, or only in ways left open or above the level)


def deserve(contract: Contract, level: Level, body: Any, authorization: str | None, standing: Standing, *,
            fixtures: Fixtures | None = None, data_known: bool = False, answered: int | None = None) -> Deserved:
    """What a request with this (parsed) `body` and `Authorization` header deserves at `level`.

    `body`: the JSON value, a `RawBody` for bytes that are not one, or `NOT_RECORDED`.
    `data_known`: the request's data is the target's own (a check builds it from the
    fixtures, or the target is open), so a valid request must be accepted; otherwise (traffic)
    a documented refusal of a valid request may be the target's data speaking, and is not judged.
    `answered`: the status the request got, when judging one: a valid request answered 200 needs
    no reason why a refusal would be unsettled (the costly part, skipped).
    """
    if answered == _ACCEPTED and type(body) is dict and _settled_valid(contract, body) and _authorised(authorization, standing):
        # The common case, decided at once: a body keeping every request rule at every level, no "either" open point,
        # credentials that break no auth rule, answered 200: what the path below decides for it, with no reason to find.
        return _PLAIN_VALID
    notes: list[str] = []
    client: list[tuple[str, str, str]] = []
    credentials = _credentials(authorization, standing, client)
    if credentials == _EITHER:
        found = deserve(contract, level, body, _LENIENT_READING.format(bearer_key(authorization, lenient=True)), standing,
                        fixtures=fixtures, data_known=data_known, answered=answered)
        # the client broke auth-required; a server may refuse it so (401) or read the key as a lenient one does
        return replace(found, statuses=found.statuses | {AUTH_REQUIRED.deserves}, why=found.why + _EITHER_WHY,
                       client=(*client, *found.client), unsettled=found.unsettled - {AUTH_REQUIRED.deserves})
    facts = _body(contract, level, body, client, notes)
    broken, shown = facts.broken, tuple(client)
    body_statuses = frozenset(get_rule(r).deserves for r in broken)
    and_body = ", and a body that breaks a rule" if broken else ""
    if credentials == AUTH_REQUIRED.id:
        # No usable credentials: 401 first; with a bad body 400 is fine too (the document does not order them).
        statuses = frozenset({AUTH_REQUIRED.deserves}) | body_statuses | (_BODY_STATUSES if facts.unsure else frozenset())
        return Deserved(statuses, (AUTH_REQUIRED.id, *broken), "no usable Bearer credentials" + and_body, shown,
                        notes=tuple(notes), valid=facts.valid)
    if credentials == AUTH_SCOPE.id:
        return Deserved(frozenset({AUTH_SCOPE.deserves}) | body_statuses, (AUTH_SCOPE.id, *broken),
                        f"a key without {ScopeRequired.SCOPE}" + and_body, shown, notes=tuple(notes), valid=facts.valid)
    unsure_key = standing in (Standing.UNSURE, Standing.HIDDEN)
    if broken:
        statuses = body_statuses | (_AUTH_STATUSES if unsure_key else frozenset())
        return Deserved(statuses, tuple(broken), f"the request breaks {', '.join(broken)}", shown, notes=tuple(notes))
    if not facts.valid:
        return Deserved(frozenset(), (), "nothing judged", shown, notes=tuple(notes))
    return _valid(contract, body, fixtures or Fixtures(), data_known, unsure_key, shown, tuple(notes), answered)


_ACCEPTED = ACCEPTS_VALID.deserves
_PLAIN_VALID = Deserved(frozenset({ACCEPTS_VALID.deserves}), (ACCEPTS_VALID.id,), "a valid request", valid=True)
_AUTHORISED: dict[tuple[str | None, Standing], bool] = {}  # (Authorization header, standing) -> no auth rule broken
_AUTHORISED_SIZE, _AUTHORISED_CHARS = 256, 512  # a few clients' headers; a longer or a 257th is decided each time


def _settled_valid(contract: Contract, body: dict[str, Any]) -> bool:
    accepts = contract.settled_valid
    if accepts is None:
        return False
    try:
        return bool(accepts(body))
    except (UnicodeEncodeError, ValueError):  # a lone surrogate: the path below words it
        return False


def _authorised(authorization: str | None, standing: Standing) -> bool:
    """Whether these credentials break no auth rule (`_credentials` finds none), decided once per header and standing."""
    key = (authorization, standing)
    found = _AUTHORISED.get(key)
    if found is None:
        found = _credentials(authorization, standing, []) is None
        if len(_AUTHORISED) < _AUTHORISED_SIZE and (authorization is None or len(authorization) <= _AUTHORISED_CHARS):
            _AUTHORISED[key] = found
    return found


def _credentials(authorization: str | None, standing: Standing, client: list[tuple[str, str, str]]) -> str | None:
    """The auth rule the credentials knowably break (None: none, or not knowable), noted for the client; `_EITHER`
    when they break auth-required's form but a lenient server reads a key in them (`bearer_key(lenient=True)`)."""
    if standing is Standing.HIDDEN:
        return None
    refused = judge_credentials(authorization, _scopes_of(standing))
    if refused is None:
        return None
    rule, why = refused
    client.append((rule.id, "an `Authorization: Bearer <key>` header" if rule is AUTH_REQUIRED
                   else f"a key with the {ScopeRequired.SCOPE} permission", why))
    if rule is AUTH_REQUIRED and bearer_key(authorization) is None and bearer_key(authorization, lenient=True) is not None:
        return _EITHER
    return rule.id


_EITHER = "either"  # (no rule id: credentials a server may refuse or read)
_LENIENT_READING = "Bearer {}"
_EITHER_WHY = "; or 401: its Authorization separates Bearer from the key with HTAB, which a server may refuse or read"


def _body(contract: Contract, level: Level, body: Any, client: list[tuple[str, str, str]], notes: list[str]) -> _BodyFacts:
    """The rules of `level` the body breaks (each noted for the client once), and what is open about it."""
    if body is NOT_RECORDED:
        notes.append("request body not recorded: request rules not judged")
        return _BodyFacts([], False, True)
    if type(body) is Ambiguous:  # (the verdict says why it is judged in part)
        return _BodyFacts([], False, True)
    # The level's rules only: a rule above it is asked a yes or no (is it why the body is not valid?), never traced
    # or worded (a body of a million unknown fields cost known-fields' wording of each, at any level).
    in_level = contract.request_validator(level).violations(body)
    if not in_level:
        if level != Level.STRICT and contract.request_validator(Level.STRICT).breaks(body):
            notes.append("breaks only rules above the selected level: not judged")
            return _BodyFacts([], False, True)
        return _BodyFacts([], isinstance(body, dict), not isinstance(body, dict))
    broken: list[str] = []
    blamed: set[str] = set()
    for violation in in_level:
        # A break the contract leaves open (`Form.undecided`: a server may accept it) excuses the server's answer only:
        # the client broke the rule all the same, as validate_request and the mock say (pass Y5, F3).
        if violation.rule_id not in blamed:
            blamed.add(violation.rule_id)
            client.append((violation.rule_id, get_rule(violation.rule_id).text, violation.message))
        if open_in_violation(violation, body) is not None:  # (the note names no value: one note per rule, no client data)
            notes.append(f"breaks {violation.rule_id} in a way the contract leaves open to servers: the client's break; "
                         "the server's answer to it not judged")
        elif violation.rule_id not in broken:
            broken.append(violation.rule_id)
    return _BodyFacts(broken, False, not broken)


def _valid(contract: Contract, body: dict[str, Any], fixtures: Fixtures, data_known: bool, unsure_key: bool,
           client: tuple[tuple[str, str, str], ...], notes: tuple[str, ...], answered: int | None) -> Deserved:
    """A valid request deserves 200 (or either answer on an open point); what else is left unsettled, and why."""
    statuses = {ACCEPTS_VALID.deserves}
    why = "a valid request"
    for point, validator in contract.open_point_validators:
        if point.effect == "either" and validator.is_valid(body):
            statuses |= _BODY_STATUSES
            why += f" (open point {point.id}: either answer)"
    unsettled: frozenset[int] = frozenset()
    unsettled_why = ""
    if answered == ACCEPTS_VALID.deserves:  # accepted: nothing is left to explain
        return Deserved(frozenset(statuses), (ACCEPTS_VALID.id,), why, client, unsettled, unsettled_why, notes, valid=True)
    reason = open_in_valid_body(contract, body, fixtures)
    if reason:
        unsettled, unsettled_why = frozenset(range(400, 500)), f"an open point ({reason})"
    elif not data_known:
        unsettled = frozenset(s for s in contract.spec.documented_statuses if 400 <= s < 500)
        unsettled_why = "data the traffic does not show (a key, a permission, an id, a domain) may explain it"
    elif unsure_key:
        unsettled, unsettled_why = _AUTH_STATUSES, "the key's standing does not show"
    return Deserved(frozenset(statuses), (ACCEPTS_VALID.id,), why, client, unsettled - statuses, unsettled_why, notes, valid=True)


def parsed_body(raw: bytes | None, content_type: str | None = None, content_encoding: str | None = None) -> Any:
    """A request body as `deserve` reads it: the JSON value, a `RawBody` when it is none, `NOT_RECORDED` for None,
    `Ambiguous` when its parties may read it differently: a member name given twice, exactly or in another case (no
    one reading of it is the server's), a `Content-Encoding` (whether the server decodes request bodies does not show),
    a leading UTF-8 BOM (a parser may skip it), JSON nested deeper than the toolkit reads (a server may read deeper),
    JSON whose reading RFC 8259 leaves open (`LeftOpen`: a lone surrogate escape, a number beyond IEEE 754)."""
    if raw is None:
        return NOT_RECORDED
    if coded(content_encoding):
        assert content_encoding is not None
        return Ambiguous.reading(f"Content-Encoding {_shown(content_encoding)} (whether the server decodes request "
                                 "bodies does not show)")
    try:
        value = BODY_FORM.parse(raw)
    except TooDeep as exc:
        return Ambiguous.reading(f"JSON {exc.message.removeprefix('the JSON is ')} (the toolkit's limit: a server may "
                                 "read deeper)")
    except LeftOpen as exc:
        return Ambiguous.reading(_left_open(exc))
    except Refused:
        if raw.startswith(_BOM) and _json_after_bom(raw):
            return Ambiguous.reading("a UTF-8 byte order mark before its JSON (RFC 8259 §8.1: a parser may ignore it)")
        return RawBody(raw, content_type or "application/json")
    repeat = repeated_member(raw, value)
    return value if repeat is None else Ambiguous.member(repeat)


_BOM = b"\xef\xbb\xbf"


def _left_open(exc: LeftOpen) -> str:
    """What a body in JSON's grammar holds that RFC 8259 leaves to the implementation, for `Ambiguous.reading`."""
    if exc.message == LONE_SURROGATE:
        return ("a lone surrogate escape (\\ud800-\\udfff; RFC 8259 §8.2 leaves its handling to the implementation: "
                "Python's json and JSON.parse read it, a strict parser refuses it)")
    return f"a number beyond IEEE 754 (RFC 8259 §6 lets an implementation limit the range; {exc.message[-60:]})"


def _json_after_bom(raw: bytes) -> bool:
    """Whether what follows a leading BOM is JSON (then only the BOM is in doubt)."""
    try:
        BODY_FORM.parse(raw[len(_BOM):])
    except (TooDeep, LeftOpen):
        return True
    except Refused:
        return False
    return True


def _shown(text: str) -> str:
    return repr(text[:80]) + ("…" if len(text) > 80 else "")
