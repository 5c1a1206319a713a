"""The rule model: what a rule is, and the forms a rule can take.

A rule's *form* is its machine-checkable shape. Request forms give a JSON Schema 2020-12
fragment (what a conforming body satisfies) and the ways to break the rule alone (for
the test plan and the `invalid_requests` strategy). Response forms give either a fragment
for the statuses they constrain, or a small predicate where JSON Schema cannot say it
(status codes, headers, timing, echoing the request). Fragments that depend on the
document (property types, enums, response schemas) are read from the `Spec`, so a newer
vendor document changes them without touching the catalogue.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

from migma_contract.contract.levels import Level, RuleSet
from migma_contract.core.bounded import json_int
from migma_contract.core.fields import trimmed
from migma_contract.core.untrusted import nesting_depth

if TYPE_CHECKING:
    from migma_contract.document.spec import Spec

__all__ = [
    "JSON_DECODER",
    "JSON_SCANNER",
    "Condition",
    "Form",
    "History",
    "KeyedPair",
    "KeyedRetry",
    "LeftOpen",
    "Level",
    "Mutation",
    "NotUtf8",
    "OutOfRange",
    "PlannedSend",
    "RawBody",
    "Replay",
    "ResponseFacts",
    "Rule",
    "RuleSet",
    "Subject",
    "TooDeep",
    "remembered",
]

JSON_TYPES = ("string", "number", "boolean", "object", "array", "null")


class Subject(StrEnum):
    """What a rule constrains."""

    REQUEST = "request"  # a body the server must reject with 400
    AUTH = "auth"  # credentials the server must reject with 401/403
    ACCEPTANCE = "acceptance"  # a valid request the server must accept
    RESPONSE = "response"  # every response must satisfy it
    IDEMPOTENCY = "idempotency"  # requests sharing an Idempotency-Key: what the second answer must show


class NotExercisable(Exception):
    """A case needs a value only the user can give (a fixture of a data-bound target)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Refused(Exception):
    """A request a rule's form refuses outright (the mock answers it with the rule's status)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotUtf8(Refused):
    """A body that is not UTF-8 (rule body-utf8); `text` is what a lenient reader makes of it (see `lenient_text`)."""

    def __init__(self, message: str, text: str) -> None:
        super().__init__(message)
        self.text = text


class TooDeep(Refused):
    """A JSON body nested deeper than the toolkit reads (`IsJsonObject.MAX_DEPTH`): the mock refuses it, but a server
    may read deeper, so traffic judges no party by it (`judge.deserve.parsed_body`)."""


class LeftOpen(Refused):
    """A body in JSON's grammar whose reading RFC 8259 leaves to the implementation: a lone surrogate escape (§8.2: "the
    behavior of software that receives JSON texts containing such values is unpredictable") or a number beyond IEEE
    754 (§6: implementations may limit the range). The mock refuses it; a correct server may read it (Python's `json`,
    JavaScript's `JSON.parse` do) or refuse it, so traffic judges no party by it (`judge.deserve.parsed_body`)."""


class OutOfRange(ValueError):
    """A JSON number beyond IEEE 754 (`1e400`), raised by the toolkit's JSON readers (RFC 8259 §6 leaves it open)."""


def each_buildable(items: Iterable[Any], build: Callable[[Any], Iterator[Mutation]]) -> Iterator[Mutation]:
    """Mutations for every item that can be built; NotExercisable only if none can."""
    missing: NotExercisable | None = None
    produced = False
    for item in items:
        try:
            built = list(build(item))
        except NotExercisable as exc:
            missing = exc
            continue
        produced = produced or bool(built)
        yield from built
    if not produced and missing is not None:
        raise missing


@dataclass(frozen=True)
class RawBody:
    """A request body that is not a JSON value in UTF-8 (empty, truncated, in another encoding)."""

    content: bytes
    content_type: str = "application/json"


@dataclass(frozen=True)
class Mutation:
    """A valid request changed so that it breaks exactly one rule."""

    label: str
    body: Any


class BodyFactory(Protocol):
    """Where mutations get their valid starting points from (see `_generate`)."""

    def valid_body(self, recipient_type: str | None = None) -> dict[str, Any]: ...
    def valid_value(self, prop: str) -> Any: ...
    def sample_value(self, prop: str) -> Any: ...
    def body_where_relevant(self, prop: str) -> dict[str, Any]: ...


@dataclass(slots=True)
class ResponseFacts:
    """One response as the response rules see it."""

    status: int
    headers: Mapping[str, str]
    media_type: str | None
    body: Any
    parsed: bool
    parse_error: str | None = None
    request: Any = None
    elapsed: float | None = None
    timeout: float | None = None
    documented: frozenset[int] | None = None  # the statuses the run's rule sets document (None: the document's)
    repeated: Repeat | None = None  # a member name an object of the body gives twice (`repeated_member`)
    unread: str | None = None  # why a JSON body was not read (nested too deep to validate): its rules stand unjudged


@dataclass(frozen=True)
class Condition:
    """A conditional rule's shape: `when` ∈ `values` ⇒ `prop` present (`required`) or absent."""

    when: str
    values: tuple[str, ...]
    prop: str
    required: bool


@dataclass(frozen=True)
class PlannedSend:
    """One request a form plans to judge its rule by (the plan makes it a case): neutral of how it is sent.

    `body`: "valid" (the plan's valid body) or "other-body" (another valid body); `credentials`: "full" (the run's
    key) or "second" (the second full-scope key); `step`: 1 or 2 of a pair under one Idempotency-Key;
    `inject`: a status injected into the answer.
    """

    suffix: str
    label: str
    step: int
    body: str = "valid"
    credentials: str = "full"
    inject: int | None = None


class Form:
    """What every form answers. Each facet has its default here; a form overrides the facets it has,
    so no other module asks what kind of form a rule has (`tests/test_forms.py` calls every facet of every form).

    Facets: judging (`fragment` for JSON Schema, `judged_statuses` for response rules), a valid value (`keep`,
    `condition`), breaking the rule alone (`mutations`, `header_variants`), the open points (`undecided`), the diff
    comparison (`compared_as`, `documented_fragment`), the plan's cases (`judges_servers`, `provoke`).
    """

    judges_servers = True  # False: a rule only clients are held to (the document lets a server accept more)
    every_recipient_type = False  # the plan sends each credential on a valid send of every recipient type
    compared_as = "none"  # how `diff` compares the rule between two documents (diff.compare dispatches on it)
    provoke: int | None = None  # a status the run injects to see the answers this rule judges (fault injection)

    @property
    def condition(self) -> Condition | None:
        """The conditional shape of the rule, if it is one (generators keep it, the plan varies the rest)."""
        return None

    def undecided(self, prop: str, body: Any) -> str | None:
        """Why a server may accept a body breaking this rule at `prop` after all (None: it must refuse). It excuses the
        server's answer only: the client broke the rule all the same, on every way in (pass Y5, F3)."""
        return None

    def message(self, pointer: str, detail: str) -> str:
        """A violation of the rule in words (at `pointer`, the validator's `detail`)."""
        return f"{pointer or '/'}: {detail}"

    def refusal(self, header: str | None, scopes: frozenset[str] | None) -> str | None:
        """Why credentials break the rule (None: they do not, or the rule is not about credentials)."""
        return None

    def mutations(self, spec: Spec, bodies: BodyFactory) -> Iterator[Mutation]:
        """Bodies breaking this rule alone (none: the rule is not about the body)."""
        return iter(())

    def planned(self, spec: Spec, bodies: BodyFactory) -> Iterator[Mutation]:
        """The mutations the deterministic plan sends (all of them, unless the form picks fewer)."""
        return self.mutations(spec, bodies)

    def header_variants(self, api_key: str | None, restricted_key: str | None) -> Iterator[tuple[str, dict[str, str] | None]]:
        """Credentials breaking this rule alone (none: the rule is not about credentials)."""
        return iter(())

    def keep(self, body: dict[str, Any], valid_value: Callable[[str, str | None], Any]) -> None:
        """Make a valid `body` keep this rule (add what it requires, drop what it forbids)."""
        condition = self.condition
        if condition is None or body.get(condition.when) not in condition.values:
            return
        if condition.required and condition.prop not in body:
            body[condition.prop] = valid_value(condition.prop, body.get(condition.when))
        elif not condition.required:
            body.pop(condition.prop, None)

    def documented_fragment(self, spec: Spec) -> dict[str, Any] | None:
        """The JSON Schema the document gives this rule to check (None: it gives it nothing), for `diff`."""
        return None

    def judged_statuses(self, spec: Spec) -> frozenset[int] | None:
        """The statuses whose responses this rule judges (None: not a rule on response bodies)."""
        return None

    def response_fragment(self, spec: Spec, status: int) -> dict[str, Any] | None:
        """The JSON Schema a response body of `status` satisfies under this rule (None: none it can say)."""
        return None

    def keyed_sends(self, key: str) -> list[PlannedSend]:
        """The requests (under the Idempotency-Key `key`) that judge this rule of the vendor set (none: not keyed)."""
        if self.provoke is None:
            return []
        return [PlannedSend(f"answered-{self.provoke}", f"a valid send answered {self.provoke} (injected), "
                            "retried after its Retry-After", 1, inject=self.provoke)]

    @property
    def keyed(self) -> bool:
        """Whether the rule is judged on answers under one Idempotency-Key (the run keeps the first answer)."""
        return False

    @property
    def across_responses(self) -> ResponseHistory | None:
        """The form as a rule judged across the answers of a run or a recording (None: judged one answer at a time)."""
        return None

    @property
    def key_length(self) -> int | None:
        """The length of the Idempotency-Key to send (None: an ordinary per-run key)."""
        return None


# --- request forms ---------------------------------------------------------------------


class RequestForm(Form):
    """A rule on the request body."""

    compared_as = "request"

    def fragment(self, spec: Spec) -> dict[str, Any]:
        raise NotImplementedError

    def documented_fragment(self, spec: Spec) -> dict[str, Any] | None:
        return self.fragment(spec)

    def message(self, pointer: str, detail: str) -> str:
        return f"{pointer or '/'}: {detail}"

    def locate(self, pointer: str) -> str:
        """The JSON pointer a violation is reported at (the validator's, unless refined)."""
        return pointer


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):  # 1e999: beyond IEEE 754, RFC 8259 §6 leaves it to the parser
        raise OutOfRange(f"the number {text[:40]} is out of range")
    return value


