"""The pytest plugin: the conformance suite as pytest items, and fixtures for API consumers.

Installed with the package (entry point `pytest11`). `pytest --migma-conformance` adds
one test per rule of the selected level; the check itself runs once per session (on the
xdist controller when there is one, so a staging server sees each request once), and
each rule's test passes, fails with the finding, or is skipped with the reason. Without a
base URL the embedded reference mock is checked.

Fixtures: `migma_spec`, `migma_rules`, `migma_validate`, `migma_mock`, `migma_mock_server`,
`migma_target`. Settings: command line > environment (MIGMA_*) > ini / pyproject.toml.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from ._bodies import Fixtures
from ._catalogue import rules_for
from ._exceptions import MigmaContractError, TargetUnreachable
from ._options import OPTIONS, CheckOptions, resolve_options
from ._result import RunResult, Status
from ._rules import Level, Rule
from ._spec import Spec, load_spec
from ._untrusted import clean_text
from ._validators import Violation, contract_for

_RESULT_KEY = "migma_contract_result"
_OPTIONS = pytest.StashKey[CheckOptions]()


def pytest_addoption(parser: pytest.Parser) -> None:
    """The conformance switch, and one option (and ini key) per row of the options table."""
    group = parser.getgroup("migma-contract", "contract tests of the Migma.ai send endpoint (POST /v1/sending)")
    group.addoption("--migma-conformance", action="store_true", default=False,
                    help="Collect the conformance suite: one test per rule of the selected level.")
    for option in OPTIONS:
        text = f"{option.help} [env: {option.env}]"
        if option.kind == "bool":
            group.addoption(option.pytest_flag, dest=f"migma_{option.name}", default=None,
                            action="store_false" if option.negate else "store_true", help=text)
        else:
            group.addoption(option.pytest_flag, dest=f"migma_{option.name}", default=None,
                            action="append" if option.kind == "list" else "store", help=text)
        if option.ini_key:
            parser.addini(option.ini_key, help=option.help, default=None)


def plugin_options(config: pytest.Config) -> CheckOptions:
    """The check's options as the CLI would read them: command line > environment > ini > pyproject.toml."""
    if _OPTIONS not in config.stash:
        given = {option.name: config.getoption(f"migma_{option.name}") for option in OPTIONS}
        try:
            config.stash[_OPTIONS] = resolve_options(
                given,
                ini=lambda option: config.getini(option.ini_key) if option.ini_key else None,
                pyproject=config.rootpath / "pyproject.toml",
                given_label=lambda option: option.pytest_flag,
            )
        except MigmaContractError as exc:
            raise pytest.UsageError(f"migma-contract: {clean_text(exc)}") from None
    return config.stash[_OPTIONS]


# --- the conformance suite ----------------------------------------------------------------------


def _is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "migma_rule(rule_id): a test of the migma-contract conformance suite")
    for level in Level:
        config.addinivalue_line("markers", f"migma_{level.value}: a conformance rule of level {level.value}")


def _run_the_check(config: pytest.Config) -> None:
    """Run the check once and leave its result where every process can read it."""
    from ._runner import run_check
    from .reports import check_writable, write_reports

    options = plugin_options(config)
    report_dir = Path(options.report_dir)
    try:
        check_writable(report_dir, options.format)
        result = run_check(options)
    except TargetUnreachable as exc:
        pytest.exit(f"migma-contract: {clean_text(exc)}", returncode=3)
    except MigmaContractError as exc:
        raise pytest.UsageError(f"migma-contract: {clean_text(exc)}") from None
    paths = write_reports(result, report_dir, options.format)
    handle, path = tempfile.mkstemp(prefix="migma-contract-", suffix=".json")
    with os.fdopen(handle, "w", encoding="utf-8") as stream:
        json.dump(result.to_dict(), stream)
    config.stash[_PATH] = path
    config.stash[_REPORTS] = [str(p) for p in paths]
    config.stash[_HEADLINE] = result.headline


_PATH = pytest.StashKey[str]()
_REPORTS = pytest.StashKey[list]()
_HEADLINE = pytest.StashKey[str]()
_LOADED = pytest.StashKey[RunResult]()


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    config = session.config
    if not config.getoption("migma_conformance") or _is_worker(config) or config.getoption("collectonly"):
        return
    _run_the_check(config)


