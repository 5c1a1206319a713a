"""A recording's time read as the server's only where it surely is (pass T3, F3): responds-in-time blames a server
only on the part of a recorded exchange that is surely its own (HAR `timings.wait`: from the request's last byte to
the answer's first); where the client's parts (its queue, connect, upload, reading) or a recorder's single total that
holds them (Schemathesis' `elapsed`, requests' `Response.elapsed`) alone take it past the timeout, the rule is left
unjudged on that exchange (judged in part: never blamed, never kept), as the proxy and the middleware, which never
count the client's sending or reading, read it."""

from __future__ import annotations

import json

import pytest

from migma_contract import contract_for
from migma_contract.contract.catalogue import NO_SERVER_ERROR, RESPONDS_IN_TIME
from migma_contract.traffic.recordings import open_recording
from migma_contract.traffic.tally import TrafficJudge

from .test_recorded_bounds import _SCHEMATHESIS_ITEM, VALID, _vcr_item, entry, judge_cli

OK = '{"success": true, "data": {"id": "m1", "status": "queued"}, "error": null}'


def _har(path, *entries, creator="WebInspector"):
    path.write_text(json.dumps({"log": {"version": "1.2", "creator": {"name": creator, "version": "537.36"},
                                        "entries": list(entries)}}))
    return path


def _timed(time_ms, timings, *, answer=OK, **kwargs):
    made = entry(VALID, answer=answer, **kwargs)
    made.update(time=time_ms, timings=timings)
    return made


def _schemathesis(path, elapsed):
    """A Schemathesis cassette of one valid send answered 200, its `elapsed` (requests' `Response.elapsed`) given."""
    lines = []
    for line in _SCHEMATHESIS_ITEM:
        if line.startswith("      string: ") and "  response:" not in lines:
            line = f"      string: {json.dumps(json.dumps(VALID))}"
        elif line.startswith("      string: "):
            line = f"      string: {json.dumps(OK)}"
        elif line.strip().startswith("elapsed:"):
            line = line.split("elapsed:")[0] + f"elapsed: '{elapsed}'"
        lines.append(line)
    path.write_text("\n".join(["http_interactions:", *lines, ""]))
    return path


def _judged(path, *args):
    reports = path.parent / (path.stem + "-reports")
    result = judge_cli(path, "--report-dir", reports, "--timeout", "10", "--format", "json", *args)
    data = json.loads((reports / "conformance.json").read_text())
    rule = next(r for r in data["rules"] if r["id"] == RESPONDS_IN_TIME.id)
    return result, data, rule


# the client's part past the timeout, the server's wait within it: Chrome's throttled or slow uplink (send), a slow
# reader (receive), Schemathesis' HAR (its whole time written as `receive`, `wait` 0), the browser's queue (blocked)
CLIENTS_PART = {
    "slow upload, 60 KB": (10_443, {"blocked": 2, "dns": -1, "connect": -1, "ssl": -1, "send": 6_200, "wait": 4_200, "receive": 40}),
    "slow upload, 400 KB": (10_150, {"blocked": 2, "dns": -1, "connect": -1, "ssl": -1, "send": 9_500, "wait": 600, "receive": 48}),
    "slow reading": (10_400, {"blocked": 1, "dns": -1, "connect": -1, "ssl": -1, "send": 1, "wait": 300, "receive": 10_098}),
    "upload and reading": (11_000, {"blocked": 0, "dns": 0, "connect": 0, "ssl": 0, "send": 5_000, "wait": 900, "receive": 5_100}),
    "schemathesis har": (12_000, {"send": 0, "wait": 0, "receive": 12_000, "blocked": 0, "dns": 0, "connect": 0, "ssl": 0}),
}


