"""The pytest plugin, as a user's pytest run sees it (pytester, in-process unless said otherwise)."""

import json
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

from migma_contract import rules_for
from migma_contract.mock import create_app
from migma_contract.wire.serve import serve_in_thread

from .faulty_servers import FAULTS, FULL_KEY, RESTRICTED_KEY, Resp, Variant, answer

pytestmark = pytest.mark.e2e  # the plugin's conformance runs, in-process and in subprocesses

pytest_plugins = ["pytester"]

FIXTURE_ARGS = ["--migma-from", "sender@example.com", "--migma-email-id", "email_welcome", "--migma-conversation-id", "conv_welcome",
                "--migma-project-id", "proj_demo", "--migma-audience-id", "aud_everyone", "--migma-segment-id", "seg_active",
                "--migma-tag-id", "tag_vip", "--migma-provider", "ses,resend,sendgrid,mailgun"]
DOCUMENTED = len(rules_for("documented"))


@pytest.fixture(autouse=True)
def _no_migma_env(monkeypatch):
    for name in ("MIGMA_CONTRACT_BASE_URL", "MIGMA_CONTRACT_API_KEY", "MIGMA_CONTRACT_RESTRICTED_API_KEY", "MIGMA_CONTRACT_LEVEL",
                 "MIGMA_CONTRACT_ALLOW_PRODUCTION"):
        monkeypatch.delenv(name, raising=False)


def faulty(name):
    return next(v for v in FAULTS if v.name == name).app()


# --- options ----------------------------------------------------------------------------------------


def test_help_shows_the_option_group(pytester):
    result = pytester.runpytest("--help")
    result.stdout.fnmatch_lines(["*contract tests of the Migma.ai send endpoint*", "*--migma-conformance*", "*--migma-base-url*",
                                 "*--migma-baseline*"])


@pytest.mark.parametrize("level", ["schema", "documented", "strict"])
def test_one_item_per_rule_of_the_level(pytester, level):
    result = pytester.runpytest("--migma-conformance", "--migma-level", level, "--collect-only", "-q")
    collected = [line.split("::")[-1] for line in result.stdout.lines if "::" in line]
    assert collected == [rule.id for rule in rules_for(level)]


def test_settings_from_pyproject_ini_and_environment(pytester, monkeypatch):
    def count():
        result = pytester.runpytest("--migma-conformance", "--collect-only", "-q")
        return sum("::" in line for line in result.stdout.lines)

    pytester.makepyprojecttoml('[tool.migma-contract]\nlevel = "strict"\n')
    assert count() == len(rules_for("strict"))  # the table the CLI reads
    pytester.makeini("[pytest]\nmigma_level = schema\n")
    assert count() == len(rules_for("schema"))  # ini wins over pyproject.toml
    monkeypatch.setenv("MIGMA_CONTRACT_LEVEL", "strict")
    assert count() == len(rules_for("strict"))  # the environment over both
    result = pytester.runpytest("--migma-conformance", "--migma-level", "documented", "--collect-only", "-q")
    assert sum("::" in line for line in result.stdout.lines) == DOCUMENTED  # the command line over everything


def test_bad_settings_are_usage_errors(pytester):
    result = pytester.runpytest("--migma-conformance", "--migma-level", "loose")
    assert result.ret == 4
    result.stderr.fnmatch_lines(["*--migma-level: 'loose' is not one of schema, documented, strict*"])
    result = pytester.runpytest("migma-contract::no-such-rule")
    assert result.ret == 4
    result.stderr.fnmatch_lines(["*migma-contract: no rule 'no-such-rule' at level documented (known: body-json-object*"])


# --- the conformance suite ----------------------------------------------------------------------------


