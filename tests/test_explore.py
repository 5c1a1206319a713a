"""Exploration: Schemathesis-generated requests, labelled by the toolkit, failures shrunk."""

import json
import re
import uuid

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.generation.feedback import NO_FEEDBACK

from migma_contract import contract_for
from migma_contract.config.options import CheckOptions
from migma_contract.generate.bodies import BodyFactory, Fixtures
from migma_contract.mock import create_app, load_mock_config
from migma_contract.run.explore import exploration_document, unsafe_recipient
from migma_contract.run.runner import run_check
from migma_contract.schemathesis_checks import CHECKS, violations_of

from .faulty_servers import FULL_KEY, RESTRICTED_KEY, Resp, Variant, answer

FIXTURES = load_mock_config().fixtures()


def _digit_in_a_variables_key(request):
    variables = request.fields.get("variables")
    return isinstance(variables, dict) and any(re.search(r"[0-9]", key) for key in variables)


@pytest.mark.e2e
def test_exploration_finds_what_the_plan_cannot_and_shrinks_it():
    crash = Variant("crash-on-digit-in-a-variables-key", "no-server-error",
                    before=answer(_digit_in_a_variables_key, Resp.of(500, b"boom", "text/plain")))
    common = {"api_key": FULL_KEY, "restricted_api_key": RESTRICTED_KEY, "max_requests": 300, "seed": 3}
    assert run_check(CheckOptions(explore=False, **common).with_fixtures(FIXTURES), app=crash.app()).exit_code == 0  # no plan key has a digit
    result = run_check(CheckOptions(explore=True, **common).with_fixtures(FIXTURES), app=crash.app())
    [finding] = result.findings
    # shrunk to the smallest such key, then put alone into the plainest send: the finding is that send, and says why
    assert finding.rule == "no-server-error" and finding.phase == "explore"
    assert finding.case == "explore/no-server-error-minimal~minimal-variables"
    body = json.loads(finding.request.body)
    assert body["variables"] == {"0": None} and {k: v for k, v in body.items() if k != "variables"} in _plainest_bodies()
    assert finding.attribution.startswith(f"The plainest {body['recipientType']} send passes, and the same send with only "
                                          'variables={"0": null} got 500: the variables value makes the difference')
    assert result.requests_sent <= 300


def _plainest_bodies():
    from migma_contract import load_spec
    from migma_contract.generate.bodies import BodyFactory

    bodies = BodyFactory(load_spec(), FIXTURES)
    return [bodies.valid_body(kind) for kind in bodies.recipient_types]


@pytest.mark.e2e
def test_an_explored_failure_no_single_field_explains_says_so():
    def both(request):  # a digit in a variables key, and a subject other than the plainest send's
        return _digit_in_a_variables_key(request) and request.fields.get("subject") != _plainest_bodies()[0]["subject"]

    crash = Variant("crash-on-two-fields-together", "no-server-error", before=answer(both, Resp.of(500, b"boom", "text/plain")))
    common = {"api_key": FULL_KEY, "restricted_api_key": RESTRICTED_KEY, "max_requests": 400, "seed": 3}
    result = run_check(CheckOptions(explore=True, **common).with_fixtures(FIXTURES), app=crash.app())
    [finding] = result.findings
    assert finding.case == "explore/no-server-error-minimal" and "variables" in json.loads(finding.request.body)
    assert "but no single field of this one" in finding.attribution and "a combination does" in finding.attribution


@pytest.mark.e2e
def test_same_seed_same_requests_different_seed_different_requests():
    def sent(seed):
        mock = create_app({"open_world": True})
        run_check(CheckOptions(seed=seed, max_requests=200, api_key=FULL_KEY, restricted_api_key=RESTRICTED_KEY), app=mock)
        return [record.request for record in mock.sent]

    first = sent(5)
    assert first == sent(5)
    assert first != sent(6)