@pytest.mark.parametrize("case", list(CLIENTS_PART))
def test_t3_f3_a_har_entry_past_the_timeout_only_with_the_clients_part_is_judged_in_part(tmp_path, case):
    """Pass T3, F3: a Chrome HAR of a correct 200 whose upload took 6.2 s and whose server answered 4.2 s after the
    body was in was "responds-in-time ... broken by the server ... answered after 10.44 s", exit 1: `send` and
    `receive` (the client's sending and reading, which the proxy and the middleware never count) were the server's."""
    time_ms, timings = CLIENTS_PART[case]
    path = _har(tmp_path / "slow.har", _timed(time_ms, timings), creator="harfile" if "schemathesis" in case else "WebInspector")
    result, data, rule = _judged(path)
    assert result.exit_code == 3 and data["findings"] == [], result.output
    assert "responds-in-time was not judged" in result.output, result.output
    assert rule["failed"] == 0 and rule["passed"] == 0, rule


@pytest.mark.parametrize("send", [1, 5_000])
def test_t3_f3_a_server_whose_own_wait_passes_the_timeout_is_still_blamed_on_its_wait(tmp_path, send):
    """Pass T3, F3: the faulty server stays caught: its `wait` alone past the timeout is its break, and the time
    shown is its own (not the client's upload beside it)."""
    path = _har(tmp_path / "late.har", _timed(10_500 + send + 20, {"blocked": 0, "dns": -1, "connect": -1, "ssl": -1,
                                                                    "send": send, "wait": 10_500, "receive": 20}))
    result, data, rule = _judged(path)
    assert rule["failed"] == 1, rule
    assert result.exit_code == 1 and [(f["rule"], f["broken_by"]) for f in data["findings"]] == [
        (RESPONDS_IN_TIME.id, "server")], result.output
    assert "answered after 10.50 s" in result.output, result.output


def test_t3_f3_a_har_entry_with_no_wait_apart_is_never_judged_on_its_time_alone(tmp_path):
    """Pass T3, F3: a HAR entry whose `timings` give no `wait` (-1, or none) fell back to `time`, the client's parts
    and all: 12 s of it was the server's break, exit 1. Within the timeout it is no whole (pass V2, F1: HAR's `time`
    holds only the timings not -1): the rule has nothing to judge, as on a vcrpy interaction."""
    for name, timings in (("none", None), ("minus", {"send": -1, "wait": -1, "receive": -1})):
        late = _timed(12_000, timings)
        if timings is None:
            del late["timings"]
        result, data, rule = _judged(_har(tmp_path / f"{name}.har", late))
        assert result.exit_code == 3 and data["findings"] == [] and rule["failed"] == 0, result.output
        assert "responds-in-time was not judged" in result.output, result.output
    quick = _timed(3_000, None)
    del quick["timings"]
    result, data, rule = _judged(_har(tmp_path / "quick.har", quick))
    assert result.exit_code == 0 and (rule["passed"], rule["failed"]) == (0, 0), result.output


def test_t3_f3_a_schemathesis_cassettes_elapsed_is_a_clients_total_never_the_servers_alone(tmp_path):
    """Pass T3, F3: Schemathesis writes requests' `Response.elapsed` (from before the connection is taken from the
    pool to the answer's head parsed: connect, TLS and the upload in it): 12 s of it was the server's break, exit 1.
    Past the timeout it is judged in part; within it, nothing is judged (pass V2, F2: it stops at the answer's head)."""
    result, data, rule = _judged(_schemathesis(tmp_path / "slow.yaml", 12.0))
    assert result.exit_code == 3 and data["findings"] == [] and (rule["failed"], rule["passed"]) == (0, 0), result.output
    assert "responds-in-time was not judged" in result.output and "Response.elapsed" in result.output, result.output
    result, data, rule = _judged(_schemathesis(tmp_path / "quick.yaml", 0.25))
    assert result.exit_code == 0 and (rule["passed"], rule["failed"]) == (0, 0), result.output


