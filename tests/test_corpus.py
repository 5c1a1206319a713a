"""The checker's own quality: it names the rule each faulty server breaks, and passes every legal variant."""

import pytest

from migma_contract._http.serve import serve_in_thread
from migma_contract._options import CheckOptions
from migma_contract._runner import run_check
from migma_contract.mock import load_mock_config

from .faulty_servers import FAULTS, FULL_KEY, LEGAL, RESTRICTED_KEY

FIXTURES = load_mock_config().fixtures()


def options(variant, **extra):
    # Only a hanging server needs a short timeout; every other variant gets the default, so a
    # loaded machine can never turn a slow answer into a responds-in-time finding.
    timeout = 0.5 if variant.rule == "responds-in-time" else 10.0
    return CheckOptions(api_key=FULL_KEY, restricted_api_key=RESTRICTED_KEY, explore=False,
                        max_requests=150, timeout=timeout, level=variant.level, **extra).with_fixtures(FIXTURES)


def test_every_rule_of_the_catalogue_has_a_fault_the_checker_must_catch():
    from migma_contract import RULES

    assert {rule.id for rule in RULES} <= {variant.rule for variant in FAULTS}


@pytest.mark.parametrize("variant", FAULTS, ids=lambda v: v.name)
def test_each_fault_is_caught_by_the_plan_naming_its_rule(variant):
    result = run_check(options(variant), app=variant.app())
    failed = {r.id for r in result.rules if r.status == "failed"}
    assert variant.rule in failed, result.headline
    assert result.requests_sent <= 150
    assert result.exit_code in (1, 3)
    finding = next(f for f in result.findings if f.rule == variant.rule)
    curl = finding.request.curl
    assert curl.startswith("curl ") and FULL_KEY not in curl and RESTRICTED_KEY not in curl
    if finding.request.headers.get("Authorization", "").startswith("Bearer"):
        assert "Authorization: Bearer $MIGMA_CONTRACT_" in curl


@pytest.mark.parametrize("variant", LEGAL, ids=lambda v: v.name)
def test_each_legal_variant_passes(variant):
    result = run_check(options(variant), app=variant.app())
    assert result.exit_code == 0, [f.message for f in result.findings]
    assert result.findings == []


def test_a_valid_request_rejection_names_the_value_class():
    variant = next(v for v in FAULTS if v.name == "rejects-non-ascii-subject")
    result = run_check(options(variant), app=variant.app())
    finding = next(f for f in result.findings if f.rule == "accepts-valid")
    assert "subject" in finding.attribution and "unicode" in finding.attribution


def test_a_hang_is_a_finding_and_the_run_stays_bounded():
    variant = next(v for v in FAULTS if v.name == "hangs-on-long-subject")
    result = run_check(options(variant), app=variant.app())
    assert result.exit_code == 3 and "timed out" in result.aborted
    assert [r.status for r in result.rules if r.id == "responds-in-time"] == ["failed"]


@pytest.mark.parametrize("name", ["anonymous-sends-allowed", "errors-as-text-plain", "negative-sentCount", "422-for-validation-errors"])
def test_faults_are_caught_over_real_loopback_http(name):
    variant = next(v for v in FAULTS if v.name == name)
    with serve_in_thread(variant.app()) as url:
        result = run_check(options(variant, base_url=url))
    assert variant.rule in {r.id for r in result.rules if r.status == "failed"}
    assert result.target.kind == "http" and result.target.url == url


@pytest.mark.parametrize("name", ["charset-parameter", "occasional-429-with-retry-after"])
def test_legal_variants_pass_over_real_loopback_http(name):
    variant = next(v for v in LEGAL if v.name == name)
    with serve_in_thread(variant.app()) as url:
        result = run_check(options(variant, base_url=url))
    assert result.exit_code == 0, [f.message for f in result.findings]


def test_the_reference_mock_in_its_closed_world_passes_with_its_fixtures():
    from migma_contract.mock import create_app

    result = run_check(CheckOptions(api_key=FULL_KEY, restricted_api_key=RESTRICTED_KEY, explore=False).with_fixtures(FIXTURES), app=create_app())
    assert result.exit_code == 0 and result.count("not_exercised") == 0
