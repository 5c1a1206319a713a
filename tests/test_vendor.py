"""The vendor set against a live target: each Idempotency-Key sent twice at most, nothing provoked, what comes judged."""

from collections import Counter

import pytest

from migma_contract.config.options import CheckOptions
from migma_contract.run.runner import run_check
from migma_contract.wire.serve import serve_in_thread

from .faulty_servers import FULL_KEY, RESTRICTED_KEY, VENDOR, Req, Resp, Variant
from .test_corpus import FIXTURES

pytestmark = pytest.mark.e2e  # whole checks of a vendor-like target


def live(url, **extra):
    settings = {"base_url": url, "api_key": FULL_KEY, "restricted_api_key": RESTRICTED_KEY, "explore": False, **VENDOR, **extra}
    return CheckOptions(**settings).with_fixtures(FIXTURES)


def keys_sent(app):
    return Counter(r.idempotency_key for r in app.inner.requests if r.idempotency_key)


def test_against_a_live_target_keys_are_fresh_sent_twice_at_most_and_no_fault_is_provoked():
    app = Variant("served", None).app()
    with serve_in_thread(app) as url:
        result = run_check(live(url, plan="minimal"))
    assert result.exit_code == 0, [f.message for f in result.findings]
    sent = keys_sent(app)
    assert len(sent) == 4 and max(sent.values()) == 2 and all(k.startswith("migma-contract-") for k in sent)
    status = {r.id: (r.status, r.reason) for r in result.rules if r.set == "vendor"}
    for rule_id in ("idempotency-replay", "idempotency-conflict", "idempotency-scope", "idempotency-key-length"):
        assert status[rule_id] == ("passed", None), rule_id
    for rule_id in ("idempotency-not-stored", "rate-limit-retry-after"):
        assert status[rule_id][0] == "not_exercised" and "takes no injected faults" in status[rule_id][1]
    assert [r.status for r in app.inner.requests].count(503) == 0


def test_a_live_target_rate_limiting_every_keyed_request_still_gets_each_key_twice_at_most():
    seen = Counter()

    async def throttle_keyed(request: Req) -> Resp | None:
        if request.headers.get("idempotency-key"):
            seen[request.headers["idempotency-key"]] += 1
            return Resp.of(429, {"success": False, "error": "slow down"}, **{"retry-after": "0"})
        return None

    app = Variant("throttles-keys", None, before=throttle_keyed).app()
    with serve_in_thread(app) as url:
        result = run_check(live(url, plan="minimal", max_retries=5))
    assert len(seen) == 4 and set(seen.values()) == {2}  # retried once under its key, never a third time (max_retries 5)
    replay = result.rule("idempotency-replay")
    assert replay.status == "not_exercised" and "at most two sends per key" in replay.reason
    assert result.rule("rate-limit-retry-after").status == "passed"  # the 429s that came were judged
    assert result.rule("idempotency-not-stored").status == "not_exercised"  # a retry answered 429 again judges nothing
    # a 429 that stands once the retries a key allows are spent is the status-documented finding it always was
    assert {r.id for r in result.rules if r.status == "failed"} == {"status-documented"}


def test_a_5xx_that_comes_by_itself_is_retried_once_under_its_key_and_judged():
    failed = []

    async def first_keyed_fails(request: Req) -> Resp | None:
        if request.headers.get("idempotency-key") and not failed:
            failed.append(request.headers["idempotency-key"])
            return Resp.of(503, {"success": False, "error": "try again"})
        return None

    app = Variant("one-503", None, before=first_keyed_fails).app()
    with serve_in_thread(app) as url:
        result = run_check(live(url, plan="minimal"))
    not_stored, replay = result.rule("idempotency-not-stored"), result.rule("idempotency-replay")
    assert (not_stored.status, not_stored.exercised) == ("passed", 1)
    assert replay.status == "not_exercised" and "answered 503, not accepted" in replay.reason
    assert keys_sent(app)[failed[0]] == 1  # the 503 never reached the mock; its retry did, once: two sends of the key
    assert {r.id for r in result.rules if r.status == "failed"} == {"no-server-error"}  # the 503 itself


def test_a_second_key_the_target_refuses_is_the_users_mistake_said_once_never_a_finding():
    warnings = []
    app = Variant("served", None).app()
    with serve_in_thread(app) as url:
        result = run_check(live(url, plan="minimal", second_api_key="mc_test_typo"),
                           progress=lambda event, info: warnings.append(info["message"]) if event == "warning" else None)
    assert result.exit_code == 0, [f.message for f in result.findings]
    scope = result.rule("idempotency-scope")
    assert scope.status == "not_exercised" and scope.reason.startswith("the server refused --second-api-key (401)")
    assert warnings == [scope.reason]
