"""The reference mock answers as the contract says, models the documented semantics, and is hard to break."""

import json
import signal
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from migma_contract import RULES, ConfigError, Subject, get_rule, load_spec, validate_response
from migma_contract._bodies import BodyFactory
from migma_contract._rules import RawBody
from migma_contract.mock import create_app, load_mock_config

from .helpers import AUTH, FULL_KEY, RESTRICTED_KEY, client_for

SPEC = load_spec()
CONFIG = load_mock_config()
FACTORY = BodyFactory(SPEC, CONFIG.fixtures())
REQUEST_RULES = [r for r in RULES if r.subject is Subject.REQUEST]


def post(client, body, headers=AUTH):
    if isinstance(body, RawBody):
        return client.post("/v1/sending", content=body.content, headers={**headers, "content-type": body.content_type})
    return client.post("/v1/sending", json=body, headers=headers)


def assert_conforms(response, request=None):
    violations = validate_response(response.status_code, response.headers, response.content, request=request, level="strict")
    assert violations == [], violations


@pytest.mark.parametrize("rule", REQUEST_RULES, ids=lambda r: r.id)
def test_each_request_rule_broken_gets_400_with_an_api_error(client, rule):
    for mutation in rule.form.mutations(SPEC, FACTORY):
        response = post(client, mutation.body)
        assert response.status_code == 400, mutation.label
        assert_conforms(response)


@pytest.mark.parametrize("recipient_type", ["email", "audience", "segment", "tag"])
def test_valid_sends_are_queued(client, mock, recipient_type):
    body = FACTORY.valid_body(recipient_type)
    response = post(client, body)
    assert response.status_code == 200, response.text
    assert_conforms(response, body)
    data = response.json()["data"]
    assert data["status"] == "queued" and data["provider"] == "migma"
    [record] = mock.sent
    assert record.id == data["id"] and record.request == body and record.sent_count == data["sentCount"]


def test_auth_before_body(client):
    no_header = post(client, "not even an object", headers={})
    assert no_header.status_code == 401
    for label, headers in get_rule("auth-required").form.header_variants(FULL_KEY, None):
        response = post(client, FACTORY.valid_body(), headers=headers)
        assert response.status_code == 401, label
        assert_conforms(response)
    restricted = post(client, FACTORY.valid_body(), headers={"Authorization": f"Bearer {RESTRICTED_KEY}"})
    assert restricted.status_code == 403 and "email:send" in restricted.json()["error"]


def test_provider_is_echoed(client):
    for provider in ("ses", "resend", "sendgrid", "mailgun", "migma"):
        body = {**FACTORY.valid_body(), "providerType": provider}
        response = post(client, body)
        assert response.json()["data"]["provider"] == provider
        assert_conforms(response, body)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"from": "someone@unverified.example.org"}, "not verified"),
        ({"emailId": "email_nope"}, "emailId 'email_nope' not found"),
        ({"projectId": "proj_nope"}, "projectId 'proj_nope' not found"),
    ],
)
def test_world_checks(client, change, message):
    response = post(client, {**FACTORY.valid_body(), **change})
    assert response.status_code == 400 and message in response.json()["error"]
    assert_conforms(response)


def test_unknown_list_and_nothing_to_send(client):
    response = post(client, {**FACTORY.valid_body("segment"), "recipientId": "seg_nope"})
    assert response.status_code == 400 and "seg_nope" in response.json()["error"]
    body = FACTORY.valid_body()
    del body["emailId"]
    assert post(client, body).status_code == 400
    assert post(client, {**body, "conversationId": "conv_welcome"}).status_code == 200


# --- semantics: sentCount, transactional defaults, List-Unsubscribe ---------------------------

SEGMENT_WORLD = {
    "contacts": [
        {"email": "s1@example.com", "status": "subscribed"},
        {"email": "s2@example.com", "status": "subscribed", "unsubscribed_topics": ["news"]},
        {"email": "u1@example.com", "status": "unsubscribed"},
        {"email": "u2@example.com", "status": "unsubscribed"},
        {"email": "b1@example.com", "status": "bounced"},
        {"email": "i1@example.com", "status": "invalid"},
    ],
    "audiences": [], "tags": [],
    "segments": [{"id": "seg_mix", "contacts": ["s1@example.com", "s2@example.com", "u1@example.com", "u2@example.com", "b1@example.com", "i1@example.com"]}],
    "emails": [{"id": "email_plain", "project": "proj_demo"}, {"id": "email_news", "project": "proj_demo", "topic": "news"}],
}


