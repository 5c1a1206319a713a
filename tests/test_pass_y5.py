"""Pass Y5: the findings of the outside differential attack pass Y5, each a test that failed before its fix."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import zlib

import pytest
import schemathesis

from migma_contract import contract_for, validate_request, validate_response
from migma_contract.contract.catalogue import IDEMPOTENCY_HEADER, KNOWN_FIELDS, STATUS_DOCUMENTED
from migma_contract.schemathesis_checks import CHECKS, violations_of
from migma_contract.traffic.tally import CLIENT, SERVER, ObservedExchange, TrafficJudge, judge_exchange
from migma_contract.wire.serve import serve_in_thread

from .faulty_servers import FULL_KEY, Resp, Variant
from .test_pass_x5a import SPEC, VALID

_HTML = b"<html><body>no</body></html>"
_EMAIL_FORMAT = "email-format"


def _always(status: int, content_type: str = "text/html", body: bytes = _HTML) -> Variant:
    """The mock behind a front end answering every request `status` with `body`."""
    return Variant("always", None, after=lambda req, resp: Resp(status, {"content-type": content_type}, body))


def _call(app, headers: dict[str, str], body=VALID):
    schema = schemathesis.openapi.from_dict(contract_for().spec.document)
    schema.app = app
    case = schema["/v1/sending"]["POST"].Case(body=body, headers={"Authorization": f"Bearer {FULL_KEY}", **headers})
    return case, case.call()


def _failed(response, case) -> dict[str, str]:
    failed = {}
    for check in CHECKS:
        try:
            check(None, response, case)
        except AssertionError as exc:
            failed[check.__name__] = str(exc)
    return failed


_STATUS_CHECK = "migma_" + STATUS_DOCUMENTED.id.replace("-", "_")
_LEFT_OPEN = [  # (the answer's status, the request's extra headers, what the judge's reason names)
    (429, {}, "429 (rate limited) is transient"),
    (409, {IDEMPOTENCY_HEADER: "y5-409"}, "Idempotency-Key"),
    (422, {IDEMPOTENCY_HEADER: "y5-422"}, "Idempotency-Key"),
    (418, {"Content-Type": "text/plain"}, "Content-Type"),
]


# --- F1: the migma_* checks passed a status the one judge left unjudged ----------------------------------------------


@pytest.mark.parametrize(("status", "headers", "why"), _LEFT_OPEN, ids=[str(row[0]) for row in _LEFT_OPEN])
def test_a_check_of_a_rule_the_judge_left_unjudged_fails_as_not_judged(status, headers, why):
    """Pass Y5, F1: a 429, a 409/422 under an Idempotency-Key, a 418 to a request that is no JSON: the one
    judge leaves the status unjudged (`partly`), and proxy/judge/middleware say judged in part; every migma_* check
    passed it (a server answering everything 409 ran green). Now the check of each rule left unjudged fails, "not
    judged" and why, and `violations_of` answers judged in part."""
    case, response = _call(_always(status).app(), headers)
    assert response.status_code == status
    found = violations_of(response, case)
    assert found.unread is not None and why in found.unread and STATUS_DOCUMENTED.id in found.unjudged and found != []
    failed = _failed(response, case)
    assert _STATUS_CHECK in failed and "not judged" in failed[_STATUS_CHECK] and why in failed[_STATUS_CHECK], failed


def test_a_status_judged_in_full_is_still_a_violation_not_a_doubt():
    """Pass Y5, F1: the control: the same 409 text/html to a request with no Idempotency-Key (nothing left open) is
    status-documented's violation as before; a documented refusal of an invalid send passes every check."""
    case, response = _call(_always(418).app(), {})
    found = violations_of(response, case)
    assert found.unread is None and STATUS_DOCUMENTED.id in {v.rule_id for v in found}
    assert "not judged" not in _failed(response, case)[_STATUS_CHECK]
    case, response = _call(Variant("plain", None).app(), {}, body={"recipientType": "email"})
    assert response.status_code == 400 and violations_of(response, case) == [] and _failed(response, case) == {}


def _bare(status: int, content_type: str | None):
    """A Schemathesis-like response to a request with no body (its coverage phase sends one), as the checks read it."""
    from types import SimpleNamespace

    sent = {"Authorization": f"Bearer {FULL_KEY}"} | ({"Content-Type": content_type} if content_type else {})
    request = SimpleNamespace(method="POST", url="http://127.0.0.1:1/v1/sending", headers=sent, body=None)
    response = SimpleNamespace(request=request, status_code=status, headers={"Content-Type": ["application/json"]},
                               content=b'{"success": false, "data": null, "error": "no JSON"}', elapsed=0.01)
    case = SimpleNamespace(operation=SimpleNamespace(path="/v1/sending", full_path="/v1/sending"), body=None,
                           headers=sent, method="POST")
    return response, case