def test_a_passing_run_is_quiet_timed_and_rerunnable_by_node_id(pytester):
    # in a subprocess, as a user runs it: Hypothesis warns about plugins' side effects once per process
    pytester.makeconftest("""
import json

def pytest_runtest_logreport(report):  # each item's call time, as the plugin set it, exactly
    if report.when == "call":
        with open("call-times.jsonl", "a", encoding="utf-8") as out:
            out.write(json.dumps([report.nodeid, report.duration]) + "\\n")
""")
    result = pytester.runpytest_subprocess("--migma-conformance", "--migma-max-requests", "200", "--junitxml", "junit-pytest.xml")
    result.assert_outcomes(passed=DOCUMENTED)
    output = result.outlines + result.errlines
    assert len(output) <= 40, "\n".join(output)
    assert not [line for line in output if "warning" in line.lower()], "\n".join(output)
    result.stdout.fnmatch_lines([f"collected {DOCUMENTED} items", "*CONFORMANT*", "*report: reports/conformance.json*"])
    assert (pytester.path / "reports" / "index.html").exists()
    # each rule's time is its share of the check, in proportion to the checks it took part in, adding up
    # to the check's duration (exactly: no bound on wall time, which a loaded machine stretches)
    report = json.loads((pytester.path / "reports" / "conformance.json").read_text())
    lines = (pytester.path / "call-times.jsonl").read_text(encoding="utf-8").splitlines()
    calls = {nodeid.split("::")[-1]: duration for nodeid, duration in map(json.loads, lines)}
    exercised = {rule["id"]: rule["exercised"] for rule in report["rules"]}
    assert set(calls) == set(exercised) == {rule.id for rule in rules_for("documented")}
    assert sum(calls.values()) == pytest.approx(report["duration_s"], rel=1e-9)
    total = sum(exercised.values())
    assert calls == pytest.approx({rule: report["duration_s"] * n / total for rule, n in exercised.items()}, rel=1e-9)
    assert calls["envelope-consistent"] > calls["auth-scope"] >= 0 and calls["accepts-valid"] > 0
    # JUnit's time of a rule is its share plus pytest's own setup and teardown of the item (three decimals)
    cases = {case.get("name"): float(case.get("time")) for case in ET.parse(pytester.path / "junit-pytest.xml").iter("testcase")}
    assert set(cases) == set(calls) and all(cases[rule] >= round(calls[rule], 3) - 0.001 for rule in cases)
    # the node ids pytest printed can be given back to it; so can the -k form
    rerun = pytester.runpytest("migma-contract::auth-scope", "-v")
    rerun.assert_outcomes(passed=1)
    assert [line.split()[0] for line in rerun.outlines if " PASSED" in line] == ["migma-contract::auth-scope"]
    by_keyword = pytester.runpytest("--migma-conformance", "-k", "result-count", "--collect-only", "-q")
    assert [line for line in by_keyword.outlines if "::" in line] == ["migma-contract::result-count"]


def test_a_failing_run_shows_each_finding_once_without_plugin_frames(pytester):
    with serve_in_thread(faulty("status-done")) as url:
        result = pytester.runpytest("--migma-conformance", "--migma-base-url", url, "--migma-api-key", FULL_KEY,
                                    *FIXTURE_ARGS, "--migma-no-explore", "-rfs")
        result.assert_outcomes(failed=1, passed=DOCUMENTED - 2, skipped=1)
        text = result.stdout.str()
        result.stdout.fnmatch_lines(["re-run one rule: pytest migma-contract::<rule-id>*",
                                     "FAILED migma-contract::result-status-known - result-status-known [[]documented]*",
                                     "SKIPPED [[]1] migma-contract::auth-scope: not exercised: no key without email:send was given: "
                                     "pass --migma-restricted-api-key"])  # pytest's spelling of the flag, not the CLI's
        assert text.count("  expected: ") == 1 and text.count("  repro:    curl -sS -i --globoff --proto =http,https -X POST") == 1
        for internal in ("pytest_plugin.py", "Traceback", "Violation(", "RuleResult(", "Finding(", FULL_KEY):
            assert internal not in text, internal
        rerun = pytester.runpytest("migma-contract::result-status-known", "--migma-base-url", url, "--migma-api-key", FULL_KEY,
                                   *FIXTURE_ARGS, "--migma-no-explore")
        rerun.assert_outcomes(failed=1)


def test_a_baseline_accepts_a_known_failure_and_a_v1_base_url_is_understood(pytester):
    pytester.path.joinpath("known.txt").write_text("# accepted until the fix ships\nresult-has-id\n")
    with serve_in_thread(faulty("empty-id")) as url:  # the user names it (a repository file may not, with a key)
        result = pytester.runpytest("--migma-conformance", "--migma-base-url", url + "/v1/", "--migma-api-key", FULL_KEY,
                                    "--migma-baseline", "known.txt", *FIXTURE_ARGS, "--migma-no-explore", "-rs")
    assert result.ret == 0
    outcomes = result.parseoutcomes()
    assert "failed" not in outcomes and outcomes["passed"] + outcomes["skipped"] == DOCUMENTED
    result.stdout.fnmatch_lines(["CONFORMANT: * exercised rules passed, 1 known failure(s) accepted by the baseline*",
                                 "SKIPPED [[]1] migma-contract::result-has-id: known failure accepted by the baseline"])


def test_restricted_key_exercises_auth_scope(pytester):
    with serve_in_thread(faulty("scope-not-checked")) as url:
        result = pytester.runpytest("--migma-conformance", "--migma-base-url", url, "--migma-api-key", FULL_KEY,
                                    "--migma-restricted-api-key", RESTRICTED_KEY, *FIXTURE_ARGS, "--migma-no-explore", "-k", "auth")
    result.assert_outcomes(failed=1, passed=1, deselected=DOCUMENTED - 2)
    result.stdout.fnmatch_lines(["*FAILED*auth-scope*"])