def pytest_configure_node(node: Any) -> None:  # xdist: hand the controller's result to each worker
    path = node.config.stash.get(_PATH, None)
    if path:
        node.workerinput["migma_contract_result"] = path


def _result(config: pytest.Config) -> RunResult:
    if _LOADED not in config.stash:
        path = config.workerinput.get("migma_contract_result") if _is_worker(config) else config.stash.get(_PATH, None)  # type: ignore[attr-defined]
        if path is None:
            raise RuntimeError("the conformance check did not run")
        config.stash[_LOADED] = RunResult.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))
    return config.stash[_LOADED]


class ContractViolation(AssertionError):
    """A rule of the contract is broken; the message is the finding."""


class RuleItem(pytest.Item):
    """One rule of the catalogue, judged by the session's conformance check."""

    def __init__(self, *, rule: Rule, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.rule = rule
        self.add_marker(pytest.mark.migma_rule(rule.id))
        self.add_marker(getattr(pytest.mark, f"migma_{rule.level.value}"))

    def runtest(self) -> None:
        result = _result(self.config)
        outcome = next((r for r in result.rules if r.id == self.rule.id), None)
        if outcome is None:
            pytest.skip(f"not checked at level {result.level}")
        if outcome.status == Status.NOT_EXERCISED:
            pytest.skip(f"not exercised: {outcome.reason}")
        if outcome.status == Status.FAILED:
            raise ContractViolation(_describe(result, self.rule.id))
        if outcome.status == Status.ACCEPTED:
            pytest.skip("known failure accepted by the baseline")

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, ContractViolation):
            return str(excinfo.value)
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[str, int, str]:
        return "migma-contract", 0, f"[{self.rule.level.value}] {self.rule.id}: {self.rule.text}"


def _describe(result: RunResult, rule_id: str) -> str:
    findings = result.findings_for(rule_id)
    outcome = next(r for r in result.rules if r.id == rule_id)
    lines = [f"{rule_id} [{outcome.level}]: {outcome.text}", f"  source:   {outcome.source}",
             f"  failed {outcome.failed} of {outcome.exercised} checks against {result.target.label}"]
    for finding in findings[:1]:
        lines += [f"  case:     {finding.case_label}", f"  expected: {finding.expected}", f"  got:      {finding.actual}"]
        if finding.attribution:
            lines.append(f"  why:      {finding.attribution}")
        lines += [f"  repro:    {finding.request.curl}", f"  response: {finding.response.status} {finding.response.body[:500]}"]
    return "\n".join(lines)


class ConformanceSuite(pytest.Collector):
    """The rules of the selected level, as items."""

    def collect(self) -> Iterator[pytest.Item]:
        level = plugin_options(self.config).level
        for rule in rules_for(level):
            yield RuleItem.from_parent(self, name=rule.id, rule=rule)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    if not config.getoption("migma_conformance"):
        return
    suite = ConformanceSuite.from_parent(session, name="migma-contract", nodeid="migma-contract")
    items.extend(suite.collect())


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    headline = config.stash.get(_HEADLINE, None)
    if headline:
        terminalreporter.write_sep("-", "migma-contract")
        terminalreporter.write_line(headline)
        for path in config.stash.get(_REPORTS, []):
            terminalreporter.write_line(f"report: {path}")


def pytest_unconfigure(config: pytest.Config) -> None:
    path = config.stash.get(_PATH, None)
    if path:
        Path(path).unlink(missing_ok=True)


# --- fixtures for API consumers ---------------------------------------------------------------------


@pytest.fixture(scope="session")
def migma_spec(pytestconfig: pytest.Config) -> Spec:
    """The OpenAPI document as the toolkit reads it (repaired, fingerprinted)."""
    return load_spec(plugin_options(pytestconfig).spec)


@pytest.fixture(scope="session")
def migma_rules(pytestconfig: pytest.Config) -> tuple[Rule, ...]:
    """The rules of the selected level."""
    return rules_for(plugin_options(pytestconfig).level)


