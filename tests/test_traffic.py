"""Judging observed exchanges: the catalogue's verdict on traffic the toolkit did not make.

Each test names what a real exchange deserves by the contract (CONTRACT.md), including
what traffic cannot show (an unknown key, the target's data) and so must never fail.
"""

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from migma_contract import RunResult, Status, contract_for
from migma_contract.contract.catalogue import RULES
from migma_contract.contract.rules import Level, RawBody, Subject
from migma_contract.judge.deserve import Standing, deserve, parsed_body
from migma_contract.run.result import Baseline
from migma_contract.strategies import invalid_requests, valid_requests
from migma_contract.traffic.tally import CLIENT, SERVER, ObservedExchange, TrafficJudge, is_send, judge_exchange, maybe_send

KEY = "mc_live_4f9a8b7c6d5e4f3a2b1c"
VALID = {"recipientType": "email", "recipientEmail": "ann@example.com", "from": "news@example.com", "fromName": "News",
         "subject": "Hello", "emailId": "email_1"}
TAG_WITHOUT_ID = {**VALID, "recipientType": "tag", "recipientEmail": None}
del TAG_WITHOUT_ID["recipientEmail"]
OK = {"success": True, "data": {"id": "msg_1", "provider": "migma", "status": "queued", "sentCount": 1}, "error": None}
REFUSED = {"success": False, "error": "refused"}


def exchange(body=VALID, status=200, answer=OK, *, auth=f"Bearer {KEY}", url="https://staging.example/v1/sending",
             method="POST", **extra):
    headers = [("Content-Type", "application/json")] + ([("Authorization", auth)] if auth is not None else [])
    raw = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    answer_raw = answer if isinstance(answer, bytes) or answer is None else json.dumps(answer).encode()
    return ObservedExchange(method, url, headers, raw, status, [("Content-Type", "application/json")], answer_raw,
                            elapsed=0.05, where="test exchange", **extra)


def verdict(*args, level="documented", **kwargs):
    judged = judge_exchange(contract_for(), level, exchange(*args, **kwargs))
    return {(j.rule_id, j.party): j.ok for j in judged.judgements}, judged


def test_a_valid_request_answered_200_passes_acceptance_and_every_response_rule():
    outcome, judged = verdict()
    assert outcome[("accepts-valid", SERVER)] is True
    assert not judged.breaches
    assert outcome[("success-schema", SERVER)] is True and outcome[("result-has-id", SERVER)] is True


@pytest.mark.parametrize("status", [400, 401, 403])
def test_a_valid_request_refused_with_a_documented_error_is_never_a_failure(status):
    # the server may know what traffic does not show: an unknown key, no email:send, an unknown emailId
    outcome, judged = verdict(VALID, status, REFUSED)
    assert ("accepts-valid", SERVER) not in outcome
    assert not judged.breaches
    assert any(f"answered {status}" in note for note in judged.notes)


def test_a_valid_request_answered_with_an_undocumented_status_fails_acceptance():
    outcome, _ = verdict(VALID, 201, OK)
    assert outcome[("accepts-valid", SERVER)] is False
    assert outcome[("status-documented", SERVER)] is False


def test_a_request_breaking_a_rule_is_the_clients_fault_and_a_400_is_right():
    outcome, judged = verdict(TAG_WITHOUT_ID, 400, REFUSED)
    assert outcome[("batch-needs-recipientId", CLIENT)] is False
    assert outcome[("batch-needs-recipientId", SERVER)] is True
    assert [(j.rule_id, j.party) for j in judged.breaches] == [("batch-needs-recipientId", CLIENT)]


def test_a_server_accepting_a_request_that_breaks_a_rule_breaks_it_too():
    outcome, _ = verdict(TAG_WITHOUT_ID, 200, OK)
    assert outcome[("batch-needs-recipientId", CLIENT)] is False
    assert outcome[("batch-needs-recipientId", SERVER)] is False


@pytest.mark.parametrize("status", [401, 403])
def test_an_auth_refusal_of_a_bad_body_is_right_as_the_key_may_be_unknown(status):
    outcome, _ = verdict(TAG_WITHOUT_ID, status, REFUSED)
    assert outcome[("batch-needs-recipientId", SERVER)] is True


@pytest.mark.parametrize(("status", "right"), [(400, True), (401, True), (403, False), (200, False)])
@pytest.mark.parametrize("auth", [None, "Basic YXBpOmtleQ=="])
def test_a_bad_body_with_no_usable_credentials_may_be_refused_for_either(auth, status, right):
    # the document does not order the checks: 401 for the credentials or 400 for the body, each right for both rules
    outcome, _ = verdict(TAG_WITHOUT_ID, status, REFUSED if status != 200 else OK, auth=auth)
    assert outcome[("auth-required", CLIENT)] is False and outcome[("batch-needs-recipientId", CLIENT)] is False
    assert outcome[("auth-required", SERVER)] is right
    assert outcome[("batch-needs-recipientId", SERVER)] is right


@pytest.mark.parametrize("auth", [None, "Basic YXBpOmtleQ==", KEY])
def test_a_missing_or_non_bearer_header_is_knowable(auth):
    outcome, _ = verdict(VALID, 401, REFUSED, auth=auth)
    assert outcome[("auth-required", CLIENT)] is False
    assert outcome[("auth-required", SERVER)] is True
    accepted, _ = verdict(VALID, 200, OK, auth=auth)
    assert accepted[("auth-required", SERVER)] is False