def test_the_runs_warnings_are_in_the_summary_in_pytests_words(pytester):
    says_permission = Variant("missing-scope-is-401-with-words", None, after=lambda req, resp: Resp.of(
        401, {"success": False, "error": "API key lacks the email:send permission"}) if resp.status == 403 else resp)
    with serve_in_thread(says_permission.app()) as url:
        result = pytester.runpytest("--migma-conformance", "--migma-base-url", url, "--migma-api-key", FULL_KEY,
                                    "--migma-restricted-api-key", RESTRICTED_KEY, *FIXTURE_ARGS, "--migma-no-explore", "-k", "auth")
    result.stdout.fnmatch_lines(["warning: the server answered 401 to --migma-restricted-api-key (401 API key lacks*"])
    assert RESTRICTED_KEY not in result.stdout.str()


def test_a_wrong_restricted_key_is_a_usage_error_quoting_the_server_as_it_came(pytester):
    says = Variant("names-cli-flags", None, before=answer(lambda r: r.headers.get("authorization", "").endswith("not_a_key"),
                                                         Resp.of(401, {"success": False, "error": "use --api-key with --timeout 5"})))
    with serve_in_thread(says.app()) as url:
        result = pytester.runpytest("--migma-conformance", "--migma-base-url", url, "--migma-api-key", FULL_KEY,
                                    "--migma-restricted-api-key", "mc_test_not_a_key", *FIXTURE_ARGS, "--migma-no-explore", "-k", "auth")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    # the toolkit's words in pytest's spelling, the server's exactly as it wrote them (they were rewritten before)
    result.stderr.fnmatch_lines(["*the server refused --migma-restricted-api-key (401 use --api-key with --timeout 5): check the key*"])
    assert "mc_test_not_a_key" not in result.stdout.str() + result.stderr.str()


def test_unreachable_target_exits_3(pytester):
    # in a subprocess: an inline run re-imports httpcore lazily, and httpx then fails to map its errors
    result = pytester.runpytest_subprocess("--migma-conformance", "--migma-base-url", "http://127.0.0.1:9", "--migma-api-key", "k")
    assert result.ret == 3
    result.stdout.fnmatch_lines(["*cannot reach http://127.0.0.1:9*"])


def test_production_is_refused_by_the_suite_and_by_migma_target(pytester, monkeypatch):
    result = pytester.runpytest("--migma-conformance", "--migma-base-url", "https://api.migma.ai", "--migma-api-key", "k")
    assert result.ret == 4
    result.stderr.fnmatch_lines(["*api.migma.ai is the production host of the document*pass --migma-allow-production to do it*"])
    pytester.makepyfile(test_target="def test_send(migma_target):\n    migma_target.send({})\n")
    monkeypatch.setenv("MIGMA_CONTRACT_BASE_URL", "https://api.migma.ai/v1")
    monkeypatch.setenv("MIGMA_CONTRACT_API_KEY", "mc_live_0000")
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*api.migma.ai is the production host of the document, where a request sends real email*"])
    assert "mc_live_0000" not in result.stdout.str()


def test_importing_the_plugin_loads_nothing_heavy():
    """Every pytest run of an environment with the package loads the plugin and reads its options table."""
    code = ("import sys, pytest; before = set(sys.modules)\n"
            "import migma_contract.pytest_plugin, migma_contract.config.options\n"
            "print(' '.join(sorted(set(sys.modules) - before)))")
    loaded = set(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split())
    heavy = {"httpx", "yaml", "jsonschema", "jsonschema_rs", "hypothesis", "schemathesis", "starlette", "uvicorn", "anyio",
             "rich", "migma_contract.document.spec", "migma_contract.contract.validators", "migma_contract.contract.catalogue", "migma_contract.mock",
             "migma_contract.contract.rules"}  # the rule model: ~half of what the table cost to read (issue 23)
    assert not loaded & heavy, sorted(loaded & heavy)


def test_the_options_table_spells_the_levels_of_the_rule_model():
    from migma_contract.config.options import LEVELS, OPTIONS
    from migma_contract.contract.rules import Level

    assert tuple(level.value for level in Level) == LEVELS
    level = next(option for option in OPTIONS if option.name == "level")
    assert tuple(level.choices) == LEVELS and level.default == Level.DOCUMENTED


