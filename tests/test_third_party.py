"""An implementation written independently of the mock: passed when correct, its unplanned bugs caught."""

import json

import pytest

from migma_contract.config.options import CheckOptions
from migma_contract.run.runner import run_check

from . import third_party

pytestmark = pytest.mark.e2e  # whole checks of independent implementations


def check(*bugs, explore=True, budget=180):
    options = CheckOptions(api_key="tp_full", restricted_api_key="tp_read", explore=explore, max_requests=budget)
    return run_check(options, app=third_party.app(*bugs), target_label="third party")


def test_a_correct_independent_implementation_passes_as_an_open_target():
    result = check()
    assert result.exit_code == 0, [f.message for f in result.findings]
    assert result.count("not_exercised") == 0 and result.target.data_bound is False


def test_rejecting_subaddresses_is_caught_by_the_plan_and_attributed():
    result = check("plus-address", explore=False)
    finding = next(f for f in result.findings if f.rule == "accepts-valid")
    assert "dotted-subaddress" in finding.attribution
    assert "first.last+contract-check@example.com" in finding.request.body  # the minimal request shows the address


def test_a_length_limit_below_the_long_text_class_is_attributed_to_it():
    finding = next(f for f in check("subject-255", explore=False).findings if f.rule == "accepts-valid")
    assert "subject" in finding.attribution and "'long'" in finding.attribution


def test_a_crash_on_digits_in_one_field_is_caught_by_the_plan_and_attributed_to_that_field():
    result = check("digit-crash", explore=False)
    [finding] = [f for f in result.findings if f.rule == "no-server-error"]
    assert finding.phase == "plan" and "fromName" in finding.attribution and "'numeric'" in finding.attribution
    body = json.loads(finding.request.body)  # the minimal request: only fromName carries the class
    assert body["fromName"] == "0123" and body["subject"] == "Contract check"
    assert result.requests_sent <= 180


@pytest.mark.parametrize("level", ["schema", "strict"])
def test_the_correct_implementation_passes_at_every_level(level):
    result = run_check(CheckOptions(api_key="tp_full", restricted_api_key="tp_read", level=level, max_requests=160), app=third_party.app())
    assert result.exit_code == 0, [f.message for f in result.findings]