def test_an_unknown_key_or_a_missing_permission_is_not_knowable_from_traffic():
    outcome, judged = verdict(VALID, 401, REFUSED, auth="Bearer mc_revoked_key_0000")
    assert not any(rule in ("auth-required", "auth-scope") for rule, _ in outcome)
    assert not judged.breaches


def test_a_recording_that_hid_the_header_is_not_judged_for_credentials():
    outcome, _ = verdict(VALID, 200, OK, auth=None, credentials_hidden=True)
    assert ("auth-required", CLIENT) not in outcome and ("auth-required", SERVER) not in outcome


def test_an_open_point_is_judged_neither_way():
    # CONTRACT.md: whether recipientId is ignored or refused on an `email` send is open
    outcome, judged = verdict({**VALID, "recipientId": "aud_1"}, 400, REFUSED)
    assert ("accepts-valid", SERVER) not in outcome
    assert not judged.breaches
    assert any("open point" in note for note in judged.notes)


def test_an_open_point_makes_even_an_undocumented_refusal_unjudged_for_acceptance():
    outcome, _ = verdict({**VALID, "recipientId": "aud_1"}, 422, REFUSED)
    assert ("accepts-valid", SERVER) not in outcome
    assert outcome[("status-documented", SERVER)] is False  # the status itself is still judged


def test_a_rule_above_the_level_is_not_judged():
    outcome, _ = verdict(VALID, 200, {**OK, "data": {**OK["data"], "status": "sent"}}, level="documented")
    assert ("result-status-queued", SERVER) not in outcome
    strict, _ = verdict(VALID, 200, {**OK, "data": {**OK["data"], "status": "sent"}}, level="strict")
    assert strict[("result-status-queued", SERVER)] is False


def test_a_429_is_transient_and_not_a_status_finding():
    outcome, judged = verdict(VALID, 429, REFUSED)
    assert ("status-documented", SERVER) not in outcome
    assert not judged.breaches


def test_no_answer_in_time_breaks_responds_in_time_and_a_failed_connection_no_server_error():
    timed_out = judge_exchange(contract_for(), "documented", exchange(VALID, None, None, timed_out=True, error="no answer in 10 s"))
    assert [(j.rule_id, j.party, j.ok) for j in timed_out.judgements] == [("responds-in-time", SERVER, False)]
    failed = judge_exchange(contract_for(), "documented", exchange(VALID, None, None, error="connection reset"))
    assert [(j.rule_id, j.ok) for j in failed.judgements] == [("no-server-error", False)]


def test_a_slow_answer_breaks_responds_in_time():
    slow = exchange()
    slow.elapsed = 12.0
    judged = judge_exchange(contract_for(), "documented", slow, timeout=10.0)
    assert [j.rule_id for j in judged.breaches] == ["responds-in-time"]


def test_a_body_the_recording_left_out_is_not_judged_as_empty():
    outcome, judged = verdict(None, 200, None)
    assert not judged.breaches
    assert set(outcome) == {("no-server-error", SERVER), ("responds-in-time", SERVER), ("status-documented", SERVER)}


def test_an_answer_without_its_body_still_has_its_status_judged_and_leaves_no_green_verdict():
    """Seventh attack pass (D, finding 3): a recording without the answer's body (as browsers export large ones)
    judged only no-server-error and responds-in-time, and the verdict stayed green."""
    outcome, _ = verdict(VALID, 299, None)
    assert outcome[("status-documented", SERVER)] is False  # 299 is no documented status, body or not
    result = judge_of(exchange(VALID, 200, None)).result()
    assert (result.verdict, result.exit_code) == ("incomplete", 3) and result.traffic.partly_judged == 1
    assert any("answer's body was not recorded" in note for note in result.traffic.notes)


def test_only_post_v1_sending_is_the_endpoint():
    assert is_send("POST", "/v1/sending") and is_send("POST", "/api/v1/sending") and is_send("POST", "/v1/sending?x=1")
    # Pass K, F3: methods are case-sensitive (RFC 9110 §9.1): `post` is no POST; a server may refuse it (405, 400) or
    # read it as POST, so it passes unjudged (`maybe_send`) and a server refusing it is never blamed
    assert not is_send("post", "/api/v1/sending") and maybe_send("post", "/api/v1/sending") and maybe_send("Post", "/v1/sending")
    assert not maybe_send("post", "/v2/sending") and not maybe_send("get", "/v1/sending")
    # Pass I, finding 4: `/api/v1/sending/` was the send, so a server's redirect or 404 for the client's trailing slash
    # was the server's violation; it is a path a server may route to the send, never judged as one (`maybe_send`)
    assert not is_send("post", "/api/v1/sending/") and maybe_send("post", "/api/v1/sending/")
    assert not is_send("GET", "/v1/sending") and not is_send("POST", "/v1/sendings") and not is_send("POST", "/v2/sending")


# --- many exchanges -----------------------------------------------------------------------------------


def judge_of(*exchanges, **options):
    judge = TrafficJudge(contract_for(), options.pop("level", "documented"), kind="recorded", label="test traffic", **options)
    for item in exchanges:
        judge.observe(item)
    return judge


def test_a_rule_no_exchange_exercised_is_not_observed_never_passed():
    result = judge_of(exchange()).result()
    batch = result.rule("batch-needs-recipientId")
    assert batch.status == Status.NOT_EXERCISED and batch.reason.startswith("not observed")
    scope = result.rule("auth-scope")
    assert scope.status == Status.NOT_EXERCISED and "not observable" in scope.reason
    assert result.rule("accepts-valid").status == Status.PASSED
    assert result.exit_code == 0 and result.headline.startswith("NO VIOLATION OBSERVED")


