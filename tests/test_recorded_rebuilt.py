"""A HAR whose writer rebuilds each request at export rather than records it (pass X2, Insomnia requests).

Insomnia's HAR export (Kong/insomnia packages/insomnia/src/common/har.ts, `exportHar`) renders each request anew at
export time from its current definition and environment (fresh `{% uuid %}` and faker values, its auth header
recomputed) and pairs it with the request's latest stored answer: the request shown may not be the one the answer
answered. What judges the request, or the answer against the request, is left unjudged (judged in part, a traffic
note naming the recorder); what judges the answer alone is judged.
"""

from __future__ import annotations

import json

import pytest

from migma_contract.traffic.recordings import open_recording

from .test_recorded_bounds import VALID, entry, judge_cli

INSOMNIA = "Insomnia REST Client"
OK = '{"success": true, "data": {"id": "m1", "status": "queued"}, "error": null}'
# an answer breaking the SendEmailResult schema: no `id`, a status the document does not list
BAD_SCHEMA = '{"success": true, "data": {"status": "bogus"}, "error": null}'
JSON_HEAD = {"name": "Content-Type", "value": "application/json"}
KEY = {"name": "Authorization", "value": "Bearer k_recorded_0123"}
# what the export shows where the environment now holds no value: the template rendered empty
EMPTIED = {
    "recipient": ({**VALID, "recipientEmail": ""}, [KEY, JSON_HEAD]),
    "credentials": (VALID, [{"name": "Authorization", "value": "Bearer "}, JSON_HEAD]),
    "no auth header": (VALID, [JSON_HEAD]),
}


def _har(path, *entries, creator=INSOMNIA):
    # (Insomnia's exporter writes its version so; another recorder writing it is one that shares the exporter: Pass Y2, F4)
    version = "insomnia.desktop.app:v10.1.1" if creator == INSOMNIA else "1.0"
    path.write_text(json.dumps({"log": {"version": "1.2", "creator": {"name": creator, "version": version},
                                        "entries": list(entries)}}))
    return path


def _judged(path):
    reports = path.parent / (path.stem + "-reports")
    result = judge_cli(path, "--report-dir", reports, "--timeout", "10", "--format", "json")
    return result, json.loads((reports / "conformance.json").read_text())


@pytest.mark.parametrize("case", list(EMPTIED))
@pytest.mark.parametrize("creator", [INSOMNIA, "Advanced REST Client"])
def test_pass_x2_a_correct_server_is_not_blamed_for_a_request_rebuilt_at_export(tmp_path, case, creator):
    """Pass X2, Insomnia requests: a correct server answered 200 to the request as it was sent; exported later, the
    request shows a templated field (or its key) rendered empty in today's environment. It was blamed for accepting
    an invalid request (and the client for sending it). The request rules, the credentials and the status it
    deserved are not judged on such a HAR; the answer's own rules are, and kept."""
    body, headers = EMPTIED[case]
    result, data = _judged(_har(tmp_path / "insomnia.har", entry(body, headers=headers), creator=creator))
    assert data["findings"] == [], result.output
    assert result.exit_code == 3, result.output  # judged in part: no green verdict
    assert "its request rules, credentials and status were not judged" in result.output, result.output
    assert ("Insomnia" if creator == INSOMNIA else "Advanced REST Client") in result.output, result.output
    rules = {rule["id"]: rule for rule in data["rules"]}
    assert rules["accepts-valid"]["passed"] == rules["accepts-valid"]["failed"] == 0, rules["accepts-valid"]
    # the answer alone is still judged, and kept
    for kept in ("no-server-error", "content-type-json", "result-has-id"):
        assert rules[kept]["passed"] == 1, rules[kept]
    (exchange,) = open_recording(tmp_path / "insomnia.har").exchanges()
    assert exchange.request_rebuilt is not None


@pytest.mark.parametrize("case", list(EMPTIED))
def test_pass_x2_the_same_request_recorded_as_sent_is_still_judged(tmp_path, case):
    """Pass X2 (its other side): a recorder that writes the request as it went out (mitmproxy) keeps the request
    judged: the same exchange there still finds a breach."""
    body, headers = EMPTIED[case]
    result, data = _judged(_har(tmp_path / "proxy.har", entry(body, headers=headers), creator="mitmproxy exporthar"))
    assert result.exit_code == 1 and data["findings"], result.output


