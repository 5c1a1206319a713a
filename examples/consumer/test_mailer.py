"""A consumer's tests of `mailer.py`, with the migma-contract fixtures, marker and strategies.

Nothing here talks to the real API. `migma_mock` is the reference mock in-process, clean
for every test; a request the contract forbids fails the test that sent it (strict
consumer mode). `migma_mock_server` is the same on a loopback port.
"""

import textwrap
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from mailer import SendError, async_send, make_client, parse_result, segment_request, send, welcome_request

from migma_contract.strategies import error_responses, success_responses, valid_requests

pytest_plugins = ["pytester"]

FIXTURE_SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


# --- what the app sends -----------------------------------------------------------------------------


def test_welcome_mail_is_a_valid_request(migma_validate):
    migma_validate.assert_request(welcome_request("ada@example.com", "email_welcome"))


def test_welcome_mail_is_queued_for_the_right_recipient(migma_mock):
    result = send(migma_mock.client, welcome_request("ada@example.com", "email_welcome"))
    assert result["status"] == "queued"
    [sent] = migma_mock.sent
    assert sent.recipients == ("ada@example.com",) and sent.transactional and not sent.list_unsubscribe


def test_segment_news_skips_unsubscribed_and_bounced_contacts(migma_mock):
    result = send(migma_mock.client, segment_request("seg_active", "email_newsletter"))
    [sent] = migma_mock.sent
    assert result["sentCount"] == len(sent.recipients) == 2
    assert sent.excluded == {"ken@example.com": "unsubscribed", "barbara@example.com": "bounced"}


@pytest.mark.migma_mock(assert_all_requests_valid=False)  # this test sends a broken request on purpose
def test_errors_surface_every_violation(migma_mock):
    body = segment_request("seg_active", "email_welcome")
    del body["recipientId"]
    body["fromName"] = None
    with pytest.raises(SendError, match="fromName") as refused:
        send(migma_mock.client, body)
    assert [v["rule"] for v in refused.value.violations] == ["field-types", "batch-needs-recipientId"]
    assert migma_mock.sent == [] and len(migma_mock.rejected) == 1


@pytest.mark.migma_mock(level="strict", assert_all_requests_valid=False)
def test_a_misspelt_field_is_refused_at_strict(migma_mock):
    body = {**welcome_request("ada@example.com", "email_welcome"), "reply_to": "help@example.com"}
    with pytest.raises(SendError, match="did you mean replyTo"):
        send(migma_mock.client, body)


@pytest.mark.migma_mock(world={"verified_domains": ["news.example.com"]})
def test_only_verified_sender_domains(migma_mock):
    send(migma_mock.client, welcome_request("ada@example.com", "email_welcome", sender="hi@news.example.com"))
    with pytest.raises(SendError, match="not verified"):
        send(migma_mock.client, welcome_request("ada@example.com", "email_welcome"))


def test_the_app_may_close_the_client(migma_mock):
    with migma_mock.client as client:  # app code that owns its client
        send(client, welcome_request("ada@example.com", "email_welcome"))
    send(migma_mock.client, welcome_request("grace@example.com", "email_welcome"))  # a fresh one
    assert len(migma_mock.sent) == 2


def test_works_over_http_too(migma_mock_server):
    with make_client(migma_mock_server.full_key, migma_mock_server.url + "/v1") as client:
        send(client, welcome_request("grace@example.com", "email_welcome"))
    assert [r.recipients for r in migma_mock_server.sent] == [("grace@example.com",)]


# --- retries -------------------------------------------------------------------------------------------


def test_retries_503_then_succeeds(migma_mock):
    migma_mock.fail_next(503, times=2)
    waits = []
    send(migma_mock.client, welcome_request("ada@example.com", "email_welcome"), sleep=waits.append)
    assert [r.status for r in migma_mock.requests] == [503, 503, 200]
    assert waits == [0.05, 0.1] and len(migma_mock.sent) == 1


def test_a_retried_send_reuses_its_key_and_mails_once(migma_mock):
    migma_mock.fail_next(503, processed=True)  # the API sent the mail, then a gateway answered 503
    result = send(migma_mock.client, welcome_request("ada@example.com", "email_welcome"), sleep=lambda s: None)
    first, retry = migma_mock.requests
    assert (first.status, retry.status, retry.outcome) == (503, 200, "replayed")
    assert first.idempotency_key and retry.idempotency_key == first.idempotency_key
    [sent] = migma_mock.sent  # one mail, and the retry got its answer
    assert result["id"] == sent.id