def test_tallies_count_exchanges_and_who_broke_the_rule():
    judge = judge_of(exchange(TAG_WITHOUT_ID, 400, REFUSED), exchange(TAG_WITHOUT_ID, 200, _with_id("msg_2")), exchange(),
                     exchange(url="https://staging.example/v1/contacts"), exchange(method="GET"))
    tally = judge.tallies["batch-needs-recipientId"]
    assert (tally.exercised, tally.failed, tally.by_client, tally.by_server, tally.server_right) == (2, 2, 2, 1, 1)
    assert judge.stats.judged == 3 and judge.stats.other == 2
    result = judge.result()
    rule = result.rule("batch-needs-recipientId")
    assert rule.status == Status.FAILED and rule.observed == "client broke 2/2, server broke 1/2; server right in 1"
    assert result.exit_code == 1 and result.headline.startswith("VIOLATIONS OBSERVED")
    assert {(f.rule, f.broken_by) for f in result.findings} == {("batch-needs-recipientId", "client"), ("batch-needs-recipientId", "server")}
    client = next(f for f in result.findings if f.broken_by == "client")
    assert client.occurrences == 2 and client.phase == "observed" and "broken by the client" in client.case_label


def test_the_baseline_accepts_a_known_failure():
    result = judge_of(exchange(TAG_WITHOUT_ID, 400, REFUSED), baseline=Baseline(rules=frozenset({"batch-needs-recipientId"}))).result()
    assert result.rule("batch-needs-recipientId").status == Status.ACCEPTED
    assert result.exit_code == 0


def test_no_key_seen_in_traffic_is_ever_written():
    other_key = "mc_live_second_key_999999"
    echoing = {"success": False, "error": f"key {KEY} is not allowed; nor {other_key}"}
    judge = judge_of(
        exchange(TAG_WITHOUT_ID, 400, echoing),
        exchange(VALID, 200, OK, auth="Basic " + "bWM6c2VjcmV0LWNvb2tpZS12YWx1ZQ=="),
        exchange(TAG_WITHOUT_ID, 200, OK, auth=f"Bearer {other_key}"),
    )
    text = json.dumps(judge.result().to_dict())
    assert KEY not in text and other_key not in text and "bWM6c2VjcmV0LWNvb2tpZS12YWx1ZQ==" not in text
    assert "$MIGMA_CONTRACT_API_KEY" in text  # the curl line reads the user's own key


@pytest.mark.parametrize("auth", [f"Bearer: {KEY}", f"Bearer\t{KEY}", f"Token: {KEY}", f"Bearer  {KEY}", f"{KEY}",
                                  f"Bearer {KEY}, Bearer mc_live_other_0123456789"])
def test_a_key_in_a_credential_header_however_written_is_never_written(auth):
    """Pass I, finding 5: `Bearer: <key>` (a common typo), a tab, `Token: <key>`: the whole value was learned, not the
    key, and a server echoing the bare key put it into the reports."""
    echoing = {"success": False, "error": f"Invalid API key {KEY}"}
    text = json.dumps(judge_of(exchange(TAG_WITHOUT_ID, 200, echoing, auth=auth)).result().to_dict())
    assert KEY not in text and "mc_live_other_0123456789" not in text


def test_a_key_in_a_noted_path_is_masked_whole_never_cut_first():
    """Final pass L1 (3): the path was cut at 120 characters before the note was redacted, so a learned key straddling
    the cut showed its first 18 characters; a note is cut before a word, and only where it must be."""
    judge = judge_of(exchange())  # the key is learned from its Authorization
    judge.pass_may_route("request 2", "/" + "a" * 100 + "/" + KEY + "/v1/sending/")
    judge.note("x" * 480 + " " + KEY + " and more")
    text = json.dumps(judge.result().to_dict())
    assert KEY[:8] not in text and "request 2" in text


def test_lines_logged_as_violations_happen_are_redacted():
    lines = []
    judge_of(exchange(TAG_WITHOUT_ID, 200, {"success": True, "data": {"id": KEY, "status": "queued"}}), on_breach=lines.append)
    assert lines and all(KEY not in line for line in lines)
    assert any(line.startswith("✗ server broke batch-needs-recipientId") for line in lines)


def test_hostile_text_in_traffic_is_cleaned_before_the_report():
    evil = {"success": False, "error": "bad\x1b[2J\u202eevil"}
    result = judge_of(exchange(TAG_WITHOUT_ID, 200, evil)).result()
    text = json.dumps(result.to_dict(), ensure_ascii=False)
    assert "\x1b" not in text and "\u202e" not in text


def test_the_result_loads_back_through_the_shipped_schema():
    result = judge_of(exchange(TAG_WITHOUT_ID, 200, OK), exchange(VALID, None, None, error="reset")).result()
    loaded = RunResult.from_dict(json.loads(json.dumps(result.to_dict())))
    assert loaded.traffic.judged == 2 and loaded.traffic.unanswered == 1
    assert loaded.target.kind == "recorded"
    assert loaded.findings[0].broken_by in ("client", "server")


# --- traffic judged like a run (issue 25): result-id-unique, timeouts, root causes ------------------------------


def _with_id(data_id):
    return {**OK, "data": {**OK["data"], "id": data_id}}


