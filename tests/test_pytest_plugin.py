"""The pytest plugin, as a user's pytest run sees it (pytester)."""

import json

import pytest

from migma_contract import rules_for
from migma_contract._http.serve import serve_in_thread

from .faulty_servers import FAULTS, FULL_KEY, RESTRICTED_KEY

pytest_plugins = ["pytester"]

FIXTURE_ARGS = ["--migma-from", "sender@example.com", "--migma-email-id", "email_welcome", "--migma-conversation-id", "conv_welcome",
                "--migma-project-id", "proj_demo", "--migma-audience-id", "aud_everyone", "--migma-segment-id", "seg_active",
                "--migma-tag-id", "tag_vip", "--migma-provider", "ses,resend,sendgrid,mailgun"]


@pytest.fixture(autouse=True)
def _no_migma_env(monkeypatch):
    for name in ("MIGMA_CONTRACT_BASE_URL", "MIGMA_CONTRACT_API_KEY", "MIGMA_CONTRACT_RESTRICTED_API_KEY", "MIGMA_CONTRACT_LEVEL"):
        monkeypatch.delenv(name, raising=False)


def test_help_shows_the_option_group(pytester):
    result = pytester.runpytest("--help")
    result.stdout.fnmatch_lines(["*contract tests of the Migma.ai send endpoint*", "*--migma-conformance*", "*--migma-base-url*"])


@pytest.mark.parametrize("level", ["schema", "documented", "strict"])
def test_one_item_per_rule_of_the_level(pytester, level):
    result = pytester.runpytest("--migma-conformance", "--migma-level", level, "--collect-only", "-q")
    collected = [line.split("::")[-1] for line in result.stdout.lines if "::" in line]
    assert collected == [rule.id for rule in rules_for(level)]


def test_ini_and_environment_settings(pytester, monkeypatch):
    pytester.makeini("[pytest]\nmigma_level = schema\n")
    result = pytester.runpytest("--migma-conformance", "--collect-only", "-q")
    assert sum("::" in line for line in result.stdout.lines) == len(rules_for("schema"))
    monkeypatch.setenv("MIGMA_CONTRACT_LEVEL", "strict")
    result = pytester.runpytest("--migma-conformance", "--collect-only", "-q")
    assert sum("::" in line for line in result.stdout.lines) == len(rules_for("strict"))
    result = pytester.runpytest("--migma-conformance", "--migma-level", "documented", "--collect-only", "-q")
    assert sum("::" in line for line in result.stdout.lines) == len(rules_for("documented"))


def test_passes_against_the_embedded_mock_and_writes_reports(pytester):
    result = pytester.runpytest("--migma-conformance", "--migma-max-requests", "150", "--junitxml", "junit-pytest.xml")
    result.assert_outcomes(passed=len(rules_for("documented")))
    result.stdout.fnmatch_lines(["*CONFORMANT*", "*report: reports/conformance.json*"])
    assert (pytester.path / "reports" / "index.html").exists()
    assert 'name="accepts-valid"' in (pytester.path / "junit-pytest.xml").read_text()


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["serial", "xdist"])
def test_a_faulty_server_fails_exactly_its_rule(pytester, workers):
    variant = next(v for v in FAULTS if v.name == "status-done")
    with serve_in_thread(variant.app()) as url:
        result = pytester.runpytest("--migma-conformance", "--migma-base-url", url, "--migma-api-key", FULL_KEY,
                                    *FIXTURE_ARGS, "--migma-no-explore", "-rfs", *workers)
    documented = rules_for("documented")
    result.assert_outcomes(failed=1, passed=len(documented) - 2, skipped=1)
    result.stdout.fnmatch_lines(["*FAILED*result-status-known*", "*not exercised: no key without email:send was given*"])
    result.stdout.fnmatch_lines(["*expected:*", "*repro:    curl -sS -i -X POST*"])
    assert FULL_KEY not in result.stdout.str()
    report = json.loads((pytester.path / "reports" / "conformance.json").read_text())
    assert report["requests_sent"] <= 150  # run once, on the controller, not once per worker


def test_restricted_key_exercises_auth_scope(pytester):
    variant = next(v for v in FAULTS if v.name == "scope-not-checked")
    with serve_in_thread(variant.app()) as url:
        result = pytester.runpytest("--migma-conformance", "--migma-base-url", url, "--migma-api-key", FULL_KEY,
                                    "--migma-restricted-api-key", RESTRICTED_KEY, *FIXTURE_ARGS, "--migma-no-explore", "-k", "auth")
    result.assert_outcomes(failed=1, passed=1, deselected=len(rules_for("documented")) - 2)
    result.stdout.fnmatch_lines(["*FAILED*auth-scope*"])


def test_unreachable_target_exits_3(pytester):
    # in a subprocess: an inline run re-imports httpcore lazily, and httpx then fails to map its errors
    result = pytester.runpytest_subprocess("--migma-conformance", "--migma-base-url", "http://127.0.0.1:9", "--migma-api-key", "k")
    assert result.ret == 3
    result.stdout.fnmatch_lines(["*cannot reach http://127.0.0.1:9*"])


def test_bad_settings_are_usage_errors(pytester):
    result = pytester.runpytest("--migma-conformance", "--migma-level", "loose")
    assert result.ret == 4
    result.stderr.fnmatch_lines(["*--migma-level: 'loose' is not one of schema, documented, strict*"])


FIXTURE_TESTS = '''
import httpx
from hypothesis import HealthCheck, given, settings
from migma_contract.strategies import valid_requests, invalid_requests


def test_mock_records_and_resets(migma_mock, migma_validate):
    body = {"recipientType": "email", "recipientEmail": "a@example.com", "from": "me@example.com",
            "fromName": "Me", "subject": "Hi", "emailId": "email_welcome"}
    migma_validate.assert_request(body)
    response = migma_mock.client.post("/v1/sending", json=body)
    migma_validate.assert_response(response, body)
    assert [r.recipients for r in migma_mock.sent] == [("a@example.com",)]


def test_mock_is_fresh_for_each_test(migma_mock):
    assert migma_mock.sent == []


def test_server_on_a_loopback_port(migma_mock_server):
    assert migma_mock_server.url.startswith("http://127.0.0.1:")
    response = httpx.post(migma_mock_server.url + "/v1/sending", json={}, headers={"Authorization": "Bearer " + migma_mock_server.restricted_key})
    assert response.status_code == 403


def test_target_defaults_to_a_loopback_mock(migma_target):
    response = migma_target.send({"recipientType": "tag"})
    assert response.status_code == 400 and migma_target.check(response) == []


def test_spec_and_rules(migma_spec, migma_rules):
    assert migma_spec.fingerprint.startswith("sha256:") and "accepts-valid" in [r.id for r in migma_rules]


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=valid_requests())
def test_strategies_with_the_mock(migma_mock, body):
    assert migma_mock.client.post("/v1/sending", json={**body, "from": "x@example.com", "emailId": "email_welcome",
        **({"recipientId": "seg_active", "recipientType": "segment"} if body["recipientType"] != "email" else {})}).status_code in (200, 400)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=invalid_requests("email-format"))
def test_invalid_strategy_is_refused(migma_mock, body):
    assert migma_mock.client.post("/v1/sending", json=body).status_code == 400
'''


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["serial", "xdist"])
def test_fixtures_work_serially_and_under_xdist(pytester, workers):
    pytester.makepyfile(test_consumer=FIXTURE_TESTS)
    result = pytester.runpytest("-p", "no:cacheprovider", *workers)
    result.assert_outcomes(passed=7)