def test_the_bundled_document_is_reachable():
    import migma_contract
    from migma_contract.cli import main

    assert migma_contract.BUNDLED_SPEC_PATH.name == "openapi.yaml" and migma_contract.BUNDLED_SPEC_PATH.is_file()
    from click.testing import CliRunner

    shown = CliRunner().invoke(main, ["spec", "--path"])
    assert shown.exit_code == 0 and shown.output.strip() == str(migma_contract.BUNDLED_SPEC_PATH)
    printed = CliRunner().invoke(main, ["spec"])
    assert printed.stdout_bytes == migma_contract.BUNDLED_SPEC_PATH.read_bytes()


# --- fixtures for API consumers -------------------------------------------------------------------------

FIXTURE_TESTS = '''
import re

import httpx
import pytest
import respx
from hypothesis import HealthCheck, given, settings
from migma_contract.strategies import valid_requests, invalid_requests

BODY = {"recipientType": "email", "recipientEmail": "a@example.com", "from": "me@example.com",
        "fromName": "Me", "subject": "Hi", "emailId": "email_welcome"}


def test_mock_records_and_is_clean_for_each_test(migma_mock, migma_validate):
    migma_validate.assert_request(BODY)
    response = migma_mock.client.post("/v1/sending", json=BODY)
    migma_validate.assert_response(response, BODY)
    assert [r.recipients for r in migma_mock.sent] == [("a@example.com",)]
    migma_mock.fail_next(503, times=5)
    migma_mock.configure(faults={"latency_ms": 1})


def test_mock_is_fresh_for_each_test(migma_mock):
    assert migma_mock.sent == [] and migma_mock.requests == []
    assert migma_mock.config.latency_ms == 0 and migma_mock.client.post("/v1/sending", json=BODY).status_code == 200


def test_the_code_under_test_may_close_the_client(migma_mock):
    with migma_mock.client as client:
        assert client.post("/v1/sending", json=BODY).status_code == 200
    assert migma_mock.client.post("/v1/sending", json=BODY).status_code == 200


def test_after_a_closed_client(migma_mock):
    assert migma_mock.client.post("/v1/sending", json=BODY).status_code == 200


@pytest.mark.migma_mock(faults={"failure_rate": 1.0, "failure_status": 429, "retry_after": 0})
def test_marker_faults(migma_mock):
    response = migma_mock.client.post("/v1/sending", json=BODY)
    assert response.status_code == 429 and response.headers["retry-after"] == "0"


@pytest.mark.migma_mock(world={"keys": [{"key": "mc_other", "scopes": ["email:send"]}]})
def test_marker_world(migma_mock):
    assert migma_mock.full_key == "mc_other" and migma_mock.client.post("/v1/sending", json=BODY).status_code == 200


def test_fail_next_with_an_immediate_retry_after(migma_mock):
    migma_mock.fail_next(429, retry_after=0)
    first = migma_mock.client.post("/v1/sending", json=BODY)
    second = migma_mock.client.post("/v1/sending", json=BODY)
    assert (first.status_code, first.headers["retry-after"], second.status_code) == (429, "0", 200)


def test_strict_mode_fails_a_contract_breaking_request(migma_mock):
    assert migma_mock.client.post("/v1/sending", json={**BODY, "recipientType": "segment"}).status_code == 400


@pytest.mark.migma_mock(assert_all_requests_valid=False)
def test_strict_mode_opt_out(migma_mock):
    assert migma_mock.client.post("/v1/sending", json={**BODY, "recipientType": "segment"}).status_code == 400
    assert [v.rule_id for v in migma_mock.rejected[0].violations] == ["batch-needs-recipientId", "batch-forbids-recipientEmail"]


def test_an_unknown_field_is_a_warning_below_strict(migma_mock):
    assert migma_mock.client.post("/v1/sending", json={**BODY, "recipient_email": "b@example.com"}).status_code == 200


def test_assert_request_names_the_rules(migma_validate):
    migma_validate.assert_request({**BODY, "recipientType": "tag"})


@pytest.mark.anyio
async def test_async_client(migma_mock):
    response = await migma_mock.async_client.post("/v1/sending", json=BODY)
    assert response.status_code == 200 and len(migma_mock.sent) == 1


@pytest.fixture
def anyio_backend():
    return "asyncio"


@pytest.mark.anyio
async def test_async_client_with_respx_and_the_v1_base_url(migma_mock):
    with respx.mock:
        migma_mock.route_respx(respx, "https://api.migma.ai/v1")
        async with httpx.AsyncClient(base_url="https://api.migma.ai/v1/", headers=migma_mock.auth_headers) as client:
            assert (await client.post("sending", json=BODY)).status_code == 200
            missing = await client.post("/v1/sending", json=BODY)  # the base URL's /v1 joined with /v1 again
    assert missing.status_code == 404 and "base URL ending in /v1" in missing.json()["error"]
    migma_mock.assert_all_requests_valid = False  # the doubled /v1 is a contract-breaking request


def test_pytest_httpx(httpx_mock, migma_mock):
    migma_mock.route_httpx_mock(httpx_mock)
    with httpx.Client(base_url="https://api.migma.ai", headers=migma_mock.auth_headers) as client:
        assert client.post("/v1/sending", json=BODY).status_code == 200
    assert len(migma_mock.sent) == 1


def test_server_on_a_loopback_port(migma_mock_server):
    assert migma_mock_server.url.startswith("http://127.0.0.1:")
    migma_mock_server.fail_next(503)
    assert migma_mock_server.client.post("/v1/sending", json=BODY).status_code == 503
    response = httpx.post(migma_mock_server.url + "/v1/sending", json=BODY, headers={"Authorization": "Bearer " + migma_mock_server.restricted_key})
    assert response.status_code == 403
    migma_mock_server.assert_all_requests_valid = False


def test_target_defaults_to_a_loopback_mock(migma_target):
    response = migma_target.send({"recipientType": "tag"})
    assert response.status_code == 400 and migma_target.check(response) == []


def test_spec_and_rules(migma_spec, migma_rules):
    assert migma_spec.fingerprint.startswith("sha256:") and "accepts-valid" in [r.id for r in migma_rules]


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=invalid_requests("email-format"))
def test_invalid_strategy_is_refused(migma_mock, body):
    assert migma_mock.client.post("/v1/sending", json=body).status_code == 400
    migma_mock.assert_all_requests_valid = False
'''
FIXTURE_OUTCOMES = {"passed": 17, "failed": 1, "errors": 1}  # 18 tests: one assert_request failure, one error at teardown


