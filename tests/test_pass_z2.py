"""Pass Z2: `migma-contract judge` over recordings (a second attack pass after Y2).

- F1: an item never built (over a loading bound, unreadable YAML) still has its credentials learned (a raw scan).
- F2: a request body kept encoded (HAR base64, a cassette's Content-Encoding) is learned decoded, on every path.
- F3: the JSON reader's byte offsets are counted once (linear), not the buffer's prefix again for each item.
- F4: a HAR whose `log.creator` cannot be known (the skim stopped at an entry over the cap) is read most cautiously.
- F5: a request rebuilt at export (Insomnia) whose answer is not the send's envelope is not judged as the send's.
- F6: Chromium's errors of the client's network path (PING failed, QUIC, HTTP/2 TLS) are not the server's.
- F7: a recorded send answered as no endpoint answers (a redirect, 404/405, a 4xx HTML page) passes unjudged.
- F9: past the bound on credentials learned, keys standing where an API's key goes still have room.
- F8: query and form credentials are learned as their server reads them (percent-decoded; names too; multipart).
"""

from __future__ import annotations

import base64
import gzip
import io
import json
import urllib.parse
from typing import Any

import pytest

from migma_contract.core.json_stream import ArrayReader
from migma_contract.core.redact import secrets_by_shape
from tests.test_pass_y2 import (
    ECHOED,
    JSON_HEAD,
    KEY,
    URL,
    VALID,
    cassette,
    har,
    har_entry,
    judged,
    shown_in,
    vcrpy,
)

ECHO = {"success": False, "data": None, "error": {"code": "internal", "message": "bad key " + ECHOED}}
OTHER = "https://staging.example.test/v1/webhooks"


def _echo() -> dict[str, Any]:
    return har_entry([JSON_HEAD, ("Authorization", "Bearer " + KEY)], status=500, answer=ECHO)


def _unshown(tmp_path: Any, content: Any, name: str = "rec.har") -> None:
    result, _, reports = judged(tmp_path, content, name, "json", "md", "html", "junit")
    assert result.exit_code in (1, 3), result.output
    assert shown_in(result, reports) == [], result.output


# --- F1 -------------------------------------------------------------------------------------------------------------


def _deep() -> dict[str, Any]:
    first = har_entry([JSON_HEAD, ("Authorization", "Bearer " + ECHOED)])
    deep: list[Any] = []
    cur = deep
    for _ in range(80):
        nested: list[Any] = []
        cur.append(nested)
        cur = nested
    first["_custom"] = deep
    return first


def _many_values() -> dict[str, Any]:
    first = har_entry([JSON_HEAD], url=OTHER)
    first["request"]["headers"].append({"name": "X-Api-Key", "value": ECHOED})
    first["_custom"] = list(range(260_000))  # over 250,000 values (`json_bounds`), under the structure cap's count
    return first


@pytest.mark.parametrize("make", [_deep, _many_values], ids=["too-deep", "too-many-values"])
def test_pass_z2_f1_a_har_entry_over_a_bound_has_its_credentials_learned(tmp_path, make):
    """Pass Z2, F1: an entry passed over by a loading bound (nested 80 deep; over 250,000 values) was never learned:
    its key, echoed by a later answer, was written to conformance.json, junit.xml and index.html. Its text is scanned
    for credentials (`raw_credentials`), bounded and linear."""
    _unshown(tmp_path, har([make(), _echo()]))


def test_pass_z2_f1_an_unreadable_or_over_cap_cassette_item_has_its_credentials_learned(tmp_path, monkeypatch):
    """Pass Z2, F1: a vcrpy item that does not read as YAML (an unclosed `[`), or one over the item cap, never reached
    a converter: its key was written in clear once another item's answer echoed it."""
    echo = vcrpy(json.dumps(VALID), answer=ECHO, status=500)
    first = vcrpy(json.dumps(VALID), auth="Bearer " + ECHOED)
    bad = [*first[:3], "      X-Trace: [a, b", *first[3:]]
    (tmp_path / "bad").mkdir()
    _unshown(tmp_path / "bad", cassette(bad, echo), "c.yaml")
    from migma_contract.traffic import recordings
    monkeypatch.setattr(recordings, "MAX_YAML_ITEM", 2_000)
    big = [*first[:2], "      X-Pad: [" + json.dumps("x" * 3000) + "]", *first[2:]]
    big.insert(4, f"      X-Api-Key: [{ECHOED}]")
    (tmp_path / "big").mkdir()
    _unshown(tmp_path / "big", cassette(big, echo), "c.yaml")


