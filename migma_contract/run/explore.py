"""Exploration: Schemathesis-generated requests for the budget the plan left over.

The catalogue's own strategies supply plain valid requests (each judged for acceptance)
and requests breaking one rule alone; with a budget large enough to pay for its set-up,
Schemathesis also generates from the *enriched* document (the conditional rules written into
the request schema, the user's fixture values pinned where the target needs real data,
generated addresses kept on the recipient domain), in its positive and its negative
mode. The toolkit, not Schemathesis, decides what each request deserves: it labels every
generated body with the catalogue (valid, breaks rule X, or open), sends it through the
run's target, judges the answer, and lets Hypothesis shrink a failure to a minimal
request. A failure is chased only while it is new to its rule (a symptom no finding of
the rule shows yet, the rule under its bound of findings).
"""

from __future__ import annotations

import contextlib
import copy
import gc
import hashlib
import json
from collections.abc import Iterator
from functools import lru_cache
from typing import Any

from migma_contract.contract.catalogue import ACCEPTS_VALID, BATCH_TYPES, OPEN_POINTS, get_rule
from migma_contract.contract.email import is_email_address
from migma_contract.contract.rules import Level, RawBody, Subject
from migma_contract.contract.validators import Contract
from migma_contract.generate.bodies import FIXTURE_FIELDS, Fixtures
from migma_contract.generate.cases import Case, slug
from migma_contract.judge.deserve import Standing, deserve
from migma_contract.run.state import Failure, RunState

__all__ = ["exploration_document", "explore"]

_REGISTERED_FORMATS: set[str] = set()


def _safe_email_format(domain: str) -> str:
    """A Schemathesis string format generating plain addresses on `domain` only."""
    import schemathesis
    from hypothesis import strategies as st

    name = "migma-safe-email-" + hashlib.sha256(domain.encode()).hexdigest()[:8]
    if name not in _REGISTERED_FORMATS:
        local = st.from_regex(r"\A[a-z0-9]{1,12}(?:[._+-][a-z0-9]{1,8})?\Z")
        schemathesis.openapi.format(name, local.map(lambda part: f"{part}@{domain}"))
        _REGISTERED_FORMATS.add(name)
    return name


def _replace_format(node: Any, old: str, new: str) -> Any:
    if isinstance(node, dict):
        return {k: (new if k == "format" and v == old else _replace_format(v, old, new)) for k, v in node.items()}
    if isinstance(node, list):
        return [_replace_format(v, old, new) for v in node]
    return node


def exploration_document(contract: Contract, level: Level | str, fixtures: Fixtures) -> dict[str, Any]:
    """The enriched document, with generation steered to requests the target can judge."""
    document = contract.enriched_document(level)
    media = document["paths"]["/v1/sending"]["post"]["requestBody"]["content"]["application/json"]
    schema = media["schema"]
    steer: list[dict[str, Any]] = []
    for point in OPEN_POINTS:
        if point.effect == "avoid" or point.effect == "either":
            steer.append({"not": point.when})
    if fixtures.data_bound:
        pins: dict[str, Any] = {}
        for fixture in FIXTURE_FIELDS:
            if fixture.recipient_type is None:
                value = fixtures.value_of(fixture.prop)
                pins[fixture.prop] = {"const": value} if value is not None else False
        pins["providerType"] = {"enum": sorted({"migma", *(fixtures.providers or ())})}
        kinds = ["email"] + [k for k in BATCH_TYPES if fixtures.recipient_id(k) is not None]
        pins["recipientType"] = {"enum": kinds}
        steer.append({"properties": pins})
        for kind in kinds[1:]:
            steer.append({"if": {"properties": {"recipientType": {"const": kind}}, "required": ["recipientType"]},
                          "then": {"properties": {"recipientId": {"const": fixtures.recipient_id(kind)}}}})
    media["schema"] = {**schema, "allOf": [*schema.get("allOf", []), *steer]}
    explored: dict[str, Any] = _replace_format(document, "email", _safe_email_format(fixtures.recipient_domain))
    return explored


def _body_of(case: Any) -> Any:
    if not type(case).__module__.startswith("schemathesis"):  # a body from the catalogue's own strategies
        return copy.deepcopy(case)
    from schemathesis.core import NOT_SET  # only once Schemathesis is in use: its import costs ~0.1 s
    body = case.body
    if body is NOT_SET or (body is None and case.media_type is None):
        return RawBody(b"")
    if isinstance(body, (bytes, bytearray)):
        return RawBody(bytes(body), case.media_type or "application/json")
    return copy.deepcopy(body)


def unsafe_recipient(body: Any, domain: str) -> bool:
    """A generated body that could mail a real mailbox (an address off the recipient domain)."""
    if not isinstance(body, dict):
        return False
    for name in ("recipientEmail", "replyTo"):
        value = body.get(name)
        if is_email_address(value) and not str(value).lower().endswith("@" + domain.lower()):
            return True
    return False


_RUN_KEY = "Bearer the-run's-key"


