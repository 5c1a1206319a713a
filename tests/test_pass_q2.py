"""Pass Q2: credentials a judge of recordings learns as its server reads them (JSON escapes, percent-encoded cookies),
a no-endpoint note's Location masked before it is cut, and OAuth tokens in a URL's fragment masked by shape."""
from __future__ import annotations

import base64
import gzip
import json
from pathlib import Path

import pytest

from migma_contract.core import redact
from migma_contract.core.redact import mask_shapes, secrets_by_shape
from tests.test_pass_y2 import ECHOED, JSON_HEAD, KEY, URL, VALID, cassette, har, har_entry, judged, shown_in, vcrpy

OTHER = "https://staging.example.test/v1/webhooks"
SLASHKEY = "mc_live_SECRET/SECRET+0987654321zz"
TOK = "Zq9Xw8Vu7Ts6Rq5Po4Nm3Lk2"
ECHO = {"success": False, "data": None, "error": {"code": "internal", "message": "bad key " + ECHOED}}


def _echo_of(secret: str) -> dict:
    answer = {"success": False, "data": None, "error": {"code": "internal", "message": "bad credential " + secret}}
    return har_entry([JSON_HEAD, ("Authorization", "Bearer " + KEY)], status=500, answer=answer)


def _shown(tmp_path: Path, entries: list, secret: str) -> list[str]:
    result, _, reports = judged(tmp_path, har(entries), "rec.har", "json", "md", "html", "junit")
    return ([p.name for p in sorted(reports.rglob("*")) if p.is_file() and secret in p.read_text(errors="replace")]
            + (["console"] if secret in result.output else []))


def test_json_escaped_value_learned_as_read() -> None:
    """Pass Q2, F3: a JSON credential value with escapes is learned as written and as its server reads it."""
    found = secrets_by_shape('{"apiKey":"' + SLASHKEY.replace("/", "\\/") + '"}')
    assert SLASHKEY in found
    assert "abcdefgh_ijklmnop1234" in secrets_by_shape('{"token": "abcdefgh\\u005fijklmnop1234"}')
    unescaped = redact.json_unescaped
    assert unescaped("plain") == [] and unescaped("bad\\q") == [] and unescaped("x\\/" * 5000) == []


def test_php_slash_escape_other_path(tmp_path: Path) -> None:
    """Pass Q2, F3: another path's body `{"apiKey":"...\\/..."}`, echoed decoded by a later send, stays out of reports."""
    first = har_entry([JSON_HEAD], url=OTHER, body={})
    first["request"]["postData"]["text"] = '{"apiKey":"' + SLASHKEY.replace("/", "\\/") + '"}'
    assert _shown(tmp_path, [first, _echo_of(SLASHKEY)], SLASHKEY) == []


def test_php_slash_escape_send(tmp_path: Path) -> None:
    """Pass Q2, F3: the send's own escaped apiKey, echoed decoded by its own 500, stays out of reports."""
    entry = _echo_of(SLASHKEY)
    body = json.dumps(dict(VALID, apiKey="X"))[:-1].replace('"X"', '"' + SLASHKEY.replace("/", "\\/") + '"') + "}"
    entry["request"]["postData"]["text"] = body
    assert _shown(tmp_path, [entry], SLASHKEY) == []


def test_cookie_percent_decoded(tmp_path: Path) -> None:
    """Pass Q2, F4: a percent-encoded session cookie is learned decoded too (PHP and cookie-parser decode it)."""
    value = "Ab12Cd34/Ef56Gh78+Ij90Kl12"
    first = har_entry([JSON_HEAD, ("Cookie", "session=" + value.replace("/", "%2F").replace("+", "%2B"))], url=OTHER)
    assert _shown(tmp_path, [first, _echo_of(value)], value) == []


