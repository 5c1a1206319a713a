"""Pass X5 of the outside attack (fixX5b): F2 and F3 (the consumer route, the reference mock judging a client,
reads a request as the one judge reads it) and F5 (a 4xx labelled HTML whose body is the send's JSON envelope)."""

import json

import pytest

from migma_contract.judge.verdict import no_endpoint

from .test_proxy_pass_v3b import Upstream, _send, _through

pytest_plugins = ["pytester"]

# -- F5: a 4xx labelled text/html whose body is the contract's envelope is the send endpoint's answer ---------------

_ERROR = json.dumps({"success": False, "error": "recipientEmail is required"}).encode()


@pytest.mark.parametrize("body", [_ERROR, [_ERROR[:10], _ERROR[10:]]])
def test_pass_x5_f5_an_html_labelled_4xx_holding_the_envelope_is_the_apis(body):
    """Pass X5, F5: `no_endpoint` called any 4xx labelled text/html a front end's page, so the proxy passed it unjudged
    ("no endpoint answers so") where `judge` and the middleware fail content-type-json on the same traffic."""
    chunks = body if isinstance(body, list) else [body]
    assert no_endpoint(400, "text/html", (), chunks) is None
    assert no_endpoint(400, "text/html; charset=utf-8", {400}, chunks) is None
    # a page is still a page: HTML, a JSON value that is no envelope, a body past what an ApiError holds
    assert no_endpoint(403, "text/html", (), [b"<html>forbidden</html>"]) == "403 with an HTML page"
    assert no_endpoint(403, "text/html", (), [b"[1, 2]"]) == "403 with an HTML page"
    assert no_endpoint(403, "text/html", (), [b'{"success": false, "x": "' + b"a" * 70_000 + b'"}']) == "403 with an HTML page"
    assert no_endpoint(404, "application/json", (), [_ERROR]) == "404"  # a 404 still says no endpoint


@pytest.mark.e2e
@pytest.mark.parametrize("labels", [[b"text/html"], [b"text/html", b"application/json"]])
def test_pass_x5_f5_the_proxy_judges_an_html_labelled_error_envelope(labels):
    """Pass X5, F5: every error answer labelled text/html (a JSON ApiError body; or two Content-Types, text/html
    first): the proxy said "no endpoint answers so; check --upstream" (exit 3), hiding the server's content-type-json
    failure and the client's own breaks; now it judges it as `judge` and the middleware do."""
    def answer(request):
        head = b"HTTP/1.1 400 Bad Request\r\n" + b"".join(b"Content-Type: " + label + b"\r\n" for label in labels)
        return head + b"Content-Length: " + str(len(_ERROR)).encode() + b"\r\n\r\n" + _ERROR

    (got,), result = _through(Upstream(answer), lambda url: _send(url, **{"X-Unused": "1"}))
    assert got.status_code == 400
    notes = "\n".join(result.traffic.notes)
    assert "no endpoint answers so" not in notes and result.traffic.unjudged == 0
    assert result.exit_code == 1
    assert "content-type-json" in {f.rule for f in result.findings}


# -- F2, F3: the consumer route reads a request as the one judge reads it -------------------------------------------

_VALID = {"recipientType": "email", "recipientEmail": "ada@example.com", "from": "hello@yourbrand.migma.email",
          "fromName": "Your Brand", "subject": "Welcome!", "emailId": "email_welcome"}
_RAW = json.dumps(_VALID).encode()
_JSON = [("content-type", "application/json")]