def _keyed(key):
    item = exchange()
    item.request_headers.append(("Idempotency-Key", key))
    return item


def test_result_id_unique_is_judged_across_recorded_exchanges():
    distinct = judge_of(exchange(answer=_with_id("msg_a")), exchange(answer=_with_id("msg_b"))).result()
    unique = distinct.rule("result-id-unique")
    assert (unique.status, unique.exercised, unique.failed) == (Status.PASSED, 2, 0)
    resent = judge_of(exchange(answer=_with_id("msg_a")), exchange(answer=_with_id("msg_b")), exchange(answer=_with_id("msg_a")))
    result = resent.result()
    assert (result.rule("result-id-unique").status, result.rule("result-id-unique").failed) == (Status.FAILED, 1)
    [finding] = result.findings_for("result-id-unique")
    assert finding.broken_by == SERVER and "'msg_a' was already given to an earlier accepted send" in finding.actual
    assert result.exit_code == 1


def test_an_idempotent_replay_may_repeat_its_id_in_traffic_too():
    first, replay = _keyed("order-1"), _keyed("order-1")
    result = judge_of(first, replay).result()
    assert result.rule("result-id-unique").status == Status.PASSED and result.exit_code == 0
    other = judge_of(_keyed("order-1"), _keyed("order-2")).result()
    assert other.rule("result-id-unique").status == Status.FAILED  # another key is another send


def test_the_id_history_keeps_a_fixed_size_digest_of_each_value_not_the_value():
    """Attack pass (M6): each data.id and Idempotency-Key was kept whole, 100,000 of them (300 ids of 1 MiB: +308 MiB)."""
    keyed = [_keyed(f"{n:06d}" + "k" * 15_000) for n in range(2)]
    for n, item in enumerate(keyed):
        item.response_body = json.dumps(_with_id(f"msg_{n}")).encode()
    judge = judge_of(*keyed, exchange(answer=_with_id("msg_" + "i" * 100_000)))
    judge.observe(exchange(answer=_with_id("msg_" + "i" * 100_000)))  # the same long id again: still recognised
    kept = [(seen, first) for _, memory in judge._history.values() for seen, first in memory.items()]
    assert kept and all(len(seen) == 16 and len(first[0] or b"") <= 16 and len(first[1] or b"") <= 16 and len(first[2]) <= 120
                        for seen, first in kept)
    result = judge.result()
    [finding] = result.findings_for("result-id-unique")
    assert "'msg_iiii" in finding.actual  # the message names the id from the exchange at hand
    assert judge_of(_keyed("order-1"), _keyed("order-1")).result().rule("result-id-unique").failed == 0


@pytest.mark.parametrize("where", ["request", "response"])
def test_a_json_integer_longer_than_python_converts_is_json_never_not_json(where):
    """Attack pass (L4): a valid 5,000-digit integer hit Python's 4,300-digit limit and the body was called not JSON."""
    body = json.dumps(VALID)[:-1] + ', "meta": ' + "1" * 5000 + "}"
    answer = json.dumps(OK)[:-1] + ', "n": -' + "1" * 5000 + "}"
    outcome, judged = verdict(body.encode() if where == "request" else VALID, 200, answer.encode() if where == "response" else OK)
    assert not judged.breaches, [(j.rule_id, j.actual[:80]) for j in judged.breaches]
    assert outcome and not any("JSON" in j.actual for j in judged.judgements)


def test_an_exchange_that_waited_past_the_timeout_with_no_answer_is_a_responds_in_time_failure():
    waited = exchange(VALID, None, None, error="no response recorded")
    waited.elapsed = 30.0
    judged = judge_exchange(contract_for(), "documented", waited, timeout=10.0)
    assert [(j.rule_id, j.party, j.ok) for j in judged.judgements] == [("responds-in-time", SERVER, False)]
    result = judge_of(waited, exchange(), timeout=10.0).result()
    in_time = result.rule("responds-in-time")
    assert (in_time.status, in_time.exercised, in_time.failed) == (Status.FAILED, 2, 1)
    assert result.rule("no-server-error").failed == 0
    quick = exchange(VALID, None, None, error="connection reset")
    quick.elapsed = 0.2  # a broken connection before the timeout is still no complete response
    assert [j.rule_id for j in judge_exchange(contract_for(), "documented", quick, timeout=10.0).judgements] == ["no-server-error"]


def test_root_causes_are_grouped_for_judged_traffic_too():
    refused_422 = {"success": False, "error": "Unprocessable"}
    bad_bodies = [TAG_WITHOUT_ID, {**VALID, "recipientType": "fax"}, {**VALID, "providerType": "pigeon"}, {k: v for k, v in VALID.items() if k != "subject"}]
    result = judge_of(*(exchange(body, 422, refused_422) for body in bad_bodies), exchange()).result()
    [cause] = result.root_causes
    assert (cause.status, cause.instead_of) == (422, 400)
    assert {"batch-needs-recipientId", "recipient-type-enum", "provider-type-enum", "required-fields", "status-documented"} <= set(cause.rules)
    assert cause.summary == "every request that breaks a rule was answered 422 where the document gives 400"
    assert RunResult.from_dict(json.loads(json.dumps(result.to_dict()))).root_causes == result.root_causes


