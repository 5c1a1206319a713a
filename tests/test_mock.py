"""The reference mock answers as the contract says, models the documented semantics, and is hard to break."""

import dataclasses
import json
import os
import signal
import socket
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.requests import ClientDisconnect

from migma_contract import RULES, ConfigError, Subject, Violation, get_rule, load_spec, validate_response
from migma_contract.contract.catalogue import STATUS_DOCUMENTED
from migma_contract.contract.rules import RawBody
from migma_contract.generate.bodies import BodyFactory
from migma_contract.mock import create_app, load_mock_config
from migma_contract.wire.serve import DEFAULT_STACK, PROTOCOLS

from .helpers import AUTH, FULL_KEY, RESTRICTED_KEY, client_for

SPEC = load_spec()
CONFIG = load_mock_config()
FACTORY = BodyFactory(SPEC, CONFIG.fixtures())
REQUEST_RULES = [r for r in RULES if r.subject is Subject.REQUEST]


def post(client, body, headers=AUTH):
    if isinstance(body, RawBody):
        return client.post("/v1/sending", content=body.content, headers={**headers, "content-type": body.content_type})
    # (as the check sends it: `json=None` would send no body and no Content-Type, a request the judge reads in part)
    return client.post("/v1/sending", content=json.dumps(body).encode(), headers={**headers, "content-type": "application/json"})


def assert_conforms(response, request=None):
    violations = validate_response(response.status_code, response.headers, response.content, request=request, level="strict")
    if response.status_code == 415:  # a media type or coding the mock does not read (Pass X5, F2): HTTP's answer, which
        # the document does not list; the judge leaves its status unjudged for such a request (`judge.verdict`)
        violations = [v for v in violations if v.rule_id != STATUS_DOCUMENTED.id]
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


def test_sender_domains_compare_without_case(client, mock):
    # RFC 1035 §2.3.3: a domain name has no case, in the sender's address and in the mock's configuration
    response = post(client, {**FACTORY.valid_body(), "from": "Someone@EXAMPLE.Com"})
    assert response.status_code == 200, response.text
    mock.configure(verified_domains=["News.Example.ORG"])
    assert post(client, {**FACTORY.valid_body(), "from": "someone@news.example.org"}).status_code == 200
    assert post(client, {**FACTORY.valid_body(), "from": "someone@example.com"}).status_code == 400


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
    """(Pass X5, F2: a media type other than application/json is a 415, as a strict server answers it.)"""
    response = client.post("/v1/sending", content=content, headers={**AUTH, "content-type": content_type})
    assert response.status_code == (400 if content_type == "application/json" else 415)
    assert_conforms(response)


@pytest.mark.parametrize("content_type", [b"application/json\xa0", b"\x1capplication/json", b"application/json\x0b"])
def test_a_content_type_padded_with_what_is_no_http_whitespace_is_no_json(client, content_type):
    """Pass L's low: the mock trimmed the media type with str.strip(), so `application/json` padded with NBSP or a
    control character was read as JSON where HTTP (and the judge) trims SP and HTAB only. (Pass X5, F2: it is a 415,
    with a warning, as the judge reads it: no body-json-object.)"""
    body = json.dumps(FACTORY.valid_body()).encode()
    assert client.post("/v1/sending", content=body, headers={**AUTH, "content-type": "application/json \t"}).status_code == 200
    response = client.post("/v1/sending", content=body, headers={**AUTH, "content-type": content_type})
    assert response.status_code == 415 and "is not supported" in response.text, response.text
    assert_conforms(response)


def test_unknown_path_and_wrong_method_answer_json(client):
    missing = client.get("/v2/whatever")
    assert missing.status_code == 404 and missing.json()["success"] is False
    wrong = client.get("/v1/sending")
    assert wrong.status_code == 405 and wrong.headers["allow"] == "POST" and wrong.headers["content-type"] == "application/json"


@pytest.mark.e2e
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
        response = client.post("/v1/sending", content=json.dumps(body).encode(), headers={**AUTH, "content-type": "application/json"})
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


