"""`ContractMiddleware` in several processes writing to one report directory (uvicorn --workers, gunicorn, xdist):
the reports the directory ends with count every process's exchanges (`reports.processes`)."""

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from migma_contract.asgi import ContractMiddleware
from migma_contract.reports.processes import STATE_DIR
from migma_contract.wire.asgi_transport import SyncASGITransport

from .faulty_servers import FULL_KEY

ROOT = Path(__file__).resolve().parent.parent
AUTH = {"Authorization": f"Bearer {FULL_KEY}"}
VALID = {"recipientType": "email", "recipientEmail": "ann@example.com", "from": "news@example.com", "fromName": "News",
         "subject": "Hello", "emailId": "email_welcome"}

# One server process: the middleware around an app (faulty: no data.id in its answers), `count` sends through an
# in-process transport (so the process joins the directory's run), then "ready"; it ends when told (a line on its
# stdin), writing its reports at exit as the middleware does without a lifespan.
WORKER = r'''
import json, os, sys
import httpx
from migma_contract.asgi import ContractMiddleware
from migma_contract.wire.asgi_transport import SyncASGITransport

directory, kind, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
served = 0

async def app(scope, receive, send):
    global served
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass
    served += 1
    data = {"status": "queued", "provider": "migma"}
    if kind != "faulty":
        data["id"] = f"msg_{os.getpid()}_{served}"
    body = json.dumps({"success": True, "data": data, "error": None}).encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]})
    await send({"type": "http.response.body", "body": body})

middleware = ContractMiddleware(app, report_dir=directory, formats=["json"])
with httpx.Client(transport=SyncASGITransport(middleware), base_url="http://app") as client:
    for _ in range(count):
        client.post("/v1/sending", json=json.loads(sys.argv[4]), headers=json.loads(sys.argv[5]))
print("ready", flush=True)
sys.stdin.readline()
'''


def _start(directory: Path, kind: str, count: int) -> subprocess.Popen[str]:
    """A worker process, once it has served its sends (its "ready" read)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    process = subprocess.Popen([sys.executable, "-c", WORKER, str(directory), kind, str(count), json.dumps(VALID),
                                json.dumps(AUTH)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
    assert process.stdout is not None and process.stdout.readline().strip() == "ready"
    return process


def _end(process: subprocess.Popen[str]) -> None:
    assert process.stdin is not None
    process.stdin.write("\n")
    process.stdin.close()
    assert process.wait(timeout=60) == 0


def _report(directory: Path) -> dict:
    return json.loads((directory / "conformance.json").read_text(encoding="utf-8"))


def _rule(report: dict, rule_id: str) -> dict:
    return next(rule for rule in report["rules"] if rule["id"] == rule_id)


@pytest.mark.e2e
def test_pass_s2_f2_every_worker_counts_in_the_report_the_directory_ends_with(tmp_path):
    """Pass S2, F2: two server processes writing to one report_dir: the faulty one ends first, the correct one last;
    the report shows the faulty one's violation and the sum of their exchanges (it was the last one's alone: green)."""
    faulty = _start(tmp_path, "faulty", 3)
    right = _start(tmp_path, "right", 4)  # both alive at once: one run
    _end(faulty)
    _end(right)
    report = _report(tmp_path)
    assert report["exit_code"] == 1 and report["verdict"] == "failed"
    assert report["traffic"]["judged"] == 7 and report["traffic"]["exchanges"] == 7
    has_id = _rule(report, "result-has-id")
    assert (has_id["status"], has_id["exercised"], has_id["failed"]) == ("failed", 7, 3)
    assert has_id["observed"] == "server broke 3/7"
    assert [(f["rule"], f["occurrences"]) for f in report["findings"]] == [("result-has-id", 3)]

    # a new run (no process of the last one alive): its own report, nothing of the last run's leaks into it
    alone = _start(tmp_path, "right", 2)
    _end(alone)
    report = _report(tmp_path)
    assert (report["exit_code"], report["traffic"]["judged"], report["findings"]) == (0, 2, [])
    assert list((tmp_path / STATE_DIR).glob(f"state-{alone.pid}-*.json"))


@pytest.mark.e2e
def test_pass_s2_f2_a_worker_replaced_while_another_serves_still_counts(tmp_path):
    """Pass S2, F2: a faulty worker ends, a replacement begins after it (while a sibling serves on), and ends last:
    the faulty one's part counts through the sibling that outlived it; a run begun after they all ended does not."""
    faulty = _start(tmp_path, "faulty", 2)
    sibling = _start(tmp_path, "right", 3)
    _end(faulty)
    replacement = _start(tmp_path, "right", 4)  # began after the faulty one's state was written
    _end(sibling)
    _end(replacement)
    report = _report(tmp_path)
    assert (report["exit_code"], report["traffic"]["judged"]) == (1, 9)
    assert _rule(report, "result-has-id")["observed"] == "server broke 2/9"

    later = _start(tmp_path, "right", 1)
    _end(later)
    assert (_report(tmp_path)["exit_code"], _report(tmp_path)["traffic"]["judged"]) == (0, 1)


