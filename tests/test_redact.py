"""Keys stay out of every output: in every encoding, and whatever cuts the text afterwards."""

import base64
import json
from urllib.parse import quote, quote_plus

import pytest
from click.testing import CliRunner

from migma_contract.cli import main
from migma_contract.core.redact import REDACTED, Redactor, strip_credentials, url_credentials

from . import hostile_servers as hostile

KEY = "mc_live/LEAK+secret=0123456789abcdefXYZ"
CRLF_KEY = "mc_live_CRLF\r\nX-Injected: 0123456789"


def windows(text: str, size: int = 20) -> list[str]:
    return [text[i:i + size] for i in range(len(text) - size + 1)]


def leaks(secret_forms, text: str) -> list[str]:
    """Every 20-character stretch of a secret (in any of its forms) still in `text`."""
    return [window for form in secret_forms for window in windows(form) if window in text]


FORMS = {
    "raw": KEY,
    "json-escaped-slash": json.dumps(KEY).strip('"').replace("/", "\\/"),
    "json-unicode-escapes": "".join(f"\\u{ord(ch):04x}" for ch in KEY),
    "double-escaped-json": json.dumps(json.dumps(KEY).replace("/", "\\/")).strip('"'),
    "percent-encoded": quote(KEY, safe=""),
    "percent-encoded-lowercase": quote(KEY, safe="").lower(),
    "form-encoded": quote_plus(KEY),
    "html-entities": "".join(f"&#x{ord(ch):x};" for ch in KEY),
    "python-repr-of-bytes": repr(KEY.encode()),
    "base64": base64.b64encode(KEY.encode()).decode(),
    "base64-basic-api": base64.b64encode(f"api:{KEY}".encode()).decode(),
    "base64-any-user": base64.b64encode(f"someone:{KEY}".encode()).decode(),
    "base64-after-two-bytes": base64.b64encode(f"u:{KEY}".encode()).decode(),
    "base64-url-safe": base64.urlsafe_b64encode(f"x{KEY}".encode()).decode(),
}


@pytest.mark.parametrize("form", FORMS.values(), ids=FORMS.keys())
def test_every_encoding_of_the_key_is_masked(form):
    shown = Redactor([KEY]).text(f"before {form} after")
    assert REDACTED in shown and shown.startswith("before ") and shown.endswith(" after")
    assert not leaks([KEY, form], shown)


@pytest.mark.parametrize(
    "form",
    [repr(f"Bearer {CRLF_KEY}".encode()), repr(CRLF_KEY), json.dumps(CRLF_KEY), "mc_live_CRLF\\x0d\\x0aX-Injected: 0123456789"],
    ids=["httpx-error-repr", "str-repr", "json", "made-visible"],
)
def test_a_key_with_control_characters_is_masked_in_its_escaped_forms(form):
    """httpx quotes an unsendable header with repr(): the error text then holds `\\r\\n`, not CR LF."""
    shown = Redactor([CRLF_KEY]).text(f"Invalid header value {form}")
    assert "0123456789" not in shown and "mc_live_CRLF" not in shown


def test_text_that_arrived_cut_loses_the_start_of_a_key_at_its_end():
    redactor = Redactor([KEY])
    assert redactor.text("body ... " + KEY[:25], cut=True) == "body ... " + REDACTED
    assert redactor.text("body ... mc_", cut=True) == "body ... mc_"  # too short to be told from text
    assert redactor.text("body ... " + KEY[:25]) == "body ... " + KEY[:25]  # only when it arrived cut


@pytest.mark.parametrize("name", ["Authorization", "Proxy-Authorization", "Cookie", "Set-Cookie", "X-API-Key", "api-key"])
def test_a_credential_header_is_masked_whatever_it_holds(name):
    # a key the run was not given (another client's, seen through the proxy) is masked too
    redactor = Redactor([KEY])
    assert redactor.header_value(name, "someone-elses-key-4242") == REDACTED
    assert redactor.header_value(name, "Bearer someone-elses-key-4242") == f"Bearer {REDACTED}"
    assert redactor.headers({name.upper(): "sk_other_0001"}) == {name.upper(): REDACTED}
    assert redactor.header_value("X-Request-Id", "req-4242") == "req-4242"


