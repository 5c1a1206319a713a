"""The checker's own quality: it names the rule each faulty server breaks, and passes every legal variant."""

import json
import shlex

import pytest

from migma_contract import ConfigError
from migma_contract.config.options import CheckOptions
from migma_contract.generate.plan import OPEN_TEXT_CLASSES
from migma_contract.mock import create_app, load_mock_config
from migma_contract.run.result import RunResult
from migma_contract.run.runner import run_check
from migma_contract.wire.serve import serve_in_thread

from .faulty_servers import (
    FAULTS,
    FULL_KEY,
    LEGAL,
    MISSING_SCOPE_IS_401,
    RESTRICTED_KEY,
    VENDOR,
    Resp,
    Variant,
    answer,
    fake_success,
)

pytestmark = pytest.mark.e2e  # every fault run through a whole check

FIXTURES = load_mock_config().fixtures()
# The whole plan at strict with a restricted key (153 requests since issue 25: body-utf8's three bodies), with room:
# a variant is judged on the plan it deserves, uncut.
PLAN_BUDGET = 160


def options(variant, **extra):
    # Only a hanging server needs a short timeout; every other variant gets the default, so a
    # loaded machine can never turn a slow answer into a responds-in-time finding.
    timeout = 0.5 if variant.rule == "responds-in-time" else 10.0
    settings = {"api_key": FULL_KEY, "restricted_api_key": RESTRICTED_KEY, "explore": False, "max_requests": PLAN_BUDGET, "timeout": timeout,
                "level": variant.level, **variant.extra, **extra}
    return CheckOptions(**settings).with_fixtures(FIXTURES)


def test_every_rule_of_the_catalogue_has_a_fault_the_checker_must_catch():
    from migma_contract import RULES

    judged = {rule.id for rule in RULES if getattr(rule.form, "judges_servers", True)}
    assert judged <= {variant.rule for variant in FAULTS}


@pytest.mark.parametrize("variant", FAULTS, ids=lambda v: v.name)
def test_each_fault_is_caught_by_the_plan_naming_its_rule(variant):
    result = run_check(options(variant), app=variant.app())
    failed = {r.id for r in result.rules if r.status == "failed"}
    assert variant.rule in failed, result.headline
    assert result.requests_sent <= PLAN_BUDGET + 12 * bool(variant.extra)  # the vendor set's requests come on top of the plan
    assert result.exit_code in (1, 3)
    finding = next(f for f in result.findings if f.rule == variant.rule)
    curl = finding.request.curl
    assert curl.startswith("curl ") and FULL_KEY not in curl and RESTRICTED_KEY not in curl
    if finding.request.headers.get("Authorization", "").startswith("Bearer"):
        assert "'Authorization: Bearer '\"$MIGMA_CONTRACT_" in curl  # only the variable between double quotes


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
    assert result.exit_code == 1 and "timed out" in result.aborted  # a hang is a finding, not an infrastructure abort
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


def variant_named(name):
    return next(v for v in FAULTS if v.name == name)


def test_a_server_answering_422_for_every_validation_error_reads_as_one_root_cause():
    variant = variant_named("422-for-validation-errors")
    result = run_check(options(variant), app=variant.app())
    [cause] = result.root_causes
    assert cause.summary == "every request that breaks a rule was answered 422 where the document gives 400"
    request_rules = [r.id for r in result.rules if r.subject == "request"]
    assert set(request_rules) | {"status-documented"} <= set(cause.rules) and len(cause.rules) >= 10
    assert cause.status == 422 and cause.instead_of == 400
    # beneath it, the per-rule verdicts are unchanged, and a failed rule kept being exercised
    assert {r.id: r.status for r in result.rules if r.id in request_rules} == dict.fromkeys(request_rules, "failed")
    field_types = result.rule("field-types")
    assert field_types.exercised == field_types.failed == 65
    # one symptom, one finding per rule (a wrong refusal status is not about the value class)
    assert len(result.findings_for("field-types")) == 1 and result.findings_for("field-types")[0].occurrences == 65