def test_without_a_key_the_same_retry_would_mail_twice(migma_mock):
    migma_mock.fail_next(503, processed=True)
    body = welcome_request("ada@example.com", "email_welcome")
    assert [migma_mock.client.post("/v1/sending", json=body).status_code for _ in range(2)] == [503, 200]
    assert len(migma_mock.sent) == 2  # what the key above prevents


def test_honours_retry_after_on_429(migma_mock):
    migma_mock.fail_next(429, retry_after=2)
    migma_mock.fail_next(429, retry_after=0)
    waits = []
    send(migma_mock.client, welcome_request("ada@example.com", "email_welcome"), sleep=waits.append)
    assert waits == [2, 0]  # the test's own sleep records the waits: no test sleeps


@pytest.mark.migma_mock(faults={"failure_rate": 1.0, "failure_status": 502})
def test_gives_up_after_three_attempts(migma_mock):
    with pytest.raises(SendError) as failed:
        send(migma_mock.client, welcome_request("ada@example.com", "email_welcome"), sleep=lambda s: None)
    assert failed.value.status == 502 and len(migma_mock.requests) == 3


@pytest.fixture
def anyio_backend():
    return "asyncio"


@pytest.mark.anyio
async def test_async_client_retries_too(migma_mock):
    migma_mock.fail_next(429, retry_after=0)
    result = await async_send(migma_mock.async_client, welcome_request("ada@example.com", "email_welcome"))
    assert result["status"] == "queued" and [r.status for r in migma_mock.requests] == [429, 200]


# --- app code that builds its own client: route the vendor's URL to the mock ---------------------------


def test_with_respx(respx_mock, migma_mock):
    migma_mock.route_respx(respx_mock)
    with make_client(migma_mock.full_key, "https://api.migma.ai/v1") as client:
        send(client, welcome_request("ada@example.com", "email_welcome"))
    assert [r.recipients for r in migma_mock.sent] == [("ada@example.com",)]


def test_with_pytest_httpx(httpx_mock, migma_mock):
    migma_mock.route_httpx_mock(httpx_mock)
    migma_mock.fail_next(503)
    with make_client(migma_mock.full_key) as client:  # https://api.migma.ai
        send(client, welcome_request("ada@example.com", "email_welcome"), sleep=lambda s: None)
    assert [r.status for r in migma_mock.requests] == [503, 200]


# --- the strict consumer mode: a contract-breaking request fails the test --------------------------------


def test_a_contract_breaking_request_fails_the_test(pytester):
    pytester.makepyfile(mailer=(Path(__file__).parent / "mailer.py").read_text())
    pytester.makepyfile(test_app=textwrap.dedent("""
        from mailer import SendError, segment_request, send

        def test_app_swallows_the_error(migma_mock):
            body = segment_request("seg_active", "email_welcome")
            del body["recipientId"]
            try:
                send(migma_mock.client, body)
            except SendError:
                pass  # the app logs and carries on: without strict mode this test would pass
    """))
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines([
        "*ERROR at teardown of test_app_swallows_the_error*",
        "*the code under test sent 1 request that breaks the contract of POST /v1/sending:*",
        "*POST /v1/sending -> 400*",
        "*[[]batch-needs-recipientId] recipientId is required when recipientType is audience / segment / tag*",
    ])


# --- property-based: requests the API accepts, answers the app must cope with ---------------------------


@FIXTURE_SETTINGS
@given(body=valid_requests(recipient_type="email"))
def test_any_valid_email_send_round_trips(migma_mock, body):
    migma_mock.reset()
    body = {**body, "from": "app@example.com", "emailId": "email_welcome"}
    body.pop("conversationId", None)
    result = send(migma_mock.client, body)
    assert result["provider"] == body.get("providerType", "migma")


@settings(max_examples=50, deadline=None)
@given(response=success_responses())
def test_any_success_the_contract_allows_is_read(response):
    result = parse_result(response)
    assert result["status"] == "queued" and result.get("id")


@settings(max_examples=50, deadline=None)
@given(response=error_responses() | error_responses(429) | error_responses(503))
def test_any_refusal_becomes_a_send_error(response):
    with pytest.raises(SendError) as refused:
        parse_result(response)
    assert refused.value.status == response.status_code and refused.value.error


def test_a_dropped_connection_is_retried():
    calls = []

    def flaky(request):
        calls.append(request)
        if len(calls) == 1:
            raise httpx.ConnectError("connection reset", request=request)
        return httpx.Response(200, json={"success": True, "data": {"id": "m_1", "status": "queued"}, "error": None})

    with httpx.Client(transport=httpx.MockTransport(flaky), base_url="https://api.migma.ai") as client:
        assert send(client, welcome_request("a@example.com", "e"), sleep=lambda s: None)["id"] == "m_1"
    assert len(calls) == 2
