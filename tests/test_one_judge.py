"""One judge over one exchange: the check, the proxy and `judge` name the same server-side rules.

Each faulty server of the corpus is checked directly, then through a judging proxy; the
proxy's judge sees the same exchanges as traffic, and `judge` reads them back from a HAR
file. Traffic shows less than a run knows (a key's standing, the target's data, what was
sent before), so the traffic's verdicts must be a subset of the check's, and must include
the variant's own rule wherever traffic can show it.
"""

import base64
import json

import pytest

from migma_contract import contract_for, run_check
from migma_contract.judge.exchange import Exchange
from migma_contract.traffic.recordings import open_recording
from migma_contract.traffic.tally import ObservedExchange, TrafficJudge
from migma_contract.wire.client import Exchange as SentExchange

from .faulty_servers import FAULTS, LEGAL
from .test_corpus import options
from .test_proxy import proxied

pytestmark = pytest.mark.e2e

# What traffic cannot show: a key's permissions, the target's data (a refused valid request may be
# the data speaking), answers across a run, and what only a timeout or the vendor set's pairs provoke.
NOT_FROM_TRAFFIC = {"auth-scope", "accepts-valid", "result-id-unique", "responds-in-time"}
CONTRACT_FAULTS = [v for v in FAULTS if not v.extra.get("with_vendor") and v.rule not in NOT_FROM_TRAFFIC]


class Recorder(TrafficJudge):
    """A proxy's judge that also keeps every exchange it saw (to be written as HAR)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.seen: list[ObservedExchange] = []

    def observe(self, exchange):
        self.seen.append(exchange)
        return super().observe(exchange)


def _server_failures(result):
    return {f.rule for f in result.findings if getattr(f, "broken_by", None) in (None, "server")}


def _har(exchanges, path):
    def headers(pairs):
        return [{"name": k, "value": v} for k, v in pairs]

    entries = [{
        "startedDateTime": "2026-12-06T00:00:00Z", "time": (e.elapsed or 0) * 1000,
        "request": {"method": e.method, "url": "http://127.0.0.1" + e.path, "httpVersion": "HTTP/1.1",
                    "headers": headers(e.request_headers), "queryString": [], "cookies": [], "headersSize": -1,
                    "bodySize": len(e.request_body or b""),
                    "postData": {"mimeType": "application/json", "text": base64.b64encode(e.request_body or b"").decode(),
                                 "encoding": "base64"}},
        "response": {"status": e.status or 0, "statusText": "", "httpVersion": "HTTP/1.1", "headers": headers(e.response_headers),
                     "cookies": [], "content": {"size": len(e.response_body or b""), "mimeType": "application/json",
                                                "text": base64.b64encode(e.response_body or b"").decode(), "encoding": "base64"},
                     "redirectURL": "", "headersSize": -1, "bodySize": len(e.response_body or b"")},
        "cache": {}, "timings": {"send": 0, "wait": (e.elapsed or 0) * 1000, "receive": 0},
    } for e in exchanges]
    path.write_text(json.dumps({"log": {"version": "1.2", "creator": {"name": "test", "version": "1"}, "entries": entries}}))


def _judged_from(path, level):
    judge = TrafficJudge(contract_for(), level, kind="recording", label=str(path))
    for exchange in open_recording(path).exchanges():
        judge.observe(exchange)
    return judge.result()


def _three_ways(variant, tmp_path):
    direct = run_check(options(variant), app=variant.app())
    with proxied(variant.app(), level=variant.level) as (url, proxy_judge):
        recorder = Recorder(contract_for(), variant.level, kind="proxy", label="test proxy", url=url)
        proxy_judge.observe = recorder.observe  # the proxy's exchanges, kept
        through = run_check(options(variant, base_url=url))
    har = tmp_path / "traffic.har"
    _har(recorder.seen, har)
    return direct, through, recorder.result(), _judged_from(har, variant.level)


@pytest.mark.parametrize("variant", CONTRACT_FAULTS, ids=lambda v: v.name)
def test_the_check_the_proxy_and_judge_name_the_same_server_rules(variant, tmp_path):
    direct, through, proxied_traffic, recorded = _three_ways(variant, tmp_path)
    assert variant.rule in _server_failures(direct)
    assert _server_failures(through) == _server_failures(direct)  # the proxy changes nothing the check sees
    assert variant.rule in _server_failures(proxied_traffic)
    assert _server_failures(proxied_traffic) <= _server_failures(direct)
    assert _server_failures(recorded) == _server_failures(proxied_traffic)


@pytest.mark.parametrize("variant", LEGAL[:4], ids=lambda v: v.name)
def test_a_legal_server_is_clean_all_three_ways(variant, tmp_path):
    direct, through, proxied_traffic, recorded = _three_ways(variant, tmp_path)
    assert not _server_failures(direct) and not _server_failures(through)
    assert not _server_failures(proxied_traffic) and not _server_failures(recorded)


def test_every_producer_of_an_exchange_satisfies_the_one_protocol():
    observed = ObservedExchange("POST", "/v1/sending", [("Authorization", "Bearer k")], b"{}", 200)
    assert isinstance(observed, Exchange)
    assert observed.sent_headers == {"authorization": "Bearer k"} and observed.target == "/v1/sending"
    assert all(hasattr(SentExchange, name) for name in ("target", "sent_headers", "sent_body", "received_headers", "received_body"))


def test_a_rule_counts_only_the_responses_it_judged():
    """An error body with neither `success` nor `error` says nothing of the envelope: envelope-consistent is not
    judged by it (neither passed nor failed), while error-schema fails it; every violation of it is kept."""
    from .faulty_servers import Variant, _error_json, on_error

    bare = Variant("errors-without-an-envelope", "error-schema", after=on_error(_error_json(lambda p: {"message": p["error"]})))
    result = run_check(options(bare), app=bare.app())
    schema, envelope = result.rule("error-schema"), result.rule("envelope-consistent")
    assert schema.failed > 0
    assert envelope.failed == 0 and envelope.exercised == envelope.passed
    assert envelope.exercised <= result.rule("success-schema").exercised  # only the successes spoke of it
    finding = next(f for f in result.findings if f.rule == "error-schema")
    assert "/success" in finding.actual and "/error" in finding.actual  # both violations of the response, not the first


def test_a_field_absent_from_a_success_is_not_judged_by_the_rule_about_it():
    from migma_contract.contract.validators import contract_for as validators

    verdict = validators().response_validator("strict").evaluate(
        200, {"content-type": "application/json"}, b'{"success": true, "data": {"id": "m1", "status": "queued"}}')
    assert "result-provider" not in verdict.applied and "result-count" not in verdict.applied
    assert "result-has-id" in verdict.applied and "success-without-error" in verdict.applied


def test_a_rule_that_saw_answers_but_nothing_to_judge_says_so_not_that_none_came():
    """Successes without `data`: result-has-id judged none of them, and its reason says answers came (not 'no 200')."""
    from .faulty_servers import FAULTS

    variant = next(v for v in FAULTS if v.name == "success-without-data")
    result = run_check(options(variant), app=variant.app())
    rule = result.rule("result-has-id")
    assert rule.status == "not_exercised" and rule.exercised == 0
    assert "200 response(s) observed, none with what it judges" in rule.reason and "budget" not in rule.reason