def test_exploration_document_keeps_recipients_on_the_domain_and_pins_fixtures():
    document = exploration_document(contract_for(), "documented", FIXTURES.with_domain("mail.test"))
    schema = schemathesis.openapi.from_dict(document)
    operation = schema["/v1/sending"]["POST"]

    @settings(max_examples=40, database=None, suppress_health_check=list(HealthCheck), deadline=None)
    @given(operation.as_strategy(generation_mode=GenerationMode.POSITIVE))
    def check(case):
        body = case.body
        assert not unsafe_recipient(body, "mail.test")
        assert body["from"] == FIXTURES.from_address
        assert body.get("emailId", FIXTURES.email_id) == FIXTURES.email_id

    check()


def test_unsafe_recipients_are_never_sent():
    assert unsafe_recipient({"recipientEmail": "someone@gmail.com"}, "example.com")
    assert unsafe_recipient({"replyTo": "a@b.org"}, "example.com")
    assert not unsafe_recipient({"recipientEmail": "x@example.com"}, "example.com")
    assert not unsafe_recipient({"recipientEmail": "no-at-sign"}, "example.com")


@pytest.mark.e2e  # a whole Schemathesis run, in-process
def test_plain_schemathesis_with_our_checks_passes_the_reference_mock():
    """Schemathesis' own checks plus the catalogue's, both modes, against the open-world mock.

    Positive cases come from the exploration document (addresses kept on example.com);
    negative ones from the enriched document, whose `format: email` Schemathesis knows how
    to break (it cannot break a custom format, and then calls a valid address invalid).
    """
    contract = contract_for()
    documents = {
        GenerationMode.POSITIVE: exploration_document(contract, "documented", Fixtures()),
        GenerationMode.NEGATIVE: contract.enriched_document("documented"),
    }
    for mode, document in documents.items():
        schema = schemathesis.openapi.from_dict(document)
        # at documented, like the documents: the default mock (strict) refuses properties they do not name (known-fields)
        schema.app = create_app({"open_world": True, "level": "documented"})
        operation = schema["/v1/sending"]["POST"]

        # NO_FEEDBACK: Schemathesis otherwise reuses strings seen in answers as "positive"
        # values whatever their format (a replyTo of "limits"), and then blames the server.
        @settings(max_examples=50, database=None, suppress_health_check=list(HealthCheck), deadline=None)
        @given(operation.as_strategy(generation_mode=mode, feedback=NO_FEEDBACK))
        def check(case):
            case.call_and_validate(headers={"Authorization": f"Bearer {FULL_KEY}"}, additional_checks=CHECKS)

        check()


@pytest.mark.e2e  # a whole Schemathesis run, in-process
def test_our_schemathesis_checks_catch_a_broken_envelope():
    broken = Variant("errors-claim-success", "envelope-consistent",
                     after=lambda req, resp: Resp.of(resp.status, {**resp.json, "success": True}) if resp.status >= 400 else resp)
    schema = schemathesis.openapi.from_dict(exploration_document(contract_for(), "documented", Fixtures()))
    schema.app = broken.app()
    operation = schema["/v1/sending"]["POST"]
    failures = []

    @settings(max_examples=30, database=None, suppress_health_check=list(HealthCheck), deadline=None)
    @given(operation.as_strategy(generation_mode=GenerationMode.NEGATIVE))
    def check(case):
        response = case.call(headers={"Authorization": f"Bearer {FULL_KEY}"})
        for registered in CHECKS:
            try:
                registered(None, response, case)
            except AssertionError as exc:
                failures.append(str(exc))

    check()
    assert failures and all(f.startswith("[envelope-consistent]") for f in failures)


@pytest.mark.e2e
def test_a_document_whose_schema_admits_no_generated_body_ends_with_a_verdict_not_a_crash(tmp_path):
    """`lint` calls a document whose required subject must be null usable; exploration must cope."""
    import yaml

    from migma_contract.document.spec import bundled_spec_path

    document = yaml.safe_load(bundled_spec_path().read_text())
    document["components"]["schemas"]["SendEmailRequest"]["properties"]["subject"] = {"type": "null"}
    path = tmp_path / "null-subject.yaml"
    path.write_text(yaml.safe_dump(document))
    result = run_check(CheckOptions(spec=str(path), max_requests=260, seed=1))
    assert result.exit_code in (0, 1) and result.requests_sent > 146