def test_each_distinct_coercion_of_one_rule_is_its_own_finding_up_to_the_bound():
    variant = variant_named("coerces-like-ajv")
    result = run_check(options(variant), app=variant.app())
    labels = sorted(f.case_label for f in result.findings_for("field-types"))
    assert labels == ["fromName is number (123)", 'recipientType is array (["email"])', "replyTo is null (null)",
                      'transactional is string ("true")']
    bounded = run_check(options(variant, max_findings_per_rule=2), app=variant.app())
    assert len(bounded.findings_for("field-types")) == 2 and bounded.rule("field-types").failed == 4


@pytest.mark.parametrize(("name", "value_class"), [("crashes-on-blank-fromName", "whitespace-only"),
                                                   ("crashes-on-very-long-strings", "very-long")])
def test_a_crash_on_one_value_class_is_attributed_to_the_field_and_class_with_the_minimal_request(name, value_class):
    variant = variant_named(name)
    result = run_check(options(variant, max_requests=180), app=variant.app())
    [finding] = result.findings_for("no-server-error")
    assert "fromName" in finding.attribution and repr(value_class) in finding.attribution
    words = shlex.split(finding.request.curl, comments=True)
    if "# body cut" not in finding.request.curl:  # the whole request (the report's body excerpt of a long one is cut)
        plain = "--data-raw" in words and "--data-raw $'" not in finding.request.curl  # ANSI-C quoted: shlex reads no $'...'
        body = json.loads(words[words.index("--data-raw") + 1] if plain else finding.request.body)
        assert body["fromName"] == OPEN_TEXT_CLASSES[value_class] and body["subject"] == "Contract check"  # only that field
    else:  # a long body is not repeated in the curl line (reports stay small): the line says so, the excerpt shows its start
        value = OPEN_TEXT_CLASSES[value_class]
        assert f"its {finding.request.body_size:,} bytes are not repeated here" in finding.request.curl
        assert value[:1000] in finding.request.body and finding.request.body_size < len(value) + 400  # only that field is long
    assert finding.case_label.startswith("minimal: ")


def test_a_server_accepting_non_utf8_bodies_fails_body_utf8_alone_at_strict_with_otherwise_valid_bodies():
    variant = variant_named("accepts-non-utf8-like-a-stock-parser")
    result = run_check(options(variant), app=variant.app())
    assert result.rule("body-json-object").status == "passed"
    utf8 = result.rule("body-utf8")
    assert utf8.status == "failed" and utf8.exercised == utf8.failed == 3
    labels = {f.case_label for f in result.findings_for("body-utf8")}
    assert labels == {"body is UTF-16 (with a byte order mark)", "body is Latin-1 (ISO-8859-1)", "body holds invalid UTF-8 bytes"}
    finding = next(f for f in result.findings_for("body-utf8") if f.case_label == "body holds invalid UTF-8 bytes")
    assert finding.actual.startswith("200") and "\\xff\\xfe" in finding.request.curl  # the one defect, shown in the reproduction


@pytest.mark.parametrize("level", ["schema", "documented"])
def test_below_strict_no_body_in_another_encoding_is_sent_or_judged(level):
    variant = variant_named("accepts-non-utf8-like-a-stock-parser")
    app = variant.app()
    result = run_check(options(variant, level=level), app=app)
    assert result.exit_code == 0, [f.message for f in result.findings]
    assert "body-utf8" not in {r.id for r in result.rules}


def test_an_accepted_rule_breaking_request_reads_as_accepted_even_with_an_error_text():
    variant = Variant("lists-accepted-with-an-error-text", "body-json-object",
                      after=lambda req, resp: Resp.of(200, {**fake_success(), "error": "string"}) if isinstance(req.json, list) else resp)
    finding = next(f for f in run_check(options(variant), app=variant.app()).findings if f.rule == "body-json-object")
    assert finding.actual == "200 (accepted, with error: string)"


def test_no_finding_carries_stray_whitespace():
    for name in ("422-for-validation-errors", "coerces-like-ajv", "status-done"):
        variant = variant_named(name)
        for finding in run_check(options(variant), app=variant.app()).findings:
            assert finding.actual == finding.actual.strip() and finding.expected == finding.expected.strip()


