"""Pass Y2: `migma-contract judge` over recordings (HAR, vcrpy, Schemathesis cassettes).

- F1: a mask hides a credential, never the scheme: only a whole-value mask and `Bearer <mask>` hide the credentials.
- F2: every recorded request's credentials (any path, any item, judged or not) are learned before anything is written.
- F3: every console line of `judge` goes through the run's redactor.
- F4: Insomnium (Insomnia's fork, the same exporter) is known to rebuild requests at export.
- F5: `log.creator` counts wherever it stands in `log`.
- F6: a recorded header value joined with "\\n" is read as the field lines it joins.
- F7: a vcrpy body mask escaped by json.dumps (`\\u00abREDACTED\\u00bb`) is a mask.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from migma_contract.cli import main

URL = "https://staging.example.test/v1/sending"
VALID = {"recipientType": "email", "recipientEmail": "ann@example.com", "from": "news@example.com", "fromName": "News",
         "subject": "Hello", "emailId": "email_welcome"}
OK = {"success": True, "data": {"id": "msg_1", "status": "queued"}, "error": None}
KEY = "mc_live_recorded_0123456789abcdef"
ECHOED = "mc_live_SECRETSECRET_0987654321zz"  # a key a later answer echoes
JSON_HEAD = ("Content-Type", "application/json")
CHROME = {"name": "WebInspector", "version": "537.36"}


def har_entry(headers: list[tuple[str, str]], *, body: Any = VALID, status: int = 200, answer: Any = OK,
              response_headers: list[tuple[str, str]] | None = None, url: str = URL, method: str = "POST") -> dict[str, Any]:
    text = json.dumps(body)
    said = answer if isinstance(answer, str) else json.dumps(answer)
    return {"startedDateTime": "2026-01-01T00:00:00.000Z", "time": 50,
            "request": {"method": method, "url": url, "httpVersion": "HTTP/1.1",
                        "headers": [{"name": k, "value": v} for k, v in headers], "queryString": [], "cookies": [],
                        "headersSize": -1, "bodySize": len(text.encode()), "postData": {"mimeType": "application/json", "text": text}},
            "response": {"status": status, "statusText": "OK", "httpVersion": "HTTP/1.1",
                         "headers": [{"name": k, "value": v} for k, v in (response_headers or [JSON_HEAD])],
                         "cookies": [], "content": {"size": len(said.encode()), "mimeType": "application/json", "text": said},
                         "redirectURL": "", "headersSize": -1, "bodySize": len(said.encode())},
            "cache": {}, "timings": {"send": 1, "wait": 40, "receive": 1}}


def har(entries: list[dict[str, Any]], creator: dict[str, str] | None = None, *, creator_last: bool = False) -> dict[str, Any]:
    made = creator or CHROME
    log: dict[str, Any] = {"version": "1.2", "entries": entries, "creator": made} if creator_last else \
        {"version": "1.2", "creator": made, "entries": entries}
    return {"log": log}


def judged(tmp_path: Path, content: Any, name: str = "rec.har", *formats: str) -> tuple[Any, dict[str, Any], Path]:
    path = tmp_path / name
    path.write_text(content if isinstance(content, str) else json.dumps(content), encoding="utf-8")
    reports = tmp_path / "r"
    result = CliRunner().invoke(main, ["judge", str(path), "--report-dir", str(reports), "--format",
                                       ",".join(formats or ("json",))], catch_exceptions=False, env={"MIGMA_CONTRACT_API_KEY": ""})
    data = json.loads((reports / "conformance.json").read_text()) if (reports / "conformance.json").exists() else {}
    return result, data, reports


def findings(data: dict[str, Any]) -> set[tuple[str, str]]:
    return {(f["rule"], f["broken_by"]) for f in data.get("findings", [])}


def schemathesis(auth: str) -> str:
    return "\n".join([
        "http_interactions:", "- id: '1'", "  status: 'SUCCESS'", "  elapsed: '0.01'", "  recorded_at: '2026-12-06T00:00:00'",
        "  checks: []", "  request:", f"    uri: '{URL}'", "    method: 'POST'", "    headers:",
        f"      Authorization: [{json.dumps(auth)}]", "      Content-Type: ['application/json']",
        "    body:", "      encoding: 'utf-8'", f"      string: {json.dumps(json.dumps(VALID))}",
        "  response:", "    status:", "      code: '200'", "      message: 'OK'", "    headers:",
        "      Content-Type: ['application/json']", "    body:", "      encoding: 'utf-8'",
        f"      string: {json.dumps(json.dumps(OK))}", "    http_version: '1.1'", "    elapsed: '0.01'", ""])


# --- F1 -------------------------------------------------------------------------------------------------------------


SHOWN_SCHEMES = ["Basic [REDACTED]", "Basic ****", "Token [Filtered]", "Bearer: [REDACTED]", "Digest [redacted]",
                 "Bearer\t[REDACTED]"]


@pytest.mark.parametrize("auth", SHOWN_SCHEMES)
@pytest.mark.parametrize("fmt", ["har", "schemathesis"])
def test_pass_y2_f1_a_masked_credential_under_a_visible_scheme_is_judged(tmp_path, fmt, auth):
    """Pass Y2, F1: `Basic [REDACTED]`, `Token [Filtered]`, `Bearer: [REDACTED]` were read as masks whole (the scheme
    ignored): credentials hidden, a server that answered 200 to a non-Bearer scheme green (exit 0). The scheme shows,
    and the scheme alone breaks auth-required: judged as recorded (the client's break, the server's for its 200)."""
    result, data, _ = judged(tmp_path, har([har_entry([JSON_HEAD, ("Authorization", auth)])]) if fmt == "har"
                             else schemathesis(auth), "rec.har" if fmt == "har" else "st.yaml")
    assert result.exit_code == 1, result.output
    # (a Bearer written otherwise than RFC 6750 is the client's break; whether its key was good does not show)
    blamed = {("auth-required", "client")} if auth.startswith("Bearer") else {("auth-required", "client"), ("auth-required", "server")}
    assert blamed <= findings(data), result.output


def test_pass_y2_f1_only_whole_masks_and_bearer_masks_hide_credentials():
    """Pass Y2, F1: what `masks.masked_credential` hides: a whole-value mask and `Bearer <mask>` (any case, one space)."""
    from migma_contract.traffic.masks import masked_credential

    for value in ["Bearer [REDACTED]", "bearer ***", "BEARER xxxx", "Bearer <token removed>", "[Authorization redacted]",
                  "***REDACTED***", "[SANITIZED]", "XXXXXX", "REDACTED", "[Filtered]", "REDACTED_TOKEN",
                  "Bearer  [REDACTED]"]:  # (1*SP after the scheme: `rules.bearer_key` reads the key so)
        assert masked_credential(value), value
    for value in [*SHOWN_SCHEMES, "Bearer abc", "Basic dXNlcjpwYXNz", "[garbage]"]:
        assert not masked_credential(value), value


# --- F4 -------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("creator", [{"name": "Insomnium REST Client", "version": "insomnia.desktop.app:v0.2.3"},
                                     {"name": "Insomnia REST Client", "version": "insomnia.desktop.app:v10.1.1"},
                                     {"name": "A rebrand", "version": "insomnia.desktop.app:v9.0.0"}],
                         ids=["insomnium", "insomnia", "by-version"])
def test_pass_y2_f4_insomniums_rebuilt_requests_are_not_judged_as_sent(tmp_path, creator):
    """Pass Y2, F4: Insomnium shares Insomnia's exporter (each request rebuilt at export), but its creator name did not
    start with `insomnia`: a request since edited was judged as sent, a correct client and server blamed (exit 1)."""
    body = dict(VALID)
    del body["subject"]  # the definition since edited; the 200 answered the valid request sent
    result, data, _ = judged(tmp_path, har([har_entry([JSON_HEAD, ("Authorization", "Bearer " + KEY)], body=body)], creator))
    assert result.exit_code == 3, result.output
    assert not data["findings"]
    assert "its request rules, credentials and status were not judged" in result.output


# --- F5 -------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("creator_last", [False, True], ids=["creator-first", "creator-last"])
def test_pass_y2_f5_the_creator_counts_wherever_it_stands(tmp_path, creator_last):
    """Pass Y2, F5: `log.creator` was read only before `log.entries` (streaming): with it last, Insomnia's rebuilt
    request was judged as sent (exit 1) and a browser's sanitized export blamed client and server on auth-required."""
    body = dict(VALID)
    del body["subject"]
    insomnia = {"name": "Insomnia REST Client", "version": "insomnia.desktop.app:v2023.5.8"}
    result, data, _ = judged(tmp_path, har([har_entry([JSON_HEAD, ("Authorization", "Bearer " + KEY)], body=body)],
                                           insomnia, creator_last=creator_last))
    assert result.exit_code == 3 and not data["findings"], result.output
    other = tmp_path / "chrome"
    other.mkdir()
    result, data, _ = judged(other, har([har_entry([JSON_HEAD])], CHROME, creator_last=creator_last))
    assert result.exit_code == 0 and not data["findings"], result.output