# The one reading of a JSON text, a request's and an answer's alike (`validators.response_facts`): RFC 8259 has no
# NaN, Infinity or -Infinity, and a number beyond IEEE 754 is no value the other party read.
JSON_DECODER = json.JSONDecoder(parse_constant=_reject_constant, parse_float=_finite_float, parse_int=json_int)
# The same reading with integers read in C (an answer's, `validators.response_facts`): an integer past Python's
# digit limit raises ValueError there, and the text is read again by `JSON_DECODER`.
JSON_SCANNER = json.JSONDecoder(parse_constant=_reject_constant, parse_float=_finite_float)


def decode_whole(decoder: json.JSONDecoder, text: str) -> Any:
    """`decoder.decode(text)`, by the decoder's scanner alone when no whitespace surrounds the value.

    Same value, same errors (anything else goes through `decode`), ~0.6 µs less for a small
    body: `decode` matches whitespace on both sides with two regular expressions first.
    """
    try:
        value, end = decoder.scan_once(text, 0)  # type: ignore[attr-defined]  # set by JSONDecoder.__init__, not in typeshed
    except StopIteration:
        return decoder.decode(text)  # raises, in decode's words
    return value if end == len(text) else decoder.decode(text)


class Repeat(NamedTuple):
    """A member name one object of a JSON text gives twice (`repeated_member`): `first` as first given, `second` as
    given again, the same or the same name in another case (`recipientType`, `RecipientType`)."""

    first: str
    second: str

    def words(self) -> str:
        """The repeat for people: "the member 'id' twice", or both spellings when they differ in case."""
        first = repr(self.first[:80]) + ("…" if len(self.first) > 80 else "")
        if self.first == self.second:
            return f"the member {first} twice"
        second = repr(self.second[:80]) + ("…" if len(self.second) > 80 else "")
        return (f"the member {first} and {second} (one name in two cases: readers that match names without case, "
                "Go's encoding/json, ASP.NET Core, Jackson's case-insensitive binding, keep either)")


