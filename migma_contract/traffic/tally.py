"""Judging real traffic: one observed exchange against the catalogue, and the tallies of many.

The proxy, the recordings reader and the ASGI middleware hand this module exchanges the
toolkit did not make. Each is judged with the catalogue's own code, as the check judges
its own requests: the request as a consumer's (the compiled request validator; the
credentials by the auth rules' forms, where a key's validity is knowable from traffic: a
missing or non-Bearer header is, an unknown key or a missing permission is not), the
response as a provider's (the compiled response validator), and whether the status is one
the request deserved. What the contract leaves open (`_open_points`), and what traffic
cannot show (whether a key is known, the target's data), never fails: a valid request
answered 200 passes acceptance; answered otherwise, it is judged only when neither can
explain the answer.

`judge_exchange` is the pure judgement of one exchange; `TrafficJudge` tallies many, keeps
the first finding per rule and party (redacted with every credential seen), and makes the
usual `RunResult`, so every writer renders observed traffic like a check.
"""

from __future__ import annotations

import base64
import contextlib
import os
import queue
import re
import secrets as _random
import threading
import time
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields, is_dataclass, replace
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, Final, Generic, Literal, NamedTuple, TypeVar
from urllib.parse import unquote, unquote_to_bytes

from migma_contract._version import __version__
from migma_contract.config.options import ENV_PREFIX, user_redactor
from migma_contract.contract.catalogue import (
    ACCEPTS_VALID,
    AUTH_REQUIRED,
    AUTH_SCOPE,
    IDEMPOTENCY_HEADER,
    RESPONDS_IN_TIME,
    STATUS_DOCUMENTED,
    get_rule,
    rules_for,
)
from migma_contract.contract.rules import History, Level, RawBody, Replay, ResponseFacts, Subject, bearer_key, remembered
from migma_contract.contract.validators import Contract, response_facts
from migma_contract.core.redact import (
    LONGEST_KEY,
    REDACTED,
    SHELL_FIELDS,
    Redactor,
    cookie_credential,
    secrets_by_shape,
    sensitive_header,
    strip_credentials,
    url_credentials,
)
from migma_contract.core.untrusted import clean_text
from migma_contract.generate.cases import Case
from migma_contract.judge.deserve import Standing
from migma_contract.judge.exchange import lowered
from migma_contract.judge.overrides import METHOD_OVERRIDES
from migma_contract.judge.verdict import CLIENT, ONE_VALUE_FIELDS, SERVER, ExchangeVerdict, Judgement, Knowledge, no_endpoint
from migma_contract.judge.verdict import judge_exchange as judge
from migma_contract.run.records import PLACEHOLDER_BASE, error_field, make_records
from migma_contract.run.result import (
    Baseline,
    Budget,
    Finding,
    PlanStats,
    RequestRecord,
    ResponseRecord,
    RuleResult,
    RunResult,
    RunSettings,
    SpecInfo,
    Status,
    TargetInfo,
    TrafficStats,
    failure_keys,
)
from migma_contract.run.root_causes import Symptom, group, replaced, shape_of
from migma_contract.traffic.masks import mask_text
from migma_contract.wire.client import Exchange

__all__ = ["CLIENT", "FRAMING_HEADERS", "METHOD_OVERRIDES", "SERVER", "ExchangeVerdict", "Judgement", "ObservedExchange", "TrafficJudge", "is_send", "judge_exchange", "maybe_send", "plain_post", "route_of"]

SEND_METHOD, SEND_PATH = "POST", "/v1/sending"
DEFAULT_TIMEOUT = 10.0


def _masked_value(value: str) -> bool:
    """Whether a header value is a recorder's mask rather than what was sent (`masks.mask_text`: Schemathesis'
    "[Filtered]", vcrpy's "XXXXXX", redaction words), or nothing."""
    return not value.strip(" \t") or mask_text(value)


# Connection-level fields (RFC 9110 §7.6.1) and framing: not part of what a client asked, and wrong in a replay.
FRAMING_HEADERS = frozenset({"connection", "keep-alive", "proxy-connection", "proxy-authenticate", "proxy-authorization",
                             "te", "trailer", "transfer-encoding", "upgrade", "host", "content-length"})
MAX_CREDENTIALS = 1_000  # distinct credentials a judge remembers (each costs the redactor a little on every text)
# ...and their characters in all (the redactor's patterns cost a few microseconds per character learned), and how many
# one exchange may add; a credential longer than `LONGEST_KEY` is no real key and is not remembered at all. Past a
# bound a credential is still masked in its own exchange's findings, and by its name (header, JSON key) wherever it is.
MAX_CREDENTIAL_CHARS = 128 << 10
MAX_CREDENTIALS_PER_EXCHANGE = 8
# credentials past `MAX_CREDENTIALS` standing where an API's key goes (`Authorization`'s credential, an API-key header's
# value): a browser session's rotating cookies never crowd out the key the contract is about (Pass Z2, F9)
_MAX_KEYS_PAST = 64
_KEY_HEADERS = frozenset({"x-api-key", "api-key", "apikey", "x-auth-token", "x-access-token"})
_MAX_OWN_KEYS = 64  # a state's credentials past `MAX_CREDENTIALS`: the user's own (environment, `secrets`), unquoted too
# An exchange's credentials left out by those bounds are masked in its own findings, up to this many characters in all
# (every one of them, whatever their count); past it, its findings show none of the answer's text (`_UNSHOWN`).
OWN_CREDENTIAL_CHARS = 32 << 10
_UNSHOWN = ("[not shown: the request carried more credentials than its findings can mask, and the answer may echo "
            "them; replay the curl line to see it]")
_SHAPES_READ = 64 << 10  # a request body is searched for credential-named JSON keys and form parameters up to this size
# ...where the search runs on a server's event loop (the proxy's `learn_request`); the judge's own learning, on its
# thread, searches a body whole up to this (every way in holds a send's body within it): a credential past the first
# 64 KiB, echoed by the server, was written in clear (pass W1, F1; ~0.3 s a MiB of hostile text at worst)
_SHAPES_JUDGED = 1 << 20
_CLIENT_BROKE, _SERVER_BROKE, _SERVER_RIGHT = 1, 2, 4
_MAX_NOTES = 20
# The salt of the keyed digests of a state's credentials (`TrafficJudge.state`), unless the caller gives one (the report
# directory's: `reports.processes`): new in each process (and each forked child).
_SALT = _random.token_bytes(16)
# salts whose credentials a merge masks (each costs a search of every text; the states of one report directory share
# one): a state of another salt past them is not merged (no green verdict)
_MAX_SALTS = 16


def _new_salt() -> None:
    global _SALT
    _SALT = _random.token_bytes(16)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_new_salt)
# Exchanges waiting to be judged off the event loop are bounded by what they hold: at most MAX_WAITING of them and
# MAX_WAITING_BYTES of bodies (a caller that does not say an exchange's size is counted at _UNSIZED bytes: 64 at most).
# A proxy forwarding a check's burst hands over sends of a few KB each much faster than they are judged.
MAX_WAITING = 1024
MAX_WAITING_BYTES = 64 << 20
_UNSIZED = MAX_WAITING_BYTES // 64
_BATCH = 32  # exchanges the worker takes at once (their CPU time is read once: a budget's view lags by one batch at most)
JUDGE_CPU_SHARE = 0.25  # judging may use a quarter of one core over time (the server keeps the rest of the GIL)
JUDGE_CPU_BURST = 0.5  # ...and half a CPU-second at once
# A request body larger than this is judged as not recorded: a send request is a few kilobytes, and judging a large
# body (parsing it, searching it for credentials) costs CPU the proxy's or the app's event loop then waits for (the GIL).
JUDGED_BODY_BYTES = 64 << 10
_MAX_STOPS = 50  # notes kept word for word (where files stopped, what was refused); the rest are counted
# past `_MAX_STOPS`, a note of a kind none kept is (its start, numbers aside: "proxy exchange #: the send, POST <..."): up
# to this many more, so that many notes of one kind never drop the one note of another that explains the verdict
_MAX_KINDS = 20
_NUMBERS = re.compile(r"[0-9]+")
_NOTE_CHARS = 500  # of one note: it may carry what a hostile peer sent (a coding's name, header names), cut visibly
_NONE_REPEATED: frozenset[str] = frozenset()
_NONE_GIVEN: Mapping[str, tuple[str, ...]] = MappingProxyType({})
_MAX_HISTORY = 100_000  # values a rule judged across exchanges remembers (data.id): a proxy may run for days
_ROOT_SUBJECTS = frozenset({Subject.REQUEST, Subject.AUTH, Subject.ACCEPTANCE})  # whose server failures are about the status


class _Outcome(NamedTuple):
    """One exchange's judgements per rule: who broke it, whether the server was right (bits), in judgement order."""

    bits: tuple[tuple[str, int], ...]
    rules: frozenset[str]
    broken: bool


def _outcome(judgements: tuple[Judgement, ...]) -> _Outcome:
    outcome: dict[str, int] = {}
    broken = False
    for rule_id, party, ok, _, _ in judgements:
        if ok:
            outcome[rule_id] = outcome.get(rule_id, 0) | (_SERVER_RIGHT if party == SERVER else 0)
        else:
            broken = True
            outcome[rule_id] = outcome.get(rule_id, 0) | (_CLIENT_BROKE if party == CLIENT else _SERVER_BROKE)
    return _Outcome(tuple(outcome.items()), frozenset(outcome), broken)


_MAX_SIGNATURES = 64  # judgement tuples whose outcome a judge keeps (a handful recur; the rest are made once)


class _ServerTally(NamedTuple):
    """A rule's tally on the server's side only, as root causes read it."""

    exercised: int
    passed: int


_REPLAY_HEADER = IDEMPOTENCY_HEADER.lower()
_HISTORY_KEPT: dict[tuple[str, int], Judgement] = {}


def _history_kept(rule: Any, status: int) -> Judgement:
    """A rule judged across exchanges, kept by an answer of `status` (the same tuple for every such answer)."""
    found = _HISTORY_KEPT.get((rule.id, status))
    if found is None:
        found = Judgement(rule.id, SERVER, True, rule.text, str(status))
        if len(_HISTORY_KEPT) < 256:
            _HISTORY_KEPT[(rule.id, status)] = found
    return found


# what separates a scheme from its key, however a client wrote it (quotes too: `Bearer "k_..."`, echoed without them)
_CREDENTIAL_WORDS = re.compile(r"[\s:,;\"'`]+")


def _route(target: str) -> str:
    """The part of a request target a server routes by: before the query, and before a fragment (which a client
    never sends, though a recorder may keep it in the URL it writes down)."""
    return _QUERY_OR_FRAGMENT.split(target, 1)[0]


_QUERY_OR_FRAGMENT = re.compile("[?#]")


# What a request is to the judge, decided in one place for every way in (`route_of`): the send itself (judged), a POST a
# server may still route to the send (passes unjudged and counted: no green verdict rests on it, and the server is never
# blamed for a path the client malformed), or another path (counted, skipped).
Route = Literal["send", "may route", "other"]
SEND: Final = "send"
MAY_ROUTE: Final = "may route"
OTHER: Final = "other"
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_PERCENT = re.compile(r"%([0-9A-Fa-f]{2})")
# A base path a recording's absolute URL may hold before /v1/sending: plain segments (no dot segment, no empty one, no
# path parameter, no backslash, no space or control, no escape but of non-ASCII UTF-8 bytes: `/tenant-%C3%A9`).
_PLAIN_BASE = re.compile(r"(?:/(?!\.\.?(?:/|\Z))(?:[^/\\;%\s\x00-\x1f\x7f\ufffd]|%[89a-fA-F][0-9a-fA-F])+)*\Z")


def _unreserved_decoded(path: str) -> str:
    """`path` with the percent-escapes of unreserved characters decoded (RFC 3986 6.2.2.2: the same URI, `/v1/sendin%67`
    is /v1/sending to every server); every other escape stays as it came (`%2F` is no `/`)."""
    if "%" not in path:
        return path
    return _PERCENT.sub(lambda m: c if (c := chr(int(m[1], 16))) in _UNRESERVED else m[0], path)


# The method-override headers (`judge.overrides`, the one list of override carriers: the proxy refuses an echoing method
# any of them names, the judge reads them all); `route_of` reads the headers to tell a POST by another name.
_POST_FOLDED = SEND_METHOD.lower()
_SHORTEST_OVERRIDE = min(map(len, METHOD_OVERRIDES))  # (most headers are shorter: a route is decided per request)
_OVERRIDE_NAMES: frozenset[str | bytes] = METHOD_OVERRIDES | {name.encode("ascii") for name in METHOD_OVERRIDES}
Headers = Iterable[tuple[str, str]] | Iterable[tuple[bytes, bytes]]


def _text(value: str | bytes) -> str:
    return value.decode("latin-1") if isinstance(value, bytes) else value


def _post_named(method: str) -> bool:
    """Whether a method name may read as POST to some server: POST with whitespace around it, in another case or
    Unicode form (`"POST "`, `Post`, full-width letters)."""
    return _folded(method.strip(" \t\r\n\f\v")) == _POST_FOLDED