def test_the_answer_is_read_once_for_the_one_judge_and_for_the_rules_across_exchanges():
    # result-id-unique reads the answer the one judge read (not parsed again); a cut answer is not handed on
    from migma_contract.judge import verdict as one_judge

    judged = judge_exchange(contract_for(), "documented", exchange())
    assert judged.facts is not None and judged.facts.parsed and judged.facts.body == OK
    cut = one_judge.judge_exchange(contract_for(), one_judge.Level.DOCUMENTED, exchange(),
                                   one_judge.Knowledge(truncated_at=10))
    assert cut.facts is None
    judge = TrafficJudge(contract_for(), kind="proxy", label="test")
    judge.observe(exchange())
    judge.observe(exchange())  # the same data.id again, no replay key
    assert judge.tallies["result-id-unique"].by_server == 1


def test_the_kept_judgements_of_an_answer_are_shared_only_for_a_status_alone():
    from migma_contract.judge import verdict as one_judge

    judge_exchange(contract_for(), "documented", exchange(status=400, answer={"success": False, "error": "x" * 50}))
    judge_exchange(contract_for(), "documented", exchange())
    assert one_judge._KEPT and all(len(key[1]) <= 3 for key in one_judge._KEPT)


def test_the_rules_across_exchanges_are_worked_out_once_a_status_and_stay_few():
    judge = TrafficJudge(contract_for(), kind="proxy", label="test")
    for status in range(200, 300):
        judge.observe(exchange(status=status))
    assert 0 < len(judge._history_by_status) <= 64
    assert [rule.id for rule, _, _ in judge._history_at(200)] == ["result-id-unique"] and not judge._history_at(201)
    judge.observe(exchange())  # data.id msg_1 again: still found once the statuses are worked out
    assert judge.tallies["result-id-unique"].by_server == 1


def test_an_exchanges_headers_are_lowered_once_and_a_copy_works_them_out_anew():
    from dataclasses import replace

    seen = exchange()
    first = seen.sent_headers
    assert first == {"content-type": "application/json", "authorization": f"Bearer {KEY}"} and seen.sent_headers is first
    assert seen.received_headers == {"content-type": "application/json"}
    copy = replace(seen, request_headers=[("X-Trace", "1")])
    assert copy.sent_headers == {"x-trace": "1"} and seen.sent_headers is first


# --- what a judge learns of the credentials it sees: bounded (attack pass M1, L3) -----------------------------


def _with_keys(n, count, length):
    return {**TAG_WITHOUT_ID, **{f"apiKey{i}": f"{n:03d}{i:02d}" + "A" * (length - 5) for i in range(count)}}


def test_credentials_learned_are_bounded_in_length_and_in_number_per_exchange():
    """Attack pass (M1): every credential of 4+ characters was learned whatever its length (67 requests of 15 apiKey values
    of 4,000 characters, ~4 MB), and each character learned costs the redactor's patterns microseconds on every report."""
    from migma_contract.core.redact import LONGEST_KEY
    from migma_contract.traffic import tally

    judge = judge_of(*[exchange(_with_keys(n, 15, 4000), 400, REFUSED) for n in range(3)],
                     exchange(_with_keys(7, 15, 40), 400, REFUSED))
    learned = judge.redactor.secrets
    assert learned and max(map(len, learned)) <= LONGEST_KEY
    assert KEY in learned and len(learned) == 1 + tally.MAX_CREDENTIALS_PER_EXCHANGE  # the Bearer key, then 8 of 15
    text = json.dumps(judge.result().to_dict())
    assert "A" * 30 not in text  # each one left out is still masked where it stands, under its name
    notes = judge.result().traffic.notes
    assert any(f"longer than {LONGEST_KEY}" in note for note in notes)
    assert any(f"more than {tally.MAX_CREDENTIALS_PER_EXCHANGE} credentials" in note for note in notes)


def test_credentials_learned_are_bounded_in_characters_in_all(monkeypatch):
    from migma_contract.traffic import tally

    monkeypatch.setattr(tally, "MAX_CREDENTIAL_CHARS", 500)
    judge = judge_of(*[exchange(_with_keys(n, 2, 100), 400, REFUSED, auth=None) for n in range(10)])
    assert sum(map(len, judge.redactor.secrets)) <= 500
    assert any("500 characters" in note for note in judge.result().traffic.notes)


def test_the_redactors_patterns_grow_with_what_is_learned_not_with_what_is_sent(monkeypatch):
    """Attack pass (M1): ~4 MB of long credentials cost ~30 s of compiling; what is compiled is now bounded by the
    characters learned (at most `MAX_CREDENTIAL_CHARS`), whatever the traffic sends."""
    import migma_contract.core.redact as redact
    from migma_contract.traffic import tally

    compiled = []
    real = redact._compile
    monkeypatch.setattr(redact, "_compile", lambda pattern: compiled.append(len(pattern)) or real(pattern))
    judge = judge_of(*[exchange(_with_keys(n, 15, 4000), 400, REFUSED) for n in range(20)])
    judge.result()
    assert 0 < sum(compiled) <= 8 * min(tally.MAX_CREDENTIAL_CHARS, 20 * 8 * 512)