@pytest.mark.parametrize("name", ["api_key", "api-key", "apikey", "API_KEY", "key", "token", "Token", "access_token"])
def test_a_url_loses_its_credentials_and_key_like_query_values(name):
    url = f"https://user:pass@api.example.com/v1?page=2&{name}=sk_other_0001&x=1#top"
    assert strip_credentials(url) == f"https://api.example.com/v1?page=2&{name}={REDACTED}&x=1#top"
    assert strip_credentials("https://api.example.com/v1?page=2") == "https://api.example.com/v1?page=2"


@pytest.mark.parametrize("text", [
    "https://admin:Int3rnalPw@internal.example/v1", "Location: http://admin:Int3rnalPw@internal.example/",
    '{"next": "https:\\/\\/admin:Int3rnalPw@internal.example"}', "<ftp://admin:Int3rnalPw@files.example>; rel=alt",
])
def test_pass_r3_f4_a_urls_userinfo_is_masked_wherever_a_url_stands_in_written_text(text):
    """Pass R3, F4: a URL's userinfo is a credential wherever the URL stands (a server's Location, a link in a body),
    known or not: every written text masks it, as the userinfo of the exchange's own URL is hidden."""
    assert "Int3rnalPw" not in Redactor().text(text) and "admin" not in Redactor().text(text)
    assert "Int3rnalPw" in url_credentials(text) and "admin:Int3rnalPw" in url_credentials(text)
    assert Redactor().text("mail news@example.com, see https://example.com/a@b?x=1") == \
        "mail news@example.com, see https://example.com/a@b?x=1"


def test_pass_r3_f4_the_userinfo_of_a_url_is_read_as_it_is_sent_percent_decoded():
    found = set(url_credentials("https://svc:p%40ss%2Fw0rd12@h.example/"))
    assert found >= {"p@ss/w0rd12", "svc:p@ss/w0rd12"}
    assert "svc" not in found  # the user name beside a password is no secret (pass U3, F5)
    assert url_credentials("https://tok_0123456789abcdef@h.example") == ["tok_0123456789abcdef"]
    assert url_credentials("/v1/sending/a@b") == url_credentials("https://h.example/?to=a@b.example") == []


VENDOR_TOKENS = {
    "github": "ghp_" + "A1b2C3d4E5" * 4,
    "github-fine-grained": "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz",
    "aws-access-key-id": "AKIAIOSFODNN7EXAMPLE",
    "slack": "xoxb-1234567890-0987654321-AbCdEfGhIjKl",
    "stripe": "sk_live_" + "4eC39HqLyjWDarjtT1zdp7dc",
    "google": "AIza" + "SyA-1234567890abcdefghijklmnopqrstu",
    "sendgrid": "SG.abcdefghijklmnop_qrstu.vwxyz0123456789ABCDEFGHIJ",
    "jwt": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
}


@pytest.mark.parametrize("token", VENDOR_TOKENS.values(), ids=VENDOR_TOKENS.keys())
def test_a_token_an_issuer_marks_by_its_prefix_is_masked_in_free_text(token):
    """A server that echoes another credential in an error message: no header name or JSON key says so."""
    for text in (f"upstream said: invalid credential {token}, try again", f'{{"error": "{token}"}}', f"token={token}"):
        shown = Redactor([KEY]).text(text)
        assert REDACTED in shown and token[4:16] not in shown
        assert shown.replace(REDACTED, token) == text  # the token alone is masked


def test_a_token_prefix_inside_a_longer_word_is_not_a_token():
    text = "the field sendgrid_SG.x and maskghp_short and AKIA1234 stay: they are no credentials"
    assert Redactor([KEY]).text(text) == text