class _Repeated(Exception):
    def __init__(self, repeat: Repeat) -> None:
        self.repeat = repeat


def _folded_apart(names: Any) -> Repeat | None:
    """Two of `names` (distinct strings) that are one name to a reader matching names without case; None: none."""
    seen: dict[str, str] = {}
    for name in names:
        folded = name.casefold()
        if folded in seen:
            return Repeat(seen[folded], name)
        seen[folded] = name
    return None


# Member-name lists seen without a repeat in another case (an API answers with a handful of shapes): found again by
# hash, ~0.3 µs instead of ~1 µs for folding each name. Bounded in entries and in what one holds (a hostile peer's
# distinct shapes are folded each time, never remembered).
_UNFOLDED: dict[tuple[str, ...], None] = {}
_UNFOLDED_MAX, _UNFOLDED_NAMES, _UNFOLDED_CHARS = 256, 32, 64


def case_repeat(*objects: Any) -> Repeat | None:
    """A name two members of one of `objects` (each a parsed JSON object, or anything else: skipped) give in two cases,
    or None. Cheap when there is none: a shape seen before, or a set of the folded names."""
    for value in objects:
        if type(value) is dict and len(value) > 1:
            names = tuple(value)
            if names in _UNFOLDED:
                continue
            if len(set(map(str.casefold, names))) != len(names):
                return _folded_apart(names)
            if len(_UNFOLDED) < _UNFOLDED_MAX and len(names) <= _UNFOLDED_NAMES and max(map(len, names)) <= _UNFOLDED_CHARS:
                _UNFOLDED[names] = None
    return None