def _middleware(faulty: bool, sends: int, **options) -> ContractMiddleware:
    """A middleware (not writing anywhere) that saw `sends` sends to an app (faulty: no data.id)."""
    served = []

    async def app(scope, receive, send):
        while (await receive()).get("more_body"):
            pass
        served.append(1)
        data = {"status": "queued", "provider": "migma"} | ({} if faulty else {"id": f"msg_{id(served)}_{len(served)}"})
        body = json.dumps({"success": True, "data": data, "error": None}).encode()
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": body})

    middleware = ContractMiddleware(app, **options)
    with httpx.Client(transport=SyncASGITransport(middleware), base_url="http://app") as client:
        for _ in range(sends):
            client.post("/v1/sending", json=VALID, headers=AUTH)
    return middleware


def test_pass_s2_f2_merge_sums_tallies_findings_and_stats():
    """Pass S2, F2: merging processes' states: tallies and counts summed, each (rule, party) finding once with its
    occurrences summed, notes of both; one state merged alone is that process's own result."""
    one, two, right = _middleware(True, 2), _middleware(True, 3), _middleware(False, 4)
    states = [json.loads(json.dumps(m.judge.state())) for m in (one, two, right)]  # (as read back from its file)
    assert FULL_KEY not in json.dumps(states)  # (redacted as the reports are: the key every send carried never shows)
    merged = right.judge.merged(states)
    assert merged.exit_code == 1 and merged.traffic.judged == merged.traffic.exchanges == 9
    has_id = merged.rule("result-has-id")
    assert (has_id.exercised, has_id.passed, has_id.failed, has_id.observed) == (9, 4, 5, "server broke 5/9")
    assert [(f.rule, f.broken_by, f.occurrences) for f in merged.findings] == [("result-has-id", "server", 5)]
    assert any(note.startswith("result-id-unique: judged within each process's own") for note in merged.traffic.notes)

    alone, own = one.judge.merged([states[0]]), one.result()
    assert (alone.rules, alone.findings, alone.root_causes, alone.verdict) == (own.rules, own.findings, own.root_causes, own.verdict)
    assert alone.traffic == own.traffic


def test_pass_s2_f2_merge_is_green_only_when_every_part_was_judged_in_full():
    """Pass S2, F2: one process whose send passed unkept (judged in part): the merge of it with a green one is no
    verdict; its note is there; a state of another level is refused (noted, no verdict)."""
    right, partial = _middleware(False, 2), _middleware(False, 1, max_request_bytes=8)
    assert right.result().exit_code == 0 and partial.result().exit_code == 3
    merged = right.judge.merged([right.judge.state(), partial.judge.state()])
    assert merged.exit_code == 3 and merged.traffic.judged == 3
    assert set(partial.result().traffic.notes) <= set(merged.traffic.notes)
    strict = _middleware(False, 1, level="strict")
    refused = right.judge.merged([right.judge.state(), strict.judge.state()])
    assert refused.exit_code == 3 and refused.traffic.judged == 2
    assert any("could not be merged" in note for note in refused.traffic.notes)


def _plant(directory: Path, name: str, state: dict, written: float) -> Path:
    place = directory / STATE_DIR
    place.mkdir(parents=True, exist_ok=True)
    path = place / name
    path.write_text(json.dumps({"id": name, "pid": 1, "began": written, "written": written, "with": [], "state": state}))
    return path


def _written(directory: Path, middleware: ContractMiddleware) -> dict:
    from migma_contract.reports.processes import write_shared

    write_shared(middleware.judge, middleware._began(), directory, ("json",), middleware._shared_name)
    return _report(directory)