def test_ordinary_text_is_left_alone():
    text = '{"success": false, "error": "bad request", "data": null} dGhpcyBpcyBiYXNlNjQ= 100% & \\n'
    assert Redactor([KEY]).text(text) == text


# --- a server that puts the key where cuts and encodings used to let it through ------------------------


def _leaky(request: bytes) -> bytes:
    head = request.split(b"\r\n\r\n", 1)[0].decode("latin-1")
    key = next((line.split(" ", 2)[2] for line in head.split("\r\n") if line.lower().startswith("authorization: bearer ")), "none")
    escaped, percent = key.replace("/", "\\/"), quote(key, safe="")
    based = base64.b64encode(f"user:{key}".encode()).decode()
    error = "e" * 130 + key  # straddles the 160-character cut of the one-line summary (30 characters before it)
    start = f'{{"success": false, "error": "{error}", "json": "{escaped}", "pct": "{percent}", "b64": "{based}", "pad": "'
    body = start + "p" * (4096 - 12 - len(start)) + key + '"}'  # straddles the 4096-byte excerpt
    return hostile.response("400 Bad Request", body.encode(), X_Echo_Json=escaped, X_Echo_Pct=percent, X_Echo_B64=based)


@pytest.mark.e2e
def test_no_output_holds_the_key_cut_escaped_percent_encoded_or_in_base64(tmp_path):
    reports = tmp_path / "reports"
    with hostile.raw_server(hostile.each_request(_leaky)) as url:
        done = CliRunner().invoke(main, ["check", "--base-url", url, "--api-key", KEY, "--report-dir", str(reports),
                                         "--max-requests", "12", "--no-explore", "--timeout", "5"])
    assert done.exit_code == 1, done.output
    outputs = {"stdout": done.stdout, "stderr": done.stderr} | {p.name: p.read_text() for p in reports.iterdir()}
    assert len(outputs) == 6
    forms = [KEY, KEY.replace("/", "\\/"), quote(KEY, safe=""), base64.b64encode(f"user:{KEY}".encode()).decode()]
    for name, text in outputs.items():
        assert not leaks(forms, text), name
    assert "e" * 100 in outputs["conformance.json"] and REDACTED in outputs["conformance.json"]


def _case_forms(word):
    return {word, word.upper(), word.capitalize(), f"x{word.capitalize()}", f"X-{word.upper()}"}


def test_the_quick_test_before_the_pair_search_passes_over_no_credential_name():
    # A text is searched pair by pair only when a credential word may be in it (speed); every word of the
    # catalogue of credential names, in any case, as a JSON key or a parameter, must still be found.
    from migma_contract.core import redact

    words = {*redact._CREDENTIAL_PARTS, *redact._CREDENTIAL_ENDINGS}
    for word in sorted(words):
        for name in _case_forms(word):
            if not redact.credential_name(name):
                continue  # the name's own parts decide (a cased form may split differently): only the skip is tested here
            for text in (f'{{"{name}": "val-Secret-0042"}}', f"a=1&{name}=val-Secret-0042"):
                assert redact.secrets_by_shape(text) == ["val-Secret-0042"], text
    assert redact.secrets_by_shape("https://h/cb?CODE=val-Secret-0042") == ["val-Secret-0042"]
    assert not redact._may_name_credentials('{"recipientType": "email", "from": "a@b.c", "subject": "Hi"}')


def test_a_long_name_is_judged_every_time_and_not_kept():
    from migma_contract.core import redact

    before = redact._credential_name_cached.cache_info().currsize
    assert redact.credential_name("x" * 200 + "Token") and not redact.credential_name("x" * 200 + "Tokenish")
    assert redact._credential_name_cached.cache_info().currsize == before  # a hostile header's name is never kept


