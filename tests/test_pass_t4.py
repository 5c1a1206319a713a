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

    with pytest.raises(ConfigError, match=r"no valid request can be built.*pass --email-id") as refused:
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


# --- F2, F4: a repository file may not cut what a keyed check of the user's target sends, nor pick its recipients ----

_KEYED = {"MIGMA_CONTRACT_API_KEY": "mc_ci_secret_key_1", "MIGMA_CONTRACT_BASE_URL": "http://127.0.0.1:9"}


@pytest.mark.parametrize("line, key", [('plan = "minimal"', "plan"), ("explore = false", "explore"),
                                       ("max-requests = 150", "max-requests"), ("max-time = 30", "max-time"),
                                       ("seed = 7", "seed"), ('audience-id = "aud_everyone"', "audience-id"),
                                       ('segment-id = "seg_active"', "segment-id"), ('tag-id = "tag_vip"', "tag-id")])
@pytest.mark.parametrize("source", ["pyproject", "ini"])
def test_f2_f4_a_repository_file_cannot_cut_the_sends_or_pick_recipients(tmp_path, line, key, source):
    """Pass T4, F2 (f2_budget_config.sh): `plan = "minimal"`, `explore = false`, `max-requests` at the plan's size or
    a `seed` in a pull request's pyproject turned a server whose fault only explored sends meet CONFORMANT; F4
    (f5_repo_audience.sh): `audience-id` (segment, tag) sent the user's key's batch to that list. Each is now refused
    from a repository file (pyproject or pytest's ini) on a keyed run of a user-named target, exit 2; the user's own
    flag, no key, or an explicit trust take it."""
    from migma_contract.config.options import _BY_KEY, resolve_options

    pyproject = tmp_path / "pyproject.toml"
    ini = None
    if source == "pyproject":
        pyproject.write_text(f"[tool.migma-contract]\n{line}\n")
    else:
        name, value = (part.strip().strip('"') for part in line.split("=", 1))
        option = _BY_KEY[name.replace("-", "_")]
        pyproject.write_text("")
        ini = lambda wanted: value if wanted.name == option.name else None  # noqa: E731
    with pytest.raises(ConfigError, match=f"may not set --{key}"):
        resolve_options({}, environ=_KEYED, pyproject=pyproject, ini=ini, ini_folder=tmp_path)
    assert resolve_options({}, environ={}, pyproject=pyproject, ini=ini, ini_folder=tmp_path)
    assert resolve_options({}, environ={**_KEYED, "MIGMA_CONTRACT_TRUST_CONFIG_TARGET": "1"}, pyproject=pyproject,
                           ini=ini, ini_folder=tmp_path)


def test_f2_a_repository_file_may_still_ask_for_more():
    """Pass T4, F2: what sends more than the default (a larger budget, the full plan, exploration on) stays the file's."""
    import tempfile
    from pathlib import Path

    from migma_contract.config.options import resolve_options

    with tempfile.TemporaryDirectory() as folder:
        pyproject = Path(folder) / "pyproject.toml"
        pyproject.write_text('[tool.migma-contract]\nplan = "full"\nexplore = true\nmax-requests = 500\nseed = 0\n'
                             'email-id = "email_welcome"\n')
        options = resolve_options({}, environ=_KEYED, pyproject=pyproject)
    assert (options.max_requests, options.plan, options.explore, options.email_id) == (500, "full", True, "email_welcome")


# --- F5: the default report folder is never a link into version control's own folder --------------------------------


@pytest.mark.parametrize("into", [".git", ".git/hooks", ".GIT", ".hg", ".svn"])
def test_f5_a_default_report_dir_linked_into_git_is_refused(tmp_path, monkeypatch, into):
    """Pass T4, F5 (f4_default_reports_into_git.sh): a committed `reports -> .git` link made `check` write its four
    reports into .git (only a link out of the working directory was refused). Now a default report folder that
    resolves into `.git` (or another version control's own folder) is refused as a repository file's path there is."""
    from migma_contract.config.options import resolve_options

    monkeypatch.chdir(tmp_path)
    (tmp_path / into).mkdir(parents=True)
    (tmp_path / "reports").symlink_to(into)
    with pytest.raises(ConfigError, match=r"default --report-dir 'reports' is a link inside the repository's \.git folder"):
        resolve_options({}, environ={}, pyproject=tmp_path / "pyproject.toml")
    # the user's own choice stays theirs; a link to an ordinary folder stays allowed
    assert resolve_options({"report_dir": "reports"}, environ={}, pyproject=tmp_path / "pyproject.toml")
    (tmp_path / "reports").unlink()
    (tmp_path / "build").mkdir()
    (tmp_path / "reports").symlink_to("build")
    assert resolve_options({}, environ={}, pyproject=tmp_path / "pyproject.toml").report_dir == "reports"


