"""The public Hypothesis strategies: valid bodies leave nothing open, invalid ones break one rule."""

import pytest
from hypothesis import HealthCheck, given, settings

from migma_contract import RULES, Subject, contract_for, validate_request
from migma_contract.generate.bodies import Fixtures
from migma_contract.generate.open_points import open_in_valid_body
from migma_contract.strategies import invalid_requests, valid_requests

FAST = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
REQUEST_RULES = [r.id for r in RULES if r.subject is Subject.REQUEST]


@pytest.mark.parametrize("recipient_type", ["email", "audience", "segment", "tag"])
def test_valid_requests_are_valid_plain_and_on_a_reserved_domain(recipient_type):
    @FAST
    @given(valid_requests(recipient_type))
    def check(body):
        assert body["recipientType"] == recipient_type
        assert validate_request(body, level="strict") == []
        assert open_in_valid_body(contract_for(), body, Fixtures()) is None
        for name in ("recipientEmail", "replyTo"):
            if name in body:
                assert body[name].endswith("@example.com")

    check()


@pytest.mark.parametrize("rule_id", REQUEST_RULES)
def test_invalid_requests_break_exactly_their_rule(rule_id):
    @FAST
    @given(invalid_requests(rule_id))
    def check(body):
        assert {v.rule_id for v in validate_request(body, level="strict")} == {rule_id}

    check()


def test_fixtures_are_used_and_unbuildable_variants_left_out():
    fixtures = Fixtures(from_address="hello@brand.test", email_id="em_1", segment_id="seg_1", recipient_domain="mail.test")

    @FAST
    @given(valid_requests(fixtures=fixtures))
    def valid(body):
        assert body["from"] == "hello@brand.test" and body["emailId"] == "em_1"
        assert body["recipientType"] in ("email", "segment")
        assert body.get("recipientId", "seg_1") == "seg_1"

    @FAST
    @given(invalid_requests("batch-needs-recipientId", fixtures=fixtures))
    def invalid(body):
        assert body["recipientType"] == "segment" and "recipientId" not in body

    valid()
    invalid()


def test_clear_errors_for_wrong_use():
    with pytest.raises(ValueError, match="constrains responses"):
        invalid_requests("result-has-id")
    with pytest.raises(KeyError, match="unknown rule"):
        invalid_requests("no-such-rule")
    with pytest.raises(ValueError, match="unknown recipient_type 'sms'"):
        valid_requests("sms")
    with pytest.raises(ValueError, match="pass --tag-id"):
        valid_requests("tag", fixtures=Fixtures(email_id="em_1"))


# --- single fields and responses (issue 13) ---------------------------------------------------------


@pytest.mark.parametrize("prop", ["recipientEmail", "replyTo", "subject", "providerType", "variables", "transactional"])
def test_field_values_are_accepted_in_a_valid_body(prop):
    from migma_contract.generate.bodies import BodyFactory
    from migma_contract.strategies import field_values

    base = BodyFactory(contract_for().spec).body_where_relevant(prop)

    @FAST
    @given(field_values(prop))
    def check(value):
        assert validate_request({**base, prop: value}, level="strict") == []

    check()
    with pytest.raises(ValueError, match="did you mean recipientEmail"):
        field_values("recipient_email")


@pytest.mark.parametrize("level", ["documented", "strict"])
def test_response_strategies_draw_what_the_contract_allows(level):
    from migma_contract import validate_response
    from migma_contract.strategies import error_responses, success_responses

    seen: set[int] = set()

    @FAST
    @given(success_responses(level=level, request={"providerType": "ses"}) | error_responses(level=level))
    def check(response):
        seen.add(response.status_code)
        assert validate_response(response.status_code, response.headers, response.content,
                                 request={"providerType": "ses"}, level=level) == []

    check()
    assert seen == {200, 400, 401, 403}


def test_error_responses_of_undocumented_statuses():
    from migma_contract.strategies import error_responses

    @FAST
    @given(error_responses(429), error_responses(503))
    def check(limited, unavailable):
        assert limited.status_code == 429 and float(limited.headers["retry-after"]) >= 0
        assert unavailable.status_code == 503 and unavailable.json()["success"] is False

    check()
    with pytest.raises(ValueError, match="400-599"):
        error_responses(200)


# --- what the cheaper generation still reaches (issue 16 narrowed text to a curated alphabet) --------------


@pytest.mark.parametrize("width", [2, 3, 4])
def test_valid_requests_reach_every_utf8_width_in_free_text(width):
    from hypothesis import find

    found = find(valid_requests(recipient_type="email"), lambda body: any(len(ch.encode()) == width for ch in body["subject"]),
                 settings=settings(max_examples=2000, database=None))
    assert any(len(ch.encode()) == width for ch in found["subject"])


def test_valid_requests_reach_nested_template_variables_and_a_right_to_left_name():
    from hypothesis import find

    nested = find(valid_requests(), lambda body: any(isinstance(v, (dict, list)) and v for v in body.get("variables", {}).values()),
                  settings=settings(max_examples=2000, database=None))
    assert isinstance(nested["variables"], dict)
    rtl = find(valid_requests(), lambda body: any("\u0590" <= ch <= "\u06ff" for ch in body["fromName"]),
               settings=settings(max_examples=2000, database=None))
    assert validate_request(rtl) == []


# --- every response strategy obeys the catalogue it is judged by (issue 22) --------------------------------------------