def test_our_checks_judge_only_the_documented_operation():
    """Schemathesis also sends methods the document does not define; a 405 to a TRACE breaks no rule of this contract."""
    schema = schemathesis.openapi.from_dict(contract_for().spec.document)
    schema.app = create_app({"open_world": True})
    operation = schema["/v1/sending"]["POST"]
    case = operation.Case(method="TRACE", body={})
    response = case.call(headers={"Authorization": f"Bearer {FULL_KEY}"})
    assert response.status_code == 405
    for check in CHECKS:
        check(None, response, case)  # none raises
    assert violations_of(response, case) == []


def test_our_schemathesis_check_catches_an_id_given_twice_but_not_a_replay():
    fixed = f"msg_{uuid.uuid4().hex}"
    same_id = Variant("same-id", "result-id-unique", after=lambda req, resp: Resp.of(200, {**resp.json, "data": {**resp.json["data"], "id": fixed}})
                      if resp.status == 200 else resp)
    schema = schemathesis.openapi.from_dict(contract_for().spec.document)
    schema.app = same_id.app()
    operation = schema["/v1/sending"]["POST"]
    body = BodyFactory(contract_for().spec, FIXTURES).valid_body()
    [unique] = [c for c in CHECKS if c.__name__ == "migma_result_id_unique"]
    replayed = {"Authorization": f"Bearer {FULL_KEY}", "Idempotency-Key": f"k-{fixed}"}
    for _ in range(2):  # the same key: an idempotent replay may repeat the id
        case = operation.Case(body=body, headers=replayed)
        response = case.call()
        unique(None, response, case)
        unique(None, response, case)  # one response checked twice (registered and passed as additional_checks) is no repeat
    case = operation.Case(body=body, headers={"Authorization": f"Bearer {FULL_KEY}"})
    with pytest.raises(AssertionError, match=f"data.id '{fixed}' was already given"):
        unique(None, case.call(), case)


@pytest.fixture
def ctrl_c_raises():
    """SIGINT raises KeyboardInterrupt, as in a terminal, whatever this process inherited: a job started
    in the background by a script ignores SIGINT, and Python then installs no handler for it."""
    import signal

    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def test_ctrl_c_during_an_exploring_send_leaves_no_send_pending(monkeypatch, ctrl_c_raises):
    # Ctrl-C while a send awaits: the send is cancelled (its cleanup runs) before the loop closes,
    # as asyncio.Runner did, not left pending on a closed loop ("Task was destroyed but it is pending!").
    import asyncio
    import contextlib
    import signal
    import types

    from migma_contract.run import explore as _explore
    from migma_contract.run import runner as _runner

    cleaned, closed = [], []

    class Target:  # an in-process app's: sent to over the exploring thread's event loop
        @contextlib.contextmanager
        def blocking(self):
            yield False

        async def __aenter__(self):
            return self

        async def __aexit__(self, *exc):
            closed.append(True)

        async def send(self, case):
            asyncio.get_running_loop().call_soon(signal.raise_signal, signal.SIGINT)
            try:
                await asyncio.Event().wait()
            finally:
                cleaned.append(True)

    run = types.SimpleNamespace()
    monkeypatch.setattr(_explore, "explore", lambda run, sources: run.blocking("a case"))
    with pytest.raises(KeyboardInterrupt):
        _runner._explore_phase(run, Target(), [])
    assert cleaned == [True] and closed == [True]