def _unique_members(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found = dict(pairs)
    if len(found) != len(pairs):
        seen: set[str] = set()
        for name, _ in pairs:
            if name in seen:
                raise _Repeated(Repeat(name, name))
            seen.add(name)
    repeat = case_repeat(found)
    if repeat is not None:
        raise _Repeated(repeat)
    return found


_PAIRS_DECODER = json.JSONDecoder(parse_constant=lambda name: None, parse_int=lambda text: 0, object_pairs_hook=_unique_members)


def repeated_member(text: str | bytes, value: Any) -> Repeat | None:
    """A member name some object of the JSON `text` gives twice (RFC 8259 §4: what a reader then takes is anyone's
    guess), exactly or in another case (readers that match names without case take either), None when every name is
    unique. `value`: what `text` parsed to.

    Cheap for a body without one: each member's name is followed by one `:` outside strings, so a text with no more
    colons than the members `value` holds (counted in the top object and the objects directly in it) repeats no name
    exactly and holds no deeper member: only those objects' names are compared without case. A text with more colons
    (a colon in a string, deeper objects, a repeat) is read again, name by name.
    """
    colons = text.count(":" if type(text) is str else b":")  # type: ignore[arg-type]  # str or bytes, each with its own
    if not colons:
        return None
    if type(value) is dict:
        members = len(value)
        if colons > members:
            for item in value.values():
                if type(item) is dict:
                    members += len(item)
            if colons <= members:
                return case_repeat(value, *value.values())
        else:
            return case_repeat(value)  # (the objects in it hold no member)
    try:
        _PAIRS_DECODER.decode(text if type(text) is str else text.decode("utf-8", errors="replace"))  # type: ignore[union-attr]
    except _Repeated as repeated:
        return repeated.repeat
    except (ValueError, RecursionError):  # (the text parsed to `value`: not reached)
        return None
    return None


# The media type of a Content-Type given with different values (`core.fields.values_of`): no one media type, and no
# document's (content-type-json words the values).
CONFLICTING_MEDIA_TYPES = "(different values)"
# The media type of a Content-Type that is not one well-formed media type (`core.fields.media_type`: an empty member, a
# malformed parameter): no media type a strict client reads (content-type-json words it).
MALFORMED_MEDIA_TYPE = "(no well-formed media type)"

LONE_SURROGATE = "the body holds a lone surrogate (\\ud800-\\udfff), which is not a Unicode character"

# Byte order marks of the encodings RFC 4627 §3 allowed for JSON (RFC 8259 §8.1 allows UTF-8 alone), longest first.
_BOMS = ((b"\xff\xfe\x00\x00", "utf-32", "UTF-32"), (b"\x00\x00\xfe\xff", "utf-32", "UTF-32"),
         (b"\xff\xfe", "utf-16", "UTF-16"), (b"\xfe\xff", "utf-16", "UTF-16"))


def _other_encoding(raw: bytes) -> tuple[str, str] | None:
    """(codec, name) of a body in UTF-16 or UTF-32, told by its byte order mark or, without one, by the pattern of
    zero bytes its first two ASCII characters make (RFC 4627 §3); None for anything else."""
    head = raw[:4]
    if b"\x00" not in head and head[:1] not in _BOM_STARTS:  # UTF-8 text (almost every body): no mark, no zero byte
        return None
    for bom, codec, name in _BOMS:
        if raw.startswith(bom):
            return codec, name
    if len(head) < 4:
        return None
    return _ZERO_PATTERNS.get((head[0] == 0, head[1] == 0, head[2] == 0, head[3] == 0))


_BOM_STARTS = frozenset(bom[:1] for bom, _, _ in _BOMS)  # each mark that does not start with a zero byte starts so
_ZERO_PATTERNS = {(True, True, True, False): ("utf-32-be", "UTF-32BE"), (False, True, True, True): ("utf-32-le", "UTF-32LE"),
                  (True, False, True, False): ("utf-16-be", "UTF-16BE"), (False, True, False, True): ("utf-16-le", "UTF-16LE")}


def utf8_text(raw: bytes) -> str:
    """The text of a UTF-8 body; `NotUtf8` (with the text a lenient reader makes of it) for any other.

    A lenient reader (a stock JSON body parser) reads UTF-16 and UTF-32 by their byte order
    mark or zero-byte pattern, and anything else as UTF-8 with each invalid byte replaced by
    U+FFFD. A UTF-8 byte order mark is UTF-8 (RFC 8259 lets a parser ignore it or not).
    """
    head = raw[:4]
    other = _other_encoding(raw) if b"\x00" in head or head[:1] in _BOM_STARTS else None  # (UTF-8 text: no call)
    if other is not None:
        codec, name = other
        raise NotUtf8(f"the body is {name}, not UTF-8", raw.decode(codec, errors="replace"))
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise NotUtf8(f"the body is not UTF-8 (byte {exc.start}: {raw[exc.start:exc.start + 1]!r})",
                      raw.decode("utf-8", errors="replace")) from None


class IsJsonObject(RequestForm):
    """The body is a JSON object.

    Also the one place that turns raw bytes into the value the other rules judge: the
    mock parses with `parse`, the validator with the same code, so they cannot disagree
    about what counts as JSON (strict UTF-8, no NaN/Infinity, no lone surrogates).
    """

    MAX_DEPTH = 64
    compared_as = "body-type"  # its fragment is fixed; the document's own word is the body's declared type

    def undecided(self, prop: str, body: Any) -> str | None:
        # A lone surrogate escape is JSON syntax with no character behind it (RFC 8259 §8.2):
        # the mock refuses it, but no server is failed for accepting it.
        if not isinstance(body, RawBody) and has_lone_surrogate(body):
            return "a lone surrogate: RFC 8259 leaves its handling to the implementation"
        return None

    def parse(self, raw: bytes, *, max_depth: int = MAX_DEPTH, lenient: bool = False) -> Any:
        """The JSON value of a request body; `Refused` saying why it is not one.

        A body that is not UTF-8 raises `NotUtf8` (rule body-utf8, a `Refused` too), unless
        `lenient`: then it is read as a lenient server reads it (`utf8_text`), and judged as that.
        """
        if not raw.strip():
            raise Refused("the body is empty; send a JSON object")
        try:
            text = utf8_text(raw)
        except NotUtf8 as exc:
            if not lenient:
                raise
            text = exc.text
        try:
            value = decode_whole(JSON_DECODER, text)
        except RecursionError:
            raise TooDeep(f"the JSON is nested deeper than {max_depth} levels") from None
        except OutOfRange as exc:
            raise LeftOpen(f"the body is not valid JSON: {exc}") from None
        except ValueError as exc:
            raise Refused(f"the body is not valid JSON: {str(exc)[:120]}") from None
        if "\\u" in text and ("\\ud" in text or "\\uD" in text) and has_lone_surrogate(value):  # (most bodies: one scan)
            raise LeftOpen(LONE_SURROGATE)
        # A value nests at most one deeper than its text has brackets (a scalar in the innermost
        # counts as a level): most bodies are not walked at all.
        if text.count("{") + text.count("[") >= max_depth and nesting_depth(value, max_depth) > max_depth:
            raise TooDeep(f"the JSON is nested deeper than {max_depth} levels")
        return value

    def fragment(self, spec: Spec) -> dict[str, Any]:
        return {"type": "object"}

    def mutations(self, spec: Spec, bodies: BodyFactory) -> Iterator[Mutation]:
        valid = bodies.valid_body()
        for label, value in (
            ("a JSON list", []),
            ("a JSON list holding a valid request", [valid]),
            ("a JSON string", json.dumps(valid)),
            ("a JSON number", 42),
            ("JSON null", None),
            ("JSON true", True),
        ):
            yield Mutation(f"body is {label}", value)
        yield Mutation("body is empty", RawBody(b""))
        yield Mutation("body is truncated JSON", RawBody(json.dumps(valid).encode()[:20]))

    def message(self, pointer: str, detail: str) -> str:
        return f"the body must be a JSON object: {detail}"


class Utf8Body(RequestForm):
    """The body is UTF-8 (RFC 8259 §8.1): a JSON object in another encoding, or with invalid bytes, is refused.

    Judged on the bytes (`utf8_text`), before the JSON is: nothing of it is a JSON Schema
    fragment. Each mutation is a valid request a lenient reader takes for one, so only this
    rule is broken; below its level, such a body is read as a lenient server reads it.
    """

    def fragment(self, spec: Spec) -> dict[str, Any]:
        return {}

    def mutations(self, spec: Spec, bodies: BodyFactory) -> Iterator[Mutation]:
        valid = bodies.valid_body()
        text = json.dumps(valid, ensure_ascii=False)
        yield Mutation("body is UTF-16 (with a byte order mark)", RawBody(text.encode("utf-16")))
        accented = json.dumps({**valid, "subject": "Grüße aus Zürich"}, ensure_ascii=False)
        yield Mutation("body is Latin-1 (ISO-8859-1)", RawBody(accented.encode("latin-1", errors="replace")))
        yield Mutation("body holds invalid UTF-8 bytes", RawBody(_with_bytes(valid, "subject", b"\xff\xfe")))

    def message(self, pointer: str, detail: str) -> str:
        return f"the body must be UTF-8 (RFC 8259 §8.1): {detail}"


class RequiredProperties(RequestForm):
    """The properties the request schema lists as required are present."""

    def fragment(self, spec: Spec) -> dict[str, Any]:
        return {"required": spec.request_required}

    def documented_fragment(self, spec: Spec) -> dict[str, Any] | None:
        return self.fragment(spec) if spec.request_required else None

    def mutations(self, spec: Spec, bodies: BodyFactory) -> Iterator[Mutation]:
        def drop(prop: str) -> Iterator[Mutation]:
            body = bodies.valid_body()
            body.pop(prop, None)
            yield Mutation(f"{prop} missing", body)

        yield from each_buildable(spec.request_required, drop)


def has_lone_surrogate(value: Any) -> bool:
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, str):
            if any("\ud800" <= ch <= "\udfff" for ch in node):
                return True
        elif isinstance(node, dict):
            stack.extend(node.keys())
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return False


def _with_bytes(body: dict[str, Any], prop: str, raw: bytes) -> bytes:
    """`body` as JSON whose `prop` string holds `raw` bytes: otherwise valid, only the bytes break it."""
    marker = "\u0000MARK\u0000"
    encoded = json.dumps({**body, prop: marker}, ensure_ascii=False).encode("utf-8")
    return encoded.replace(json.dumps(marker).encode(), b'"' + raw + b'"')


def _wrong_value(json_type: str, valid: Any) -> Any:
    """A value of `json_type` that a lax server might still coerce into `valid`'s type."""
    if json_type == "string":
        return str(valid).lower() if isinstance(valid, bool) else json.dumps(valid, ensure_ascii=False)
    if json_type == "number":
        return 1 if isinstance(valid, bool) else 123
    if json_type == "boolean":
        return True
    if json_type == "object":
        return {"value": valid}
    if json_type == "array":
        return [valid]
    return None