def test_a_401_for_a_key_without_email_send_is_the_users_error_never_a_verdict():
    """401 for the restricted key cannot be told from a wrong --restricted-api-key: exit 2, nothing judged."""
    app = MISSING_SCOPE_IS_401.app()
    with pytest.raises(ConfigError, match=r"^the server refused --restricted-api-key \(401 unauthorized\): check the key; "):
        run_check(options(MISSING_SCOPE_IS_401), app=app)
    assert app.calls == 2  # the preflight only


def test_a_wrong_restricted_key_is_a_configuration_error_and_nothing_is_judged():
    app = create_app()
    with pytest.raises(ConfigError, match=r"--restricted-api-key \(401 unknown API key\): check the key; .*leave "
                                          r"--restricted-api-key out to skip auth-scope\)$"):
        run_check(options(LEGAL[0], restricted_api_key="mc_test_typo"), app=app)


def test_a_wrong_full_key_is_a_configuration_error_and_nothing_is_judged():
    app = LEGAL[0].app()
    with pytest.raises(ConfigError, match=r"^the server refused --api-key \(401 unknown API key\): check the key$"):
        run_check(options(LEGAL[0], api_key="mc_test_typo"), app=app)
    assert app.calls == 2  # the preflight: one valid request with each key


def test_swapped_keys_are_named_as_such():
    with pytest.raises(ConfigError, match="the keys look swapped"):
        run_check(options(LEGAL[0], api_key=RESTRICTED_KEY, restricted_api_key=FULL_KEY), app=LEGAL[0].app())


def test_a_run_stopped_by_timeouts_still_reports_what_it_judged():
    variant = variant_named("hangs-on-long-subject")
    result = run_check(options(variant, max_timeouts=2), app=variant.app())
    assert result.exit_code == 1 and "2 requests timed out (limit 2, --max-timeouts)" in result.aborted
    judged = {r.id: r.status for r in result.rules if r.status != "not_exercised"}
    assert judged["responds-in-time"] == "failed" and judged["body-json-object"] == "passed" and len(judged) >= 15
    assert RunResult.from_dict(json.loads(json.dumps(result.to_dict()))).aborted == result.aborted  # the report holds it


def test_a_crash_on_one_rule_breaking_request_is_attributed_to_what_it_breaks():
    variant = Variant("crashes-on-an-empty-body", "no-server-error",
                      before=answer(lambda r: r.body == b"", Resp.of(500, b"Internal Server Error", "text/plain")))
    result = run_check(options(variant), app=variant.app())
    [finding] = result.findings_for("no-server-error")
    assert finding.attribution == "The plainest email send passes; this request differs from it only by: body is empty."
    assert result.rule("body-json-object").status == "passed"  # every other rule-breaking body still got its 400


# --- the vendor set (issue 15) ---------------------------------------------------------------------------

VENDOR_FAULTS = [v for v in FAULTS if v.extra.get("with_vendor")]


def test_the_reference_mock_passes_the_vendor_set_with_every_rule_exercised():
    result = run_check(CheckOptions(api_key=FULL_KEY, restricted_api_key=RESTRICTED_KEY, explore=False, **VENDOR)
                       .with_fixtures(FIXTURES), app=create_app())
    assert result.exit_code == 0 and result.count("not_exercised") == 0, [f.message for f in result.findings]
    assert {r.id for r in result.rules if r.set == "vendor"} == {v.rule for v in VENDOR_FAULTS}


@pytest.mark.parametrize("variant", VENDOR_FAULTS, ids=lambda v: v.name)
def test_without_the_vendor_set_no_vendor_rule_is_judged_and_its_faults_pass(variant):
    app = variant.app()
    result = run_check(options(variant, with_vendor=False), app=app)
    assert result.exit_code == 0, [f.message for f in result.findings]
    assert all(r.set == "contract" for r in result.rules) and result.requests_sent <= PLAN_BUDGET
    assert all(r.idempotency_key is None for r in app.inner.requests)  # nothing of the vendor set was even sent


@pytest.mark.parametrize("variant", [v for v in LEGAL if v.name in ("extra-fields-everywhere", "own-error-wording",
                                                                    "occasional-429-with-retry-after")], ids=lambda v: v.name)