@pytest.mark.e2e
def test_ctrl_c_during_a_blocking_send_closes_its_client_and_clears_the_deadline(monkeypatch, ctrl_c_raises):
    # a URL target is sent to with blocking I/O, the plan's sends and exploration's alike: Ctrl-C in
    # the socket read ends the send, and the connection is closed (the server sees it go), the
    # deadline cleared, the client closed
    import signal
    import threading

    from migma_contract import CheckOptions, run_check
    from migma_contract.wire import client

    from . import hostile_servers as hostile

    main, gone, targets = threading.main_thread().ident, threading.Event(), []

    def interrupted(conn, stop):
        hostile.read_request(conn)
        signal.pthread_kill(main, signal.SIGINT)  # wakes the main thread's blocking read
        if not conn.recv(1):
            gone.set()

    class Target(client.Target):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            targets.append(self)

    monkeypatch.setattr(client, "Target", Target)
    with hostile.raw_server(interrupted) as url:
        with pytest.raises(KeyboardInterrupt):
            run_check(CheckOptions(base_url=url, api_key="k", timeout=30, max_requests=5))
        assert gone.wait(10)
    [target] = targets
    assert target._sync is None and target._client is None and target._deadline.at is None and target.requests_sent == 1


@pytest.mark.e2e
def test_an_httpx_whose_pool_takes_no_deadline_explores_a_url_over_the_event_loop(monkeypatch):
    # the deadline backend relies on httpcore's private `_network_backend`: without it, the async driver sends
    import types

    import httpx

    from migma_contract.generate.cases import Case
    from migma_contract.run import explore as _explore
    from migma_contract.run import runner as _runner
    from migma_contract.wire.client import Target, TargetSettings

    from . import hostile_servers as hostile

    made = httpx.HTTPTransport.__init__

    def without_backend(self, *args, **kwargs):
        made(self, *args, **kwargs)
        del self._pool._network_backend

    monkeypatch.setattr(httpx.HTTPTransport, "__init__", without_backend)
    case, sent = Case("c", "", "", {"recipientType": "email"}, frozenset({200})), []
    with hostile.raw_server(hostile.each_request(lambda request: hostile.response("200 OK", b'{"success": true}'))) as url:
        target = Target(TargetSettings(url, timeout=5))
        with target.blocking() as blocking:
            assert blocking is False
        monkeypatch.setattr(_explore, "explore", lambda run, sources: sent.append(run.blocking(case)))
        _runner._explore_phase(types.SimpleNamespace(), target, [])
    assert [e.status for e in sent] == [200] and target._sync is None and target._client is not None


def _explore_only(monkeypatch, body):
    """Exploration of just `body` (the catalogue's and Schemathesis' sources set aside)."""
    from hypothesis import strategies as st

    from migma_contract.run import explore as _explore

    monkeypatch.setattr(_explore, "prepare", lambda run, expected_left=None: [st.just(body)])


@pytest.mark.e2e
def test_an_explored_crash_on_a_rule_breaking_field_is_not_blamed_on_a_combination(monkeypatch):
    # the field that makes the difference breaks a rule alone, so its mix with the plainest send is not sent:
    # that is no evidence that "a combination does"
    crash = Variant("crash-on-a-false-subject", "no-server-error",
                    before=answer(lambda r: r.fields.get("subject") is False, Resp.of(500, b"boom", "text/plain")))
    _explore_only(monkeypatch, {**_plainest_bodies()[0], "subject": False})
    common = {"api_key": FULL_KEY, "restricted_api_key": RESTRICTED_KEY, "max_requests": 200, "seed": 3}
    [finding] = run_check(CheckOptions(explore=True, **common).with_fixtures(FIXTURES), app=crash.app()).findings
    assert finding.phase == "explore" and "a combination does" not in finding.attribution
    assert finding.attribution == ("The plainest email send passes, and this request differs from it only by subject=false, "
                                   "which breaks a rule alone: the subject value makes the difference.")