def test_pass_s5_f1_a_state_dated_in_the_future_or_with_forged_counts_sets_no_verdict(tmp_path):
    """Pass S5, F1: a state checked into `.migma-contract/` with a `written` time in the future joined every later run,
    its counts added unchecked (negative ones too): a faulty app passed, exit 0, when the planted counts cancelled its
    failures. A state dated past now is of no run; a count that is no count refuses the state (no green verdict)."""
    faulty = _middleware(True, 2)
    forged = json.loads(json.dumps(faulty.judge.state()))
    forged["tallies"]["result-has-id"] = {name: -value for name, value in forged["tallies"]["result-has-id"].items()}
    forged["findings"] = []
    forged["stats"] = {name: 0 for name in forged["stats"]}
    _plant(tmp_path, "state-1-future.json", forged, written=faulty._began() + 10**6)
    report = _written(tmp_path, faulty)
    assert report["exit_code"] == 1 and _rule(report, "result-has-id")["failed"] == 2, report["traffic"]  # 0 before
    now = _middleware(True, 2)
    _plant(tmp_path / "b", "state-1-now.json", forged, written=now._began() + 1)
    report = _written(tmp_path / "b", now)
    assert report["exit_code"] != 0 and any("could not be merged" in n for n in report["traffic"]["notes"])


def test_pass_s5_f9_processes_with_one_pid_keep_their_own_states(tmp_path):
    """Pass S5, F9: two replicas in their own PID namespaces (`docker compose --scale`) are both pid 1: the second took
    the first's `state-1.json` for its own and overwrote it; the faulty one's violations vanished. A state is named by
    the pid and a token of its own."""
    from migma_contract.reports import processes

    faulty, right = _middleware(True, 2), _middleware(False, 2)
    state = json.loads(json.dumps(faulty.judge.state()))
    _plant(tmp_path, f"state-{os.getpid()}-0000aaaa.json", state, written=right._began() + 1)
    report = _written(tmp_path, right)
    assert report["exit_code"] == 1 and report["traffic"]["judged"] == 4, report["traffic"]
    assert f"state-{os.getpid()}-{processes._TOKEN}{right._shared_name}.json" in os.listdir(tmp_path / STATE_DIR)


def test_pass_s5_f5_a_state_that_is_no_regular_file_is_never_opened(tmp_path):
    """Pass S5, F5: a `state-2.json` linked to a FIFO (or `/dev/stdin`) held the writer, and every worker waiting on the
    lock, for ever. Only regular files are read; a link is not followed."""
    place = tmp_path / STATE_DIR
    place.mkdir()
    os.mkfifo(place / "state-2-fifo.json")
    (place / "state-3-link.json").symlink_to(place / "state-2-fifo.json")
    report = _written(tmp_path, _middleware(False, 1))
    assert report["exit_code"] == 0 and report["traffic"]["judged"] == 1


def test_pass_s5_f4_a_state_no_writer_made_or_a_folder_that_is_none_leaves_no_older_report_standing(tmp_path):
    """Pass S5, F4: a state naming a rule that does not exist raised KeyError into the server's shutdown, and a
    `.migma-contract` that is a regular file only logged an error: either way the older, green conformance.json stayed
    while today's app was faulty. A state no writer made is refused (noted, no verdict); a folder that cannot be kept
    leaves this process's own reports, said so."""
    faulty = _middleware(True, 1)
    odd = json.loads(json.dumps(_middleware(False, 1).judge.state()))
    odd["findings"] = [{"rule": "no-such-rule"}]
    _plant(tmp_path, "state-7-odd.json", odd, written=faulty._began() + 1)
    report = _written(tmp_path, faulty)
    assert report["exit_code"] == 1 and any("could not be merged" in n for n in report["traffic"]["notes"])
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "conformance.json").write_text(json.dumps({"exit_code": 0, "verdict": "passed"}))
    (tmp_path / "c" / STATE_DIR).write_text("a file where the folder goes")
    report = _written(tmp_path / "c", _middleware(True, 1))
    assert report["exit_code"] == 1 and any("could not be kept" in n for n in report["traffic"]["notes"])


def test_pass_s5_f6_symptoms_merged_are_bounded(tmp_path):
    """Pass S5, F6: the merged states' root-cause symptoms are grouped pairwise: 10,000 in a 0.5 MB state took 1.6 s
    under the lock, a state near its size cap hours. Those taken from the states together are bounded."""
    from migma_contract.traffic import tally

    right = _middleware(False, 1)
    state = json.loads(json.dumps(_middleware(True, 1).judge.state()))
    state["symptoms"] = [["result-has-id", 200 + n % 300, None, "response", f"shape {n}"] for n in range(5000)]
    taken = []
    real = tally.TrafficJudge._absorb

    def absorb(judge, one):
        real(judge, one)
        taken.append(len(judge._symptoms))

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(tally.TrafficJudge, "_absorb", absorb)
        merged = right.judge.merged([right.judge.state(), state])
    assert merged.exit_code == 1 and max(taken) <= tally._MAX_MERGED_SYMPTOMS, taken