class DeclaredTypes(RequestForm):
    """Each property has the JSON type the schema declares (3.1: `null` is its own type)."""

    def _types(self, spec: Spec) -> dict[str, list[str]]:
        result = {}
        for name, schema in spec.request_properties.items():
            declared = schema.get("type")
            if declared is not None:
                result[name] = declared if isinstance(declared, list) else [declared]
        return result

    def fragment(self, spec: Spec) -> dict[str, Any]:
        return {"properties": {name: {"type": types if len(types) > 1 else types[0]} for name, types in self._types(spec).items()}}

    def documented_fragment(self, spec: Spec) -> dict[str, Any] | None:
        fragment = self.fragment(spec)
        return fragment if fragment.get("properties") else None

    def mutations(self, spec: Spec, bodies: BodyFactory) -> Iterator[Mutation]:
        def retype(item: tuple[str, list[str]]) -> Iterator[Mutation]:
            prop, types = item
            allowed = {"number" if t == "integer" else t for t in types}
            for json_type in JSON_TYPES:
                if json_type in allowed:
                    continue
                body = bodies.body_where_relevant(prop)
                body[prop] = _wrong_value(json_type, bodies.sample_value(prop))
                yield Mutation(f"{prop} is {json_type} ({json.dumps(body[prop], ensure_ascii=False)[:40]})", body)

        yield from each_buildable(self._types(spec).items(), retype)


@dataclass
class EnumMember(RequestForm):
    """A string property takes one of its enum values (its type is another rule's job)."""

    prop: str

    def _enum(self, spec: Spec) -> list[Any]:
        return list(spec.request_properties.get(self.prop, {}).get("enum", []))

    def fragment(self, spec: Spec) -> dict[str, Any]:
        return {"properties": {self.prop: {"if": {"type": "string"}, "then": {"enum": self._enum(spec)}}}}

    def documented_fragment(self, spec: Spec) -> dict[str, Any] | None:
        return self.fragment(spec) if "enum" in spec.request_properties.get(self.prop, {}) else None

    def mutations(self, spec: Spec, bodies: BodyFactory) -> Iterator[Mutation]:
        values = self._enum(spec)
        outside = [v for v in (str(values[0]).upper() if values else "X", "unknown", "") if v not in values]

        def set_outside(value: str) -> Iterator[Mutation]:
            body = bodies.body_where_relevant(self.prop)
            body[self.prop] = value
            yield Mutation(f"{self.prop} = {value!r}", body)

        yield from each_buildable(outside, set_outside)


class EmailFormat(RequestForm):
    """Properties declared `format: email` hold email addresses (asserted, not annotated).

    Broken by one string of each class of `email.NOT_MAILBOX` (the ways to miss RFC 5321's
    `Mailbox`), built from a valid address, in each address property (the strategies draw
    them all). The plan sends each class once, within the plan's budget: the display name
    in `from` (where email APIs take an RFC 5322 sender, `Name <a@b.c>`), the others in the
    properties in turn; angle brackets alone are left to exploration (the display name's
    case carries its `<…>`).
    """

    DISPLAY_NAME = "a display name"
    DISPLAY_FIELD = "from"
    UNPLANNED = frozenset({"angle brackets"})

    def _props(self, spec: Spec) -> list[str]:
        return [name for name, schema in spec.request_properties.items() if schema.get("format") == "email"]

    def fragment(self, spec: Spec) -> dict[str, Any]:
        return {"properties": {name: {"format": "email"} for name in self._props(spec)}}

    def documented_fragment(self, spec: Spec) -> dict[str, Any] | None:
        fragment = self.fragment(spec)
        return fragment if fragment.get("properties") else None

    def _broken(self, spec: Spec, bodies: BodyFactory, chosen: Callable[[str, str], bool]) -> Iterator[Mutation]:
        from migma_contract.contract.email import not_mailboxes

        def break_address(prop: str) -> Iterator[Mutation]:
            for label, value in not_mailboxes(bodies.sample_value("recipientEmail")):
                if chosen(label, prop):
                    body = bodies.body_where_relevant(prop)
                    body[prop] = value
                    yield Mutation(f"{prop} has {label} ({value!r})", body)

        yield from each_buildable(self._props(spec), break_address)

    def mutations(self, spec: Spec, bodies: BodyFactory) -> Iterator[Mutation]:
        return self._broken(spec, bodies, lambda label, prop: True)

    def planned(self, spec: Spec, bodies: BodyFactory) -> Iterator[Mutation]:
        from migma_contract.contract.email import NOT_MAILBOX

        props = self._props(spec)
        if not props:
            return iter(())
        where: dict[str, str] = {}
        turn = 0
        for klass in NOT_MAILBOX:
            if klass.name in self.UNPLANNED:
                continue
            if klass.name == self.DISPLAY_NAME and self.DISPLAY_FIELD in props:
                where[klass.name] = self.DISPLAY_FIELD
            else:
                where[klass.name] = props[turn % len(props)]
            turn += 1
        return self._broken(spec, bodies, lambda label, prop: where.get(label) == prop)

    def message(self, pointer: str, detail: str) -> str:
        return f"{pointer}: not an email address"

    def undecided(self, prop: str, body: Any) -> str | None:
        from migma_contract.contract.email import is_clearly_not_address

        value = body.get(prop) if isinstance(body, dict) else None
        if not is_clearly_not_address(value):
            return f"{prop} {value!r} is invalid only by a strict reading of RFC 5321"
        return None


def _condition(when: str, values: tuple[str, ...]) -> dict[str, Any]:
    """JSON Schema for "the body is an object whose `when` is one of `values`"."""
    return {"type": "object", "properties": {when: {"enum": list(values)}}, "required": [when]}


@dataclass
class _Conditional(RequestForm):
    """`when` ∈ `values` ⇒ something about `prop`: the shape both conditional forms share."""

    when: str
    values: tuple[str, ...]
    prop: str
    compared_as = "conditional"
    required = True  # the property must be present (False: absent)

    @property
    def condition(self) -> Condition:
        return Condition(self.when, self.values, self.prop, required=self.required)