def test_the_patterns_cost_about_five_characters_per_secret_character(monkeypatch):
    """Attack pass (M1): each secret was compiled into ~14 pattern characters per character (plain, any case, and nine
    base64 forms: three alignments in two alphabets, three whole encodings); the alphabets now share one pattern and a
    core found inside any encoding stands for the whole ones."""
    import migma_contract.core.redact as redact

    compiled = []
    real = redact._compile
    monkeypatch.setattr(redact, "_compile", lambda pattern: compiled.append(len(pattern)) or real(pattern))
    secrets = [f"{n:04d}_" + "k9/+Z" * 20 for n in range(32)]
    redactor = Redactor(secrets)
    assert redactor.text(f"a%20b &amp; {secrets[3]}") == f"a%20b &amp; {REDACTED}"  # every pattern, any case too
    assert 0 < sum(compiled) <= 6.5 * sum(map(len, secrets))


@pytest.mark.parametrize("encode", [base64.b64encode, base64.urlsafe_b64encode])
@pytest.mark.parametrize("prefix", [b"", b"a", b"ab", b"api:", b"user:"])
def test_a_key_in_base64_is_masked_in_either_alphabet_at_any_alignment(encode, prefix):
    key = "mc_live_4f9a8b7c~~>>??6d5e4f3a2b1c"
    text = encode(prefix + key.encode()).decode()
    assert key not in Redactor([key]).text(text) and REDACTED in Redactor([key]).text(f"x {text} y")
    shown = Redactor([key]).text(f"x {text} y")
    assert len(shown.replace(REDACTED, "")) <= len("x  y") + 8  # at most the prefix's own characters are left


def test_a_secret_longer_than_any_key_is_masked_by_a_literal_search_and_compiled_into_nothing(monkeypatch):
    import migma_contract.core.redact as redact

    compiled = []
    real = redact._compile
    monkeypatch.setattr(redact, "_compile", lambda pattern: compiled.append(len(pattern)) or real(pattern))
    long = "K" * 16_000 + "1"
    assert Redactor([long]).text(f"a {long} b {long}") == f"a {REDACTED} b {REDACTED}"
    assert not compiled


def test_a_credential_value_cut_where_the_text_ends_is_masked_to_the_end():
    """A body redacted up to a window can end inside a long value under a credential's name: its start was shown."""
    assert Redactor().text('{"apiKey": "00005AAAAAAAAAAAAAAAAA') == '{"apiKey": "[REDACTED]'
    assert Redactor().text('{\\"token\\": \\"abcdefgh12345') == '{\\"token\\": \\"[REDACTED]'
    assert Redactor().text('{"subject": "Hello there') == '{"subject": "Hello there'


def _runs_of_unseen_characters() -> list[str]:
    """The first and last character of each run of code points `clean_text` marks as unseen (past the C1 controls;
    not the line and paragraph separators and the non-characters, which it marks as controls)."""
    from migma_contract.core.untrusted import clean_text

    chosen, previous = [], -2
    for code in range(0xA0, 0x110000):
        if 0xD800 <= code <= 0xDFFF or code in (0x2028, 0x2029, 0xFFFE, 0xFFFF) or clean_text(chr(code)) == chr(code):
            continue
        if code != previous + 1:
            if chosen and chosen[-1] != chr(previous):
                chosen.append(chr(previous))
            chosen.append(chr(code))
        previous = code
    chosen.append(chr(previous))
    return chosen


@pytest.mark.parametrize("split", _runs_of_unseen_characters(), ids=lambda ch: f"U+{ord(ch):04X}")
def test_a_key_split_by_any_character_the_outputs_count_unseen_is_masked(split):
    """Pass C, finding 5: `mc_liv\\u00ade_SECRET...` was written with the toolkit's own visible marker for the soft
    hyphen, which made the key readable. Then the redactor kept a list of its own: a key split by U+FFF9 (interlinear
    annotation), U+0600 or U+1D173 (format characters `clean_text` marks) was left whole in the text (17 of these
    failed); it reads every character of the outputs' one list."""
    key = "mc_live_SECRETKEY123456"
    shown = Redactor([key]).text(f"bad key {key[:6]}{split}{key[6:14]}{split}{key[14:]} / end")
    assert REDACTED in shown and "SECRET" not in shown and shown.startswith("bad key ") and shown.endswith(" / end")