def test_pass_s6_f1_f3_a_run_of_many_states_counts_each_or_says_what_it_missed(tmp_path):
    """Pass S6, F1: only the newest 128 state files were read: one faulty worker's state, then 130 recycled correct
    workers' (gunicorn --max-requests), and the report was "passed", its violations on disk and unread. F3: 128 planted
    states of 8 MiB each cost ~25 GB to parse. Every regular state is considered; what is read is bounded in bytes, and
    a state of the run that could not be read leaves no green verdict."""
    from migma_contract.reports import processes

    right = _middleware(False, 1)
    began = right._began()
    faulty = json.loads(json.dumps(_middleware(True, 1).judge.state()))
    fine = json.loads(json.dumps(_middleware(False, 1).judge.state()))
    _plant(tmp_path, "state-1-faulty.json", faulty, written=began + 1)
    for number in range(130):
        _plant(tmp_path, f"state-{number + 2}-fine.json", fine, written=began + 2)
    report = _written(tmp_path, right)
    assert report["exit_code"] == 1 and report["traffic"]["judged"] == 132, report["traffic"]  # 0, judged 129, before
    with pytest.MonkeyPatch.context() as patch:  # the bound on bytes read reached: said, and no green verdict
        patch.setattr(processes, "_MAX_READ_BYTES", 3 * (tmp_path / STATE_DIR / "state-1-faulty.json").stat().st_size)
        other = _middleware(False, 1)
        (tmp_path / "b").mkdir()
        for number in range(5):
            _plant(tmp_path / "b", f"state-{number + 2}-fine.json", fine, written=other._began() + 2)
        report = _written(tmp_path / "b", other)
    assert report["exit_code"] == 3 and any("could not be read" in n for n in report["traffic"]["notes"]), report


def test_pass_s6_f2_two_middlewares_of_one_process_keep_their_own_states(tmp_path):
    """Pass S6, F2: two ContractMiddleware instances of one process writing one report_dir (a fixture wrapping the app
    anew for each test) shared one state file: the correct second one overwrote the faulty first's, "passed"."""
    from migma_contract.reports.processes import write_shared

    faulty, right = _middleware(True, 1), _middleware(False, 1)
    write_shared(faulty.judge, faulty._began(), tmp_path, ("json",), faulty._shared_name)
    report = _written(tmp_path, right)
    assert report["exit_code"] == 1 and report["traffic"]["judged"] == 2, report["traffic"]


def test_pass_z4_f2_middlewares_made_one_after_another_in_one_process_are_of_one_run(tmp_path):
    """Pass Z4, F2: a fixture making a new app and middleware for each test (one process, one report_dir): the second
    middleware, made after the first wrote its failed state, took that state for an earlier run's and overwrote the
    reports with its own green result. Every state this very process wrote is of its run."""
    faulty = _middleware(True, 1)
    assert _written(tmp_path, faulty)["exit_code"] == 1
    right = _middleware(False, 1)  # (made after the faulty one wrote)
    report = _written(tmp_path, right)
    assert report["exit_code"] == 1 and report["traffic"]["judged"] == 2, report["traffic"]
    import migma_contract.asgi as asgi_module

    with pytest.MonkeyPatch.context() as patch:  # (however late this process's run is said to begin: its own states)
        patch.setattr(right, "_start", (right._start[0], right._start[1] + 3600))
        report = _written(tmp_path, right)
    assert report["exit_code"] == 1 and report["traffic"]["judged"] == 2, report["traffic"]
    assert asgi_module._process_began() == right._start == faulty._start


@pytest.mark.parametrize("planted", ["[" * 100_000 + "]" * 100_000, '{"id": "x", "written": 1' + "0" * 400 + ', "state": {}}'])
def test_pass_s6_f4_a_state_no_parser_reads_leaves_no_older_report_standing(tmp_path, planted):
    """Pass S5, F4's class, Pass S6, F4: a state nested past the parser's depth (RecursionError) or with a `written`
    past a float (OverflowError) escaped every guard: no report written, an older green one left standing. Each is a
    state that could not be read (noted, no green verdict)."""
    faulty = _middleware(True, 1)
    place = tmp_path / STATE_DIR
    place.mkdir()
    (place / "state-9-odd.json").write_text(planted)
    (tmp_path / "conformance.json").write_text(json.dumps({"exit_code": 0, "verdict": "passed"}))
    report = _written(tmp_path, faulty)
    assert report["exit_code"] == 1 and report["traffic"]["judged"] == 1, report