def test_pass_z2_f1_the_entry_a_har_stops_in_has_its_credentials_learned(tmp_path, monkeypatch):
    """Pass Z2, F1: an entry over the item cap stops the reading; what was read of it is scanned for credentials."""
    defaults = ArrayReader.__init__.__kwdefaults__
    assert defaults is not None
    monkeypatch.setitem(defaults, "max_item", 64 << 10)
    monkeypatch.setitem(defaults, "chunk", 16 << 10)
    big = har_entry([JSON_HEAD, ("Authorization", "Bearer " + ECHOED)], url="https://staging.example.test/v1/uploads")
    big["request"]["postData"]["text"] = "A" * (200 << 10)
    _unshown(tmp_path, har([_echo(), big]))


def test_pass_z2_f1_raw_credentials_reads_what_recorders_write():
    """Pass Z2, F1: the raw scan finds a Bearer token, a HAR header pair, a cassette header and a query credential."""
    from migma_contract.traffic.recordings import raw_credentials
    text = ('{"name": "X-Api-Key", "value": "hdr_0123456789abcdef"}, "Authorization: Bearer tok_0123456789abcdef"\n'
            '      X-Auth-Token:\n      - yml_0123456789abcdef\n uri: https://h.test/x?access_token=qry_0123456789abcdef')
    values = {value.removeprefix("Bearer ") for _, value in raw_credentials(text)}
    assert {"hdr_0123456789abcdef", "tok_0123456789abcdef", "yml_0123456789abcdef", "qry_0123456789abcdef"} <= values


# --- F2 -------------------------------------------------------------------------------------------------------------


def test_pass_z2_f2_a_base64_har_body_on_another_path_is_learned_decoded(tmp_path):
    """Pass Z2, F2: a HAR body kept as base64 (`postData.encoding`) on another path was learned as its base64 text,
    where no JSON key shows: its secret, echoed by a later answer, reached the reports."""
    first = har_entry([JSON_HEAD, ("Authorization", "Bearer " + KEY)], url=OTHER)
    first["request"]["postData"] = {"mimeType": "application/json", "encoding": "base64",
                                    "text": base64.b64encode(json.dumps({"url": "https://x.test", "secret": ECHOED}).encode()).decode()}
    _unshown(tmp_path, har([first, _echo()]))


def test_pass_z2_f2_a_gzipped_cassette_body_on_another_path_is_learned_decoded(tmp_path):
    """Pass Z2, F2: a vcrpy body under `Content-Encoding: gzip` on another path was learned as its gzip bytes."""
    body = base64.b64encode(gzip.compress(json.dumps({"secret": ECHOED}).encode())).decode()
    first = ["- request:", "    body: !!binary |", f"      {body}", "    headers:", f"      Authorization: [\"Bearer {KEY}\"]",
             "      Content-Type: [application/json]", "      Content-Encoding: [gzip]", "    method: POST",
             f"    uri: {OTHER}", "  response:", "    body: {string: '{}'}", "    headers: {Content-Type: [application/json]}",
             "    status: {code: 200, message: OK}"]
    _unshown(tmp_path, cassette(first, vcrpy(json.dumps(VALID), answer=ECHO, status=500)), "c.yaml")


# --- F3 -------------------------------------------------------------------------------------------------------------


def test_pass_z2_f3_byte_offsets_are_counted_once_as_the_reading_moves_on(monkeypatch):
    """Pass Z2, F3: `_offset` UTF-8-encoded the whole buffer prefix at each stepped-over item (~25 s for a 0.9 MB HAR of
    300,000 empty entries). The characters encoded for offsets over a skim are now about the file's size, not
    items x buffer."""
    text = '{"log":{"entries":[' + ",".join(["{}"] * 20_000) + '],"creator":{"name":"x"}}}'
    encoded = 0
    real = str.encode

    class Counting(str):
        def __getitem__(self, key: Any) -> Any:  # a slice stays counted (what `_offset` encodes)
            return Counting(str.__getitem__(self, key)) if isinstance(key, slice) else str.__getitem__(self, key)

        def encode(self, *args: Any, **kwargs: Any) -> bytes:
            nonlocal encoded
            encoded += len(self)
            return real(self, *args, **kwargs)

    reader = ArrayReader(io.BytesIO(text.encode()), keep=("creator",), chunk=len(text) + 10)
    original = ArrayReader._read

    def read(self: ArrayReader, at_least: int = 0) -> None:
        original(self, at_least)
        self._buffer = Counting(self._buffer)

    monkeypatch.setattr(ArrayReader, "_read", read)
    reader.skim(("log", "entries"))
    assert reader.kept["creator"] == {"name": "x"}
    assert encoded <= 2 * len(text), encoded