def test_a_key_echoed_in_another_case_is_masked():
    key = "mc_live_SECRETKEY123456"
    assert Redactor([key]).text(f"invalid: {key.upper()} or {key.lower()}") == f"invalid: {REDACTED} or {REDACTED}"


def test_a_key_percent_encoded_twice_is_masked():
    """Seventh attack pass (D, finding 2): a key in a URL inside a URL (`%252B`) was written to three reports."""
    from urllib.parse import quote

    key = "AbCdEf1234+gHiJkL/5678mNoP="
    twice = quote(quote(key, safe=""), safe="")
    shown = Redactor([key]).text(f"?return=https%3A%2F%2Fx%3Fnext%3D{twice} end")
    assert "gHiJkL" not in shown and REDACTED in shown and shown.endswith(" end")
    assert Redactor([key]).text("100%25 done %2541") == "100%25 done %2541"


@pytest.mark.parametrize("prefix", [b"", b"user:", b"a" * 50 + b":"])
def test_a_key_in_base64_wrapped_in_lines_is_masked(prefix):
    """Ninth attack pass (E, finding 3): base64 wrapped at 76 columns (MIME, PEM) with a line break inside the key's
    part reached the reports; the base64 cores matched unbroken runs only."""
    key = "sk_live_Zq9VerySecretKey12345"
    wrapped = base64.encodebytes(prefix + key.encode() + b" and more text, wrapped past seventy-six columns").decode()
    shown = Redactor([key]).text(f"mime:\n{wrapped}end")
    assert REDACTED in shown
    joined = shown.replace("\n", "").replace(REDACTED, "")
    assert key.encode() not in base64.b64decode(joined + "=" * (-len(joined) % 4), validate=False)
    assert Redactor([key]).text("line one\nline two") == "line one\nline two"


@pytest.mark.parametrize("case", [str.lower, str.upper])
def test_a_key_echoed_in_hexadecimal_is_masked(case):
    """Pass H, M3: a server echoing the request's Authorization as a hex dump put the key into every report."""
    key = "mc_live_4f9a8b7c6d5e4f3a2b1c"
    echoed = case(f"Bearer {key}".encode().hex())
    shown = Redactor([key]).text(f"debug: {echoed} end")
    assert case(key.encode().hex()) not in shown and REDACTED in shown and shown.endswith(" end")
    assert Redactor([key]).text("id 0123456789abcdef0123") == "id 0123456789abcdef0123"  # other hex stays


@pytest.mark.parametrize("wrapped", ['"{}"', "'{}'", "`{}`", "<{}>", "[{}]", "({})", "\"'{}'\""])
def test_a_secret_given_quoted_is_masked_where_it_is_echoed_bare(wrapped):
    """Red-team pass N2, F1: a key kept in its quotes (`docker run --env-file` keeps them; a recorded `Bearer "k_..."`)
    was learned as given only; a server echoing it without its quotes had the bare key written."""
    key = "k_live_SECRETQUOTED12345"
    shown = Redactor([wrapped.format(key)]).text(f"401 Invalid API key {key}; was {wrapped.format(key)}")
    assert "SECRETQUOTED" not in shown and shown.startswith("401 Invalid API key ")


# -- another process's secrets, known by keyed digests only (a state merged into one report) --------------------------

def _digested(secrets, salt: bytes = b"0123456789abcdef") -> Redactor:
    """A redactor that knows `secrets` only as another process's state carries them (read back from JSON)."""
    redactor = Redactor()
    redactor.add_digests(salt, json.loads(json.dumps(Redactor(secrets).digests(salt))))
    return redactor