@dataclass
class RequiredWhen(_Conditional):
    """`when` ∈ `values` ⇒ `prop` present."""

    def fragment(self, spec: Spec) -> dict[str, Any]:
        return {"if": _condition(self.when, self.values), "then": {"required": [self.prop]}}

    def mutations(self, spec: Spec, bodies: BodyFactory) -> Iterator[Mutation]:
        def omit(value: str) -> Iterator[Mutation]:
            body = bodies.valid_body(value)
            body.pop(self.prop, None)
            yield Mutation(f"{self.when} {value!r} without {self.prop}", body)

        yield from each_buildable(self.values, omit)

    def message(self, pointer: str, detail: str) -> str:
        return f"{self.prop} is required when {self.when} is {' / '.join(self.values)}"


@dataclass
class ForbiddenWhen(_Conditional):
    """`when` ∈ `values` ⇒ `prop` absent."""

    required = False

    def fragment(self, spec: Spec) -> dict[str, Any]:
        return {"if": _condition(self.when, self.values), "then": {"not": {"required": [self.prop]}}}

    def mutations(self, spec: Spec, bodies: BodyFactory) -> Iterator[Mutation]:
        def add(value: str) -> Iterator[Mutation]:
            body = bodies.valid_body(value)
            body[self.prop] = bodies.sample_value(self.prop)
            yield Mutation(f"{self.when} {value!r} with {self.prop}", body)

        yield from each_buildable(self.values, add)

    def message(self, pointer: str, detail: str) -> str:
        return f"{self.prop} is not allowed when {self.when} is {' / '.join(self.values)}"

    def locate(self, pointer: str) -> str:
        return f"{pointer}/{self.prop}"


def _squashed(name: str) -> str:
    """A property name without case or separators: `recipient_email` and `recipientEmail` meet."""
    return "".join(ch for ch in name.lower() if ch.isalnum())


def _snake(name: str) -> str:
    return "".join(f"_{ch.lower()}" if ch.isupper() else ch for ch in name)


class KnownFields(RequestForm):
    """Only the properties the document names: a misspelt field is refused, not ignored.

    The message suggests the property meant ("did you mean recipientEmail?"); the names it
    suggests from are those of every document this form's fragment was built for (in
    practice one).
    """

    judges_servers = False
    SERVERS_MAY_IGNORE = "a server may ignore properties the document does not name (its schema allows them)"

    def __init__(self) -> None:
        self._names: dict[str, str] = {}

    def undecided(self, prop: str, body: Any) -> str | None:
        return self.SERVERS_MAY_IGNORE

    def fragment(self, spec: Spec) -> dict[str, Any]:
        names = list(spec.request_properties)
        self._names.update({_squashed(name): name for name in names})
        # `not: {}` rather than `false`: each unknown property is then its own error, at its own pointer.
        return {"properties": dict.fromkeys(names, True), "additionalProperties": {"not": {}}}

    def mutations(self, spec: Spec, bodies: BodyFactory) -> Iterator[Mutation]:
        """Bodies breaking it (for `invalid_requests`); the plan sends none of them to a server."""
        misspelt = [name for name in spec.request_properties if _snake(name) != name][:2]

        def add(prop: str) -> Iterator[Mutation]:
            body = bodies.valid_body()
            body[_snake(prop)] = bodies.sample_value(prop)
            yield Mutation(f"unknown field {_snake(prop)} ({prop} misspelt)", body)

        yield from each_buildable(misspelt, add)

    def suggestion(self, name: str) -> str | None:
        """The known property `name` most likely means, if any."""
        import difflib

        if _squashed(name) in self._names:
            return self._names[_squashed(name)]
        close = difflib.get_close_matches(name, list(self._names.values()), n=1, cutoff=0.75)
        return close[0] if close else None

    def message(self, pointer: str, detail: str) -> str:
        name = pointer.rsplit("/", 1)[-1].replace("~1", "/").replace("~0", "~")
        meant = self.suggestion(name)
        hint = f"; did you mean {meant}?" if meant else ""
        return f"{name} is not a field of the request{hint}"


# --- auth forms -------------------------------------------------------------------------


class AuthForm(Form):
    """Credentials a server must refuse.

    `every_recipient_type`: the plan sends each credential with a valid send of every
    recipient type (a server may check it in some handlers only), not with one send.
    """

    every_recipient_type = False

    compared_as = "auth"

    def refusal(self, header: str | None, scopes: frozenset[str] | None) -> str | None:
        raise NotImplementedError



def bearer_key(header: str | None, *, lenient: bool = False) -> str | None:
    """The key of a well-formed `Authorization: Bearer <key>` value (scheme in any case, RFC 7235; one or more SP after
    it, RFC 9110 §11.4). `lenient`: the key a lenient server reads, which also takes HTAB after the scheme (Django REST
    framework and simplejwt split the header on any whitespace): the client broke the form, the server may read it."""
    text = trimmed(header or "")
    if lenient:
        text = text.replace("\t", " ")
    scheme, _, key = text.partition(" ")
    return trimmed(key) or None if scheme.lower() == "bearer" else None


class BearerRequired(AuthForm):
    UNKNOWN_KEY = "mc_unknown_0000000000000000"

    def refusal(self, header: str | None, scopes: frozenset[str] | None) -> str | None:
        """Why a server must answer 401 to this header (`scopes`: the key's, None if unknown)."""
        if scopes is not None:  # a known key, so it came in a well-formed header
            return None
        if not header:
            return "missing Authorization header; use 'Authorization: Bearer YOUR_API_KEY'"
        if bearer_key(header) is None:
            return "the Authorization header must be 'Bearer YOUR_API_KEY'"
        return "unknown API key"

    def header_variants(self, api_key: str | None, restricted_key: str | None) -> Iterator[tuple[str, dict[str, str] | None]]:
        yield "no Authorization header", {}
        key = api_key or self.UNKNOWN_KEY
        basic = base64.b64encode(f"api:{key}".encode()).decode()
        yield "Basic scheme instead of Bearer", {"Authorization": f"Basic {basic}"}
        yield "the key without the Bearer scheme", {"Authorization": key}
        yield "an unknown key", {"Authorization": f"Bearer {self.UNKNOWN_KEY}"}