def label(run: RunState, body: Any, index: int) -> Case:
    """What a generated body deserves, as the one judge decides it (`deserve`), made a case."""
    case_id = f"explore/{index:04d}"
    # sent as every explored body is: with the run's full-scope key (its value does not matter here, its standing does)
    deserved = deserve(run.contract, run.level, body, _RUN_KEY, Standing.FULL, fixtures=run.fixtures, data_known=True)
    if deserved.rules and not deserved.valid:
        first, *others = deserved.client
        more = f" (and {', '.join(sorted({rule_id for rule_id, _, _ in others}))})" if others else ""
        return Case(case_id, first[0], f"generated: {first[2]}{more}", body, deserved.statuses, phase="explore")
    if deserved.valid and not deserved.unsettled_why.startswith("an open point"):
        return Case(case_id, ACCEPTS_VALID.id, "generated valid request", body, deserved.statuses, phase="explore")
    reason = deserved.unsettled_why or "; ".join(deserved.notes) or "not an object"
    prefix = "generated valid request" if deserved.valid else "generated"
    return Case(case_id, "", f"{prefix}, not judged: {reason}", body, frozenset(), phase="explore")


class _Found(Exception):
    """A generated request broke a rule that had not failed yet (Hypothesis shrinks it)."""


class _Spent(BaseException):
    """The budget (requests or `--max-time`) is spent and no failure waits to shrink: Hypothesis' run ends at once.
    Returning instead let it draw and discard every example left of `max_examples` (a 20,000-request budget cut by
    `--max-time 3` ran 11 s); not an Exception, which Hypothesis would take for a failure and shrink."""


# Schemathesis costs ~0.7 s to set up (import, schema loading, strategy compilation) and
# 4-7 ms to generate a case (positive, negative mode), against ~1 ms for the catalogue's own
# strategies, which already draw valid requests and every request rule broken alone. So it
# takes a fixed share of the exploration budget, SCHEMATHESIS_SHARE split between its two
# modes and at most SCHEMATHESIS_CASES per mode, and joins only when that share pays for its
# set-up (at least SCHEMATHESIS_MIN_CASES per mode: an exploration budget of 1000 or more).
# The exotic values it finds are few; the rest of the budget keeps the wire's pace.
SCHEMATHESIS_SHARE = 0.05
SCHEMATHESIS_MIN_CASES = 25
SCHEMATHESIS_CASES = 100


def schemathesis_cases(left: int, alone: bool = False) -> int:
    """Cases per generation mode Schemathesis takes of an exploration budget of `left` (0: it does not join).

    `alone`: the catalogue's strategies cannot build a request (a data-bound target without
    the fixtures), so Schemathesis is the only source and joins whatever the budget.
    """
    if alone:
        return SCHEMATHESIS_CASES
    cases = min(SCHEMATHESIS_CASES, int(left * SCHEMATHESIS_SHARE) // 2)
    return cases if cases >= SCHEMATHESIS_MIN_CASES else 0


def prepare(run: RunState, expected_left: int | None = None) -> list[Any]:
    """The exploration's sources, each a Hypothesis strategy of request bodies (or cases).

    Always the catalogue's own: valid requests with plain values (each one judged for
    acceptance) and requests breaking one request rule of the level alone. With a large
    enough budget (see `schemathesis_cases`), also Schemathesis' positive and negative
    cases on the exploration document. Built while the plan runs; Schemathesis' are kept per document, so a second
    run in the same process (pytest) reuses them.
    """
    # Imported here, not at the top: a run without exploration never pays for Hypothesis.
    from hypothesis import strategies as st

    from migma_contract.strategies import invalid_requests, valid_requests

    left = expected_left if expected_left is not None else run.options.max_requests - run.target.requests_sent
    fixtures, spec = run.fixtures, run.contract.spec
    sources: list[Any] = []
    try:
        sources.append(valid_requests(fixtures=fixtures, spec=spec))
        rule_ids = [rule_id for rule_id in run.rule_ids if get_rule(rule_id).subject is Subject.REQUEST]
        sources.append(st.one_of([invalid_requests(rule_id, fixtures=fixtures, spec=spec) for rule_id in rule_ids]))
    except ValueError:  # a data-bound target whose fixtures build no valid request
        pass
    cases = schemathesis_cases(left, alone=not sources)
    if cases:
        document = exploration_document(run.contract, run.level, fixtures)
        # first, so that its capped share is taken before the catalogue's sources split the rest
        sources[:0] = [_Capped(strategy, cases) for strategy in _strategies(json.dumps(document, sort_keys=True))]
    _scan_constants()
    return sources


def _scan_constants() -> None:
    """Hypothesis' scan of the loaded modules for the constants it mixes into what it draws, done now.

    At the first draw of a process that has loaded new modules, Hypothesis looks at every
    one (resolving the path of each to tell the user's code from the standard library and
    site-packages) and reads the constants of the user's: ~10 ms in an installed toolkit,
    ~30 ms in a source checkout, whose modules count as the user's. `prepare` runs while the
    plan's requests are in flight, so the scan costs the run nothing there. What is drawn
    does not change: the constants are the union over the modules loaded, and a module
    loaded after this is scanned at the first draw, as before. (Hypothesis' private
    function: in a Hypothesis without it, nothing is done here and the first draw scans.)
    """
    try:
        from hypothesis.internal.conjecture.providers import _get_local_constants
    except ImportError:
        return
    _get_local_constants()


class _Capped:
    """A source that takes at most `cases` requests of the budget."""

    def __init__(self, strategy: Any, cases: int) -> None:
        self.strategy, self.cases = strategy, cases


@lru_cache(maxsize=8)
def _strategies(document: str) -> tuple[Any, ...]:
    import schemathesis
    from schemathesis import GenerationMode

    operation = schemathesis.openapi.from_dict(json.loads(document))["/v1/sending"]["POST"]
    return tuple(operation.as_strategy(generation_mode=mode) for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE))