def test_legal_variants_pass_the_vendor_set_too(variant):
    result = run_check(options(variant, **{**VENDOR, "max_requests": max(VENDOR["max_requests"], variant.extra.get("max_requests", 0) + 40)}),
                       app=variant.app())
    assert result.exit_code == 0, [f.message for f in result.findings]


def test_a_pair_finding_says_how_to_reproduce_it_and_keeps_every_key_out():
    variant = variant_named("replays-across-api-keys")
    [finding] = run_check(options(variant), app=variant.app()).findings_for("idempotency-scope")
    assert finding.case_label == "the same send under --second-api-key, same key"
    assert finding.attribution.startswith("The first request under this Idempotency-Key (a valid send with a fresh "
                                          "Idempotency-Key) was answered 200; to reproduce, send that one first")
    assert "$MIGMA_CONTRACT_SECOND_API_KEY" in finding.request.curl and "mc_test_second_app" not in json.dumps(finding.__dict__, default=str)


def test_a_root_cause_says_every_only_when_every_such_request_got_that_answer():
    """500 for a body that is no object, 422 for a missing recipientType, 200 for every other rule-breaking request:
    "every request that breaks a rule was answered 200" would be false (newcomer pass)."""
    from .faulty_servers import Resp, answer, fake_success

    def after(request, response):
        if response.status == 400:
            return Resp.of(422, {"success": False, "error": "bad"}) if "recipientType" not in request.fields else Resp.of(200, fake_success())
        return response

    mixed = Variant("mixed-refusals", "required-fields", before=answer(lambda r: not isinstance(r.json, dict),
                                                                      Resp.of(500, {"success": False, "error": "boom"})),
                    after=after)
    result = run_check(options(mixed), app=mixed.app())
    summaries = [cause.summary for cause in result.root_causes]
    assert any("answered 200 where the document gives 400" in s for s in summaries), summaries
    assert not any(s.startswith("every request that breaks a rule") for s in summaries), summaries
    body = result.rule("body-json-object")  # every one of its cases got a 500: it says so, not "skipped"
    assert body.status == "not_exercised" and "got no answer that judges it" in body.reason and "no-server-error" in body.reason


def test_pass_s2_f5_an_answer_over_the_run_s_own_cap_is_judged_in_part_never_a_finding():
    """An answer past max-response-bytes (a repository's pyproject may set it) is read up to it: its body rules
    are not judged (judged in part, as traffic judges it), never "the body is not JSON"; no green verdict rests on
    the rules left unjudged; the Content-Type is still judged from its header alone."""
    variant = next(v for v in LEGAL if v.name == "batch-status-processing")  # its success answer is over 300 bytes
    result = run_check(options(variant, max_response_bytes=300), app=variant.app())
    assert result.findings == [], [f.message for f in result.findings]
    assert result.exit_code == 3 and result.verdict == "incomplete" and result.completion == "partial", result.headline
    assert "judged in part" in result.stopped and "300-byte cap" in result.stopped
    assert "INCOMPLETE" in result.headline
    fault = next(v for v in FAULTS if v.name == "errors-as-text-plain")
    result = run_check(options(fault, max_response_bytes=16), app=fault.app())
    assert fault.rule in {r.id for r in result.rules if r.status == "failed"}, result.headline
    assert all("not JSON" not in f.actual for f in result.findings)
    assert result.exit_code == 1


def test_pass_s2_f5_the_vendor_set_reads_no_answer_cut_at_the_run_s_own_cap():
    """The same class in the rules only the check judges (the vendor set's keyed pairs and 429s, the rules across
    answers): a body cut at max-response-bytes is not read by them, never "not the ApiError envelope"."""
    result = run_check(CheckOptions(api_key=FULL_KEY, restricted_api_key=RESTRICTED_KEY, explore=False, **VENDOR,
                                    max_response_bytes=120).with_fixtures(FIXTURES), app=create_app())
    assert result.findings == [], [f.message for f in result.findings]
    assert result.exit_code == 3 and result.completion == "partial" and "120-byte cap" in result.stopped
