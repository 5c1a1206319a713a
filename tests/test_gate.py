"""Verdicts a CI gate can bet on (issue 25): cut, aborted and interrupted runs, a wrong endpoint, the baseline."""

import html
import json
import os
import signal
import subprocess
import sys
import threading

import anyio
import pytest
from click.testing import CliRunner

from migma_contract.cli import main
from migma_contract.config.options import CheckOptions
from migma_contract.core.exceptions import Terminated
from migma_contract.mock import load_mock_config
from migma_contract.run.result import RunResult
from migma_contract.run.runner import run_check
from migma_contract.wire.serve import serve_in_thread

from .faulty_servers import FAULTS, FULL_KEY, LEGAL, RESTRICTED_KEY, Req, Resp, Variant, accept_when, answer, on_success

pytestmark = pytest.mark.e2e  # whole checks, the CLI in subprocesses, servers on loopback

FIXTURES = load_mock_config().fixtures()
FIXTURE_ARGS = ["--from", "sender@example.com", "--email-id", "email_welcome", "--conversation-id", "conv_welcome",
                "--project-id", "proj_demo", "--audience-id", "aud_everyone", "--segment-id", "seg_active", "--tag-id", "tag_vip",
                "--provider", "ses,resend,sendgrid,mailgun"]
KEYS = ["--api-key", FULL_KEY, "--restricted-api-key", RESTRICTED_KEY]


def options(**extra):
    settings = {"api_key": FULL_KEY, "restricted_api_key": RESTRICTED_KEY, "explore": False, "max_requests": 150, **extra}
    return CheckOptions(**settings).with_fixtures(FIXTURES)


def variant(name):
    return next(v for v in [*FAULTS, *LEGAL] if v.name == name)


def check(*args):
    return CliRunner().invoke(main, ["check", *args], catch_exceptions=False)


def reports(directory):
    return {name: (directory / name).read_text() for name in ("conformance.json", "summary.md", "index.html", "junit.xml")}


# --- a run that did not complete its plan is never CONFORMANT ------------------------------------------------


def test_a_plan_cut_by_the_budget_is_incomplete_exit_3_and_says_what_was_cut_everywhere(tmp_path):
    with serve_in_thread(LEGAL[0].app()) as url:
        done = check("--base-url", url, *KEYS, *FIXTURE_ARGS, "--max-requests", "30", "--report-dir", str(tmp_path))
    assert done.exit_code == 3, done.output
    assert "CONFORMANT" not in done.output.replace("NOT CONFORMANT", "")
    assert "INCOMPLETE: the plan was cut: " in done.output and "planned cases not sent: --max-requests 30 reached" in done.output
    data = json.loads((tmp_path / "conformance.json").read_text())
    assert data["verdict"] == "incomplete" and data["completion"] == "cut" and data["exit_code"] == 3
    assert data["plan"]["skipped"] > 0 and f"{data['plan']['skipped']} of {data['plan']['cases']} planned cases" in data["stopped"]
    for name, text in reports(tmp_path).items():
        assert "planned cases not sent" in text, name
    RunResult.from_dict(data)  # the schema knows the new fields


def test_a_cut_plan_with_a_violation_is_exit_1_and_still_says_it_was_cut():
    fault = variant("status-done")
    result = run_check(options(max_requests=30), app=fault.app())
    assert result.exit_code == 1 and result.verdict == "failed" and result.completion == "cut"
    assert result.headline.startswith("NOT CONFORMANT: ") and "; the plan was cut: " in result.headline


def test_a_plan_that_fits_is_complete():
    result = run_check(options(max_requests=200), app=LEGAL[0].app())  # the full plan is 150 requests at documented
    assert result.exit_code == 0 and result.completion == "complete" and result.stopped is None and result.plan.skipped == 0


# --- a hang is a finding, not an infrastructure abort ---------------------------------------------------------