def test_no_endpoint_location_masked_before_cut(tmp_path: Path) -> None:
    """Pass Q2, F6: a no-endpoint note's Location holding the request's key across char 200 shows none of it."""
    before = "https://staging.example.test/v1/sending?next=" + "a" * 140 + "&t="
    moved = har_entry([JSON_HEAD, ("Authorization", "Bearer " + ECHOED)], status=307, answer="",
                      response_headers=[("Location", before + ECHOED)])
    good = har_entry([JSON_HEAD, ("Authorization", "Bearer " + KEY)])
    assert _shown(tmp_path, [good, moved], ECHOED[:200 - len(before)]) == []


def test_fragment_token_masked() -> None:
    """Pass Q2, F7: `#access_token=...` in a URL's fragment is masked by shape."""
    assert TOK not in mask_shapes("https://app.example.test/callback#access_token=" + TOK + "&token_type=bearer")


def test_no_endpoint_location_fragment(tmp_path: Path) -> None:
    """Pass Q2, F7: a 302 to `...#access_token=TOK` shows no TOK on the console or in the reports."""
    moved = har_entry([JSON_HEAD, ("Authorization", "Bearer " + KEY)], status=302, answer="",
                      response_headers=[("Location", "https://app.example.test/callback#access_token=" + TOK
                                         + "&token_type=bearer")])
    good = har_entry([JSON_HEAD, ("Authorization", "Bearer " + KEY)])
    assert _shown(tmp_path, [good, moved], TOK) == []


def _too_deep(entry: dict) -> dict:
    """`entry` with a member nested past the depth a recording's item may have: never built, scanned as text."""
    deep: list = []
    current = deep
    for _ in range(80):
        inner: list = []
        current.append(inner)
        current = inner
    entry["_custom"] = deep
    return entry


@pytest.mark.parametrize("word", ["basic functionality", "token expiration", "Bearer authentication"])
def test_raw_scan_answer_prose_crowds_out_nothing(tmp_path: Path, word: str) -> None:
    """Pass Q2, F1: an unreadable item whose answer holds 70 `<scheme> <word>` phrases still has its request's
    X-Api-Key learned, and a later echo of it stays out of the reports."""
    page = " ".join(f"The {word}{i:03d} section." for i in range(70))
    docs = har_entry([JSON_HEAD, ("X-Api-Key", ECHOED)], url="https://staging.example.test/docs", method="GET", body={},
                     answer=page, response_headers=[("Content-Type", "text/html")])
    assert _shown(tmp_path, [_too_deep(docs), _echo_of(ECHOED)], ECHOED) == []


def test_raw_scan_request_first_each_kind_its_quota() -> None:
    """Pass Q2, F1: the raw scan reads the request's section first, and each kind of credential has its own quota:
    an answer (written first) full of Bearer words and session pairs leaves the request's header and body values found."""
    from migma_contract.traffic.recordings import MAX_RAW_FOUND, raw_credentials
    answer = ('"response": {"headers": ['
              + ", ".join(f'{{"name": "X-Session-{i}", "value": "sess{i:04d}abcdefgh"}}' for i in range(MAX_RAW_FOUND + 6))
              + "], " + " ".join(f"Bearer word{i:04d}xyz" for i in range(MAX_RAW_FOUND + 6))
              + " " + " ".join(f'"token{i}": "tok{i:04d}abcdefghij"' for i in range(MAX_RAW_FOUND + 6)) + "}, ")
    request = ('"request": {"headers": [{"name": "X-Api-Key", "value": "hdr_0123456789abcdef"}], '
               '"postData": {"text": "{\\"apiKey\\": \\"body_0123456789abcdef\\"}"}, '
               '"url": "https://h.test/?access_token=qry_0123456789abcdef"}')
    values = {value.removeprefix("Bearer ") for _, value in raw_credentials("{" + answer + request + "}")}
    assert {"hdr_0123456789abcdef", "body_0123456789abcdef", "qry_0123456789abcdef"} <= values


def _base64_body(body: bytes, *, gzipped: bool = False) -> str:
    return base64.b64encode(gzip.compress(body) if gzipped else body).decode()