def test_an_ordinary_cookie_value_is_no_credential_but_a_session_cookie_is():
    """Attack pass (L3): every cookie value of 4+ characters was learned: `consent=true` masked `true` (and `segment`,
    `status`) in every report and withheld every curl line."""
    broken = exchange(TAG_WITHOUT_ID, 400, REFUSED)
    cookies = exchange(VALID, 200, OK)
    cookies.request_headers.append(("Cookie", "consent=true; a=segment; b=status; sid=s3ss10n42; connect.sid=abcd1234ef; "
                                              "theme=Zq8Lm2Vw9Rt4Yp7Kx3; short=ab12"))
    judge = judge_of(broken, cookies)
    learned = set(judge.redactor.secrets)
    assert {"s3ss10n42", "abcd1234ef", "Zq8Lm2Vw9Rt4Yp7Kx3"} <= learned
    assert not {"true", "segment", "status", "ab12"} & learned  # words and short values: masked where they stand only
    [finding] = judge.result().findings_for("batch-needs-recipientId")
    assert finding.request.curl.startswith("curl ") and '"tag"' in finding.request.body


def test_the_cookie_header_is_still_masked_whole_where_it_is_written():
    item = exchange(TAG_WITHOUT_ID, 400, REFUSED)
    item.request_headers.append(("Cookie", "consent=true; theme=dark"))
    [finding] = judge_of(item).result().findings_for("batch-needs-recipientId")
    assert "dark" not in json.dumps(finding.request.headers) and "consent" not in json.dumps(finding.request.headers)


def test_a_basic_credentials_password_echoed_decoded_is_masked():
    """Ninth attack pass (E, finding 2): a server echoing `bob:<password>` of a client's Basic credential had it written."""
    import base64

    echo = {"success": False, "error": "unknown user/password bob:S3cretBasicPassw0rd", "data": None}
    item = exchange(TAG_WITHOUT_ID, 200, echo, auth="Basic " + base64.b64encode(b"bob:S3cretBasicPassw0rd").decode())
    result = judge_of(item).result()
    assert result.findings
    assert "S3cretBasicPassw0rd" not in json.dumps([f.response.body for f in result.findings] + [f.actual for f in result.findings])


_USERINFO_PASSWORD = "Sup3rS3cretPassw0rd"


@pytest.mark.parametrize("where", ["url", "url encoded", "referer", "body"])
def test_pass_r3_f4_a_password_in_a_urls_userinfo_echoed_is_masked_like_a_basic_pair(where):
    """Pass R3, F4: requests keeps `user:password@` in the URL a vcrpy cassette records (and sends it as a Basic pair,
    which a cassette's filter_headers drops); the judge learned credentials from headers, query and body only, so a
    server echoing the password had it written in every report. Wherever a URL's userinfo stands in the request (its
    URL, percent-encoded or not; a header such as Referer; a link in its body), it is learned, and masked in every
    finding, that exchange's and the next's."""
    password = _USERINFO_PASSWORD
    url = "https://staging.example/v1/sending"
    body = dict(TAG_WITHOUT_ID)
    if where == "url":
        url = f"https://svcuser:{password}@staging.example/v1/sending"
    elif where == "url encoded":
        url = f"https://svcuser:{password[:5]}%40{password[5:]}@staging.example/v1/sending"
        password = password[:5] + "@" + password[5:]  # what the client sends and a server echoes: decoded
    elif where == "body":
        body["subject"] = f"see https://svcuser:{password}@files.example/report"
    echo = {"success": False, "error": f"bad request from svcuser:{password}", "data": None}
    item = exchange(body, 200, echo, auth=None, url=url)
    if where == "referer":
        item.request_headers.append(("Referer", f"https://svcuser:{password}@app.example/send"))
    later = exchange(VALID, 201, {**OK, "echo": password}, auth=None)  # another exchange echoing it, with no userinfo
    result = judge_of(item, later).result()
    assert result.findings_for("batch-needs-recipientId") and result.findings_for("status-documented")
    assert password not in json.dumps(result.to_dict())


_REQUEST_RULES = [rule.id for rule in RULES if rule.subject is Subject.REQUEST and rule.set == "contract"]


@st.composite
def _sends(draw):
    """Bodies of every kind the judge meets: valid ones, each request rule broken, open points met (the fields of
    "either" and "avoid" added or taken away), values the contract leaves open, and what is no JSON object."""
    body = draw(st.one_of(valid_requests(), st.sampled_from(_REQUEST_RULES).flatmap(invalid_requests)))
    for name in draw(st.lists(st.sampled_from(["emailId", "conversationId", "recipientId", "recipientEmail"]), max_size=3)):
        if not isinstance(body, dict):
            break
        if name in body and draw(st.booleans()):
            del body[name]
        else:
            body[name] = draw(st.sampled_from(["email_1", "", " ", "conv_1", "\x00", "a\udc80b", 5, None]))
    if isinstance(body, RawBody):
        return parsed_body(body.content)
    return parsed_body(json.dumps(draw(st.sampled_from([body, body, body, [body], "text"]))).encode())  # as the judge reads it


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(_sends(), st.sampled_from([f"Bearer {KEY}", None, "Basic eDp5", KEY, "bearer  k", "Bearer"]),
       st.sampled_from(list(Standing)), st.sampled_from(list(Level)))
def test_a_plain_valid_send_is_decided_at_once_as_the_full_path_decides_it(body, authorization, standing, level):
    """`deserve` decides a send answered 200 whose body keeps every rule and meets no open point in one Rust call
    (`Contract.settled_valid`): what it decides is what the path that explains every answer decides."""
    from migma_contract.contract.validators import Contract

    fast = contract_for()
    full = Contract(fast.spec)
    full.__dict__["settled_valid"] = None  # (a cached_property: no fast path on this one)
    for answered in (200, 400, None):
        assert deserve(fast, level, body, authorization, standing, answered=answered) == \
            deserve(full, level, body, authorization, standing, answered=answered)


