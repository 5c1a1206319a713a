"""The middleware's and the judge's readings of the common case at once give what their full readings give.

Each fast path (issue 23: the middleware's CPU per send) reads the common request or answer in one pass and hands
anything else to the full reading: these compare the two on the heads, scopes and headers each fast path must pass on.
"""

from __future__ import annotations

import base64

import pytest

from migma_contract import asgi
from migma_contract.contract.validators import contract_for
from migma_contract.core.fields import framing_refused, request_framing_unread, unreadable_head
from migma_contract.traffic import tally
from migma_contract.traffic.tally import MAY_ROUTE, OTHER, SEND, ObservedExchange, TrafficJudge

_HEADS = [
    [(b"content-type", b"application/json"), (b"content-length", b"95")],
    [(b"content-length", b"0")],
    [(b"content-length", b"00095")],
    [(b"content-length", b"9" * 19)],  # longer than a length any server takes: none
    [(b"content-length", b"9" * 6000)],
    [(b"content-length", b"95"), (b"content-length", b"95")],  # twice, the same: the full reading
    [(b"content-length", b"95"), (b"content-length", b"96")],
    [(b"content-length", b"95, 95")],
    [(b"content-length", b" 95")],
    [(b"content-length", b"+95")],
    [(b"content-length", b"")],
    [(b"content-length", "٩٥".encode())],
    [(b"Content-Length", b"12")],
    [(bytearray(b"content-length"), bytearray(b"12"))],  # a buffer the app may reuse: read as bytes are
    [(b"transfer-encoding", b"chunked")],
    [(b"transfer-encoding", b"chunked"), (b"content-length", b"5")],
    [(b"transfer-encoding", b"gzip")],
    [(b"bad name", b"x"), (b"content-length", b"5")],
    [(b"x-note", b"a\nb"), (b"content-length", b"5")],
    [(b"x-note", b"a\tb"), (b"content-length", b"5")],
    [],
]


@pytest.mark.parametrize("status", [200, 201, 204, 304, 400, 500])
@pytest.mark.parametrize("headers", _HEADS)
def test_an_answer_heads_reading_in_one_pass_is_the_full_reading(headers, status):
    unreadable = unreadable_head(headers)  # (a 204/304 with a Transfer-Encoding: read apart, `_framed_bodiless`)
    length = None if unreadable is not None else asgi._length_of(headers, status)
    assert asgi._head_read(headers, status) == (unreadable, length)


def _full_request_reading(headers, received):
    """`request_framing_unread` without its one-pass reading (as it read every head before it)."""
    tokens = {t.strip(b" \t").lower() for n, v in headers if n.lower() == b"connection" for t in v.split(b",")}
    upgrade = [v for n, v in headers if n.lower() == b"upgrade"]
    if upgrade and b"upgrade" in tokens:
        return "upgrade"
    if framing_refused(headers) is not None:
        return "framing"
    if received is None or any(n.lower() == b"transfer-encoding" for n, _ in headers):
        return None
    length = next((v.split(b",")[0].strip(b" \t") for n, v in headers if n.lower() == b"content-length"), None)
    if length is not None and (len(length.lstrip(b"0")) > 18 or int(length) != received):
        return "length"
    return None


_REQUEST_HEADS = [*_HEADS, [(b"upgrade", b"h2c"), (b"connection", b"Upgrade"), (b"content-length", b"5")],
                  [(b"upgrade", b"h2c"), (b"content-length", b"5")], [(b"connection", b"keep-alive"), (b"content-length", b"5")]]


@pytest.mark.parametrize("received", [None, 0, 5, 12, 95, 96])
@pytest.mark.parametrize("headers", _REQUEST_HEADS)
def test_a_request_heads_framing_read_in_one_pass_is_the_full_reading(headers, received):
    if any(not n.strip() or b" " in n for n, _ in headers):
        return  # (a name that is no token never reaches the app: the server refuses the request)
    why = request_framing_unread(headers, received)
    full = _full_request_reading(headers, received)
    assert (why is None) == (full is None), (why, full)
    if full is not None:
        assert {"upgrade": "Upgrade", "framing": "framing", "length": "Content-Length says"}[full] in why


