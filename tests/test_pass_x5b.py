"""Pass X5 of the outside attack (fixX5b): F2 and F3 (the consumer route, the reference mock judging a client,
reads a request as the one judge reads it) and F5 (a 4xx labelled HTML whose body is the send's JSON envelope)."""

import json

import pytest

from migma_contract.judge.verdict import no_endpoint

from .test_proxy_pass_v3b import Upstream, _send, _through

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