def test_pass_x2_a_faulty_answer_schema_in_an_insomnia_har_is_still_blamed(tmp_path):
    """Pass X2, Insomnia requests: rules that judge the answer alone stay judged on a rebuilt request: an answer
    breaking SendEmailResult's schema is the server's breach, whatever request the export shows."""
    body, headers = EMPTIED["recipient"]
    result, data = _judged(_har(tmp_path / "bad.har", entry(body, headers=headers, answer=BAD_SCHEMA)))
    assert result.exit_code == 1, result.output
    broken = {(f["rule"], f["broken_by"]) for f in data["findings"]}
    assert ("result-has-id", "server") in broken and ("result-status-known", "server") in broken, broken
    assert all(party == "server" for _, party in broken), broken  # never the client's: its request is not judged


def test_pass_x2_an_id_repeated_across_rebuilt_requests_is_not_judged(tmp_path):
    """Pass X2, Insomnia requests: two entries answered with one `data.id` may be a replay under an Idempotency-Key
    the export no longer shows (a fresh `{% uuid %}`, or none in today's definition): result-id-unique is left
    unjudged on the second, never blamed; a recorder that writes the request as sent still blames it."""
    result, data = _judged(_har(tmp_path / "twice.har", entry(), entry()))
    assert data["findings"] == [] and result.exit_code == 3, result.output
    assert "rebuilt by its recorder at export" in result.output, result.output
    result, data = _judged(_har(tmp_path / "chrome-twice.har", entry(), entry(), creator="WebInspector"))
    assert result.exit_code == 1 and [f["rule"] for f in data["findings"]] == ["result-id-unique"], result.output


def test_pass_x2_a_rule_reading_the_request_is_not_kept_on_a_rebuilt_one(tmp_path):
    """Pass X2, Insomnia requests: `result-provider` compares the answer's `data.provider` with the request's
    `providerType`; on a request rebuilt at export it was blamed (the request shown asked for another provider than
    the one sent), and with the request unread it would have been counted kept: it is not exercised at all."""
    provider = '{"success": true, "data": {"id": "m1", "status": "queued", "provider": "sendgrid"}, "error": null}'
    path = _har(tmp_path / "provider.har", entry({**VALID, "providerType": "migma"}, answer=provider))
    reports = tmp_path / "provider-reports"
    result = judge_cli(path, "--report-dir", reports, "--timeout", "10", "--format", "json", "--level", "strict")
    data = json.loads((reports / "conformance.json").read_text())
    assert data["findings"] == [] and result.exit_code == 3, result.output
    rule = next(r for r in data["rules"] if r["id"] == "result-provider")
    assert rule["passed"] == rule["failed"] == 0, rule


@pytest.mark.parametrize("insomnia_first", [True, False])
def test_pass_x2_an_id_shared_with_a_rebuilt_request_is_never_blamed_in_either_order(tmp_path, insomnia_first):
    """Pass X2, Insomnia requests: a send made from Insomnia through a recording proxy lies in both files, the
    proxy's HAR as sent and Insomnia's export rebuilt (another start time, a fresh `{% uuid %}` in its body): not
    told as one exchange, its `data.id` seen twice. Whichever file comes first, that repeat is not judged (judged in
    part), never the server's `result-id-unique` break."""
    sent = entry({**VALID, "subject": "Hello 6f1c"})
    sent["startedDateTime"] = "2026-12-06T00:00:00Z"
    rebuilt = entry({**VALID, "subject": "Hello 9a2e"})
    rebuilt["startedDateTime"] = "2026-12-06T09:30:00Z"
    proxy = _har(tmp_path / "proxy.har", sent, creator="mitmproxy exporthar")
    insomnia = _har(tmp_path / "insomnia.har", rebuilt)
    files = (insomnia, proxy) if insomnia_first else (proxy, insomnia)
    reports = tmp_path / "reports"
    result = judge_cli(*files, "--report-dir", reports, "--timeout", "10", "--format", "json")
    data = json.loads((reports / "conformance.json").read_text())
    assert data["findings"] == [] and result.exit_code == 3, result.output
    rule = next(r for r in data["rules"] if r["id"] == "result-id-unique")
    assert rule["failed"] == 0, rule
