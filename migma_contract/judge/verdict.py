"""The one judge: one exchange in, what the client and the server each owed out.

`judge_exchange` reads an `Exchange` (any producer), asks `deserve` what the request
deserved, and the compiled response validator what every answer must satisfy. It keeps
every violation of a response (each rule's messages joined), and counts a rule as judged
only when the answer gave it something to judge. The check adds what only a run knows (the
answers it saw before, the faults it injected) around it; traffic, the middleware and the
Schemathesis checks take it as it is.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple

from migma_contract.contract.catalogue import (
    IDEMPOTENCY_HEADER,
    JSON_MEDIA_TYPE,
    NO_SERVER_ERROR,
    RESPONDS_IN_TIME,
    REUSED_KEY_STATUSES,
    RULES,
    STATUS_DOCUMENTED,
    rules_for,
)
from migma_contract.contract.rules import Level, ResponseFacts
from migma_contract.contract.validators import Contract, ResponseValidator, cut_body, response_facts
from migma_contract.core.fields import media_type, request_head_refusable, trimmed
from migma_contract.core.untrusted import clean_text
from migma_contract.generate.bodies import Fixtures
from migma_contract.judge.deserve import Ambiguous, Deserved, Standing, deserve, parsed_body
from migma_contract.judge.exchange import Exchange
from migma_contract.judge.overrides import asked_methods
from migma_contract.judge.refusals import refusals

__all__ = ["CLIENT", "ONE_VALUE_FIELDS", "SERVER", "ExchangeVerdict", "Judgement", "Knowledge", "judge_exchange", "no_endpoint",
           "request_doubt"]

CLIENT, SERVER = "client", "server"
THROTTLED = 429  # transient: judged by its status only once the retries ran out
NOT_IMPLEMENTED = 501  # an HTTP layer's answer to a transfer coding it does not know (RFC 9112 §6.1)
_STATUS_ONLY = frozenset({NO_SERVER_ERROR.id, RESPONDS_IN_TIME.id})  # what an answer says without its body
_WITHOUT_BODY = _STATUS_ONLY | {STATUS_DOCUMENTED.id}  # ...and whether its status is documented (not for a 429 retried)
# ...and, only where its header breaks them, the rules the media type alone decides of a read body (content-type-json:
# a Content-Type that is no JSON's breaks it whatever the body; one that is JSON's leaves the body to judge)
_BY_HEADER = frozenset(rule.id for rule in RULES if getattr(rule.form, "media_only", False))
_NOT_RECORDED = "response body not recorded in full"
_TEXT = {rule.id: rule.text for rule in RULES}
_IDS_AT = {level: frozenset(rule.id for rule in rules_for(level)) for level in Level}
# The request fields the contract reads as one value: given more than once (even alike), parties read them differently
# (the first, the last, the joined `a, a`), so the exchange is judged in part, never against one guessed reading.
_IDEMPOTENCY = IDEMPOTENCY_HEADER.lower()
_SPELLED = {"authorization": "Authorization", "content-type": "Content-Type", _IDEMPOTENCY: IDEMPOTENCY_HEADER}
ONE_VALUE_FIELDS = frozenset(_SPELLED)
# What a doubt leaves unjudged (flags): the rules keyed on the replay key; the request's rules and credentials; its
# status (the status it deserved, and whether that status is documented); the answer's body rules.
# ...and (`_ERROR`) whether a 5xx is the server's break (a 501 an HTTP layer answers to a transfer coding it does not know)
_KEY_ONLY, _REQUEST, _STATUS, _ANSWER, _ERROR = 1, 2, 4, 8, 16
_MEDIA = _REQUEST | _STATUS


class Judgement(NamedTuple):
    """One rule decided on one exchange, for one party (a tuple: a dozen are made per exchange)."""

    rule_id: str
    party: str  # CLIENT or SERVER
    ok: bool
    expected: str
    actual: str


@dataclass(frozen=True)
class ExchangeVerdict:
    judgements: tuple[Judgement, ...]
    notes: tuple[str, ...] = ()  # what was left unjudged, and why
    deserved: Deserved | None = None
    # the answer as the response rules read it (None: no answer, or cut), for what judges across exchanges
    facts: ResponseFacts | None = field(default=None, compare=False, repr=False)
    partly: str | None = None  # why the exchange was judged in part only (a request body with no one reading)

    @property
    def breaches(self) -> tuple[Judgement, ...]:
        return tuple(j for j in self.judgements if not j.ok)

    def of(self, party: str) -> tuple[Judgement, ...]:
        return tuple(j for j in self.judgements if j.party == party)


@dataclass(frozen=True)
class Knowledge:
    """What the judging party knows beyond the exchange itself.

    Traffic knows little (`TRAFFIC`): a key's standing and the target's data do not show.
    A check knows its keys, built the request's data, and retried every 429 it could.
    """

    standing: Standing = Standing.UNSURE
    data_known: bool = False
    fixtures: Fixtures | None = None
    timeout: float | None = 10.0
    truncated_at: int | None = None  # the response body was cut at this many bytes (not judged by body rules)
    throttle_final: bool = False  # a 429 here is final (retries ran out): judged like any status
    answer_text: str = ""  # the server's error text, for the sentence (the caller redacts and cleans it)
    judge_status: bool = True  # False: the request's own form judges its answer (the vendor set's keyed pairs)
    # the request's head holds the framing headers the wire carried (a proxy, a middleware, a recorder writing the head
    # as sent); False: a recording whose recorder may keep only the caller's headers (no Content-Length it shows is
    # no proof none was sent: `judge.refusals`)
    framing_shown: bool = True
    # why the request shown may not be the one the answer answered (a recorder that rebuilds each request at export:
    # `traffic.recordings`); None: it is the one sent. Judged as a request its parties may read otherwise (`_MEDIA`):
    # none of its rules, its credentials nor the status it deserved is judged, nor a value it repeats across exchanges
    request_doubt: str | None = None


TRAFFIC = Knowledge()


def judge_exchange(contract: Contract, level: Level, exchange: Exchange, knowledge: Knowledge = TRAFFIC, *,
                   body: Any = None, validator: ResponseValidator | None = None,
                   repeated: Collection[str] = (), given: Mapping[str, Sequence[str]] | None = None) -> ExchangeVerdict:
    """Every rule of `level` one POST /v1/sending exchange decides, for the client and the server.

    `body`: the request's JSON value when the caller has it already (the check built it);
    otherwise it is read from the exchange. `validator`: the run's response validator (its
    rule sets), else the level's. `repeated`: the `ONE_VALUE_FIELDS` the request gives more
    than once (a way in holding its fields as a list knows; a joined `a, b` does not tell). `given`: each
    field the request gives more than once, its values in order (a refusal a server's reading of any of them allows
    is not blamed: `judge.refusals`).

    A request its parties may read differently is judged on no guessed reading (judged in
    part, `partly` says why): a media type other than `application/json` (none, a form,
    text, another charset) leaves its request rules and its status unjudged (the document
    speaks of JSON requests only: a form parser reads another request, a 415 is HTTP's
    answer); a repeated `Authorization` leaves the request unjudged; a repeated
    `Idempotency-Key` the rules keyed on it (whoever judges across exchanges asks `partly`). A request the way in says
    may not be the one sent (`Knowledge.request_doubt`: a recorder that rebuilt it at export) is judged as one its
    parties read otherwise: its request rules, its credentials and its status unjudged, the answer's own rules judged.
    """
    headers = exchange.sent_headers
    standing = knowledge.standing
    doubt, open_to = _request_doubt(headers.get("content-type"), repeated)
    asked, flags = _asks_otherwise(headers, exchange.target, exchange.sent_body, exchange.status, knowledge.data_known,
                                   exchange.sent_size, exchange.sent_size_open, given=given,
                                   framing_shown=knowledge.framing_shown)
    if asked is not None and flags & ~open_to:  # (a doubt leaving nothing more unjudged is not said twice)
        doubt, open_to = (f"{doubt}; {asked}" if doubt else asked), open_to | flags
    if knowledge.request_doubt is not None:  # not the request sent, maybe: judged as one read otherwise (the answer's own
        doubt = f"{knowledge.request_doubt}; {doubt}" if doubt else knowledge.request_doubt  # rules are judged all the same)
        open_to |= _MEDIA | _KEY_ONLY
    if open_to & _REQUEST:
        body, standing = Ambiguous(doubt or ""), Standing.HIDDEN  # no rule of the request, and no credential, is judged
    elif body is None:
        body = parsed_body(exchange.sent_body, headers.get("content-type"), headers.get("content-encoding"))
    deserved = deserve(contract, level, body, headers.get("authorization"), standing,
                       fixtures=knowledge.fixtures, data_known=knowledge.data_known, answered=exchange.status)
    ids = _IDS_AT[level]
    judged = [Judgement(rule_id, CLIENT, False, expected, why) for rule_id, expected, why in deserved.client if rule_id in ids]
    notes = list(deserved.notes)
    facts = None
    if exchange.status is None or exchange.timed_out or exchange.error:
        judged.append(_no_answer(exchange, knowledge))
    else:
        answer = f"{exchange.status}{knowledge.answer_text}"
        judged += _status_deserved(exchange.status, deserved, knowledge, answer, ids, notes, open_status=bool(open_to & _STATUS))
        facts, whole, unread = _response_rules(contract, level, exchange, knowledge, body, validator, answer, notes, judged,
                                               open_status=bool(open_to & _STATUS), open_body=bool(open_to & _ANSWER),
                                               open_error=bool(open_to & _ERROR))
        if unread is not None:  # the answer's body rules stand unjudged (the client's breaks are judged all the same)
            doubt = unread if doubt is None else f"{doubt}; {unread}"
        if exchange.status == THROTTLED and not knowledge.throttle_final:  # no retry follows in traffic: nothing judged it
            throttled = ("a 429 (rate limited) is transient: its status, and the answer's body and status rules, were not "
                         "judged (a check retries it and judges the answer it cannot get past)")
            doubt = throttled if doubt is None else f"{doubt}; {throttled}"
        if whole is not None:  # every rule kept: the same tuple as every exchange like it (its tallies are counted by it)
            return ExchangeVerdict(whole, tuple(notes), deserved, facts, body.why if type(body) is Ambiguous else doubt)
    return ExchangeVerdict(tuple(judged), tuple(notes), deserved, facts, body.why if type(body) is Ambiguous else doubt)


_MEDIA_DOUBTS: dict[str, str | None] = {}  # a request's Content-Type -> why its body may be read as no JSON (None: JSON)


def _request_doubt(content_type: str | None, repeated: Collection[str]) -> tuple[str | None, int]:
    """Why the request's parties may read it differently (None: they read it alike), and what that leaves unjudged."""
    if content_type is not None and not repeated:  # the common case: one JSON Content-Type, nothing repeated
        try:
            why = _MEDIA_DOUBTS[content_type]
        except KeyError:
            why = _media_doubt(content_type)
            if len(_MEDIA_DOUBTS) < 256:  # clients send a handful of values
                _MEDIA_DOUBTS[content_type] = why
        return (why, _MEDIA) if why is not None else (None, 0)
    names = sorted(_SPELLED.get(name, name) for name in repeated)
    twice = (f"its request gives {' and '.join(names)} more than once (the contract reads one value; parties keep the "
             "first, the last, or both joined)")
    if content_type is None or "content-type" in repeated:
        return (twice if repeated else "its request has no Content-Type") + (
            ": a server may read its body as no JSON, so the request rules and its status were not judged"), _MEDIA
    why = _media_doubt(content_type)
    if why is not None:
        return f"{twice}; {why}", _MEDIA
    if "authorization" in repeated:
        return f"{twice}: which credentials the server read does not show, so the request rules were not judged", _REQUEST
    return f"{twice}: which key the server replays under does not show, so the rules keyed on it were not judged", _KEY_ONLY


