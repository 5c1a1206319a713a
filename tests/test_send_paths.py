"""Which request is the send, per way in (red-team pass I, findings 1, 4 and 7).

One decision (`traffic.tally.route_of`): POST to exactly /v1/sending is judged; a POST a server may still route there
passes unjudged and counted (no green verdict, and the server is never blamed for a path the client malformed);
anything else is another path. The proxy and the middleware know the base path (the proxy adds its upstream's, the
middleware reads under the app's root path), so the client's path must be /v1/sending itself; a recording's absolute
URL may hold a plain base path before it. Finding 7: a URL quoted in a config error shows none of its userinfo.
"""

import json

import httpx
import pytest
from click.testing import CliRunner

from migma_contract import ConfigError, contract_for
from migma_contract.asgi import ContractMiddleware
from migma_contract.cli import main
from migma_contract.core.redact import strip_credentials
from migma_contract.mock import create_app
from migma_contract.traffic.proxy import TrafficProxy
from migma_contract.traffic.tally import MAY_ROUTE, OTHER, SEND, ObservedExchange, TrafficJudge, route_of
from migma_contract.wire.asgi_transport import SyncASGITransport
from migma_contract.wire.serve import serve_in_thread

from .faulty_servers import FULL_KEY
from .helpers import raw_exchange
from .hostile_servers import each_request, raw_server

VALID = {"recipientType": "email", "recipientEmail": "ann@example.com", "from": "news@example.com", "fromName": "News",
         "subject": "Hello", "emailId": "email_welcome"}
# a segment send without recipientId: the client breaks batch-needs-recipientId, and a server answering 200 does too
BAD = {"recipientType": "segment", "from": "news@example.com", "fromName": "News", "subject": "Hi", "emailId": "email_welcome"}
OK = json.dumps({"success": True, "data": {"id": "m1", "status": "queued"}, "error": None}).encode()
AUTH = {"Authorization": f"Bearer {FULL_KEY}"}

# Paths a server may route to the send, each named by finding 1 or 4 of pass I (and pass G's trailing slash)
FORMAT_SUFFIXES = ["/v1/sending.json", "/v1/sending.xml", "/v1/sending.json/"]  # Rails (.:format), Spring, ActiveResource
UNICODE_CASE = ["/v1/%C5%BFending",  # ſ U+017F (Python re.IGNORECASE, JS /iu, Go EqualFold)
                "/v1/send%C4%B1ng",  # dotless ı U+0131
                "/v1/SEND%C4%B0NG",  # İ U+0130
                "/v1/%EF%BD%93ending",  # full-width ｓ U+FF53
                "/\uff56\uff11/\uff53\uff45\uff4e\uff44\uff49\uff4e\uff47",  # all full-width (a decoded path)
                "/V1/SENDING"]
MALFORMED = ["/v1/sending/", "/v1/sending%2F", "/v1%2Fsending", "/anything/v1/sending"]