class ScopeRequired(AuthForm):
    SCOPE = "email:send"
    every_recipient_type = True  # a permission is checked where a send is handled, and single and batch sends differ

    def refusal(self, header: str | None, scopes: frozenset[str] | None) -> str | None:
        """Why a server must answer 403: a known key without the send permission."""
        if scopes is not None and self.SCOPE not in scopes:
            return f"this API key lacks the {self.SCOPE} permission"
        return None

    def header_variants(self, api_key: str | None, restricted_key: str | None) -> Iterator[tuple[str, dict[str, str] | None]]:
        if restricted_key:
            yield "a key without email:send", {"Authorization": f"Bearer {restricted_key}"}


class Acceptance(Form):
    """Valid requests (built by the plan) must be accepted."""

    compared_as = "acceptance"


# --- response forms ---------------------------------------------------------------------


class ResponseForm(Form):
    """A rule every response (of some statuses) must satisfy."""

    def applies(self, spec: Spec, status: int) -> bool:
        raise NotImplementedError


@dataclass
class ResponseSchema(ResponseForm):
    """A JSON Schema fragment the (parsed) body satisfies, per status."""

    statuses: Callable[[Spec], frozenset[int]]
    build: Callable[[Spec, int], dict[str, Any]]
    # Whether a (parsed) body gives the rule something to judge (None: every body of its statuses does). A rule
    # about a field that is absent is not judged by that response: it neither passes nor fails there.
    speaks_of: Callable[[int, Any], bool] | None = None
    # The rule that says "the body is the document's schema for its status" (success-schema, error-schema): a body
    # that gives a member name twice is no one value of any schema (RFC 8259 §4), and breaks it.
    whole_body: bool = False
    compared_as = "response-schema"

    def applies(self, spec: Spec, status: int) -> bool:
        return status in self.statuses(spec)

    def judged_statuses(self, spec: Spec) -> frozenset[int]:
        return self.statuses(spec)

    def fragment(self, spec: Spec, status: int) -> dict[str, Any]:
        return self.build(spec, status)

    def response_fragment(self, spec: Spec, status: int) -> dict[str, Any] | None:
        return self.build(spec, status) if self.applies(spec, status) else None


@dataclass
class ResponsePredicate(ResponseForm):
    """A check JSON Schema cannot express; returns a message when broken."""

    when: Callable[[Spec, int], bool]
    check: Callable[[Spec, ResponseFacts], str | None]
    needs_body: bool = False
    needs_timing: bool = False  # judged only when the response's elapsed time is known
    # judged only when the request's JSON object is known (`ResponseFacts.request`): never kept on a request not
    # recorded, read otherwise by its parties, or rebuilt by its recorder (`judge.verdict`)
    needs_request: bool = False
    status_only: bool = False  # reads the status (and the documented statuses) alone: decided once per status
    media_only: bool = False  # of a read body, reads the status and the media type alone: decided once per Content-Type
    provoke: int | None = None  # a status the run injects to see such a response (a target with fault injection)
    speaks_of: Callable[[int, Any], bool] | None = None  # as for ResponseSchema: judged only where the body gives it a field
    compared_as = "predicate"

    def applies(self, spec: Spec, status: int) -> bool:
        return self.when(spec, status)


# What a rule across responses remembers of a value: digests of the replay scope it came under and of the request's
# body (None: no key; a body not recorded), and where it was first seen.
History = dict[bytes, tuple[bytes | None, bytes | None, str]]


def remembered(value: str) -> bytes:
    """What a history keeps of a value: its 16-byte BLAKE2b digest (a collision is as likely as guessing a 128-bit key)."""
    return hashlib.blake2b(value.encode("utf-8", errors="surrogatepass"), digest_size=16).digest()


class Replay(NamedTuple):
    """What makes a send an idempotent replay of an earlier one, as the vendor's idempotency page says: the same
    `Idempotency-Key` (`key`) under the same API key ("scoped per API key": `credentials`, the `Authorization` header)
    with the same body ("the same key with a different body answers 409": `body`, its bytes or JSON value; None when
    not recorded, then whether it was the same does not show and it is given the benefit of the doubt)."""

    key: str
    credentials: str | None
    body: Any = None

    @classmethod
    def of(cls, key: str | None, credentials: str | None, body: Any = None) -> Replay | None:
        """The replay a request may be (None: it carries no key), its key as a server reads it: without the optional
        whitespace around it (RFC 9110 §5.5: `k ` is the key `k`, whoever collected the field)."""
        return None if key is None else cls(trimmed(key), credentials, body)

    def scope(self) -> bytes:
        """The digest of the key in its API key's scope: the credentials as a server reads them (a Bearer key however
        spaced, else the header as sent), then the key."""
        credentials = self.credentials
        api_key = bearer_key(credentials, lenient=True) or trimmed(credentials or "")
        return remembered(f"{api_key}\x00{self.key}")

    def body_digest(self) -> bytes | None:
        """The digest of the body as a server comparing bodies may read it: its JSON value (members in any order, any
        spacing: equal bytes read alike, and a server comparing values calls these the same); its bytes when no JSON."""
        body = self.body
        if body is None:
            return None
        if isinstance(body, (bytes, bytearray)):
            if len(body) > _CANONICAL_BYTES:
                return hashlib.blake2b(body, digest_size=16).digest()
            try:
                body = json.loads(body)
            except (ValueError, RecursionError):
                return hashlib.blake2b(body, digest_size=16).digest()
        try:
            text = json.dumps(body, sort_keys=True, separators=(",", ":"))
        except (TypeError, ValueError, RecursionError):
            text = repr(body)
        return remembered("json:" + text)


_CANONICAL_BYTES = 1 << 20  # a body longer than this is compared by its bytes (reading it as JSON costs many times its size)