def _cases():
    import gzip
    import zlib

    deep = _RAW[:-1] + b', "variables": {"x": ' + b"[" * 70 + b"]" * 70 + b"}}"
    return {  # label: (headers besides Authorization, body, the status a strict server answers)
        # F2: what docs/check.md blames no party for, filed as the client's body-json-object
        "gzip": ([*_JSON, ("content-encoding", "gzip")], gzip.compress(_RAW), 415),
        "deflate": ([*_JSON, ("content-encoding", "deflate")], zlib.compress(_RAW), 415),
        "text/json": ([("content-type", "text/json")], _RAW, 415),
        "a form type": ([("content-type", "application/x-www-form-urlencoded")], _RAW, 415),
        "no Content-Type": ([], _RAW, 415),
        "two Content-Types, text/plain first": ([("content-type", "text/plain"), *_JSON], _RAW, 415),
        "a byte order mark": (_JSON, b"\xef\xbb\xbf" + _RAW, 400),
        "nested 70 deep": (_JSON, deep, 400),
        "a lone surrogate": (_JSON, _RAW.replace(b'"Welcome!"', b'"Welcome\\ud83d"'), 400),
        "a number past IEEE 754": (_JSON, _RAW[:-1] + b', "variables": {"n": 1e999}}', 400),
        # F3: let through (200) though a strict server refuses them
        "application/vnd.api+json": ([("content-type", "application/vnd.api+json")], _RAW, 415),
        "application/merge-patch+json": ([("content-type", "application/merge-patch+json")], _RAW, 415),
        "charset=utf-16 on UTF-8 bytes": ([("content-type", "application/json; charset=utf-16")], _RAW, 415),
        "two Authorizations, the first valid": ([*_JSON, ("authorization", "Bearer someone-else")], _RAW, 401),
    }


_CASES = _cases()


def _posted(mock, label):
    headers, body, _ = _CASES[label]
    return mock.client.post("/v1/sending", content=body,
                            headers=[("authorization", f"Bearer {mock.full_key}"), *headers])


@pytest.mark.parametrize("label", list(_CASES))
def test_pass_x5_f2_f3_the_mock_refuses_as_a_strict_server_and_blames_no_one(label):
    """Pass X5, F2 and F3: the mock filed a gzip or deflate JSON object, text/json, a form type, two Content-Types, a
    BOM, JSON past 64 levels, a lone surrogate or a number past IEEE 754 as the client's body-json-object (failing correct
    code), and let +json types, a UTF-16 label and a repeated Authorization through (200, green) where a strict server
    refuses them. Now: the status a strict server answers, no violation, a warning saying it is judged in part."""
    from migma_contract.testing import MockHandle

    with MockHandle() as mock:
        answer = _posted(mock, label)
        [seen] = mock.requests
        assert answer.status_code == _CASES[label][2], answer.text
        assert answer.json()["success"] is False
        assert not seen.violations and not mock.rejected and mock.breaches() is None
        assert seen.outcome == "in-part" and len(seen.warnings) == 1
        assert "judged in part, no party blamed" in seen.warnings[0] and f"refuses it {answer.status_code}" in seen.warnings[0]
        assert mock.app.sent == []


@pytest.mark.parametrize("label", list(_CASES))
def test_pass_x5_f2_f3_the_mock_and_the_traffic_judge_read_the_request_alike(label):
    """Pass X5, F2 and F3: the traffic ways (proxy, `judge`, middleware) in front of the mock said "judged in part" for
    these requests while the consumer route blamed the client or passed it; the mock's warning now is the judge's why,
    and the judge, given the mock's exchange, blames neither party."""
    from migma_contract import contract_for
    from migma_contract.testing import MockHandle
    from migma_contract.traffic.tally import ObservedExchange, TrafficJudge

    with MockHandle() as mock:
        answer = _posted(mock, label)
        [seen] = mock.requests
        judge = TrafficJudge(contract_for(), kind="proxy", label="t", url="http://migma-mock", timeout=5.0)
        verdict = judge.observe(ObservedExchange(
            "POST", "http://migma-mock/v1/sending", [(k.decode(), v.decode()) for k, v in seen.raw_headers], seen.raw,
            answer.status_code, list(answer.headers.multi_items()), answer.content))
    assert verdict.partly is not None
    if label in ("gzip", "deflate"):  # (answered 415, the judge names the refusal RFC 9110 gives a coding)
        assert "Content-Encoding" in verdict.partly and "Content-Encoding" in seen.warnings[0]
    else:
        assert verdict.partly.split(";")[0] in seen.warnings[0], (verdict.partly, seen.warnings)
    assert not verdict.breaches, verdict.breaches