@pytest.mark.parametrize("gzipped", [False, True])
def test_raw_scan_base64_har_body_decoded(tmp_path: Path, gzipped: bool) -> None:
    """Pass Q2, F2: an unreadable HAR entry's request body kept in base64 (gzip inside or not) is learned decoded."""
    entry = har_entry([JSON_HEAD] + ([("Content-Encoding", "gzip")] if gzipped else []), url=OTHER, body={})
    entry["request"]["postData"] = {"mimeType": "application/json", "encoding": "base64",
                                    "text": _base64_body(json.dumps({"apiKey": ECHOED}).encode(), gzipped=gzipped)}
    assert _shown(tmp_path, [_too_deep(entry), _echo_of(ECHOED)], ECHOED) == []


def test_raw_scan_vcrpy_binary_gzip_body_decoded(tmp_path: Path) -> None:
    """Pass Q2, F2: a vcrpy interaction over the item cap (a 9 MiB answer) whose request body is a `!!binary` gzip
    `{"apiKey": K}`: K learned decoded, a later send's echo of it stays out of the reports."""
    coded = _base64_body(json.dumps({"apiKey": ECHOED}).encode(), gzipped=True)
    first = ["- request:", "    body: !!binary |", "      " + coded, "    headers:", "      Content-Encoding: [gzip]",
             "      Content-Type: [application/json]", "    method: POST", "    uri: https://staging.example.test/v1/exports",
             "  response:", "    body: {string: '" + "x" * (9 << 20) + "'}", "    headers: {}",
             "    status: {code: 200, message: OK}"]
    result, _, reports = judged(tmp_path, cassette(first, vcrpy(json.dumps(VALID), answer=ECHO, status=500)), "c.yaml",
                                "json", "md", "html", "junit")
    assert shown_in(result, reports) == [], result.output[-800:]


def test_raw_scan_schemathesis_base64_string_decoded(tmp_path: Path) -> None:
    """Pass Q2, F2: an unreadable Schemathesis item's `base64_string` request body is learned decoded."""
    coded = _base64_body(json.dumps({"apiKey": ECHOED}).encode())
    bad = ["- id: '1'", "  status: 'SUCCESS'", "  elapsed: '0.01'", "  recorded_at: '2026-12-06T00:00:00'", "  checks: []",
           "  request:", f"    uri: '{OTHER}'", "    method: 'POST'", "    headers:",
           "      Content-Type: ['application/json']", "    body:", f"      base64_string: '{coded}'",
           "  response:", "    status: {code: '200', message: 'OK'}", "    headers: {}",
           "    body: {encoding: 'utf-8', string: ''}", "    http_version: '1.1'", "    elapsed: '0.01'", "    oops: [unclosed"]
    good = ["- id: '2'", "  status: 'SUCCESS'", "  elapsed: '0.01'", "  recorded_at: '2026-12-06T00:00:00'", "  checks: []",
            "  request:", f"    uri: '{URL}'", "    method: 'POST'", "    headers:", f"      Authorization: ['Bearer {KEY}']",
            "      Content-Type: ['application/json']", "    body:", "      encoding: 'utf-8'",
            f"      string: {json.dumps(json.dumps(VALID))}", "  response:", "    status:", "      code: '500'",
            "      message: 'X'", "    headers:", "      Content-Type: ['application/json']", "    body:",
            "      encoding: 'utf-8'", f"      string: {json.dumps(json.dumps(ECHO))}", "    http_version: '1.1'",
            "    elapsed: '0.01'"]
    result, _, reports = judged(tmp_path, "\n".join(["http_interactions:", *bad, *good, ""]), "st.yaml",
                                "json", "md", "html", "junit")
    assert shown_in(result, reports) == [], result.output[-1500:]


PW = "S3cretPassw0rdXyz9876"


@pytest.mark.parametrize("text", [f"user=bob&pass={PW}", f"client_id=a&client_assertion={PW}", f"pswd={PW}",
                                  f'{{"hmac": "{PW}"}}', f'{{"signingKey": "{PW}"}}', f'{{"webhookSigningKey": "{PW}"}}'])