def test_a_run_stopped_on_timeouts_with_responds_in_time_failed_exits_1():
    fault = variant("hangs-on-long-subject")
    result = run_check(options(max_timeouts=2, timeout=0.5), app=fault.app())
    assert result.rule("responds-in-time").status == "failed"
    assert result.exit_code == 1 and result.verdict == "failed" and result.completion == "aborted"
    assert "the run was aborted: 2 requests timed out" in result.headline


# --- the first valid request answered as no endpoint would -----------------------------------------------------


def test_a_base_url_naming_the_endpoint_is_a_configuration_error_naming_the_url(tmp_path):
    with serve_in_thread(LEGAL[0].app()) as url:
        done = check("--base-url", f"{url}/v1/sending", *KEYS, *FIXTURE_ARGS, "--report-dir", str(tmp_path))
    assert done.exit_code == 2, done.output
    assert f"POST {url}/v1/sending/v1/sending, was answered 404" in done.output and "--base-url" in done.output
    assert "path is doubled" in done.output and "NOT CONFORMANT" not in done.output


def test_a_server_redirecting_everything_is_a_configuration_error_naming_the_location():
    redirecting = Variant("redirects-everything", None,
                          before=answer(lambda r: True, Resp(301, {"location": "https://elsewhere.invalid/v1/sending"}, b"")))
    with pytest.raises(Exception, match=r"was answered 301 \(Location: https://elsewhere.invalid/v1/sending\)"):
        run_check(options(), app=redirecting.app())


def test_an_html_login_page_is_a_configuration_error():
    page = Variant("front-end-page", None,
                   before=answer(lambda r: True, Resp.of(403, b"<html>sign in</html>", "text/html")))
    with pytest.raises(Exception, match="was answered 403 with an HTML page"):
        run_check(options(), app=page.app())


# --- Ctrl-C and SIGTERM: the reports of what ran, marked interrupted --------------------------------------------


class _Held:
    """A server that answers until `after` requests, then holds every request until released (the run is mid-flight)."""

    def __init__(self, after, fault=None):
        self.after, self.count = after, 0
        self.holding, self.release = threading.Event(), threading.Event()
        self.app = (fault or LEGAL[0]).app()
        inner = self.app.before

        async def before(request: Req):
            self.count += 1
            if self.count > self.after:
                self.holding.set()
                await anyio.to_thread.run_sync(self.release.wait)
            return await inner(request) if inner is not None else None

        self.app.before = before