def request_doubt(content_type: str | None, repeated: Collection[str] = ()) -> tuple[str | None, str]:
    """The one judge's reading of a request's head: why its parties may read it differently (None: they read it
    alike) and what that leaves unjudged: "media" (a media type other than `application/json`, another charset, no or
    two Content-Types: its request rules and status; a strict server answers 415), "request" (`Authorization` given
    more than once: its request rules and credentials), "key" (`Idempotency-Key` more than once: the rules keyed on
    it). The reference mock answers by it (`mock`), so the consumer route reads a request as traffic does."""
    why, flags = _request_doubt(content_type, repeated)
    return why, ("" if why is None else "media" if flags & _STATUS else "request" if flags & _REQUEST else "key")


# What a refusal HTTP names for a request's feature (`judge.refusals`) leaves unjudged when the answer is it: a 406's
# body may be any representation (or none); a 415 or 417 refuses the request before it is read (its request rules).
_REFUSED = {406: _STATUS | _ANSWER, 411: _STATUS, 412: _STATUS, 415: _MEDIA, 417: _MEDIA}


def _asks_otherwise(headers: Mapping[str, str], target: str, body: bytes | None = None, status: int | None = None,
                    data_known: bool = False, size: int | None = None, size_open: bool = False, *,
                    given: Mapping[str, Sequence[str]] | None = None, framing_shown: bool = True) -> tuple[str | None, int]:
    """Why a server may answer the request as something else than the send, and what that leaves unjudged (`_STATUS`
    and more); (None, 0): it asks for nothing else. A method override naming another method (`judge.overrides`: a
    server honouring it answers as for that method, a 405): its status and request rules. A feature HTTP lets a server
    refuse with a status of its own (`judge.refusals`: a content coding 415, negotiation it cannot satisfy 406, an
    expectation 417, a precondition 412, no Content-Length 411), answered with that status: the status, and what that
    refusal touches (`_REFUSED`). In traffic (`data_known` False: the requests are not the judge's own),
    refused (4xx): a head a server's HTTP layer or a front end may refuse before any app (a target with characters RFC
    3986 forbids, a head past common front-end limits, header fields RFC 9112/9110 make or let a server refuse:
    `_front_end_refusable`; a 501 to a transfer coding too, then not judged on no-server-error): its status and the
    answer's body rules (the refusal may be the front end's, an HTML page), and so is a 413 to a body past what front
    ends commonly allow (`FRONT_END_BODY`); answered as a reused key may be (`REUSED_KEY_STATUSES`) under an
    `Idempotency-Key`, whose earlier use does not show: its status."""
    said: list[str] = []
    flags = 0
    other = next((method for method in asked_methods(headers.items(), target, body, content_type=headers.get("content-type"))
                  if method and method.upper() != "POST"), None)
    if other is not None:
        said.append(f"its request asks for another method (_method or an override header {clean_text(other[:40])!r}): a "
                    "server honouring it answers as for that method (a 405), so its status and request rules were not judged")
        flags |= _MEDIA
    known = None if size_open else len(body) if body is not None else size
    for refusal in refusals(headers, given, framing_shown=framing_shown, body_size=known) if status in _REFUSED else ():
        if refusal.status == status:
            said.append(f"{refusal.why}: it was answered {status}, so that status"
                        + (" and the answer's body rules were not judged" if _REFUSED[status] & _ANSWER else
                           " and the request rules were not judged" if _REFUSED[status] & _REQUEST else " was not judged"))
            flags |= _REFUSED[status]
    if status is None or not (400 <= status < 500 or status == NOT_IMPLEMENTED) or status == THROTTLED or data_known:
        # (a check's requests are its own: their target and head are the ones the user pointed it at)
        return ("; ".join(said), flags) if said else (None, 0)
    if status == NOT_IMPLEMENTED:  # a server's HTTP layer answers 501 to a transfer coding it does not know (RFC 9112 §6.1)
        refused = request_head_refusable(headers.items())
        if refused is not None and refused[1]:
            said.append(f"its request {refused[0]}, which a server's HTTP layer may answer 501 before any app (RFC 9112 "
                        "§6.1): its 501 may not be the API's, so its status and the answer's rules were not judged")
            flags |= _STATUS | _ANSWER | _ERROR
        return ("; ".join(said), flags) if said else (None, 0)
    front = _front_end_refusable(headers, target, given=given) or (
        _front_end_too_large(headers, len(body) if body is not None else size, body is None and size_open)
        if status == 413 else None)
    if front is not None:
        said.append(f"its request {front}, which a server's HTTP layer or a front end (a proxy, a servlet container) "
                    f"may refuse before any app: its {status} may not be the API's, so its status and the answer's body "
                    "rules were not judged")
        flags |= _STATUS | _ANSWER
    elif status in REUSED_KEY_STATUSES and _IDEMPOTENCY in headers:
        said.append(f"its request carries an {IDEMPOTENCY_HEADER} whose earlier use the traffic does not show: a server "
                    f"answers {status} to a key reused with another body (idempotency-conflict), so its status was not judged")
        flags |= _STATUS
    return ("; ".join(said), flags) if said else (None, 0)