def test_consumer_fixtures(pytester):
    pytester.makepyfile(test_consumer=FIXTURE_TESTS)
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(**FIXTURE_OUTCOMES)
    text = result.stdout.str()
    result.stdout.fnmatch_lines([
        # strict consumer mode: the test that sent it, at teardown, with the rules it broke
        "*ERROR at teardown of test_strict_mode_fails_a_contract_breaking_request*",
        "*the code under test sent 1 request that breaks the contract of POST /v1/sending:*",
        "*POST /v1/sending -> 400*",
        "*[[]batch-needs-recipientId] recipientId is required*",
        "*[[]batch-forbids-recipientEmail] recipientEmail is not allowed when recipientType is audience / segment / tag*",
        "*@pytest.mark.migma_mock(assert_all_requests_valid=False)*",
    ])
    result.stdout.fnmatch_lines(["*MigmaContractWarning: POST /v1/sending: [[]known-fields] recipient_email is not a field of "
                                 "the request; did you mean recipientEmail?*"])
    result.stdout.fnmatch_lines(["*ContractBreach: the request breaks the contract:*", "*[[]batch-needs-recipientId]*"])
    for internal in ("testing.py", "pytest_plugin.py", "assert not [", "Violation(rule_id"):
        assert internal not in text, internal


def test_consumer_fixtures_and_the_suite_under_xdist(pytester):
    """The one xdist run: the check once on the controller, the rules and the fixtures on the workers."""
    pytester.makepyfile(test_consumer=FIXTURE_TESTS)
    with serve_in_thread(faulty("status-done")) as url:
        result = pytester.runpytest("-p", "no:cacheprovider", "-n", "2", "--migma-conformance", "--migma-base-url", url,
                                    "--migma-api-key", FULL_KEY, *FIXTURE_ARGS, "--migma-no-explore", "--migma-max-requests", "150")
    result.assert_outcomes(passed=FIXTURE_OUTCOMES["passed"] + DOCUMENTED - 2, failed=2, skipped=1, errors=1)
    result.stdout.fnmatch_lines(["*FAILED*migma-contract::result-status-known*"])
    report = json.loads((pytester.path / "reports" / "conformance.json").read_text())
    assert report["requests_sent"] <= 150  # run once, on the controller, not once per worker


def test_the_session_mock_uses_the_configured_world(pytester):
    pytester.path.joinpath("world.yaml").write_text("verified_domains: [corp.example]\n")
    pytester.makepyfile(test_world='''
def test_world(migma_mock):
    body = {"recipientType": "email", "recipientEmail": "a@example.com", "from": "me@corp.example",
            "fromName": "Me", "subject": "Hi", "emailId": "email_welcome"}
    assert migma_mock.client.post("/v1/sending", json=body).status_code == 200
    assert migma_mock.client.post("/v1/sending", json={**body, "from": "me@example.com"}).status_code == 400
''')
    result = pytester.runpytest("-p", "no:cacheprovider", "--migma-mock-config", "world.yaml")
    result.assert_outcomes(passed=1)