DIGESTED_FORMS = {**FORMS, "upper-case": KEY.upper(), "hexadecimal": KEY.encode().hex(),
                  "hexadecimal-upper": KEY.encode().hex().upper(),
                  "base64-wrapped": base64.b64encode(f"api:{KEY}".encode()).decode()[:12] + "\r\n"
                  + base64.b64encode(f"api:{KEY}".encode()).decode()[12:]}


@pytest.mark.parametrize("form", DIGESTED_FORMS.values(), ids=DIGESTED_FORMS.keys())
def test_pass_s5_f2_a_secret_known_by_digests_is_masked_in_every_encoding_as_in_clear(form):
    """Pass S5, F2: another process's secret, known by the keyed digests its state carries, is masked in every form the
    redactor masks a secret it knows in clear."""
    shown = _digested([KEY]).text(f"before {form} after")
    assert REDACTED in shown and shown.startswith("before ") and shown.endswith(" after")
    assert not leaks([KEY, form], shown)
    assert Redactor([KEY]).text(f"before {form} after") == shown


@pytest.mark.parametrize("secret", ["pw42", "hunter22", "pass word 12", "Zq8WmP2xK7vR4tY9", "ключ-секрет-0042", "".join(f"{i:04d}" for i in range(180))])
def test_pass_s5_f2_secrets_of_every_length_are_masked_by_their_digests(secret):
    """Short secrets (whole base64 credentials, padded), spaces (form-encoded `+`), non-ASCII, one past `LONGEST_KEY`."""
    forms = [secret, secret.upper(), secret.replace(" ", "+"), base64.b64encode(f"api:{secret}".encode()).decode(),
             secret.encode().hex()]
    for form in forms[:1] if len(secret) > 512 else forms:
        shown = _digested([secret]).text(f"echo: {form};")
        assert REDACTED in shown and shown == Redactor([secret]).text(f"echo: {form};"), (form, shown)


def test_pass_s5_f2_digests_hold_no_form_of_a_secret_and_differ_by_salt():
    """A state carries neither a secret nor any form of it that gives it back: digests of whole anchors (never shorter
    prefixes), keyed by a salt of its own."""
    digests = json.dumps(Redactor([KEY]).digests(b"salt-one-1234567"))
    forms = [KEY, KEY.lower(), KEY.encode().hex(), base64.b64encode(KEY.encode()).decode(),
             base64.b64encode(f"api:{KEY}".encode()).decode(), quote(KEY, safe="")]
    assert not [window for form in forms for window in windows(form, 6) if window in digests]
    assert json.loads(digests) != Redactor([KEY]).digests(b"salt-two-1234567")
    assert all(length >= 4 for credential in json.loads(digests) for _, length, _ in credential)


def test_pass_s5_f2_a_key_cut_after_its_anchor_is_masked_and_unknown_text_is_not():
    redactor = _digested([KEY])
    assert redactor.text("body: " + KEY[:26] + "…\n… [cut]") == "body: " + REDACTED
    text = "ordinary text, ids msg_0123456789abcdef and YWJjZGVmZ2hpamtsbW5vcA== stay as they are"
    assert redactor.text(text) == text


@pytest.mark.parametrize("digests", [
    "not a list", [["plain", 20, "x"]], [[["plain", 2, "AAAAAAAAAAAAAAAA"]]], [[["other", 20, "AAAAAAAAAAAAAAAA"]]],
    [[["plain", 20, "AAAA"]]], [[["plain", True, "AAAAAAAAAAAAAAAA"]]], [[]], [[["plain", 20, "AAAAAAAAAAAAAAAA"]] * 17],
])
def test_pass_s5_f2_digests_of_another_shape_are_refused_whole(digests):
    redactor = Redactor()
    with pytest.raises(ValueError):
        redactor.add_digests(b"0123456789abcdef", digests)
    assert redactor.digested == 0 and redactor.text("some text") == "some text"
