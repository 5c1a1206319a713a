"""The example projects run as documented."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from migma_contract.mock import create_app
from migma_contract.wire.serve import serve_in_thread

from .faulty_servers import FAULTS

pytestmark = pytest.mark.e2e  # the examples run as a user runs them, in pytest subprocesses

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


pytest_plugins = ["pytester"]


def test_consumer_example_tests_pass(pytester):
    """examples/consumer as a user runs it (in-process): the marker, fail_next, strict mode, async, respx, pytest-httpx."""
    tests = (EXAMPLES / "consumer" / "test_mailer.py").read_text()
    for used in ("@pytest.mark.migma_mock(", "fail_next(", "async def test_", "respx_mock", "httpx_mock",
                 "def test_a_contract_breaking_request_fails_the_test(pytester)", "success_responses()", "error_responses()"):
        assert used in tests, used
    for path in (EXAMPLES / "consumer").glob("*.py"):
        pytester.makepyfile(**{path.stem: path.read_text()})
    pytester.syspathinsert()
    result = pytester.runpytest("-p", "no:cacheprovider", "-W", "error::migma_contract.testing.MigmaContractWarning")
    result.assert_outcomes(passed=tests.count("\ndef test_") + tests.count("\nasync def test_"))
    assert "warning" not in result.stdout.str().lower()


STAGING_ENV = {
    "MIGMA_CONTRACT_API_KEY": "mc_test_full_access",
    "MIGMA_CONTRACT_RESTRICTED_API_KEY": "mc_test_no_email_send",
    "MIGMA_CONTRACT_FROM": "hello@example.com",
    "MIGMA_CONTRACT_EMAIL_ID": "email_welcome",
    "MIGMA_CONTRACT_SEGMENT_ID": "seg_active",
    "MIGMA_CONTRACT_MAX_REQUESTS": "150",
}


@pytest.mark.parametrize(("app_factory", "expected", "report_dir"), [
    (lambda: create_app(), 0, "reports"),  # relative: to where the job runs, as in github-actions.yml
    (lambda: next(v for v in FAULTS if v.name == "empty-id").app(), 1, "{tmp}/reports"),
], ids=["conformant-staging", "faulty-staging"])
def test_provider_ci_job_gates_on_the_verdict(tmp_path, app_factory, expected, report_dir):
    app = app_factory()
    with serve_in_thread(app) as url:
        env = {**os.environ, **STAGING_ENV, "MIGMA_CONTRACT_BASE_URL": url, "REPORT_DIR": report_dir.format(tmp=tmp_path),
               "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
        done = subprocess.run([str(EXAMPLES / "provider-ci" / "conformance.sh")], capture_output=True, text=True, timeout=300, env=env,
                              cwd=tmp_path)
    assert done.returncode == expected, done.stdout[-3000:] + done.stderr[-2000:]
    assert "warning" not in done.stdout.lower(), done.stdout[-3000:]  # e.g. this repository's testpaths, absent from the example
    reports = {p.name for p in (tmp_path / "reports").iterdir()}
    assert {"conformance.json", "junit.xml", "summary.md", "index.html", "pytest-junit.xml"} <= reports
    if expected:
        assert "FAILED" in done.stdout and "result-has-id" in done.stdout