def test_a_bad_marker_is_one_clear_line(pytester):
    pytester.makepyfile(test_marker='''
import pytest

@pytest.mark.migma_mock(faults={"failure_rate": 7})
def test_bad(migma_mock):
    pass
''')
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)  # at set-up: the test never ran
    result.stdout.fnmatch_lines(["*migma-contract: @pytest.mark.migma_mock: mock config: at faults/failure_rate*"])
    assert "Traceback" not in result.stdout.str()


def test_the_handles_work_without_pytest():
    from migma_contract.testing import MockHandle

    with MockHandle(create_app()) as handle:
        handle.fail_next(502)
        assert handle.client.post("/v1/sending", json={}).status_code == 502
        assert handle.requests[0].outcome == "fault" and handle.rejected  # {} breaks required-fields
        assert handle.breaches().startswith("the code under test sent 1 request that breaks the contract")
        with pytest.raises(AssertionError, match=r"\[required-fields\]"):
            handle.check_requests()
    assert handle._owned_portal is None  # its event-loop thread is stopped


def test_the_vendor_set_and_the_minimal_plan_from_pytest(pytester):
    """--migma-with-vendor adds the vendor set's rules as items; --migma-plan minimal judges all of them in a few requests."""
    vendor = rules_for("documented", ["contract", "vendor"])
    result = pytester.runpytest("--migma-conformance", "--migma-with-vendor", "--migma-plan", "minimal", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=len(vendor))
    assert len(vendor) == len(rules_for("documented")) + 6


def test_a_cut_check_is_not_a_green_session(pytester):
    result = pytester.runpytest("--migma-conformance", "--migma-max-requests", "30", "--migma-no-explore")
    assert result.ret == 3
    result.stdout.fnmatch_lines(["INCOMPLETE: the plan was cut: * planned cases not sent: --migma-max-requests 30 reached*"])


@pytest.mark.parametrize("addopts, said", [
    ("--migma-base-url=http://198.51.100.7:9", "a repository file names the target*pass --migma-base-url yourself"),
    ("--migma-report-dir=/tmp/elsewhere-reports", "is outside the repository*pass --migma-report-dir yourself"),
])
def test_options_a_repository_puts_in_addopts_are_held_to_its_files_guards(pytester, monkeypatch, addopts, said):
    """Seventh attack pass (D, high): `[tool.pytest.ini_options] addopts` in a pull request's pyproject.toml aimed the
    CI's MIGMA_CONTRACT_API_KEY at a host of its choosing and wrote the reports outside the repository."""
    monkeypatch.setenv("MIGMA_CONTRACT_API_KEY", "sk_live_REALKEY1234567890")
    pytester.makepyprojecttoml(f'[tool.pytest.ini_options]\naddopts = "{addopts}"\n')
    result = pytester.runpytest("--migma-conformance", "--collect-only", "-q")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*addopts*{said}*"])
    # the same flag given by the user is the user's choice
    monkeypatch.setenv("PYTEST_ADDOPTS", addopts)
    assert pytester.runpytest("--migma-conformance", "--collect-only", "-q").ret == pytest.ExitCode.OK


@pytest.mark.parametrize("source", ["tool.migma-contract", "addopts", "ini"])
def test_pass_r3_f5_a_repositorys_report_dir_is_used_as_it_was_checked_from_any_subfolder(pytester, monkeypatch, source):
    """Pass R3, F5: a repository's report_dir was checked against pytest's rootdir (the ini key's: against the cwd) but
    used relative to the working directory: `cd tests && pytest --migma-conformance`, with `tests/out` a link the
    repository holds to a folder outside it, wrote the reports there. A path a repository file sets is read once,
    against its file's folder, links resolved, checked inside the repository, and that resolved path is the one used."""
    outside = pytester.path.parent / f"{pytester.path.name}-escape"
    outside.mkdir()
    tests = pytester.mkdir("tests")
    (tests / "out").symlink_to(outside)
    table = {"tool.migma-contract": '[tool.pytest.ini_options]\n\n[tool.migma-contract]\nreport_dir = "out"\n',
             "addopts": '[tool.pytest.ini_options]\naddopts = "--migma-report-dir=out"\n',
             "ini": '[tool.pytest.ini_options]\nmigma_report_dir = "out"\n'}[source]
    pytester.makepyprojecttoml(table + ('format = "json"\n' if source == "tool.migma-contract" else ""))
    monkeypatch.chdir(tests)
    result = pytester.runpytest("--migma-conformance", "--migma-plan", "minimal", "--migma-format", "json",
                                "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.OK, result.stdout.str() + result.stderr.str()
    assert list(outside.iterdir()) == []  # nothing written through the link out of the repository
    assert (pytester.path / "out" / "conformance.json").is_file()  # the repository's out/, as the file said
    # a link the repository holds at the path its file names is refused, wherever pytest runs from
    (pytester.path / "out" / "conformance.json").unlink()
    (pytester.path / "out").rmdir()
    (pytester.path / "out").symlink_to(outside)
    result = pytester.runpytest("--migma-conformance", "--collect-only", "-q", "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*is outside the repository*"])
    assert list(outside.iterdir()) == []


