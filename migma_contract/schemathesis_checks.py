"""The catalogue's response rules as Schemathesis checks, so a plain Schemathesis run gets them.

    SCHEMATHESIS_HOOKS=migma_contract.schemathesis_checks schemathesis run spec/openapi.yaml \\
        --url http://127.0.0.1:4010 -H "Authorization: Bearer $MIGMA_CONTRACT_API_KEY"

Importing this module registers one check per response rule (`migma_<rule id>`), at the
level named by MIGMA_CONTRACT_LEVEL (default: documented; the options table's variable). Each check is a plain function of
(context, response, case), as Schemathesis expects. They judge answers to the documented
operation only (POST /v1/sending): Schemathesis also sends methods the document does not
define (a TRACE is rightly answered 405), which no rule of this contract speaks about.
The operation is found as every other way in finds it (`wire.urls.api_root`): by the path the
request went to (its server's path and the path template: `https://host/v1` + `/sending` is
it as much as `https://host` + `/v1/sending`), never by the template alone (pass X4, F3: a
document writing the operation under a base path was judged by no check, silently). A POST
whose path the checks cannot tie to it (its template ends in `/sending` but not under
`/v1`, or no path is known at all) fails every check, saying so (`OperationUnknown`).
Rules judged across responses (`result-id-unique`) remember what this process has seen.
An answer whose body was not read (a lone surrogate escape, a number past IEEE 754, another
charset than UTF-8, JSON nested too deep) is judged in part, as on every other way in: a
check has no such outcome, so each check of a rule that body would be judged by fails,
"not judged" and why, rather than pass what it did not read; so does each check of a rule the one judge leaves
unjudged for another reason (`partly`: a 429, a 409/422 under an Idempotency-Key, a refusal HTTP names for what the
request asked, a request its parties may read otherwise), save HTTP's own 415 to a request that is no JSON, which
Schemathesis' coverage phase sends on purpose (pass Y5, F1). An answer Schemathesis hands over still in its
Content-Encoding (its WSGI transport keeps a compressing app's bytes) is decoded as `judge` decodes a Schemathesis
recording (`wire.coding.as_given`), or judged in part when it cannot be (pass Y3, F3).

Schemathesis reads a `schemathesis.toml` it finds from the working directory up (a repository's file, in a checkout):
when this module is loaded, it reads the file Schemathesis loaded (or finds it as Schemathesis does) and refuses, in one
line and exit 2, one that sets a proxy (every request, the key with it, would go there), turns TLS verification off,
names another target than loopback, names other hooks, switches checks off (all of them, or a `migma_*` one), leaves an
operation out, or weakens output sanitization (the key printed in curl lines and reports): pass Y3, F0. Set
MIGMA_CONTRACT_TRUST_SCHEMATHESIS_CONFIG=1 to trust the file, or give `--config-file` a file of your own.
"""

from __future__ import annotations

import ipaddress
import os
import sys
import threading
import tomllib
from collections import OrderedDict
from dataclasses import dataclass, replace
from http import HTTPStatus
from typing import Any
from urllib.parse import urlsplit

import schemathesis

from migma_contract.config.options import ENV_PREFIX, TRUST_CONFIG_TARGET_ENV
from migma_contract.contract.catalogue import IDEMPOTENCY_HEADER, get_rule, rules_for
from migma_contract.contract.rules import History, Level, Replay, ResponseFacts, Rule, Subject
from migma_contract.contract.validators import ResponseViolations, Violation, contract_for, response_facts
from migma_contract.core.untrusted import clean_text
from migma_contract.document.spec import OPERATION_METHOD, OPERATION_PATH
from migma_contract.judge.deserve import NOT_RECORDED
from migma_contract.judge.exchange import lowered
from migma_contract.judge.verdict import SERVER, Knowledge, judge_exchange, request_doubt
from migma_contract.wire.coding import as_given

__all__ = ["CHECKS", "OperationUnknown", "violations_of"]

# The same variables as every other way in (the options table's rows), never the vendor's MIGMA_*.
_LEVEL_ENV = ENV_PREFIX + "LEVEL"
_TIMEOUT_ENV = ENV_PREFIX + "TIMEOUT"
TRUST_SCHEMATHESIS_CONFIG_ENV = ENV_PREFIX + "TRUST_SCHEMATHESIS_CONFIG"  # (as TRUST_CONFIG_TARGET_ENV: never from a file)
_CONFIG_NAME = "schemathesis.toml"
_TRUTHY = ("1", "true", "yes", "on")


