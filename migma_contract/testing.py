"""Test doubles for code that calls POST /v1/sending: the reference mock as handles for tests.

The pytest plugin hands these out as fixtures (`migma_mock`, `migma_mock_server`,
`migma_validate`, `migma_target`); they are public so that every method is documented,
and usable without pytest. What each test gets, the way pytest-httpx and respx do it:

- **a clean mock**: nothing sent, nothing scripted, the session's world; and fresh clients
  (`.client`, `.async_client`) that the code under test may close;
- **per-test control**: `@pytest.mark.migma_mock(world=..., faults=..., level=...)` or
  `configure(...)`, and scripted answers: `fail_next(503, times=2)`,
  `fail_next(429, retry_after=0)`, `fail_next(503, processed=True)` (the send went out, its
  answer failed: a retry under the same Idempotency-Key is a replay);
- **a strict consumer mode**: every request is judged; one that breaks the contract fails
  the test at teardown with the rules it broke (opt out with
  `@pytest.mark.migma_mock(assert_all_requests_valid=False)`); a rule above the run's
  level (an unknown field below `strict`) is a `MigmaContractWarning` instead, and so is a
  request the one judge reads in part (a media type other than `application/json`, a content
  coding, a field given twice, a body it does not read: refused 415/401/400 as a strict server
  may, no party blamed);
- **routing** for code that builds its own client against `https://api.migma.ai`:
  `route_respx(respx_mock)`, `route_httpx_mock(httpx_mock)`, or `handler` as the side
  effect or callback of any mocking library.

    def test_retries_then_sends(migma_mock):
        migma_mock.fail_next(503, times=2)
        send_welcome(migma_mock.client, "ada@example.com")
        assert [r.status for r in migma_mock.requests] == [503, 503, 200]
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import httpx

from migma_contract.contract.validators import ResponseViolations, Violation, contract_for, validate_response
from migma_contract.mock import MockConfig, MockRequest, ReferenceMock, SentRecord, create_app
from migma_contract.wire.urls import api_root, client_mounts, guard_production

__all__ = [
    "VENDOR_BASE_URL",
    "ContractBreach",
    "MigmaContractWarning",
    "MockControl",
    "MockHandle",
    "ServerHandle",
    "TargetHandle",
    "Validators",
    "api_root",
    "production_guard",
]

VENDOR_BASE_URL = "https://api.migma.ai"
OPERATION_PATH = "/v1/sending"


class ContractBreach(AssertionError):
    """Requests or responses that break the contract; the message names each rule broken."""


class MigmaContractWarning(UserWarning):
    """A request breaks a rule above the run's level (e.g. an unknown field below `strict`), or is one the one judge
    reads in part (a server may read it otherwise: refused as a strict server may, no party blamed)."""


def production_guard(url: str, *, allow_production: bool, servers: list[str]) -> None:
    """Refuse a base URL on the document's production host unless it is allowed on purpose."""
    guard_production(url, servers, allowed=allow_production,
                     option="--migma-allow-production (or MIGMA_CONTRACT_ALLOW_PRODUCTION=1)")