def _obeys(strategy, level, vendor, request=None):
    """Hold every drawn response to every response rule of `level` (the vendor set too when `vendor`).

    A status the document does not document (429, 5xx) is what `status-documented` and
    `no-server-error` judge by itself; every other rule must accept the response as drawn.
    """
    from hypothesis import given

    from migma_contract.contract.catalogue import NO_SERVER_ERROR, STATUS_DOCUMENTED, VENDOR_SETS

    contract = contract_for()
    validator = contract.response_validator(level, VENDOR_SETS if vendor else None)
    status_only = {STATUS_DOCUMENTED.id, NO_SERVER_ERROR.id}

    @FAST
    @given(strategy)
    def check(response):
        verdict = validator.evaluate(response.status_code, response.headers, response.content, request)
        broken = [v for v in verdict.violations
                  if not (v.rule_id in status_only and response.status_code not in contract.spec.documented_statuses)]
        assert broken == [], (response.status_code, dict(response.headers), response.content, broken)

    check()


@pytest.mark.parametrize("vendor", [False, True])
@pytest.mark.parametrize("level", ["schema", "documented", "strict"])
def test_every_response_strategy_obeys_every_response_rule_of_its_level(level, vendor):
    from migma_contract.strategies import error_responses, success_responses

    request = {"providerType": "ses"}
    _obeys(success_responses(level=level, request=request, vendor=vendor), level, vendor, request)
    for status in (None, 429, 500, 503):
        _obeys(error_responses(status, level=level, vendor=vendor), level, vendor)


def test_the_property_test_catches_a_strategy_drawing_a_fractional_retry_after():
    """The mutant of issue 22: a 429 with `Retry-After: 0.25` must fail the property test above."""
    import httpx
    from hypothesis import strategies as st

    mutant = st.sampled_from(["1", "0.25"]).map(
        lambda wait: httpx.Response(429, json={"success": False, "error": "slow down"}, headers={"Retry-After": wait}))
    with pytest.raises(AssertionError, match="rate-limit-retry-after"):
        _obeys(mutant, "documented", vendor=True)


def test_error_responses_429_carry_an_integer_retry_after_at_every_level():
    from hypothesis import given

    from migma_contract.contract.catalogue import retry_after_seconds
    from migma_contract.strategies import error_responses

    drawn = []

    @settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(error_responses(429))
    def check(response):
        drawn.append(response.headers["retry-after"])
        assert retry_after_seconds(response.headers["retry-after"]) is not None
        assert int(response.headers["retry-after"]) >= 0  # what a client written to the vendor's docs does

    check()
    assert len(drawn) >= 100


def test_building_the_strategies_of_every_request_rule_reads_no_source(monkeypatch):
    # Hypothesis reads a composite's source where it is defined (~1 ms each): the composites are
    # defined once, at import, not once per strategy built (a run builds one per request rule)
    import inspect

    from hypothesis import strategies as st

    from migma_contract.contract.catalogue import rules_for

    read = []
    real = inspect.getsource
    monkeypatch.setattr(inspect, "getsource", lambda obj: read.append(obj) or real(obj))
    valid_requests()
    st.one_of([invalid_requests(rule.id) for rule in rules_for("strict") if rule.subject is Subject.REQUEST])
    assert read == []


def test_the_curated_alphabets_are_the_characters_text_would_draw():
    # built without Hypothesis' Unicode table, they are the very intervals `st.text(alphabet=...)` builds
    from hypothesis.strategies._internal.strings import OneCharStringStrategy

    from migma_contract import strategies

    for chars in (strategies._ALPHABET, strategies._LOCAL_CHARS):
        built = strategies._characters(chars)
        assert isinstance(built, OneCharStringStrategy)
        assert built.intervals == OneCharStringStrategy.from_alphabet(chars).intervals


@pytest.mark.e2e
def test_the_exploration_s_strategies_load_no_unicode_table():
    # Hypothesis' category table (~25 ms to load) serves categories; the curated alphabets name their characters
    import subprocess
    import sys

    code = ("from hypothesis import strategies as st\nfrom hypothesis.internal import charmap\n"
            "from migma_contract.contract.catalogue import rules_for\nfrom migma_contract.contract.rules import Subject\n"
            "from migma_contract.strategies import invalid_requests, valid_requests\n"
            "valid_requests().validate()\n"
            "st.one_of([invalid_requests(r.id) for r in rules_for('strict') if r.subject is Subject.REQUEST]).validate()\n"
            "print('LOADED', charmap._charmap is not None)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.stdout.strip().splitlines()[-1:] == ["LOADED False"], done.stderr[-2000:]


def test_a_handed_document_whose_response_schema_refers_to_itself_draws_finite_responses(tmp_path):
    """A document may describe recursive data (a result holding its previous result): the lint refuses only loops
    that never step into the data. `success_responses` built every property's strategy at once and recursed for
    ever on it (RecursionError) instead of drawing finite, valid responses."""
    from pathlib import Path

    from migma_contract import load_spec, validate_response
    from migma_contract.strategies import success_responses

    bundled = (Path(__file__).parent.parent / "spec" / "openapi.yaml").read_text()
    marker = "    SendEmailResult:\n      type: object\n      properties:\n"
    assert marker in bundled
    recursive = bundled.replace(marker, marker + "        previous:\n          $ref: '#/components/schemas/SendEmailResult'\n")
    path = tmp_path / "recursive.yaml"
    path.write_text(recursive)
    spec = load_spec(path)
    seen_nested = []

    @FAST
    @given(success_responses(level="schema", spec=spec))
    def check(response):
        assert validate_response(response.status_code, response.headers, response.content, level="schema", spec=spec) == []
        seen_nested.append("previous" in (response.json().get("data") or {}))

    check()
    assert any(seen_nested)  # the recursive property is drawn, not left out