@pytest.mark.parametrize(("time_ms", "timings"), [
    (20_600, {"blocked": 1, "dns": 2, "connect": 10, "ssl": -1, "send": 20_000, "wait": 500, "receive": 0}),  # upload
    (5_000, {"blocked": 1, "dns": 2, "connect": 10, "ssl": -1, "send": 1, "wait": 4_900, "receive": 0}),  # its own 5 s
])
def test_t3_f3_a_recorded_timeout_is_the_servers_only_where_its_wait_passed_the_timeout(tmp_path, time_ms, timings):
    """Pass T3, F3: an entry its recorder says timed out (net::ERR_TIMED_OUT) was the server's responds-in-time break
    whatever its `wait`: during a 20 s upload, or at the client's own 5 s timeout (the judge's is 10 s)."""
    failed = _timed(time_ms, timings, status=0, answer="")
    failed["response"].update(content={"size": 0, "mimeType": "x-unknown"}, bodySize=-1, headers=[], _error="net::ERR_TIMED_OUT")
    result, data, rule = _judged(_har(tmp_path / "timed.har", failed))
    assert result.exit_code == 3 and data["findings"] == [] and rule["failed"] == 0, result.output
    assert "responds-in-time was not judged" in result.output, result.output


def test_t3_f3_read_through_the_api_without_a_timeout_the_judge_still_decides(tmp_path):
    """Pass T3, F3: a recording read with no timeout given (`Recording.exchanges()`) and judged by a `TrafficJudge`
    of its own timeout: the reading keeps the server's part and the whole apart, the judge decides (a slow upload
    is never the server's, a late wait is)."""
    slow = _timed(10_443, {"blocked": 2, "dns": -1, "connect": -1, "ssl": -1, "send": 6_200, "wait": 4_200, "receive": 40})
    late = _timed(10_520, {"blocked": 0, "dns": -1, "connect": -1, "ssl": -1, "send": 1, "wait": 10_500, "receive": 20},
                  answer=OK.replace("m1", "m2"))
    (first, second) = open_recording(_har(tmp_path / "two.har", slow, late)).exchanges()
    assert first.elapsed == pytest.approx(4.2) and second.elapsed == pytest.approx(10.5)
    judge = TrafficJudge(contract_for(), "documented", kind="recorded", label="two.har", timeout=10.0)
    verdicts = [judge.observe(exchange) for exchange in (first, second)]
    assert [j.rule_id for j in verdicts[0].judgements if not j.ok] == []
    assert RESPONDS_IN_TIME.id not in {j.rule_id for j in verdicts[0].judgements}
    assert [j.rule_id for j in verdicts[1].judgements if not j.ok] == [RESPONDS_IN_TIME.id]
    assert judge.result().traffic.partly_judged == 1


def test_t3_f3_a_vcrpy_cassette_records_no_time_and_is_never_judged_on_it(tmp_path):
    """vcrpy writes no time: responds-in-time is not judged on its interactions (neither kept nor blamed)."""
    path = tmp_path / "v.yaml"
    path.write_text("\n".join(["interactions:", *_vcr_item(VALID), "version: 1", ""]))
    (exchange,) = open_recording(path).exchanges()
    assert exchange.elapsed is None and exchange.recorded_time is None


@pytest.mark.parametrize("huge", ["1e400", "1" + "0" * 400])
def test_t3_f3_a_recorded_time_that_is_no_finite_number_is_no_time(tmp_path, huge):
    """Pass T3, F3 (its neighbour): a HAR `time` or `wait` of 1e400 was read as infinity, the server blamed for
    "answered after inf s", and conformance.json carried `"elapsed_ms": Infinity`, which is no JSON."""
    late = _timed(1, {"send": 0, "wait": 1, "receive": 0})
    text = json.dumps({"log": {"version": "1.2", "creator": {"name": "t", "version": "1"}, "entries": [late]}})
    path = tmp_path / "inf.har"
    path.write_text(text.replace('"time": 1,', f'"time": {huge},').replace('"wait": 1,', f'"wait": {huge},'))
    result, data, rule = _judged(path)
    assert (rule["passed"], rule["failed"]) == (0, 0), rule  # no time: not judged
    assert result.exit_code == 0 and data["findings"] == [], result.output
    reports = path.parent / "inf-reports"
    json.loads((reports / "conformance.json").read_text(), parse_constant=lambda name: pytest.fail(f"{name} in JSON"))