class MockControl:
    """What a test does with a reference mock, wherever it runs: inspect, configure, script, route."""

    base_url: str

    def __init__(self, app: ReferenceMock, portal: Any = None) -> None:
        self.app = app
        self._base = app.config
        self._owned_portal: AbstractContextManager[Any] | None = None
        if portal is None:
            from anyio.from_thread import start_blocking_portal

            self._owned_portal = start_blocking_portal()
            portal = self._owned_portal.__enter__()
        self._portal = portal
        self._clients: list[httpx.Client] = []
        self._async_clients: list[httpx.AsyncClient] = []
        self.assert_all_requests_valid = True

    # -- keys and addresses -------------------------------------------------------------------

    @property
    def full_key(self) -> str:
        """A key with `email:send` in the mock's current world."""
        return self.app.config.full_key or ""

    @property
    def restricted_key(self) -> str | None:
        """A valid key without `email:send` (403), if the world has one."""
        return self.app.config.restricted_key

    @property
    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.full_key}"}

    @property
    def api_url(self) -> str:
        """The base URL with `/v1`, for clients written to post to `/sending`."""
        return self.base_url + "/v1"

    # -- what was sent ------------------------------------------------------------------------

    @property
    def config(self) -> MockConfig:
        return self.app.config

    @property
    def sent(self) -> list[SentRecord]:
        """Accepted sends, oldest first: resolved recipients, transactional or not, List-Unsubscribe."""
        return self.app.sent

    @property
    def requests(self) -> list[MockRequest]:
        """Every request the mock received, oldest first, each with its status, outcome and violations, and what
        the client sent as pytest-httpx and respx show it: `.headers` (case-insensitive), `.to_httpx()`."""
        return self.app.requests

    @property
    def rejected(self) -> list[MockRequest]:
        """The requests that break the contract (what strict consumer mode fails a test for)."""
        return self.app.rejected

    # -- control ------------------------------------------------------------------------------

    def configure(self, world: str | Path | dict[str, Any] | None = None, **sections: Any) -> MockConfig:
        """Change the world or faults for the rest of this test (see `ReferenceMock.configure`)."""
        return self.app.configure(world, **sections)

    def fail_next(self, status: int = 503, *, times: int = 1, retry_after: float | None = None, error: str | None = None,
                  processed: bool = False) -> None:
        """Answer the next `times` sends with `status`, then normally (see `ReferenceMock.fail_next`).

        `processed=True`: the send goes out first and only its answer fails (a gateway giving up
        after the API's work), so a test proves its client's retries reuse one `Idempotency-Key`
        and mail once: `sent` holds one send, the retry is a replay.
        """
        self.app.fail_next(status, times=times, retry_after=retry_after, error=error, processed=processed)

    def reset(self) -> None:
        """Forget what was sent and scripted (the world stays as configured)."""
        self.app.reset()

    def check_requests(self) -> None:
        """Raise `ContractBreach` if any request so far broke the contract."""
        __tracebackhide__ = True
        message = self.breaches()
        if message:
            raise ContractBreach(message)

    def breaches(self) -> str | None:
        """What the strict consumer mode reports: the contract-breaking requests, or None."""
        rejected = self.rejected
        if not rejected:
            return None
        count = f"{len(rejected)} request{'s' if len(rejected) > 1 else ''}"
        lines = [f"the code under test sent {count} that break{'s' if len(rejected) == 1 else ''} the contract of POST {OPERATION_PATH}:"]
        lines += [f"  {r.describe()}" for r in rejected]
        lines.append("(a test that sends them on purpose: @pytest.mark.migma_mock(assert_all_requests_valid=False))")
        return _masked("\n".join(lines))

    def warnings(self) -> list[str]:
        """Rules above the mock's level that requests broke (each once)."""
        seen: dict[str, None] = {}
        for request in self.requests:
            for warning in request.warnings:
                seen.setdefault(f"{request.method} {request.path}: {warning}", None)
        return list(seen)

    def start_test(self, *, world: str | Path | dict[str, Any] | None = None, assert_all_requests_valid: bool = True,
                   **sections: Any) -> None:
        """Begin a test: the session's world, nothing recorded or scripted, then this test's overrides."""
        self.finish_test()
        self.app.config = self._base
        self.app.reset()
        if world is not None or sections:
            self.app.configure(world, **sections)
        self.assert_all_requests_valid = assert_all_requests_valid

    def finish_test(self) -> None:
        """Close the clients handed out during the test (the code under test may have closed them already)."""
        for client in self._clients:
            client.close()
        self._clients.clear()
        self._async_clients.clear()  # in-process ASGI clients hold no connection; nothing to await

    def close(self) -> None:
        """Close the clients, and the event-loop thread the handle started (if it started one)."""
        self.finish_test()
        if self._owned_portal is not None:
            owned, self._owned_portal = self._owned_portal, None
            owned.__exit__(None, None, None)

    def __enter__(self) -> MockControl:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- routing a client built by the code under test ------------------------------------------

    def handler(self, request: httpx.Request) -> httpx.Response:
        """Answer `request` with the mock, in-process (a respx side effect, a pytest-httpx callback).

        Synchronous, so it serves sync and async clients alike; the path is kept as sent,
        so a base URL with or without `/v1` reaches `/v1/sending` the way the real API does.
        """
        from migma_contract.wire.asgi_transport import SyncASGITransport

        try:
            content = request.content
        except httpx.RequestNotRead:
            content = request.read()
        forwarded = httpx.Request(request.method, request.url, headers=request.headers, content=content)
        with SyncASGITransport(self.app, portal=self._portal) as transport:
            response = transport.handle_request(forwarded)
        return httpx.Response(response.status_code, headers=response.headers, content=response.content, request=request)

    async def async_handler(self, request: httpx.Request) -> httpx.Response:
        """`handler` for async code, run on the caller's event loop."""
        content = await request.aread()
        forwarded = httpx.Request(request.method, request.url, headers=request.headers, content=content)
        response = await httpx.ASGITransport(app=self.app).handle_async_request(forwarded)
        body = await response.aread()
        return httpx.Response(response.status_code, headers=response.headers, content=body, request=request)

    def route_respx(self, router: Any, base_url: str = VENDOR_BASE_URL) -> Any:
        """Route every request to `base_url` (with or without `/v1`) through `router` (respx) to the mock."""
        return router.route(url__startswith=api_root(base_url) + "/").mock(side_effect=self.handler)

    def route_httpx_mock(self, httpx_mock: Any, base_url: str = VENDOR_BASE_URL) -> None:
        """Answer every request to `base_url` (with or without `/v1`) caught by pytest-httpx with the mock."""
        pattern = re.compile(re.escape(api_root(base_url)) + r"(/.*)?")
        httpx_mock.add_callback(self.handler, url=pattern, is_reusable=True, is_optional=True)