# Characters RFC 3986 allows in a request target's path and query (unreserved, sub-delims, ":", "@", "/", "?"), and a
# percent sign starting an escape; anything else (`{`, `|`, `^`, `[`, a space, a non-ASCII character) a strict front end
# refuses (Tomcat: "Invalid character found in the request target").
_TARGET_CHARS = re.compile(r"(?:[A-Za-z0-9\-._~!$&'()*+,;=:@/?]|%[0-9A-Fa-f]{2})*")
# What common servers and front ends refuse before any app, by their defaults: for each part of a request head, the
# smallest limit among them (a head under all of them reaches the app behind any of them, and its refusal is judged).
# Larger defaults are covered by these: nginx's large_client_header_buffers (8 KB a line, 414 or 400), Apache's
# LimitRequestLine (8,190), IIS's maxUrl (4,096 bytes of path, 404.14), Node's --max-http-header-size and h11's
# max_incomplete_event_size (16 KB a head, 431 or 400), Go's DefaultMaxHeaderBytes (1 MB, 431).
FRONT_END_LINE = 4094  # the request line (method, target, version): gunicorn's limit_request_line (414 or 400)
FRONT_END_QUERY = 2048  # the target's query: IIS's and Azure App Service's (Windows) maxQueryString (404.15)
FRONT_END_FIELD = 8190  # one header line (`Name: value`): gunicorn's limit_request_field_size, Apache's LimitRequestFieldSize
FRONT_END_FIELDS = 100  # header lines: gunicorn's limit_request_fields, Apache's LimitRequestFields, Tomcat's maxHeaderCount
FRONT_END_HEAD = 8 * 1024  # the whole head: Tomcat's maxHttpHeaderSize, Jetty's requestHeaderSize (400, 431)