def test_pass_s6_f5_a_workers_run_begins_when_its_middleware_is_made_not_at_its_first_request(tmp_path):
    """Pass S6, F5: without a lifespan (`--lifespan off`), a worker's run began at its first request: a sibling's state
    written before it (a faulty worker recycled while this one idled) was of no run, and this one's report "passed"."""
    import time

    before = time.time()
    idle = ContractMiddleware(lambda scope, receive, send: None)
    # (None before: set at its first call; since Pass Z4, F2, the process's run begins at its first middleware)
    assert idle._start is not None and idle._start[1] <= time.time() and before <= time.time()
    made = idle._began()
    faulty = json.loads(json.dumps(_middleware(True, 1).judge.state()))
    _plant(tmp_path, "state-5-recycled.json", faulty, written=made + 0.001)
    right = _middleware(False, 1)
    right._start = idle._start  # (this worker was made with the idle one: before the sibling wrote)
    report = _written(tmp_path, right)
    assert report["exit_code"] == 1, report["traffic"]


def test_pass_s7_f1_a_state_a_serving_worker_still_needs_is_never_removed(tmp_path):
    """Pass S7, F1: each writer removed the oldest states it took for an earlier run's beyond 64; for a long-lived worker
    that began before them they were of its run: a recycled faulty worker's state removed after 70 replacements, the
    long-lived worker's report "passed" with no note. Only states written over a week ago are removed."""
    from migma_contract.reports.processes import write_shared

    long_lived = _middleware(False, 1)
    faulty = _middleware(True, 1)
    write_shared(faulty.judge, faulty._began(), tmp_path, ("json",), faulty._shared_name)
    for _ in range(70):  # recycled replacements, each made after the faulty one wrote
        replacement = _middleware(False, 1)
        write_shared(replacement.judge, replacement._began(), tmp_path, ("json",), replacement._shared_name)
    report = _written(tmp_path, long_lived)
    assert report["exit_code"] == 1 and report["traffic"]["judged"] == 72, report["traffic"]  # 0, 66 judged, before


KEY_A, KEY_B = "Zq8WmP2xK7vR4tY9nB3cL6hJ", "Hn5Ts1Vb8Qw3Ek6Rm9Yx2Pa4"  # keys of no vendor's shape
ECHOES = {
    "raw": KEY_A, "upper-case": KEY_A.upper(), "json-unicode-escapes": "".join(f"\\u{ord(c):04x}" for c in KEY_A),
    "percent-encoded": "".join(f"%{b:02X}" for b in KEY_A.encode()), "html-entities": "".join(f"&#{ord(c)};" for c in KEY_A),
    "base64-basic": base64.b64encode(f"api:{KEY_A}".encode()).decode(),
    "base64-url-safe": base64.urlsafe_b64encode(f"u:{KEY_A}?".encode()).decode(), "hexadecimal": KEY_A.encode().hex(),
}


def _sent(*sends: tuple[str, str | None]) -> ContractMiddleware:
    """A middleware whose client sent each `(key, echo)` in turn with `Bearer key`; with an `echo`, the app's answer is
    faulty (no data.id) and holds `echo` as given (a text the app wrote)."""
    echoes = [echo for _, echo in sends]

    async def app(scope, receive, send):
        while (await receive()).get("more_body"):
            pass
        echo = echoes.pop(0)
        data = {"id": f"msg_{len(echoes)}", "status": "queued", "provider": "migma"}
        body = json.dumps({"success": True, "data": data, "error": None}).encode()
        if echo is not None:
            body = b'{"success": true, "data": {"status": "queued", "provider": "migma", "note": "served for '
            body += echo.encode() + b'"}, "error": null}'
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": body})

    middleware = ContractMiddleware(app)
    with httpx.Client(transport=SyncASGITransport(middleware), base_url="http://app") as client:
        for key, _ in sends:
            client.post("/v1/sending", json=VALID, headers={"Authorization": f"Bearer {key}"})
    return middleware


