"""The judge reads an answer as an HTTP and JSON reader does, on every way in (red-team pass G: 5, 6, 11, 12).

- A header value is trimmed of SP and HTAB only (RFC 9110 §5.5): `application/json\\xa0` is no JSON media type.
- A singleton field given twice with different values (two Content-Types) is a conflict, never the first or the last.
- A JSON object that gives a member name twice (RFC 8259 §4) has no one value: an answer breaks its schema rule, a
  request leaves its exchange judged in part (no guessed reading of what the server read).
- A note carrying what a peer sent (a 90 KB Content-Encoding) is cut, visibly: reports stay small.
"""

import json
import zlib
from types import SimpleNamespace

import anyio
import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from migma_contract import contract_for, validate_response
from migma_contract.contract.catalogue import retry_after_seconds
from migma_contract.contract.rules import Level, bearer_key, repeated_member
from migma_contract.core.fields import joined, trimmed, values_of
from migma_contract.generate.cases import Case
from migma_contract.judge.deserve import Standing
from migma_contract.judge.verdict import SERVER, Knowledge, judge_exchange
from migma_contract.reports import write_reports
from migma_contract.schemathesis_checks import _headers
from migma_contract.traffic.tally import ObservedExchange, TrafficJudge
from migma_contract.traffic.tally import judge_exchange as judge_observed
from migma_contract.wire.client import Target, TargetSettings
from migma_contract.wire.coding import Broken, ContentDecoder, codings_of, decoded

VALID = {"recipientType": "email", "recipientEmail": "ann@example.com", "from": "news@example.com", "fromName": "News",
         "subject": "Hello", "emailId": "email_1"}
OK = json.dumps({"success": True, "data": {"id": "msg_1", "provider": "migma", "status": "queued", "sentCount": 1},
                 "error": None}).encode()
AUTH = ("Authorization", "Bearer mc_live_4f9a8b7c6d5e4f3a2b1c")
JSON = "application/json"

# Content-Type values no HTTP media-type parser reads as application/json (str.strip() removed each padding)
NOT_OWS = ["application/json\xa0", "application/json\x85", "\xa0application/json", "application/json\x0b",
           "application/json\u3000", "\x1capplication/json"]
# ...and ones it does (SP and HTAB are optional whitespace)
OWS = [" application/json", "application/json\t", "\t application/json ; charset=utf-8 "]


def _observed(response_headers, answer=OK, request=None, status=200):
    body = request if request is not None else json.dumps(VALID).encode()
    return ObservedExchange("POST", "https://staging.example/v1/sending", [("Content-Type", JSON), AUTH], body, status,
                            response_headers, answer, elapsed=0.05, where="test exchange")


def _traffic(response_headers, answer=OK, status=200):
    """{rule: (ok, actual)} of the server's part of one observed exchange (the proxy, the middleware, judge)."""
    verdict = judge_observed(contract_for(), "documented", _observed(response_headers, answer, status=status))
    return {j.rule_id: (j.ok, j.actual) for j in verdict.judgements if j.party == SERVER}


def _checked(response_headers, answer=OK, status=200):
    """The same, for an answer that came back to the check's client (wire.client.Target, in-process)."""
    def wire(text):  # a byte per character where one is (obs-text), else UTF-8
        return text.encode("latin-1") if max(map(ord, text), default=0) < 256 else text.encode("utf-8")

    raw = [(wire(name), wire(value)) for name, value in response_headers]

    async def app(scope, receive, send):
        while (await receive()).get("more_body"):
            pass
        await send({"type": "http.response.start", "status": status, "headers": raw})
        await send({"type": "http.response.body", "body": answer})

    async def send():
        async with Target(TargetSettings("http://app.test", timeout=5), app=app) as target:
            return await target.send(Case("x", "accepts-valid", "x", VALID, frozenset({200})))

    exchange = anyio.run(send)
    verdict = judge_exchange(contract_for(), Level.DOCUMENTED, exchange, Knowledge(Standing.FULL, data_known=True))
    return {j.rule_id: (j.ok, j.actual) for j in verdict.judgements if j.party == SERVER}


WAYS = {"traffic": _traffic, "check": _checked}


# --- 5: optional whitespace is SP and HTAB ----------------------------------------------------------------------


@pytest.mark.parametrize("value", ["x\xa0", "\x85x", "x\x0b", "\x0cx", "x\u2003", "\u3000x"])
def test_header_values_are_trimmed_of_sp_and_htab_only(value):
    assert trimmed(value) == value
    assert trimmed(f" \t{value}\t ") == value


@pytest.mark.parametrize("way", WAYS)
@pytest.mark.parametrize("value", NOT_OWS, ids=repr)
def test_a_content_type_padded_with_what_is_no_http_whitespace_is_no_json(way, value):
    ok, actual = WAYS[way]([("Content-Type", value)])["content-type-json"]
    assert not ok and "expected application/json" in actual


