"""Pass X4 (an outside attack on the configuration, the pytest plugin and the check's safety): F1, F4, F6, F7, by class."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from migma_contract.cli import main
from migma_contract.config.options import resolve_options
from migma_contract.core.exceptions import ConfigError
from migma_contract.wire.urls import client_mounts, reached_directly

from . import hostile_servers as hostile
from .faulty_servers import FAULTS, FULL_KEY

pytest_plugins = ["pytester"]

_FIXTURES = ["--migma-from", "sender@example.com", "--migma-email-id", "email_welcome", "--migma-no-explore"]


def _faulty():
    return next(v for v in FAULTS if v.name == "status-done").app()


@pytest.fixture
def _keyed_env(monkeypatch):
    for name in ("MIGMA_CONTRACT_BASE_URL", "MIGMA_CONTRACT_LEVEL", "MIGMA_CONTRACT_TRUST_CONFIG_TARGET", "PYTEST_ADDOPTS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MIGMA_CONTRACT_API_KEY", FULL_KEY)


# --- F1: an option that ends pytest before its tests, from a repository file ----------------------------------------

_INFORMING = ["--fixtures", "--funcargs", "--fixtures-per-test", "--markers", "-h", "--help", "-qh", "--cache-show"]


@pytest.mark.e2e
@pytest.mark.usefixtures("_keyed_env")
@pytest.mark.parametrize("addopts", _INFORMING)
def test_f1_a_files_information_option_cannot_end_a_keyed_run_green(pytester, addopts):
    """Pass X4, F1 (f1_info_addopts.sh): an ini's `addopts` holding `--fixtures`, `--fixtures-per-test`, `--markers`,
    `-h` or `--cache-show` ended a keyed `pytest --migma-conformance` of a faulty server with exit 0 and no check (pytest
    prints and returns before the test loop, where the plugin's file-selection guard sat). Now a usage error, one line."""
    from migma_contract.wire.serve import serve_in_thread

    pytester.makeini(f"[pytest]\naddopts = {addopts}\n")
    with serve_in_thread(_faulty()) as url:
        result = pytester.runpytest("--migma-conformance", "--migma-base-url", url, *_FIXTURES)
    assert result.ret == pytest.ExitCode.USAGE_ERROR, result.stdout.str()
    assert "end the session before its tests" in result.stderr.str() and FULL_KEY not in result.stderr.str()


@pytest.mark.e2e
@pytest.mark.usefixtures("_keyed_env")
def test_f1_through_an_at_file_and_under_xdist_and_a_rules_node_id(pytester):
    """Pass X4, F1: the same through an `@file` that `addopts` names, with `-n 2`, and for a `migma-contract::<rule>`
    session without `--migma-conformance`."""
    from migma_contract.wire.serve import serve_in_thread

    pytester.path.joinpath("opts.txt").write_text("--markers\n")
    pytester.makeini("[pytest]\naddopts = @opts.txt\n")
    with serve_in_thread(_faulty()) as url:
        xdist = pytester.runpytest("--migma-conformance", "--migma-base-url", url, *_FIXTURES, "-n", "2")
        node = pytester.runpytest("migma-contract::result-status-known", "--migma-base-url", url, *_FIXTURES)
    for result in (xdist, node):
        assert result.ret == pytest.ExitCode.USAGE_ERROR, result.stdout.str()
        assert "end the session before its tests" in result.stderr.str()


@pytest.mark.e2e
@pytest.mark.usefixtures("_keyed_env")
def test_f1_whatever_else_ends_pytest_before_the_check_is_no_pass(pytester):
    """Pass X4, F1, the class: any other way pytest ends before its tests with exit 0 (here `--version --version`
    from a file, which never reaches the plugin's configure; a conftest's `pytest.exit(returncode=0)` alike) is exit 3,
    said on stderr: a session asked for the check never exits 0 without its verdict."""
    pytester.makeini("[pytest]\naddopts = --version --version\n")
    result = pytester.runpytest("--migma-conformance", "--migma-base-url", "http://127.0.0.1:9", *_FIXTURES)
    assert result.ret == 3, result.stdout.str()
    assert "the check did not run" in result.stderr.str()
    pytester.makeini("[pytest]\n")
    pytester.makeconftest("import pytest\n\ndef pytest_sessionstart(session):\n    pytest.exit('bye', returncode=0)\n")
    result = pytester.runpytest("--migma-conformance", "--migma-base-url", "http://127.0.0.1:9", *_FIXTURES)
    assert result.ret == 3, result.stdout.str()


@pytest.mark.e2e
@pytest.mark.usefixtures("_keyed_env")
@pytest.mark.parametrize("typed", [["--help"], ["--fixtures"], ["--markers"], ["--co", "-q"], ["-qh"]])
def test_f1_the_users_own_information_option_does_what_pytest_does(pytester, typed):
    """Pass X4, F1: typed on the command line (or with a file's own such option beside it), pytest's options do what
    pytest does: they print, and exit 0, with no check."""
    pytester.makeini("[pytest]\naddopts = --markers\n")
    result = pytester.runpytest("--migma-conformance", "--migma-base-url", "http://127.0.0.1:9", *_FIXTURES, *typed)
    assert result.ret == pytest.ExitCode.OK, result.stdout.str() + result.stderr.str()
    assert "check did not run" not in result.stderr.str()


# --- F4: every rule deselected, with xdist or without -----------------------------------------------------------------

@pytest.mark.e2e
@pytest.mark.usefixtures("_keyed_env")
@pytest.mark.parametrize("xdist", [[], ["-n", "2"]], ids=["alone", "xdist"])
def test_f4_every_rule_deselected_still_checks_and_the_verdict_decides(pytester, xdist):
    """Pass X4, F4 (f4_all_deselected.sh): `pytest --migma-conformance -k test_ok` (no rule selected) sent nothing and
    exited 0 against a faulty server, while with `-n 2` the check ran (exit 1). docs/pytest.md: the session's exit
    status is the check's verdict, whatever items were selected: both run it, both exit 1."""
    from migma_contract.wire.serve import serve_in_thread

    pytester.makepyfile(test_a="def test_ok():\n    pass\n")
    with serve_in_thread(_faulty()) as url:
        result = pytester.runpytest("-p", "no:cacheprovider", "--migma-conformance", "--migma-base-url", url, *_FIXTURES,
                                    "-k", "test_ok", *xdist)
    assert result.ret == pytest.ExitCode.TESTS_FAILED, result.stdout.str()
    result.stdout.fnmatch_lines(["*NOT CONFORMANT*", "*rule(s) left out of this pytest session*"])


# --- F6: a recipient domain with the DNS root's dot -------------------------------------------------------------------

@pytest.mark.parametrize("domain", ["example.com.", "example.com..", ".example.com", "example..com"])
def test_f6_a_recipient_domain_no_address_can_hold_is_refused_where_it_is_given(domain):
    """Pass X4, F6 (f6_recipient_domain_dot.sh): `--recipient-domain example.com.` was accepted; every generated valid
    send then held an address the toolkit itself reads as invalid, and the run was INCOMPLETE with a misleading reason.
    A domain no email address can hold (a trailing or leading dot, an empty label) is a one-line usage error."""
    with pytest.raises(ConfigError, match=r"recipient-domain.*must be a domain such as example\.com"):
        resolve_options({"recipient_domain": domain}, environ={})
    result = CliRunner().invoke(main, ["check", "--recipient-domain", domain, "--dry-run"])
    assert result.exit_code == 2 and "must be a domain such as example.com" in result.output, result.output
    assert "Traceback" not in result.output


def test_f6_a_rules_unjudged_cases_are_worded_from_what_came_back():
    """Pass X4, F6: a rule whose 35 cases were all answered 400 (by the judge, no answer its case is judged by) was
    said to have got "no answer that judges it (a 5xx, or none)". The reason now says what came back."""
    from collections import Counter

    from migma_contract.contract.catalogue import NO_SERVER_ERROR
    from migma_contract.run.runner import _answers

    four = _answers(Counter({400: 35}))
    assert "35 x 400" in four and "5xx" not in four and NO_SERVER_ERROR.id not in four
    server = _answers(Counter({None: 2, 503: 1}))
    assert "2 x no answer" in server and "1 x 503" in server and NO_SERVER_ERROR.id in server


# --- F7: the environment's proxy and a loopback target ----------------------------------------------------------------

_PROXY_NAMES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")


@pytest.fixture
def environment_proxy(monkeypatch):
    """A proxy the environment names for every scheme (NO_PROXY unset, as on many self-hosted runners); it records each
    request that reaches it and answers 502."""
    seen: list[bytes] = []

    def record(request: bytes) -> bytes:
        seen.append(request)
        return hostile.response("502 Bad Gateway", b'{"via": "the proxy"}')

    for name in (*_PROXY_NAMES, "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    with hostile.raw_server(hostile.each_request(record)) as url:
        for name in _PROXY_NAMES:
            monkeypatch.setenv(name, url)
        yield seen


@pytest.mark.parametrize("url, direct", [
    ("http://127.0.0.1:9", True), ("http://127.1:9", True), ("http://[::1]:9", True), ("http://[::ffff:127.0.0.1]:9", True),
    ("http://localhost:9", True), ("http://LOCALHOST.:9", True), ("http://api.localhost:9", True), ("http://0x7f.1:9", True),
    ("http://0.0.0.0:9", True), ("http://[::]:9", True),
    ("https://staging.example.com", False), ("http://10.0.0.5", False), ("http://localhost.example.com", False),
])
def test_f7_a_loopback_target_in_any_spelling_is_reached_directly(url, direct):
    """Pass X4, F7: which targets the clients reach themselves, never through an environment proxy (a loopback host in
    any spelling the lookup reads so); another target keeps the environment's proxies (no mounts of the toolkit's)."""
    assert reached_directly(url) is direct
    assert client_mounts(url) == ({"http://": None, "https://": None, "all://": None} if direct else {})


@pytest.mark.e2e
def test_f7_a_repository_files_loopback_target_never_gets_the_key_through_the_environment_proxy(
        tmp_path, monkeypatch, environment_proxy):
    """Pass X4, F7 (f7_loopback_via_env_proxy.sh): a pyproject's `base-url = "http://127.0.0.1:<port>"` (allowed with the
    user's key because it is loopback) was sent through HTTP_PROXY: the key travelled in clear text to the proxy host,
    which delivered it to a service on its own loopback. The check reaches the loopback target directly (the plan's
    async client and exploration's blocking one): the proxy sees nothing, the mock every request."""
    from migma_contract.mock import create_app
    from migma_contract.wire.serve import serve_in_thread

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MIGMA_CONTRACT_API_KEY", FULL_KEY)
    monkeypatch.delenv("MIGMA_CONTRACT_TRUST_CONFIG_TARGET", raising=False)
    app = create_app()
    with serve_in_thread(app) as url:
        (tmp_path / "pyproject.toml").write_text(f'[tool.migma-contract]\nbase-url = "{url}"\n')
        result = CliRunner().invoke(main, ["check", "--from", "sender@example.com", "--email-id", "email_welcome",
                                           "--max-requests", "220"])
    assert environment_proxy == []
    assert result.exit_code == 0, result.output
    assert len(app.requests) > 0


@pytest.mark.e2e
def test_f7_the_pytest_fixtures_clients_reach_the_loopback_mock_directly(pytester, environment_proxy):
    """Pass X4, F7: `migma_mock_server`'s clients (sync and async) and `migma_target`'s (a loopback mock by default)
    went through HTTP_PROXY: the proxy's 502 in place of the mock's answer, and the mock's key sent to the proxy."""
    pytester.makepyfile(test_clients="""
        import anyio
        import pytest

        @pytest.mark.migma_mock(assert_all_requests_valid=False)
        def test_server(migma_mock_server):
            assert migma_mock_server.client.post("/v1/sending", json={}).status_code == 400

            async def post():
                return (await migma_mock_server.async_client.post("/v1/sending", json={})).status_code

            assert anyio.run(post) == 400

        def test_target(migma_target):
            assert migma_target.send({}).status_code == 400
    """)
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)
    assert environment_proxy == []