# --- F6 -------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("error", ["net::ERR_HTTP2_PING_FAILED", "net::ERR_QUIC_PROTOCOL_ERROR",
                                   "net::ERR_HTTP2_INADEQUATE_TRANSPORT_SECURITY"])
def test_pass_z2_f6_a_client_path_network_error_is_not_the_servers(tmp_path, error):
    """Pass Z2, F6: Chromium's errors of the client's own network path read as the server's failure (no-server-error
    blamed on the server, exit 1). They pass unjudged, as WebKit's "The network connection was lost." does."""
    entry = har_entry([JSON_HEAD, ("Authorization", "Bearer " + KEY)])
    entry["response"].update(status=0, _error=error)
    entry["timings"]["wait"] = 500
    result, data, _ = judged(tmp_path, har([entry]))
    assert result.exit_code == 3 and not data.get("findings"), result.output


# --- F7 -------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("status, body, headers", [
    (404, "<html>Not Found</html>", [("Content-Type", "text/html")]),
    (404, json.dumps({"message": "no route"}), [JSON_HEAD]),
    (405, "", [("Allow", "GET")]),
    (308, "", [("Location", URL)]),
    (403, "<html>Attention Required</html>", [("Content-Type", "text/html")]),
], ids=["404-html", "404-json", "405", "308", "403-html"])
def test_pass_z2_f7_a_recorded_no_endpoint_answer_passes_unjudged(tmp_path, status, body, headers):
    """Pass Z2, F7: `judge` blamed the server (accepts-valid, status-documented) for an answer saying no endpoint of the
    API answered (a redirect, 404, 405, a 4xx HTML page), which the proxy, check and the middleware's state pass or
    stop. The one reading (`no_endpoint`) applies to recordings: passed unjudged, said on the console."""
    sent = har_entry([JSON_HEAD, ("Authorization", "Bearer " + KEY)], status=status, answer=body, response_headers=headers)
    result, data, _ = judged(tmp_path, har([sent, har_entry([JSON_HEAD, ("Authorization", "Bearer " + KEY)])],
                                           {"name": "mitmproxy", "version": "10"}))
    assert result.exit_code == 3 and data["findings"] == [], result.output
    assert data["traffic"]["unjudged"] == 1 and "no endpoint answers so" in result.output, result.output


def test_pass_z2_f7_a_4xx_html_page_holding_the_envelope_is_still_judged(tmp_path):
    """Pass Z2, F7 (the X5 F5 exception kept): a 4xx labelled text/html holding the JSON envelope is the endpoint's."""
    envelope = json.dumps({"success": False, "data": None, "error": {"code": "bad", "message": "bad"}})
    sent = har_entry([JSON_HEAD, ("Authorization", "Bearer " + KEY)], status=400, answer=envelope,
                     response_headers=[("Content-Type", "text/html")])
    result, data, _ = judged(tmp_path, har([sent]))
    assert "content-type-json" in {f["rule"] for f in data["findings"]}, result.output


# --- F8 -------------------------------------------------------------------------------------------------------------

TOKEN = "Zm9vYmFyc2VjcmV0+dG9rZW4x/MjM0NTY3ODk="


def test_pass_z2_f8_query_and_form_values_are_learned_as_their_server_reads_them():
    """Pass Z2, F8: a query or form credential was learned only as written (percent-encoded); a percent-encoded name
    (`access%5Ftoken`) was not read as a credential's; a multipart field was not read at all."""
    quoted = urllib.parse.quote(TOKEN, safe="")
    assert TOKEN in secrets_by_shape("/v1/domains?access_token=" + quoted)
    assert TOKEN in secrets_by_shape("grant_type=refresh_token&refresh_token=" + quoted)
    assert "a b" + "c" * 10 in secrets_by_shape("client_secret=a+b" + "c" * 10)  # a form's `+` is a space
    assert ECHOED in secrets_by_shape("/v1/domains?access%5Ftoken=" + ECHOED)
    multipart = '--x\r\nContent-Disposition: form-data; name="client_secret"\r\n\r\n' + ECHOED + "\r\n--x--\r\n"
    assert ECHOED in secrets_by_shape(multipart)