@pytest.mark.parametrize("line", ['report-dir = ".hg"', 'write-baseline = ".svn/x"', 'report-dir = "_darcs/r"'])
def test_f5_a_repository_file_names_no_path_in_any_version_controls_folder(tmp_path, line):
    """Pass T4, F5: a repository file's path was refused inside `.git` only; Mercurial's `.hg` (its hgrc names hooks
    that run commands) and the other version controls' folders are refused alike."""
    from migma_contract.config.options import resolve_options

    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(f"[tool.migma-contract]\n{line}\n")
    with pytest.raises(ConfigError, match="version control"):
        resolve_options({}, environ={}, pyproject=pyproject)


# --- F3: a key echoed as a hex dump with separators is masked ----------------------------------------------------------

_KEY = "mc_test_full_access"
_HEX = _KEY.encode().hex()
_DUMPS = {
    "hex-space": _KEY.encode().hex(" "),
    "hex-colon": _KEY.encode().hex(":"),
    "hex-dash-upper": _KEY.encode().hex("-").upper(),
    "xxd-pairs": " ".join(_HEX[i:i + 4] for i in range(0, len(_HEX), 4)),
    "hexdump-C": " ".join(_HEX[i:i + 2] for i in range(0, 16, 2)) + "  " + " ".join(_HEX[i:i + 2] for i in range(16, len(_HEX), 2)),
    "0x-bytes": " ".join(f"0x{c:02x}" for c in _KEY.encode()),
    "0X-c-array": ", ".join(f"0X{c:02X}" for c in _KEY.encode()),
    "backslash-x": "".join(f"\\x{c:02x}" for c in _KEY.encode()),
    "dotted": _KEY.encode().hex("."),
}


@pytest.mark.parametrize("form", list(_DUMPS.values()), ids=list(_DUMPS))
def test_f3_a_key_in_a_hex_dump_with_separators_is_masked(form):
    """Pass T4, F3 (f3_hex_separated.py): docs/safety.md promised keys masked "in hexadecimal", but only an unbroken
    run was: `key.encode().hex(':')`, a debug dump's `hex(' ')`, xxd's pairs and `0x6d 0x63 ...` went verbatim into
    every report and the console. Each common dump form is masked now, the text around it kept."""
    from migma_contract.core.redact import REDACTED, Redactor

    redactor = Redactor([_KEY, "another_secret_value"])
    for text in (f"debug: {form} end", f"ab:{form}:cd", form, f"7f 00 {form} 00 7f"):
        out = redactor.text(text)
        assert REDACTED in out, out
        assert not any(piece in out.lower() for piece in ("6d 63 5f 74", "6d:63:5f", "74 5f 66", "0x66 0x75", "5f61 6363",
                                                          "61:63:63:65", "66 75 6c 6c")), out
    assert redactor.text(f"debug: {form} end").startswith("debug: ") and redactor.text(f"debug: {form} end").endswith(" end")
    # an ordinary dump of other bytes, or UUIDs, stay as they are
    other = "00 11 22 33 44 55 66 77 88 99 aa bb, 123e4567-e89b-12d3-a456-426614174000"
    assert redactor.text(other) == other


def test_f3_the_dump_search_stays_linear():
    """Pass T4, F3: the dump forms are found by regex passes of bounded repeats over the text; the only walk in Python
    (`_dump_span`, mapping a match back to the text) runs once per match found, not per dump or per byte, whatever
    the text around the key is made of (a measured 1-2 MB costs ~1.5x the redaction before, still linear)."""
    from migma_contract.core import redact

    calls = []
    real = redact._dump_span

    def counting(*args):
        calls.append(1)
        return real(*args)

    redactor = redact.Redactor([_KEY])
    for size in (2_000, 4_000):
        text = " ".join(["6d", "63:5f", "0x74", "\\x65", "zz"] * size) + " " + _KEY.encode().hex(" ")
        dumps = redact._hex_dumps(text)
        assert dumps is not None and len(dumps[0]) < len(text)
        redact._dump_span = counting
        try:
            assert redactor.text(text).endswith(redact.REDACTED)
        finally:
            redact._dump_span = real
    assert len(calls) == 2  # one walk per match found, whatever the text around it


@pytest.mark.e2e
@pytest.mark.parametrize("line, said", [("migma_plan = minimal", "--migma-plan"), ("migma_explore = false", "--explore"),
                                        ("migma_seed = 3", "--migma-seed"), ("migma_tag_id = tag_vip", "--migma-tag-id")])
def test_f2_f4_the_pytest_plugins_ini_is_held_to_the_same_rows(pytester, monkeypatch, line, said):
    """Pass T4, F2, F4: the pytest plugin reads the same table: an ini file's plan, exploration, seed or batch list on
    a run carrying the user's key to the target they typed is a usage error before anything is sent."""
    monkeypatch.setenv("MIGMA_CONTRACT_API_KEY", "mc_ci_secret_key_1")
    pytester.makeini(f"[pytest]\n{line}\n")
    result = pytester.runpytest("--migma-conformance", "--migma-base-url", "http://127.0.0.1:9", "--collect-only", "-q")
    assert result.ret == pytest.ExitCode.USAGE_ERROR, result.stdout.str()
    assert f"may not set {said}" in result.stderr.str() and "mc_ci_secret_key_1" not in result.stderr.str()