@dataclass
class ResponseHistory(ResponseForm):
    """A rule across the responses of one run, which JSON Schema (one response at a time) cannot say.

    `key` picks what a response says that must name one thing only (None: nothing to judge
    in this response). Whoever drives a run keeps one `memory` per rule and feeds every
    response through `judge`: a value seen before breaks the rule, unless the request is an
    idempotent replay of the first one (`Replay`: the same key, API key and body).

    The memory holds a fixed-size digest of each value and of its replay key (`remembered`),
    never the values: a server's ids and a client's keys are any length, and a proxy
    remembers up to a hundred thousand of them. A message names the value from the
    response at hand.
    """

    statuses: Callable[[Spec], frozenset[int]]
    key: Callable[[ResponseFacts], str | None]
    what: str  # how the message names the value, e.g. "data.id"
    compared_as = "history"

    def applies(self, spec: Spec, status: int) -> bool:
        return status in self.statuses(spec)

    def judged_statuses(self, spec: Spec) -> frozenset[int]:
        return self.statuses(spec)

    @property
    def across_responses(self) -> ResponseHistory:
        return self

    def judge(self, memory: History, facts: ResponseFacts,
              replay: Replay | None, label: str) -> tuple[bool, str | None]:
        """(whether this response was judged, the message when it breaks the rule); remembers it."""
        value = self.key(facts)
        if value is None:
            return False, None
        seen = remembered(value)
        first = memory.get(seen)
        scope = replay.scope() if replay is not None else None
        if first is None:
            memory[seen] = (scope, replay.body_digest() if replay is not None else None, label[:120])
            return True, None
        first_scope, first_body, first_label = first
        why = ""
        if scope is not None and scope == first_scope:
            body = replay.body_digest() if replay is not None else None
            if body is None or first_body is None or body == first_body:
                return True, None
            why = " under the same Idempotency-Key with another body (a conflict, not a replay)"
        elif scope is not None and first_scope is not None:
            why = " under another API key or Idempotency-Key than the first (a key is scoped per API key: not a replay)"
        return True, (f"{self.what} {value[:80]!r} was already given to an earlier accepted send ({first_label[:120]}); "
                      f"this send, {label[:120]!r}, got it again{why}")


# --- idempotency forms (the vendor set) ------------------------------------------------------


class KeyedForm(Form):
    """A rule on requests that carry one `Idempotency-Key`: what a later answer must show.

    Judging needs two answers under one key, so the rule is exercised by a planned pair (or
    a single request), never by one response alone; the run keeps the first answer.
    """

    @property
    def keyed(self) -> bool:
        return True


@dataclass
class KeyedPair(KeyedForm):
    """A first request under a fresh key, then (unless `second` is None) a second one under the same key.

    `second` says how the second request differs from the first: `same` (the same body and
    API key), `other-body` (another valid body) or `other-api-key` (the same body under a
    second full-scope key). `key_length`: the length of the key sent (None: an ordinary
    per-run key). `premise(first)`: why the first answer leaves the rule unjudged (the
    second request is then not sent). `check(first, second)`: the message when the rule is
    broken; it raises `NotExercisable` when the answers cannot judge it (a 5xx, a refused
    second key). For a single request, `check(None, only)`.
    """

    second: str | None
    check: Callable[[ResponseFacts | None, ResponseFacts], str | None]
    premise: Callable[[ResponseFacts], str | None] = lambda first: None
    length: int | None = None

    @property
    def key_length(self) -> int | None:
        return self.length

    def keyed_sends(self, key: str) -> list[PlannedSend]:
        if self.second is None:
            return [PlannedSend("long-key", f"a valid send with an Idempotency-Key of {len(key)} characters", 1)]
        first = PlannedSend("first", "a valid send with a fresh Idempotency-Key", 1)
        if self.second == "same":
            return [first, PlannedSend("again", "the same send again, same key", 2)]
        if self.second == "other-body":
            return [first, PlannedSend("other-body", "another body under the same key", 2, body="other-body")]
        return [first, PlannedSend("other-api-key", "the same send under --second-api-key, same key", 2, credentials="second")]


@dataclass
class KeyedRetry(KeyedForm):
    """A retry under the key of a request answered with a transient failure (`after(status)`).

    Judged wherever it happens: the client's own retry of a 429 after its `Retry-After`,
    or a later request with the same key, body and credentials. The plan provokes it with
    `provoke` (a status the run injects into the first answer) when the target offers
    fault injection. `check(first, retry, injected)`: the message when the rule is broken;
    `injected` says the first answer was injected once, so the same answer again was stored.
    """

    after: Callable[[int], bool]
    check: Callable[[ResponseFacts, ResponseFacts, bool], str | None]
    provoke: int | None = 503

    def keyed_sends(self, key: str) -> list[PlannedSend]:
        return [PlannedSend(f"answered-{self.provoke}", f"a valid send answered {self.provoke} (injected)", 1, inject=self.provoke),
                PlannedSend("retry", f"the same send again, same key, after the {self.provoke}", 2)]


_DESERVING = frozenset({Subject.REQUEST, Subject.AUTH, Subject.ACCEPTANCE})  # rules that decide a request's status


@dataclass(frozen=True)
class Rule:
    """One rule of the contract, as CONTRACT.md states it."""

    id: str
    level: Level
    subject: Subject
    text: str
    source: str
    form: Form = field(compare=False, repr=False)
    expected_status: int | None = None
    set: RuleSet = RuleSet.CONTRACT

    def __post_init__(self) -> None:
        if self.subject in _DESERVING and self.expected_status is None:
            raise ValueError(f"rule {self.id}: a {self.subject.value} rule needs the status a request deserves (expected_status)")

    @property
    def deserves(self) -> int:
        """The status a request this rule decides deserves (the one home of that status)."""
        if self.expected_status is None:
            raise ValueError(f"rule {self.id} decides no status: it judges responses")
        return self.expected_status

    @property
    def constrains(self) -> str:
        if self.subject is Subject.IDEMPOTENCY:
            return "exchange"  # what a server answers to a request, given an earlier one
        return "response" if self.subject is Subject.RESPONSE else "request"

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id,
            "level": self.level.value,
            "subject": self.subject.value,
            "constrains": self.constrains,
            "set": self.set.value,
            "text": self.text,
            "source": self.source,
        }
        if self.expected_status is not None:
            data["expected_status"] = self.expected_status
        return data


@dataclass(frozen=True)
class OpenPoint:
    """Something the document leaves open: never judged either way."""

    id: str
    text: str
    when: dict[str, Any]  # JSON Schema matching the bodies concerned
    effect: str  # "avoid": valid bodies never match it; "either": 200 or 400 both pass
    drop: str | None = None  # for "avoid": the property left out of a matching body