def _loaded_config() -> tuple[str | None, dict[str, Any] | None]:
    """The configuration Schemathesis is loading as this module is imported (its `SchemathesisConfig.from_dict` is on
    the stack: hooks are imported while the file is read), and its path when known; else the file Schemathesis would
    load (`--config-file` on the command line, or `SchemathesisConfig.discover`'s search: the working directory, then
    each parent up to one holding `.git`); (None, None) when there is none."""
    from schemathesis.config import SchemathesisConfig

    codes = {SchemathesisConfig.from_dict.__func__.__code__: "data",  # type: ignore[attr-defined]
             SchemathesisConfig.from_path.__func__.__code__: "resolved_path"}  # type: ignore[attr-defined]
    data: dict[str, Any] | None = None
    path: str | None = None
    frame = sys._getframe(1)
    while frame is not None:
        name = codes.get(frame.f_code)
        if name == "data" and isinstance(frame.f_locals.get("data"), dict):
            data = frame.f_locals["data"]
        elif name == "resolved_path" and isinstance(frame.f_locals.get("resolved_path"), str):
            path = frame.f_locals["resolved_path"]
        frame = frame.f_back  # type: ignore[assignment]
    if data is not None:
        return path, data
    path = _config_file_named() or _discovered()
    if path is None:
        return None, None
    try:
        with open(path, "rb") as handle:
            return path, tomllib.loads(handle.read(1 << 20).decode("utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return path, None  # (Schemathesis refuses such a file itself)


def _config_file_named() -> str | None:
    argv = sys.argv[1:]
    for index, arg in enumerate(argv):
        if arg == "--config-file" and index + 1 < len(argv):
            return os.path.abspath(argv[index + 1])
        if arg.startswith("--config-file="):
            return os.path.abspath(arg.split("=", 1)[1])
    return None


def _discovered() -> str | None:
    current = os.getcwd()
    while True:
        candidate = os.path.join(current, _CONFIG_NAME)
        if os.path.isfile(candidate):
            return candidate
        parent = os.path.dirname(current)
        if os.path.isdir(os.path.join(current, ".git")) or parent == current:
            return None
        current = parent


def _loopback(url: object) -> bool:
    host = (urlsplit(url).hostname or "").lower() if isinstance(url, str) else ""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def untrusted_settings(data: dict[str, Any]) -> list[str]:
    """What in a Schemathesis configuration (its parsed TOML) is not trusted from a repository: where each setting is,
    and why, in the order found (every table: the top level, `[[project]]`, `[[operations]]`)."""
    from schemathesis.config._output import DEFAULT_KEYS_TO_SANITIZE, DEFAULT_SENSITIVE_MARKERS

    found: list[str] = []

    def walk(node: Any, where: str) -> None:
        if isinstance(node, list):
            for index, item in enumerate(node):
                walk(item, f"{where}[{index}]")
            return
        if not isinstance(node, dict):
            return
        for key, value in node.items():
            here = f"{where}.{key}" if where else str(key)
            if key == "proxy":
                found.append(f"{here} (a proxy: every request, the key with it, goes there)")
            elif key == "tls-verify" and value is not True:
                found.append(f"{here} (TLS certificates unverified)")
            elif key in ("base-url", "origin") and not _loopback(value):
                found.append(f"{here} (a target other than loopback: the key goes where the repository says)")
            elif key == "hooks" and value != __name__:
                found.append(f"{here} (other hooks: code the run imports, and these checks left out)")
            elif key == "checks" and isinstance(value, dict):
                if value.get("enabled", True) is not True:
                    found.append(f"{here}.enabled (every check switched off)")
                for name, sub in value.items():
                    if str(name).startswith("migma_") and (not isinstance(sub, dict) or sub.get("enabled", True) is not True):
                        found.append(f"{here}.{name} (a check of the contract switched off)")
                continue
            elif key == "enabled" and where.startswith("operations") and value is not True:
                found.append(f"{here} (an operation left out)")
            elif key == "sanitization" and isinstance(value, dict):
                keys = {str(k).lower() for k in value.get("keys-to-sanitize", DEFAULT_KEYS_TO_SANITIZE)}
                markers = {str(k).lower() for k in value.get("sensitive-markers", DEFAULT_SENSITIVE_MARKERS)}
                if (value.get("enabled", True) is not True or not set(DEFAULT_KEYS_TO_SANITIZE) <= keys
                        or not set(DEFAULT_SENSITIVE_MARKERS) <= markers):
                    found.append(f"{here} (output sanitization weakened: the key printed in curl lines and reports)")
                continue
            walk(value, here)

    walk(data, "")
    return found


def refusal() -> str | None:
    """Why the Schemathesis configuration being loaded is refused (one line), None when it is not (no file, nothing
    untrusted in it, or MIGMA_CONTRACT_TRUST_SCHEMATHESIS_CONFIG set)."""
    if os.environ.get(TRUST_SCHEMATHESIS_CONFIG_ENV, "").strip().lower() in _TRUTHY:
        return None
    path, data = _loaded_config()
    settings = untrusted_settings(data) if data is not None else []
    if not settings:
        return None
    shown = clean_text(path or _CONFIG_NAME)
    more = f" (and {len(settings) - 1} more)" if len(settings) > 1 else ""
    return (f"migma-contract: error: {shown}: {clean_text(settings[0])[:200]}{more}: a repository's Schemathesis "
            f"configuration is not trusted with the key nor the verdict; give Schemathesis --config-file with a file "
            f"of your own, or set {TRUST_SCHEMATHESIS_CONFIG_ENV}=1 to trust this one (as {TRUST_CONFIG_TARGET_ENV} "
            "trusts a pyproject.toml)")


def _refuse_untrusted_config() -> None:
    message = refusal()
    if message is not None:
        sys.stderr.write(clean_text(message) + "\n")
        sys.stderr.flush()
        raise SystemExit(2)  # (not an Exception: Schemathesis' hook loader would print it as a traceback)

_HISTORY: dict[str, History] = {}
# Schemathesis may run a check twice on one response (registered, and passed as additional_checks):
# the verdicts of the last responses are kept with them, so a response never counts as its own repeat.
_JUDGED: OrderedDict[tuple[str, int], tuple[Any, ResponseViolations]] = OrderedDict()
_LOCK = threading.Lock()


class OperationUnknown(AssertionError):  # an AssertionError: a check's failure, as Schemathesis reads one
    """A POST these checks cannot tie to POST /v1/sending nor to another operation: judging nothing would pass it silently."""


_LAST_SEGMENT = "/" + OPERATION_PATH.rsplit("/", 1)[-1]  # "/sending": the operation's own segment


def _sent_path(response: Any, case: Any) -> str | None:
    """The path the request went to: the URL sent, else the operation's full path (its server's path, or the base URL
    Schemathesis was given, then the path template: Schemathesis' `APIOperation.full_path`); None when neither is known."""
    url = getattr(getattr(response, "request", None), "url", None)
    if isinstance(url, str) and url:
        return urlsplit(url).path
    try:
        full = getattr(getattr(case, "operation", None), "full_path", None)
    except Exception:  # (a schema that cannot say: no path known)
        full = None
    return full if isinstance(full, str) and full else None


def _documented_operation(response: Any, case: Any) -> bool:
    """Whether this answer is to POST /v1/sending: the method actually sent, to a path ending in /v1/sending (a root
    before it, as `api_root` allows one). `OperationUnknown` when a POST cannot be tied to it, or to another operation."""
    request = getattr(response, "request", None)
    method = getattr(request, "method", None) or getattr(case, "method", None) or ""
    if str(method).upper() != OPERATION_METHOD.upper():
        return False
    template = getattr(getattr(case, "operation", None), "path", None)
    path = _sent_path(response, case)
    if path is None:
        if template == OPERATION_PATH:  # the template alone, with no base known: the documented path itself
            return True
        raise OperationUnknown(f"migma-contract: cannot tell which operation this {OPERATION_METHOD.upper()} answers (no "
                               f"request URL, no operation path): the checks judge {OPERATION_METHOD.upper()} {OPERATION_PATH} "
                               "and judged nothing here")
    path = "/" + path.strip("/")
    if path.endswith(OPERATION_PATH):
        return True
    if path.endswith(_LAST_SEGMENT) or (isinstance(template, str) and template.rstrip("/").endswith(_LAST_SEGMENT)):
        raise OperationUnknown(
            f"migma-contract: this {OPERATION_METHOD.upper()} went to {clean_text(path)[:120]}, which the checks cannot tie "
            f"to {OPERATION_METHOD.upper()} {OPERATION_PATH} (they judge a path ending in {OPERATION_PATH}, its base before "
            "it): give Schemathesis a --url (or a document server) ending where the API's /v1 is; nothing was judged")
    return False


def violations_of(response: Any, case: Any, level: str | None = None) -> ResponseViolations:
    """Every response rule a Schemathesis response to the documented operation breaks (call it once per response),
    and, when the answer's body was not read, why (`unread`) and the rules left unjudged (`unjudged`): as
    `validate_response`'s answer, then never falsy nor equal to `[]`."""
    level = level or os.environ.get(_LEVEL_ENV, "documented")
    found = _each_response(response, case, level)
    for rule in rules_for(level):
        if rule.form.across_responses is not None:
            across = _across_responses(rule, response, case)
            found.extend(across)
            if across.unread is not None:
                found.unread = found.unread or across.unread
                found.unjudged = (*found.unjudged, *across.unjudged)
    return found


@dataclass(frozen=True)
class _SchemathesisExchange:
    """A Schemathesis case and its response, as the one judge reads an exchange (judge.exchange.Exchange)."""

    response: Any
    case: Any

    @property
    def method(self) -> str:
        request = getattr(self.response, "request", None)
        return str(getattr(request, "method", None) or getattr(self.case, "method", None) or "")

    @property
    def target(self) -> str:
        return OPERATION_PATH

    @property
    def sent_headers(self) -> dict[str, str]:
        request = getattr(self.response, "request", None)
        return lowered(dict(getattr(request, "headers", None) or getattr(self.case, "headers", None) or {}))

    @property
    def sent_body(self) -> bytes | None:
        request = getattr(self.response, "request", None)
        body = getattr(request, "body", None)
        return body if isinstance(body, bytes) else None

    @property
    def sent_size(self) -> int | None:
        body = self.sent_body
        return None if body is None else len(body)

    @property
    def sent_size_open(self) -> bool:
        return False

    @property
    def status(self) -> int:
        return int(self.response.status_code)

    @property
    def received_headers(self) -> dict[str, str]:
        return _headers(self.response)

    @property
    def received_body(self) -> bytes | None:
        return _received(self.response)[0]

    @property
    def elapsed(self) -> float | None:
        return getattr(self.response, "elapsed", None)

    timed_out = False
    error = None


def _each_response(response: Any, case: Any, level: str) -> ResponseViolations:
    """The response rules judged on this response alone, by the one judge; those it left unjudged (`unjudged`, `unread`
    says why: judged in part, never a pass): its body not read, and every other reason the judge gives (`partly`: a
    429, a status an Idempotency-Key or a refusal HTTP names leaves open, a request its parties may read otherwise)."""
    if not _documented_operation(response, case):
        return ResponseViolations()
    chosen = Level.parse(level)
    contract = contract_for()
    knowledge = Knowledge(timeout=float(os.environ.get(_TIMEOUT_ENV, "10")))
    exchange = _SchemathesisExchange(response, case)
    validator = contract.response_validator(chosen)
    verdict = judge_exchange(contract, chosen, exchange, knowledge, body=_request(case) or _UNREAD, validator=validator)
    found = ResponseViolations(Violation(j.rule_id, get_rule(j.rule_id).level.value, "", j.actual)
                               for j in verdict.judgements if j.party == SERVER and not j.ok and j.rule_id in _RESPONSE_RULES)
    if verdict.partly is not None or verdict.facts is None:  # judged in part: which response rules were left unjudged
        read = _read(response, case, validator.documented)
        why = verdict.partly or read.unread
        if why is not None and exchange.status == HTTPStatus.UNSUPPORTED_MEDIA_TYPE and why == request_doubt(
                exchange.sent_headers.get("content-type"))[0]:
            why = None  # HTTP's own answer to a request that is no JSON (RFC 9110 §15.5.16), which Schemathesis sends on
            # purpose (its coverage phase: no body, no Content-Type): not failed, as before; any other answer to it is
        if why is not None:  # (the answer's body unread, a 429, a status a doubt about the request leaves open: Y5, F1)
            asked = validator.evaluate(exchange.status, read.headers, None, facts=read)
            judged = {j.rule_id for j in verdict.judgements if j.party == SERVER}
            # the rules an unread body leaves (its header judged by its own), and every rule the judge's doubt left open
            doubted = asked.applied if verdict.partly not in (None, read.unread) else ()
            left = tuple(dict.fromkeys(r for r in (*asked.unjudged, *doubted) if r in _RESPONSE_RULES and r not in judged))
            if left:
                found.unread, found.unjudged = why, left
    return found


def _across_responses(rule: Rule, response: Any, case: Any) -> ResponseViolations:
    """A rule judged against the earlier responses of this process (each response is fed once per rule); unjudged
    when the answer's body was not read (`unread`)."""
    form = rule.form.across_responses
    assert form is not None
    if not _documented_operation(response, case) or not form.applies(contract_for().spec, response.status_code):
        return ResponseViolations()
    facts = _read(response, case)
    if facts.unread is not None:
        unjudged = ResponseViolations()
        unjudged.unread, unjudged.unjudged = facts.unread, (rule.id,)
        return unjudged
    if not facts.parsed:  # no JSON: content-type-json's failure, nothing to compare
        return ResponseViolations()
    sent = _SchemathesisExchange(response, case).sent_headers  # the head sent (`case.call(headers=...)` adds to it: Y5, F2)
    with _LOCK:
        seen = _JUDGED.get((rule.id, id(response)))
        if seen is not None and seen[0] is response:
            return seen[1]
        replay = Replay.of(sent.get(IDEMPOTENCY_HEADER.lower()), sent.get("authorization"), _request(case))
        _, message = form.judge(_HISTORY.setdefault(rule.id, {}), facts, replay, "a response earlier in this process")
        found = ResponseViolations([Violation(rule.id, rule.level.value, "", message)] if message else [])
        _JUDGED[(rule.id, id(response))] = (response, found)
        while len(_JUDGED) > 64:
            _JUDGED.popitem(last=False)
    return found


def _received(response: Any) -> tuple[bytes | None, str | None]:
    """The answer's body as its client read it, and why not when it cannot be (pass Y3, F3): Schemathesis' WSGI
    transport keeps a compressing app's bytes under its Content-Encoding, which requests and httpx would have
    decoded; they are decoded as the judge decodes a Schemathesis recording (`wire.coding.as_given`), within its cap."""
    return as_given(bytes(response.content or b""), _headers(response).get("content-encoding"))


def _read(response: Any, case: Any, documented: frozenset[int] | None = None) -> ResponseFacts:
    """The answer as the response rules read it: its body decoded (`_received`), or not read, and why (`unread`)."""
    body, why = _received(response)
    facts = response_facts(response.status_code, _headers(response), b"" if body is None else body, _request(case), None,
                           None, documented)
    return facts if why is None else replace(facts, body=None, parsed=False, parse_error=None, repeated=None, unread=why)


def _headers(response: Any) -> dict[str, str]:
    """The response's header fields, every value of a repeated one joined (never its first alone: a second
    Content-Type with another value shows, as on every way in)."""
    return lowered([(name, str(value)) for name, values in response.headers.items()
                    for value in (values if isinstance(values, list) else [values])])


def _request(case: Any) -> Any:
    body = getattr(case, "body", None)
    return body if isinstance(body, (dict, list)) else None


_UNREAD = NOT_RECORDED  # a body Schemathesis did not give as JSON: request rules not judged (only the answer's are asked for)
_RESPONSE_RULES = frozenset(rule.id for rule in rules_for("strict") if rule.subject is Subject.RESPONSE)


def _check_for(rule: Rule) -> Any:
    def check(ctx: Any, response: Any, case: Any) -> None:
        level = os.environ.get(_LEVEL_ENV, "documented")
        if rule not in rules_for(level):
            return
        found = _across_responses(rule, response, case) if rule.form.across_responses is not None else (
            _each_response(response, case, level))
        broken = [v for v in found if v.rule_id == rule.id]
        if broken:
            raise AssertionError(f"[{rule.id}] {rule.text}: " + "; ".join(v.message for v in broken))
        if rule.id in found.unjudged:  # the body was not read: no pass (every other way in says "judged in part")
            raise AssertionError(f"[{rule.id}] {rule.text}: not judged, {found.unread} (judged in part: a check does "
                                 "not pass what it did not read)")

    check.__name__ = "migma_" + rule.id.replace("-", "_")
    check.__qualname__ = check.__name__
    check.__doc__ = f"{rule.text} ({rule.source})"
    return schemathesis.check(check)


_refuse_untrusted_config()
CHECKS = [_check_for(rule) for rule in rules_for("strict") if rule.subject is Subject.RESPONSE]
