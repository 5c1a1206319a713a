"""Pass T4 (an outside attack on the repository's config and the outputs): each finding, by class."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from click.testing import CliRunner

from migma_contract.cli import main
from migma_contract.config.options import CheckOptions
from migma_contract.contract.catalogue import ACCEPTS_VALID, rules_for
from migma_contract.core.exceptions import ConfigError
from migma_contract.generate.bodies import Fixtures
from migma_contract.run.result import RuleResult, Status

pytest_plugins = ["pytester"]

# --- F1: a check that sends nothing has no verdict -----------------------------------------------------------------

_LONE = [Fixtures(from_address="hello@example.com"), Fixtures(from_address=""), Fixtures(providers=("ses",)),
         Fixtures(audience_id="aud_everyone"), Fixtures(tag_id="tag_vip"), Fixtures(conversation_id="conv_welcome")]


@pytest.mark.parametrize("fixtures", _LONE, ids=["from", "from-empty", "provider", "audience", "tag", "conversation"])
def test_f1_a_lone_fixture_is_refused_before_sending(fixtures):
    """Pass T4, F1: any fixture makes the target data-bound (its ids must be real), so one given without `--email-id`
    built no valid body: 0 requests sent and "CONFORMANT: 0/0", exit 0. Now refused before anything is sent (a
    usage error, exit 2 on the command line), naming the fixture missing and the one given."""
    from migma_contract.run.runner import prepare_run

    with pytest.raises(ConfigError, match="no valid request can be built.*pass --email-id") as refused:
        prepare_run(CheckOptions().with_fixtures(fixtures))
    assert "given: a target with its own data" in str(refused.value)
    # with the message to send, the same target is checked
    assert prepare_run(CheckOptions().with_fixtures(Fixtures(**{**vars(fixtures), "email_id": "email_welcome"}))).plan.cases


@pytest.mark.e2e
@pytest.mark.parametrize("how", ["typed", "pyproject"])
def test_f1_the_command_line_exits_2_on_a_lone_fixture(tmp_path, monkeypatch, how):
    """Pass T4, F1 (f1_fixture_zero.sh): `--provider ses` typed, or `from = ...` in pyproject.toml, gave "CONFORMANT:
    0/0" and exit 0; now one line, exit 2, no report written."""
    monkeypatch.chdir(tmp_path)
    args = ["check", "--report-dir", "out"]
    if how == "typed":
        args += ["--provider", "ses"]
    else:
        (tmp_path / "pyproject.toml").write_text('[tool.migma-contract]\nfrom = "hello@example.com"\n')
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2, result.output
    assert "no valid request can be built" in result.output and "CONFORMANT" not in result.output
    assert not (tmp_path / "out" / "conformance.json").exists()


def _rule(rule, status):
    return RuleResult(id=rule.id, level=rule.level.value, subject=rule.subject.value, text=rule.text, source=rule.source,
                      status=status, exercised=0 if status == Status.NOT_EXERCISED else 1, passed=0, failed=0)


def test_f1_a_run_that_judged_no_valid_send_has_no_verdict():
    """Pass T4, F1, the class: a run whose plan ran to its end but judged no rule (or never judged a valid send) was
    "CONFORMANT: 0/0"; a verdict now rests on what was judged: such a run is incomplete (exit 3)."""
    from migma_contract.run.runner import _completion

    run = SimpleNamespace(interrupted=None, aborted=None, skipped=0, partly_judged=None,
                          target=SimpleNamespace(requests_sent=0))
    plan = SimpleNamespace(cases=[])
    nothing = [_rule(rule, Status.NOT_EXERCISED) for rule in rules_for()]
    assert _completion(run, plan, nothing)[0] == "partial"
    no_valid = [_rule(rule, Status.NOT_EXERCISED if rule.id == ACCEPTS_VALID.id else Status.PASSED) for rule in rules_for()]
    completion, stopped = _completion(run, plan, no_valid)
    assert completion == "partial" and ACCEPTS_VALID.id in stopped
    assert _completion(run, plan, [_rule(rule, Status.PASSED) for rule in rules_for()]) == ("complete", None)


@pytest.mark.e2e
@pytest.mark.parametrize("how", ["flag", "ini"])
def test_f1_the_pytest_plugin_errors_instead_of_all_skipped(pytester, monkeypatch, how):
    """Pass T4, F1: `--migma-provider ses` (or `migma_from_address` in the ini) gave "23 skipped", pytest exit 0;
    now the session is a usage error naming the missing fixture."""
    for name in ("MIGMA_CONTRACT_BASE_URL", "MIGMA_CONTRACT_API_KEY", "MIGMA_CONTRACT_RESTRICTED_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    args = ["--migma-conformance", "--migma-report-dir", "out"]
    if how == "flag":
        args += ["--migma-provider", "ses"]
    else:
        pytester.makeini("[pytest]\nmigma_from_address = a@example.com\n")
    result = pytester.runpytest(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR, result.stdout.str()
    assert "no valid request can be built" in result.stderr.str()