# --- pass V2: a recorded time keeps responds-in-time only where it reaches the answer's end ----------------------------


def _playwright(mode, *, wait_ms=11_000.821, receive_ms=43.32, answer=OK, started="2026-12-07T08:53:49.013Z"):
    """One entry as Playwright 1.65 (Chromium) writes it: `record_har_mode="minimal"` (the default of
    `route_from_har(update=True)`) writes `send` and `wait` -1 and a `time` that is `receive` alone, sizes -1;
    "full" writes every phase (`dns`, `connect`, `ssl` -1 on a kept-alive connection) and `time` their sum."""
    made = entry(VALID, answer=answer)
    made["startedDateTime"] = started
    made["_resourceType"] = "fetch"
    if mode == "minimal":
        made.update(time=receive_ms, timings={"send": -1, "wait": -1, "receive": receive_ms})
        made["request"].update(headersSize=-1, bodySize=-1)
        made["response"].update(headersSize=-1, bodySize=-1)
        made["response"]["content"]["size"] = -1
    else:
        made.update(time=wait_ms + receive_ms, timings={"dns": -1, "connect": -1, "ssl": -1, "send": 0, "wait": wait_ms,
                                                       "receive": receive_ms})
    return made


def test_v2_f1_a_playwright_minimal_har_never_keeps_responds_in_time(tmp_path):
    """Pass V2, F1: Playwright's minimal HAR (`send: -1, wait: -1`, `time` = `receive` alone, 43 ms) of a server that
    answered after 11 s was "responds-in-time kept in 1/1", NO VIOLATION, exit 0: HAR 1.2's `time` holds only the
    timings not -1, so it is no whole. Within the timeout it shows nothing of the server's pace: not exercised (as a
    vcrpy interaction, no INCOMPLETE for every such run), a note says why; past it (a slow read), judged in part."""
    result, data, rule = _judged(_har(tmp_path / "minimal.har", _playwright("minimal"), creator="Playwright"))
    assert (rule["exercised"], rule["passed"], rule["failed"]) == (0, 0, 0), rule
    assert result.exit_code == 0 and data["findings"] == [], result.output
    assert "time may stop before the answer's end" in result.output, result.output
    slow = _playwright("minimal", receive_ms=12_000.5)
    result, data, rule = _judged(_har(tmp_path / "slowread.har", slow, creator="Playwright"))
    assert result.exit_code == 3 and (rule["passed"], rule["failed"]) == (0, 0), result.output
    assert "responds-in-time was not judged" in result.output, result.output
    # the full HAR of the same exchange shows the server's 11 s wait: its break
    result, data, rule = _judged(_har(tmp_path / "full.har", _playwright("full"), creator="Playwright"))
    assert result.exit_code == 1 and rule["failed"] == 1, result.output


@pytest.mark.parametrize("creator", ["Playwright", "WebInspector", "mitmproxy"])
def test_v2_f1_only_a_whole_time_by_a_recorder_timing_the_body_keeps_responds_in_time(tmp_path, creator):
    """Pass V2, F1 (the class): every phase from `send` to `receive` given, by a recorder known to time the body's
    reading, keeps the rule; the same timings from a recorder not known to (or with `receive` -1) keep nothing."""
    quick = _playwright("full", wait_ms=120.5, receive_ms=3.2)
    result, data, rule = _judged(_har(tmp_path / "quick.har", quick, creator=creator))
    assert result.exit_code == 0 and rule["passed"] == 1, result.output
    result, data, rule = _judged(_har(tmp_path / "unknown.har", quick, creator="some-har-writer"))
    assert data["findings"] == [] and result.exit_code == 0 and (rule["passed"], rule["failed"]) == (0, 0), result.output
    quick["timings"]["receive"] = -1
    result, data, rule = _judged(_har(tmp_path / "noreceive.har", quick, creator=creator))
    assert result.exit_code == 0 and (rule["passed"], rule["failed"]) == (0, 0), result.output


