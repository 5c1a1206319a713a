"""A consumer's tests, using the migma-contract pytest fixtures and strategies.

Nothing here talks to the real API: `migma_mock` is the reference mock in-process (its
recorded sends cleared for each test) and `migma_mock_server` the same on a loopback port.
"""

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from mailer import SendError, segment_request, send, welcome_request

from migma_contract.mock import create_app
from migma_contract.strategies import valid_requests


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


def test_errors_surface_the_api_message(migma_mock):
    body = segment_request("seg_active", "email_welcome")
    del body["recipientId"]
    with pytest.raises(SendError, match="recipientId is required"):
        send(migma_mock.client, body)
    assert migma_mock.sent == []


def test_works_over_http_too(migma_mock_server):
    with httpx.Client(base_url=migma_mock_server.url, headers={"Authorization": f"Bearer {migma_mock_server.full_key}"}) as client:
        send(client, welcome_request("grace@example.com", "email_welcome"))
    assert [r.recipients for r in migma_mock_server.sent] == [("grace@example.com",)]


def test_retries_after_a_429():
    limited = create_app({"faults": {"rate_limit": {"requests": 1, "per_seconds": 1}}})
    with limited.running() as url, httpx.Client(base_url=url, headers={"Authorization": f"Bearer {limited.config.full_key}"}) as client:
        send(client, welcome_request("a@example.com", "email_welcome"))
        send(client, welcome_request("b@example.com", "email_welcome"))  # waits for Retry-After, then succeeds
    assert len(limited.sent) == 2


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=valid_requests(recipient_type="email"))
def test_any_valid_email_send_round_trips(migma_mock, body):
    body = {**body, "from": "app@example.com", "emailId": "email_welcome"}
    body.pop("conversationId", None)
    result = send(migma_mock.client, body)
    assert result["provider"] == body.get("providerType", "migma")