def test_pass_y2_f5_the_last_creator_counts_as_a_json_reader_keeps_it(tmp_path):
    """Pass Y2, F5: two `creator` members in `log` (a JSON reader keeps the last): the last decides, not the first."""
    entry = har_entry([JSON_HEAD])
    text = json.dumps(har([entry], {"name": "mitmproxy", "version": "10"}))
    text = text[:-2] + ', "creator": ' + json.dumps(CHROME) + "}}"
    assert json.loads(text)["log"]["creator"] == CHROME
    result, data, _ = judged(tmp_path, text)
    assert result.exit_code == 0 and not data["findings"], result.output


# --- F6 -------------------------------------------------------------------------------------------------------------


def test_pass_y2_f6_a_header_joined_with_newlines_is_its_field_lines(tmp_path):
    """Pass Y2, F6: two identical Content-Type lines were green listed apart and the server's content-type-json break
    joined with "\\n" (CDP's Headers object, copied by chrome-har and puppeteer's HAR writers): one answer, one verdict."""
    creator = {"name": "chrome-har", "version": "0.13"}
    sent = [JSON_HEAD, ("Authorization", "Bearer " + KEY)]
    for headers in ([JSON_HEAD, JSON_HEAD], [("Content-Type", "application/json\napplication/json")]):
        result, data, _ = judged(tmp_path, har([har_entry(sent, response_headers=headers)], creator))
        assert result.exit_code == 0 and not data["findings"], (headers, result.output)
    joined = [("Content-Type", "application/json\ntext/html")]  # two different values joined: judged as two lines
    result, data, _ = judged(tmp_path, har([har_entry(sent, response_headers=joined)], creator))
    assert ("content-type-json", "server") in findings(data), result.output