@pytest.mark.parametrize("way", WAYS)
@pytest.mark.parametrize("value", OWS, ids=repr)
def test_a_content_type_padded_with_sp_or_htab_is_json(way, value):
    assert WAYS[way]([("Content-Type", value)])["content-type-json"][0]


def test_every_header_the_judge_reads_is_trimmed_alike():
    assert codings_of(["gzip\xa0"]) == ["gzip\xa0"]  # a coding nobody knows: the body is left unread, and said
    assert codings_of([" gzip\t,\tdeflate "]) == ["gzip", "deflate"]
    assert bearer_key("Bearer mc_key\xa0") == "mc_key\xa0" and bearer_key("\tBearer  mc_key ") == "mc_key"
    assert retry_after_seconds("5\xa0") is None and retry_after_seconds(" 5\t") == 5


# --- 12: a singleton field given twice ------------------------------------------------------------------------------


@pytest.mark.parametrize("way", WAYS)
@pytest.mark.parametrize("first,second", [("application/json;", "text/html"), ("text/html", JSON),
                                          (JSON, "application/json; charset=iso-8859-1")])
def test_two_content_types_with_different_values_fail_content_type_json_showing_both(way, first, second):
    ok, actual = WAYS[way]([("Content-Type", first), ("Content-Type", second)])["content-type-json"]
    assert not ok
    assert "2 different values" in actual and repr(first) in actual and repr(second) in actual


@pytest.mark.parametrize("way", WAYS)
def test_a_content_type_repeated_with_the_same_value_or_a_quoted_comma_is_one_value(way):
    assert WAYS[way]([("Content-Type", JSON), ("Content-Type", "Application/JSON")])["content-type-json"][0]
    assert WAYS[way]([("Content-Type", 'application/json; profile="utf-8,x"')])["content-type-json"][0]  # (a charset
    # "utf-8,x" is no UTF-8: tests/test_recorder_masks.py)
    assert values_of('application/json; a="x,y", application/json; a="x,y"') == ['application/json; a="x,y"']


def test_every_way_in_joins_a_repeated_field_never_keeping_one_of_its_values():
    assert joined([("Content-Type", "a"), ("content-type", "b")]) == {"content-type": "a, b"}
    response = SimpleNamespace(headers={"Content-Type": ["text/html", JSON], "X-One": "1"})
    assert _headers(response) == {"content-type": f"text/html, {JSON}", "x-one": "1"}  # the Schemathesis adapter


# --- 6: a member name given twice -----------------------------------------------------------------------------------


@pytest.mark.parametrize("status,body,name,rule", [
    (200, b'{"success": true, "data": null, "data": {"id": "msg_1", "status": "queued"}}', "data", "success-schema"),
    (200, b'{"success": true, "data": {"id": "a", "status": "queued", "id": "b"}}', "id", "success-schema"),
    (200, b'{"success": true, "data": {"id": "a", "status": "queued", "meta": {"k": 1, "k": 2}}}', "k", "success-schema"),
    (400, b'{"success": false, "error": "bad", "error": "worse"}', "error", "error-schema"),
    (401, b'{"success": false, "error": "no key", "success": true}', "success", "error-schema"),
])
def test_an_answer_repeating_a_member_name_breaks_its_schema_rule_naming_it(status, body, name, rule):
    found = [v for v in validate_response(status, {"content-type": JSON}, body) if v.rule_id == rule]
    assert found and repr(name) in found[0].message and "RFC 8259" in found[0].message
    ok, actual = _traffic([("Content-Type", JSON)], body, status)[rule]
    assert not ok and repr(name) in actual


@pytest.mark.parametrize("body", [
    OK,
    b'{"success": false, "error": "invalid: from: not an address at 12:00"}',  # colons in a string
    b'{"success": true, "data": {"id": "a:b", "status": "queued", "meta": {"x": {"y": [{"z": 1}]}}}, "error": null}',
    b'{"success" : true , "data" : {"id" : "a", "status" : "queued"}}',
])
def test_an_answer_with_unique_member_names_is_never_said_to_repeat_one(body):
    status = 400 if b"false" in body else 200
    assert not [v for v in validate_response(status, {"content-type": JSON}, body) if "RFC 8259" in v.message]


_names = st.sampled_from(["a", "b", "data", "id", "a:b", "x\\", "A", "ID", "Data"])  # (the same names in other cases)
_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.text(alphabet=":,{}\"ab ", max_size=6))
_pairs = st.recursive(_scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                        st.lists(st.tuples(_names, inner), max_size=4).map(lambda p: ("obj", p))),
                      max_leaves=12)