@pytest.mark.e2e
@pytest.mark.parametrize(("name", "shown"), [("", '""'), ("\x1f", '"\\u001f"'), ("a b=c", '"a b=c"')])
def test_an_explored_field_with_an_odd_name_is_named_legibly(monkeypatch, name, shown):
    # a server that crashes on a field the document does not name: Hypothesis shrinks its name to "" or a control character
    crash = Variant("crash-on-an-odd-field", "no-server-error",
                    before=answer(lambda r: name in r.fields, Resp.of(500, b"boom", "text/plain")))
    _explore_only(monkeypatch, {**_plainest_bodies()[0], name: None})
    common = {"api_key": FULL_KEY, "restricted_api_key": RESTRICTED_KEY, "max_requests": 200, "seed": 3}
    [finding] = run_check(CheckOptions(explore=True, **common).with_fixtures(FIXTURES), app=crash.app()).findings
    assert finding.attribution == (f"The plainest email send passes, and the same send with only {shown}=null got 500: "
                                   f"the {shown} value makes the difference.")
    assert finding.case_label == f"minimal: a plain email send with {shown}=null"
    assert finding.case.isprintable() and finding.case.startswith("explore/no-server-error-minimal~minimal-")


@pytest.mark.e2e
def test_an_attribution_stopped_by_the_timeouts_says_so_not_that_the_budget_ran_out(monkeypatch):
    from .faulty_servers import hang

    slow = Variant("hangs-on-a-digit-key", "responds-in-time", before=hang(_digit_in_a_variables_key))
    _explore_only(monkeypatch, {**_plainest_bodies()[0], "variables": {"0": None}})
    common = {"api_key": FULL_KEY, "restricted_api_key": RESTRICTED_KEY, "max_requests": 200, "seed": 3}
    result = run_check(CheckOptions(explore=True, timeout=2.0, max_timeouts=1, **common).with_fixtures(FIXTURES), app=slow.app())
    [finding] = result.findings
    assert result.requests_sent < 200 and "budget" not in finding.attribution
    assert finding.attribution.startswith("Attribution stopped: 1 requests timed out (limit 1, --max-timeouts)")


def test_a_generated_body_is_labelled_as_sent_with_the_runs_key():
    """Explored bodies go out with the run's full-scope key: a valid one deserves 200, a broken one its rule's status."""
    import types

    from migma_contract import contract_for
    from migma_contract.contract.rules import Level, RawBody
    from migma_contract.generate.bodies import Fixtures
    from migma_contract.run.explore import label

    run = types.SimpleNamespace(contract=contract_for(), level=Level.STRICT, fixtures=Fixtures())
    valid = {"recipientType": "email", "recipientEmail": "ann@example.com", "from": "news@example.com", "fromName": "News",
             "subject": "Hi", "emailId": "email_welcome"}
    case = label(run, valid, 1)
    assert case.rule_id == "accepts-valid" and case.expect == {200}
    utf16 = RawBody(json.dumps(valid).encode("utf-16"))
    broken = label(run, utf16, 2)
    assert broken.rule_id == "body-utf8" and broken.expect == {400} and "Authorization" not in broken.label


def _frozen_counts_while_exploring():
    """A default-sized check of the open-world mock (it must pass); the collector's freeze count at each explored
    request."""
    import gc

    frozen = []

    def progress(event, info):
        if event == "explored":
            frozen.append(gc.get_freeze_count())

    options = CheckOptions(max_requests=160, api_key=FULL_KEY, restricted_api_key=RESTRICTED_KEY)
    assert run_check(options, app=create_app({"open_world": True}), progress=progress).exit_code == 0
    return frozen


@pytest.mark.e2e
def test_exploration_keeps_the_objects_it_found_out_of_the_collectors_sight():
    # Everything alive when exploration starts (the modules, the document, the plan's exchanges) outlives it:
    # Hypothesis' full collection at its first test in a thread, and any during the exploration, skip it.
    # Afterwards the collector is as it was found.
    import gc

    frozen = _frozen_counts_while_exploring()
    assert frozen and min(frozen) > 10_000
    assert gc.get_freeze_count() == 0