# --- F7 -------------------------------------------------------------------------------------------------------------


def vcrpy(body_text: str, *, auth: str = "Bearer " + KEY, answer: Any = OK, status: int = 200, path: str = "/v1/sending",
          method: str = "POST") -> list[str]:
    return ["- request:", f"    body: {json.dumps(body_text)}", "    headers:", f"      Authorization: [{json.dumps(auth)}]",
            "      Content-Type: [application/json]", f"    method: {method}", f"    uri: https://staging.example.test{path}",
            "  response:", f"    body: {{string: {json.dumps(json.dumps(answer))}}}",
            "    headers: {Content-Type: [application/json]}", f"    status: {{code: {status}, message: OK}}"]


def cassette(*items: list[str]) -> str:
    return "\n".join(["interactions:", *(line for item in items for line in item), "version: 1", ""])


@pytest.mark.parametrize("mask", ["«REDACTED»", "🔒redacted", "\u2039hidden\u203a", "REDACTED…"])
def test_pass_y2_f7_a_vcrpy_mask_json_dumps_escaped_is_a_mask(tmp_path, mask):
    """Pass Y2, F7: json.dumps writes `«REDACTED»` as `\\u00abREDACTED\\u00bb`; the body's bytes were scanned for mask
    words, and `b` (the escape's last hex digit) glued to `REDACTED` hid the word: the masked field judged as sent, a
    correct client and server blamed on email-format (exit 1). Masks are decided on the decoded value."""
    result, data, _ = judged(tmp_path, cassette(vcrpy(json.dumps(dict(VALID, recipientEmail=mask)))), "c.yaml")
    assert result.exit_code == 3, result.output
    assert not data["findings"]


def test_pass_y2_f7_one_notion_of_a_mask_for_text_and_json_bodies():
    """Pass Y2, F7: a body's mask is a string value `masks.mask_text` reads as one, escapes undone (one home)."""
    from migma_contract.traffic import masks, recordings

    for mask in ["REDACTED", "«REDACTED»", "🔒redacted", "\u2039hidden\u203a", "[hidden]", "***"]:
        assert masks.mask_text(mask), mask
        for ascii_only in (True, False):
            body = json.dumps({"recipientEmail": mask}, ensure_ascii=ascii_only).encode()
            assert recordings._mask_in(body) == f"{mask!r} in `recipientEmail`", (mask, body)
    assert recordings._mask_in(b'{"status": "\\u0072edacted"}') is not None  # an escaped ASCII letter too
    for value in ["ann@example.com", "the redacted minutes of the board's quarterly meeting, in full", "«garbage»"]:
        assert recordings._mask_in(json.dumps({"x": value}).encode()) is None, value


# --- F2, F3 ---------------------------------------------------------------------------------------------------------


ECHO = {"success": False, "data": None, "error": "internal error; request context: Authorization=Bearer " + ECHOED}


def shown_in(result: Any, reports: Path) -> list[str]:
    """Where the echoed key shows: a report's name, or the console."""
    found = [p.name for p in sorted(reports.rglob("*")) if p.is_file() and ECHOED in p.read_text(errors="replace")]
    return found + (["console"] if ECHOED in result.output or ECHOED in (result.stderr or "") else [])