class MockHandle(MockControl):
    """The reference mock in-process: `.client` / `.async_client` already authorised, no port."""

    base_url = "http://migma-mock"

    def __init__(self, app: ReferenceMock | None = None, portal: Any = None) -> None:
        super().__init__(app or create_app(), portal)
        self._client: httpx.Client | None = None
        self._async_client: httpx.AsyncClient | None = None

    @property
    def transport(self) -> httpx.BaseTransport:
        """A new synchronous transport into the mock, for an `httpx.Client` of your own."""
        from migma_contract.wire.asgi_transport import SyncASGITransport

        return SyncASGITransport(self.app, portal=self._portal)

    @property
    def async_transport(self) -> httpx.AsyncBaseTransport:
        """A transport into the mock for an `httpx.AsyncClient` of your own."""
        return httpx.ASGITransport(app=self.app)

    @property
    def client(self) -> httpx.Client:
        """An authorised `httpx.Client` to the mock; a new one if the code under test closed it."""
        if self._client is None or self._client.is_closed:
            self._client = self.new_client()
        return self._client

    @property
    def async_client(self) -> httpx.AsyncClient:
        """An authorised `httpx.AsyncClient` to the mock; a new one if the code under test closed it."""
        if self._async_client is None or self._async_client.is_closed:
            self._async_client = httpx.AsyncClient(transport=self.async_transport, base_url=self.base_url,
                                                   headers=self.auth_headers)
            self._async_clients.append(self._async_client)
        return self._async_client

    def new_client(self, **options: Any) -> httpx.Client:
        """Another authorised client (closed at the end of the test); `options` go to `httpx.Client`."""
        options = {"base_url": self.base_url, "headers": self.auth_headers, **options}
        client = httpx.Client(transport=self.transport, **options)
        self._clients.append(client)
        return client

    def finish_test(self) -> None:
        super().finish_test()
        self._client = self._async_client = None


