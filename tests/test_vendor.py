"""The vendor set against a live target: each Idempotency-Key sent twice at most, nothing provoked, what comes judged."""

from collections import Counter

import pytest

from migma_contract.config.options import CheckOptions
from migma_contract.run.runner import run_check
from migma_contract.wire.serve import serve_in_thread

from .faulty_servers import (
    FULL_KEY,
    RESTRICTED_KEY,
    SECOND_KEY,
    VENDOR,
    Req,
    Resp,
    Variant,
    _full_key,
    every_nth,
    fake_success,
    throttled,
    with_headers,
)
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


def test_a_live_target_rate_limiting_every_keyed_request_gets_each_send_retried_within_max_retries():
    """A 429 was not processed: it is no send of its key; the retries of each send stay within --max-retries."""
    seen = Counter()

    async def throttle_keyed(request: Req) -> Resp | None:
        if request.headers.get("idempotency-key"):
            seen[request.headers["idempotency-key"]] += 1
            return Resp.of(429, {"success": False, "error": "slow down"}, **{"retry-after": "0"})
        return None

    app = Variant("throttles-keys", None, before=throttle_keyed).app()
    with serve_in_thread(app) as url:
        result = run_check(live(url, plan="minimal", max_retries=2))
    assert len(seen) == 4 and max(seen.values()) <= 2 * 3  # two sends of a key at most, each tried 1 + 2 times
    assert keys_sent(app) == Counter()  # none was ever processed
    assert result.rule("rate-limit-retry-after").status == "passed"  # the 429s that came were judged
    assert result.rule("idempotency-not-stored").status == "not_exercised"  # a retry answered 429 again judges nothing
    # a 429 that stands once the retries are spent is the status-documented finding it always was
    assert {r.id for r in result.rules if r.status == "failed"} == {"status-documented"}


# --- 429s landing on the vendor set's probes (issue 25): retried, never counted as a send of the key ----------

KEYED = ("idempotency-replay", "idempotency-conflict", "idempotency-scope", "idempotency-not-stored", "rate-limit-retry-after")


def served(variant, **extra):
    app = variant.app()
    with serve_in_thread(app) as url:
        return app, run_check(live(url, **extra))


@pytest.mark.parametrize("plan", ["full", "minimal"])
def test_a_429_on_the_second_send_of_each_key_is_retried_and_every_keyed_rule_judged_on_a_correct_server(plan):
    app, result = served(Variant("429-on-each-keys-second-send", None, before=throttled(arrival=2)), plan=plan)
    assert result.exit_code == 0, [f.message for f in result.findings]  # no 429 left standing: status-documented holds
    assert {r.id: r.status for r in result.rules if r.id in KEYED} == dict.fromkeys(KEYED, "passed")
    assert max(keys_sent(app).values()) == 2  # each key processed twice at most, its 429 not counted


def test_a_429_on_the_conflict_probe_does_not_hide_a_server_that_accepts_another_body():
    variant = Variant("429-then-another-body-accepted", "idempotency-conflict", before=throttled(arrival=2),
                      after=lambda req, resp: Resp.of(200, fake_success()) if resp.status == 409 else resp)
    _, result = served(variant)
    assert result.rule("idempotency-conflict").status == "failed"


def test_a_429_stored_and_replayed_under_its_key_fails_idempotency_not_stored():
    _, result = served(Variant("stores-its-429", "idempotency-not-stored", before=throttled(arrival=2, replay_stored=True)))
    [finding] = result.findings_for("idempotency-not-stored")
    assert "was stored and replayed" in finding.actual


def test_minimal_plan_a_single_429_on_the_second_key_probe_is_retried_not_a_finding():
    second = f"Bearer {SECOND_KEY}"
    correct = Variant("429-once-for-the-second-key", None, before=throttled(arrival=1, when=lambda r: r.headers.get("authorization") == second))
    _, result = served(correct, plan="minimal")
    assert result.exit_code == 0, [f.message for f in result.findings]
    assert result.rule("idempotency-scope").status == "passed"
    faulty = Variant("429-then-replays-across-api-keys", "idempotency-scope",
                     before=_chain(throttled(arrival=1, when=lambda r: r.headers.get("authorization") == second),
                                   with_headers(lambda r: _full_key(r) if r.headers.get("authorization") == second else None)))
    _, result = served(faulty, plan="minimal")
    assert result.rule("idempotency-scope").status == "failed"


@pytest.mark.parametrize("vendor", [True, False])
def test_a_429_without_retry_after_is_retried_after_a_bounded_backoff_and_judged_by_its_own_rule(vendor):
    variant = Variant("429-without-retry-after-now-and-then", "rate-limit-retry-after" if vendor else None,
                      before=every_nth(9, retry_after=None))
    app, result = served(variant, with_vendor=vendor, max_retry_wait=0.01, plan="minimal" if vendor else "full")
    assert result.rule("status-documented").status == "passed"  # retried: no 429 stands
    if vendor:
        assert {r.id for r in result.rules if r.status == "failed"} == {"rate-limit-retry-after"}
        assert "no Retry-After header" in result.findings_for("rate-limit-retry-after")[0].actual
    else:
        assert result.exit_code == 0, [f.message for f in result.findings]
    assert [r.status for r in app.inner.requests].count(429) == 0  # every 429 came from the variant, none reached the mock


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


def _chain(*befores):
    async def before(request):
        for step in befores:
            outcome = await step(request)
            if isinstance(outcome, Resp):
                return outcome
            if isinstance(outcome, Req):
                request = outcome
        return request

    return before