@pytest.mark.e2e
@pytest.mark.parametrize("stack", [None, *sorted(PROTOCOLS)])
def test_mock_command_serves_on_loopback_and_stops_on_ctrl_c(stack):
    process = subprocess.Popen(
        [sys.executable, "-m", "migma_contract.cli", "mock", "--port", "0", *(["--http", stack] if stack else [])],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        # the banner is read to its end here: communicate() below reads the pipe, not what readline() buffered
        banner = []
        while (line := process.stdout.readline()) and not line.startswith("Press Ctrl-C"):
            banner.append(line)
        url = banner[0].rsplit(" at ", 1)[1].strip()
        assert url.startswith("http://127.0.0.1:")
        full_key = banner[1].split(":", 1)[1].strip()
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
    assert f"server:           uvicorn, bounded {stack or DEFAULT_STACK} protocol" in "".join(banner)


def test_mock_command_names_a_parser_that_is_not_installed(monkeypatch):
    from click.testing import CliRunner

    from migma_contract.cli import main
    from migma_contract.wire import serve

    monkeypatch.delitem(serve.PROTOCOLS, "httptools", raising=False)  # as on an interpreter without httptools
    result = CliRunner().invoke(main, ["mock", "--port", "0", "--http", "httptools"])
    assert result.exit_code == 2 and "--http httptools: not installed here" in result.stderr
    assert "Traceback" not in result.output


# --- every body oddity is a 400, and the log survives it (issue 11) -----------------------------------

_VALID_TEXT = json.dumps(FACTORY.valid_body())


@pytest.mark.parametrize(("label", "content"), [
    ("a lone surrogate in a value", _VALID_TEXT.replace('"Contract check"', '"\\ud800"', 1).encode()),
    ("a lone surrogate in a key", _VALID_TEXT.replace('"subject"', '"\\udfff"', 1).encode()),
    ("a UTF-8 byte order mark", b"\xef\xbb\xbf" + _VALID_TEXT.encode()),
    ("a number beyond IEEE 754", json.dumps({**FACTORY.valid_body(), "variables": {"n": 1}}).replace("1}", "1e999}").encode()),
    ("UTF-16", _VALID_TEXT.encode("utf-16")),
    ("UTF-16 without a byte order mark", _VALID_TEXT.encode("utf-16-le")),
    ("an overlong UTF-8 sequence", _VALID_TEXT.replace('"Contract check"', '"\xc0\xaf"', 1).encode("latin-1")),
    ("trailing bytes", _VALID_TEXT.encode() + b"}"),
])
def test_body_oddities_get_400_and_inspection_still_answers(client, mock, label, content):
    assert '"Contract check"' in _VALID_TEXT  # the subject the surrogate cases replace
    response = client.post("/v1/sending", content=content, headers={**AUTH, "content-type": "application/json"})
    assert response.status_code == 400, label
    assert_conforms(response)
    [logged] = mock.requests
    if "surrogate" in label or label == "a UTF-8 byte order mark" or "IEEE" in label:  # Pass X5, F2: the judge reads it in part
        assert logged.outcome == "in-part" and not logged.violations and "no party blamed" in logged.warnings[0], label
    else:
        rule = "body-utf8" if "UTF-16" in label or "overlong" in label else "body-json-object"
        assert logged.outcome == "refused" and [v.rule_id for v in logged.violations] == [rule], label
    listed = client.get("/_mock/requests")
    assert listed.status_code == 200 and listed.json()["requests"][0]["status"] == 400
    assert client.get("/_mock/sent").json()["count"] == 0


def test_a_json_integer_longer_than_python_converts_is_a_number_not_an_oddity(client, mock):
    """Attack pass (L4): a valid 5,000-digit integer (RFC 8259 sets no limit) was refused as "not valid JSON"."""
    content = json.dumps({**FACTORY.valid_body(), "variables": {"n": 1}}).replace("1}", "1" * 5000 + "}").encode()
    response = client.post("/v1/sending", content=content, headers={**AUTH, "content-type": "application/json"})
    assert response.status_code == 200
    [logged] = mock.requests
    assert not [v.rule_id for v in logged.violations]
    assert client.get("/_mock/sent").json()["count"] == 1 and client.get("/_mock/requests").status_code == 200
    assert mock.sent[0].request["variables"]["n"] > 10 ** 4000 and logged.body["variables"]["n"] > 10 ** 4000


@pytest.mark.parametrize(("label", "content"), [
    ("UTF-16", _VALID_TEXT.encode("utf-16")),
    ("UTF-16 without a byte order mark", _VALID_TEXT.encode("utf-16-be")),
    ("Latin-1", json.dumps({**FACTORY.valid_body(), "subject": "Grüße"}, ensure_ascii=False).encode("latin-1")),
])
def test_a_body_in_another_encoding_is_refused_at_strict_and_read_leniently_below(label, content):
    """body-utf8 is a strict rule: the mock at a lower level reads the body as a lenient server does, and warns."""
    lax = create_app({"level": "documented"})
    with client_for(lax) as c:
        response = c.post("/v1/sending", content=content, headers={**AUTH, "content-type": "application/json"})
    assert response.status_code == 200, (label, response.text)
    [logged] = lax.requests
    assert logged.violations == () and [w.split("]")[0] for w in logged.warnings] == ["[body-utf8"], label


# --- the request log, verdicts, warnings -------------------------------------------------------------


def test_every_request_is_logged_with_its_verdict(client, mock):
    post(client, FACTORY.valid_body())
    post(client, {**FACTORY.valid_body("segment"), "recipientId": None})
    post(client, FACTORY.valid_body(), headers={})
    post(client, {**FACTORY.valid_body(), "from": "a@unverified.example.org"})
    client.post("/v1/v1/sending", json=FACTORY.valid_body(), headers=AUTH)
    outcomes = [(r.status, r.outcome, [v.rule_id for v in r.violations]) for r in mock.requests]
    assert outcomes == [
        (200, "accepted", []),
        (400, "refused", ["field-types"]),
        (401, "refused", ["auth-required"]),
        (400, "world", []),
        (404, "no-route", []),
    ]
    assert [r.outcome for r in mock.rejected] == ["refused", "refused", "no-route"]
    assert mock.requests[0].body == FACTORY.valid_body() and mock.requests[0].key_name == "dev (full access)"
    assert "base URL ending in /v1" in mock.requests[-1].error
    assert [r["outcome"] for r in client.get("/_mock/requests").json()["requests"]] == [o[1] for o in outcomes]


def test_unknown_fields_refused_at_strict_and_warned_below():
    body = {**FACTORY.valid_body(), "recipient_email": "a@example.com", "reply_to": "b@example.com"}
    strict = create_app()
    with client_for(strict) as c:
        refused = post(c, body)
    assert refused.status_code == 400
    assert [v["message"] for v in refused.json()["violations"]] == [
        "recipient_email is not a field of the request; did you mean recipientEmail?",
        "reply_to is not a field of the request; did you mean replyTo?",
    ]
    lax = create_app({"level": "documented"})
    with client_for(lax) as c:
        assert post(c, body).status_code == 200
    [logged] = lax.requests
    assert logged.violations == () and not logged.breaks_contract
    assert [w.split(" (")[0] for w in logged.warnings] == [
        "[known-fields] recipient_email is not a field of the request; did you mean recipientEmail?",
        "[known-fields] reply_to is not a field of the request; did you mean replyTo?",
    ]


# --- configure and fail_next: faults per test ----------------------------------------------------------


def test_configure_swaps_the_config_and_a_frozen_config_stays_frozen(client, mock):
    with pytest.raises(dataclasses.FrozenInstanceError):
        mock.config.failure_rate = 1.0
    mock.configure(faults={"failure_rate": 1.0, "failure_status": 502})
    assert post(client, FACTORY.valid_body()).status_code == 502
    mock.configure(faults={"failure_rate": 0.0}, verified_domains=["other.example"])
    assert post(client, FACTORY.valid_body()).status_code == 400  # example.com is no longer verified
    assert mock.config.failure_status == 502  # faults merged key by key
    with pytest.raises(ConfigError, match="faults/failure_rate"):
        mock.configure(faults={"failure_rate": 3})


def test_fail_next_scripts_answers_then_normal_service(client, mock):
    mock.fail_next(503, times=2)
    mock.fail_next(429, retry_after=2)
    mock.fail_next(429, retry_after=0)
    mock.fail_next(429)
    answers = [post(client, FACTORY.valid_body()) for _ in range(6)]
    assert [a.status_code for a in answers] == [503, 503, 429, 429, 429, 200]
    assert "retry-after" not in answers[0].headers
    assert [a.headers["retry-after"] for a in answers[2:5]] == ["2", "0", "1"]
    for answer in answers[:5]:
        assert answer.json()["success"] is False and answer.json()["error"]
    assert [r.outcome for r in mock.requests] == ["fault"] * 5 + ["accepted"]
    assert len(mock.sent) == 1
    with pytest.raises(ValueError, match="400-599"):
        mock.fail_next(200)
    with pytest.raises(ValueError, match="retry_after"):
        mock.fail_next(429, retry_after=float("nan"))


def test_every_429_carries_retry_after():
    injected = create_app({"faults": {"failure_rate": 1.0, "failure_status": 429, "retry_after": 0}})
    with client_for(injected) as c:
        assert post(c, FACTORY.valid_body()).headers["retry-after"] == "0"
    limited = create_app({"faults": {"rate_limit": {"requests": 1, "per_seconds": 0.5}}})
    with client_for(limited) as c:
        post(c, FACTORY.valid_body())
        wait = post(c, FACTORY.valid_body()).headers["retry-after"]
    assert wait == "1"  # a sub-second wait rounded up: RFC 9110 (and rate-limit-retry-after) have whole seconds only


def test_a_scripted_failure_still_judges_the_request(client, mock):
    mock.fail_next(503)
    assert post(client, {"recipientType": "tag"}).status_code == 503
    [logged] = mock.rejected
    assert logged.outcome == "fault" and "required-fields" in {v.rule_id for v in logged.violations}


# --- memory bounded in bytes (issue 11) ----------------------------------------------------------------


def _big_body(size):
    return {**FACTORY.valid_body(), "variables": {"blob": "x" * size}}


def test_logs_and_replays_are_bounded_in_bytes_oldest_dropped_and_counted():
    budget = 200_000
    mock = create_app({"limits": {"memory_bytes": budget}})
    with client_for(mock) as c:
        for n in range(30):
            assert post(c, _big_body(20_000), headers={**AUTH, "Idempotency-Key": f"k{n}"}).status_code == 200
        listed = c.get("/_mock/sent").json()
    memory = mock.state.memory
    assert memory["bytes"] <= budget
    assert listed["count"] + listed["dropped"] == 30 and listed["dropped"] > 20
    assert memory["dropped_requests"] > 20
    assert mock.sent[-1].idempotency_key == "k29"  # the newest are kept
    assert mock.sent[-1].request["variables"]["blob"] == "x" * 20_000


def test_an_idempotent_reply_does_not_hold_the_body():
    mock = create_app()
    with client_for(mock) as c:
        first = post(c, _big_body(100_000), headers={**AUTH, "Idempotency-Key": "same"})
        again = post(c, _big_body(100_000), headers={**AUTH, "Idempotency-Key": "same"})
    assert first.json() == again.json() and len(mock.sent) == 1
    [(_, cost, _)] = mock.state._replies.values()
    assert cost < 5_000


# --- /_mock/* answers only local, same-origin callers (issue 11) ----------------------------------------


@pytest.mark.parametrize(("method", "path", "headers", "status"), [
    ("GET", "/_mock/sent", {"Host": "evil.example:4010"}, 403),
    ("GET", "/_mock/requests", {"Host": "rebind.attacker.test"}, 403),
    ("POST", "/_mock/reset", {"Origin": "https://evil.example"}, 403),
    ("POST", "/_mock/reset", {"Origin": "null"}, 403),
    ("GET", "/_mock/sent", {"Sec-Fetch-Site": "cross-site"}, 403),
    ("POST", "/_mock/reset", {"Content-Type": "text/plain"}, 415),
    ("POST", "/_mock/reset", {"Content-Type": "application/x-www-form-urlencoded"}, 415),
    ("GET", "/_mock/sent", {"Host": "127.0.0.1:4010"}, 200),
    ("GET", "/_mock/sent", {"Host": "[::1]:4010"}, 200),
    ("GET", "/_mock/sent", {"Host": "localhost"}, 200),
    ("POST", "/_mock/reset", {"Content-Type": "application/json"}, 200),
])
def test_inspection_refuses_other_hosts_and_origins(client, mock, method, path, headers, status):
    post(client, FACTORY.valid_body())
    response = client.request(method, path, headers=headers)
    assert response.status_code == status, response.text
    if status != 200:
        assert response.json()["success"] is False and len(mock.sent) == 1


def test_inspection_hosts_and_origins_can_be_allowed():
    mock = create_app({"inspection": {"allowed_hosts": ["mock.internal.example"], "allowed_origins": ["http://dash.example"]}})
    with client_for(mock) as c:
        assert c.get("/_mock/sent", headers={"Host": "mock.internal.example"}).status_code == 200
        assert c.post("/_mock/reset", headers={"Origin": "http://dash.example"}).status_code == 200
        assert c.get("/_mock/sent", headers={"Host": "other.example"}).status_code == 403


# --- served: connections bounded (issue 11) --------------------------------------------------------------


def _connect(url):
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=10)
    return sock