@pytest.mark.parametrize(
    ("email_id", "transactional", "expected_count", "list_unsubscribe"),
    [
        ("email_plain", None, 2, True),  # batch default: marketing -> minus unsubscribed, bounced, invalid
        ("email_plain", False, 2, True),
        ("email_plain", True, 4, False),  # transactional: only bounced and invalid excluded
        ("email_news", None, 1, True),  # marketing also honours topic opt-outs
        ("email_news", True, 4, False),  # transactional bypasses topic preferences
    ],
)
def test_batch_sent_count(email_id, transactional, expected_count, list_unsubscribe):
    mock = create_app(SEGMENT_WORLD)
    body = {"recipientType": "segment", "recipientId": "seg_mix", "from": "a@example.com", "fromName": "A", "subject": "S", "emailId": email_id}
    if transactional is not None:
        body["transactional"] = transactional
    with client_for(mock) as client:
        response = post(client, body)
    assert response.json()["data"]["sentCount"] == expected_count
    [record] = mock.sent
    assert record.transactional is bool(transactional) and record.list_unsubscribe is list_unsubscribe
    assert len(record.recipients) == expected_count and "b1@example.com" in record.excluded


def test_single_send_is_transactional_by_default_and_excludes_bounced(client, mock):
    post(client, FACTORY.valid_body())
    post(client, {**FACTORY.valid_body(), "recipientEmail": "barbara@example.com"})
    first, bounced = mock.sent
    assert first.transactional and not first.list_unsubscribe and first.sent_count == 1
    assert bounced.sent_count == 0 and bounced.excluded == {"barbara@example.com": "bounced"}


# --- inspection ----------------------------------------------------------------------------------


def test_inspection_over_http_and_python(client, mock):
    post(client, FACTORY.valid_body())
    listed = client.get("/_mock/sent").json()
    assert listed["count"] == 1 and listed["sent"][0]["recipients"] == ["recipient@example.com"]
    assert client.post("/_mock/reset").json() == {"success": True, "cleared": 1}
    assert mock.sent == [] and client.get("/_mock/sent").json()["count"] == 0
    post(client, FACTORY.valid_body())
    mock.reset()
    assert mock.sent == []


def test_sent_log_is_capped_and_says_so(client):
    mock = create_app({"limits": {"sent_log": 3}})
    with client_for(mock) as c:
        for _ in range(5):
            post(c, FACTORY.valid_body())
        listed = c.get("/_mock/sent").json()
    assert listed["count"] == 3 and listed["dropped"] == 2


def test_node_sdk_headers_are_accepted_and_idempotency_replays(client, mock):
    headers = {**AUTH, "User-Agent": "migma-node/1.4.0", "X-Agent-Id": "agent-7", "Idempotency-Key": "k-1"}
    first = post(client, FACTORY.valid_body(), headers=headers)
    again = post(client, FACTORY.valid_body(), headers=headers)
    assert first.status_code == 200 and first.json() == again.json()
    assert len(mock.sent) == 1 and mock.sent[0].user_agent == "migma-node/1.4.0"


def test_every_accepted_send_gets_its_own_id_and_only_a_replay_repeats_one(client):
    """result-id-unique, as the mock keeps it: an id names one send; a replay under the same key is the one exception."""
    ids = [post(client, FACTORY.valid_body(kind)).json()["data"]["id"] for kind in ["email", "audience", "segment", "tag"] * 5]
    assert len(set(ids)) == 20
    headers = {**AUTH, "Idempotency-Key": "k-unique"}
    first, replay = (post(client, FACTORY.valid_body(), headers=headers).json()["data"]["id"] for _ in range(2))
    assert first == replay and first not in ids


# --- hardening -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (b"x" * (10 * 1024 * 1024), "application/json"),
        (b"[" * 50_000 + b"]" * 50_000, "application/json"),
        (json.dumps({"recipientType": "email", "variables": {"a": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}}).encode(), "application/json"),
        (b"\xff\xfe\xfd", "application/json"),
        (b'{"recipientType": NaN}', "application/json"),
        (json.dumps({"recipientType": "email"}).encode(), "text/plain"),
        (b"recipientType=email", "application/x-www-form-urlencoded"),
        (b"[1, 2]", "application/json"),
        (b'"text"', "application/json"),
        (b"", "application/json"),
    ],
)
def test_hostile_bodies_get_400_api_error(client, content, content_type):
    response = client.post("/v1/sending", content=content, headers={**AUTH, "content-type": content_type})
    assert response.status_code == 400
    assert_conforms(response)