def _front_end_refusable(headers: Mapping[str, str], target: str, method: str = "POST",
                         given: Mapping[str, Sequence[str]] | None = None) -> str | None:
    """What in the request's head a server's HTTP layer or a front end may refuse before any app (None: nothing): a target
    holding characters RFC 3986 forbids, a part of the head past the smallest common front-end limit for it (the request
    line, the query, one header line, the number of header lines, the whole head: `FRONT_END_*`), header fields RFC
    9112/9110 make or let a server refuse (`core.fields.request_head_refusable`: every way in reads them so). `given`:
    each field given more than once, its values in order (each its own line on the wire)."""
    path = target
    if "://" in target[:16]:  # an absolute URL: its path and query
        rest = target.split("://", 1)[1]
        path = "/" + rest.split("/", 1)[1] if "/" in rest else "/"
    if not _TARGET_CHARS.fullmatch(path):
        bad = next((ch for ch in path if not _TARGET_CHARS.fullmatch(ch) and ch != "%"), "%")
        return f"target holds {clean_text(repr(bad))}, which RFC 3986 does not allow in a target"
    line = len(method) + len(path) + len(" HTTP/1.1") + 1
    if line > FRONT_END_LINE:
        return (f"has a request line of {line:,} bytes, past the {FRONT_END_LINE:,} gunicorn allows by default "
                "(limit_request_line)")
    query = len(path.partition("?")[2].partition("#")[0])
    if query > FRONT_END_QUERY:
        return f"has a query of {query:,} bytes, past the {FRONT_END_QUERY:,} IIS allows by default (maxQueryString)"
    given = given or {}
    lines = [(name, value) for name, value in headers.items() if name not in given]
    lines += [(name, value) for name, values in given.items() if name in headers for value in values]
    longest = max((len(name) + len(value) + 2 for name, value in lines), default=0)
    if longest > FRONT_END_FIELD:
        return (f"has a header line of {longest:,} bytes, past the {FRONT_END_FIELD:,} gunicorn and Apache allow by "
                "default (limit_request_field_size, LimitRequestFieldSize)")
    if len(lines) > FRONT_END_FIELDS:
        return (f"has {len(lines):,} header lines, past the {FRONT_END_FIELDS} gunicorn, Apache and Tomcat allow "
                "by default")
    size = line + 2 + sum(len(name) + len(value) + 4 for name, value in lines) + 2
    if size > FRONT_END_HEAD:
        return f"head is about {size:,} bytes, past the {FRONT_END_HEAD:,} front ends commonly allow (Tomcat, Jetty)"
    refused = request_head_refusable(headers.items())
    return None if refused is None else refused[0]


