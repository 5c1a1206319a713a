"""The deterministic plan: every rule exercised, each negative case breaking its rule alone, pairwise positives."""

import itertools

import pytest

from migma_contract import RULES, Subject, contract_for, rules_for, validate_request
from migma_contract.contract.rules import RawBody
from migma_contract.generate.bodies import BodyFactory, Fixtures
from migma_contract.generate.open_points import open_in_violation
from migma_contract.generate.plan import IDEMPOTENCY_KEY_PREFIX, OPEN_TEXT_CLASSES, _factors, build_plan, pairwise

CONTRACT = contract_for()


def plan_for(fixtures=None, level="documented", restricted="mc_r"):
    bodies = BodyFactory(CONTRACT.spec, fixtures or Fixtures())
    return build_plan(CONTRACT, level, bodies, api_key="mc_k", restricted_key=restricted)


# Issue 25 added the identical resend (+1) and the restricted key on every recipient type (+3), and sends each class
# of non-Mailbox strings once (12 -> 9: within the budget a 150-request configuration has); body-utf8's three bodies
# come at strict (the one non-UTF-8 body of body-json-object moved there): 150 and 153.
@pytest.mark.parametrize(("level", "bound"), [("documented", 150), ("strict", 153)])
def test_plan_exercises_every_request_auth_and_acceptance_rule_within_its_bound(level, bound):
    plan = plan_for(level=level)
    grouped = plan.by_rule()
    for rule in rules_for(level):
        if not getattr(rule.form, "judges_servers", True):  # a rule for clients only: never sent to a server
            assert not grouped.get(rule.id) and "clients only" in plan.not_exercised[rule.id]
        elif rule.subject is not Subject.RESPONSE:
            assert grouped.get(rule.id), f"no case for {rule.id}"
    assert len(plan.cases) <= bound
    assert set(plan.not_exercised) <= {r.id for r in rules_for(level) if not getattr(r.form, "judges_servers", True)}
    assert plan.variants_not_exercised == []


def test_every_negative_case_breaks_exactly_its_rule():
    for case in plan_for().cases:
        rule = next((r for r in RULES if r.id == case.rule_id), None)
        if rule is None:
            continue  # an open value class (below)
        if rule.subject is Subject.REQUEST:
            assert {v.rule_id for v in validate_request(case.body, level="strict")} == {rule.id}, case.id
            assert case.expect == {400}


def test_every_positive_and_auth_case_has_a_valid_body():
    for case in plan_for().cases:
        if case.rule_id in ("accepts-valid", "auth-required", "auth-scope"):
            assert not isinstance(case.body, RawBody)
            assert validate_request(case.body, level="strict") == [], case.id


def test_positive_cases_cover_every_pair_of_value_classes():
    bodies = BodyFactory(CONTRACT.spec, Fixtures())
    factors = _factors(CONTRACT, bodies)
    positives = [dict(c.factors) for c in plan_for().cases if c.rule_id == "accepts-valid"]
    paired = [f for f in factors if f.only_when is None]
    for a, b in itertools.combinations(paired, 2):
        for va, vb in itertools.product(a.values, b.values):
            assert any(p[a.name] == va and p[b.name] == vb for p in positives), (a.name, va, b.name, vb)
    for factor in factors:  # a field only some sends carry (recipientEmail) takes each of its classes on them
        if factor.only_when is not None:
            assert {p[factor.name] for p in positives if factor.name in p} == set(factor.values)
    # pairwise, not the full product
    full = 1
    for factor in factors:
        full *= len(factor.values)
    assert len(positives) < 40 < full


def test_labels_and_factors_name_only_what_the_body_carries():
    """A batch send carries no recipientEmail: neither its label nor its factors may say it does."""
    for case in plan_for().cases:
        if case.rule_id != "accepts-valid":
            continue
        factors = dict(case.factors)
        assert ("recipientEmail" in factors) == ("recipientEmail" in case.body), case.id
        if "recipientEmail" not in case.body:
            assert "recipientEmail" not in case.label, case.label