@pytest.mark.e2e
def test_a_process_that_keeps_frozen_objects_of_its_own_keeps_them():
    import gc

    gc.freeze()
    try:
        before = gc.get_freeze_count()
        frozen = _frozen_counts_while_exploring()
        # nothing more frozen during the exploration (a frozen object may still be freed), nothing unfrozen after it
        assert frozen and max(frozen) <= before and before - 1000 < gc.get_freeze_count() <= before
    finally:
        gc.unfreeze()


@pytest.mark.e2e
def test_exploration_does_not_make_hypothesis_read_its_source_for_a_database_key(monkeypatch):
    # Hypothesis keys a test in its example database by a digest of the test's source (read and
    # tokenized at every run: a check runs one per round). Exploration has no database, so the
    # key is given as None (Hypothesis' private attribute, as its own `find` sets it): no digest.
    from hypothesis import core

    digests = []
    real = core.function_digest
    monkeypatch.setattr(core, "function_digest", lambda function: digests.append(function) or real(function))
    explored = []
    options = CheckOptions(max_requests=160, api_key=FULL_KEY, restricted_api_key=RESTRICTED_KEY)
    result = run_check(options, app=create_app({"open_world": True}),
                       progress=lambda event, info: explored.append(event) if event == "explored" else None)
    assert result.exit_code == 0 and explored
    assert digests == []


@pytest.mark.e2e
def test_hypothesis_scans_the_modules_for_constants_while_the_plan_runs(monkeypatch):
    # At its first draw after new modules are loaded Hypothesis scans them all for constants (~10-30 ms):
    # done by the exploration's set-up, which runs while the plan's requests are in flight, not by the
    # exploration's first draw. (Hypothesis' private function: the test follows it, or says it is gone.)
    import threading

    from hypothesis.internal.conjecture import providers

    if not hasattr(providers, "_get_local_constants"):
        pytest.skip("this Hypothesis has no scan for local constants")
    scans, exploring = [], []
    real = providers._get_local_constants

    def scan():
        scans.append(threading.current_thread())
        return real()

    def progress(event, info):
        if event == "explore":
            exploring.append((threading.current_thread(), len(scans)))

    monkeypatch.setattr(providers, "_get_local_constants", scan)
    options = CheckOptions(max_requests=160, api_key=FULL_KEY, restricted_api_key=RESTRICTED_KEY)
    assert run_check(options, app=create_app({"open_world": True}), progress=progress).exit_code == 0
    [(explorer, scanned_before)] = exploring
    assert scanned_before >= 1 and scans[0] is not explorer


@pytest.mark.e2e
def test_exploration_stops_drawing_once_the_budget_is_spent(monkeypatch):
    """Found by a fix pass (V4): with the time spent (`--max-time`), each example Hypothesis drew was thrown away
    unsent, until `max_examples` (the whole request budget) were drawn: `check --max-time 3 --max-requests 20000` ran
    11 s. The run's clock stands here as `can_send` turning False after a few sends: drawing stops with it."""
    from hypothesis import strategies as st

    from migma_contract.run import explore as _explore
    from migma_contract.run.state import RunState

    drawn = []
    body = _plainest_bodies()[0]
    monkeypatch.setattr(_explore, "prepare",
                        lambda run, expected_left=None: [st.integers().map(lambda n: drawn.append(n) or body)])
    real = RunState.can_send

    def can_send(self):
        return real(self) and self.explored < 5  # (the clock runs out after five explored sends)
    monkeypatch.setattr(RunState, "can_send", can_send)
    common = {"api_key": FULL_KEY, "restricted_api_key": RESTRICTED_KEY, "max_requests": 20_000, "seed": 3}
    result = run_check(CheckOptions(explore=True, **common).with_fixtures(FIXTURES), app=create_app())
    assert result.requests_sent < 200
    assert len(drawn) <= 10, len(drawn)  # ~19,800 drawn and thrown away before