# A request body past this many bytes a front end may refuse 413 before any app: nginx's default client_max_body_size
# (1 MiB; the body is the one part of a request front ends commonly bound by size, as they bound the head).
FRONT_END_BODY = 1 << 20


def _front_end_too_large(headers: Mapping[str, str], size: int | None, open_end: bool = False) -> str | None:
    """A request body a front end may refuse 413 (None: not past `FRONT_END_BODY`): its bytes (`size`: those of the body,
    or as many as a way in counted of one it did not keep), else its Content-Length. `open_end`: the way in did not see
    the body's end (`size` is a least): the larger of it and the Content-Length; with none given, its size is not known,
    and an unknown size never reads as a small one."""
    if size is None or open_end:
        declared = {trimmed(value) for value in headers.get("content-length", "").split(",")}
        if len(declared) == 1 and (value := declared.pop()).isascii() and value.isdigit():
            size = max(size or 0, int(value[:20]))
            open_end = False
    if open_end and size is not None and size <= FRONT_END_BODY:
        return (f"body is at least {size:,} bytes (neither its end nor a Content-Length showed: its size is not known; "
                f"front ends commonly allow {FRONT_END_BODY:,}, nginx's client_max_body_size)")
    if size is None or size <= FRONT_END_BODY:
        return None
    return f"body is {size:,} bytes, past the {FRONT_END_BODY:,} front ends commonly allow (nginx's client_max_body_size)"