class Validators:
    """Request and response validators at one level, with assert helpers for tests."""

    def __init__(self, spec: Spec, level: str) -> None:
        self._validators = contract_for(spec)
        self.level = level

    def request(self, body: Any) -> list[Violation]:
        return self._validators.request_validator(self.level).violations(body)

    def response(self, status: int, headers: Any, body: Any, request: Any = None) -> list[Violation]:
        return list(self._validators.response_validator(self.level).evaluate(status, dict(headers), body, request).violations)

    def assert_request(self, body: Any) -> None:
        violations = self.request(body)
        assert not violations, "request breaks the contract:\n" + "\n".join(f"  {v}" for v in violations)

    def assert_response(self, response: httpx.Response, request: Any = None) -> None:
        violations = self.response(response.status_code, response.headers, response.content, request)
        assert not violations, f"response {response.status_code} breaks the contract:\n" + "\n".join(f"  {v}" for v in violations)


@pytest.fixture(scope="session")
def migma_validate(migma_spec: Spec, pytestconfig: pytest.Config) -> Validators:
    """`migma_validate.request(body)`, `.response(status, headers, body)`, and `assert_*` helpers."""
    return Validators(migma_spec, plugin_options(pytestconfig).level)


class _MockAccess:
    """What a test reads from a reference mock, wherever it runs: keys, sends, reset."""

    app: Any

    @property
    def full_key(self) -> str:
        return self.app.config.full_key or ""

    @property
    def restricted_key(self) -> str | None:
        return self.app.config.restricted_key

    @property
    def sent(self) -> list[Any]:
        return self.app.sent

    def reset(self) -> None:
        self.app.reset()


class MockHandle(_MockAccess):
    """An in-process reference mock: `.client` (httpx.Client), `.sent`, `.reset()`, `.app`, keys."""

    base_url = "http://migma-mock"

    def __init__(self) -> None:
        from ._http.asgi import SyncASGITransport
        from .mock import create_app

        self.app = create_app()
        self.transport = SyncASGITransport(self.app)
        self.client = httpx.Client(transport=self.transport, base_url=self.base_url,
                                   headers={"Authorization": f"Bearer {self.full_key}"})


    def close(self) -> None:
        self.client.close()


@pytest.fixture(scope="session")
def _migma_mock_session() -> Iterator[MockHandle]:
    handle = MockHandle()
    yield handle
    handle.close()


@pytest.fixture
def migma_mock(_migma_mock_session: MockHandle) -> MockHandle:
    """The reference mock in-process, its recorded sends cleared for each test."""
    _migma_mock_session.reset()
    return _migma_mock_session


class ServerHandle(_MockAccess):
    """The reference mock on a loopback port: `.url`, `.sent`, `.reset()`, keys."""

    def __init__(self, app: Any, url: str) -> None:
        self.app, self.url = app, url


@pytest.fixture(scope="session")
def _migma_server_session() -> Iterator[ServerHandle]:
    from .mock import create_app

    app = create_app()
    with app.running() as url:
        yield ServerHandle(app, url)


@pytest.fixture
def migma_mock_server(_migma_server_session: ServerHandle) -> ServerHandle:
    """The reference mock served on a free loopback port (one per xdist worker), reset per test."""
    _migma_server_session.reset()
    return _migma_server_session


class TargetHandle:
    """A client for the selected target (--migma-base-url, else a loopback mock)."""

    def __init__(self, url: str, api_key: str | None, fixtures: Fixtures, validators: Validators) -> None:
        self.url = url
        self.fixtures = fixtures
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.client = httpx.Client(base_url=url, headers=headers, timeout=10.0)
        self._validators = validators

    def send(self, body: Any, **kwargs: Any) -> httpx.Response:
        """POST /v1/sending with `body`."""
        return self.client.post("/v1/sending", json=body, **kwargs)

    def check(self, response: httpx.Response, request: Any = None) -> list[Violation]:
        return self._validators.response(response.status_code, response.headers, response.content, request)


@pytest.fixture(scope="session")
def migma_target(pytestconfig: pytest.Config, migma_validate: Validators, request: pytest.FixtureRequest) -> Iterator[TargetHandle]:
    """A configured client for the selected target; without --migma-base-url, a loopback mock."""
    options = plugin_options(pytestconfig)
    if options.base_url:
        handle = TargetHandle(options.base_url, options.api_key, options.fixtures, migma_validate)
        yield handle
        handle.client.close()
        return
    server: ServerHandle = request.getfixturevalue("_migma_server_session")
    handle = TargetHandle(server.url, server.full_key, server.app.config.fixtures(), migma_validate)
    yield handle
    handle.client.close()