@pytest.mark.parametrize(("signum", "fault", "code", "said"), [
    (signal.SIGTERM, "status-done", 1, "stopped by SIGTERM"),
    (signal.SIGINT, None, 3, "interrupted (Ctrl-C)"),
])
def test_an_interrupted_run_writes_its_reports_marked_interrupted(tmp_path, signum, fault, code, said):
    held = _Held(after=6, fault=variant(fault) if fault else None)
    with serve_in_thread(held.app) as url:
        process = subprocess.Popen(
            [sys.executable, "-m", "migma_contract.cli", "check", "--base-url", url, *FIXTURE_ARGS, "--report-dir", str(tmp_path),
             "--timeout", "600", "--no-explore"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env={**os.environ, "MIGMA_CONTRACT_API_KEY": FULL_KEY, "MIGMA_CONTRACT_RESTRICTED_API_KEY": RESTRICTED_KEY},
        )
        try:
            assert process.stderr.readline().startswith("migma-contract ")  # it started: the run's first line
            assert held.holding.wait(120), "the run never reached the held request"
            process.send_signal(signum)
            out, err = process.communicate(timeout=120)
        finally:
            held.release.set()
            if process.poll() is None:
                process.kill()
    assert process.returncode == code, err
    assert "Traceback" not in err
    data = json.loads((tmp_path / "conformance.json").read_text())
    assert data["completion"] == "interrupted" and said in data["stopped"] and data["exit_code"] == code
    assert data["requests_sent"] >= 6
    for name, text in reports(tmp_path).items():
        assert said in text, name
    assert said in out and FULL_KEY not in out + err


# --- observed traffic says what it judged, from where ------------------------------------------------------------


def test_judge_says_how_many_exchanges_it_judged_from_where_and_no_plan(tmp_path):
    from .test_recordings import ENTRIES, har

    path = tmp_path / "staging.har"
    path.write_text(json.dumps(har(ENTRIES)))
    done = CliRunner().invoke(main, ["judge", str(path), "--report-dir", str(tmp_path / "r")], catch_exceptions=False)
    assert "3 exchange(s) judged from recorded: staging.har in " in done.output, done.output
    assert "plan" not in done.output.splitlines()[-4] and "seed" not in done.output
    data = json.loads((tmp_path / "r" / "conformance.json").read_text())
    assert data["plan"]["kind"] == "observed"
    assert "3 exchange(s) judged from recorded: staging.har" in (tmp_path / "r" / "summary.md").read_text()


# --- the baseline matches findings, not rules ----------------------------------------------------------------------

_TWO_COERCIONS = Variant("coerces-booleans-and-null-replyTo", "field-types", after=accept_when(
    "field-types", lambda r: isinstance(r.fields.get("transactional"), str) or ("replyTo" in r.fields and r.fields["replyTo"] is None)))


def test_a_new_failure_of_a_baselined_rule_fails_the_gate(tmp_path):
    first = run_check(options(), app=variant("coerces-string-booleans").app())
    assert first.rule("field-types").status == "failed"
    (tmp_path / "before.json").write_text(json.dumps(first.to_dict()))
    second = run_check(options(baseline=str(tmp_path / "before.json")), app=_TWO_COERCIONS.app())
    assert second.exit_code == 1 and second.rule("field-types").status == "failed"
    marks = {f.key: f.baselined for f in second.findings_for("field-types")}
    assert sorted(marks.values()) == [False, True], marks
    assert next(key for key, known in marks.items() if not known) == "200 field-types/replyto-is-null-null"


def test_stale_entries_are_listed_and_the_baseline_can_be_rewritten(tmp_path):
    fault_args = ["--api-key", FULL_KEY, "--restricted-api-key", RESTRICTED_KEY, *FIXTURE_ARGS, "--no-explore"]
    written = tmp_path / "known.baseline"
    with serve_in_thread(_TWO_COERCIONS.app()) as url:
        done = check("--base-url", url, *fault_args, "--report-dir", str(tmp_path / "a"), "--write-baseline", str(written))
        assert done.exit_code == 1 and f"report: {written}" in done.output
        assert written.read_text().startswith("# migma-contract baseline")
        again = check("--base-url", url, *fault_args, "--report-dir", str(tmp_path / "b"), "--baseline", str(written))
    assert again.exit_code == 0, again.output
    assert "CONFORMANT" in again.output and "known failure(s) accepted by the baseline" in again.output
    with serve_in_thread(variant("coerces-string-booleans").app()) as url:  # the replyTo coercion was fixed
        fixed = check("--base-url", url, *fault_args, "--report-dir", str(tmp_path / "c"), "--baseline", str(written))
    assert fixed.exit_code == 0, fixed.output
    assert "baseline: 1 entry no longer fail" in fixed.output and "field-types 200 field-types/replyto-is-null-null" in fixed.output
    data = json.loads((tmp_path / "c" / "conformance.json").read_text())
    assert [entry.split(" ", 1)[0] for entry in data["stale_baseline"]] == ["field-types"]
    for name, text in reports(tmp_path / "c").items():
        assert "replyto-is-null-null" in text.split("tale baseline", 1)[-1], name


def test_a_baseline_of_an_earlier_version_loads_with_a_clear_warning(tmp_path):
    first = run_check(options(max_requests=200), app=variant("coerces-string-booleans").app())
    data = first.to_dict()
    for finding in data["findings"]:
        del finding["key"]
    (tmp_path / "old.json").write_text(json.dumps(data))
    warnings = []
    result = run_check(options(baseline=str(tmp_path / "old.json"), max_requests=200), app=_TWO_COERCIONS.app(),
                       progress=lambda event, info: warnings.append(info["message"]) if event == "warning" else None)
    assert result.exit_code == 0 and result.rule("field-types").status == "accepted"
    assert any("written by an earlier version" in w and "--write-baseline" in w for w in warnings), warnings


# --- messages that read true -----------------------------------------------------------------------------------------


def test_findings_past_the_bound_are_counted_and_named_in_every_writer(tmp_path):
    from migma_contract.reports import write_reports
    from migma_contract.reports.console import print_summary

    fault = variant("coerces-like-ajv")
    result = run_check(options(max_findings_per_rule=1), app=fault.app())
    rule = result.rule("field-types")
    assert len(result.findings_for("field-types")) == 1 and len(rule.unshown) >= 1
    line = f"{rule.failed} failed, 1 shown, {len(rule.unshown)} more distinct failure(s) not kept (--max-findings-per-rule)"
    write_reports(result, tmp_path)
    for name, text in reports(tmp_path).items():
        assert (line if name != "conformance.json" else rule.unshown[0]) in text, name
    import io

    console = io.StringIO()
    print_summary(result, [], stream=console)
    assert f"field-types: {line}" in console.getvalue()


def test_live_finding_lines_and_html_titles_name_the_case(tmp_path):
    import io

    from migma_contract.reports import write_reports
    from migma_contract.reports.console import Progress

    stream = io.StringIO()
    fault = variant("coerces-string-booleans")
    result = run_check(options(), app=fault.app(), progress=Progress(stream))
    finding = result.findings_for("field-types")[0]
    assert f"✗ field-types: {finding.actual} ({finding.case_label})" in stream.getvalue()
    write_reports(result, tmp_path, ("html",))
    assert f"— {html.escape(finding.case_label)}: {finding.actual}</summary>" in (tmp_path / "index.html").read_text()


def test_exploration_shows_its_progress_in_a_ci_log():
    import io

    from migma_contract.reports.console import Progress

    stream = io.StringIO()
    result = run_check(options(explore=True, max_requests=230), app=LEGAL[0].app(), progress=Progress(stream))
    text = stream.getvalue()
    left = 230 - result.plan.cases  # what the plan left to exploration
    assert f"exploring with the remaining budget ({left} requests)…" in text
    assert f"exploring: {left // 4}/{left} requests (25%)" in text and "(50%)" in text and "(75%)" in text


def test_a_401_whose_words_say_the_key_lacks_the_permission_is_not_told_to_check_the_key():
    says_permission = Variant("missing-scope-is-401-with-words", None, after=lambda req, resp: Resp.of(
        401, {"success": False, "error": "API key lacks the email:send permission"}) if resp.status == 403 else resp)
    result = run_check(options(), app=says_permission.app())
    reason = result.rule("auth-scope").reason
    assert result.rule("auth-scope").status == "not_exercised"
    assert "the server answered 401 to --restricted-api-key (401 API key lacks the email:send permission)" in reason
    assert "check the key" not in reason


def test_result_id_unique_names_both_sends_that_shared_the_id():
    result = run_check(options(), app=variant("same-id-for-every-send").app())
    [finding] = result.findings_for("result-id-unique")
    assert "was already given to an earlier accepted send (a plain email send); this send" in finding.actual
    assert f"this send, {finding.case_label!r}, got it again" in finding.actual


def test_result_provider_says_when_the_request_named_no_provider():
    fault = Variant("provider-ses-by-default", "result-provider", level="strict",
                    after=on_success(lambda p, r: p["data"].update(provider="ses"), when=lambda r: "providerType" not in r.fields))
    result = run_check(options(level="strict"), app=fault.app())
    actual = result.findings_for("result-provider")[0].actual
    assert actual == "/data/provider is 'ses', the request named no providerType, so 'migma' is expected", actual


def test_a_refusal_caused_by_a_fields_presence_is_blamed_on_its_presence():
    fault = Variant("refuses-any-replyTo", "accepts-valid",
                    before=answer(lambda r: "replyTo" in r.fields and r.headers.get("authorization") == f"Bearer {FULL_KEY}",
                                  Resp.of(400, {"success": False, "error": "replyTo not supported"})))
    result = run_check(options(), app=fault.app())
    why = [f.attribution for f in result.findings_for("accepts-valid")]
    assert any("the presence of replyTo makes the difference" in (w or "") for w in why), why
    assert not any("value class 'plain'" in (w or "") for w in why), why


def test_a_200_saying_success_false_is_not_called_accepted():
    fault = Variant("200-with-success-false", "envelope-consistent", after=lambda req, resp: Resp.of(
        200, {"success": False, "error": "invalid request"}) if resp.status == 400 else resp)
    result = run_check(options(), app=fault.app())
    actuals = [f.actual for f in result.findings]
    assert any("200 (success: false, error: invalid request)" in a for a in actuals), actuals
    assert not any("accepted, with error: invalid request" in a for a in actuals), actuals


def test_a_plan_cut_by_max_time_names_it():
    result = run_check(options(max_time=1e-9), app=LEGAL[0].app())  # the deadline has passed before the first case
    assert result.exit_code == 3 and result.completion == "cut" and result.verdict == "incomplete"
    assert result.stopped == f"{result.plan.cases} of {result.plan.cases} planned cases not sent: --max-time 1e-09 s ran out"


def test_an_unwritable_baseline_path_is_refused_before_the_first_request(tmp_path):
    (tmp_path / "known.txt").mkdir()
    app = LEGAL[0].app()
    with serve_in_thread(app) as url:
        done = check("--base-url", url, *KEYS, *FIXTURE_ARGS, "--report-dir", str(tmp_path / "r"),
                     "--write-baseline", str(tmp_path / "known.txt"))
    assert done.exit_code == 2 and "--write-baseline" in done.output and "is a directory" in done.output, done.output
    assert app.calls == 0


@pytest.mark.parametrize(("stop", "said", "at", "code", "headline"), [
    (KeyboardInterrupt, "interrupted (Ctrl-C)", 1, 3, "INTERRUPTED: interrupted (Ctrl-C) after 1 recorded exchange(s)"),
    (Terminated, "stopped by SIGTERM", 2, 1, "; the run was interrupted: stopped by SIGTERM after 2 recorded exchange(s)"),
])
def test_judge_stopped_midway_writes_the_reports_of_what_it_judged(tmp_path, monkeypatch, stop, said, at, code, headline):
    from migma_contract.traffic.tally import TrafficJudge

    from .test_recordings import ENTRIES, har

    path = tmp_path / "staging.har"
    path.write_text(json.dumps(har(ENTRIES)))
    observe = TrafficJudge.observe

    def observe_then_stop(self, exchange):
        if self.stats.exchanges == at:  # the signal arrives while the next exchange is read
            raise stop
        return observe(self, exchange)

    monkeypatch.setattr(TrafficJudge, "observe", observe_then_stop)
    done = CliRunner().invoke(main, ["judge", str(path), "--report-dir", str(tmp_path / "r")], catch_exceptions=False)
    assert done.exit_code == code, done.output  # the second exchange broke a rule: a violation is a verdict
    assert headline in done.output
    data = json.loads((tmp_path / "r" / "conformance.json").read_text())
    assert data["completion"] == "interrupted" and data["traffic"]["judged"] == at and data["exit_code"] == code
    for name, text in reports(tmp_path / "r").items():
        assert said in text, name