def test_more_credential_names(text: str) -> None:
    """Pass Q2, F9: `pass`, `pswd`, `hmac`, `signingKey` and (as a parameter) `client_assertion` name credentials."""
    assert PW in secrets_by_shape(text)
    assert PW not in mask_shapes(text)


def test_pass_form_parameter_learned(tmp_path: Path) -> None:
    """Pass Q2, F9: another path's form `user=bob&pass=PW`, echoed by a later send, stays out of the reports."""
    entry = har_entry([("Content-Type", "application/x-www-form-urlencoded")], url=OTHER, body={})
    entry["request"]["postData"] = {"mimeType": "application/x-www-form-urlencoded", "text": "user=bob&pass=" + PW}
    assert _shown(tmp_path, [entry, _echo_of(PW)], PW) == []


def test_assertion_is_no_credential_in_json() -> None:
    """Pass Q2, F9: in JSON, `assertion` (a test's) names no credential: only a parameter's name does."""
    assert secrets_by_shape('{"assertion": "expected 200 got 500 abc"}') == []


@pytest.mark.parametrize("disposition", ["form-data; name=api_key", 'form-data; filename="a"; name="password"',
                                         "form-data; name*=utf-8''client_secret", 'form-data;name = "token"'])
def test_multipart_disposition_any_form(disposition: str) -> None:
    """Pass Q2, F5: a multipart field's name as a token, after `filename`, or as `name*=` is read."""
    text = f"--XX\r\nContent-Disposition: {disposition}\r\nContent-Type: text/plain\r\n\r\n{PW}\r\n--XX--\r\n"
    assert PW in secrets_by_shape(text)


def test_multipart_filename_is_no_field_name() -> None:
    """Pass Q2, F5: `filename="token.txt"` names a file, not a credential field."""
    text = f'--XX\r\nContent-Disposition: form-data; name="upload"; filename="token.txt"\r\n\r\n{PW}\r\n--XX--\r\n'
    assert PW not in secrets_by_shape(text)


def test_multipart_unquoted_send(tmp_path: Path) -> None:
    """Pass Q2, F5: the send's own multipart `name=api_key` field, echoed by its own 500, stays out of the reports."""
    entry = har_entry([("Content-Type", "multipart/form-data; boundary=XX"), ("Authorization", "Bearer " + KEY)],
                      status=500, answer=ECHO)
    entry["request"]["postData"] = {"mimeType": "multipart/form-data; boundary=XX",
                                    "text": f"--XX\r\nContent-Disposition: form-data; name=api_key\r\n\r\n{ECHOED}\r\n--XX--\r\n"}
    result, _, reports = judged(tmp_path, har([entry]), "rec.har", "json", "md", "html", "junit")
    assert shown_in(result, reports) == [], result.output[-1500:]


def test_credential_value_in_array_or_object() -> None:
    """Pass Q2, F8: a credential stored as an array or an object under a credential's name is learned; the values
    beside it that look written (`"user": "bobbobbob"`, `"type": "apiKeyHeader"`) are not."""
    text = ('{"apiKey": ["S3cretPassw0rdXyz9876"], "auth": {"user": "bobbobbob", "type": "apiKeyHeader", '
            '"value": "K3cretPassw0rdXyz9876", "roles": ["administrators"], "n": {"y": "Ab12Cd34Ef56Gh78Ij"}}}')
    found = secrets_by_shape(text)
    assert {"S3cretPassw0rdXyz9876", "K3cretPassw0rdXyz9876", "Ab12Cd34Ef56Gh78Ij"} <= set(found)
    assert not {"bobbobbob", "apiKeyHeader", "administrators"} & set(found)


def test_nested_object_value_learned(tmp_path: Path) -> None:
    """Pass Q2, F8: another path's `{"auth": {"user": "bob", "value": PW}}`, echoed by a later send, stays out of reports."""
    entry = har_entry([JSON_HEAD], url=OTHER, body={"auth": {"user": "bob", "value": PW}})
    assert _shown(tmp_path, [entry, _echo_of(PW)], PW) == []
