"""CPU per explored case, drawn and labelled as exploration does: Schemathesis' vs the catalogue's own.

    python benchmarks/explored_case.py ROUNDS CASES

Builds the sources a check with the Quickstart fixtures explores with (`run.explore.prepare`
at a budget Schemathesis joins: the catalogue's valid requests and requests breaking one
rule, Schemathesis' positive and negative cases on the exploration document), then, ROUNDS
times, draws CASES cases from each under the settings exploration uses (a Hypothesis run per
source, generation only), turning each into a body and labelling it with the one judge
(`deserve`), as `explore` does before sending. Nothing is sent: the row measures what a case
costs before the wire, where Schemathesis' and the catalogue's differ. The order of the
sources alternates between rounds. Prints one JSON line: CPU ms per case of each source,
per round, and how many cases each drew.
"""

from __future__ import annotations

import json
import sys
import time
from types import SimpleNamespace

from hypothesis import HealthCheck, Phase, given, seed, settings

from migma_contract import contract_for
from migma_contract.contract.catalogue import ACCEPTS_VALID, rules_for
from migma_contract.generate.bodies import Fixtures
from migma_contract.run import explore

FIXTURES = Fixtures(from_address="sender@example.com", email_id="email_welcome", tag_id="tag_vip")


def _per_case(strategy: object, run: SimpleNamespace, cases: int, seed_value: int, labels: list[str] | None = None) -> tuple[float, int]:
    drawn = [0]

    @settings(max_examples=cases, database=None, deadline=None, derandomize=False, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @seed(seed_value)
    @given(generated=strategy)
    def probe(generated: object) -> None:
        drawn[0] += 1
        case = explore.label(run, explore._body_of(generated), drawn[0])
        if labels is not None:
            labels.append(case.rule_id)

    probe._hypothesis_internal_database_key = None  # as exploration does
    start = time.thread_time()
    probe()
    return (time.thread_time() - start) / drawn[0] * 1000, drawn[0]


def main() -> None:
    rounds, cases = int(sys.argv[1]), int(sys.argv[2])
    contract = contract_for()
    run = SimpleNamespace(contract=contract, level="documented", fixtures=FIXTURES, explored=0,
                          rule_ids=[rule.id for rule in rules_for("documented")],
                          options=SimpleNamespace(max_requests=5000), target=SimpleNamespace(requests_sent=0))
    sources = explore.prepare(run, expected_left=5000)  # type: ignore[arg-type]
    named = {"schemathesis positive": sources[0].strategy, "schemathesis negative": sources[1].strategy,
             "catalogue valid": sources[2], "catalogue one rule broken": sources[3]}
    assert len(sources) == 4 and all(isinstance(s, explore._Capped) for s in sources[:2]), sources
    labels: dict[str, list[str]] = {name: [] for name in named}
    for name, strategy in named.items():  # warm up: strategies built, caches filled
        _per_case(strategy, run, max(cases // 4, 1), 0, labels[name])
    # each source did its work: the catalogue's valid requests are judged for acceptance, its others each break a rule
    assert set(labels["catalogue valid"]) == {ACCEPTS_VALID.id}, labels["catalogue valid"]
    assert all(rule_id not in ("", ACCEPTS_VALID.id) for rule_id in labels["catalogue one rule broken"]), labels
    ms: dict[str, list[float]] = {name: [] for name in named}
    drawn: dict[str, int] = dict.fromkeys(named, 0)
    for index in range(rounds):
        for name in (list(named) if index % 2 == 0 else list(reversed(named))):
            per_case, count = _per_case(named[name], run, cases, index + 1)
            ms[name].append(per_case)
            drawn[name] += count
    print(json.dumps({"ms_per_case": ms, "cases": drawn}))


if __name__ == "__main__":
    main()