def _schemathesis_har(path, time_ms):
    """Schemathesis 4.32's `--report har` (the `harfile` library): its one total (requests' `Response.elapsed`, to
    the answer's head) as `receive`, every other phase 0."""
    made = entry(VALID, answer=OK)
    made.update(startedDateTime="2026-12-07T08:57:30.462868+00:00", time=time_ms,
                timings={"send": 0, "wait": 0, "receive": time_ms, "blocked": 0, "dns": 0, "connect": 0, "ssl": 0})
    path.write_text(json.dumps({"log": {"version": "1.2", "creator": {"name": "harfile", "version": "0.6.0"},
                                        "browser": {"name": "", "version": ""}, "entries": [made]}}, indent=4))
    return path


def test_v2_f2_schemathesis_times_stop_at_the_answers_head_and_never_keep_responds_in_time(tmp_path):
    """Pass V2, F2: a server whose head came at once and its body 11 s later, tested by Schemathesis `--report vcr,har`:
    the cassette's `elapsed: '0.004742'` and the HAR's `time` 4.74 (requests' `Response.elapsed` stops at the head)
    were "responds-in-time kept", NO VIOLATION, exit 0. Neither is a whole: within the timeout, nothing judged (its
    runs are not all INCOMPLETE: a note says why); a head already past it is judged in part."""
    for path in (_schemathesis(tmp_path / "quick.yaml", "0.004742"), _schemathesis_har(tmp_path / "quick.json", 4.74)):
        result, data, rule = _judged(path)
        assert data["findings"] == [] and (rule["exercised"], rule["passed"], rule["failed"]) == (0, 0, 0), rule
        assert result.exit_code == 0 and "time may stop before the answer's end" in result.output, result.output
        (exchange,) = open_recording(path).exchanges()
        assert exchange.elapsed is None and not exchange.recorded_time.to_the_end  # (HAR: its `wait` 0 is no wait)
    for path in (_schemathesis(tmp_path / "slow.yaml", "12.5"), _schemathesis_har(tmp_path / "slow.json", 12_500)):
        result, data, rule = _judged(path)
        assert result.exit_code == 3 and (rule["passed"], rule["failed"]) == (0, 0), result.output
        assert "responds-in-time was not judged" in result.output, result.output


def _judged_files(tmp_path, *paths):
    reports = tmp_path / ("-".join(path.stem for path in paths) + "-reports")
    result = judge_cli(*paths, "--report-dir", reports, "--timeout", "10", "--format", "json")
    data = json.loads((reports / "conformance.json").read_text())
    return result, data, {r["id"]: r for r in data["rules"]}


def test_v2_f1b_a_later_copy_of_an_exchange_is_judged_on_what_the_first_did_not_show(tmp_path):
    """Pass V2, F1b: one Playwright context recorded by both recorders (`record_har_path`, full; `route_from_har(
    update=True)`, minimal) against a server 11 s late: `judge minimal.har full.har` skipped the full HAR's entry (its
    11 s `wait`) as a copy, NO VIOLATION, exit 0; the other order exit 1. The later copy's time is judged now, the
    exchange counted once (its one id never "repeated"), whatever the order."""
    minimal = _har(tmp_path / "minimal.har", _playwright("minimal"), creator="Playwright")
    full = _har(tmp_path / "full.har", _playwright("full"), creator="Playwright")
    for paths in ((minimal, full), (full, minimal)):
        result, data, rules = _judged_files(tmp_path, *paths)
        assert result.exit_code == 1, result.output
        assert [(f["rule"], f["broken_by"]) for f in data["findings"]] == [(RESPONDS_IN_TIME.id, "server")], result.output
        assert (rules[RESPONDS_IN_TIME.id]["exercised"], rules[RESPONDS_IN_TIME.id]["failed"]) == (1, 1), rules
        assert data["traffic"]["judged"] == 1 and "also in a file judged before it" in result.output, result.output
        assert all(rule["exercised"] <= 1 for rule in rules.values()), rules  # counted once