def _overridden(headers: Headers) -> Literal["post", "other"] | None:
    """What a method-override header (`METHOD_OVERRIDES`, any case, any whitespace) names: POST, another method, or
    None: none given (an empty one names nothing)."""
    named: Literal["post", "other"] | None = None
    for name, value in headers:
        # (cheap first: an ASGI server's names are lower case already; another name is compared in lower case, trimmed)
        if name not in _OVERRIDE_NAMES and (len(name) < _SHORTEST_OVERRIDE or (name.islower() and name.strip() == name)
                                            or _text(name).strip().lower() not in METHOD_OVERRIDES):
            continue
        if asked := _text(value).strip():
            if not _post_named(asked):
                return "other"
            named = "post"
    return named


def plain_post(method: str, headers: Headers) -> bool:
    """Whether a request is POST to every server: its method exactly POST (methods are case-sensitive, RFC 9110 §9.1:
    `post` is no POST, a server may refuse it 405 or read it as POST: it may route to the send, never judged as it),
    and no method-override header naming another method."""
    return method == SEND_METHOD and (not headers or _overridden(headers) != "other")


def route_of(method: str, target: str, *, base: bool = True, headers: Headers = ()) -> Route:
    """Which of three a request is: the send exactly (`SEND`), a POST a server may still route to the send (`MAY_ROUTE`),
    or another path or method (`OTHER`). `target` is the request's path (its query and a fragment are not read);
    `headers`, the request's (str or bytes pairs): a method-override header (`METHOD_OVERRIDES`) is read.

    A request some framework may take for POST though its method line does not say exactly POST is no send: `"POST "`,
    another Unicode form of POST, or another method with an override header naming POST; nor a POST whose override
    header names another method (a framework that honours the header routes it elsewhere, one that does not to the
    send). To the send's path, or a path that may route there, each may route to the send; elsewhere it is `OTHER`."""
    if plain_post(method, headers):
        return _post_route(target, base)
    if not (_overridden(headers) == "post" or _post_named(method)):
        return OTHER
    return MAY_ROUTE if _post_route(target, base) != OTHER else OTHER


def _post_route(target: str, base: bool) -> Route:
    """Which of three a POST to `target` is (`route_of`).

    The send is POST to exactly /v1/sending, escapes of unreserved characters decoded. `base`: whether a base path may
    stand before it, as in a recording's absolute URL (`https://host/api/v1/sending`), whose server's base path is
    unknown; a plain one only (`_PLAIN_BASE`). The proxy and the middleware know the base (the proxy adds its
    upstream's path; the middleware reads the path under the app's root path) and pass `base=False`: there anything
    else, `/api/v1/sending` or `/v1/sending/` among them, may route to the send on some server and is never judged."""
    path = _unreserved_decoded(_route(target))
    if path == SEND_PATH:
        return SEND
    if base and path.endswith(SEND_PATH) and _PLAIN_BASE.match(path[:-len(SEND_PATH)]) \
            and not odd_escape(path.encode("utf-8", errors="surrogatepass")):
        return SEND
    return MAY_ROUTE if _may_route(target) else OTHER


def is_send(method: str, path: str, *, base: bool = True) -> bool:
    """Whether a request is the endpoint the contract covers (`route_of`; by default a plain base path before it is
    allowed, as in a recording's URL)."""
    return route_of(method, path, base=base) == SEND


_T = TypeVar("_T")


class _once(Generic[_T]):  # a decorator, named as one
    """`functools.cached_property` without the lock Python 3.11's takes on every first read (one lock for every
    instance: ~2 µs an exchange, contended between an app's thread and the judge's). Two threads reading at once
    compute the same value twice; either is kept."""

    def __init__(self, func: Callable[[Any], _T]) -> None:
        self.func, self.name = func, func.__name__

    def __set_name__(self, owner: Any, name: str) -> None:
        self.name = name

    def __get__(self, instance: Any, owner: Any = None) -> _T:
        if instance is None:
            return self  # type: ignore[return-value]  # the class's attribute: the descriptor itself
        value = instance.__dict__[self.name] = self.func(instance)
        return value


_PATH_PARAMETERS = re.compile(r";[^/]*")
_SLASHES = re.compile(r"/{2,}")


_U_ESCAPE = re.compile(rb"%u[0-9a-f]{4}", re.IGNORECASE)


def odd_escape(path: bytes) -> bool:
    """Whether a path holds an escape servers decode differently, one decoding deep: IIS's `%uXXXX`, percent-escapes
    whose bytes are not UTF-8 (an overlong `%c0%ae` is `.` to some decoders, `%c0%af` is `/`), or a NUL (`%00`: some
    servers end the path there, so `/v1/sending%00x` is the send)."""
    if _U_ESCAPE.search(path):
        return True
    decoded = unquote_to_bytes(path)
    try:
        decoded.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return b"\x00" in decoded


def maybe_send(method: str, path: str, *, base: bool = True) -> bool:
    """Whether a request that is not the send may still reach the endpoint on some server (`route_of`'s middle class).
    Such a send is never counted as another path's: it passes unjudged, and no green verdict rests on it."""
    return route_of(method, path, base=base) == MAY_ROUTE


def _may_route(target: str) -> bool:
    """Whether a path may reach the send on some server: a trailing slash (Express, Django's APPEND_SLASH, Starlette's
    redirect), a format suffix (`/v1/sending.json`: Rails' `(.:format)`, Spring's suffix match, ActiveResource), slashes
    merged (nginx), path parameters dropped (`;jsessionid=`: Tomcat, Spring), dot segments resolved, case folded by
    Unicode's rules (`ſ`, dotless `ı`, `İ`, the Kelvin sign, full-width letters: Python's re.IGNORECASE, JavaScript's
    /iu, Go's EqualFold, .NET), spaces trimmed, percent-escapes decoded twice, a base path before it; or a path whose
    decoding differs between servers (`%u0073`, overlong or other invalid UTF-8, a character the server's decoding
    replaced with U+FFFD, a NUL), which may read as anything."""
    path = _route(target)
    for _ in range(3):  # a server that decodes twice (or thrice) reads `%2567` as `g`
        # (a path a server decoded already: U+FFFD for what was not UTF-8, a NUL for %00)
        if "\ufffd" in path or "\x00" in path or odd_escape(path.encode("utf-8", errors="surrogatepass")):
            return True
        if "%" not in path:
            return _routes_to_send(path)
        decoded = unquote(path)
        if _routes_to_send(decoded):
            return True
        if decoded == path:
            return False
        path = decoded
    return True  # still encoded after three decodings: no client means that


def _folded(path: str) -> str:
    """`path` as a server comparing without case may read it: compatibility forms (NFKC: full-width letters, `ſ`, the
    Kelvin sign), the Turkish i's (`ı`, `İ`) as `i`, then Unicode case folding."""
    if path.isascii():
        return path.lower()
    return unicodedata.normalize("NFKC", path).replace("\u0131", "i").replace("\u0130", "i").casefold()


_SUFFIXED = re.compile(r"/v1/sending\.[^/]*\Z")


def _routes_to_send(path: str) -> bool:
    """Whether a decoded path reaches the send on a server that merges slashes, drops path parameters, resolves
    dot segments, folds case, trims spaces or a trailing slash, reads a format suffix, or has a base path."""
    path = _folded(_SLASHES.sub("/", _PATH_PARAMETERS.sub("", path)).strip())
    segments: list[str] = []
    for segment in path.replace("\\", "/").split("/"):  # dot segments resolved (RFC 3986 5.2.4)
        if segment == "..":
            if segments:
                segments.pop()
        elif segment not in (".", ""):
            segments.append(segment)
    path = "/" + "/".join(segments)  # (a trailing slash dropped with the empty segment after it)
    return path.endswith(SEND_PATH) or _SUFFIXED.search(path) is not None


class Shown(NamedTuple):
    """What the judged copies of one recorded exchange showed (`TrafficJudge.shown`, `observe_copy`): the rules judged
    on them, and whether their time left responds-in-time judged in part."""

    rules: frozenset[str]
    time_open: bool
    number: int = 0  # the exchange's number as judged (its findings' case)
    partly: bool = False  # counted judged in part already


class RecordedTime(NamedTuple):
    """A recording's time of an exchange, in seconds, and what it holds beside the server's part (words with no
    figure of the one exchange, for people). `to_the_end`: the recording shows it covers the whole exchange up to the
    answer's last byte (a HAR whose `send`, `wait` and `receive` are all given, none -1, by a recorder known to time the
    body in `receive`); else it may stop before the answer's end (Playwright's minimal HAR: its `time` is `receive`
    alone; a Schemathesis `elapsed`: to the answer's head) and never keeps responds-in-time."""

    seconds: float
    holds: str
    to_the_end: bool = False


@dataclass
class ObservedExchange:
    """One request and its answer, as a proxy, a recording or a middleware saw it.

    `None` for a body means "not recorded" (never judged as empty); `status` None means no
    answer came (`error` says why). The header lists are not changed once made: the judge's
    header maps are worked out from them once.
    """

    method: str
    url: str
    request_headers: list[tuple[str, str]]
    request_body: bytes | None
    status: int | None
    response_headers: list[tuple[str, str]] = field(default_factory=list)
    response_body: bytes | None = b""
    elapsed: float | None = None
    error: str | None = None
    timed_out: bool = False
    where: str = ""  # for people: "proxy #12", "staging.har entry 7"
    credentials_hidden: bool = False  # the recording masked or may have stripped the Authorization header
    response_size: int | None = None
    # why a body the way in held was not judged (over a cap, a coding it cannot read): the exchange is judged in part,
    # and no verdict is green on it (a recording that never held a body leaves this None: nothing was left unread)
    unread: str | None = None
    # what the request is (`route_of`), where the way in decided it knowing the base path (the proxy, the middleware);
    # None: `TrafficJudge.observe` decides from `url`, a base path before /v1/sending allowed (a recording's URL)
    route: Route | None = None
    # the request body's bytes when `request_body` does not hold it (a way in kept it unkept, over a cap): at least this
    # many (a front end may refuse a large body: `judge.verdict.FRONT_END_BODY`)
    request_size: int | None = None
    # the request body's end did not show to the way in (it passed on unkept, its reader stopped): `request_size` is
    # the bytes it counted, at least
    request_size_open: bool = False
    # why some of the server's rules could not be judged on this exchange (the way in cannot tell what its client read:
    # the middleware's answer whole by its Content-Length with the app's last message late or never sent), and which:
    # judged in part, those rules neither passed nor, unless they broke anyway, failed
    in_part: str | None = None
    in_part_rules: frozenset[str] = frozenset()
    # those of `in_part_rules` whose breach does not show either (the middleware's app raised, and a handler outside it
    # may have answered): neither passed nor failed
    unseen_rules: frozenset[str] = frozenset()
    # a recording's start time of the exchange, in microseconds since the epoch (`twins.instant`; None: not recorded)
    started: int | None = None
    # a recording's whole time of the exchange where it holds more than `elapsed`, the part surely the server's (HAR's
    # `wait`; None where none is apart): the client's queue, connect, upload and reading, or a recorder's one total
    # (Schemathesis' `elapsed`). responds-in-time blames only `elapsed`; where only this whole passes the timeout, the
    # rule is left unjudged on the exchange (`time_unsure`: judged in part, never blamed, never kept)
    recorded_time: RecordedTime | None = None
    # where another recording may hold this very exchange (the same request line and answer, no start time to tell one
    # exchange from two: `twins.MAYBE`): a value it repeats is not judged across exchanges (judged in part)
    twin: str | None = None
    # the recording's own mark that its answer's body is stored decoded under its Content-Encoding (vcrpy's aiohttp
    # stub: a request body kept as a mapping, aiohttp's `json=`); False: no such mark (`recordings._answer_decoded`)
    stored_decoded: bool = False
    # the request head holds the framing headers the wire carried (the proxy and the middleware see the wire; a
    # recording only where its recorder writes the head as sent: `recordings`): where not, a body of known length with
    # no Content-Length shown is no request "without Content-Length" (`judge.refusals`)
    framing_shown: bool = True
    # why the request shown may not be the one its answer answered (None: it is the one sent): a recorder that rebuilds
    # each request at export (`recordings._REBUILT_AT_EXPORT`: Insomnia). The one judge reads it as a request its parties
    # may read otherwise (`Knowledge.request_doubt`): its request rules, credentials and status unjudged, and a value its
    # answer repeats across exchanges is not judged (whether it is a replay does not show)
    request_rebuilt: str | None = None
    # sent to a URL someone configured (a recorded client's: `recordings`), whose answer may say no endpoint of the API
    # answered it (`judge.verdict.no_endpoint`, read in `TrafficJudge.observe`, Pass Z2, F7); the proxy reads it itself
    # (its note names --upstream), the middleware sits in the app (the app's 404 is the endpoint's answer)
    via_url: bool = False
    passed: str | None = None  # why `TrafficJudge.observe` passed it unjudged (a reader of recordings warns with it)

    # -- the judge's exchange protocol (judge.exchange.Exchange) --------------------------------------

    @property
    def target(self) -> str:
        return self.url

    @_once
    def sent_headers(self) -> dict[str, str]:  # worked out once per exchange (the judge reads it many times)
        return lowered(self.request_headers)

    @_once
    def repeated(self) -> frozenset[str]:
        """The request's fields the contract reads as one value (`ONE_VALUE_FIELDS`) that it gives more than once."""
        if len(self.sent_headers) == len(self.request_headers):  # no field given twice (the joined ones, worked out anyway)
            return _NONE_REPEATED
        lower = [name.lower() for name, _ in self.request_headers if len(name) <= 15]
        return frozenset(name for name in ONE_VALUE_FIELDS if lower.count(name) > 1)

    @_once
    def given(self) -> Mapping[str, tuple[str, ...]]:
        """Each field the request gives more than once (names lower-cased), its values in order: a server may read the
        first, the last or all of them joined (`judge.refusals`)."""
        if len(self.sent_headers) == len(self.request_headers):  # no field given twice
            return _NONE_GIVEN
        values: dict[str, list[str]] = {}
        for name, value in self.request_headers:
            values.setdefault(name.lower(), []).append(value)
        return {name: tuple(each) for name, each in values.items() if len(each) > 1}

    @property
    def sent_body(self) -> bytes | None:
        return self.request_body

    @property
    def sent_size(self) -> int | None:
        return len(self.request_body) if self.request_body is not None else self.request_size

    @property
    def sent_size_open(self) -> bool:
        return self.request_body is None and self.request_size_open

    @_once
    def received_headers(self) -> dict[str, str]:
        return lowered(self.response_headers)

    @property
    def received_body(self) -> bytes | None:
        return self.response_body

    @property
    def path(self) -> str:
        """The path (and query) of the request, whether `url` is absolute or a path: split as RFC 3986 §3 does, the
        authority ending at the first `/`, `?` or `#` (`https://host?next=/v1/sending` is a request to `/`)."""
        url = self.url
        absolute = _ABSOLUTE.match(url)
        if absolute is None:
            return url or "/"
        rest = url[absolute.end():]
        end = _AUTHORITY_END.search(rest)
        if end is None:
            return "/"
        tail = rest[end.start():]
        return tail if tail.startswith("/") else "/" + tail

    def header(self, name: str, *, response: bool = False) -> str | None:
        values = [v for k, v in (self.response_headers if response else self.request_headers) if k.lower() == name]
        return ", ".join(values) if values else None