def _closed_by_server(sock):
    """Blocks until the server closes the connection (recv returns b"") or the 10 s socket timeout."""
    try:
        while chunk := sock.recv(65536):
            if b"HTTP/1.1" in chunk:
                return "answered"
        return "closed"
    except TimeoutError:
        return "still open"


@pytest.mark.e2e
def test_unfinished_requests_are_closed_after_the_request_timeout():
    mock = create_app({"limits": {"request_timeout": 0.3}})
    with mock.running() as url:
        with _connect(url) as silent, _connect(url) as trickling:
            trickling.sendall(b"POST /v1/sending HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\n{")
            assert _closed_by_server(silent) == "closed"
            assert _closed_by_server(trickling) == "closed"  # before the sockets' own 10 s timeout
        assert httpx.post(f"{url}/v1/sending", json=FACTORY.valid_body(), headers=AUTH).status_code == 200


@pytest.mark.e2e
def test_connections_beyond_the_cap_are_closed_at_once():
    mock = create_app({"limits": {"max_connections": 2}})
    with mock.running() as url, _connect(url) as first, _connect(url) as second:
        first.sendall(b"GET /_mock/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert b"200 OK" in first.recv(65536)  # both accepted and held
        with _connect(url) as third:
            assert _closed_by_server(third) == "closed"
        second.sendall(b"GET /_mock/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert b"200 OK" in second.recv(65536)


def test_mock_command_warns_before_listening_beyond_loopback():
    from click.testing import CliRunner

    from migma_contract.cli import main

    # 192.0.2.1 (TEST-NET-1) is never an address of this machine: the warning, then a clean exit 2, nothing served
    result = CliRunner().invoke(main, ["mock", "--host", "192.0.2.1", "--port", "0"])
    assert result.exit_code == 2
    assert "warning: --host 192.0.2.1 listens beyond this machine" in result.stderr
    assert "/_mock/sent lists every recipient" in result.stderr
    assert "cannot listen on 192.0.2.1:0" in result.stderr


@pytest.mark.parametrize("content", ["a: " + "[" * 50_000 + "]" * 50_000, None], ids=["deeply-nested", "fifo"])
def test_a_hostile_mock_config_file_is_one_clear_config_error(tmp_path, content):
    # a deep document was a RecursionError ("internal error"); a FIFO or /dev/zero was waited on or read without end
    path = tmp_path / "world.yaml"
    if content is None:
        os.mkfifo(path)
    else:
        path.write_text(content)
    with pytest.raises(ConfigError, match=r"world\.yaml: ") as caught:
        load_mock_config(path)
    assert "\n" not in str(caught.value)


# --- the vendor's wider contract: Idempotency-Key (issue 15) ----------------------------------------------

SECOND_AUTH = {"Authorization": "Bearer mc_test_second_app"}


def vendor_violations(response):
    from migma_contract import contract_for

    validator = contract_for().response_validator("strict", ["contract", "vendor"])
    return validator.evaluate(response.status_code, response.headers, response.content).violations


def keyed(key, auth=AUTH):
    return {**auth, "Idempotency-Key": key}


def test_the_same_key_and_body_replay_the_answer_marked_as_a_replay_and_mail_once(client, mock):
    body = FACTORY.valid_body()
    first = post(client, body, keyed("k-replay"))
    again = post(client, {**body}, keyed("k-replay"))  # the same JSON value, written anew
    assert first.status_code == again.status_code == 200 and first.json() == again.json()
    assert again.headers["Idempotent-Replayed"] == "true" and "idempotent-replayed" not in first.headers
    assert len(mock.sent) == 1 and [r.outcome for r in mock.requests] == ["accepted", "replayed"]
    assert vendor_violations(again) == ()


def test_the_same_key_with_another_body_is_a_409_conflict_in_the_api_error_envelope(client, mock):
    body = FACTORY.valid_body()
    post(client, body, keyed("k-conflict"))
    conflict = post(client, {**body, "subject": "Something else"}, keyed("k-conflict"))
    assert conflict.status_code == 409
    assert conflict.json() == {"success": False, "code": "IDEMPOTENCY_CONFLICT", "error": conflict.json()["error"]}
    assert conflict.json()["error"].startswith("IDEMPOTENCY_CONFLICT: ")
    assert len(mock.sent) == 1 and mock.requests[-1].outcome == "conflict"
    assert vendor_violations(conflict) == ()


def test_a_key_is_scoped_per_api_key(client, mock):
    body = FACTORY.valid_body()
    mine = post(client, body, keyed("k-shared"))
    theirs = post(client, body, keyed("k-shared", SECOND_AUTH))
    assert theirs.status_code == 200 and "idempotent-replayed" not in theirs.headers
    assert theirs.json()["data"]["id"] != mine.json()["data"]["id"] and len(mock.sent) == 2
    other_body = post(client, {**body, "subject": "Theirs"}, keyed("k-shared2", SECOND_AUTH))
    assert post(client, body, keyed("k-shared2")).status_code == 200 and other_body.status_code == 200  # no conflict either


def test_a_key_over_100_characters_is_a_400_naming_the_rule(client, mock):
    assert post(client, FACTORY.valid_body(), keyed("k" * 100)).status_code == 200
    refused = post(client, FACTORY.valid_body(), keyed("k" * 101))
    assert refused.status_code == 400 and refused.json()["violations"][0]["rule"] == "idempotency-key-length"
    assert "101 characters long; at most 100" in refused.json()["error"]
    assert len(mock.sent) == 1 and mock.requests[-1].breaks_contract  # strict consumer mode fails a client sending it
    assert vendor_violations(refused) == ()


@pytest.mark.parametrize("status", [503, 500, 429])
def test_a_429_or_5xx_is_never_stored_so_the_retry_is_processed(client, mock, status):
    mock.fail_next(status, retry_after=0)
    failed = post(client, FACTORY.valid_body(), keyed(f"k-{status}"))
    retry = post(client, FACTORY.valid_body(), keyed(f"k-{status}"))
    assert failed.status_code == status and retry.status_code == 200 and "idempotent-replayed" not in retry.headers
    assert len(mock.sent) == 1


def test_a_refusal_is_not_stored_either_so_a_retry_after_the_world_is_fixed_goes_through(client, mock):
    body = {**FACTORY.valid_body(), "from": "hello@news.example.org"}
    assert post(client, body, keyed("k-world")).status_code == 400  # an unverified domain
    mock.configure(verified_domains=["news.example.org", "example.com"])
    again = post(client, body, keyed("k-world"))
    assert again.status_code == 200 and "idempotent-replayed" not in again.headers and len(mock.sent) == 1


def test_a_key_is_remembered_24_hours_on_the_mocks_clock():
    now = [1000.0]
    mock = create_app(clock=lambda: now[0])
    body = FACTORY.valid_body()
    with client_for(mock) as c:
        post(c, body, keyed("k-day"))
        now[0] += 24 * 3600 - 1
        assert post(c, body, keyed("k-day")).headers.get("Idempotent-Replayed") == "true"
        assert post(c, {**body, "subject": "other"}, keyed("k-day")).status_code == 409
        now[0] += 1  # the window is over: the key is new again
        fresh = post(c, {**body, "subject": "other"}, keyed("k-day"))
        assert fresh.status_code == 200 and "idempotent-replayed" not in fresh.headers
    assert len(mock.sent) == 2


def test_expired_replies_are_dropped_before_they_cost_memory():
    now = [0.0]
    mock = create_app(clock=lambda: now[0])
    with client_for(mock) as c:
        for n in range(5):
            post(c, FACTORY.valid_body(), keyed(f"k-old{n}"))
        now[0] += 24 * 3600
        post(c, FACTORY.valid_body(), keyed("k-new"))
    assert [key for _, key in mock.state._replies] == ["k-new"]


def test_a_failure_after_the_send_is_a_replay_for_the_same_key_and_a_second_mail_without_one(client, mock):
    mock.fail_next(503, processed=True)
    body = FACTORY.valid_body()
    assert post(client, body, keyed("k-gateway")).status_code == 503
    retry = post(client, body, keyed("k-gateway"))
    assert retry.status_code == 200 and retry.headers["Idempotent-Replayed"] == "true" and len(mock.sent) == 1
    mock.fail_next(503, processed=True)
    assert post(client, body).status_code == 503 and post(client, body).status_code == 200
    assert len(mock.sent) == 3  # without a key, the retried send went out twice


# --- the API path is answered without Starlette's objects: what Starlette gave it, it still has ---------------


def _asgi_post(app, headers, body=b"", *, path="/v1/sending", root_path="", messages=None, sent=None):
    """One raw ASGI POST; returns (status, headers, body) as sent (the messages also in `sent`, if given)."""
    import asyncio

    incoming = list(messages or [{"type": "http.request", "body": body, "more_body": False}])
    sent = [] if sent is None else sent

    async def receive():
        return incoming.pop(0) if incoming else {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": path, "root_path": root_path, "query_string": b"",
             "headers": [(k.lower().encode(), v.encode()) for k, v in headers],  # ASGI names are lowercase "asgi": {"version": "3.0"}, "http_version": "1.1",
             "scheme": "http", "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80)}
    asyncio.run(app(scope, receive, send))
    start = sent[0]
    return start["status"], {k.decode(): v.decode() for k, v in start["headers"]}, b"".join(m.get("body", b"") for m in sent[1:])


VALID_RAW = json.dumps(FACTORY.valid_body()).encode()


def test_a_mock_mounted_under_a_prefix_answers_its_own_path():
    from starlette.applications import Starlette
    from starlette.routing import Mount

    mock = create_app()
    outer = Starlette(routes=[Mount("/api", app=mock)])
    with client_for(outer) as client:
        assert client.post("/api/v1/sending", json=FACTORY.valid_body(), headers=AUTH).status_code == 200
        assert client.post("/v1/sending", json=FACTORY.valid_body(), headers=AUTH).status_code == 404
    assert [r.path for r in mock.requests] == ["/api/v1/sending"]


def test_a_repeated_authorization_is_refused_whichever_comes_first():
    """(Pass X5, F3: the first counted, as in Starlette, so a valid first key was a 200 a server joining the values or
    keeping the last refuses; the judge reads it in part: a 401 with a warning, no party blamed.)"""
    mock = create_app()
    first_known = [("content-type", "application/json"), *AUTH.items(), ("authorization", "Bearer nobody")]
    first_unknown = [("content-type", "application/json"), ("authorization", "Bearer nobody"), *AUTH.items()]
    assert _asgi_post(mock, first_known, VALID_RAW)[0] == 401
    assert _asgi_post(mock, first_unknown, VALID_RAW)[0] == 401
    assert not mock.rejected and all(r.outcome == "in-part" and r.warnings for r in mock.requests)


def test_a_body_in_several_chunks_is_read_whole_and_a_client_leaving_is_logged():
    mock = create_app()
    headers = [("content-type", "application/json"), *AUTH.items()]
    half = len(VALID_RAW) // 2
    chunks = [{"type": "http.request", "body": VALID_RAW[:half], "more_body": True},
              {"type": "http.request", "body": VALID_RAW[half:], "more_body": False}]
    status, answer_headers, body = _asgi_post(mock, headers, messages=chunks)
    assert status == 200 and answer_headers["content-type"] == "application/json"
    assert int(answer_headers["content-length"]) == len(body) and json.loads(body)["success"] is True
    status, _, body = _asgi_post(mock, headers, messages=chunks[:1])  # then the client leaves
    assert status == 400 and mock.requests[-1].outcome == "disconnected"


def test_a_bug_in_the_mock_is_a_json_500_naming_the_error_not_a_dropped_connection(monkeypatch):
    mock = create_app()

    def broken(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(mock, "_accept", broken)
    sent = []
    with pytest.raises(RuntimeError, match="a bug"):  # then raised to the server, which logs it (as through Starlette)
        _asgi_post(mock, [("content-type", "application/json"), *AUTH.items()], VALID_RAW, sent=sent)
    start, body = sent
    headers = dict(start["headers"])
    assert start["status"] == 500 and headers[b"content-type"] == b"application/json"
    assert json.loads(body["body"]) == {"success": False, "error": "internal error in the reference mock: RuntimeError"}


def test_a_body_one_level_too_deep_is_refused_when_its_deepest_value_is_a_scalar():
    # The depth counts the scalar inside the innermost bracket: {"a": 1} nests 2 deep with one bracket.
    from migma_contract.contract.catalogue import BODY_JSON_OBJECT
    from migma_contract.contract.rules import Refused

    for max_depth, raw in ((1, b'{"a":1}'), (64, b'{"a":' + b"[" * 63 + b"1" + b"]" * 63 + b"}")):
        with pytest.raises(Refused, match="nested deeper"):
            BODY_JSON_OBJECT.form.parse(raw, max_depth=max_depth)
    mock = create_app({"limits": {"max_depth": 2}})
    with client_for(mock) as client:
        response = post(client, {**FACTORY.valid_body(), "variables": {"a": 1}})
    assert response.status_code == 400 and "nested deeper than 2" in response.json()["error"]


@pytest.mark.parametrize(("path", "root_path"), [("/v1/sending\n", ""), ("/v1/sending", "/v")])
def test_a_path_starlette_routes_to_the_api_is_answered_by_the_api(path, root_path):
    # Starlette's route also matches these (`$` before a final newline; a root path that is not a
    # path segment is not stripped): they reached the route's endpoint with a Starlette Request.
    mock = create_app()
    status, _, body = _asgi_post(mock, [("content-type", "application/json"), *AUTH.items()], VALID_RAW,
                                 path=path, root_path=root_path)
    assert status == 200, body
    assert [r.outcome for r in mock.requests] == ["accepted"] and mock.state.requests == 1


def test_an_answer_with_extra_headers_is_the_bytes_starlettes_json_response_would_send():
    from starlette.responses import JSONResponse

    mock = create_app()
    mock.fail_next(429, retry_after=2)
    sent = []
    status, _, body = _asgi_post(mock, [("content-type", "application/json"), *AUTH.items()], VALID_RAW, sent=sent)
    expected = JSONResponse(json.loads(body), status_code=status, headers={"Retry-After": "2"})
    assert status == 429 and body == expected.body and sent[0]["headers"] == expected.raw_headers


def test_a_config_value_json_has_no_word_for_is_a_config_error_not_a_crash(tmp_path):
    # YAML reads dates, timestamps, binary and number keys; jsonschema-rs cannot take them, python-jsonschema words them
    for text, where in (("faults: {seed: 2024-01-01 10:00:00}", "faults/seed"), ("open_world: !!binary aGVsbG8=", "open_world"),
                        ("1: x", "top level")):
        path = tmp_path / "world.yaml"
        path.write_text(text + "\n")
        with pytest.raises(ConfigError, match=where):
            load_mock_config(path)


def test_a_yaml_bomb_in_a_world_file_is_refused_before_it_expands(tmp_path):
    """Nine aliases of nine aliases, six deep: ~500,000 nodes from a few hundred bytes (the spec loader's bounds)."""
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{n}: &a{n} [{', '.join([f'*a{n - 1}'] * 9)}]" for n in range(1, 7)]
    world = tmp_path / "bomb.yaml"
    world.write_text("\n".join(["open_world: true", "inspection:", *(f"  {line}" for line in lines)]) + "\n")
    with pytest.raises(ConfigError, match="aliases would add more than"):
        load_mock_config(world)


_TEXT = st.text(st.characters(codec="utf-8"), max_size=20)


@settings(max_examples=200)
@given(st.one_of(
    st.fixed_dictionaries({"success": st.just(True), "data": st.fixed_dictionaries({
        "id": _TEXT, "provider": _TEXT, "status": _TEXT, "sentCount": st.integers(), "message": _TEXT}), "error": st.none()}),
    st.fixed_dictionaries({"success": st.booleans(), "data": st.dictionaries(st.sampled_from(["id", "provider", "sentCount", "message", "x"]),
                                                                             st.one_of(_TEXT, st.integers(), st.booleans(), st.none())),
                           "error": st.one_of(st.none(), _TEXT)}),
))
def test_the_accepted_answer_written_from_its_template_is_what_the_encoder_writes(payload):
    from migma_contract.mock._app import _encode_json, _payload_json

    assert _payload_json(payload) == _encode_json(payload)


@settings(max_examples=200)
@given(st.text(st.characters(codec="utf-8"), max_size=80), st.integers(min_value=0), _TEXT, st.text("0123456789abcdef", max_size=24))
def test_the_accepted_answer_written_with_its_kept_strings_is_what_the_encoder_writes(provider, count, message, digits):
    # the provider and the message are kept written (`_JSON_TEXTS`), a long provider is not kept
    from migma_contract.mock import _app

    data = {"id": f"msg_{digits}", "provider": provider, "status": "queued", "sentCount": count, "message": message}
    for _ in range(2):  # written, then from what was kept
        assert _app._accepted_json(data) == _app._encode_json({"success": True, "data": data, "error": None}).encode()
    assert all(len(text) <= 64 for text in _app._JSON_TEXTS) and len(_app._JSON_TEXTS) <= 256
    assert _app._accepted_json({**data, "provider": 5}) is None  # not a string: the generic encoder writes it


def test_the_reading_of_an_authorization_value_follows_the_configuration_and_is_bounded():
    mock = create_app()
    headers = [("content-type", "application/json"), *AUTH.items()]
    assert _asgi_post(mock, headers, VALID_RAW)[0] == 200
    mock.configure(keys=[{"key": "mc_other_key", "scopes": ["email:send"]}])  # the same value, now an unknown key
    status, _, body = _asgi_post(mock, headers, VALID_RAW)
    assert status == 401 and b"unknown API key" in body
    assert [r.key_name for r in mock.requests] == ["dev (full access)", None]
    for n in range(200):  # a client sending ever new values: the memo starts again, it does not grow
        _asgi_post(mock, [("content-type", "application/json"), ("authorization", f"Bearer k{n}")], VALID_RAW)
    from migma_contract.mock._app import _AUTH_MEMO

    assert len(mock._auth_memo[1]) <= _AUTH_MEMO


@settings(max_examples=300)
@given(st.integers(min_value=0, max_value=253402300799999))  # to the last millisecond of year 9999
def test_the_logs_time_is_what_datetime_writes(millis):
    from datetime import UTC, datetime, timedelta

    from migma_contract.mock._app import _stamp

    exact = datetime.fromtimestamp(millis // 1000, UTC) + timedelta(milliseconds=millis % 1000)  # no float on the way
    assert _stamp(millis) == exact.isoformat(timespec="milliseconds")
    assert _stamp(millis - millis % 1000) == datetime.fromtimestamp(millis // 1000, UTC).isoformat(timespec="milliseconds")



def test_the_time_of_a_request_is_stamped_once_a_millisecond_and_always_its_own(monkeypatch):
    from migma_contract.mock import _app

    clock = iter([1_700_000_000_123_456_789, 1_700_000_000_123_999_999, 1_700_000_000_124_000_000, 1_700_000_001_000_000_000])
    monkeypatch.setattr(_app, "_time_ns", lambda: next(clock))
    stamps = [_app._now() for _ in range(4)]
    assert stamps == [_app._stamp(1_700_000_000_123), _app._stamp(1_700_000_000_123), _app._stamp(1_700_000_000_124),
                      _app._stamp(1_700_000_001_000)]
    assert stamps[0].endswith(".123+00:00") and stamps[2].endswith(".124+00:00")

@pytest.mark.parametrize("messages, limit, expected", [
    ([{"type": "http.request", "body": b"{}"}], 10, b"{}"),  # the common case: one message, within the cap
    ([{"type": "http.request", "body": b"x" * 11}], 10, None),  # one message over the cap
    ([{"type": "http.request"}], 10, b""),
    ([{"type": "http.request", "body": b"ab", "more_body": True}, {"type": "http.request", "body": b"cd"}], 10, b"abcd"),
    ([{"type": "http.request", "body": b"abcdef", "more_body": True}, {"type": "http.request", "body": b"ghijk"}], 10, None),
    ([{"type": "something.else"}, {"type": "http.request", "body": b"{}"}], 10, b"{}"),
    ([{"type": "http.disconnect"}], 10, ClientDisconnect),
    ([{"type": "http.request", "body": b"ab", "more_body": True}, {"type": "http.disconnect"}], 10, ClientDisconnect),
])
def test_the_mock_reads_a_body_as_the_one_capped_reader_does(messages, limit, expected):
    # the whole body in one message is taken at once (speed); the rest goes through read_capped, the first message replayed
    import asyncio

    from migma_contract.mock._app import _Call
    from migma_contract.wire.boundary import read_capped

    def receiver():
        left = list(messages)

        async def receive():
            return left.pop(0)
        return receive

    scope = {"method": "POST", "path": "/v1/sending", "headers": []}
    if expected is ClientDisconnect:
        with pytest.raises(ClientDisconnect):
            asyncio.run(_Call.of(scope, receiver()).body(limit))
        assert asyncio.run(read_capped(receiver(), limit)).disconnected
        return
    assert asyncio.run(_Call.of(scope, receiver()).body(limit)) == expected == asyncio.run(read_capped(receiver(), limit)).content


class _OwnName(bytes):
    """A header name of a caller's own bytes type: given back equal, as bytes."""


@pytest.mark.parametrize("headers", [
    [(b"host", b"mock"), (b"content-type", b"application/json"), (b"x-empty", b"")],
    [(b"host", b"mock"), (b"x-nul", b"a\x00b")],
    [(b"host", b"mock"), (_OwnName(b"x-own"), b"kept as it came")],
    [],
])
def test_the_request_log_gives_back_the_headers_exactly_as_they_came(headers):
    # the log keeps a request as one bytes object (marshal, speed) and gives back the same pairs
    import asyncio

    mock = create_app()
    body = json.dumps(FACTORY.valid_body()).encode()
    scope = {"type": "http", "method": "POST", "path": "/v1/sending", "headers": [*headers, (b"authorization", f"Bearer {FULL_KEY}".encode())],
             "query_string": b"", "scheme": "http"}
    sent = []

    async def receive():
        return {"type": "http.request", "body": body}

    async def send(message):
        sent.append(message)

    asyncio.run(mock(scope, receive, send))
    (logged,) = mock.requests
    assert list(logged.raw_headers) == scope["headers"]
    assert all(type(name) is type(value) is bytes for name, value in logged.raw_headers)
    assert logged.raw == body and [record.raw_request for record in mock.sent] == ([body] if logged.outcome == "accepted" else [])


def test_a_logged_request_is_kept_as_one_object_until_the_log_is_read():
    """Each request kept a dozen objects in the logs (a tuple of its fields, its body, its headers, its texts, the
    send's record): a busy mock dropped them cold thousands of requests later (issue 23: ~0.78x a bare Starlette
    app's CPU per request). Now each request and each send is one bytes object, and reads give the same records."""
    import asyncio
    import gc
    import sys

    mock = create_app({"open_world": True, "limits": {"request_log": 1000, "sent_log": 1000}})
    bodies = [json.dumps({**FACTORY.valid_body(), "subject": f"send {index}"}).encode() for index in range(400)]
    bodies[7] = b'{"recipientType": "email"}'  # refused: its violations are kept too
    headers = [(b"host", b"mock"), (b"user-agent", b"test/1"), (b"content-type", b"application/json"),
               (b"authorization", f"Bearer {FULL_KEY}".encode())]

    async def drive(chosen):
        async def send(message):
            pass

        for body in chosen:
            async def receive(body=body):
                return {"type": "http.request", "body": body}

            last = [(b"idempotency-key", b"the-last-one")] if body is bodies[-1] else []  # (a stored reply is more to keep)
            scope = {"type": "http", "method": "POST", "path": "/v1/sending", "headers": [*headers, *last], "query_string": b"",
                     "scheme": "http"}
            await mock(scope, receive, send)

    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(drive(bodies[:100]))  # the mock's caches and tables warm
        gc.collect()
        before = sys.getallocatedblocks()
        loop.run_until_complete(drive(bodies[100:]))
        gc.collect()
        kept = sys.getallocatedblocks() - before
    finally:
        loop.close()
    assert kept / 300 < 3, f"{kept / 300:.1f} objects kept per request"
    requests, sent = mock.requests, mock.sent
    assert len(requests) == 400 and len(sent) == 399 and mock.requests == requests  # read twice: the same records
    refused = requests[7]
    assert refused.outcome == "refused" and refused.violations and all(isinstance(v, Violation) for v in refused.violations)
    last = requests[-1]
    assert (last.user_agent, last.idempotency_key, last.raw, last.content_type) == ("test/1", "the-last-one", bodies[-1], "application/json")
    assert sent[-1].request == json.loads(bodies[-1]) and sent[-1].recipients == (json.loads(bodies[-1])["recipientEmail"],)


def test_a_request_with_a_field_marshal_cannot_write_is_logged_as_it_came():
    # a caller's own str type (marshal writes exact types only): that request is kept as its fields, read the same
    import asyncio

    class Scheme(str):
        pass

    mock = create_app()
    scope = {"type": "http", "method": "POST", "path": "/v1/sending", "headers": [(b"authorization", f"Bearer {FULL_KEY}".encode()),
             (b"content-type", b"application/json")], "query_string": b"", "scheme": Scheme("http")}

    async def receive():
        return {"type": "http.request", "body": b'{"recipientType": "email"}'}

    async def send(message):
        pass

    asyncio.run(mock(scope, receive, send))
    (logged,) = mock.requests
    assert type(logged.scheme) is Scheme and logged.outcome == "refused" and logged.violations
    assert all(isinstance(v, Violation) for v in logged.violations) and mock.requests == [logged]


def test_a_requests_head_size_counts_each_header_with_its_overhead():
    # what the byte budget counts for a request's headers (counted in C since issue 23): names, values, and each pair's cost
    from migma_contract.mock._app import _Call
    from migma_contract.mock._state import HEADER_OVERHEAD

    raw = [(b"host", b"mock"), (b"x-empty", b""), (b"user-agent", b"a" * 300), (b"user-agent", b"second")]
    call = _Call.of({"type": "http", "method": "POST", "path": "/v1/sending", "headers": raw}, None)
    assert call.head_size == sum(len(k) + len(v) + HEADER_OVERHEAD for k, v in raw)
    assert call.headers == {"user-agent": "a" * 300}  # the first of each name
    assert _Call.of({"type": "http", "method": "POST", "path": "/", "headers": []}, None).head_size == 0


def test_a_send_to_no_one_that_the_level_lets_through_is_refused_by_the_world_not_a_crash():
    # at level schema the rule "recipientEmail with recipientType email" (documented) is a warning: the body reaches the
    # world, which has no one to send to (it answered 500 with a KeyError)
    mock = create_app({"level": "schema"})
    body = {k: v for k, v in FACTORY.valid_body().items() if k != "recipientEmail"}
    assert body["recipientType"] == "email"
    status, _, answer = _asgi_post(mock, [("content-type", "application/json"), *AUTH.items()], json.dumps(body).encode())
    assert status == 400 and b"recipientEmail" in answer, answer
    assert [(r.outcome, bool(r.warnings)) for r in mock.requests] == [("world", True)] and not mock.sent