def _har_first(case: str) -> dict[str, Any]:
    first = har_entry([JSON_HEAD, ("Authorization", "Bearer " + ECHOED)])
    if case == "other path":
        first["request"].update(url="https://staging.example.test/v1/domains", method="GET")
    elif case == "may route":
        first["request"].update(url=URL + "/")
    elif case == "no answer":
        first["response"].update(status=0, _error="net::ERR_ABORTED")
    elif case == "unreadable status":
        first["response"].update(status="2e2")
    elif case == "cookie":
        first["request"]["headers"] = [{"name": "Content-Type", "value": "application/json"}]
        first["request"]["cookies"] = [{"name": "session", "value": ECHOED}]
        first["request"].update(url="https://staging.example.test/v1/domains", method="GET")
    return first


@pytest.mark.parametrize("case", ["other path", "may route", "no answer", "unreadable status", "cookie", "judged"])
def test_pass_y2_f2_every_recorded_requests_credentials_are_learned_har(tmp_path, case):
    """Pass Y2, F2: `judge` learned credentials only from the sends it judged: a key sent on another path, on a path
    that may route to the send, or on an item passed unjudged was shown in conformance.json, junit.xml and index.html
    once a later answer echoed it. Every recorded request's credentials are learned, as the proxy learns them."""
    echo = har_entry([JSON_HEAD, ("Authorization", "Bearer " + KEY)], status=500, answer=ECHO)
    result, _, reports = judged(tmp_path, har([_har_first(case), echo]), "rec.har", "json", "md", "html", "junit")
    assert result.exit_code in (1, 3), result.output
    assert shown_in(result, reports) == [], result.output


@pytest.mark.parametrize("fmt", ["vcrpy", "schemathesis"])
@pytest.mark.parametrize("case", ["other path", "unjudged"])
def test_pass_y2_f2_every_recorded_requests_credentials_are_learned_cassettes(tmp_path, fmt, case):
    """Pass Y2, F2: the same in vcrpy and Schemathesis cassettes: a key sent on another path, or on an item left
    unjudged (a status its player reads otherwise), echoed by a later send's answer, is masked in every report."""
    if fmt == "vcrpy":
        first = vcrpy(json.dumps(VALID), auth="Bearer " + ECHOED, path="/v1/domains" if case == "other path" else "/v1/sending",
                      status=200)
        if case == "unjudged":
            first[-1] = "    status: {code: '0310', message: OK}"
        text = cassette(first, vcrpy(json.dumps(VALID), answer=ECHO, status=500))
    else:
        first = schemathesis("Bearer " + ECHOED).replace("http_interactions:\n", "")
        if case == "other path":
            first = first.replace(f"uri: '{URL}'", "uri: 'https://staging.example.test/v1/domains'")
        else:
            first = first.replace("code: '200'", "code: '0310'")
        second = schemathesis("Bearer " + KEY).replace("http_interactions:\n", "").replace("code: '200'", "code: '500'")
        second = second.replace(json.dumps(json.dumps(OK)), json.dumps(json.dumps(ECHO)))
        text = "http_interactions:\n" + first + second
    result, _, reports = judged(tmp_path, text, "c.yaml", "json", "md", "html", "junit")
    assert result.exit_code in (1, 3), result.output
    assert shown_in(result, reports) == [], result.output


def test_pass_y2_f3_a_console_warning_goes_through_the_runs_redactor(tmp_path):
    """Pass Y2, F3: the console warning for an item left unjudged quoted its recorder's error (`_error`), masked only
    with the user's own keys: the item's Bearer key was printed on stderr. Every console line is redacted with every
    credential learned (a key from another file too)."""
    quoting = har_entry([JSON_HEAD, ("Authorization", "Bearer " + ECHOED)], status=0, answer="")
    quoting["response"]["_error"] = "net::ERR_FAILED (auth Bearer " + ECHOED + ")"
    result, _, reports = judged(tmp_path, har([quoting, har_entry([JSON_HEAD, ("Authorization", "Bearer " + KEY)])]))
    assert "net::ERR_FAILED" in result.output, result.output  # (said, redacted)
    assert shown_in(result, reports) == [], result.output
    # the key sent in a later file, quoted by an earlier file's error with no key of its own
    quoting["request"]["headers"] = [{"name": "Content-Type", "value": "application/json"}]
    first, later = tmp_path / "a.har", tmp_path / "b.har"
    first.write_text(json.dumps(har([quoting], {"name": "mitmproxy", "version": "10"})))
    later.write_text(json.dumps(har([har_entry([JSON_HEAD, ("Authorization", "Bearer " + ECHOED)])])))
    out = tmp_path / "r2"
    result = CliRunner().invoke(main, ["judge", str(first), str(later), "--report-dir", str(out), "--format", "json"],
                                catch_exceptions=False, env={"MIGMA_CONTRACT_API_KEY": ""})
    assert "net::ERR_FAILED" in result.output, result.output
    assert shown_in(result, out) == [], result.output