def test_v2_f1b_a_copy_holding_the_request_body_the_first_left_out_is_judged_on_it(tmp_path):
    """Pass V2, F1b (the class): a Playwright HAR that kept the request body in a side file (`_file`: the request
    rules not judged) and another recording of the same exchange holding it (a send that breaks a request rule):
    the break is found in either order, the exchange counted once; a copy that shows nothing more adds nothing."""
    bad = {**VALID, "recipientType": "tag"}
    bad.pop("recipientId", None)
    held = _playwright("full", wait_ms=120.0, receive_ms=2.0)
    held["request"]["postData"]["text"] = json.dumps(bad)
    held["request"]["bodySize"] = len(json.dumps(bad))
    aside = json.loads(json.dumps(held))
    aside["request"]["postData"] = {"mimeType": "application/json", "_file": "0a1b2c.json"}
    side = _har(tmp_path / "side.har", aside, creator="Playwright")
    kept = _har(tmp_path / "kept.har", held, creator="Playwright")
    outcomes = set()
    for paths in ((side, kept), (kept, side)):
        result, data, rules = _judged_files(tmp_path, *paths)
        broken = sorted((f["rule"], f["broken_by"]) for f in data["findings"])
        assert ("batch-forbids-recipientEmail", "client") in broken, result.output
        assert data["traffic"]["judged"] == 1 and all(rule["exercised"] <= 1 for rule in rules.values()), rules
        outcomes.add((result.exit_code, tuple(broken), rules[RESPONDS_IN_TIME.id]["passed"]))
    assert len(outcomes) == 1, outcomes
    again = _har(tmp_path / "again.har", held, creator="Playwright")
    alone = _judged_files(tmp_path, kept)
    twice = _judged_files(tmp_path, kept, again)
    assert {k: (r["exercised"], r["passed"], r["failed"]) for k, r in alone[2].items()} == \
        {k: (r["exercised"], r["passed"], r["failed"]) for k, r in twice[2].items()}


def _mitmproxy_cut(status=200, *, length="165"):
    """An entry as mitmproxy 11 (`--mode reverse:... --set hardump=`) writes an upstream that promised a Content-Length
    and closed before its body (its client got mitmproxy's 502): status and head as the upstream sent them, `content`
    {size 0, text ""}, `bodySize` 0, no `_error`."""
    made = entry(VALID, status=status)
    made.update(startedDateTime="2026-12-07T08:49:46.904158+00:00", time=2.053499221801758,
                timings={"connect": 0.376, "ssl": -1.0, "send": 0.488, "receive": 0, "wait": 1.188},
                serverIPAddress="127.0.0.1")
    made["response"].update(
        statusText="OK", headersSize=205, bodySize=0,
        headers=[{"name": "Server", "value": "BaseHTTP/0.6 Python/3.11.7"},
                 {"name": "Content-Type", "value": "application/json"}, {"name": "Content-Length", "value": length}],
        content={"size": 0, "compression": 0, "mimeType": "application/json", "text": ""})
    return made


def test_v2_f3_a_har_answer_whose_body_never_came_is_not_counted_kept_on_no_server_error(tmp_path):
    """Pass V2, F3: mitmproxy's HAR of an upstream that closed before the body its Content-Length promised (the client
    got a 502) counted no-server-error "passed": the recording says none of its bytes came, so whether a complete
    answer came does not show. Not counted kept (judged in part); a server error's status still breaks it."""
    result, data, _ = _judged(_har(tmp_path / "cut.har", _mitmproxy_cut(), creator="mitmproxy"))
    rule = next(r for r in data["rules"] if r["id"] == NO_SERVER_ERROR.id)
    assert (rule["passed"], rule["failed"]) == (0, 0), rule
    assert result.exit_code == 3 and "none of the 165 bytes its Content-Length promised came" in result.output, result.output
    result, data, _ = _judged(_har(tmp_path / "cut500.har", _mitmproxy_cut(500), creator="mitmproxy"))
    assert result.exit_code == 1 and (NO_SERVER_ERROR.id, "server") in [(f["rule"], f["broken_by"]) for f in data["findings"]]
    # an empty body under Content-Length: 0 is whole: kept
    empty = _mitmproxy_cut(length="0")
    result, data, _ = _judged(_har(tmp_path / "empty.har", empty, creator="mitmproxy"))
    rule = next(r for r in data["rules"] if r["id"] == NO_SERVER_ERROR.id)
    assert rule["passed"] == 1, result.output