def test_pass_z2_f8_an_encoded_query_credential_echoed_decoded_is_masked(tmp_path):
    """Pass Z2, F8: the same through `judge`: TOKEN sent percent-encoded, echoed decoded by a later 500."""
    first = har_entry([JSON_HEAD], url=OTHER + "?access_token=" + urllib.parse.quote(TOKEN, safe=""), method="GET")
    echo = har_entry([JSON_HEAD, ("Authorization", "Bearer " + KEY)], status=500,
                     answer={"success": False, "data": None, "error": "token " + TOKEN + " is not valid"})
    result, _, reports = judged(tmp_path, har([first, echo]), "rec.har", "json", "html", "junit")
    shown = [p.name for p in reports.rglob("*") if p.is_file() and TOKEN in p.read_text(errors="replace")]
    assert shown == [] and TOKEN not in result.output, result.output


# --- F9 -------------------------------------------------------------------------------------------------------------


def test_pass_z2_f9_a_key_past_the_bound_on_credentials_is_still_learned(tmp_path):
    """Pass Z2, F9: a browser session's cookies and CSRF tokens (1,170 distinct) filled the 1,000 credentials learned;
    the Bearer key a later send carried was not learned, and another exchange's answer echoing it was written in clear.
    Keys standing where an API's key goes keep their own room past the bound (`_MAX_KEYS_PAST`)."""
    import hashlib

    def token(*parts: int) -> str:
        return hashlib.sha256(repr(parts).encode()).hexdigest()[:32]
    entries = []
    for page in range(130):
        entry = har_entry([JSON_HEAD, ("X-Csrf-Token", token(page, 99))], url=f"https://staging.example.test/app/page{page}",
                          method="GET")
        entry["request"]["cookies"] = [{"name": f"session{n}", "value": token(page, n)} for n in range(8)]
        entries.append(entry)
    entries += [har_entry([JSON_HEAD, ("Authorization", "Bearer " + ECHOED)]), _echo()]
    result, _, reports = judged(tmp_path, har(entries, {"name": "mitmproxy", "version": "10"}), "rec.har", "json", "html", "junit")
    assert "distinct credentials" in result.output, result.output  # the bound was reached
    assert shown_in(result, reports) == [], result.output


# --- F4 -------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("creator_last", [True, False], ids=["creator-after", "creator-first"])
def test_pass_z2_f4_a_recorder_that_cannot_be_known_is_read_most_cautiously(tmp_path, monkeypatch, creator_last):
    """Pass Z2, F4: `log.creator` after the entries was lost when the skim stopped at an entry over the item cap: a
    Chrome export with its Authorization sanitized was then judged as a trusted recorder's (auth-required blamed on
    client and server, exit 1), while the same HAR with the creator first passed unjudged (exit 3). A recorder that
    cannot be known is read the cautious way for each decision: no blame either way."""
    defaults = ArrayReader.__init__.__kwdefaults__
    assert defaults is not None
    monkeypatch.setitem(defaults, "max_item", 64 << 10)
    monkeypatch.setitem(defaults, "chunk", 16 << 10)
    sent = har_entry([JSON_HEAD])  # no Authorization: a Chrome export drops it ("sanitized")
    big = har_entry([JSON_HEAD], url="https://staging.example.test/v1/uploads")
    big["request"]["postData"]["text"] = "A" * (200 << 10)
    result, data, _ = judged(tmp_path, har([sent, big], creator_last=creator_last))
    assert result.exit_code == 3 and not data.get("findings"), result.output


# --- F5 -------------------------------------------------------------------------------------------------------------

INSOMNIA = {"name": "Insomnia REST Client", "version": "insomnia.desktop.app:v2023.5.8"}


def test_pass_z2_f5_a_rebuilt_requests_answer_from_another_endpoint_is_not_judged_as_the_sends(tmp_path):
    """Pass Z2, F5: Insomnia pairs a request rebuilt from its current definition (POST /v1/sending) with its latest
    stored answer, kept across edits of URL and method (here GET /v1/domains's `{"data": [...]}`): success-schema and
    envelope-consistent were blamed on a correct server (exit 1). An answer that is not the send's envelope passes
    unjudged; an envelope is still judged (Pass X2)."""
    domains = {"data": [{"id": "dom_1", "name": "example.com"}]}
    result, data, _ = judged(tmp_path, har([har_entry([JSON_HEAD, ("Authorization", "Bearer " + KEY)], answer=domains)],
                                           INSOMNIA))
    assert result.exit_code == 3 and not data.get("findings"), result.output
    assert "not the send's envelope" in result.output, result.output