def test_tallies_counted_by_a_kept_outcome_are_the_tallies_of_each_exchanges_judgements():
    """A judge counts the exchanges whose judgements are one shared tuple by that tuple, and adds them to the tallies
    when they are read: whenever they are read, and past the outcomes it keeps, the tallies are those of every
    exchange's judgements (a rule once per exchange, failed when any party broke it, by each party that did)."""
    from dataclasses import replace as copied

    from migma_contract.traffic.tally import RuleTally

    judge = TrafficJudge(contract_for(), kind="proxy", label="test")
    expected = {rule_id: RuleTally() for rule_id in judge.tallies}
    sends = [exchange(answer={**OK, "data": {**OK["data"], "id": f"msg_{n}"}}) for n in range(150)]
    sends += [exchange(status=status) for status in range(200, 290)]  # ~90 distinct judgement tuples: past the kept ones
    sends += [exchange(TAG_WITHOUT_ID, 400, REFUSED), exchange(TAG_WITHOUT_ID, 200), exchange(auth=None, status=401,
              answer=REFUSED), exchange(), exchange()]  # a client's fault, the server's, an id given twice
    for index, sent in enumerate(sends * 2):
        outcome: dict[str, list[bool]] = {}
        for judgement in judge.observe(copied(sent, where=f"send {index}")).judgements:
            seen = outcome.setdefault(judgement.rule_id, [False, False, False])
            if judgement.ok:
                seen[2] |= judgement.party == SERVER
            else:
                seen[0] |= judgement.party == CLIENT
                seen[1] |= judgement.party == SERVER
        for rule_id, (client, server, right) in outcome.items():
            tally = expected[rule_id]
            tally.exercised += 1
            tally.failed += client or server
            tally.passed += not (client or server)
            tally.by_client += client
            tally.by_server += server
            tally.server_right += right
        if index % 37 == 0 or index == 2 * len(sends) - 1:
            assert judge.tallies == expected
    assert expected["accepts-valid"].passed > 300 and expected["result-id-unique"].by_server


def test_what_the_judge_remembers_of_header_names_stays_small_and_changes_no_verdict():
    """Whether a header's name carries a credential is decided once each, for a thousand names: thousands of distinct
    (and long) header names and paths do not grow it past its bound, and a credential under a credential's name is
    still learned once it is full."""
    from migma_contract.traffic import tally

    judge = TrafficJudge(contract_for(), kind="proxy", label="test")
    for n in range(1500):
        judge.observe(exchange(url=f"https://api.example/v1/other/{n}" + "x" * (n % 400)))
        judge.observe(exchange(method="P" * (n % 300 + 2) + "OST", url=f"https://api.example/v1/sending?n={n}", status=405))
        junk = exchange(auth=None, status=401, answer=REFUSED)
        judge.observe(copy_with(junk, request_headers=[*junk.request_headers, (f"X-Trace-{n}" + "t" * (n % 200), "1")]))
    late = exchange(auth=None, status=401, answer=REFUSED)
    secret = "zq8Kx2mP9vL4tR7wY1nB"
    judge.observe(copy_with(late, request_headers=[*late.request_headers, ("X-Api-Key", secret)]))
    assert len(tally._SENSITIVE) <= 1024
    assert secret in judge._secrets
    assert judge.stats.other == 3000 and judge.stats.judged == 1501


def copy_with(seen, **changes):
    from dataclasses import replace

    return replace(seen, **changes)


def test_every_note_a_report_carries_is_redacted_with_the_credentials_learned():
    """A note quotes what a peer sent (a may-route path, a header's name, a Content-Encoding): a key learned from a
    judged send is masked there too, whether the note came before or after it was learned."""
    key = "Zq2LmN4pR7tV1xY3wK8s"
    judge = TrafficJudge(contract_for(), kind="proxy", label="t")
    judge.note(f"proxy exchange 0: the upstream's Content-Encoding {key!r} is not one the proxy reads")
    judge.observe(ObservedExchange("POST", "/v1/sending", [("Authorization", f"Bearer {key}"),
                                                           ("Content-Type", "application/json")],
                                   json.dumps(VALID).encode(), 200, [("Content-Type", "application/json")],
                                   json.dumps(OK).encode()))
    judge.observe(ObservedExchange("POST", f"/{key}/v1/sending", [("Authorization", f"Bearer {key}")],
                                   json.dumps(VALID).encode(), 200, route="may route"))
    judge.note(f"proxy exchange 3: the upstream's header(s) 'x-key-{key.lower()}' held control characters")
    notes = judge.result().traffic.notes
    assert len(notes) == 3 and not any(key in note or key.lower() in note for note in notes), notes


@pytest.mark.parametrize("quote", ['"', "'", "`"])
def test_a_recorded_quoted_bearer_key_echoed_bare_is_masked(quote):
    """Red-team pass N2, F1 (n8_echo.py, bearerq): a recorded `Authorization: Bearer "k..."` answered 401 with the key
    echoed without its quotes had the bare key in conformance.json, junit.xml and index.html."""
    key = "SECRETq999abcdef01"
    echo = {"success": False, "error": f"Invalid credentials: {key} (user:{key})", "data": None}
    item = exchange(TAG_WITHOUT_ID, 200, echo, auth=f"Bearer {quote}{key}{quote}")
    result = judge_of(item).result()
    assert result.findings
    shown = json.dumps([[f.response.body, f.actual, f.request.curl, f.request.headers] for f in result.findings])
    assert key not in shown