@pytest.mark.parametrize("echo", ECHOES.values(), ids=ECHOES.keys())
def test_pass_s5_f2_a_key_one_process_learned_is_masked_in_anothers_findings(tmp_path, echo):
    """Pass S5, F2: process A's client sent a key (of no vendor's shape); process B's app echoed it in an answer B
    judged. One judge of both would mask it (learned from A's request); merged from the two processes' states, the
    reports held it in clear, since B redacted its state with its own keys only. Each state now carries its keys'
    keyed digests, and the merge masks them in every encoding the redactor covers."""
    from migma_contract.reports import write_reports

    one = _sent((KEY_A, None), (KEY_B, echo))  # one process saw both: it masks the echo
    assert "[REDACTED]" in one.findings[0].response.body and echo not in one.findings[0].response.body
    a, b = _sent((KEY_A, None)), _sent((KEY_B, echo))
    states = [json.loads(json.dumps(m.judge.state())) for m in (b, a)]  # (as read back from their files)
    assert echo in states[0]["findings"][0]["response"]["body"]  # (B's own state: B never saw KEY_A)
    merged = b.judge.merged(states)
    assert merged.exit_code == 1 and [f.rule for f in merged.findings] == ["result-has-id"]
    write_reports(merged, tmp_path, ("json", "html", "junit", "md"))
    for path in tmp_path.iterdir():
        text = path.read_text(encoding="utf-8")
        assert KEY_A not in text and echo not in text and KEY_A[:12] not in text, path.name
    assert merged.findings[0].response.body == one.findings[0].response.body


def test_pass_s5_f2_a_state_holds_no_key_in_any_form_and_a_correct_merge_is_unchanged(tmp_path):
    """A state file holds neither the keys its process learned nor any form that gives them back (digests keyed by a
    salt of the process's own); a merge where no process echoes another's key is what it was without the digests."""
    faulty, right = _sent((KEY_A, "nothing of anyone's")), _sent((KEY_B, None))
    _written(tmp_path, faulty)
    (first,) = (tmp_path / STATE_DIR).glob("state-*.json")
    before = first.read_text(encoding="utf-8")
    assert _written(tmp_path, right)["exit_code"] == 1  # (the faulty one's state merged)
    assert first.read_text(encoding="utf-8") == before  # (nothing in it to mask: not rewritten)
    texts = [path.read_text(encoding="utf-8") for path in (tmp_path / STATE_DIR).glob("state-*.json")]
    assert len(texts) == 2
    for key in (KEY_A, KEY_B):
        forms = [key, key.lower(), key.encode().hex(), base64.b64encode(key.encode()).decode(),
                 base64.b64encode(f"api:{key}".encode()).decode()]
        assert not [form[i:i + 6] for text in texts for form in forms for i in range(len(form) - 5) if form[i:i + 6] in text]
    # every state of the folder salted alike (the folder's salt: a merge searches each text once, not once per process)
    salt = (tmp_path / STATE_DIR / "salt").read_text()
    assert [json.loads(text)["state"]["credentials"]["salt"] for text in texts] == [salt, salt]
    assert all(json.loads(text)["state"]["credentials"]["digests"] for text in texts)
    states = [json.loads(json.dumps(m.judge.state())) for m in (faulty, right)]
    bare = json.loads(json.dumps(states))
    for state in bare:
        state["credentials"]["digests"] = []
    merged, without = right.judge.merged(states), right.judge.merged(bare)
    assert (merged.rules, merged.findings, merged.root_causes, merged.traffic) == \
        (without.rules, without.findings, without.root_causes, without.traffic)
    assert "nothing of anyone's" in merged.findings[0].response.body


def test_pass_s5_f2_states_of_more_salts_than_a_merge_searches_are_not_merged():
    """Each salt costs a search of every text: past `_MAX_SALTS` (the states of one folder share one), a state is not
    merged (said; no green verdict), never merged with its keys unmasked."""
    from migma_contract.traffic.tally import _MAX_SALTS

    right = _sent((KEY_B, None))
    states = [right.judge.state(salt=bytes([n]) * 16) for n in range(_MAX_SALTS)]
    assert right.judge.merged(states).exit_code == 0
    merged = right.judge.merged([*states, right.judge.state(salt=b"another salt 123")])
    assert merged.exit_code == 3 and any("could not be merged" in note for note in merged.traffic.notes)
    assert right.judge.merged([*states, right.judge.state(salt=bytes([0]) * 16)]).exit_code == 0  # (a salt known)


ECHO_WORKER = r'''
import json, sys
import httpx
from migma_contract.asgi import ContractMiddleware
from migma_contract.wire.asgi_transport import SyncASGITransport

directory, key, echo = sys.argv[1], sys.argv[2], sys.argv[3]

async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass
    data = {"id": "msg_1", "status": "queued", "provider": "migma"}
    if echo != "-":
        data = {"status": "queued", "provider": "migma", "note": "served for " + echo}
    body = json.dumps({"success": True, "data": data, "error": None}).encode()
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": body})

middleware = ContractMiddleware(app, report_dir=directory, formats=["json", "md", "html", "junit"])
with httpx.Client(transport=SyncASGITransport(middleware), base_url="http://app") as client:
    client.post("/v1/sending", json=json.loads(sys.argv[4]), headers={"Authorization": "Bearer " + key})
print("ready", flush=True)
sys.stdin.readline()
'''