def test_open_value_classes_cost_one_request_each_and_break_nothing_but_open_points():
    open_cases = [c for c in plan_for().cases if c.rule_id == ""]
    assert [c.id.removeprefix("open/") for c in open_cases] == list(OPEN_TEXT_CLASSES)
    assert plan_for().cases[-len(open_cases):] == open_cases  # last: the first cut when the budget is short
    for case, (name, value) in zip(open_cases, OPEN_TEXT_CLASSES.items(), strict=True):
        assert case.expect == frozenset() and case.body["fromName"] == value and case.body["subject"] == value
        for violation in validate_request(case.body, level="strict"):
            assert open_in_violation(violation, case.body), (name, violation)
    lengths = [len(v) for v in OPEN_TEXT_CLASSES.values()]
    assert min(lengths) == 0 and max(lengths) >= 10_000
    assert b"\\ud83d" in open_cases[list(OPEN_TEXT_CLASSES).index("lone-surrogate")].content  # as a JSON escape


def test_pairwise_is_deterministic_and_complete():
    values = [["a", "b", "c"], ["x", "y"], ["1", "2", "3", "4"], ["p", "q"]]
    rows = pairwise(values)
    for i, j in itertools.combinations(range(len(values)), 2):
        assert {(r[i], r[j]) for r in rows} == set(itertools.product(values[i], values[j]))
    assert len(rows) == 12  # the 4 x 3 of the two largest factors: no row wasted


def test_pairwise_does_not_cover_again_what_its_seeds_cover():
    values = [["a", "b"], ["x", "y"], ["1", "2"]]
    seeds = [("a", "x", "1"), ("b", "y", "2")]
    rows = pairwise(values, seeds)
    assert not set(rows) & set(seeds)
    for i, j in itertools.combinations(range(len(values)), 2):
        assert {(r[i], r[j]) for r in rows + seeds} == set(itertools.product(values[i], values[j]))


def test_open_point_cases_accept_200_or_400():
    neither = [c for c in plan_for().cases if c.rule_id == "accepts-valid" and "emailId" not in c.body and "conversationId" not in c.body]
    assert neither and all(c.expect == {200, 400} for c in neither)


def test_without_a_restricted_key_auth_scope_is_not_exercised_with_the_option_to_pass():
    plan = plan_for(restricted=None)
    assert "auth-scope" not in plan.by_rule()
    assert "--restricted-api-key" in plan.not_exercised["auth-scope"]


def test_data_bound_target_missing_fixtures_are_named_not_failed():
    plan = plan_for(Fixtures(from_address="hello@brand.test", email_id="em_1", segment_id="seg_1"))
    missing = "\n".join(plan.variants_not_exercised)
    assert "--audience-id" in missing and "--tag-id" in missing and "--provider ses" in missing and "--conversation-id" in missing
    assert all(c.body.get("from") == "hello@brand.test" for c in plan.cases if c.rule_id == "accepts-valid")
    assert {"email", "segment"} == {c.body["recipientType"] for c in plan.cases if c.rule_id == "accepts-valid"}


def test_schema_level_plan_has_no_documented_request_rules():
    ids = set(plan_for(level="schema").by_rule()) - {""}
    assert ids <= {r.id for r in rules_for("schema")}
    assert "email-format" not in ids and "batch-needs-recipientId" not in ids


def test_generated_recipients_stay_on_the_recipient_domain():
    for case in plan_for(Fixtures(recipient_domain="mail.test")).cases:
        if isinstance(case.body, dict) and isinstance(case.body.get("recipientEmail"), str) and "@" in case.body["recipientEmail"]:
            domain = case.body["recipientEmail"].rpartition("@")[2].strip().rstrip(">")
            assert domain in ("mail.test", ""), case.id  # a non-address built from one keeps its domain (or has none)