def _media_doubt(content_type: str) -> str | None:
    """Why a request with this Content-Type may be read as no JSON: a value that is not exactly one well-formed media
    type (`core.fields.media_type`, read strictly: `application/json,`, `a, b`, `; =x`, `;;`, a charset given twice: a
    strict server, FastAPI's `email.message`, Spring, Go, reads it as another type or refuses it 415/422), a media type
    other than `application/json` (a form or text parser reads another request; a 415 answers it) or a charset other
    than UTF-8; None for JSON."""
    parsed = media_type(content_type, empty_parameters=False)
    shown = repr(content_type[:80]) + ("…" if len(content_type) > 80 else "")
    if parsed is None:
        problem = (f"its request's Content-Type ({shown}) is not exactly one well-formed media type (RFC 9110 §8.3.1: a "
                   "server parsing it strictly refuses it or reads another type)")
    else:
        media, parameters = parsed
        charset = parameters.get("charset", "utf-8").lower()
        if media != JSON_MEDIA_TYPE:
            problem = f"its request's Content-Type is {shown}, not {JSON_MEDIA_TYPE}"
        elif charset not in ("utf-8", "utf8"):
            problem = f"its request's Content-Type names another charset than UTF-8 ({shown})"
        else:
            return None
    return problem + ": a server may read its body otherwise (a form, text), so the request rules and its status were not judged"


def _no_answer(exchange: Exchange, knowledge: Knowledge) -> Judgement:
    """No complete answer: a hang is responds-in-time's, anything else no-server-error's."""
    if exchange.timed_out:
        return Judgement(RESPONDS_IN_TIME.id, SERVER, False, f"an answer within {knowledge.timeout or 0:g} s",
                         exchange.error or "no answer in time")
    got = f"status {exchange.status}, then " if exchange.status else ""
    return Judgement(NO_SERVER_ERROR.id, SERVER, False, "a complete HTTP response",
                     f"{got}no complete response: {exchange.error or 'none recorded'}")