@pytest.mark.e2e
@pytest.mark.parametrize("first", [0, 1], ids=["learner-ends-first", "echoer-ends-first"])
def test_pass_s5_f2_two_worker_processes_mask_each_others_keys(tmp_path, first):
    """Pass S5, F2 as found: worker A's client sent KEY_A, worker B's app echoed it; the reports the directory ends
    with held KEY_A in clear. Now no report, and no state, holds it, whichever worker ends first (B's state, written
    before A's digests were known, is masked when A merges it)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    workers = []
    for key, echo in ((KEY_A, "-"), (KEY_B, KEY_A)):
        process = subprocess.Popen([sys.executable, "-c", ECHO_WORKER, str(tmp_path), key, echo, json.dumps(VALID)],
                                   stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
        assert process.stdout is not None and process.stdout.readline().strip() == "ready"
        workers.append(process)
    for process in (workers[first], workers[1 - first]):
        _end(process)
    assert _report(tmp_path)["verdict"] == "failed"
    files = [*(path for path in tmp_path.iterdir() if path.is_file()), *(tmp_path / STATE_DIR).glob("state-*.json")]
    assert len(files) == 6
    for path in files:
        assert KEY_A not in path.read_text(encoding="utf-8") and KEY_B not in path.read_text(encoding="utf-8"), path.name


def _refused(report: dict, why: str) -> bool:
    """This process's own reports, said so: the shared state refused for `why`."""
    return any("could not be kept" in note and why in note for note in report["traffic"]["notes"])


@pytest.mark.parametrize("mode", [0o775, 0o757, 0o777, 0o1777], ids=oct)
def test_pass_v1_f5_a_states_folder_others_may_write_to_is_refused(tmp_path, mode):
    """Pass V1, F5: in a report_dir other local users may write to (a sticky /tmp, a shared group folder), another
    user made `.migma-contract` (0777) and put a state in it dated now: a correct app's merged report was "failed" (and
    they could remove a faulty sibling's state). A folder its group or others may write to is refused: this process's
    own reports, said so, nothing of the folder merged."""
    right = _middleware(False, 1)
    _plant(tmp_path, "state-4242-forged.json", json.loads(json.dumps(_middleware(True, 1).judge.state())),
           written=right._began() + 1)
    (tmp_path / STATE_DIR).chmod(mode)
    report = _written(tmp_path, right)
    # (1, 2) before: merged; its own reports now, which another process's findings may be missing from: no green verdict
    assert (report["exit_code"], report["traffic"]["judged"]) == (3, 1), report["traffic"]
    assert _refused(report, "writable by other users"), report["traffic"]["notes"]


@pytest.mark.parametrize(("name", "mode"), [("state-4242-forged.json", 0o664), ("state-4242-forged.json", 0o646),
                                            ("salt", 0o664), ("salt", 0o666)],
                         ids=["state-0664", "state-0646", "salt-0664", "salt-0666"])
def test_pass_v1_f5_a_state_or_salt_others_may_write_to_is_refused(tmp_path, name, mode):
    """Pass V1, F5: a state or the salt its group or other users may write to (changed by another user, or planted
    while the folder was open to them) was read as this user's own: the state merged, the salt keying this process's
    digests. Either is refused, checked on the file's open descriptor: this process's own reports, said so."""
    right = _middleware(False, 1)
    faulty = json.loads(json.dumps(_middleware(True, 1).judge.state()))
    _plant(tmp_path, "state-4242-forged.json", faulty, written=right._began() + 1)
    if name == "salt":
        (tmp_path / STATE_DIR / "state-4242-forged.json").unlink()
        (tmp_path / STATE_DIR / "salt").write_text("ab" * 16)
    (tmp_path / STATE_DIR / name).chmod(mode)
    report = _written(tmp_path, right)
    # (1, 2) before: merged; its own reports now, which another process's findings may be missing from: no green verdict
    assert (report["exit_code"], report["traffic"]["judged"]) == (3, 1), report["traffic"]
    assert _refused(report, f"{name}: writable by other users"), report["traffic"]["notes"]  # no note before (salt)
    assert not list((tmp_path / STATE_DIR).glob(f"state-{os.getpid()}-*.json"))  # (nothing written beside them)


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="giving a file to another user needs root")
@pytest.mark.parametrize("owned", [STATE_DIR, "state-4242-forged.json", "salt", "state-4242-stale.json"])
def test_pass_v1_f5_a_folder_state_or_salt_of_another_user_is_refused(tmp_path, owned):
    """Pass V1, F5 as found (root's middleware, `nobody`'s files): another user's `.migma-contract`, a state of theirs
    (dated now, or of an earlier run) or their salt was read whoever owned it; only the lock's owner was checked. Each
    is refused, even read-only to others (0644, 0755): this process's own reports, said so, never a merge of it."""
    right = _middleware(False, 1)
    faulty = json.loads(json.dumps(_middleware(True, 1).judge.state()))
    place = tmp_path / STATE_DIR
    _plant(tmp_path, "state-4242-forged.json", faulty, written=right._began() + 1)
    if owned == "state-4242-stale.json":  # (their state of no run, beside a faulty sibling's of this user's)
        _plant(tmp_path, owned, faulty, written=right._began() - 10_000)
        os.utime(place / owned, (right._began() - 10_000,) * 2)
    if owned == "salt":
        (place / "state-4242-forged.json").unlink()
        (place / "salt").write_text("cd" * 16)
    os.chown(place if owned == STATE_DIR else place / owned, 65534, 65534)
    report = _written(tmp_path, right)
    assert report["traffic"]["judged"] == 1, report["traffic"]  # 2 before: merged (the folder's and the state's cases)
    assert _refused(report, f"{owned}: owned by another user"), report["traffic"]["notes"]  # no note before
    assert report["exit_code"] == 3  # its own reports: another process's findings may be missing, no green verdict


