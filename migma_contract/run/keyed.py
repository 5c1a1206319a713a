"""The vendor set's memory: answers under one Idempotency-Key, and the 429s retried on the way.

A keyed pair is judged on its second answer against the first, a retry under a key after a
transient failure (a 429 or 5xx) against that failure, and a 429 by the rules about a 429.
The run hands every exchange here; this module keeps the first answer of each key and what
failed under it, and says when a planned request of the set is not worth sending.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from migma_contract.contract.catalogue import get_rule
from migma_contract.contract.rules import KeyedPair, KeyedRetry, NotExercisable, ResponseFacts, ResponsePredicate, Rule
from migma_contract.generate.cases import Case
from migma_contract.wire.client import Exchange

if TYPE_CHECKING:
    from migma_contract.run.state import Failure, RunState

__all__ = ["KeyedMemory"]


class KeyedMemory:
    """The first answer of each Idempotency-Key, the transient failures under one, and the rules that read them."""

    def __init__(self, run: RunState, rules: tuple[Rule, ...]) -> None:
        self.run = run
        self.keyed_pairs = {r.id: r for r in rules if isinstance(r.form, KeyedPair)}
        self.keyed_retry = next((r for r in rules if isinstance(r.form, KeyedRetry)), None)
        self.rule_ids = frozenset(r.id for r in rules if r.form.keyed)
        self.throttle_rules = [(r, r.form) for r in rules if isinstance(r.form, ResponsePredicate) and r.form.provoke == 429]
        self._firsts: dict[str, Exchange[Case]] = {}  # Idempotency-Key -> the first answer of its pair
        self._faulted: dict[tuple[str | None, str, bytes], tuple[ResponseFacts, bool]] = {}  # a 429/5xx under a key

    def first_of(self, key: str) -> Exchange[Case] | None:
        """The first answer under an Idempotency-Key (None: none yet)."""
        return self._firsts.get(key)

    def judge_injected(self, exchange: Exchange[Case], failures: list[Failure]) -> None:
        assert exchange.status is not None
        facts = self.run._facts_of(exchange)
        for rule, form in self.throttle_rules if exchange.status == 429 else ():
            self.run._judge_rule(rule, failures, form.check(self.run.contract.spec, facts))
        key = exchange.case.idempotency_key
        if key is not None:
            self._faulted[self._memo(exchange, key)] = (facts, True)
            self._firsts[key] = exchange

    def judge_throttled(self, exchange: Exchange[Case], failures: list[Failure]) -> None:
        """The 429 answers retried on the way to this one: each judged by the rules about a 429; the retry after the last one by not-stored."""
        if not exchange.throttled:
            return
        for attempt in exchange.throttled:
            facts = self.run._facts(attempt.status, attempt.headers, attempt.body)
            for rule, form in self.throttle_rules:
                self.run._judge_rule(rule, failures, form.check(self.run.contract.spec, facts))
        last = exchange.throttled[-1]
        if self.keyed_retry is not None and exchange.case.idempotency_key is not None and exchange.status is not None:
            injected = exchange.case.inject == 429 and len(exchange.throttled) == 1
            self._judge_retry(self.run._facts(last.status, last.headers, last.body), exchange, injected, failures)

    def judge_keyed(self, exchange: Exchange[Case], failures: list[Failure]) -> None:
        """A request under an Idempotency-Key: the retry of an earlier 429/5xx under it, and its planned pair."""
        key = exchange.case.idempotency_key
        if key is None or exchange.status is None:
            return
        if exchange.case.step == 1:
            self._firsts[key] = exchange
        if self.keyed_retry is not None:
            memo = self._memo(exchange, key)
            earlier = self._faulted.pop(memo, None)
            if earlier is not None:
                self._judge_retry(earlier[0], exchange, earlier[1], failures)
            if exchange.status == 429 or exchange.status >= 500:
                self._faulted[memo] = (self.run._facts_of(exchange), False)
        rule = self.keyed_pairs.get(exchange.case.rule_id)
        if rule is None:
            return
        form = rule.form
        assert isinstance(form, KeyedPair)
        facts = self.run._facts_of(exchange)
        if exchange.case.step == 1:
            if form.second is not None:
                return
            first = None
        else:
            sent = self._firsts.get(key)
            if sent is None or sent.status is None:
                return
            first = self.run._facts_of(sent)
            if form.premise(first):  # sent only as a retry (see vendor_skip)
                return
        try:
            message = form.check(first, facts)
        except NotExercisable as exc:
            self.run._unjudged(rule.id, exc.reason, warn=facts.status in (401, 403))  # the user's key, not the server's fault
            return
        self.run._judge_rule(rule, failures, message)

    def _judge_retry(self, first: ResponseFacts, exchange: Exchange[Case], injected: bool, failures: list[Failure]) -> None:
        rule = self.keyed_retry
        assert rule is not None and isinstance(rule.form, KeyedRetry) and exchange.status is not None
        if not rule.form.after(first.status):
            return
        try:
            message = rule.form.check(first, self.run._facts_of(exchange), injected)
        except NotExercisable as exc:
            self.run._unjudged(rule.id, exc.reason)
            return
        self.run._judge_rule(rule, failures, message)

    def _a_natural_retry(self, form: KeyedPair, first_status: int) -> bool:
        """Whether the pair's second request repeats a first one answered 429/5xx: a retry, which the not-stored rule judges."""
        retry = self.keyed_retry.form if self.keyed_retry is not None else None
        return form.second == "same" and isinstance(retry, KeyedRetry) and retry.after(first_status)

    @staticmethod
    def _memo(exchange: Exchange[Case], key: str) -> tuple[str | None, str, bytes]:
        """What makes a later request a retry of this one: the same credentials, key and body."""
        auth = next((v for k, v in exchange.request_headers.items() if k.lower() == "authorization"), None)
        return auth, key, exchange.request_content

    def vendor_skip(self, case: Case) -> str | None:
        """Why a request of the vendor set is not sent (None: send it); the reason is kept for the report."""
        why = None
        first = self._firsts.get(case.idempotency_key or "") if case.step == 2 else None
        if case.inject is not None and self.run.inject is None:
            why = (f"needs a {case.inject} answer, and the target takes no injected faults (the reference mock in-process "
                   "does): judged only when one comes during the run")
        elif case.step == 2 and (first is None or first.status is None):
            return "the first request of its pair was not sent"
        elif case.step == 2 and not self.run.target.uses_left(case.idempotency_key):
            why = "its key was already processed twice: at most two sends per key against a live target"
        elif case.step == 2 and first is not None and first.status is not None:
            form = get_rule(case.rule_id).form
            if isinstance(form, KeyedPair):
                why = form.premise(self.run._facts_of(first))
                if why and self._a_natural_retry(form, first.status):
                    self.run._unjudged(case.rule_id, why)
                    return None  # sent all the same: the same request again after a 429/5xx is a retry the not-stored rule judges
            elif isinstance(form, KeyedRetry) and not form.after(first.status):
                why = f"the first answer was {first.status}, not the {form.provoke} injected"
        if why is not None:
            self.run._unjudged(case.rule_id, why)
        return why