# An absolute URL's start (RFC 3986 §3.1: a scheme, then `//` and an authority), after what URL readers strip first
# (WHATWG and urlsplit: leading C0 controls and spaces).
_ABSOLUTE = re.compile(r"[\x00-\x20]*[A-Za-z][A-Za-z0-9+.\-]*://")
_AUTHORITY_END = re.compile(r"[/?#]")

_ERROR_SHOWN = 160  # characters of a server's error text a finding shows
_ERROR_READ = _ERROR_SHOWN + 1024  # read further, so a key crossing the shown part's end is still whole when masked
_ERROR_PART = re.compile(r" \(error: (.*)\)\Z", re.S)


def _error_text(body: bytes | None) -> str:
    """The server's error text, longer than shown: `_shorten_error` cuts it once it is redacted."""
    error = error_field(body)
    return f" (error: {clean_text(error[:_ERROR_READ])})" if error else ""


def _shorten_error(actual: str) -> str:
    """`actual` with its error text cut to what a finding shows (only after redaction: a cut key is unrecognisable)."""
    return _ERROR_PART.sub(lambda m: f" (error: {m.group(1)[:_ERROR_SHOWN]})", actual)


def judge_exchange(contract: Contract, level: Level | str, exchange: ObservedExchange, *,
                   timeout: float | None = DEFAULT_TIMEOUT) -> ExchangeVerdict:
    """Every rule of `level` one observed POST /v1/sending exchange decides, for the client and the server (the one judge).

    A recording's time (`recorded_time`) is the server's only in its part surely the server's (`elapsed`): where only
    the whole passes the timeout, or its recorder's timeout ran out with the server's part within it, responds-in-time
    is not judged (`time_unsure`: neither kept nor broken, `partly` says why); where the whole is within the timeout
    and reaches the answer's end (`RecordedTime.to_the_end`), so is the server's part: kept. A time that may stop
    before the answer's end (Playwright's minimal HAR, Schemathesis' `elapsed`) within the timeout shows nothing of
    the server's pace: the rule has nothing to judge on that exchange (as on a vcrpy interaction, which records no
    time: not exercised, a note says why), unless the server's own part (`elapsed`) passes the timeout (broken)."""
    exchange = _waited_out(exchange, timeout)
    unsure = time_unsure(exchange, timeout)
    note = None
    whole = exchange.recorded_time
    if unsure is None and whole is not None and exchange.status is not None:
        if whole.to_the_end:
            if exchange.elapsed is None:
                exchange = replace(exchange, elapsed=whole.seconds)  # within the timeout as a whole
        elif timeout is not None and (exchange.elapsed is None or exchange.elapsed <= timeout):
            exchange = replace(exchange, elapsed=None)  # the answer's end is not in it: nothing to judge
            note = (f"responds-in-time not judged on a recorded exchange whose time may stop before the answer's end "
                    f"({whole.holds})")
    verdict = _judged(contract, level, exchange, timeout)
    if note is not None:
        verdict = replace(verdict, notes=(*verdict.notes, note))
    if unsure is None:
        return verdict
    return replace(verdict, judgements=tuple(j for j in verdict.judgements if j.rule_id != RESPONDS_IN_TIME.id),
                   partly=unsure if verdict.partly is None else f"{verdict.partly}; {unsure}")


def time_unsure(exchange: ObservedExchange, timeout: float | None) -> str | None:
    """Why responds-in-time cannot be judged on a recorded exchange (None: it can): its recording's whole time passes
    the timeout, or its recorder says it timed out, while the part surely the server's (`elapsed`: HAR's `wait`, from
    the request's last byte to the answer's first) does not. The rest is the client's (its queue, connect, its upload,
    its reading: what the proxy and the middleware never count) or does not show apart from it (a recorder's one
    total). A server whose own part passes the timeout is judged on it (broken). The words hold no figure of the one
    exchange: a note counted once for many."""
    whole = exchange.recorded_time
    if whole is None or timeout is None:
        return None
    sure = exchange.elapsed
    if sure is not None and (sure > timeout or (exchange.timed_out and sure >= timeout)):
        return None  # the server's own part is late: its break
    own = "; its `wait`, the server's own part, within it" if sure is not None else ""
    if exchange.timed_out:
        return (f"its recorder says it timed out, the part surely the server's within the {timeout:g} s timeout "
                f"({whole.holds}{own}): the client's upload or its own shorter timeout may have run out, not the server's "
                "time: responds-in-time was not judged")
    if exchange.status is not None and whole.seconds > timeout:
        return (f"its recorded time passes the {timeout:g} s timeout only with what is not surely the server's "
                f"({whole.holds}{own}): responds-in-time was not judged")
    return None


def _judged(contract: Contract, level: Level | str, exchange: ObservedExchange, timeout: float | None) -> ExchangeVerdict:
    standing = Standing.HIDDEN if exchange.credentials_hidden else Standing.UNSURE
    if exchange.status == ACCEPTS_VALID.deserves and exchange.request_rebuilt is None:  # the same for every accepted send
        knowledge = _KNOWLEDGE.get((standing, timeout)) or _KNOWLEDGE.setdefault((standing, timeout), Knowledge(standing, timeout=timeout))
    else:
        knowledge = Knowledge(standing=standing, timeout=timeout, answer_text=_error_text(exchange.response_body),
                              framing_shown=exchange.framing_shown, request_doubt=exchange.request_rebuilt)
    return judge(contract, level if type(level) is Level else Level.parse(level), exchange, knowledge, repeated=exchange.repeated,
                 given=exchange.given)


_KNOWLEDGE: dict[tuple[Standing, float | None], Knowledge] = {}  # (a frozen Knowledge: shared)


def _waited_out(exchange: ObservedExchange, timeout: float | None) -> ObservedExchange:
    """An exchange that waited past the timeout with no answer, marked as the timeout it was (responds-in-time judges
    it, not no-server-error: a recorder writes a hang as an entry with no response and a long time)."""
    if exchange.status is not None or exchange.timed_out or exchange.elapsed is None or timeout is None or exchange.elapsed < timeout:
        return exchange
    return replace(exchange, timed_out=True, error=f"no answer after {exchange.elapsed:.2f} s ({exchange.error or 'none recorded'})")


# --- many exchanges: tallies, findings, the result ----------------------------------------------------


@dataclass
class RuleTally:
    """One rule on observed traffic: exchanges that exercised it, and who broke it."""

    exercised: int = 0
    passed: int = 0
    failed: int = 0
    by_client: int = 0
    by_server: int = 0
    server_right: int = 0  # exchanges where the server's part of it was right

    def wording(self) -> str:
        """One line for the report's note column: how often it was seen, and who broke it."""
        if not self.failed:
            return f"kept in {self.exercised}/{self.exercised}"
        broke = [f"client broke {self.by_client}/{self.exercised}"] if self.by_client else []
        broke += [f"server broke {self.by_server}/{self.exercised}"] if self.by_server else []
        text = ", ".join(broke)
        if self.by_client and self.server_right:
            text += f"; server right in {self.server_right}"
        return text



def _within_own_bound(secrets: Sequence[str]) -> list[str]:
    """The first of an exchange's own credentials, up to `OWN_CREDENTIAL_CHARS` characters of them (each counted at
    most `LONGEST_KEY`): what a per-exchange redactor is built from, so its cost stays bounded."""
    kept: list[str] = []
    chars = 0
    for secret in secrets:
        chars += min(len(secret), LONGEST_KEY)
        if chars > OWN_CREDENTIAL_CHARS:
            break
        kept.append(secret)
    return kept