class ServerHandle(MockControl):
    """The reference mock on a loopback port: `.url`, and clients that really connect to it."""

    def __init__(self, app: ReferenceMock, url: str, portal: Any = None) -> None:
        super().__init__(app, portal)
        self.url = self.base_url = url
        self._client: httpx.Client | None = None
        self._async_client: httpx.AsyncClient | None = None

    @property
    def client(self) -> httpx.Client:
        if self._client is None or self._client.is_closed:
            self._client = httpx.Client(base_url=self.url, headers=self.auth_headers, mounts=client_mounts(self.url))
            self._clients.append(self._client)
        return self._client

    @property
    def async_client(self) -> httpx.AsyncClient:
        if self._async_client is None or self._async_client.is_closed:
            self._async_client = httpx.AsyncClient(base_url=self.url, headers=self.auth_headers, mounts=client_mounts(self.url))
            self._async_clients.append(self._async_client)
        return self._async_client

    def finish_test(self) -> None:
        super().finish_test()
        self._client = self._async_client = None


def _masked(message: str) -> str:
    """A failure message with the user's own keys (`user_secrets`) masked: a server may echo them."""
    from migma_contract.config.options import user_redactor

    return str(user_redactor().text(message))


class Validators:
    """Request and response validators at one level, with assert helpers for tests."""

    def __init__(self, spec: Any = None, level: str = "documented") -> None:
        self._validators = contract_for(spec)
        self.level = level

    def request(self, body: Any) -> list[Violation]:
        """The rules of the level that `body` breaks."""
        return self._validators.request_validator(self.level).violations(body)

    def response(self, status: int, headers: Mapping[str, str], body: Any, request: Any = None) -> ResponseViolations:
        """The response rules of the level that this answer breaks (`body`: raw bytes or parsed JSON), as
        `validate_response` answers: when the body was not read, `unread` says why (judged in part, never falsy)."""
        return validate_response(status, headers, body, request, self.level, spec=self._validators.spec)

    def assert_request(self, body: Any) -> None:
        """Fail with every rule `body` breaks."""
        __tracebackhide__ = True
        violations = self.request(body)
        if violations:
            raise ContractBreach(_masked("the request breaks the contract:\n" + "\n".join(f"  {v}" for v in violations)))

    def assert_response(self, response: httpx.Response, request: Any = None) -> None:
        """Fail with every rule the response breaks (`request`: the body sent, for rules that compare)."""
        __tracebackhide__ = True
        violations = self.response(response.status_code, response.headers, response.content, request)
        if violations:
            said = [f"  {v}" for v in violations]
            if violations.unread is not None:  # judged in part: no pass (every way in says so)
                said.append(f"  not judged ({', '.join(violations.unjudged)}): {violations.unread}")
            raise ContractBreach(_masked(f"the {response.status_code} response "
                                         + ("breaks the contract" if len(violations) else "was judged in part only")
                                         + ":\n" + "\n".join(said)))


class TargetHandle:
    """A client for the selected target (a real server, or a loopback mock)."""

    def __init__(self, url: str, api_key: str | None, fixtures: Any, validators: Validators, timeout: float = 10.0) -> None:
        self.url = api_root(url)
        self.fixtures = fixtures
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        # a loopback target is reached directly, never through the environment's HTTP_PROXY (pass X4, F7)
        self.client = httpx.Client(base_url=self.url, headers=headers, timeout=timeout, mounts=client_mounts(self.url))
        self._validators = validators

    def send(self, body: Any, **kwargs: Any) -> httpx.Response:
        """POST /v1/sending with `body`."""
        return self.client.post(OPERATION_PATH, json=body, **kwargs)

    def check(self, response: httpx.Response, request: Any = None) -> ResponseViolations:
        """The response rules this answer breaks."""
        return self._validators.response(response.status_code, response.headers, response.content, request)

    def close(self) -> None:
        self.client.close()