def _status_deserved(status: int, deserved: Deserved, knowledge: Knowledge, answer: str, ids: frozenset[str],
                     notes: list[str], *, open_status: bool = False) -> list[Judgement]:
    """Whether the status is one the request deserved (a 429 is transient; a 5xx is no-server-error's; `open_status`:
    a doubt about the request leaves it unjudged)."""
    if status == THROTTLED:
        # transient: retried where it can be; once retries ran out, status-documented judges it
        notes.append("429 (rate limited) is transient: the status the request deserved is not judged")
        return []
    if status >= 500 or not deserved.rules or not knowledge.judge_status or open_status:
        return []
    ok = status in deserved.statuses
    if not ok and status in deserved.unsettled:
        notes.append(f"{'valid request' if deserved.valid else 'request'} answered {status}: {deserved.unsettled_why}; not judged")
        return []
    return [Judgement(rule_id, SERVER, ok, deserved.expected, answer) for rule_id in deserved.rules if rule_id in ids]


def _response_rules(contract: Contract, level: Level, exchange: Exchange, knowledge: Knowledge, body: Any,
                    validator: ResponseValidator | None, answer: str, notes: list[str],
                    judged: list[Judgement], *, open_status: bool = False, open_body: bool = False,
                    open_error: bool = False) -> tuple[ResponseFacts | None, tuple[Judgement, ...] | None, str | None]:
    """Every response rule the answer gave something to judge, each with all its violations (added to `judged`);
    the response as read, unless it was cut; and when every rule was kept, `judged` with them as one kept tuple
    (then `judged` is left as it was). `open_status`: the request is one the document does not speak of (not
    JSON), so whether its status is a documented one is not judged (a 415 is HTTP's answer to it). `open_body`: the
    answer may be another party's (a front end's refusal): its body rules are not judged; `open_error`: nor is whether
    its status is a server error (an HTTP layer's 501 to a transfer coding it does not know). Last, why the
    answer's body was not read (nested deeper than the validator goes: judged as a body not recorded), or None."""
    status = exchange.status
    assert status is not None
    received = exchange.received_body
    body_known = received is not None
    validator = validator or contract.response_validator(level)
    request = body if isinstance(body, dict) else None  # NOT_RECORDED, RawBody and Ambiguous are no JSON object
    elapsed, timeout = exchange.elapsed, knowledge.timeout
    cap = knowledge.truncated_at
    read = response_facts(status, exchange.received_headers, received if body_known and cap is None else b"", request,
                          elapsed, timeout, validator.documented)
    if cap is not None and body_known:  # cut at the run's own cap: a body not read, never a body that is not JSON
        read = replace(read, body=None, parsed=False, parse_error=None, repeated=None, unread=cut_body(cap))
    # a body not recorded is judged as one not read (`unread`): the rules that read the media type judge the header alone
    verdict = validator.evaluate(status, read.headers, None, request, elapsed=elapsed, timeout=timeout,
                                 facts=read if body_known else replace(read, body=None, parsed=False, unread=_NOT_RECORDED))
    unread = read.unread
    if unread is not None:
        body_known = False
        notes.append(f"{unread}: only no-server-error, responds-in-time, status-documented and the Content-Type were judged")
    facts = read if body_known else None
    throttled = status == THROTTLED and not knowledge.throttle_final
    if not body_known and unread is None:
        notes.append(f"{_NOT_RECORDED}: only no-server-error, responds-in-time, status-documented and the Content-Type judged")
    if not verdict.violations and body_known and not throttled and not open_status and not open_body:  # the common case
        whole = _kept(verdict.applied, answer, judged)
        if whole is None:
            alone = _kept(verdict.applied, answer, [])
            assert alone is not None  # (never None with nothing before)
            judged += alone
        return facts, whole, unread
    only = _STATUS_ONLY if throttled or open_body else _WITHOUT_BODY if not body_known else None
    messages: dict[str, list[str]] = {}
    for violation in verdict.violations:
        messages.setdefault(violation.rule_id, []).append(violation.message)
    by_header = only is _WITHOUT_BODY  # the body not read, the answer the server's: a header that breaks a rule counts
    for rule_id in verdict.applied:
        if (open_status and rule_id == STATUS_DOCUMENTED.id) or (open_error and rule_id == NO_SERVER_ERROR.id):
            continue
        said = messages.get(rule_id)
        if only is None or rule_id in only or (by_header and said is not None and rule_id in _BY_HEADER):
            judged.append(Judgement(rule_id, SERVER, said is None, _TEXT[rule_id], "; ".join(said) if said else answer))
    return facts, None, unread


