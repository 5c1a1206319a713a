"""`migma-contract check` as users run it: exit codes, reports, configuration, safety."""

import json
import socket
import subprocess
import sys

import pytest
from click.testing import CliRunner

from migma_contract.cli import main
from migma_contract.wire.serve import serve_in_thread

from .faulty_servers import FAULTS, FULL_KEY, LEGAL, RESTRICTED_KEY

FIXTURE_ARGS = ["--from", "sender@example.com", "--email-id", "email_welcome", "--conversation-id", "conv_welcome",
                "--project-id", "proj_demo", "--audience-id", "aud_everyone", "--segment-id", "seg_active", "--tag-id", "tag_vip",
                "--provider", "ses,resend,sendgrid,mailgun"]


def run(args, env=None):
    return CliRunner().invoke(main, ["check", *args], env=env, catch_exceptions=False)


def fault(name):
    return next(v for v in FAULTS if v.name == name)


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.e2e
def test_main_job_on_the_embedded_mock(tmp_path):
    result = run(["--report-dir", str(tmp_path), "--max-requests", "200"])
    assert result.exit_code == 0, result.output
    assert "CONFORMANT" in result.output and "accepts-valid" in result.output and "passed" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["conformance.json", "index.html", "junit.xml", "summary.md"]
    data = json.loads((tmp_path / "conformance.json").read_text())
    assert data["verdict"] == "passed" and data["requests_sent"] == 200 and data["target"]["label"] == "embedded reference mock"


@pytest.mark.e2e
def test_a_faulty_live_server_names_the_rule_shows_a_curl_line_and_exits_1(tmp_path):
    with serve_in_thread(fault("negative-sentCount").app()) as url:
        result = run(["--base-url", url, "--api-key", FULL_KEY, "--restricted-api-key", RESTRICTED_KEY, *FIXTURE_ARGS,
                      "--report-dir", str(tmp_path), "--no-explore"])
    assert result.exit_code == 1
    assert "✗ result-count" in result.output and "curl -sS -i --globoff --proto =http,https -X POST" in result.output
    assert FULL_KEY not in result.output and RESTRICTED_KEY not in result.output
    assert "NOT CONFORMANT" in result.output


@pytest.mark.e2e
def test_dry_run_sends_nothing(tmp_path):
    app = fault("status-done").app()
    with serve_in_thread(app) as url:
        result = run(["--base-url", url, "--api-key", FULL_KEY, "--dry-run", "--report-dir", str(tmp_path)])
    assert result.exit_code == 0 and "planned requests of the full plan (nothing sent)" in result.output
    assert app.calls == 0 and not list(tmp_path.iterdir())


@pytest.mark.e2e
def test_a_dry_run_imports_neither_the_http_stack_nor_the_generators_nor_rich(tmp_path):
    """What keeps `--dry-run` near `rules` in time (issue 16): it loads only what listing the plan needs."""
    code = ("import sys\nfrom migma_contract.cli import main\ntry:\n    main(['check', '--dry-run'])\nexcept SystemExit:\n    pass\n"
            "heavy = ('httpx', 'anyio', 'hypothesis', 'schemathesis', 'rich', 'jsonschema', 'starlette', 'uvicorn')\n"
            "print('LOADED', sorted(name for name in heavy if name in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=60,
                          env={"PATH": "", "MIGMA_CONTRACT_API_KEY": FULL_KEY})
    assert "planned requests of the full plan (nothing sent)" in done.stdout, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "LOADED []"


@pytest.mark.e2e
def test_a_check_of_a_url_runs_without_an_event_loop(tmp_path):
    """The plan and exploration of a URL target go over one blocking client (issue 23): the async one costs
    ~0.35 ms more a request and its own TLS context, and asyncio's machinery is never loaded."""
    code = ("import sys\nfrom migma_contract.cli import main\ntry:\n    main(sys.argv[1:])\nexcept SystemExit as exc:\n"
            "    print('EXIT', exc.code)\nprint('LOADED', sorted(name for name in ('asyncio', 'anyio._backends._asyncio') if name in sys.modules))")
    with serve_in_thread(LEGAL[0].app()) as url:
        done = subprocess.run([sys.executable, "-c", code, "check", "--base-url", url, "--api-key", FULL_KEY,
                               "--restricted-api-key", RESTRICTED_KEY, *FIXTURE_ARGS,
                               "--max-requests", "170", "--report-dir", str(tmp_path)],
                              capture_output=True, text=True, cwd=tmp_path, timeout=120, env={"PATH": ""})
    assert done.stdout.strip().splitlines()[-2:] == ["EXIT 0", "LOADED []"], (done.stdout[-2000:], done.stderr[-2000:])