@pytest.mark.e2e
def test_plan_is_the_same_in_every_process_whatever_the_hash_seed():
    """Sets and dict orders must not leak into the plan: two interpreters with other hash seeds agree."""
    import os
    import subprocess
    import sys

    code = (
        "import hashlib, json; from migma_contract import contract_for, Fixtures; "
        "from migma_contract.generate.bodies import BodyFactory; from migma_contract.generate.plan import build_plan; "
        "c = contract_for(); "
        "print(hashlib.sha256(json.dumps([[x.id, repr(x.body)] for lv in ('schema', 'documented', 'strict') "
        "for x in build_plan(c, lv, BodyFactory(c.spec, Fixtures()), api_key='k', restricted_key='r').cases]).encode()).hexdigest())"
    )
    digests = {
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                       env={**os.environ, "PYTHONHASHSEED": seed}).stdout
        for seed in ("1", "2")
    }
    assert len(digests) == 1


# --- the vendor set and the minimal plan ------------------------------------------------------------

VENDOR = ("contract", "vendor")


def vendor_plan(kind="full", second="mc_second", token=None, level="documented"):
    bodies = BodyFactory(CONTRACT.spec, Fixtures())
    return build_plan(CONTRACT, level, bodies, api_key="mc_k", restricted_key="mc_r", second_key=second,
                      sets=VENDOR, kind=kind, key_token=token)


def test_without_the_vendor_set_the_plan_is_unchanged_and_sends_no_idempotency_key():
    plan = plan_for()
    assert plan.kind == "full" and len(plan.cases) <= 150
    assert [c.id for c in plan.cases] == [c.id for c in vendor_plan().cases if c.rule_id not in VENDOR_IDS]
    assert not any(c.idempotency_key or c.step or c.inject for c in plan.cases)


VENDOR_IDS = {r.id for r in rules_for("documented", ["vendor"])}


def test_the_vendor_requests_are_pairs_under_fresh_keys_each_used_twice_at_most():
    plan = vendor_plan()
    cases = [c for c in plan.cases if c.rule_id in VENDOR_IDS]
    assert {c.rule_id for c in cases} == VENDOR_IDS and plan.not_exercised == {}
    by_key = {}
    for case in cases:
        by_key.setdefault(case.idempotency_key, []).append(case)
    assert len(cases) == 10 and len(by_key) == 6  # 4 pairs, one over-long key, one provoked 429
    for key, sent in by_key.items():
        assert key.startswith(IDEMPOTENCY_KEY_PREFIX) and len(sent) <= 2, key
        assert [c.step for c in sent] in ([1, 2], [1]), key
        assert len({c.rule_id for c in sent}) == 1
    long_key = next(k for k, sent in by_key.items() if sent[0].rule_id == "idempotency-key-length")
    assert len(long_key) == 101 and all(len(k) <= 100 for k in by_key if k != long_key)
    scope = [c for c in cases if c.rule_id == "idempotency-scope"]
    assert dict(scope[1].headers)["Authorization"] == "Bearer mc_second" and scope[0].auth == "full"
    conflict = [c for c in cases if c.rule_id == "idempotency-conflict"]
    assert conflict[0].body != conflict[1].body and validate_request(conflict[1].body, "strict") == []
    replay = [c for c in cases if c.rule_id == "idempotency-replay"]
    assert replay[0].body == replay[1].body and replay[0].headers == replay[1].headers
    assert {c.inject for c in cases} == {None, 503, 429}


def test_idempotency_keys_are_new_in_every_plan_and_recognisable():
    keys = [{c.idempotency_key for c in vendor_plan().cases if c.idempotency_key} for _ in range(2)]
    assert keys[0].isdisjoint(keys[1])
    fixed = {c.idempotency_key for c in vendor_plan(token="t0k3n").cases if c.idempotency_key}
    assert all(k.startswith("migma-contract-t0k3n-") for k in fixed)