def _scope(method="POST", path="/v1/sending", raw=b"/v1/sending", root="", headers=()):
    return {"type": "http", "method": method, "path": path, "raw_path": raw, "root_path": root, "headers": list(headers)}


@pytest.mark.parametrize("scope, base, route", [
    (_scope(), "", SEND),
    (_scope(headers=[(b"x-http-method-override", b"POST")]), "", SEND),
    (_scope(headers=[(b"x-http-method-override", b"DELETE")]), "", MAY_ROUTE),
    (_scope(headers=[(b"X-HTTP-Method-Override", b"delete")]), "", MAY_ROUTE),
    (_scope(method="post"), "", MAY_ROUTE),
    (_scope(method="POST "), "", MAY_ROUTE),
    (_scope(method="GET"), "", OTHER),
    (_scope(method="GET", headers=[(b"x-http-method-override", b"POST")]), "", MAY_ROUTE),
    (_scope(raw=b"/v1%2Fsending"), "", MAY_ROUTE),
    (_scope(raw=b"/v1/sending?x=1"), "", SEND),
    (_scope(root="/api", path="/api/v1/sending", raw=b"/api/v1/sending"), "", SEND),
    (_scope(), "/api", MAY_ROUTE),
    (_scope(path="/api/v1/sending", raw=b"/api/v1/sending"), "/api", SEND),
])
def test_the_sends_common_route_read_at_once_is_the_full_reading(scope, base, route):
    assert asgi._route_of(scope, base) == route


def _credentials_afresh(exchange):
    """The credentials of an exchange's request as `TrafficJudge._credentials_of` read them before each header's were
    kept (every header read anew, its own credentials first, then any URL's userinfo in them)."""
    fresh = {}
    for name, value in exchange.request_headers:
        if not tally.sensitive_header(name) or not value:
            continue
        scheme, _, credential = value.strip().partition(" ")
        fresh[credential.strip() if credential.strip() and scheme.isalpha() else value.strip()] = None
        if name.lower() != "cookie":
            fresh.update(dict.fromkeys(part for part in tally._CREDENTIAL_WORDS.split(value) if part))
        if scheme.lower() == "basic" and credential.strip():
            fresh.update(dict.fromkeys(tally._basic_pair(credential.strip())))
        if name.lower() == "cookie":
            for part in value.split(";"):
                cookie, _, held = part.partition("=")
                if tally.cookie_credential(cookie.strip(), held.strip()):
                    fresh[held.strip()] = None
    for _, value in exchange.request_headers:
        if "@" in value:
            fresh.update(dict.fromkeys(tally.url_credentials(value)))
    fresh.update(dict.fromkeys(tally.url_credentials(exchange.url)))
    return [secret for secret in fresh if tally._secret_like(secret)]


@pytest.mark.parametrize("headers", [
    [("authorization", "Bearer mc_live_0123456789abcdef")],
    [("Authorization", "Basic " + base64.b64encode(b"user:pass0123456789").decode())],
    [("cookie", "session=abcdef0123456789; consent=true"), ("x-api-key", "k_0123456789abcdef")],
    [("referer", "https://user:pw0123456789@example.com/x"), ("authorization", "Bearer tok_0123456789abcdef")],
    [("referer", "https://first0123456789@h/"), ("x-api-key", "Token: first0123456789, second0123456789")],
    [("x-api-key", "Token: first0123456789, second0123456789"), ("referer", "https://second0123456789@h/")],
    [("x-api-key", "short"), ("authorization", "Bearer   spaced0123456789  "), ("authorization", "mc_0123456789")],
    [("content-type", "application/json"), ("host", "example.com")],
])
def test_each_headers_credentials_read_once_are_those_read_afresh(headers):
    judge = TrafficJudge(contract_for(), "documented", kind="middleware", label="t")
    exchange = ObservedExchange("POST", "http://example.com/v1/sending", headers, None, 200)
    expected = _credentials_afresh(exchange)
    tally._HEADER_CREDENTIALS.clear()
    assert judge._credentials_of(exchange) == expected  # each header read, then kept
    assert judge._credentials_of(exchange) == expected  # ...and read from what was kept of it