def test_v2_f1b_a_copys_time_past_the_timeout_leaves_the_exchange_in_part_in_either_order(tmp_path):
    """Pass V2, F1b (its neighbour): the minimal HAR's time within the timeout (nothing judged) and the full HAR's
    of the same exchange past it only by the client's reading: judged in part once, whatever the order."""
    minimal = _har(tmp_path / "minimal.har", _playwright("minimal", receive_ms=40.0), creator="Playwright")
    full = _har(tmp_path / "full.har", _playwright("full", wait_ms=300.0, receive_ms=11_000.0), creator="Playwright")
    for paths in ((minimal, full), (full, minimal)):
        result, data, rules = _judged_files(tmp_path, *paths)
        assert result.exit_code == 3 and data["findings"] == [], result.output
        assert (data["traffic"]["judged"], data["traffic"]["partly_judged"]) == (1, 1), data["traffic"]
        assert (rules[RESPONDS_IN_TIME.id]["passed"], rules[RESPONDS_IN_TIME.id]["failed"]) == (0, 0), rules
        assert "responds-in-time was not judged" in result.output, result.output


# Insomnia's HAR export (Kong/insomnia packages/insomnia/src/common/har.ts, `exportHar`): `time` and `wait` both curl's
# total time (`Curl.info.TOTAL_TIME`: DNS, connect, TLS, the upload and the body's download in it), `send` and `receive` 0
INSOMNIA = {"blocked": -1, "dns": -1, "connect": -1, "send": 0, "wait": 12_000, "receive": 0, "ssl": -1}


@pytest.mark.parametrize("creator", ["Insomnia REST Client", "OWASP ZAP", "Postman", "some-har-writer"])
def test_pass_x2_f2_a_wait_by_a_recorder_not_known_to_time_it_apart_is_never_blamed(tmp_path, creator):
    """Pass X2, F2: Insomnia writes curl's total time as `timings.wait`: a server answering in 7 s behind a 4 s
    connect and TLS (a VPN, a proxy) was responds-in-time "broken by the server", exit 1. `wait` is the server's only
    for a recorder known to time it apart; any other's past the timeout is judged in part, never blamed."""
    result, data, rule = _judged(_har(tmp_path / "insomnia.har", _timed(12_000, INSOMNIA), creator=creator))
    assert result.exit_code == 3 and data["findings"] == [] and rule["failed"] == 0, result.output
    assert "responds-in-time was not judged" in result.output and "not known to time" in result.output, result.output
    (exchange,) = open_recording(tmp_path / "insomnia.har").exchanges()
    assert exchange.elapsed is None and exchange.recorded_time.seconds == pytest.approx(12.0)
    assert not exchange.recorded_time.to_the_end


@pytest.mark.parametrize("creator", ["WebInspector", "WebKit Web Inspector", "Firefox", "Playwright",
                                     "mitmproxy exporthar", "chrome-har", "Charles Proxy", "Fiddler"])
def test_pass_x2_f2_a_wait_by_a_recorder_timing_it_apart_is_still_the_servers(tmp_path, creator):
    """Pass X2, F2 (its other side): a recorder known to time each phase apart keeps its `wait` the server's own: a
    server 12 s late there is still blamed."""
    timings = {**INSOMNIA, "send": 1, "receive": 2}
    result, data, rule = _judged(_har(tmp_path / "late.har", _timed(12_003, timings), creator=creator))
    assert result.exit_code == 1 and rule["failed"] == 1, result.output
    assert [(f["rule"], f["broken_by"]) for f in data["findings"]] == [(RESPONDS_IN_TIME.id, "server")], result.output