def _text(value):
    if isinstance(value, tuple) and value and value[0] == "obj":
        return "{" + ", ".join(f"{json.dumps(name)}: {_text(item)}" for name, item in value[1]) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_text(item) for item in value) + "]"
    return json.dumps(value)


def _repeats(value):
    if isinstance(value, tuple) and value and value[0] == "obj":
        names = [name.casefold() for name, _ in value[1]]  # (a repeat in another case is one too: pass J, finding 5)
        return len(names) != len(set(names)) or any(_repeats(item) for _, item in value[1])
    return isinstance(value, list) and any(_repeats(item) for item in value)


@given(_pairs.map(lambda inner: ("obj", [("top", inner)])) | _pairs)
def test_repeated_member_finds_a_repeat_exactly_when_there_is_one(value):
    text = _text(value)
    parsed = json.loads(text)
    assert (repeated_member(text, parsed) is not None) == _repeats(value)
    assert (repeated_member(text.encode(), parsed) is not None) == _repeats(value)


def test_a_request_repeating_a_member_name_is_judged_in_part_never_against_a_guessed_reading():
    body = (b'{"recipientType": "segment", "recipientType": "email", "recipientEmail": "ann@example.com", '
            b'"from": "news@example.com", "fromName": "News", "subject": "Hello", "emailId": "email_1"}')
    judge = TrafficJudge(contract_for(), "documented", kind="proxy", label="test")
    verdict = judge.observe(_observed([("Content-Type", JSON)], request=body))
    judged = {j.rule_id for j in verdict.judgements}
    assert not verdict.breaches
    assert "accepts-valid" not in judged and "batch-needs-recipientId" not in judged  # the request's reading is not guessed
    assert "success-schema" in judged  # the answer is still judged
    result = judge.result()
    assert result.traffic.partly_judged == 1 and result.verdict == "incomplete"
    assert any("'recipientType' twice" in note for note in result.traffic.notes)


CASE_DUP = (b'{"recipientType": "email", "recipientEmail": "ann@example.com", "from": "news@example.com", '
            b'"fromName": "News", "subject": "Hello", "emailId": "email_1", "RecipientType": "tag"}')


def test_j5_a_request_repeating_a_member_name_in_another_case_is_judged_in_part():
    """Pass J, finding 5 (f4_case_dup): `recipientType` then `RecipientType: tag` (no tagId) answered 200 passed green;
    Go's encoding/json, ASP.NET Core and Jackson's case-insensitive binding read the last: a tag send without its id."""
    judge = TrafficJudge(contract_for(), "documented", kind="proxy", label="test")
    verdict = judge.observe(_observed([("Content-Type", JSON)], request=CASE_DUP))
    assert not verdict.breaches and "accepts-valid" not in {j.rule_id for j in verdict.judgements}
    result = judge.result()
    assert result.traffic.partly_judged == 1 and result.verdict == "incomplete"
    assert any("'recipientType' and 'RecipientType'" in note for note in result.traffic.notes), result.traffic.notes
    plain = json.loads(CASE_DUP)
    del plain["RecipientType"]
    assert repeated_member(json.dumps(plain), plain) is None  # (a plain body: the cheap path, no repeat)


@pytest.mark.parametrize("status,body,names,rule", [
    (200, b'{"success": true, "data": {"id": "a", "status": "queued", "ID": "b"}}', ("id", "ID"), "success-schema"),
    (200, b'{"success": true, "Success": false, "data": {"id": "a", "status": "queued"}}', ("success", "Success"),
     "success-schema"),
    (400, b'{"success": false, "error": "bad: x", "Error": "worse"}', ("error", "Error"), "error-schema"),
    (200, b'{"success": true, "data": {"id": "a", "status": "queued", "meta": {"k": 1, "K": 2}}}', ("k", "K"),
     "success-schema"),
])
def test_j5_an_answer_repeating_a_member_name_in_another_case_breaks_its_schema_rule_naming_both(status, body, names, rule):
    found = [v for v in validate_response(status, {"content-type": JSON}, body) if v.rule_id == rule]
    assert found and all(repr(name) in found[0].message for name in names), found
    ok, actual = _traffic([("Content-Type", JSON)], body, status)[rule]
    assert not ok and all(repr(name) in actual for name in names)


# --- 11: notes carrying what a peer sent are bounded ----------------------------------------------------------------


