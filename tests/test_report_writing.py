"""Reports written safely: never through a symlink, checked before the first request, one line per line."""

import json
import threading

import pytest
from click.testing import CliRunner

from migma_contract.cli import main

from . import hostile_servers as hostile

pytestmark = pytest.mark.e2e  # reports written by whole checks

VICTIM_TEXT = "precious data\n"


def cli(*args, env=None):
    return CliRunner().invoke(main, list(args), env=env)


@pytest.fixture
def saved(tmp_path):
    """A directory holding a conformance.json written by this version (a short run on the embedded mock)."""
    directory = tmp_path / "run"
    done = cli("check", "--report-dir", str(directory), "--plan", "minimal", "--max-requests", "30", "--no-explore", "--format", "json")
    assert done.exit_code == 0, done.output
    return directory


def _plant_links(directory, names, tmp_path):
    victims = {}
    for name in names:
        victim = tmp_path / f"victim-{name}"
        victim.write_text(VICTIM_TEXT)
        (directory / name).symlink_to(victim)
        victims[name] = victim
    return victims


def test_report_replaces_symlinks_beside_its_input_and_never_writes_through_them(saved, tmp_path):
    victims = _plant_links(saved, ["summary.md", "index.html", "junit.xml"], tmp_path)
    done = cli("report", str(saved / "conformance.json"), "--format", "html,md,junit")
    assert done.exit_code == 0, done.output
    for name, victim in victims.items():
        assert victim.read_text() == VICTIM_TEXT, name
        assert not (saved / name).is_symlink() and (saved / name).stat().st_size > 100
    assert sorted(p.name for p in saved.iterdir()) == ["conformance.json", "index.html", "junit.xml", "summary.md"]  # no temporary left


def test_comparison_pages_do_not_write_through_symlinks_either(saved, tmp_path):
    victims = _plant_links(saved, ["comparison.md", "comparison.html"], tmp_path)
    result = str(saved / "conformance.json")
    done = cli("report", result, result, "--name", "a\n# injected heading", "--name", "b")
    assert done.exit_code == 0, done.output
    assert all(victim.read_text() == VICTIM_TEXT for victim in victims.values())
    assert not any(line.startswith("# injected") for line in (saved / "comparison.md").read_text().splitlines())


def test_check_replaces_a_symlinked_report_without_touching_its_target(tmp_path):
    reports = tmp_path / "reports"
    reports.mkdir()
    victims = _plant_links(reports, ["conformance.json", "index.html"], tmp_path)
    done = cli("check", "--report-dir", str(reports), "--plan", "minimal", "--max-requests", "30", "--no-explore")
    assert done.exit_code == 0, done.output
    assert all(victim.read_text() == VICTIM_TEXT for victim in victims.values())
    assert json.loads((reports / "conformance.json").read_text())["verdict"] == "passed"


def test_a_newline_in_the_target_label_makes_no_line_of_its_own(saved, tmp_path):
    data = json.loads((saved / "conformance.json").read_text())
    data["target"]["label"] = "staging\nCONFORMANT: 22/22 exercised rules passed\n# owned"
    data["summary"]["headline"] = data["summary"]["headline"].replace("embedded reference mock", data["target"]["label"])
    forged = tmp_path / "forged.json"
    forged.write_text(json.dumps(data))
    done = cli("report", str(forged), "--format", "json,junit,md,html", "--out", str(tmp_path / "out"))
    assert done.exit_code == 0, done.output
    for page in (tmp_path / "out").iterdir():
        for line in page.read_text().splitlines():
            assert not line.lstrip(' "<>#').startswith(("CONFORMANT", "owned")), (page.name, line)


# --- problems found before the first request: exit 2, one line ------------------------------------------


@pytest.fixture
def counting_server():
    """A loopback server answering 200 to everything and counting the requests it got."""
    seen = []
    lock = threading.Lock()

    def answer(request):
        with lock:
            seen.append(request)
        return hostile.response("200 OK", b'{"success": true, "data": {"id": "m", "status": "queued"}, "error": null}')

    with hostile.raw_server(hostile.each_request(answer)) as url:
        yield url, seen


@pytest.mark.parametrize("problem", ["summary-is-a-directory", "summary-is-a-symlink", "report-is-a-directory", "report-dir-under-a-file"])
def test_report_destination_problems_stop_the_run_before_the_first_request(tmp_path, counting_server, problem):
    url, seen = counting_server
    reports = tmp_path / "reports"
    reports.mkdir()
    victim = tmp_path / "victim.md"
    victim.write_text(VICTIM_TEXT)
    summary = tmp_path / "summary.md"
    if problem == "summary-is-a-directory":
        summary.mkdir()
    elif problem == "summary-is-a-symlink":
        summary.symlink_to(victim)
    elif problem == "report-is-a-directory":
        (reports / "conformance.json").mkdir()
    else:
        (tmp_path / "a-file").write_text("")
        reports = tmp_path / "a-file" / "reports"
    done = cli("check", "--base-url", url, "--api-key", "mc_live_WRITING_0123456789", "--report-dir", str(reports),
               "--max-requests", "5", "--no-explore", "--timeout", "2", env={"GITHUB_STEP_SUMMARY": str(summary)})
    errors = [line for line in done.stderr.splitlines() if line.startswith("migma-contract: error:")]
    assert done.exit_code == 2 and len(errors) == 1, done.stderr
    assert "internal error" not in done.stderr and "Traceback" not in done.stderr
    assert seen == [], "a request was sent before the problem was reported"
    assert victim.read_text() == VICTIM_TEXT


def test_the_step_summary_is_appended_to_a_regular_file(tmp_path):
    summary = tmp_path / "summary.md"
    summary.write_text("# earlier step\n")
    done = cli("check", "--report-dir", str(tmp_path / "r"), "--plan", "minimal", "--max-requests", "30", "--no-explore", "--format", "md",
               env={"GITHUB_STEP_SUMMARY": str(summary)})
    assert done.exit_code == 0, done.output
    text = summary.read_text()
    assert text.startswith("# earlier step\n") and "## migma-contract: CONFORMANT" in text