# (rules applied, the answer, the one judgement before them: its rule and expectation) -> all their judgements
_KEPT: dict[tuple[tuple[str, ...], str, str, str], tuple[Judgement, ...]] = {}


def _kept(applied: tuple[str, ...], answer: str, before: list[Judgement]) -> tuple[Judgement, ...] | None:
    """`before` and every rule of `applied` kept by `answer`: the same few tuples for most exchanges (an accepted send's
    "200", after the status it deserved), made once. None when `before` is not nothing or one kept judgement of the
    server's with this answer (then `before` is left to the caller)."""
    if not before:
        key = (applied, answer, "", "")
    elif len(before) == 1 and before[0].ok and before[0].party == SERVER and before[0].actual == answer:
        key = (applied, answer, before[0].rule_id, before[0].expected)
    else:
        return None
    found = _KEPT.get(key)
    if found is None:
        found = (*before, *(Judgement(rule_id, SERVER, True, _TEXT[rule_id], answer) for rule_id in applied))
        if len(answer) <= 3 and len(_KEPT) < 256:  # a status alone: a server's error text is never kept
            _KEPT[key] = found
    return found


def no_endpoint(status: int | None, content_type: str | None, documented: Collection[int] = (),
                body: Iterable[bytes] = ()) -> str | None:
    """How a send's answer says no endpoint of the API answered it (None: it may be the API's): a 404, a 405, a redirect,
    or a 4xx HTML page (a front end's; a 2xx/5xx one is judged: content-type-json). The one reading of every way in
    that sends to a URL the user gave: `check` stops (exit 2, a wrong --base-url), the proxy passes the send unjudged
    (a wrong --upstream), never a dozen rule failures blamed on a server that was never reached. `documented`: statuses
    the document gives the send (one of them, not an HTML page, is the API's answer, judged). `body`: the answer's
    bytes (in chunks, decoded: read only for a 4xx labelled HTML other than an undocumented 404/405): the contract's
    JSON envelope (an object with `success`) is the send endpoint's answer whatever its label, judged (content-type-json
    fails it), as `judge` and the middleware do."""
    if status is None:
        return None
    media = trimmed((content_type or "").split(";")[0]).lower()
    if status in documented and media != "text/html":
        return None
    html = media == "text/html" and 400 <= status < 500
    if status not in (404, 405) and not 300 <= status < 400 and not html:
        return None
    # the envelope makes a 4xx HTML page the API's answer, never a 404/405 the document does not give the send: that
    # is no endpoint whatever its label or body, as labelled JSON (a framework's JSON error sent as text/html: Pass Z1, F2)
    if html and (status in documented or status not in (404, 405)) and _enveloped(body):
        return None
    return f"{status} with an HTML page" if media == "text/html" else str(status)


ENVELOPE_BYTES = 64 * 1024  # an ApiError is small: a larger body labelled HTML is read as the page it says it is


def _enveloped(body: Iterable[bytes]) -> bool:
    """Whether a body (its chunks) is a JSON object with a `success` member: the send's envelope (ApiResponse, ApiError)."""
    read, size = [], 0
    for chunk in body:
        size += len(chunk)
        if size > ENVELOPE_BYTES:
            return False
        read.append(chunk)
    try:
        value = json.loads(b"".join(read))
    except (ValueError, RecursionError):
        return False
    return isinstance(value, dict) and "success" in value