_CONSUMER_TEST = '''
import gzip, json
BODY = {"recipientType": "email", "recipientEmail": "ada@example.com", "from": "hello@yourbrand.migma.email",
        "fromName": "Your Brand", "subject": "Welcome!", "emailId": "email_welcome"}

def test_gzip(migma_mock):
    answer = migma_mock.client.post("/v1/sending", content=gzip.compress(json.dumps(BODY).encode()),
                                    headers={"content-type": "application/json", "content-encoding": "gzip"})
    assert answer.status_code == 415

def test_vnd(migma_mock):
    answer = migma_mock.client.post("/v1/sending", content=json.dumps(BODY).encode(),
                                    headers={"content-type": "application/vnd.api+json"})
    answer.raise_for_status()
'''


def test_pass_x5_f2_f3_the_consumer_route_fails_no_test_at_teardown_and_says_judged_in_part(pytester):
    """Pass X5, F2 and F3 through the `migma_mock` fixture: a gzip-coded JSON object failed the test at teardown
    ("[body-json-object] the body is not valid JSON"); a +json type was green. Now the first passes with a warning
    (no party blamed), the second fails by the client's own handling of the 415 a strict server answers."""
    pytester.makepyfile(_CONSUMER_TEST)
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "-p", "no:randomly")
    result.assert_outcomes(passed=1, failed=1)
    text = result.stdout.str()
    assert "body-json-object" not in text and "MigmaContractWarning" in text and "judged in part" in text
    assert "415" in text


def test_pass_x5_f2_a_coding_in_a_second_content_encoding_field_counts():
    """Pass X5, F2: the mock read only the first of each field; `Content-Encoding: identity` then `gzip` is a gzip body."""
    import gzip

    from migma_contract.testing import MockHandle

    with MockHandle() as mock:
        answer = mock.client.post("/v1/sending", content=gzip.compress(_RAW), headers=[
            ("authorization", f"Bearer {mock.full_key}"), *_JSON, ("content-encoding", "identity"),
            ("content-encoding", "gzip")])
        assert answer.status_code == 415 and not mock.rejected


@pytest.mark.parametrize("extra", [b',"subject":"x"', b',"recipientType":"segment"', b',"Subject":"x"'])
def test_pass_x5_f2_a_member_given_twice_is_read_as_the_judge_reads_it(extra):
    """Pass X5, F2 (its class): a body giving a member twice (exactly or in another case) was read as Python reads it,
    the last value: a 200 (green) or the client blamed for what the last value breaks (batch-needs-recipientId), where
    the judge leaves it unjudged (which value the server read does not show). Now a 400 with a warning, no one blamed."""
    from migma_contract.testing import MockHandle

    with MockHandle() as mock:
        answer = mock.client.post("/v1/sending", content=_RAW[:-1] + extra + b"}", headers=_JSON)
        [seen] = mock.requests
        assert answer.status_code == 400 and "send each member once" in answer.text
        assert not mock.rejected and seen.outcome == "in-part" and "RFC 8259 §4" in seen.warnings[0]


@pytest.mark.e2e
def test_pass_x5_f5_check_judges_an_html_labelled_error_envelope_on_its_first_valid_request():
    """Pass X5, F5 (the check's side of the same reading): a server answering every send 400 labelled text/html with
    the contract's ApiError body was "answered 400 with an HTML page" (exit 2, a wrong --base-url); it is the send
    endpoint's answer: judged, and content-type-json fails it, as the proxy, `judge` and the middleware now say."""
    from migma_contract.run.runner import run_check

    from .faulty_servers import Resp, Variant, answer
    from .test_gate import options

    labelled = Variant("html-labelled-errors", None,
                       before=answer(lambda r: True, Resp.of(400, {"success": False, "error": "nope"}, "text/html")))
    result = run_check(options(), app=labelled.app())
    assert result.exit_code == 1 and result.rule("content-type-json").status == "failed"