@pytest.mark.e2e
def test_unreachable_target_exits_3_with_one_line(tmp_path):
    result = run(["--base-url", f"http://127.0.0.1:{free_port()}", "--api-key", FULL_KEY, "--report-dir", str(tmp_path)])
    assert result.exit_code == 3
    assert "cannot reach http://127.0.0.1:" in result.output and "Traceback" not in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--base-url", "https://api.migma.ai", "--api-key", "k"], "--allow-production"),
        (["--base-url", "http://127.0.0.1:9"], "MIGMA_CONTRACT_API_KEY"),
        (["--base-url", "127.0.0.1:4010", "--api-key", "k"], "http:// or https://"),
        (["--max-requests", "-1"], "--max-requests"),
        (["--level", "loose"], "--level"),
        (["--format", "pdf"], "--format: 'pdf' is not one of"),
        (["--timeout", "0"], "--timeout"),
        (["--baseline", "/nonexistent/baseline.json"], "--baseline"),
        (["--recipient-domain", "a@b"], "--recipient-domain"),
    ],
)
def test_bad_options_exit_2_with_a_clear_line(tmp_path, args, message):
    result = run([*args, "--report-dir", str(tmp_path)])
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output


@pytest.mark.e2e
def test_environment_then_pyproject_then_defaults(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pyproject.toml").write_text('[tool.migma-contract]\nlevel = "schema"\nmax-requests = 150\nexplore = false\n')
    run(["--report-dir", "r1"])
    first = json.loads((tmp_path / "r1" / "conformance.json").read_text())
    assert first["level"] == "schema" and first["budget"]["max_requests"] == 150 and first["budget"]["explore"] is False
    run(["--report-dir", "r2"], env={"MIGMA_CONTRACT_LEVEL": "strict"})
    assert json.loads((tmp_path / "r2" / "conformance.json").read_text())["level"] == "strict"
    run(["--report-dir", "r3", "--level", "documented"], env={"MIGMA_CONTRACT_LEVEL": "strict"})
    assert json.loads((tmp_path / "r3" / "conformance.json").read_text())["level"] == "documented"


@pytest.mark.parametrize(("line", "message"), [("colour = 'red'", "unknown key 'colour'"), ("api-key = 'x'", "keep keys out of files")])
def test_bad_pyproject_settings(tmp_path, monkeypatch, line, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pyproject.toml").write_text(f"[tool.migma-contract]\n{line}\n")
    result = run([])
    assert result.exit_code == 2 and message in result.output


@pytest.mark.e2e
def test_baseline_accepts_known_failures_and_still_lists_them(tmp_path):
    app = fault("status-done").app()
    args = ["--api-key", FULL_KEY, "--restricted-api-key", RESTRICTED_KEY, *FIXTURE_ARGS, "--no-explore"]
    with serve_in_thread(app) as url:
        first = run(["--base-url", url, *args, "--report-dir", str(tmp_path / "before")])
        assert first.exit_code == 1
        second = run(["--base-url", url, *args, "--report-dir", str(tmp_path / "after"),
                      "--baseline", str(tmp_path / "before" / "conformance.json")])
    assert second.exit_code == 0, second.output
    data = json.loads((tmp_path / "after" / "conformance.json").read_text())
    assert {r["id"]: r["status"] for r in data["rules"]}["result-status-known"] == "accepted"
    assert [f["baselined"] for f in data["findings"]] == [True]


@pytest.mark.e2e
def test_only_the_requested_formats_are_written(tmp_path):
    assert run(["--format", "json,md", "--report-dir", str(tmp_path), "--max-requests", "200"]).exit_code == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["conformance.json", "summary.md"]


@pytest.mark.e2e
def test_the_real_command_exits_with_the_verdict(tmp_path):
    with serve_in_thread(fault("errors-claim-success").app()) as url:
        done = subprocess.run(
            [sys.executable, "-m", "migma_contract.cli", "check", "--base-url", url, "--no-explore", "--report-dir", str(tmp_path), *FIXTURE_ARGS],
            capture_output=True, text=True, timeout=120, env={"MIGMA_CONTRACT_API_KEY": FULL_KEY, "PATH": "/usr/bin:/bin"},
        )
    assert done.returncode == 1, done.stderr
    assert "envelope-consistent" in done.stdout and FULL_KEY not in done.stdout + done.stderr


@pytest.mark.e2e
def test_the_vendors_and_the_toolkits_key_variables_never_reach_the_embedded_mock(tmp_path):
    env = {"MIGMA_API_KEY": "mc_live_production_key", "MIGMA_CONTRACT_API_KEY": "mc_live_also_not_for_the_mock"}
    result = run(["--report-dir", str(tmp_path), "--max-requests", "200", "--no-explore"], env=env)
    assert result.exit_code == 0, result.output
    assert "mc_live_production_key" not in result.output and "mc_live_also_not_for_the_mock" not in result.output


@pytest.mark.e2e
def test_a_wrong_key_is_one_line_exit_2_and_no_report(tmp_path):
    with serve_in_thread(LEGAL[0].app()) as url:
        result = run(["--base-url", url, "--api-key", "mc_test_typo", *FIXTURE_ARGS, "--report-dir", str(tmp_path)])
    assert result.exit_code == 2, result.output
    assert "migma-contract: error: the server refused --api-key (401 unknown API key): check the key" in result.output
    assert "mc_test_typo" not in result.output and "NOT CONFORMANT" not in result.output
    assert not list(tmp_path.iterdir())


@pytest.mark.e2e
def test_a_wrong_restricted_key_is_exit_2_in_one_line_and_no_verdict(tmp_path):
    with serve_in_thread(LEGAL[0].app()) as url:
        result = run(["--base-url", url, "--api-key", FULL_KEY, "--restricted-api-key", "mc_test_typo", *FIXTURE_ARGS,
                      "--report-dir", str(tmp_path), "--no-explore"])
    assert result.exit_code == 2, result.output
    [error] = [line for line in result.output.splitlines() if "error" in line]  # one line, after the run's header
    assert error.startswith("migma-contract: error: the server refused --restricted-api-key (401 unknown API key): check the key")
    assert "mc_test_typo" not in result.output and "CONFORMANT" not in result.output
    assert not list(tmp_path.iterdir())


@pytest.mark.e2e
def test_root_causes_are_the_first_lines_after_the_table(tmp_path):
    with serve_in_thread(fault("422-for-validation-errors").app()) as url:
        result = run(["--base-url", url, "--api-key", FULL_KEY, "--restricted-api-key", RESTRICTED_KEY, *FIXTURE_ARGS,
                      "--report-dir", str(tmp_path), "--no-explore"])
    assert result.exit_code == 1
    lines = result.output.splitlines()
    after_table = lines[next(i for i, line in enumerate(lines) if line.startswith("└")) + 1]
    assert after_table.startswith("root cause: every request that breaks a rule was answered 422 where the document gives 400: 1")
    data = json.loads((tmp_path / "conformance.json").read_text())
    assert data["root_causes"][0]["summary"] in after_table and "status-documented" in data["root_causes"][0]["rules"]


@pytest.mark.e2e
def test_the_minimal_plan_with_the_vendor_set_says_so_in_every_report(tmp_path):
    result = run(["--with-vendor", "--plan", "minimal", "--report-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "at level documented, with the vendor set (seed 0, the minimal plan" in result.output
    assert "25 requests (the minimal plan) in" in result.output and "idempotency-replay" in result.output
    data = json.loads((tmp_path / "conformance.json").read_text())
    assert data["plan"]["kind"] == "minimal" and data["requests_sent"] == 25 and data["budget"]["explore"] is False
    assert {r["id"]: r["set"] for r in data["rules"]}["idempotency-conflict"] == "vendor"
    assert "(the minimal plan)" in (tmp_path / "summary.md").read_text()
    assert "kind minimal" in (tmp_path / "index.html").read_text()


@pytest.mark.e2e
def test_the_vendor_set_dry_run_lists_its_pairs_and_never_shows_the_second_key(tmp_path):
    with serve_in_thread(fault("status-done").app()) as url:
        result = run(["--base-url", url, "--api-key", FULL_KEY, "--second-api-key", "mc_test_second_app", "--with-vendor",
                      "--plan", "minimal", "--dry-run"])
    # 19: no restricted key (auth-scope), and a live target takes no injected 503 or 429: those rules say so
    assert result.exit_code == 0 and "20 planned requests of the minimal plan (nothing sent)" in result.output
    assert "idempotency-conflict" in result.output and "injected" not in result.output.split("not exercised")[0]
    assert "not exercised: idempotency-not-stored: needs a 503 answer, and the target takes no injected faults" in result.output
    assert "mc_test_second_app" not in result.output


def test_the_vendor_set_below_documented_is_a_usage_error():
    result = run(["--with-vendor", "--level", "schema"])
    assert result.exit_code == 2
    assert result.output.strip().splitlines()[-1].endswith(
        "--with-vendor: the vendor rules are at level documented; --level schema leaves them all out (use --level documented or strict)")


@pytest.mark.e2e
def test_the_second_key_appears_in_no_output_even_when_a_server_echoes_it(tmp_path):
    from .faulty_servers import SECOND_KEY, Resp, Variant

    async def echo_second_key(request):
        auth = request.headers.get("authorization", "")
        if auth == f"Bearer {SECOND_KEY}":  # a replay across API keys that quotes the caller's credentials
            return Resp.of(200, {"success": True, "data": {"id": "msg_1", "status": "queued", "message": f"hello {auth}"},
                                 "error": None}, **{"idempotent-replayed": "true"})
        return None

    with serve_in_thread(Variant("echoes-the-second-key", None, before=echo_second_key).app()) as url:
        result = run(["--base-url", url, "--with-vendor", "--plan", "minimal", "--from", "hello@example.com", "--email-id",
                      "email_welcome", "--report-dir", str(tmp_path)],
                     env={"MIGMA_CONTRACT_API_KEY": FULL_KEY, "MIGMA_CONTRACT_SECOND_API_KEY": SECOND_KEY})
    assert result.exit_code == 1 and "✗ idempotency-scope" in result.output
    for text in [result.output, *(p.read_text() for p in tmp_path.iterdir())]:
        assert SECOND_KEY not in text
    assert "$MIGMA_CONTRACT_SECOND_API_KEY" in result.output and "[REDACTED]" in (tmp_path / "conformance.json").read_text()


@pytest.mark.e2e
def test_a_base_url_written_with_v1_reaches_v1_sending(tmp_path):
    """Clients write the vendor's base URL with or without /v1; both must reach POST /v1/sending."""
    from migma_contract import CheckOptions, run_check
    from migma_contract.mock import create_app
    from migma_contract.wire.serve import serve_in_thread

    mock = create_app({"open_world": True})
    with serve_in_thread(mock) as url:
        result = run_check(CheckOptions(base_url=url + "/v1/", api_key="mc_test_full_access", explore=False, max_requests=20))
    assert result.requests_sent == 20 and all(r.path == "/v1/sending" for r in mock.requests)


def test_production_is_refused_from_every_way_in_with_one_guard():
    from migma_contract import ConfigError
    from migma_contract.wire.urls import guard_production

    with pytest.raises(ConfigError, match="--allow-production"):
        guard_production("https://API.migma.ai/v1", ["https://api.migma.ai"], allowed=False)
    guard_production("https://api.migma.ai", ["https://api.migma.ai"], allowed=True)
    guard_production("http://127.0.0.1:4010", ["https://api.migma.ai"], allowed=False)


@pytest.mark.e2e
def test_a_check_leaves_no_hypothesis_folder_behind(tmp_path):
    """Hypothesis keeps caches in ./.hypothesis by default; `check` keeps them out of the user's folder."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "HYPOTHESIS_STORAGE_DIRECTORY"}
    done = subprocess.run([sys.executable, "-m", "migma_contract.cli", "check", "--max-requests", "200", "--format", "json"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr
    assert not (tmp_path / ".hypothesis").exists()


@pytest.mark.e2e
def test_a_check_runs_no_hypothesis_plugin(tmp_path):
    """What a check sends depends on its seed, not on which installed package hooks Hypothesis's
    import (a hook may load a settings profile); and finding them scans every distribution's entry points."""
    import os
    import subprocess
    import sys

    site = tmp_path / "site"
    (site / "hookplug-1.0.dist-info").mkdir(parents=True)
    (site / "hookplug-1.0.dist-info" / "METADATA").write_text("Metadata-Version: 2.1\nName: hookplug\nVersion: 1.0\n")
    (site / "hookplug-1.0.dist-info" / "entry_points.txt").write_text("[hypothesis]\nhook = hookplug:hook\n")
    marker = tmp_path / "hook-ran"
    (site / "hookplug.py").write_text(f"def hook():\n    open({str(marker)!r}, 'w').close()\n")
    env = {k: v for k, v in os.environ.items() if k != "HYPOTHESIS_NO_PLUGINS"}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(site), env.get("PYTHONPATH")) if p)
    probe = subprocess.run([sys.executable, "-c", "import hypothesis"], env=env, capture_output=True, text=True, timeout=120)
    assert probe.returncode == 0 and marker.exists(), probe.stderr  # the plugin is found when Hypothesis is imported elsewhere
    marker.unlink()
    done = subprocess.run([sys.executable, "-m", "migma_contract.cli", "check", "--max-requests", "200", "--format", "json",
                           "--report-dir", str(tmp_path / "reports")], cwd=tmp_path, capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr
    assert "exploring with the remaining budget" in done.stderr  # Hypothesis was imported: the check explored
    assert not marker.exists()