@pytest.mark.parametrize("where", ["addopts", "nested", "env", "typed"])
def test_flags_from_an_at_file_are_the_repositorys_wherever_it_is_named(pytester, monkeypatch, where):
    """Attack pass H (H4, high): pytest expands `@file` arguments (argparse's fromfile_prefix_chars), in addopts too:
    `addopts = "@args.txt"` with `--migma-base-url=http://127.1:PORT` in args.txt sent the CI's key there, and
    `--migma-report-dir=../ESCAPED` wrote the reports outside the repository. A flag read from a file is the
    repository's, whichever way the file was named (addopts, an @file inside an @file, even $PYTEST_ADDOPTS or the
    command line: the file's lines are not what the user typed)."""
    from .hostile_servers import raw_server, read_request

    seen: list[bytes] = []

    def log(conn, stop):
        seen.append(read_request(conn))
        conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}")

    monkeypatch.setenv("MIGMA_CONTRACT_API_KEY", "sk_live_REALKEY1234567890")
    named = ["@args.txt"] if where in ("addopts", "nested") else []
    pytester.makepyprojecttoml(f'[tool.pytest.ini_options]\naddopts = "{" ".join(named)}"\n')
    if where == "env":
        monkeypatch.setenv("PYTEST_ADDOPTS", "@args.txt")

    def run(lines, *args):
        if where == "nested":
            pytester.path.joinpath("more.txt").write_text(lines)
            lines = "@more.txt\n"
        pytester.path.joinpath("args.txt").write_text(lines)
        return pytester.runpytest("--migma-conformance", "-p", "no:cacheprovider",
                                  *(["@args.txt"] if where == "typed" else []), *args)

    with raw_server(log) as url:
        # (the plan typed: a repository file may not cut it for a keyed run, pass T4, F2)
        result = run(f"--migma-base-url=http://127.1:{url.rsplit(':', 1)[1]}\n", "--migma-plan=minimal")
        assert result.ret == pytest.ExitCode.USAGE_ERROR, result.stdout.str()
        result.stderr.fnmatch_lines(["*a repository file names the target*"])
        assert seen == []  # not one request reached the target a file named
    # reports: a file's report dir stays inside the repository
    result = run("--migma-report-dir=../ESCAPED\n", "--migma-plan=minimal")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*is outside the repository*"])
    assert not (pytester.path.parent / "ESCAPED").exists()
    # the same flag typed by the user after the file's is the user's choice
    assert run("--migma-report-dir=../ESCAPED\n", "--collect-only", "-q", "--migma-report-dir=mine").ret == pytest.ExitCode.OK


def test_whose_flag_is_whose_follows_argparse(tmp_path):
    """H4: the order pytest builds (addopts, $PYTEST_ADDOPTS, the command line), `--` ending the options, `@file`
    inside `@file`, and a file that names itself (argparse never ends: the origin is unknown, so it is a file's)."""
    from migma_contract.pytest_plugin import _users_flags

    url, report, fmt = "--migma-base-url", "--migma-report-dir", "--migma-format"
    assert _users_flags([(f"{url}=a", False), (f"{url}=b", True)], tmp_path, {fmt}) == {url}
    assert _users_flags([(f"{url}=a", False), ("--", False), (f"{url}=b", True)], tmp_path, {fmt}) == set()
    assert _users_flags([(f"{fmt}=json", False), (f"{fmt}=md", True)], tmp_path, {fmt}) == set()  # appended to
    (tmp_path / "a.txt").write_text(f"@b.txt\n{report}=x\n")
    (tmp_path / "b.txt").write_text(f"{url}=c\n")
    assert _users_flags([(f"{url}=a", True), ("@a.txt", True)], tmp_path, set()) == set()
    assert _users_flags([("@a.txt", True), (f"{url}=a", True)], tmp_path, set()) == {url}
    (tmp_path / "b.txt").write_text("@b.txt\n")
    assert _users_flags([(f"{url}=a", True), ("@b.txt", True)], tmp_path, set()) == set()