def _post(target: bytes, body=VALID) -> bytes:
    raw = json.dumps(body).encode()
    return (b"POST " + target + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nAuthorization: Bearer "
            + FULL_KEY.encode() + b"\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % len(raw) + raw)


@pytest.mark.parametrize("path", [*FORMAT_SUFFIXES, *UNICODE_CASE, "/v1/\u017fending", "/v1/send\u0131ng", *MALFORMED[:3]])
def test_i1_i4_a_path_a_server_may_route_to_the_send_is_neither_the_send_nor_another_path(path):
    """Pass I, findings 1 and 4: format suffixes and Unicode case folding were another path (a violating send passed
    unjudged under a green verdict); a trailing slash and `%2F` were the send (the server blamed for the client's path)."""
    for base in (False, True):
        assert route_of("POST", path, base=base) == MAY_ROUTE, (path, base)
    assert route_of("GET", path) == OTHER


def test_i4_the_exact_path_is_the_send_and_a_base_path_only_in_a_recording():
    for path in ("/v1/sending", "/v1/sending?x=1", "/v1/sendin%67"):  # (an unreserved character's escape is the same URI)
        assert route_of("POST", path, base=False) == route_of("POST", path, base=True) == SEND
    assert route_of("POST", "/api/v1/sending") == SEND and route_of("POST", "/tenant-%C3%A9/v1/sending") == SEND
    assert route_of("POST", "/api/v1/sending", base=False) == MAY_ROUTE  # the proxy and the middleware know the base
    for odd_base in ("/x%2Fy/v1/sending", "/a;b/v1/sending", "//v1/sending", "/%2E%2E/v1/sending"):
        assert route_of("POST", odd_base) == MAY_ROUTE, odd_base
    for other in ("/v1/sendings", "/v2/sending", "/v1/sending-x", "/v1/other", "/v1/sendingjson"):
        assert route_of("POST", other) == OTHER, other


@pytest.mark.parametrize("path", ["/v1/sending.json", "/v1/%C5%BFending", "/v1/send%C4%B1ng", "/v1/\uff53ending"])
def test_i1_a_recorded_send_to_such_a_path_passes_unjudged_not_as_another_path(path):
    judge = TrafficJudge(contract_for(), kind="recorded", label="t")
    judge.observe(ObservedExchange("POST", "https://h.test" + path, [("Content-Type", "application/json")],
                                   json.dumps(BAD).encode(), 200, [("content-type", "application/json")], OK))
    result = judge.result()
    assert (result.traffic.unjudged, result.traffic.other, result.traffic.judged) == (1, 0, 0)
    assert result.verdict == "incomplete" and not judge.findings


@pytest.mark.e2e
def test_i1_through_the_proxy_a_violating_send_to_a_suffix_or_a_folded_path_leaves_no_green_verdict():
    """Pass I, finding 1 (t_format_suffix, t_unicode_case): an upstream routing /v1/sending.json, ſ and ı to the send
    accepted a violating send; the proxy counted it as another path and the verdict was green (exit 0)."""

    def answer(request: bytes) -> bytes:
        return b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(OK) + OK

    judge = TrafficJudge(contract_for(), "documented", kind="proxy", label="test proxy")
    with raw_server(each_request(answer)) as up, serve_in_thread(TrafficProxy(up, judge)) as url:
        assert raw_exchange(url, _post(b"/v1/sending")).startswith(b"HTTP/1.1 200")
        for path in (b"/v1/sending.json", b"/v1/sending.xml", b"/v1/%C5%BFending", b"/v1/send%C4%B1ng"):
            assert raw_exchange(url, _post(path, BAD)).startswith(b"HTTP/1.1 200")
        judge.settle()
    result = judge.result()
    assert (result.traffic.judged, result.traffic.unjudged, result.traffic.other) == (1, 4, 0), result.traffic
    assert (result.verdict, result.exit_code) == ("incomplete", 3) and not judge.findings


@pytest.mark.e2e
def test_i4_the_proxy_before_the_bundled_mock_blames_it_for_no_path_the_client_malformed():
    """Pass I, finding 4 (t_proxy_blame): POST /v1/sending/ (the mock's 307), /anything/v1/sending and /v1/sending%2F
    (404) were judged as the send: "server broke status-documented", exit 1. They pass unjudged; the exact path is judged."""
    judge = TrafficJudge(contract_for(), "documented", kind="proxy", label="test proxy")
    with serve_in_thread(create_app()) as mock, serve_in_thread(TrafficProxy(mock, judge)) as url:
        statuses = [raw_exchange(url, _post(path)).split(b" ", 2)[1]
                    for path in (b"/v1/sending", b"/v1/sending/", b"/anything/v1/sending", b"/v1/sending%2F")]
        judge.settle()
    assert statuses[0] in (b"200", b"401") and all(status in (b"307", b"404") for status in statuses[1:]), statuses
    result = judge.result()
    assert (result.traffic.judged, result.traffic.unjudged, result.traffic.other) == (1, 3, 0), result.traffic
    assert not judge.findings and (result.verdict, result.exit_code) == ("incomplete", 3)
    assert any("/v1/sending/ is not /v1/sending" in note for note in result.traffic.notes)


def _through_middleware(middleware: ContractMiddleware, path: str, body=VALID) -> int:
    with httpx.Client(transport=SyncASGITransport(middleware), base_url="http://127.0.0.1") as client:
        return client.post(path, json=body, headers=AUTH).status_code


@pytest.mark.parametrize("path", [*MALFORMED, "/v1/sending.json", "/v1/\u017fending", "/v1/send\u0131ng"])
def test_i4_the_middleware_before_the_bundled_mock_blames_it_for_no_path_the_client_malformed(path):
    """Pass I, finding 4 (t_mock_paths, t_trailing_slash): the mock's 307 for /v1/sending/ (and %2F), its 404 for
    /typo/v1/sending: "the app broke status-documented", exit 1. Now: no finding, INCOMPLETE, never green."""
    middleware = ContractMiddleware(create_app())
    # (Starlette routes /v1%2Fsending by its decoded path: the mock accepts it, and it still passes unjudged, as a
    # server keeping `%2F` routes it elsewhere)
    assert _through_middleware(middleware, path) in ((200, 401) if "%2F" in path[:-1] else (307, 404))
    result = middleware.result()
    assert (result.traffic.judged, result.traffic.unjudged) == (0, 1), result.traffic
    assert not middleware.findings and (result.verdict, result.exit_code) == ("incomplete", 3)


def test_i4_the_middleware_still_judges_the_exact_path_and_one_under_its_base_path():
    middleware = ContractMiddleware(create_app())
    assert _through_middleware(middleware, "/v1/sending", BAD) == 400
    result = middleware.result()
    assert result.traffic.judged == 1 and {(f.rule, f.broken_by) for f in middleware.findings} == {("batch-needs-recipientId", "client")}

    from starlette.applications import Starlette
    from starlette.routing import Mount

    app = Starlette(routes=[Mount("/api", app=create_app())])
    based = ContractMiddleware(app, base_path="/api")
    assert _through_middleware(based, "/api/v1/sending") in (200, 401)
    assert _through_middleware(based, "/api/v1/sending/") in (307, 404)
    assert _through_middleware(based, "/v1/sending") == 404
    traffic = based.result().traffic
    assert (traffic.judged, traffic.unjudged) == (1, 2) and not based.findings, traffic  # (/v1/sending is outside the base)
    with pytest.raises(ConfigError, match="base_path"):
        ContractMiddleware(app, base_path="api/")


# --- pass J, finding 4: a request some framework takes for POST though its method line does not say exactly POST --------

OVERRIDES = [("PUT", "X-HTTP-Method-Override", "POST"), ("GET", "X-HTTP-Method-Override", "post"),
             ("PATCH", "X-Method-Override", " Post\t"), ("PUT", "x-http-method", "POST"), ("DELETE", "X-HTTP-METHOD", "POST")]


@pytest.mark.parametrize(("method", "name", "value"), OVERRIDES)
def test_j4_another_method_with_an_override_header_naming_post_may_route_to_the_send(method, name, value):
    """Pass J, finding 4 (t_override): PUT/GET/PATCH to /v1/sending with X-HTTP-Method-Override (X-HTTP-Method,
    X-Method-Override): POST was another method, skipped: a violating send answered 200 left a green verdict."""
    for headers in ([(name, value)], [(name.lower().encode(), value.encode())]):  # a recording's str, a scope's bytes
        for base in (False, True):
            assert route_of(method, "/v1/sending", base=base, headers=headers) == MAY_ROUTE, (headers, base)
        assert route_of(method, "/v1/sending.json", headers=headers) == MAY_ROUTE
        assert route_of(method, "/v1/other", headers=headers) == OTHER
    assert route_of(method, "/v1/sending") == OTHER  # (without the header: another method)


def test_j4_post_by_another_spelling_or_overridden_away_is_no_send_but_may_route_there():
    """Pass J, finding 4 (t_method): "POST " (a trailing space) was another method. A POST whose override header names
    another method is not judged as the send either. Pass K, F3: methods are case-sensitive (RFC 9110 §9.1): `post` is
    no POST (a correct server may answer it 405 or 400), so it may route to the send, never judged as it."""
    assert route_of("post", "/v1/sending") == route_of("Post", "/v1/sending", base=False) == MAY_ROUTE
    assert route_of("post", "/v2/sending") == OTHER
    for method in ("POST ", " POST", "POST\t", "\uff30\uff2f\uff33\uff34", "po\u017ft"):  # (full-width POST, long s)
        assert route_of(method, "/v1/sending") == MAY_ROUTE, repr(method)
        assert route_of(method, "/v2/sending") == OTHER
    assert route_of("POST", "/v1/sending", headers=[("X-HTTP-Method-Override", "PUT")]) == MAY_ROUTE
    assert route_of("POST", "/v1/sending", headers=[("X-HTTP-Method-Override", "POST")]) == SEND
    assert route_of("POST", "/v1/sending", headers=[("X-HTTP-Method-Override", " ")]) == SEND  # (names nothing)
    assert route_of("PUT", "/v1/sending", headers=[("X-Forwarded-Method", "POST")]) == OTHER  # (no override header)


@pytest.mark.parametrize(("method", "extra"), [("PUT", {"name": "X-HTTP-Method-Override", "value": "POST"}),
                                               ("GET", {"name": "x-method-override", "value": " post "}),
                                               ("POST ", None)])
def test_j4_a_recorded_post_by_another_name_passes_unjudged_and_the_verdict_is_not_green(tmp_path, method, extra):
    """Pass J, finding 4 end to end through `judge`: the violating send answered 200 was skipped, exit 0."""
    from .test_recordings import har, har_entry, judge

    overridden = har_entry(method, "https://staging.example.test/v1/sending", BAD, 200, json.loads(OK))
    if extra is not None:
        overridden["request"]["headers"].append(extra)
    path = tmp_path / "override.har"
    path.write_text(json.dumps(har([har_entry("POST", "https://staging.example.test/v1/sending", VALID, 200,
                                              json.loads(OK)), overridden])))
    result = judge(path, "--report-dir", tmp_path / "reports")
    assert result.exit_code == 3 and "INCOMPLETE" in result.output, result.output
    data = json.loads((tmp_path / "reports" / "conformance.json").read_text())["traffic"]
    assert (data["judged"], data["unjudged"], data["other"]) == (1, 1, 0), data
    assert any("not exactly POST" in note for note in data["notes"]), data["notes"]


@pytest.mark.e2e
def test_j4_through_the_proxy_a_send_by_method_override_leaves_no_green_verdict():
    def answer(request: bytes) -> bytes:
        return b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(OK) + OK

    judge = TrafficJudge(contract_for(), "documented", kind="proxy", label="test proxy")
    with raw_server(each_request(answer)) as up, serve_in_thread(TrafficProxy(up, judge)) as url:
        assert raw_exchange(url, _post(b"/v1/sending")).startswith(b"HTTP/1.1 200")
        overridden = _post(b"/v1/sending", BAD).replace(b"POST ", b"PUT ", 1).replace(
            b"Host:", b"X-HTTP-Method-Override: POST\r\nHost:", 1)
        assert raw_exchange(url, overridden).startswith(b"HTTP/1.1 200")
        judge.settle()
    result = judge.result()
    assert (result.traffic.judged, result.traffic.unjudged, result.traffic.other) == (1, 1, 0), result.traffic
    assert (result.verdict, result.exit_code) == ("incomplete", 3) and not judge.findings


def test_j4_the_middleware_passes_a_send_by_method_override_unjudged():
    middleware = ContractMiddleware(create_app())
    with httpx.Client(transport=SyncASGITransport(middleware), base_url="http://127.0.0.1") as client:
        client.put("/v1/sending", json=BAD, headers={**AUTH, "X-HTTP-Method-Override": "POST"})
        client.put("/v1/other", json=BAD, headers={**AUTH, "X-HTTP-Method-Override": "POST"})
    result = middleware.result()
    assert (result.traffic.judged, result.traffic.unjudged) == (0, 1), result.traffic  # (/v1/other: not counted)
    assert not middleware.findings and (result.verdict, result.exit_code) == ("incomplete", 3)


# --- finding 7: the userinfo of a URL of any shape, never in a message ----------------------------------------------

SECRET = "tok_9fK2pQ7xLm4vR8sT1wZ3"
SHAPES = [f"{SECRET}@staging.example.test", f"https//u:{SECRET}@staging.example.test", f"http:/u:{SECRET}@host",
          f"http:{SECRET}:x@host", f"{SECRET}:pw@host", f"http://u:{SECRET}/x@host", f"http://u:{SECRET}?x@host",
          f"http://u:{SECRET}#x@host", f"//{SECRET}@host"]


@pytest.mark.parametrize("url", SHAPES)
def test_i7_no_part_of_a_urls_userinfo_is_shown_whatever_its_shape(url):
    shown = strip_credentials(url)
    assert SECRET[:6] not in shown and shown.endswith(("host", "staging.example.test")), shown
    # a well-formed URL keeps its form; a query's `@` is no userinfo
    assert strip_credentials(f"https://u:{SECRET}@h.test/v1?to=a@b.example") == "https://h.test/v1?to=a@b.example"


@pytest.mark.parametrize("url", SHAPES[:5])
@pytest.mark.parametrize(("command", "variable"), [("check", "MIGMA_CONTRACT_BASE_URL"), ("proxy", "MIGMA_CONTRACT_UPSTREAM")])
def test_i7_a_config_error_quoting_a_url_shows_none_of_its_userinfo(command, variable, url):
    """Pass I, finding 7: MIGMA_CONTRACT_UPSTREAM='tok_…@staging' printed 'tok_9fK2pQ7…' (no scheme: the userinfo was
    not recognised); `https//u:<pw>@host` likewise, for check's MIGMA_CONTRACT_BASE_URL too."""
    args = [command, "--port", "0"] if command == "proxy" else [command]
    result = CliRunner().invoke(main, args, env={variable: url})
    assert result.exit_code == 2, result.output
    assert "URL" in result.output and SECRET[:6] not in result.output and "9fK2" not in result.output, result.output