@pytest.mark.parametrize("content_type", [None, "text/plain"], ids=["no-content-type", "text-plain"])
def test_http_s_own_refusal_of_a_request_that_is_no_json_passes_and_another_answer_does_not(content_type):
    """Pass Y5, F1: the control that keeps a Schemathesis run against the reference mock green: its coverage phase sends
    a request with no body and no Content-Type, which the mock answers 415 (HTTP's answer, RFC 9110 §15.5.16): no check
    fails it. Any other answer to it (a 418) leaves status-documented unjudged: "not judged", never a pass."""
    response, case = _bare(415, content_type)
    assert violations_of(response, case) == [] and _failed(response, case) == {}
    response, case = _bare(418, content_type)
    failed = _failed(response, case)
    assert set(failed) == {_STATUS_CHECK} and "not judged" in failed[_STATUS_CHECK] and "Content-Type" in failed[_STATUS_CHECK]


@pytest.mark.e2e  # a `schemathesis run` process against a loopback server
@pytest.mark.parametrize(("status", "key"), [(409, True), (429, False), (None, True)], ids=["409-under-key", "429", "mock"])
def test_a_real_schemathesis_run_is_not_green_on_statuses_left_unjudged(status, key, tmp_path):
    """Pass Y5, F1: `SCHEMATHESIS_HOOKS=migma_contract.schemathesis_checks schemathesis run -H "Idempotency-Key: ..."`
    against a server answering every request 409 text/html (or 429): "No issues found", exit 0 before; now the run
    fails with migma_status_documented not judged. The control: the reference mock, every phase (the coverage phase
    sends a request with no Content-Type, answered 415), under a key: no migma_* check fails."""
    env = {**os.environ, "SCHEMATHESIS_HOOKS": "migma_contract.schemathesis_checks", "NO_COLOR": "1"}
    extra = ["-H", f"{IDEMPOTENCY_HEADER}: run-y5"] if key else []
    phases = "examples,fuzzing" if status is not None else "examples,coverage,fuzzing"
    with serve_in_thread((_always(status) if status is not None else Variant("plain", None)).app()) as url:
        done = subprocess.run(
            [sys.executable, "-m", "schemathesis.cli", "run", str(SPEC), "--url", url, "-H", f"Authorization: Bearer {FULL_KEY}",
             *extra, "--phases", phases, "--max-examples", "10", "--generation-deterministic",
             "-c", ",".join(check.__name__ for check in CHECKS), "--no-color"],
            capture_output=True, text=True, timeout=300, cwd=tmp_path, env=env,
        )
    output = done.stdout + done.stderr
    if status is None:
        assert done.returncode == 0 and "Custom check failed" not in output, output
        return
    assert done.returncode == 1, output
    assert f"Custom check failed: `{_STATUS_CHECK}`" in output and "not judged" in output, output


# --- F2: result-id-unique keyed replays on case.headers only ---------------------------------------------------------


def test_a_replay_keyed_by_headers_given_to_call_is_not_blamed():
    """Pass Y5, F2: `case.call(headers={"Idempotency-Key": ...})` sends the key without putting it in case.headers;
    result-id-unique read the key from case.headers only, so the mock's correct idempotent replay (same key, same
    body, same id, Idempotent-Replayed: true) failed "already given to an earlier accepted send". The key is read from
    the request sent."""
    import migma_contract.schemathesis_checks as checks

    schema = schemathesis.openapi.from_dict(contract_for().spec.document)
    schema.app = Variant("plain", None).app()
    [unique] = [check for check in CHECKS if check.__name__ == "migma_result_id_unique"]
    checks._HISTORY.clear()
    case = schema["/v1/sending"]["POST"].Case(body=VALID, headers={"Authorization": f"Bearer {FULL_KEY}"})
    first = case.call(headers={IDEMPOTENCY_HEADER: "y5-replay"})
    again = case.call(headers={IDEMPOTENCY_HEADER: "y5-replay"})
    assert IDEMPOTENCY_HEADER not in (case.headers or {})
    assert first.status_code == again.status_code == 200 and first.json()["data"]["id"] == again.json()["data"]["id"]
    unique(None, first, case)
    unique(None, again, case)  # the replay: no failure
    other = schema["/v1/sending"]["POST"].Case(body=VALID, headers={"Authorization": f"Bearer {FULL_KEY}"})
    fresh = other.call(headers={IDEMPOTENCY_HEADER: "y5-other"})
    unique(None, fresh, other)  # the control: a new send gets a new id


