"""The consumer route as a pytest-httpx or respx user expects it: what the mock saw is an
`httpx.Request` (headers case-insensitive), and the answers the toolkit draws or scripts obey
the catalogue it judges servers by (issue 22)."""

import json

import httpx
import pytest

from migma_contract.mock import create_app
from migma_contract.testing import MockHandle

pytest_plugins = ["pytester"]

BODY = {"recipientType": "email", "recipientEmail": "ada@example.com", "from": "hello@yourbrand.migma.email",
        "fromName": "Your Brand", "subject": "Hello!", "emailId": "email_welcome"}


# --- what the mock saw: headers and an httpx.Request -----------------------------------------------


def test_a_logged_request_has_its_headers_case_insensitive_and_is_an_httpx_request():
    with MockHandle() as mock:
        answer = mock.client.post("/v1/sending?trace=1", json=BODY, headers={"X-Trace": "t-1", "User-Agent": "mailer/2"})
        seen = mock.requests[-1]
    assert answer.status_code == 200
    assert isinstance(seen.headers, httpx.Headers)
    assert seen.headers["x-trace"] == seen.headers["X-TRACE"] == "t-1"
    assert seen.headers["user-agent"] == "mailer/2" and seen.headers["content-type"] == "application/json"
    request = seen.to_httpx()
    assert isinstance(request, httpx.Request) and isinstance(seen.request, httpx.Request)
    assert request.method == "POST" and str(request.url) == "http://migma-mock/v1/sending?trace=1"
    assert request.headers["x-trace"] == "t-1" and json.loads(request.content) == BODY
    assert seen.request.headers["x-trace"] == "t-1"
    # the verdict fields are kept
    assert (seen.status, seen.outcome, seen.violations, seen.user_agent, seen.body) == (200, "accepted", (), "mailer/2", BODY)


def test_routed_requests_keep_the_vendor_url_and_repeated_headers():
    with MockHandle() as mock:
        client = httpx.Client(transport=httpx.MockTransport(mock.handler))
        client.post("https://api.migma.ai/v1/sending", json=BODY,
                    headers=[("Authorization", f"Bearer {mock.full_key}"), ("X-Tag", "a"), ("X-Tag", "b")])
        seen = mock.requests[-1]
    assert str(seen.to_httpx().url) == "https://api.migma.ai/v1/sending"
    assert seen.headers.get_list("x-tag") == ["a", "b"]


def test_the_served_request_log_shows_headers_with_keys_redacted():
    with MockHandle() as mock:
        mock.client.post("/v1/sending", json=BODY, headers={"X-Trace": "t-2"})
        logged = mock.app.state.request_log[-1].as_dict()
    assert logged["headers"]["x-trace"] == "t-2"
    assert "mc_test_full_access" not in json.dumps(logged)
    assert logged["headers"]["authorization"] == "Bearer [REDACTED]"


def test_headers_count_against_the_mocks_memory_budget():
    app = create_app()
    with MockHandle(app) as mock:
        mock.client.post("/v1/sending", json=BODY)
        small = app.state.memory["bytes"]
        mock.reset()
        mock.client.post("/v1/sending", json=BODY, headers={"X-Big": "x" * 8000})
        big = app.state.memory["bytes"]
    assert big - small >= 8000


def test_many_tiny_headers_cost_what_they_hold():
    """A head of thousands of one-byte headers holds far more than its bytes: each is a tuple of two bytes objects."""
    import sys

    app = create_app()
    with MockHandle(app) as mock:
        mock.client.post("/v1/sending", json=BODY)
        plain = app.state.memory["bytes"]
        mock.reset()
        mock.client.post("/v1/sending", json=BODY, headers=[(f"x{i}", "1") for i in range(2000)])
        many = app.state.memory["bytes"]
    held = 2000 * (sys.getsizeof((b"", b"")) + 2 * sys.getsizeof(b"x1"))
    assert many - plain >= held


def test_a_consumer_test_reads_the_headers_its_client_sent(pytester):
    pytester.makepyfile(
        f"""
        def test_trace(migma_mock):
            migma_mock.client.post("/v1/sending", json={BODY!r}, headers={{"X-Trace": "abc"}})
            assert migma_mock.requests[-1].headers["x-trace"] == "abc"
            assert migma_mock.requests[-1].to_httpx().headers["X-Trace"] == "abc"
        """
    )
    pytester.runpytest_inprocess("-p", "no:cacheprovider").assert_outcomes(passed=1)


def test_a_finding_of_observed_traffic_can_be_had_as_an_httpx_request():
    import anyio

    from migma_contract.asgi import ContractMiddleware

    mock = create_app()
    app = ContractMiddleware(mock)

    async def send() -> None:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://staging.test") as client:
            await client.post("/v1/sending", json={**BODY, "recipientType": "segment"},
                              headers={"Authorization": f"Bearer {mock.config.full_key}", "X-Trace": "t-3"})

    anyio.run(send)
    [finding, *_] = app.findings
    request = finding.request.to_httpx()
    assert isinstance(request, httpx.Request) and request.method == "POST"
    assert str(request.url) == "http://staging.test/v1/sending"
    assert request.headers["X-TRACE"] == "t-3" and request.headers["authorization"] == "Bearer [REDACTED]"
    assert json.loads(request.content)["recipientType"] == "segment"


# --- the mock's 429s obey the rule it judges servers by ---------------------------------------------


def _rate_limit_broken(response):
    from migma_contract import contract_for
    from migma_contract.contract.catalogue import RATE_LIMIT_RETRY_AFTER, VENDOR_SETS

    verdict = contract_for().response_validator("documented", VENDOR_SETS).evaluate(
        response.status_code, response.headers, response.content)
    return [v.message for v in verdict.violations if v.rule_id == RATE_LIMIT_RETRY_AFTER.id]


def test_fail_next_refuses_a_fractional_retry_after_with_a_clear_error():
    with MockHandle() as mock:
        with pytest.raises(ValueError, match=r"retry_after must be a whole number of seconds .*not 0\.01.*retry_after=0"):
            mock.fail_next(429, retry_after=0.01)
        with pytest.raises(ValueError, match="whole number of seconds"):
            mock.fail_next(503, retry_after=1.5)
        mock.fail_next(429, retry_after=0)
        mock.fail_next(429, retry_after=2.0)  # a float of whole seconds is those seconds
        mock.fail_next(429)
        answers = [mock.client.post("/v1/sending", json=BODY) for _ in range(3)]
    assert [a.headers["retry-after"] for a in answers] == ["0", "2", "1"]
    assert all(_rate_limit_broken(a) == [] for a in answers)


def test_every_429_of_the_mock_carries_whole_seconds():
    from migma_contract import ConfigError

    with pytest.raises(ConfigError, match="retry_after"):
        create_app({"faults": {"failure_rate": 1.0, "failure_status": 429, "retry_after": 0.25}})
    limited = create_app({"faults": {"rate_limit": {"requests": 1, "per_seconds": 0.5}}})
    with MockHandle(limited) as mock:
        mock.client.post("/v1/sending", json=BODY)
        answer = mock.client.post("/v1/sending", json=BODY)
    assert answer.status_code == 429 and answer.headers["retry-after"] == "1"  # a sub-second wait, rounded up
    assert _rate_limit_broken(answer) == []