class TrafficJudge:
    """Judges observed exchanges as they come, tallies them per rule, and makes the usual result.

    Thread-safe (a proxy's event loop observes while a timer writes reports). Every
    credential seen in a request joins the redactor (within bounds), and findings are
    redacted again with all of them when the result is made, so no key that passed through
    is ever written.

    Two locks: `_lock` guards judging's state (tallies, findings, the redactor) and may be
    held for long work (redacting every finding for a report); `_counts` guards only the
    counters and notes that a server's event loop touches (`skip`, `note`, `observe_later`,
    `pass_unjudged`), is never held for more than a few operations, and is taken after
    `_lock` when both are needed. The event loop never waits for judging.
    """

    def __init__(self, contract: Contract, level: Level | str = Level.DOCUMENTED, *, kind: str, label: str,
                 url: str | None = None, source: str = "", timeout: float | None = DEFAULT_TIMEOUT,
                 baseline: Baseline | None = None, on_breach: Callable[[str], None] | None = None,
                 secrets: Iterable[str | None] = ()) -> None:
        self.contract = contract
        self.level = Level.parse(level)
        self.rules = rules_for(self.level)
        self.kind, self.label, self.url = kind, label, strip_credentials(url) if url else None
        self.timeout = timeout
        self.baseline = baseline or Baseline()  # a finding's key here is the party that broke the rule
        self.on_breach = on_breach
        self.stats = TrafficStats(source or label)
        self._tallies = {rule.id: RuleTally() for rule in self.rules}
        self._signatures: dict[int, tuple[tuple[Judgement, ...], _Outcome]] = {}  # id of a judgements tuple -> it, its outcome
        self._rule_sets: dict[frozenset[str], frozenset[str]] = {}  # the sets of rules judged (`shown`), each kept once
        self._deferred: dict[int, int] = {}  # id of a judgements tuple -> exchanges it judged not yet in the tallies
        # the rules judged across exchanges (result-id-unique), each with what it saw so far
        self._unsettled: str | None = None  # why the rules judged across exchanges left this one unjudged (under the lock)
        self._history: dict[str, tuple[Any, History]] = {
            rule.id: (rule, {}) for rule in self.rules if rule.form.across_responses is not None}
        self._history_by_status: dict[int, list[tuple[Any, History, Any]]] = {}
        self._symptoms: list[Symptom] = []
        self._findings: dict[tuple[str, str], Finding] = {}
        self._notes: Counter[str] = Counter()
        self._stops: list[str] = []  # notes that explain the verdict (why sends passed unjudged, a bound reached...)
        self._stops_dropped = 0
        # notes that explain nothing of the verdict (`note(aside=True)`: a header dropped, a request for another path
        # refused): kept apart, so that however many there are they never push out a note that explains it
        self._asides: list[str] = []
        self._asides_dropped = 0
        self._said: dict[str, int] = {}  # a note kept word for word -> how many times it was said (each counted once)
        self._kinds: set[str] = set()  # the kinds of the notes kept (`_kind_of`)
        self._kinds_over = 0  # notes kept past `_MAX_STOPS` for their kind (at most `_MAX_KINDS`)
        self._own_note: tuple[Sequence[str], Redactor | None] | None = None  # the last `own` a note was masked with
        self._secrets: set[str] = set()
        self._secret_chars = 0
        self._keys_past = 0  # keys learned past the bound on all (`_MAX_KEYS_PAST`)
        self._bearer_keys: set[str] = set()  # those sent where the API's key goes: shown in curl lines as its variable
        self._bounds_said: set[str] = set()
        self._own: tuple[list[str], Redactor | None, bool] | None = None  # the last exchange's `_own_redactor`
        self._to_learn: list[tuple[list[str], set[str | None], set[str | None]]] = []  # credentials `learn_request` read, not yet learned
        self._salts: set[bytes] = set()  # the processes whose states' credentials this judge masks (`merged`)
        self.redactor = user_redactor(also=secrets)  # the user's own keys (environment, `secrets`), then every one seen
        self._held: Redactor | None = None  # the credentials `remember` was given (the upstream's): see `remember`
        self._lock = threading.Lock()  # judging's state: may be held for long (see the class's docstring)
        self._counts = threading.Lock()  # the counters and notes the event loop touches: held for a few operations only
        # judging off a server's event loop (`observe_later`): one worker, a bounded queue
        # (a SimpleQueue: a put from the event loop is one C call, no condition to notify)
        self._waiting: queue.SimpleQueue[tuple[Callable[[], ObservedExchange | None], int]] = queue.SimpleQueue()
        self._pending = self._pending_bytes = 0  # handed over and not yet judged (under `_counts`)
        self._settled = threading.Condition(self._counts)
        self._worker: threading.Thread | None = None
        self.unjudged_behind = 0  # exchanges not judged because judging fell behind (noted)
        # sends a way in saw that had not ended when it was last read (the middleware's app still answering, within its
        # timeout): counted as seen and passed unjudged in every result and state, no green verdict (set by the way in)
        self.in_flight = 0
        self._cpu_debt, self._cpu_at = 0.0, time.monotonic()  # the judge thread's CPU, against its share
        self._started = datetime.now(UTC)
        self._clock = time.perf_counter()

    # -- feeding ----------------------------------------------------------------------------------

    def skip(self, count: int = 1) -> None:
        """Exchanges for other paths or methods: counted, not judged."""
        with self._counts:
            self.stats.exchanges += count
            self.stats.other += count

    def remember(self, secrets: Iterable[str]) -> None:
        """Secrets that never pass through a request but must never be written (a proxy's upstream credentials)."""
        secrets = list(secrets)
        with self._lock:
            self.redactor.add(secrets)
        # ...and, apart, in a redactor of their own no one adds to once it is built: every note is masked with it
        # before it is cut (`note`), on any thread, without waiting for `_lock` (pass Q1, F1 and F2)
        held = Redactor([*(self._held.secrets if self._held is not None else ()), *secrets])
        held.text("")  # (its patterns built here, never while a note is masked)
        self._held = held

    def learn_request(self, method: str, url: str, headers: list[tuple[str, str]], body: bytes | None = None) -> list[str]:
        """The credentials a request carries (any path, any method, judged or not: read as a send's are), learned before
        anything about its exchange can be written: every note and finding is redacted with them when a report is made.

        Called on an event loop (the proxy learns a body's on a worker thread): the credentials are read here (cheap: a header's reading is cached, a body is read up
        to `_SHAPES_READ`), and handed over under the small `_counts` lock; the redactor takes them under `_lock`
        (`_take_learned`) before judging or writing anything.

        Returns those it found that the redactor did not know yet: what a note about this request masks (`note(own=)`),
        learned or not (past the bounds on what is learned)."""
        request = ObservedExchange(method=method, url=url, request_headers=headers, request_body=body, status=None)
        found = [secret for secret in self._credentials_of(request) if secret not in self._secrets]
        if not found:
            return found
        bearers = {bearer_key(value) for name, value in headers if name.lower() == "authorization"}
        keys = _keys_of(headers)
        with self._counts:
            # (past it the bound on what is learned is reached anyway, but for keys: `_MAX_KEYS_PAST`)
            if len(self._to_learn) < MAX_CREDENTIALS or (keys.intersection(found)
                                                         and len(self._to_learn) < MAX_CREDENTIALS + _MAX_KEYS_PAST):
                self._to_learn.append((found, bearers, keys))
        return found

    def learn_now(self, method: str, url: str, headers: list[tuple[str, str]], body: bytes | None = None) -> None:
        """`learn_request`, learned at once: a reader of recordings (`judge`) learns every recorded request as it reads
        it (any path, any item, judged or passed over: Pass Y2, F2), off any event loop, so what it hands over is taken
        before the next item (never a queue filled with one key's repeats)."""
        self.learn_request(method, url, headers, body)
        with self._lock:
            self._take_learned()

    def redacted(self, text: str) -> str:
        """`text` redacted with every credential learned so far (a console line about the traffic: Pass Y2, F3)."""
        with self._lock:
            self._take_learned()
            return self.redactor.text(text)

    def masked(self, text: str, own: Sequence[str] = ()) -> str:
        """`text` masked with every credential learned so far and the exchange's own (`own`, new or not, bounded as a
        note's are: `_masked_own`): the proxy's own words to a client (a 502's), which no report redacts later (Pass Z1,
        F1). Off the event loop: it waits for the judge's lock and grows with `own`."""
        if own:
            text = self._masked_own(text, own)
        return self.redacted(text)

    def _take_learned(self) -> None:
        """Learn what `learn_request` handed over (under `_lock`)."""
        with self._counts:
            waiting, self._to_learn = self._to_learn, []
        for found, bearers, keys in waiting:
            self._learn_secrets(found, bearers, keys)

    def pass_unjudged(self, why: str, *, seen: bool = True, count: int = 1, quiet: bool = False,
                      own: Sequence[str] = ()) -> None:
        """A send that passes unjudged (a client that stopped reading): counted, noted, and no green verdict after it.

        `seen=False`: what may have held sends was not read at all (a recording that stops early): no exchange counted.
        `count`: that many such exchanges, under one note (a recording's items past those it kept word for word).
        `quiet`: counted without a note (the same was said already: the proxy's server refusing again as before).
        `own`: the exchange's own credentials, masked in the note (see `note`).
        """
        with self._counts:
            self.stats.exchanges += count if seen else 0
            self.stats.unjudged += count
        if not quiet:
            self.note(why, own=own)

    def pass_may_route(self, where: str, path: str, method: str = SEND_METHOD, headers: Headers = (),
                       own: Sequence[str] = ()) -> None:
        """A request that is not exactly POST /v1/sending but that a server may route there (`route_of`): counted,
        noted, never judged (the server is not blamed for what the client malformed) and no green verdict after it.
        `own`: its credentials, masked in the note (`note`)."""
        if not plain_post(method, headers):  # the method (or a method-override header) is what is not exactly POST
            self.pass_unjudged(f"{where}: {clean_text(method[:20])!r} {path} is not exactly POST, but "
                               "a server may take it for one (POST in another case, with spaces or in another form, a method-override "
                               "header naming POST, or a POST whose override header names another method): not judged",
                               own=own)
            return
        self.pass_unjudged(f"{where}: POST {path} is not /v1/sending, but a server may route it there "
                           "(a trailing slash, a format suffix, another case or Unicode form, merged slashes, path "
                           "parameters, dot segments, escapes servers decode differently, a path before it): not judged; "
                           "an API served under a prefix is judged once the proxy's --upstream or the middleware's "
                           "base_path names it", own=own)

    def note(self, note: str, *, own: Sequence[str] = (), aside: bool = False) -> None:
        """Something the report must say about the traffic (where a file stopped, what could not be judged).

        `own`: the credentials of the exchange the note is about (`learn_request` returns them), masked in it now, as
        that exchange's findings are (`_own_redactor`): past the bound on what the redactor learns (`MAX_CREDENTIALS`)
        a note quoting its request never writes them (pass Y1, F2). `aside`: the note explains nothing of the verdict
        (a header dropped, a request for another path refused): kept apart from those that do, each kind within its
        own `_MAX_STOPS`, so that asides never push out a note saying why the run is incomplete (pass Y1, F4). A note
        said again is counted under the one kept (`N × ...`), never kept twice.
        """
        note = noted(self.held_masked(note, own))  # masked before it is cut: a credential cut in two is masked by none
        with self._counts:
            if note in self._said:
                self._said[note] += 1
                return
            kept = self._asides if aside else self._stops
            kind = _kind_of(note)
            if len(kept) < _MAX_STOPS or (kind not in self._kinds and self._kinds_over < _MAX_KINDS):
                self._kinds_over += len(kept) >= _MAX_STOPS
                kept.append(note)
                self._said[note] = 1
                self._kinds.add(kind)
            elif aside:  # a report stays small however many times something happens
                self._asides_dropped += 1
            else:
                self._stops_dropped += 1

    def held_masked(self, text: str, own: Sequence[str] = ()) -> str:
        """`text` masked with the exchange's own credentials (`own`, as `note` masks them) and those `remember` was given
        (the upstream's): what the event loop may mask before cutting a quote or a note, never waiting for `_lock` (the
        rest of what was learned is masked when a report is made, after the cut: see `noted`)."""
        if own:
            text = self._masked_own(text, own)
        held = self._held
        return held.text(text) if held is not None else text

    def _masked_own(self, note: str, own: Sequence[str]) -> str:
        """`note` with the credentials `own` masked, in every form the redactor masks (up to `OWN_CREDENTIAL_CHARS`
        characters of them; the rest wherever they stand as given). The redactor is built once for the same `own`
        (the notes of one exchange)."""
        cached = self._own_note
        if cached is not None and cached[0] is own:
            redactor = cached[1]
        else:
            kept = _within_own_bound(own)
            redactor = Redactor(kept) if kept else None
            self._own_note = (own, redactor)
        if redactor is not None:
            note = redactor.text(note)
        for secret in own:  # (those past the characters masked by pattern: as given)
            if secret in note:
                note = note.replace(secret, REDACTED)
        return note

    def _kept_notes(self, *, dropped: bool = True) -> list[str]:
        """The notes kept word for word, those explaining the verdict first, each said again counted (under `_counts`);
        `dropped`: with how many of each kind were not kept."""
        def shown(notes: list[str]) -> list[str]:
            return [f"{self._said[note]:,} × {note}" if self._said.get(note, 1) > 1 else note for note in notes]
        more = [f"… and {self._stops_dropped:,} more notes like these"] if self._stops_dropped and dropped else []
        asides = [f"… and {self._asides_dropped:,} more notes like these"] if self._asides_dropped and dropped else []
        return shown(self._stops) + more + shown(self._asides) + asides

    def _count_note(self, note: str) -> None:
        """A note said of an exchange, counted (under `_lock`): at most 200 distinct ones, each `noted`."""
        # masked with the upstream's credentials, then cut (the rest at report time: masking with every credential
        # here would rebuild the redactor's patterns after each new key, pass Q1); a cut keeps no part of a base64 run
        note = noted(self.held_masked(note))
        if note in self._notes or len(self._notes) < 200:
            self._notes[note] += 1

    def observe(self, exchange: ObservedExchange) -> ExchangeVerdict:
        """Judge one exchange (any path: others are counted and skipped) and tally it."""
        route = exchange.route or route_of(exchange.method, exchange.path, headers=exchange.request_headers)
        if route != SEND:
            if route == MAY_ROUTE:
                self.pass_may_route(exchange.where or "an exchange", exchange.path, exchange.method, exchange.request_headers)
            else:
                self.skip()
            return ExchangeVerdict(())
        what = None if not exchange.via_url else no_endpoint(exchange.status, exchange.header("content-type", response=True),
                           self.contract.spec.documented_statuses, (exchange.response_body or b"",))
        if what is not None:  # the one reading of every way in (the proxy's and check's): never blamed (Pass Z2, F7)
            location = exchange.header("location", response=True)
            mine = self.learn_request(exchange.method, exchange.url, exchange.request_headers, exchange.request_body)
            # masked before it is cut (every credential known, the exchange's own), then cut at a separator: a key cut
            # in two is no longer the one learned (Pass Q2, F6; pass Q1, F1)
            shown = cut_at_a_separator(self.masked(location[:8192], mine), 200) if location else ""
            where_to = f" (Location: <{clean_text(shown)}>)" if location else ""
            exchange.passed = (f"{exchange.where or 'an exchange'}: the send was answered {what}{where_to}: no endpoint "
                               "answers so (a front end's or another server's answer: the client's URL does not reach the "
                               "send, another host, scheme or root, or a front end refused the request before any app); "
                               "not judged")
            self.pass_unjudged(exchange.passed, own=mine)
            return ExchangeVerdict(())
        exchange, judged = self._as_judged(exchange)
        verdict = judge_exchange(self.contract, self.level, judged, timeout=self.timeout)
        unread_why = judged.unread or _unrecorded(judged) or verdict.partly
        unsure = time_unsure(judged, self.timeout)  # (in `partly` too: said however the exchange is otherwise in part)
        if unsure is not None and unsure not in (unread_why or ""):
            unread_why = unsure if unread_why is None else f"{unread_why}; {unsure}"
        if exchange.in_part is not None:  # the way in could not tell these rules' passing: none passes (a breach counts)
            opened = tuple(j for j in verdict.judgements if j.rule_id not in exchange.in_part_rules
                           or (not j.ok and j.rule_id not in exchange.unseen_rules))
            # (a rule the way in left with nothing to judge, which the judge then finds not exercised, is in part too:
            # the proxy's answer read after its deadline, no time to judge responds-in-time on; pass Y1, F1)
            unjudged = exchange.in_part_rules - {j.rule_id for j in verdict.judgements}
            if len(opened) < len(verdict.judgements) or (unjudged and any(rule.id in unjudged for rule in self.rules)):
                verdict = replace(verdict, judgements=opened)
                unread_why = exchange.in_part if unread_why is None else f"{unread_why}; {exchange.in_part}"
        with self._lock:
            unlearned = self._learn(exchange)
            with self._counts:
                self.stats.exchanges += 1
                self.stats.judged += 1
                self.stats.partly_judged += unread_why is not None
                self.stats.unanswered += exchange.status is None
                number = self.stats.judged
            if unread_why is not None:
                self._count_note(f"judged in part: {unread_why}")
            if exchange.credentials_hidden:
                self._count_note(_HIDDEN_NOTE)
            self._unsettled = None
            across = self._judge_history(exchange, number, verdict.facts, unsure=verdict.partly is not None)
            if self._unsettled is not None:
                if unread_why is None:  # (counted once an exchange)
                    with self._counts:
                        self.stats.partly_judged += 1
                self._count_note(f"judged in part: {self._unsettled}")
            base = verdict.judgements
            if across:
                verdict = ExchangeVerdict(base + across, verdict.notes, partly=verdict.partly)
            if verdict.notes:  # masked with the exchange's own credentials, as its findings are (pass Y1, F2)
                own, _ = self._own_redactor(unlearned) if unlearned else (None, False)
                for note in verdict.notes:
                    self._count_note(own.text(note) if own is not None else note)
            breached = self._count(base, across)
            told: list[str] = []
            if breached:
                for judgement in verdict.judgements:
                    if not judgement.ok and (line := self._record(exchange, judgement, number, unlearned)) is not None:
                        told.append(line)
        if told:  # outside judging: the callback may read this judge (`findings`, `result()`), or raise
            self._tell(told)
        return verdict

    def _as_judged(self, exchange: ObservedExchange) -> tuple[ObservedExchange, ObservedExchange]:
        """An exchange as tallied (a wait past the timeout with no answer marked timed out) and as judged (a request
        body over `JUDGED_BODY_BYTES` judged as not recorded; its finding still shows the body sent, cut)."""
        exchange = judged = _waited_out(exchange, self.timeout)
        if exchange.request_body is not None and len(exchange.request_body) > JUDGED_BODY_BYTES:  # every way in
            judged = replace(exchange, request_body=None, request_size=len(exchange.request_body),
                             unread=exchange.unread or f"a request body over {JUDGED_BODY_BYTES:,} bytes (its answer is judged)")
        return exchange, judged

    def shown(self, exchange: ObservedExchange, verdict: ExchangeVerdict) -> Shown:
        """What `observe` judged of `exchange` (its `verdict`): the rules judged on it, and whether its time left
        responds-in-time judged in part. A later copy of it in another file (`observe_copy`) judges only the rest."""
        rules = frozenset(judgement.rule_id for judgement in verdict.judgements)
        with self._counts:
            number = self.stats.judged  # (`observe` numbered it last: the command judges one exchange at a time)
        judged = self._as_judged(exchange)[1]
        unsure = time_unsure(judged, self.timeout) is not None
        partly = unsure or verdict.partly is not None or judged.unread is not None or _unrecorded(judged) is not None
        return Shown(self._interned(rules), unsure, number, partly)

    def _interned(self, rules: frozenset[str]) -> frozenset[str]:
        """One set of rule ids kept once however many copies share it (a few kinds of exchange: a few sets)."""
        if len(self._rule_sets) >= _MAX_SIGNATURES:
            return self._rule_sets.get(rules, rules)
        return self._rule_sets.setdefault(rules, rules)

    def observe_copy(self, exchange: ObservedExchange, before: Shown | None) -> Shown | None:
        """A copy of an exchange judged already (`before`: what its judged copies showed; the same exchange in another
        recording: `twins.SAME`), counted and judged once: the copy's knowledge the judged ones lacked (a rule they
        did not judge: a time that reaches the answer's end or a server's `wait` where the first copy's time did not,
        a request body a recorder left out) is judged and tallied as the same exchange's, never as another exchange
        (no count, no value across exchanges: its answer's id is the one judged already). Where a copy judged first
        showed everything this one shows, nothing is added, whatever the files' order. Returns what the copies showed
        together."""
        route = exchange.route or route_of(exchange.method, exchange.path, headers=exchange.request_headers)
        if route != SEND or before is None:
            return before
        exchange, judged = self._as_judged(exchange)
        verdict = judge_exchange(self.contract, self.level, judged, timeout=self.timeout)
        added = tuple(judgement for judgement in verdict.judgements if judgement.rule_id not in before.rules and (
            judgement.rule_id not in exchange.in_part_rules
            or (not judgement.ok and judgement.rule_id not in exchange.unseen_rules)))  # (as `observe`: never passed)
        unsure = time_unsure(judged, self.timeout)
        # (its time judged in part where no copy judged the rule nor was counted in part for its time)
        open_time = unsure is not None and not before.time_open and RESPONDS_IN_TIME.id not in before.rules
        if not added and not open_time:
            return before
        told: list[str] = []
        with self._lock:
            unlearned = self._learn(exchange)
            with self._counts:
                number = before.number or self.stats.judged
                if open_time and not before.partly:
                    self.stats.partly_judged += 1
            if open_time and unsure is not None:
                self._count_note(f"judged in part: {unsure}")
            if added:
                self._apply(_outcome(added), 1)
                for judgement in added:
                    if not judgement.ok and (line := self._record(exchange, judgement, number, unlearned)) is not None:
                        told.append(line)
        if told:
            self._tell(told)
        rules = before.rules | {judgement.rule_id for judgement in added}
        return Shown(self._interned(rules), before.time_open or open_time, before.number, before.partly or open_time)

    def _tell(self, lines: list[str]) -> None:
        """Hand each breach line to `on_breach`, after judging (no lock held, the exchange counted once already).

        Whatever it raises (an `assert`, pytest's `fail`, a BaseException too) is caught and noted, and changes no
        count: judging goes on, and the result says the callback failed. A Ctrl-C on the main thread (the `judge`
        command's) still interrupts, after the note."""
        callback = self.on_breach
        if callback is None:
            return
        for line in lines:
            try:
                callback(line)
            except BaseException as exc:  # (a callback never ends judging, whatever it raises)
                self.note(f"the on_violation callback raised {type(exc).__name__} on a breach line; the breach stands "
                          "in the findings, the counts unchanged")
                if isinstance(exc, KeyboardInterrupt) and threading.current_thread() is threading.main_thread():
                    raise

    def _count(self, base: tuple[Judgement, ...], across: tuple[Judgement, ...]) -> bool:
        """Tally one exchange's judgements (under the lock): whether any was broken.

        Most exchanges' own judgements are one of a few tuples the one judge keeps (a valid send kept by a valid
        answer): each such tuple's outcome per rule is worked out once, and its exchanges are counted by it, added
        to the tallies when they are read (`_count_deferred`). The rules judged across exchanges count at once."""
        entry = self._signatures.get(id(base))
        if entry is None or entry[0] is not base:
            if len(self._signatures) >= _MAX_SIGNATURES:  # (each entry holds its tuple: an id is never reused while kept)
                self._count_deferred()
                self._signatures.clear()
            entry = self._signatures[id(base)] = (base, _outcome(base))
        signature = entry[1]
        if across and not signature.rules.isdisjoint([judgement.rule_id for judgement in across]):
            signature = _outcome(base + across)  # one rule on both sides: counted once
            self._apply(signature, 1)
            return signature.broken
        deferred = self._deferred
        deferred[id(base)] = deferred.get(id(base), 0) + 1
        broken = signature.broken
        for rule_id, party, ok, _, _ in across:  # one judgement per rule judged across exchanges
            tally = self._tallies[rule_id]
            tally.exercised += 1
            if ok:
                tally.passed += 1
                tally.server_right += party == SERVER
            else:
                broken = True
                tally.failed += 1
                tally.by_client += party == CLIENT
                tally.by_server += party == SERVER
        return broken

    def _apply(self, signature: _Outcome, count: int) -> None:
        tallies = self._tallies
        for rule_id, bits in signature.bits:
            tally = tallies[rule_id]
            tally.exercised += count
            if bits & (_CLIENT_BROKE | _SERVER_BROKE):
                tally.failed += count
                tally.by_client += count if bits & _CLIENT_BROKE else 0
                tally.by_server += count if bits & _SERVER_BROKE else 0
            else:
                tally.passed += count
            if bits & _SERVER_RIGHT:
                tally.server_right += count

    def _count_deferred(self) -> None:
        """The exchanges counted by their judgements' outcome, added to the tallies (under the lock; readers call it)."""
        if self._deferred:
            deferred, self._deferred = self._deferred, {}
            for key, count in deferred.items():
                self._apply(self._signatures[key][1], count)

    def _judge_history(self, exchange: ObservedExchange, number: int, facts: ResponseFacts | None = None, *,
                       unsure: bool = False) -> tuple[Judgement, ...]:
        """The rules judged across exchanges (result-id-unique), against what the traffic showed before (under the lock).

        `facts`: the answer as the one judge read it (its body parsed once for both). `unsure`: the one judge read the
        exchange in part (a request body coded, in another media type, read either way): whether a repeat replays an
        earlier send with the same body does not show, as for a masked key."""
        status = exchange.status
        if not self._history or status is None or exchange.response_body is None:
            return ()
        if IDEMPOTENCY_HEADER.lower() in exchange.repeated:  # which key the server read does not show: not judged,
            return ()  # nor remembered (the verdict says it is judged in part)
        judged: list[Judgement] = []
        for rule, memory, form in self._history_at(status):
            facts = facts or response_facts(status, exchange.received_headers, exchange.response_body, None, None, None)
            if not facts.parsed:
                continue
            if len(memory) >= _MAX_HISTORY:  # full: only what it holds is judged (a value it never saw is not)
                value = form.key(facts)
                if value is None or remembered(value) not in memory:
                    continue
            # (the header map joins a repeated field's values with ", ", as `header` does)
            sent = exchange.sent_headers
            replay = Replay.of(sent.get(_REPLAY_HEADER), sent.get("authorization"), exchange.request_body)
            if exchange.twin is not None:  # maybe the very exchange another recording held: one send, or two?
                value = form.key(facts)
                if value is not None and remembered(value) in memory:
                    self._unsettled = (f"{exchange.twin} holds the same request line and answer, and one of the two "
                                       f"records no start time: whether its repeated {rule.id} value is another send's "
                                       "or the same exchange recorded twice does not show, so that rule was not judged")
                    continue
            hidden = replay is not None and (exchange.credentials_hidden or _masked_value(replay.key))
            rebuilt = exchange.request_rebuilt is not None  # the key, credentials and body sent do not show at all
            value = form.key(facts)
            seen = remembered(value) if value is not None else None
            first = memory.get(seen) if seen is not None else None
            if first is not None and first[0] == _REBUILT_SCOPE:  # its first answer's request was rebuilt at export:
                # whether this one replays that send does not show, whichever file came first (never blamed)
                self._unsettled = (f"the request first answered with its {rule.id} value was rebuilt by its recorder "
                                   "at export: whether this send replays it does not show, so that rule was not judged")
                continue
            if rebuilt or (replay is not None and (unsure or hidden)):
                # a recorder masked the key or the credentials, or rebuilt the request at export, or the body has no one
                # reading (gzip's bytes differ between two sends of one JSON): whether a repeated value is a replay (same
                # key, API key and body) does not show. A value seen before is left unjudged (the exchange judged in
                # part), never excused or blamed.
                if first is not None:
                    why = ("its recorder rebuilt the request at export" if rebuilt else
                           "a recorder masked its Idempotency-Key or credentials" if hidden else "its body has no one reading")
                    self._unsettled = (f"{why}: whether its repeated {rule.id} value replays an earlier send does not "
                                       "show, so that rule was not judged")
                    continue
                replay = None
            ok, message = form.judge(memory, facts, replay, exchange.where or f"exchange {number}")
            if rebuilt and seen is not None and seen in memory:  # remembered as a send whose key and body do not show
                memory[seen] = (_REBUILT_SCOPE, None, memory[seen][2])
            if ok:
                judged.append(_history_kept(rule, status) if message is None else Judgement(rule.id, SERVER, False, rule.text, message))
        return tuple(judged)

    def _history_at(self, status: int) -> list[tuple[Any, History, Any]]:
        """The rules judged across exchanges that judge answers of `status`, with their memory (worked out once a status)."""
        found = self._history_by_status.get(status)
        if found is None:
            spec = self.contract.spec
            found = [(rule, memory, form) for rule, memory in self._history.values()
                     if (form := rule.form.across_responses) is not None and form.applies(spec, status)]
            if len(self._history_by_status) < 64:  # a handful of statuses; whatever a server answers, this stays small
                self._history_by_status[status] = found
        return found

    def observe_later(self, make: Callable[[], ObservedExchange | None], size: int | None = None) -> None:
        """Judge an exchange off the caller's event loop (a proxy's, an app's): one worker thread judges them in order.

        `make` builds the exchange on the worker (decompressing an answer is judging's cost too); `size` is the
        bytes it holds (its bodies), if the caller knows. At most `MAX_WAITING` wait, holding at most
        `MAX_WAITING_BYTES`; past that an exchange is counted and noted, never judged late at the price of memory.
        A request body over `JUDGED_BODY_BYTES` is not judged (its answer is; `observe` does this for every way
        in, and counts the exchange judged in part): parsing a large body costs many times its size.

        Called on the event loop: it takes only the small `_counts` lock, never judging's.
        """
        held = _UNSIZED if size is None else size
        with self._counts:
            if (self._pending >= MAX_WAITING or self._pending_bytes + held > MAX_WAITING_BYTES) or self._over_budget():
                self.unjudged_behind += 1
                self.stats.exchanges += 1
                self.stats.unjudged += 1
                self._stops_behind()
                return
            self._pending += 1
            self._pending_bytes += held
            if self._worker is None:
                self._worker = threading.Thread(target=self._judge_waiting, name="migma-contract judge", daemon=True)
                self._worker.start()
        self._waiting.put((make, held))

    def _over_budget(self) -> bool:
        """Whether judging has used more than its share of CPU lately (it holds the GIL the event loop needs).

        A leaky bucket of CPU seconds: it drains at `JUDGE_CPU_SHARE` of wall time and may hold `JUDGE_CPU_BURST`;
        past that, new exchanges pass unjudged (counted and noted) until it drains.
        """
        now = time.monotonic()
        self._cpu_debt = max(0.0, self._cpu_debt - (now - self._cpu_at) * JUDGE_CPU_SHARE)
        self._cpu_at = now
        return self._cpu_debt > JUDGE_CPU_BURST

    def _stops_behind(self) -> None:
        message = f"judging fell behind: {self.unjudged_behind} exchange(s) passed through unjudged"
        self._stops[:] = [s for s in self._stops if not s.startswith("judging fell behind")] + [message]

    def _judge_waiting(self) -> None:
        """The worker: judges what waits in order, a batch at a time (whatever waits, up to `_BATCH`): its CPU clock
        is read and the waiting counts settled once a batch, not once an exchange (each read of the clock is a
        system call). An exchange stays counted as waiting until its batch is judged."""
        try:
            self._judge_batches()
        finally:  # (it never returns; should it die all the same, no reader waits on it: what waits is counted unjudged)
            self._worker_ended()

    def _judge_batches(self) -> None:
        waiting = self._waiting
        while True:
            batch = [waiting.get()]
            try:
                while len(batch) < _BATCH:
                    batch.append(waiting.get_nowait())
            except queue.Empty:
                pass
            began = time.thread_time()
            try:
                for make, _ in batch:
                    try:
                        exchange = make()
                        if exchange is not None:
                            self.observe(exchange)
                    except BaseException as exc:  # a judging bug must never reach the proxy or the app
                        with self._counts:
                            self.stats.exchanges += 1
                            self.stats.unjudged += 1
                        self.note(f"an exchange could not be judged ({type(exc).__name__}); please report it")
            finally:
                with self._counts:
                    self._cpu_debt += time.thread_time() - began
                    self._pending -= len(batch)
                    self._pending_bytes -= sum(held for _, held in batch)
                    if not self._pending:
                        self._settled.notify_all()

    def _worker_ended(self) -> None:
        """The worker is gone: what still waits is counted unjudged (noted), and the next exchange starts a new one."""
        dropped = 0
        with self._counts:
            while True:
                try:
                    _, held = self._waiting.get_nowait()
                except queue.Empty:
                    break
                dropped += 1
                self._pending -= 1
                self._pending_bytes -= held
            self.stats.exchanges += dropped
            self.stats.unjudged += dropped
            if threading.current_thread() is self._worker:
                self._worker = None
            self._settled.notify_all()
        if dropped:
            self.note(f"judging stopped: {dropped} exchange(s) passed unjudged; please report it")

    def settle(self) -> None:
        """Wait until every exchange handed to `observe_later` is judged (readers call it).

        Never on the worker itself (an `on_breach` callback reading this judge reads what is judged so far), and
        never on a worker that is gone (`_worker_ended` counted what it left)."""
        with self._counts:
            while self._pending:
                worker = self._worker
                if worker is None or worker is threading.current_thread() or not worker.is_alive():
                    return
                self._settled.wait()

    def _learn(self, exchange: ObservedExchange) -> list[str]:
        """Every credential the traffic carries joins the redactor (by header name, query parameter, JSON key), within bounds.

        The redactor grows by what is new (`Redactor.add`: linear, not a rebuild per key). What it
        may cost is bounded: a credential longer than `LONGEST_KEY` (no real key is) is not
        remembered; nor are those past `MAX_CREDENTIALS_PER_EXCHANGE` from one exchange, past
        `MAX_CREDENTIALS` in all or past `MAX_CREDENTIAL_CHARS` characters in all. The report says
        so once per bound. Each one left out is still masked wherever its own exchange's findings
        show it (`_own_redactor`: every one, up to `OWN_CREDENTIAL_CHARS` characters; past them those
        findings show none of the answer's text), and by its name (a credential header, a
        credential-named key) wherever it stands.
        Returns those left out.
        """
        self._take_learned()
        headers = exchange.request_headers
        return self._learn_secrets(self._credentials_of(exchange, _SHAPES_JUDGED),
                                   {bearer_key(value) for name, value in headers if name.lower() == "authorization"},
                                   _keys_of(headers))

    def _learn_secrets(self, found: list[str], bearers: set[str | None], keys: set[str | None] | None = None) -> list[str]:
        """`_learn` of these credentials (`bearers`: the values that stood where the API's key goes; `keys`: those and
        any API key's (`_keys_of`): past the bound on all, `_MAX_KEYS_PAST` more of them are learned, Pass Z2, F9);
        those left out."""
        fresh = [secret for secret in found if secret not in self._secrets]
        if not fresh:
            return []
        learned: list[str] = []
        left: list[str] = []
        for secret in fresh:
            if len(secret) > LONGEST_KEY:
                self._bound("long", f"a credential longer than {LONGEST_KEY} characters was seen (longer than any real key): "
                                    "such values are masked under their names and in their own exchange's findings only")
            elif len(learned) >= MAX_CREDENTIALS_PER_EXCHANGE:
                self._bound("many", f"an exchange carried more than {MAX_CREDENTIALS_PER_EXCHANGE} credentials: the rest are "
                                    "masked under their names and in that exchange's findings only")
            elif keys and secret in keys and self._keys_past < _MAX_KEYS_PAST and (
                    len(self._secrets) + len(learned) >= MAX_CREDENTIALS
                    or self._secret_chars + len(secret) > MAX_CREDENTIAL_CHARS):
                self._keys_past += 1  # a key past the bound on all: learned within its own room
                learned.append(secret)
                continue
            elif len(self._secrets) + len(learned) >= MAX_CREDENTIALS or self._secret_chars + len(secret) > MAX_CREDENTIAL_CHARS:
                self._bound("all", f"more than {MAX_CREDENTIALS:,} distinct credentials (or {MAX_CREDENTIAL_CHARS:,} characters "
                                   "of them) seen: later ones are masked in the findings of their own exchanges only (but for "
                                   f"{_MAX_KEYS_PAST} more API keys, masked everywhere)")
            else:
                learned.append(secret)
                self._secret_chars += len(secret)
                continue
            left.append(secret)
        self._secrets.update(learned)
        self._bearer_keys.update(set(learned).intersection(bearers))
        self.redactor.add(learned)
        return left

    def _bound(self, which: str, message: str) -> None:
        """Say once that a bound on credentials was reached (under the lock)."""
        if which not in self._bounds_said:
            self._bounds_said.add(which)
            with self._counts:
                self._stops.append(message)

    def _credentials_of(self, exchange: ObservedExchange, searched: int = _SHAPES_READ) -> list[str]:
        """The credentials one exchange's request carries (by header name, query parameter, JSON key, a URL's userinfo in
        its URL, a header or its body: `url_credentials`), headers first.

        A cookie's value is one when the cookie's name is a credential's (`session`, `sid`, `token`, ...) or the
        value looks like a secret (`cookie_credential`): `consent=true` holds no credential. The Cookie header is
        masked whole wherever it is written, and its whole value is one too.
        """
        fresh: dict[str, None] = {}  # in order, once each
        later: list[tuple[str, ...]] = []  # each header's URL userinfo, after every header's own credentials
        for name, value in exchange.request_headers:
            found = _HEADER_CREDENTIALS.get((name, value))
            if found is None:
                found = _header_credentials(name, value)
                if len(_HEADER_CREDENTIALS) < 4096 and len(name) + len(value) <= 1024:  # (the few a client sends, read once each)
                    _HEADER_CREDENTIALS[name, value] = found
            own, in_urls = found
            if own:
                fresh.update(dict.fromkeys(own))
            if in_urls:
                later.append(in_urls)
        for in_urls in later:  # a URL's userinfo, in any header (Referer, Forwarded, a link)
            fresh.update(dict.fromkeys(in_urls))
        if "=" in exchange.url:
            fresh.update(dict.fromkeys(secrets_by_shape(exchange.url)))
        # the URL's userinfo (`https://user:password@host`, which requests keeps in the URL a cassette records and
        # sends as a Basic pair): learned as the Basic pair is, not only hidden where the URL is shown
        fresh.update(dict.fromkeys(url_credentials(exchange.url)))
        body = exchange.request_body
        if body and len(body) > searched:
            body = body[:searched]  # (its first part, where one is past the bound: never nothing)
        if body and (b'"' in body or b"=" in body or b"@" in body):
            text = body.decode("utf-8", errors="replace")
            fresh.update(dict.fromkeys(secrets_by_shape(text)))  # JSON keys, form parameters
            fresh.update(dict.fromkeys(url_credentials(text)))  # a URL's userinfo (a callback, a link)
        return [secret for secret in fresh if _secret_like(secret)]

    def _keys(self) -> dict[str, str]:
        """Bearer keys seen, each shown in curl lines as the variable the user keeps theirs in.

        Only a key that stood where the API's key goes (`Authorization: Bearer`): a cookie, a
        Basic password or another service's token is masked, never replaced by the user's key.
        """
        return {secret: f"{ENV_PREFIX}API_KEY" for secret in self._bearer_keys if " " not in secret}

    def _record(self, exchange: ObservedExchange, judgement: Judgement, number: int, unlearned: list[str]) -> str | None:
        """Keep the first finding of each rule and party (the rest counted as its occurrences); the line `on_breach`
        is told of a new one (None: no callback, or a rule and party found before)."""
        key = (judgement.rule_id, judgement.party)
        if key in self._findings:
            self._findings[key].occurrences += 1
            return None
        unremembered, hidden = self._own_redactor(unlearned)

        def own(text: str) -> str:
            return unremembered.text(text) if unremembered is not None else text
        rule = get_rule(judgement.rule_id)
        where = exchange.where or f"exchange {number}"
        case = Case(f"observed/{number:06d}", rule.id, where, RawBody(exchange.request_body or b""), frozenset(), phase="observed")
        shown = {k: v for k, v in exchange.sent_headers.items() if k not in FRAMING_HEADERS}
        received, answer, actual = dict(exchange.received_headers), exchange.response_body or b"", judgement.actual
        if hidden:  # credentials past what its own findings mask: what the answer may echo of them is not shown
            received, answer, actual = {}, _UNSHOWN.encode(), _UNSHOWN
        sent = Exchange(
            case, exchange.method.upper(), strip_credentials(exchange.url), shown,
            exchange.request_body or b"", exchange.status, received,
            answer, len(answer) if hidden else exchange.response_size or len(answer),
            exchange.response_body is None and bool(exchange.response_size) and not hidden, _shown_time(exchange),
            exchange.timed_out, exchange.error,
        )
        whole = f"it is {where}'s request body"
        try:
            request, response = make_records(sent, self.redactor, self._keys(), None, curl_base=PLACEHOLDER_BASE, whole=whole)
        except ValueError:  # a malformed Basic credential from a client: no variable substituted, still masked
            request, response = make_records(sent, self.redactor, {}, None, curl_base=PLACEHOLDER_BASE, whole=whole)
        finding = Finding(
            rule=rule.id, level=rule.level.value, rule_text=rule.text, source=rule.source,
            expected=judgement.expected, actual=_shorten_error(own(self.redactor.text(actual))), case=case.id,
            case_label=f"{where}: broken by the {judgement.party}", phase="observed",
            request=request, response=response, baselined=self.baseline.accepts(rule.id, judgement.party),
            broken_by=judgement.party, key=judgement.party,
        )
        finding = _clean(finding, self.redactor)
        if unremembered is not None:  # past the bound on credentials: this exchange's own still never show
            finding = _clean(finding, unremembered)
        self._findings[key] = finding
        if judgement.party == SERVER:
            self._note_symptom(exchange, rule)
        if self.on_breach is None:
            return None
        line = f"✗ {judgement.party} broke {rule.id}: {finding.actual[:200]} — expected {finding.expected[:120]} ({where})"
        return clean_text(self.redactor.text(line))

    def _own_redactor(self, unlearned: list[str]) -> tuple[Redactor | None, bool]:
        """What masks an exchange's own credentials left unremembered (`_learn`) in its findings (under the lock), and
        whether some were past it: all of them, headers first, up to `OWN_CREDENTIAL_CHARS` characters in all (the
        redactor's patterns cost a few microseconds a character; one longer than `LONGEST_KEY` costs a literal search,
        counted as that many). Past that the findings show none of the answer's text (`_UNSHOWN`), which may echo them.
        Built once an exchange."""
        cached = self._own
        if cached is not None and cached[0] is unlearned:
            return cached[1], cached[2]
        left = [secret for secret in unlearned if secret not in self._secrets]
        kept = _within_own_bound(left)
        hidden = len(kept) < len(left)
        if hidden:
            self._bound("own", f"an exchange carried more than {OWN_CREDENTIAL_CHARS:,} characters of credentials: its "
                               "findings show none of its answer's text (which may echo them)")
        found = Redactor(kept) if kept else None, hidden
        self._own = (unlearned, *found)
        return found

    def _note_symptom(self, exchange: ObservedExchange, rule: Any) -> None:
        """A server's failure about the status, for the root causes (as a check notes them)."""
        status = exchange.status
        if status is None:
            return
        shape = shape_of(exchange.response_body or b"")
        if rule.subject in _ROOT_SUBJECTS and rule.expected_status is not None:
            instead_of = replaced(status, frozenset({rule.expected_status}))
            if instead_of is not None:
                self._symptoms.append(Symptom(rule.id, status, instead_of, rule.subject, shape))
        elif rule.id == STATUS_DOCUMENTED.id:
            self._symptoms.append(Symptom(rule.id, status, None, Subject.RESPONSE, shape))

    def root_causes(self) -> list[Any]:
        """Findings that one wrong status explains, grouped as a check groups them (on the server's part of each rule)."""
        with self._lock:
            self._count_deferred()
            server = {rule_id: _ServerTally(t.by_server + t.server_right, t.server_right) for rule_id, t in self._tallies.items()
                      if t.by_server + t.server_right}
            return group(list(self._symptoms), server)

    # -- reading ----------------------------------------------------------------------------------

    @property
    def tallies(self) -> dict[str, RuleTally]:
        self.settle()
        with self._lock:
            self._count_deferred()
            return {rule_id: replace(tally) for rule_id, tally in self._tallies.items()}

    @property
    def findings(self) -> list[Finding]:
        self.settle()
        with self._lock:
            self._take_learned()
            order = {rule.id: index for index, rule in enumerate(self.rules)}
            found = sorted(self._findings.items(), key=lambda item: (order[item[0][0]], item[0][1]))
            return [_clean(finding, self.redactor) for _, finding in found]

    @property
    def violations(self) -> int:
        """Rules broken so far (outside the baseline)."""
        self.settle()
        with self._lock:
            self._count_deferred()
            return sum(1 for rule_id, tally in self._tallies.items() if tally.failed and not self._known(rule_id, tally))

    def result(self) -> RunResult:
        """Everything observed so far as the usual result (every writer renders it)."""
        findings = self.findings
        causes = self.root_causes()
        with self._lock:
            self._count_deferred()
            rules = [self._rule_result(rule) for rule in self.rules]
            self._take_learned()
            counted = [f"{count} × {note}" for note, count in self._notes.most_common(_MAX_NOTES)]
            with self._counts:
                stats = replace(self.stats, notes=self._kept_notes() + counted)
            flying = self.in_flight
            if flying:
                stats.exchanges += flying
                stats.unjudged += flying
                stats.notes.insert(0, _in_flight(flying))
            # every note redacted with every credential learned so far (under `_lock`, which guards the redactor): a
            # note may quote a path, a header's name or value, that held a key learned before or after it was made
            stats.notes = [self.redactor.text(note) for note in stats.notes]
        failed = any(r.status == Status.FAILED for r in rules)
        # A green verdict is earned: with a send judged in part or not at all, no violation found is no verdict (exit 3);
        # and with no send judged at all (the middleware wrapped around the wrong app, tests that never sent, every
        # send refused before the app), nothing was judged: no verdict either, on every way in (`judge` says so first,
        # exit 2, when its recordings held no send)
        earned = stats.in_full and stats.judged > 0
        completion, stopped = ("complete", None) if earned else ("partial", _gaps(stats))
        spec = self.contract.spec
        result = RunResult(
            tool_version=__version__,
            spec=SpecInfo(spec.source, spec.fingerprint, spec.version, [r.describe() for r in spec.repairs]),
            target=TargetInfo(label=clean_text(self.label), url=self.url, kind=self.kind, data_bound=False),
            level=self.level.value,
            seed=0,
            budget=Budget(max(stats.judged, 1), None, self.timeout or DEFAULT_TIMEOUT, None, 0, False),
            started=self._started.isoformat(timespec="seconds"),
            finished=datetime.now(UTC).isoformat(timespec="seconds"),
            duration_s=round(time.perf_counter() - self._clock, 3),
            requests_sent=stats.judged,
            verdict="failed" if failed else ("passed" if earned else "incomplete"),
            exit_code=1 if failed else (0 if earned else 3),
            completion=completion,
            stopped=stopped,
            rules=rules,
            findings=findings,
            plan=PlanStats(kind="observed"),
            settings=RunSettings(baseline=list(self.baseline)),
            traffic=stats,
            root_causes=causes,
        )
        result.stale_baseline = self.baseline.stale(failure_keys(result)) if self.baseline else []
        return result

    # -- several processes: one report of them all ---------------------------------------------------

    STATE_FORMAT = "migma-contract-state/2"  # (2: with its credentials' digests)
    _SUMMED = ("exchanges", "judged", "other", "unanswered", "partly_judged", "unjudged")

    def state(self, salt: bytes | None = None) -> dict[str, Any]:
        """What this judge saw, as JSON data, redacted as its reports are: its tallies (with who broke each rule), its
        findings, the symptoms its root causes are grouped from, its counted notes and its traffic's counts; and the
        credentials it learned, as keyed digests only (`Redactor.digests` with `salt`, else one of this process's: none
        of them can be read back), so that a merge masks them in every process's findings. The reports of several processes writing to one
        directory are made from the states of them all (`merged`)."""
        findings = self.findings
        with self._lock:
            self._count_deferred()
            self._take_learned()
            salt = salt or _SALT
            credentials = {"salt": salt.hex(), "digests": self.redactor.digests(salt)}
            tallies = {rule_id: asdict(tally) for rule_id, tally in self._tallies.items()}
            symptoms = [[s.rule, s.status, s.instead_of, s.subject.value, self.redactor.text(s.shape)] for s in self._symptoms]
            notes = [[self.redactor.text(note), count] for note, count in self._notes.items()]
            with self._counts:
                stats = {name: getattr(self.stats, name) for name in self._SUMMED}
                # (the asides after those explaining the verdict, repeats counted in the text: a merge keeps them so)
                stops, dropped = self._kept_notes(dropped=False), self._stops_dropped + self._asides_dropped
            flying = self.in_flight
            if flying:
                stats["exchanges"] += flying
                stats["unjudged"] += flying
                stops.insert(0, _in_flight(flying))
            stops = [self.redactor.text(note) for note in stops]
        return {"format": self.STATE_FORMAT, "level": self.level.value, "spec": self.contract.spec.fingerprint,
                "started": self._started.isoformat(), "tallies": tallies, "findings": [asdict(f) for f in findings],
                "symptoms": symptoms, "notes": notes, "stops": stops, "stops_dropped": dropped, "stats": stats,
                "credentials": credentials}

    def merged(self, states: Iterable[dict[str, Any]], notes: Iterable[str] = (), missing: int = 0) -> RunResult:
        """The result of every process's `state` together, judged as one judge would have judged all their exchanges:
        tallies and traffic counts summed, each rule and party's finding kept once (the first state's) with its
        occurrences summed, root causes grouped over every symptom, notes counted across them, and every text masked
        with every state's credentials (by their digests: a key one process learned, echoed in another's finding, is
        masked as one judge of both would mask it; at most `_MAX_SALTS` salts). `notes`: said as well;
        `missing`: processes whose part is not in these states (each one no green verdict: their sends were not read)."""
        judge = TrafficJudge(self.contract, self.level, kind=self.kind, label=self.label, url=self.url,
                             source=self.stats.source, timeout=self.timeout, baseline=self.baseline)
        started, merged_states = None, 0
        for state in states:
            try:
                at = datetime.fromisoformat(state["started"])
                judge._absorb(state)
            except Exception as exc:  # a state no process of this toolkit wrote (a file planted, cut, of another version)
                missing += 1
                judge.note(f"a process's state could not be merged ({clean_text(str(exc)[:120])}): its exchanges are not "
                           "in this report")
                continue
            started = at if started is None else min(started, at)
            merged_states += 1
        for note in notes:
            judge.note(note)
        with judge._lock:  # (the shapes of answers, as every text, masked with the credentials of every state)
            judge._symptoms = [replace(s, shape=judge.redactor.text(s.shape)) for s in judge._symptoms]
        across = [rule_id for rule_id in judge._history if judge._tallies[rule_id].exercised]
        if merged_states > 1 and across:  # each process remembered only the values of its own answers
            judge.note(f"{', '.join(across)}: judged within each process's own exchanges (a value answered in two "
                       "processes is not compared)")
        if missing:
            judge.pass_unjudged(f"{missing} process(es) writing to this report directory in this run had left no "
                                "state when it was written (still running, or ended without writing): their exchanges "
                                "are not in it", seen=False, count=missing)
        result = judge.result()
        if started is not None:
            result.started = started.isoformat(timespec="seconds")
            result.duration_s = round(max((datetime.now(UTC) - started).total_seconds(), 0.0), 3)
        return result

    def masked_states(self, states: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """`states` (of one run) with their texts masked with the credentials of them all (their digests), as `merged`
        masks its result: what each process's state file holds once the others' are known, so that a key one process
        learned, echoed in an answer another judged, stays in no state on disk either. A state that does not read so
        (one `merged` refuses) is given back as it was."""
        redactor, salts = user_redactor(), set[bytes]()
        for state in states:
            with contextlib.suppress(Exception):
                salt, digests = _state_credentials(state)
                if salt in salts or len(salts) < _MAX_SALTS:
                    redactor.add_digests(salt, digests)
                    salts.add(salt)
        if not redactor.digested:
            return states
        masked = []
        for state in states:
            try:
                masked.append({**state, "findings": [asdict(_clean(_finding(data), redactor)) for data in state["findings"]],
                               "symptoms": [[*symptom[:4], redactor.text(symptom[4])] for symptom in state["symptoms"]],
                               "notes": [[redactor.text(note), count] for note, count in state["notes"]],
                               "stops": [redactor.text(note) for note in state["stops"]]})
            except Exception:  # (a state of another shape: refused by `merged`, with a note)
                masked.append(state)
        return masked

    def _absorb(self, state: dict[str, Any]) -> None:
        """Add one `state` to what this judge saw (`merged`); a state of another level or document is refused."""
        if state.get("format") != self.STATE_FORMAT or state.get("level") != self.level.value or \
                state.get("spec") != self.contract.spec.fingerprint:
            raise ValueError("a state of another format, level or document")
        salt, digests = _state_credentials(state)
        if salt not in self._salts and len(self._salts) >= _MAX_SALTS:
            raise ValueError(f"the credentials of more than {_MAX_SALTS} salts would be masked")
        with self._lock:
            self.redactor.add_digests(salt, digests)  # (first: a state refused adds nothing else)
            self._salts.add(salt)
            for rule_id, counts in state["tallies"].items():
                tally = self._tallies.get(rule_id)
                if tally is not None:
                    for name, value in counts.items():
                        setattr(tally, name, getattr(tally, name) + _count(value))
            for data in state["findings"]:
                finding = _finding(data)
                key = (finding.rule, finding.broken_by or "")
                if key in self._findings:
                    self._findings[key].occurrences += finding.occurrences
                else:
                    self._findings[key] = finding
            room = max(_MAX_MERGED_SYMPTOMS - len(self._symptoms), 0)  # (grouped pairwise: bounded, as one process's are)
            self._symptoms += [Symptom(rule, status, instead_of, Subject(subject), shape)
                               for rule, status, instead_of, subject, shape in state["symptoms"][:room]]
            for note, count in state["notes"]:
                if not isinstance(note, str):
                    raise TypeError("a note that is not text")
                if note in self._notes or len(self._notes) < 200:
                    self._notes[note] += _count(count)
            with self._counts:
                for name in self._SUMMED:
                    setattr(self.stats, name, getattr(self.stats, name) + _count(state["stats"][name]))
                for note in state["stops"]:
                    if not isinstance(note, str):
                        raise TypeError("a note that is not text")
                    if note in self._stops:
                        continue
                    if len(self._stops) < _MAX_STOPS:
                        self._stops.append(note)
                    else:
                        self._stops_dropped += 1
                self._stops_dropped += _count(state["stops_dropped"])

    def _known(self, rule_id: str, tally: RuleTally) -> bool:
        """Whether the baseline accepts every party that broke this rule."""
        parties = [party for party, count in ((CLIENT, tally.by_client), (SERVER, tally.by_server)) if count]
        return all(self.baseline.accepts(rule_id, party) for party in parties)

    def _rule_result(self, rule: Any) -> RuleResult:
        tally = self._tallies[rule.id]
        status, reason, observed = Status.PASSED, None, None
        if tally.exercised:
            observed = tally.wording()
            if tally.failed:
                status = Status.ACCEPTED if self._known(rule.id, tally) else Status.FAILED
        else:
            status, reason = Status.NOT_EXERCISED, self._not_observed(rule)
        return RuleResult(id=rule.id, level=rule.level.value, subject=rule.subject.value, text=rule.text, source=rule.source,
                          status=status, exercised=tally.exercised, passed=tally.passed, failed=tally.failed,
                          reason=reason, observed=observed)

    def _not_observed(self, rule: Any) -> str:
        """Why no exchange exercised `rule` (never "passed": nothing was seen)."""
        if not self.stats.judged:
            return "not observed: no POST /v1/sending exchange judged"
        if rule.id == AUTH_SCOPE.id:
            return "not observable: a key's permissions do not show in traffic"
        if rule.id == AUTH_REQUIRED.id:
            return "not observed: every request had a Bearer key (or the recording hid it)"
        if rule.subject is Subject.REQUEST:
            return "not observed: no request broke it"
        if rule.id == ACCEPTS_VALID.id:
            refused = sum(count for note, count in self._notes.items() if note.startswith("valid request answered"))
            return "not observed: no valid request answered 200" + (f" ({refused} got a documented refusal)" if refused else "")
        if rule.id == RESPONDS_IN_TIME.id:
            return "not observed: no exchange's duration known as the server's"
        statuses = rule.form.judged_statuses(self.contract.spec)
        if statuses is not None:
            return f"not observed: no {'/'.join(str(s) for s in sorted(statuses))} response body"
        return "not observed: no response it applies to"


_SENSITIVE: dict[str, bool] = {}  # a header's name -> whether it carries a credential (`sensitive_header`)
# a request header (name, value) -> the credentials it carries under its name, and those in a URL's userinfo in it
# (`_header_credentials`): a client sends the same few fields (its key) with every request, read once each
_HEADER_CREDENTIALS: dict[tuple[str, str], tuple[tuple[str, ...], tuple[str, ...]]] = {}


def _header_credentials(name: str, value: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The credentials one request header carries (`TrafficJudge._credentials_of`), in order, once each, only those
    `_secret_like`: under its name (a credential header: the key of `Bearer <key>`, each word of it, a Basic pair, a
    cookie's credential values) and, apart, those in a URL's userinfo in its value (read after every header's own)."""
    fresh: dict[str, None] = {}
    sensitive = _SENSITIVE.get(name)
    if sensitive is None:
        sensitive = sensitive_header(name)
        if len(_SENSITIVE) < 1024 and len(name) <= 128:  # the few names a server is sent, decided once each
            _SENSITIVE[name] = sensitive
    if sensitive and value:
        # (a recorder's mask, "[Filtered]", "XXXXXX", is no `_secret_like` credential; a real key beside a hidden
        # one, or one a vcrpy cassette keeps under another scheme than Bearer, is learned all the same)
        scheme, _, credential = value.strip().partition(" ")
        # "Bearer <key>": the key alone (masking it masks the header's value too); else the whole value
        fresh[credential.strip() if credential.strip() and scheme.isalpha() else value.strip()] = None
        # ...and each word of it: `Bearer: <key>`, `Bearer<TAB><key>`, `Token: <key>`, two keys in one field
        if name.lower() != "cookie":  # a cookie's pairs are read below
            fresh.update(dict.fromkeys(part for part in _CREDENTIAL_WORDS.split(value) if part))
        if scheme.lower() == "basic" and credential.strip():  # what a server echoes is the decoded pair
            fresh.update(dict.fromkeys(_basic_pair(credential.strip())))
        if name.lower() == "cookie":
            for part in value.split(";"):
                cookie, _, held = part.partition("=")
                if cookie_credential(cookie.strip(), held.strip()):
                    fresh[held.strip()] = None
                    if "%" in held:  # a server that decodes cookies (PHP, cookie-parser) echoes it decoded (Pass Q2, F4)
                        fresh[unquote(held.strip())] = None
    in_urls = tuple(secret for secret in dict.fromkeys(url_credentials(value)) if _secret_like(secret)) if "@" in value else ()
    return tuple(secret for secret in fresh if _secret_like(secret)), in_urls


def _basic_pair(credential: str) -> list[str]:
    """`user:password` and the password of a Basic credential (nothing when it is no base64 of text)."""
    try:
        pair = base64.b64decode(credential[:1024], validate=True).decode("utf-8")
    except ValueError:
        return []
    return [pair, pair.partition(":")[2]] if ":" in pair else [pair]


# what a cut drops at its end: the run it falls in, back to whitespace or a separator no base64 (nor base64url) text
# holds (`/`, `+`, `=` are in the alphabet: a Basic credential cut after its last `/` kept a prefix; pass Q1, F2)
_PARTIAL_WORD = re.compile(r"[^\s?&;,:<>]*\Z")


def _kind_of(note: str) -> str:
    """What kind of note this is: its start, its numbers aside (one kind: "proxy exchange 7: the send, POST <...")."""
    return _NUMBERS.sub("#", note[:60])


_SEPARATORS = re.compile(r"[/?&=#;]")


def cut_at_a_separator(url: str, limit: int) -> str:
    """`url` up to `limit` characters, cut (if it must be) after its last separator (`/?&=#;`) within them, then `…`:
    never through a token a credential may be (a key in a path segment or a parameter), whose prefix no redactor masks
    (Pass Z1, F1's class). A base64 credential holds `/` and `=`: mask `url` before it is cut (`held_masked`, pass Q1)."""
    if len(url) <= limit:
        return url
    ends = [match.end() for match in _SEPARATORS.finditer(url, 0, limit)]
    return url[:ends[-1] if ends else 0] + "…"


def noted(note: str) -> str:
    """A note as every report carries it: at most `_NOTE_CHARS` characters of it, the cut said, made safe to carry.
    The one place notes are made: each may quote a hostile peer (a 90 KB Content-Encoding value, header names), and a
    report holds at most 2 × `_MAX_STOPS` + `_MAX_KINDS` + `_MAX_NOTES` of them (those explaining the verdict, the
    asides, kinds past the cap, those counted), so every report of any run stays small."""
    if len(note) > _NOTE_CHARS:  # cut before a word, never inside one: a key cut in two is masked by no pattern
        note = f"{_PARTIAL_WORD.sub('', note[:_NOTE_CHARS])}… ({len(note):,} characters, cut)"
    return clean_text(note)


# What a history remembers as the replay scope of a value first given to a request its recorder rebuilt at export
# (`ObservedExchange.request_rebuilt`): no digest (those are 16 bytes), so a later send repeating the value is never
# taken for another key's (blamed) nor the same key's (excused): not judged, whichever file came first
_REBUILT_SCOPE = b"rebuilt"


# Said of each send whose recording masked or may have left out its credentials (`ObservedExchange.credentials_hidden`).
_HIDDEN_NOTE = ("credentials masked or possibly left out by the recorder (Schemathesis' [Filtered] or its configured "
                "replacement, a sanitizer's [Authorization redacted], vcrpy's filter_headers, a sanitized browser export): "
                "the auth rules were not judged")


def _shown_time(exchange: ObservedExchange) -> float:
    """An exchange's time as a finding shows it: the server's own part, else the recording's whole (a Schemathesis
    `elapsed`), else 0 (none recorded: vcrpy)."""
    if exchange.elapsed is not None:
        return exchange.elapsed
    return exchange.recorded_time.seconds if exchange.recorded_time is not None else 0.0


def _unrecorded(exchange: ObservedExchange) -> str | None:
    """Why a send's rules could not all be judged because a body was not recorded (a HAR without `content.text`,
    a request recorded as `params`): the rules of the body stand unjudged, and no green verdict rests on them."""
    if exchange.request_body is None:
        return "its request's body was not recorded (the request rules were not judged)"
    status = exchange.status
    if status is not None and exchange.response_body is None and not exchange.error and status >= 200 and status not in (204, 304):
        return "its answer's body was not recorded (only what the status says was judged)"
    return None


def _secret_like(value: str) -> bool:
    """Whether a value traffic sent as a credential is remembered, and masked in every later text.

    A word is not: `x-api-key: recipientId` would mask a field's and a rule's name in every report. A
    credential the judge remembers holds a digit, or is long; any other is masked where it stands (under
    its header name or JSON key) and in its own exchange's findings.
    """
    return len(value) >= 8 and (len(value) >= 20 or any(map(str.isdigit, value)))


def _in_flight(count: int) -> str:
    """The note of the sends still in flight when a result or state was made (`TrafficJudge.in_flight`)."""
    return (f"{count} send(s) still in flight when this was written (the app had not answered them whole, within its "
            "timeout): not judged")


def _gaps(stats: TrafficStats) -> str:
    """What was not judged in full, in one phrase (the notes say why, exchange by exchange)."""
    parts = [f"{stats.partly_judged} send(s) judged in part"] if stats.partly_judged else []
    parts += [f"{stats.unjudged} passed unjudged"] if stats.unjudged else []
    if not stats.judged:  # nothing to judge: no green verdict rests on no send
        seen = f" ({' and '.join(parts)}; see the traffic notes)" if parts else ""
        return f"no POST /v1/sending exchange judged{seen}: nothing to judge"
    return " and ".join(parts) + " (see the traffic notes)"


_MULTILINE = frozenset({"body"})


def _clean(value: Any, redactor: Redactor, name: str = "") -> Any:
    """Every text of a finding redacted with all the credentials seen, and made safe to carry."""
    if isinstance(value, str):
        if name in SHELL_FIELDS:
            return redactor.shell_line(value)
        return clean_text(redactor.text(value), multiline=name in _MULTILINE)
    if isinstance(value, Mapping):
        return {clean_text(redactor.text(str(k))): _clean(v, redactor) for k, v in value.items()}
    if is_dataclass(value) and not isinstance(value, type):
        return replace(value, **{f.name: _clean(getattr(value, f.name), redactor, f.name) for f in fields(value)})
    return value


def _finding(data: dict[str, Any]) -> Finding:
    """A finding as a state holds it (`TrafficJudge.state`), read back."""
    return Finding(**{**data, "request": RequestRecord(**data["request"]), "response": ResponseRecord(**data["response"])})


def _keys_of(headers: Iterable[tuple[str, str]]) -> set[str | None]:
    """The values in a request's head standing where an API's key goes: `Authorization`'s credential (`bearer_key`),
    an API-key header's whole value (`_KEY_HEADERS`)."""
    keys: set[str | None] = set()
    for name, value in headers:
        lowered = name.lower()
        if lowered == "authorization":
            keys.add(bearer_key(value))
        elif lowered in _KEY_HEADERS:
            keys.add(value.strip())
    return keys


def _state_credentials(state: dict[str, Any]) -> tuple[bytes, list[Any]]:
    """A state's salt and its credentials' digests (`Redactor.digests`), checked for their shape (ValueError)."""
    credentials = state["credentials"]
    if not isinstance(credentials, dict) or not isinstance(credentials.get("salt"), str) or \
            not isinstance(credentials.get("digests"), list) or \
            len(credentials["digests"]) > MAX_CREDENTIALS + _MAX_OWN_KEYS + _MAX_KEYS_PAST:
        raise ValueError("credentials' digests of another shape")
    return bytes.fromhex(credentials["salt"]), credentials["digests"]


_MAX_MERGED_SYMPTOMS = 2_000  # root-cause symptoms taken from the processes' states together (grouped pairwise)


def _count(value: Any) -> int:
    """A count read from a process's state: a whole number from 0 to 10**12, or the state is refused (`merged`): a
    negative or forged count would cancel another process's failures."""
    if type(value) is not int or not 0 <= value <= 10**12:
        raise ValueError(f"a count that is no count ({clean_text(repr(value))[:40]})")
    return value