# --- F3: a client break the contract leaves open to servers was never the client's in traffic -------------------------

_SEND = {"recipientType": "email", "recipientEmail": "ada@example.com", "from": "hello@yourbrand.migma.email",
         "fromName": "B", "subject": "Hi", "emailId": "email_welcome"}
_REFUSED = json.dumps({"success": False, "data": None, "error": "refused"}).encode()
_ACCEPTED = json.dumps({"success": True, "data": {"id": "m_y5", "status": "queued"}, "error": None}).encode()
_OPEN_BREAKS = [  # (level, the extra member, the rule)
    ("strict", {"reply_to": "x@example.com"}, KNOWN_FIELDS.id),
    ("documented", {"replyTo": "x@example.com."}, _EMAIL_FORMAT),
    ("documented", {"replyTo": "a" * 65 + "@example.com"}, _EMAIL_FORMAT),
]


def _observed(body: dict, status: int, answer: bytes) -> ObservedExchange:
    return ObservedExchange("POST", "http://127.0.0.1:1/v1/sending",
                            [("authorization", f"Bearer {FULL_KEY}"), ("content-type", "application/json")],
                            json.dumps(body).encode(), status, [("content-type", "application/json")], answer, 0.01)


@pytest.mark.parametrize(("level", "extra", "rule"), _OPEN_BREAKS, ids=["unknown-field", "trailing-dot", "long-local"])
@pytest.mark.parametrize(("status", "answer"), [(400, _REFUSED), (200, _ACCEPTED)], ids=["refused", "accepted"])
def test_a_client_break_left_open_to_servers_is_still_the_clients(level, extra, rule, status, answer):
    """Pass Y5, F3: a break `Form.undecided` leaves open (a server may accept it: known-fields at strict, an address
    invalid only by a strict reading of RFC 5321) was dropped from the client's list too: the proxy, judge and
    middleware said NO VIOLATION OBSERVED (exit 0) where validate_request and the mock blame the client. Now the client
    is blamed on every way in; the server is not blamed whether it refuses or accepts the send."""
    body = _SEND | extra
    assert rule in {v.rule_id for v in validate_request(body, level=level)}
    verdict = judge_exchange(contract_for(), level, _observed(body, status, answer))
    assert [(j.rule_id, j.ok) for j in verdict.of(CLIENT)] == [(rule, False)]
    assert all(j.ok for j in verdict.of(SERVER)), verdict.of(SERVER)
    judge = TrafficJudge(contract_for(), level, kind="judge", label="y5")
    judge.observe(_observed(body, status, answer))
    result = judge.result()
    assert result.verdict == "failed" and result.exit_code == 1, result.verdict


def test_a_valid_send_is_not_blamed_at_all():
    """Pass Y5, F3: the control: the same send without the break, refused or accepted, blames no one's body rule."""
    for status, answer in ((200, _ACCEPTED), (400, _REFUSED)):
        verdict = judge_exchange(contract_for(), "strict", _observed(_SEND, status, answer))
        assert verdict.of(CLIENT) == ()


# --- F4: validate_response and an answer still in its Content-Encoding -----------------------------------------------

_OK = json.dumps({"success": True, "data": {"id": "m_y5", "status": "queued"}, "error": None}).encode()


@pytest.mark.parametrize(("coding", "raw"), [("GZIP", gzip.compress(_OK, mtime=0)), (" gzip ", gzip.compress(_OK, mtime=0)),
                                             ("gzip, identity", gzip.compress(_OK, mtime=0)), ("Deflate", zlib.compress(_OK))],
                         ids=["GZIP", "spaced-gzip", "gzip-identity", "Deflate"])
def test_validate_response_reads_an_answer_in_its_content_encoding(coding, raw):
    """Pass Y5, F4 (fixed by pass Y3, F3's decoding, before this pass's branch): the bytes as sent with their coding
    were "not JSON (UnicodeDecodeError ...)"; they are decoded as the middleware and the proxy decode them."""
    assert validate_response(200, {"content-type": "application/json", "content-encoding": coding}, raw) == []