def explore(run: RunState, strategies: list[Any] | None = None) -> None:
    """Spend what is left of the budget on generated requests (runs in a worker thread)."""
    strategies = strategies if strategies is not None else prepare(run)
    run.progress("explore", {"budget": run.options.max_requests - run.target.requests_sent})
    with _older_objects_frozen():
        _explore(run, strategies)


@contextlib.contextmanager
def _older_objects_frozen() -> Iterator[None]:
    """Exploration with every object alive before it out of the garbage collector's sight (`gc.freeze`).

    Those objects (the modules imported, the document, the plan's exchanges) outlive the
    exploration, so a full collection only spends time walking them. Hypothesis runs one at
    its first test in a thread (`register_random` calls `gc.collect()`): ~15-30 ms of a
    default check, ~0.1 ms with them frozen. They are unfrozen afterwards, back to the oldest
    generation; a process that already keeps a permanent generation of its own (a
    pre-forking server) is left as it is.
    """
    if gc.get_freeze_count():
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _explore(run: RunState, strategies: list[Any]) -> None:
    for position, source in enumerate(strategies):
        share = (run.options.max_requests - run.target.requests_sent) // (len(strategies) - position)
        strategy = source.strategy if isinstance(source, _Capped) else source
        if isinstance(source, _Capped):
            share = min(share, source.cases)
        stop_at = run.target.requests_sent + share
        for round_number in range(len(run.rule_ids)):
            if not run.can_send() or run.target.requests_sent >= stop_at:
                break
            found = _round(run, strategy, stop_at, run.options.seed * 1009 + position * 97 + round_number)
            if found is None:
                break
            exchange, failures = found
            # attributed as a plan finding is (a refused valid request, a crash): which field makes the difference
            run.settle_now(_renamed(exchange, failures[0].rule_id), failures)


def _round(run: RunState, strategy: Any, stop_at: int, seed_value: int) -> tuple[Any, list[Failure]] | None:
    """One Hypothesis run until the first failure new to its rule (shrunk), or until the share is spent."""
    from hypothesis import HealthCheck, Phase, given, seed, settings
    from hypothesis.errors import FailedHealthCheck, Flaky, Unsatisfiable

    last: list[tuple[Any, list[Failure]]] = []

    @settings(max_examples=max(1, stop_at - run.target.requests_sent), database=None, deadline=None, derandomize=False,
              phases=[Phase.generate, Phase.shrink], report_multiple_bugs=False, print_blob=False,
              suppress_health_check=list(HealthCheck))
    @seed(seed_value)
    @given(generated=strategy)
    def probe(generated: Any) -> None:
        # Past this source's share, stop exploring, but let a found failure shrink within the whole budget.
        if not run.can_send() or (run.target.requests_sent >= stop_at and not last):
            if not last:
                raise _Spent
            return
        body = _body_of(generated)
        if unsafe_recipient(body, run.fixtures.recipient_domain):
            return  # never sent: safety before coverage
        run.explored += 1
        run.progress("explored", {"sent": run.target.requests_sent, "max": run.options.max_requests})
        case = label(run, body, run.explored)
        exchange = run.send_now(case)
        failures = run.judge(exchange)
        fresh = [f for f in failures if run.is_new(exchange, f)]
        if fresh:
            last.append((exchange, fresh))
            raise _Found(", ".join(f[0] for f in fresh))

    # Hypothesis keys a test's examples in its database by a digest of the test's source, which
    # it reads and tokenizes at every run (~1-2 ms each, and a check runs one per round). There
    # is no database here (`database=None`), so the key is never used: given as None, as
    # Hypothesis' own `find` does, the source is not read. What is drawn does not change.
    probe._hypothesis_internal_database_key = None  # type: ignore[attr-defined]
    try:
        probe()
    except _Spent:
        return None
    except (_Found, Flaky):
        return last[-1] if last else None
    except (Unsatisfiable, FailedHealthCheck):  # a document whose schema admits no (valid) body
        run.progress("explore-source-exhausted", {})
    return None


def _renamed(exchange: Any, rule_id: str) -> Any:
    """The shrunk request keeps its verdict, under an id that says it is the minimal one."""
    exchange.case = Case(
        f"explore/{slug(rule_id)}-minimal", exchange.case.rule_id, exchange.case.label,
        exchange.case.body, exchange.case.expect, exchange.case.auth, exchange.case.headers, (), "explore",
    )
    return exchange