def test_pass_v1_f5_states_are_this_users_alone_under_any_umask(tmp_path):
    """Pass V1, F5's fix kept working where files are made group-writable (umask 002, a user private group): the
    folder is made 0700, the states and the salt 0600, so siblings of one user still merge each other's states."""
    faulty, right = _middleware(True, 1), _middleware(False, 1)
    old = os.umask(0o002)
    try:
        from migma_contract.reports.processes import write_shared

        write_shared(faulty.judge, faulty._began(), tmp_path, ("json",), faulty._shared_name)
        report = _written(tmp_path, right)
    finally:
        os.umask(old)
    assert (report["exit_code"], report["traffic"]["judged"]) == (1, 2), report["traffic"]
    place = tmp_path / STATE_DIR
    assert (place.stat().st_mode & 0o777) == 0o700
    assert {path.name: path.stat().st_mode & 0o777 for path in place.iterdir()} == \
        dict.fromkeys(["lock", "salt", *(path.name for path in place.glob("state-*.json"))], 0o600)


def test_pass_v1_f5_the_folder_checked_is_the_folder_read_and_written(tmp_path, monkeypatch):
    """Pass V1, F5: the folder is checked on its open descriptor and every file in it is opened relative to that
    descriptor: `.migma-contract` swapped for another folder after the check (a report_dir others may write to, not
    sticky) is neither read nor written; by path, its planted state was merged."""
    from migma_contract.reports import processes

    right = _middleware(False, 1)
    faulty = json.loads(json.dumps(_middleware(True, 1).judge.state()))
    (tmp_path / STATE_DIR).mkdir(mode=0o700)
    real = processes._take

    def take(fd, shown):  # (the lock taken: the folder checked and open) then the swap
        real(fd, shown)
        (tmp_path / STATE_DIR).rename(tmp_path / "checked")
        _plant(tmp_path, "state-4242-forged.json", faulty, written=right._began() + 1)

    monkeypatch.setattr(processes, "_take", take)
    report = _written(tmp_path, right)
    assert (report["exit_code"], report["traffic"]["judged"]) == (0, 1), report["traffic"]  # (1, 2) before: merged
    assert [path.name for path in (tmp_path / STATE_DIR).iterdir()] == ["state-4242-forged.json"]
    assert {"lock", "salt"} < {path.name for path in (tmp_path / "checked").iterdir()}


def test_pass_z4_f3_a_relative_report_dir_is_of_the_directory_current_when_the_middleware_is_made(tmp_path, monkeypatch):
    """Pass Z4, F3: a relative report_dir was resolved when the reports were written: a directory change in between
    wrote the faulty app's report elsewhere and left the project's earlier green report standing."""
    (tmp_path / "project").mkdir()
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "project")
    faulty = _middleware(True, 1, report_dir="reports/traffic")
    assert faulty.report_dir == tmp_path / "project" / "reports" / "traffic"
    monkeypatch.chdir(tmp_path / "elsewhere")
    faulty.write_report()
    assert _report(tmp_path / "project" / "reports" / "traffic")["exit_code"] == 1
    assert not (tmp_path / "elsewhere" / "reports").exists()