@pytest.mark.parametrize(("words", "env", "addopts", "mine"), [
    (["-o", "migma_report_dir={out}"], "", "", True),  # typed on the command line
    (["-qo", "migma_report_dir={out}"], "", "", True),  # in a group of short flags, as argparse reads it
    (["-o=migma_report_dir={out}"], "", "", True),  # joined by `=` (pass S5, F7)
    (["--override-ini=migma_report_dir={out}"], "", "", True),
    ([], "-o migma_report_dir={out}", "", True),  # $PYTEST_ADDOPTS is the user's
    ([], "", "-o migma_report_dir={out}", False),  # a file's addopts is the repository's
    (["@args.txt"], "", "", False),  # so is an @file the user names
    (["-o", "migma_report_dir={out}"], "", "-o migma_report_dir=in", True),  # the user's, typed after the file's
    (["-o", "migma_report_dir={out}", "@args.txt"], "", "", False),  # the file's, after the user's: pytest keeps it
])
def test_pass_s2_f6_an_ini_override_the_user_typed_is_the_users(pytester, monkeypatch, words, env, addopts, mine):
    """Pass S2, F6: `-o migma_report_dir=...` the user typed (command line, $PYTEST_ADDOPTS) is the user's, as
    `--migma-report-dir` is; one a repository's file gives (`addopts`, an `@file`) is held to the repository's rules."""
    out = str(pytester.path.parent / "USERS_OUT")
    pytester.path.joinpath("args.txt").write_text(f"-o\nmigma_report_dir={out}\n")
    pytester.makepyprojecttoml(f'[tool.pytest.ini_options]\naddopts = "{addopts.format(out=out)}"\n')
    if env:
        monkeypatch.setenv("PYTEST_ADDOPTS", env.format(out=out))
    result = pytester.runpytest("--migma-conformance", "-p", "no:cacheprovider", "--collect-only",
                                *(word.format(out=out) for word in words))
    if mine:
        assert result.ret == pytest.ExitCode.OK, result.stderr.str()
    else:
        assert result.ret == pytest.ExitCode.USAGE_ERROR, result.stdout.str()
        result.stderr.fnmatch_lines(["*is outside the repository*"])


def test_pass_s2_f6_whose_ini_override_is_whose_follows_argparse(tmp_path):
    from migma_contract.pytest_plugin import _users_override_keys

    takes = {"-o": True, "-q": False, "-x": False, "-k": True, "-p": True}
    keys = {"migma_report_dir"}

    def users(*pairs):
        return _users_override_keys(list(pairs), tmp_path, keys, takes)
    assert users(("-o", True), ("migma_report_dir=a", True)) == keys
    assert users(("-xqomigma_report_dir=a", True)) == keys
    assert users(("-kxo", True), ("migma_report_dir=a", True)) == set()  # -k's value is "xo": no override
    assert users(("-p", True), ("o", True), ("-o", False), ("migma_report_dir=a", False)) == set()  # -p's value is "o"
    assert users(("--", True), ("-o", True), ("migma_report_dir=a", True)) == set()
    assert users(("-o", True), ("migma_report_dir=a", True), ("-o", False), ("migma_report_dir=b", False)) == set()
    assert users(("-o", True), ("other=a", True)) == set()


def test_pass_s5_f7_an_override_joined_by_an_equals_sign_is_read_as_argparse_reads_it(tmp_path):
    """Pass S5, F7: `-o=migma_report_dir=a` is `-o migma_report_dir=a` to argparse: the user's typed override was
    read as a key `=migma_report_dir` and held to the repository's guards. argparse itself now reads each short word
    (its reading of `-qo=k=v` differs between Python versions), so the key is whatever pytest will keep."""
    import argparse

    from migma_contract.pytest_plugin import _users_override_keys

    takes = {"-o": True, "-q": False, "-x": False, "-k": True, "-p": True}
    keys = {"migma_report_dir"}

    def users(*pairs):
        return _users_override_keys(list(pairs), tmp_path, keys, takes)
    assert users(("-o=migma_report_dir=a", True)) == keys
    assert users(("-o=migma_report_dir=a", False)) == set()  # a file's word stays the file's
    assert users(("-q", True), ("-o=migma_report_dir=a", True)) == keys
    # a group with `=`: whatever key this interpreter's argparse gives -o, the plugin reads the same one
    reference = argparse.ArgumentParser(add_help=False)
    reference.add_argument("-o", action="append")
    reference.add_argument("-q", action="store_true")
    kept = reference.parse_args(["-qo=migma_report_dir=a"]).o[-1].split("=", 1)[0]
    assert users(("-qo=migma_report_dir=a", True)) == (keys if kept == "migma_report_dir" else set())
    assert users(("-xq", True), ("-o", True), ("migma_report_dir=a", True)) == keys
    assert users(("-k=o", True), ("-o", False), ("migma_report_dir=a", False)) == set()