def test_unknown_path_and_wrong_method_answer_json(client):
    missing = client.get("/v2/whatever")
    assert missing.status_code == 404 and missing.json()["success"] is False
    wrong = client.get("/v1/sending")
    assert wrong.status_code == 405 and wrong.headers["allow"] == "POST" and wrong.headers["content-type"] == "application/json"


def test_concurrent_sends_are_all_recorded(mock):
    with mock.running() as url, httpx.Client(base_url=url) as c, ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(lambda _: post(c, FACTORY.valid_body()).status_code, range(200)))
    assert statuses == [200] * 200
    ids = [r.id for r in mock.sent]
    assert len(ids) == 200 == len(set(ids))


# --- faults for client testing ---------------------------------------------------------------------


def test_rate_limit_answers_429_with_retry_after():
    mock = create_app({"faults": {"rate_limit": {"requests": 2, "per_seconds": 3600}}})
    with client_for(mock) as c:
        statuses = [post(c, FACTORY.valid_body()).status_code for _ in range(3)]
        limited = post(c, FACTORY.valid_body())
    assert statuses == [200, 200, 429]
    assert int(limited.headers["retry-after"]) > 0 and limited.json()["success"] is False


def test_failure_injection_is_seeded_and_repeatable():
    def run():
        mock = create_app({"faults": {"failure_rate": 0.5, "failure_status": 503, "seed": 7}})
        with client_for(mock) as c:
            return [post(c, FACTORY.valid_body()).status_code for _ in range(20)]

    first = run()
    assert first == run() and {200, 503} == set(first)


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"keys": [{"key": "k"}]}, "'scopes' is a required property"),
        ({"faults": {"failure_rate": 2}}, "faults/failure_rate"),
        ({"segments": [{"id": "s", "contacts": ["ghost@example.com"]}]}, "not under contacts"),
        ({"colour": "blue"}, "Additional properties"),
    ],
)
def test_bad_config_is_a_clear_error(config, message):
    with pytest.raises(ConfigError, match=message):
        create_app(config)


def test_bad_config_file(tmp_path):
    path = tmp_path / "mock.yaml"
    path.write_text("keys: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_mock_config(path)
    with pytest.raises(ConfigError, match="no such file"):
        load_mock_config(tmp_path / "nope.yaml")


# --- property-based: nothing makes it fail -----------------------------------------------------------

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)
KEYS = ["recipientType", "recipientEmail", "recipientId", "from", "fromName", "subject", "emailId", "providerType", "transactional", "variables"]
REQUEST_LIKE = st.dictionaries(st.sampled_from(KEYS), JSON_VALUES | st.sampled_from(["email", "segment", "a@example.com", "email_welcome", "seg_active"]))


def test_any_json_gets_200_or_a_4xx_with_a_valid_body(client):
    @settings(max_examples=150)
    @given(body=JSON_VALUES | REQUEST_LIKE)
    def check(body):
        response = client.post("/v1/sending", json=body, headers=AUTH)
        assert response.status_code in (200, 400)
        assert_conforms(response, body)

    check()


def test_any_bytes_get_400_never_5xx(client):
    @settings(max_examples=100)
    @given(content=st.binary(max_size=512))
    def check(content):
        response = client.post("/v1/sending", content=content, headers={**AUTH, "content-type": "application/json"})
        assert response.status_code in (200, 400)
        assert_conforms(response)

    check()


# --- the real command -------------------------------------------------------------------------------


def test_mock_command_serves_on_loopback_and_stops_on_ctrl_c():
    process = subprocess.Popen(
        [sys.executable, "-m", "migma_contract.cli", "mock", "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        banner = process.stdout.readline()
        url = banner.rsplit(" at ", 1)[1].strip()
        assert url.startswith("http://127.0.0.1:")
        keys = [process.stdout.readline() for _ in range(2)]
        full_key = keys[0].split(":", 1)[1].strip()
        body = FACTORY.valid_body()
        ok = httpx.post(f"{url}/v1/sending", json=body, headers={"Authorization": f"Bearer {full_key}"})
        assert ok.status_code == 200 and ok.json()["data"]["status"] == "queued"
        assert httpx.post(f"{url}/v1/sending", json=body).status_code == 401
        assert httpx.get(f"{url}/_mock/sent").json()["count"] == 1
    finally:
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=10)
    assert process.returncode == 0, err
    assert "stopped" in out and "Traceback" not in err