# --- pass R2 ---------------------------------------------------------------------------------------------------------

def test_a_proxy_that_judged_no_send_gives_no_verdict():
    """Pass R2, F4: `TrafficJudge.result()` with no send judged was "passed", exit 0, for the proxy and the middleware
    (only `judge` said "nothing to judge"). One rule in the result: no send judged is no verdict (exit 3)."""
    judge = TrafficJudge(contract_for(), kind="proxy", label="proxy in front of upstream")
    judge.skip(5)  # requests to other paths: seen, none of them a send
    result = judge.result()
    assert (result.verdict, result.exit_code, result.completion) == ("incomplete", 3, "partial")
    assert result.headline.startswith("INCOMPLETE: no POST /v1/sending exchange judged") and "nothing to judge" in result.headline
    judge.observe(exchange())
    assert (judge.result().verdict, judge.result().exit_code) == ("passed", 0)


BIG = {**VALID, "html": "x" * (2 << 20)}  # a 2 MiB send: past nginx's default client_max_body_size (1 MiB)
TOO_LARGE = b"<html><body><h1>413 Request Entity Too Large</h1></body></html>"


def test_a_413_to_a_body_past_what_front_ends_allow_leaves_the_status_unjudged_in_traffic():
    """Pass R2, F8: a send over 1 MiB answered 413 (nginx's default limit, before any app) was the server's
    status-documented break ("413 is not documented"), while a head past 8 KB answered 4xx was already "a front end
    may refuse it". A body past what front ends commonly allow is the same class: its 413 leaves the status (and the
    answer's body rules) unjudged, judged in part; a 413 to a small body, or any other status, stays judged."""
    from migma_contract.judge.verdict import FRONT_END_BODY, _asks_otherwise

    outcome, judged = verdict(BIG, 413, TOO_LARGE)
    assert not judged.breaches and "front ends commonly allow" in (judged.partly or "")
    # the body not kept (a way in keeps a large one unkept): its Content-Length says its size
    unkept = exchange(None, 413, TOO_LARGE)
    unkept.request_headers.append(("Content-Length", str(2 << 20)))
    assert not judge_exchange(contract_for(), "documented", unkept).breaches
    outcome, judged = verdict({**VALID, "html": "x" * 200_000}, 413, TOO_LARGE)  # 200 KB: no front end refuses it
    assert outcome[("status-documented", SERVER)] is False
    outcome, judged = verdict(BIG, 418, TOO_LARGE)
    assert outcome[("status-documented", SERVER)] is False
    # every way in: the proxy's and the middleware's judge (a body over 64 KiB is judged as not kept)
    judge = TrafficJudge(contract_for(), kind="proxy", label="proxy")
    judge.observe(exchange(BIG, 413, TOO_LARGE))
    result = judge.result()
    assert (result.exit_code, result.findings, result.traffic.partly_judged) == (3, [], 1)
    # not in `check`: its requests are its own
    assert _asks_otherwise({}, "/v1/sending", b"x" * (FRONT_END_BODY + 1), 413, data_known=True) == (None, 0)


def _echoing(credentials, body_credentials):
    headers = [("Content-Type", "application/json"), ("Authorization", f"Bearer {KEY}")]
    headers += [(f"X-Api-Key-{i}", value) for i, value in enumerate(credentials)]
    body = json.dumps({**VALID, **body_credentials}).encode()
    echo = " ".join([*credentials, *body_credentials.values()])
    answer = json.dumps({"success": True, "error": f"echo {echo}"}).encode()  # no `data`: a server finding quoting it
    return ObservedExchange("POST", "https://staging.example/v1/sending", headers, body, 200,
                            [("Content-Type", "application/json"), ("X-Echo", echo[:4000])], answer, elapsed=0.05)


@pytest.mark.parametrize("count, length", [(40, 22), (3000, 22), (5, 40_000)])
def test_every_credential_of_an_exchange_is_kept_out_of_its_own_findings(tmp_path, count, length):
    """Pass R2, F9: an exchange's credentials past the judge's bounds were masked in its own findings only up to the
    first 4 x 8: with 40 in one request, the body's apiKey, password and token, echoed in the answer, reached every
    report. Every one is masked now (bounded by their characters, not their count); past that bound the findings show
    none of the answer's text."""
    import secrets as random_secrets

    from migma_contract.reports import write_reports

    made = [f"zq{random_secrets.token_hex(length // 2)}"[:length] for _ in range(count)]
    body = {"apiKey": f"zq{random_secrets.token_hex(10)}", "password": f"zq{random_secrets.token_hex(10)}",
            "token": f"zq{random_secrets.token_hex(10)}"}
    judge = TrafficJudge(contract_for(), kind="proxy", label="proxy")
    judge.observe(_echoing(made, body))
    result = judge.result()
    assert [(f.rule, f.broken_by) for f in result.findings] == [("envelope-consistent", SERVER)]
    paths = write_reports(result, tmp_path, ["json", "junit", "md", "html"])
    every = [*made, *body.values()]
    for path in paths:
        text = path.read_text(encoding="utf-8")
        assert [secret for secret in every if secret in text] == [], path.name
    # past the bound (3,000 keys: 66 KB of them) the answer's text is not shown; below it, it is (each key masked)
    assert ("[not shown: the request carried more credentials" in result.findings[0].actual) == (count == 3000)