def test_notes_quoting_a_peer_are_cut_visibly_and_reports_stay_small(tmp_path):
    judge = TrafficJudge(contract_for(), "documented", kind="proxy", label="test")
    for number in range(20):  # 20 answers with distinct ~90 KB unknown codings (the proxy leaves such a body unread)
        coding = f"{number:02d}" + "x" * 90_000
        judge.observe(ObservedExchange("POST", "/v1/sending", [("Content-Type", JSON), AUTH], json.dumps(VALID).encode(),
                                       200, [("Content-Type", JSON), ("Content-Encoding", coding)], OK,
                                       unread=f"a Content-Encoding it cannot read ({coding})"))
    judge.note("the upstream's header(s) " + ", ".join(f"X-{n}-" + "h" * 1000 for n in range(100)) + " held bytes")
    result = judge.result()
    assert sum(len(note) for note in result.traffic.notes) < 40 * 1024
    assert all("characters, cut)" in note for note in result.traffic.notes)
    for path in write_reports(result, tmp_path, ("json", "junit", "md", "html")):
        assert path.stat().st_size < 128 * 1024, path.name


def test_a_huge_content_type_is_quoted_cut_in_its_finding():
    ok, actual = _traffic([("Content-Type", "text/" + "x" * 100_000)])["content-type-json"]
    assert not ok and len(actual) < 400 and "cut: 100,005 characters" in actual


def test_j5_shapes_remembered_without_a_case_repeat_stay_bounded_and_never_hide_one():
    from migma_contract.contract import rules

    for number in range(1_000):  # a hostile peer's distinct shapes
        assert rules.case_repeat({f"n{number}": 1, "b": 2}) is None
    assert len(rules._UNFOLDED) <= rules._UNFOLDED_MAX
    assert rules.case_repeat({"id": 1, "status": 2}) is None and rules.case_repeat({"id": 1, "ID": 2}) == ("id", "ID")
    long = {"x" * 10_000: 1, "y": 2}
    assert rules.case_repeat(long) is None and tuple(long) not in rules._UNFOLDED  # (what one entry holds is bounded)


def _stored_first(first: int, length: int, payload: bytes) -> bytes:
    """A raw deflate stream opening with a stored block: `first` its first byte (final bit, type 00, padding bits that
    RFC 1951 says to skip and a compressor leaves zero), `length` bytes of `payload` in it; the rest compressed after."""
    block = bytes([first, length & 0xFF, length >> 8, ~length & 0xFF, (~length >> 8) & 0xFF]) + payload[:length]
    if first & 1:  # the final block: the stream ends with it
        return block
    packer = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
    return block + packer.compress(payload[length:]) + packer.flush()


def _httpx_reads(chunks: list[bytes]) -> bytes | None:
    """What httpx's own DeflateDecoder makes of a body read in `chunks` (None: it raises a DecodingError)."""
    from httpx._decoders import DeflateDecoder

    decoder = DeflateDecoder()
    try:
        return b"".join(decoder.decode(chunk) for chunk in chunks) + decoder.flush()
    except httpx.DecodingError:
        return None


def _toolkit_reads(chunks: list[bytes]) -> bytes | None:
    decoder = ContentDecoder(["deflate"], 1 << 20)
    try:
        return b"".join(decoder.feed(chunk) for chunk in chunks)
    except Broken:
        return None


def test_v3_f2_deflate_is_read_as_httpx_reads_it_zlib_first_then_raw_whatever_its_first_bytes_look_like():
    """Pass V3, F2: a raw deflate body whose first two bytes also pass as a zlib header (a stored block with padding
    bits set: `08 1d 00 e2 ff`) was called Broken (the decoder chose zlib by the header's look alone), while httpx and
    curl read it after their zlib-then-raw fallback: the correct server was blamed (no-server-error). The one decoder
    now reads deflate as httpx's DeflateDecoder does, for every such opening, whole or in chunks."""
    payload = json.dumps({"success": True, "data": {"id": "m1", "status": "queued", "pad": "x" * 400}}).encode()
    zlib_looking = 0
    for first in range(0, 256):
        if first & 0b110:  # not a stored block
            continue
        passes = (-(first << 8)) % 31  # a length whose low byte makes the first two bytes a zlib header's check
        for length in (1, 255, 287, passes, passes + 31, passes + 93):
            body = _stored_first(first, length, payload)
            zlib_looking += (first & 0x0F == 8 and ((first << 8) | body[1]) % 31 == 0)
            for cut in (None, 2, 3, 7, 40):  # whole, or in two reads as they came (the first of two bytes at least)
                chunks = [body] if cut is None else [body[:cut], body[cut:]]
                assert _toolkit_reads(chunks) == _httpx_reads(chunks), (first, length, cut)
            if first & 1 == 0 or length == 287:  # (a final block shorter than the payload leaves bytes after it)
                assert decoded(body, ["deflate"], 1 << 20)[0] == (payload if first & 1 == 0 else payload[:length])
    assert zlib_looking >= 16 * 3  # the openings that pass as a zlib header were among them
    assert decoded(zlib.compress(payload), ["deflate"], 1 << 20)[0] == payload  # zlib stays zlib
    with pytest.raises(Broken):  # neither as zlib nor raw: no client reads it
        decoded(b"\x78\x9c" + b"\xff" * 40, ["deflate"], 1 << 20)