def test_without_a_second_key_idempotency_scope_is_not_exercised_with_the_option_to_pass():
    plan = vendor_plan(second=None)
    assert plan.not_exercised == {"idempotency-scope": "needs a second full-scope key: pass --second-api-key"}
    assert not plan.by_rule().get("idempotency-scope")


def test_the_minimal_plan_exercises_every_rule_once_in_at_most_30_requests():
    for level in ("documented", "strict"):
        plan = vendor_plan("minimal", level=level)
        assert plan.kind == "minimal"
        grouped = plan.by_rule()
        sent_to_servers = [r for r in rules_for(level, VENDOR) if getattr(r.form, "judges_servers", True)]  # not clients-only
        for rule in sent_to_servers:
            if rule.subject is not Subject.RESPONSE or rule.id in VENDOR_IDS:
                assert grouped.get(rule.id), f"no case for {rule.id}"
        contract_cases = [c for c in plan.cases if c.rule_id not in VENDOR_IDS]
        # two accepted sends, and the first again, identical: result-id-unique is judged, and a cached answer caught
        assert len(grouped["accepts-valid"]) == 3
        assert all(len(grouped[r.id]) == 1 for r in sent_to_servers if r.subject in (Subject.REQUEST, Subject.AUTH))
        assert len(contract_cases) == 3 + 2 + sum(r.subject is Subject.REQUEST for r in sent_to_servers)
        assert len(plan.cases) <= 30
    assert len(plan_for().cases) > 5 * len(vendor_plan("minimal").cases)


def test_the_plan_tries_each_non_mailbox_class_once_and_a_display_name_in_from():
    from migma_contract.contract.email import NOT_MAILBOX

    email = [c for c in plan_for().cases if c.rule_id == "email-format"]
    fields = [p for p, s in CONTRACT.spec.request_properties.items() if s.get("format") == "email"]
    planned = [k.name for k in NOT_MAILBOX if k.name != "angle brackets"]  # left to exploration: the display name carries <…>
    assert sorted(c.label.split(" has ", 1)[1].split(" (")[0] for c in email) == sorted(planned)
    assert any(c.label.startswith("from has a display name (") for c in email)
    assert {c.label.split(" has ")[0] for c in email} == set(fields)  # every field takes some class


@pytest.mark.parametrize("kind", ["full", "minimal"])
def test_the_plan_sends_one_accepted_send_twice_identically_without_a_key(kind):
    """Two identical sends, no Idempotency-Key: a server answering from a cache gives the same data.id twice."""
    bodies = BodyFactory(CONTRACT.spec, Fixtures())
    plan = build_plan(CONTRACT, "documented", bodies, api_key="mc_k", restricted_key="mc_r", kind=kind)
    again = [c for c in plan.cases if c.id == "accepts-valid/plain-email-again"]
    assert len(again) == 1 and again[0].expect == {200} and again[0].headers == ()
    first = next(c for c in plan.cases if c.id == "accepts-valid/plain-email")
    assert again[0].content == first.content and again[0].auth == first.auth
    assert plan.cases.index(again[0]) > plan.cases.index(first)


def test_the_restricted_key_is_tried_on_every_recipient_type():
    scope = [c for c in plan_for().cases if c.rule_id == "auth-scope"]
    assert sorted(c.body["recipientType"] for c in scope) == ["audience", "email", "segment", "tag"]
    assert all(dict(c.headers) == {"Authorization": "Bearer mc_r"} and validate_request(c.body, level="strict") == [] for c in scope)
    bodies = BodyFactory(CONTRACT.spec, Fixtures())
    minimal = build_plan(CONTRACT, "documented", bodies, api_key="mc_k", restricted_key="mc_r", kind="minimal")
    assert len([c for c in minimal.cases if c.rule_id == "auth-scope"]) == 1
