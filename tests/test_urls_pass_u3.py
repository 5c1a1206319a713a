"""Pass U3 (F2, F3, F4, F6): a URL the user gives is read as it is sent to, and the production guard reads addresses.

IPv6 zones are connected to decoded (`%25eth0` is the zone `eth0`), A-labels httpx's send path cannot decode are refused
up front, the whitespace a shell leaves around a URL is dropped and a character refused is named visibly, and an IP
literal is guarded in any spelling the lookup reads as the same address.
"""

import pytest
from click.testing import CliRunner

from migma_contract import ConfigError
from migma_contract.cli import main
from migma_contract.config.options import OPTIONS
from migma_contract.wire.urls import check_url, guard_production, host_of, lookup_host, usable_url

BASE_URL = next(o for o in OPTIONS if o.name == "base_url")


# --- F2: an IPv6 zone is connected to as the lookup reads it ----------------------------------------------------------


@pytest.mark.parametrize("given, sent", [
    ("http://[fe80::fc:ff:fe00:1%25eth0]:4010/", "http://[fe80::fc:ff:fe00:1%eth0]:4010/"),
    ("http://u:p%25w@[fe80::1%25en0]/v1", "http://u:p%25w@[fe80::1%en0]/v1"),
    ("http://[fe80::1%eth0]:1", "http://[fe80::1%eth0]:1"),
    ("http://u:p%25x@h.example/%25", "http://u:p%25x@h.example/%25"),  # (no IPv6 literal: left as it is)
])
def test_pass_u3_f2_an_ipv6_zone_is_decoded_before_anything_connects(given, sent):
    """Pass U3, F2: check_url took `[fe80::...%25eth0]` (RFC 6874) but the proxy and the reachability check handed
    `fe80::...%25eth0` to getaddrinfo ("Name or service not known", exit 3; `%eth0` is what it reads)."""
    from migma_contract.traffic.proxy import TrafficProxy, _UpstreamParts

    assert usable_url(given) == sent
    assert BASE_URL.parse(given, "--base-url") == sent
    if "[" in given:
        assert "%25" not in lookup_host(BASE_URL.parse(given, "--base-url"))
        assert b"%25" not in _UpstreamParts(given).base.raw_host  # the proxy's own connections, given it directly
        assert b"%" not in TrafficProxy(given, None)._host  # its Host names no zone (RFC 6874 §4)


@pytest.mark.parametrize("url", ["http://[::1%~\u3002]:4010/", "http://[fe80::1%25]:1/", "http://[fe80::1%25e%20x]/",
                                 "http://[fe80::1%25\u00e9th0]/"])
def test_pass_u3_f2_a_zone_no_interface_has_is_refused(url):
    """Pass U3, F2: `[::1%~。]` passed validation, then the check failed "the request could not be sent
    (UnicodeEncodeError ...)"."""
    with pytest.raises(ConfigError, match=r"not a usable URL \((the zone of|a bracket holds)"):
        BASE_URL.parse(url, "--base-url")


# --- F3: an A-label httpx's send path cannot decode ----------------------------------------------------------------


@pytest.mark.parametrize("url", ["http://xn--ls8h.la:1/", "http://xn--a.com/"])
def test_pass_u3_f3_an_a_label_httpx_cannot_send_to_is_refused_up_front(url, tmp_path):
    """Pass U3, F3: check_url tried httpx's `raw_host` only; its send path decodes `.host` (IDNA 2008) and raised
    InvalidCodepoint after validation: "the request could not be sent". Now a usage error, exit 2, nothing sent."""
    with pytest.raises(ConfigError, match=r"not a usable URL \(its host cannot be encoded"):
        check_url(url, "--base-url")
    result = CliRunner().invoke(main, ["check", "--api-key", "k123456789", "--base-url", url, "--report-dir", str(tmp_path)],
                                catch_exceptions=False)
    assert result.exit_code == 2 and "not a usable URL" in result.output, result.output


# --- F4: what httpx reads is taken; what is refused is named ---------------------------------------------------------


@pytest.mark.parametrize("given", ["http://127.0.0.1:4010 ", "http://127.0.0.1:4010\n", "\thttp://127.0.0.1:4010",
                                   "http://127.0.0.1:4010\u00a0", "http://127.0.0.1:4010\r\n"])
def test_pass_u3_f4_whitespace_around_a_url_is_dropped(given, monkeypatch):
    """Pass U3, F4: a trailing space (httpx reads it) was refused "its host or port cannot be read; a password holding
    #, / or ? must be percent-encoded", a trailing newline from the environment "must be an http:// URL with a host
    ... not 'http://127.0.0.1:4010'"."""
    assert BASE_URL.parse(given, "MIGMA_CONTRACT_BASE_URL") == "http://127.0.0.1:4010"
    with pytest.raises(ConfigError, match=r"whitespace around it, '") as raised:
        check_url(given, "--base-url")  # (a caller that did not drop it is told so, the character shown escaped)
    assert str(raised.value).isprintable()


@pytest.mark.parametrize("url, said", [
    ("http://u:p[x]@127.0.0.1:4010/", "holds [ or ]: percent-encode them as %5B and %5D"),
    ("http://u:p\u00a0x@127.0.0.1:4010/", r"holds '\xa0' (U+00A0 NO-BREAK SPACE) at character 11"),
    ("http://127.0.0.1:4010/t\u00a0x", r"holds '\xa0' (U+00A0 NO-BREAK SPACE) at character 24"),
    ("http://127.0.0.1:4010/t\nx", r"holds '\n' (U+000A a control character) at character 24"),
    ("http://127.0.0.1:4010/\u200b", r"holds '\u200b' (U+200B ZERO WIDTH SPACE)"),
    ("http://h:99999/", "its port is past 65535"),
    ("http://[::1/", "a bracket holds no IPv6 address"),
])
def test_pass_u3_f4_a_refused_url_names_what_is_refused_visibly(url, said):
    """Pass U3, F4: these were refused with a reason naming neither cause ("must be an http:// or https:// URL with a
    host ... not 'http://127.0.0.1:4010'", the character invisible, the credentials stripped)."""
    with pytest.raises(ConfigError) as raised:
        check_url(url, "--base-url")
    message = str(raised.value)
    assert said in message and "must be an http://" not in message, message
    assert message.isprintable() and "\u00a0" not in message


# --- F6: an IP literal is guarded as an address ------------------------------------------------------------------


@pytest.mark.parametrize("server, url", [
    ("https://[2001:db8::5]", "http://[2001:db8:0:0:0:0:0:5]:443"),
    ("https://[2001:db8::5]", "http://[2001:DB8::0005]/v1"),
    ("https://10.0.0.5", "http://10.0.5"),
    ("https://10.0.0.5", "http://167772165"),
    ("https://10.0.0.5", "http://0x0a.0.0.5"),
    ("https://10.0.0.5", "http://012.0.0.5"),
    ("https://10.0.0.5", "http://[::ffff:10.0.0.5]"),
    ("https://[::ffff:10.0.0.5]", "http://10.0.0.5"),
])
def test_pass_u3_f6_the_production_guard_compares_ip_literals_as_addresses(server, url):
    """Pass U3, F6: the guard compared hosts as text: another spelling of a document server's address (one getaddrinfo
    reads as the same address) passed it."""
    assert host_of(url) == host_of(server)
    with pytest.raises(ConfigError, match="production host"):
        guard_production(url, [server], allowed=False)


@pytest.mark.parametrize("url", ["http://10.0.0.6", "http://[2001:db8::6]", "http://10.0.0.5.example", "http://cafe"])
def test_pass_u3_f6_other_addresses_and_names_pass_the_guard(url):
    guard_production(url, ["https://10.0.0.5", "https://[2001:db8::5]"], allowed=False)  # (no exception)


# --- F5: the upstream URL's user name is no secret; a short password is masked as a whole token --------------------


@pytest.mark.parametrize("userinfo, text, shown", [
    ("data:secretpw", "/data/status: expected `data.status` present", "/data/status: expected `data.status` present"),
    ("user:sent", "expected `data.status` present and in sent, queued", "expected `data.status` present and in [REDACTED], queued"),
    ("queued:secretpw", "in sent, queued, processing", "in sent, queued, processing"),
    ("admin:hunter2", "administrators, hunter2x and hunter2", "administrators, hunter2x and [REDACTED]"),
])
def test_pass_u3_f5_an_upstream_user_name_and_short_password_mask_no_ordinary_word(userinfo, text, shown):
    """Pass U3, F5: `--upstream http://data:secretpw@...` wrote "/[REDACTED]/status ... expected `[REDACTED].status`",
    password `sent` "pre[REDACTED]": the user name was learned as a secret, a 4-character password masked inside words.
    The user name beside a password is no secret; a password shorter than 8 characters (or a word) is masked as a
    whole token; the pair, the Basic value and a longer password as before."""
    import base64

    from migma_contract import contract_for
    from migma_contract.config.options import user_redactor
    from migma_contract.traffic.proxy import TrafficProxy
    from migma_contract.traffic.tally import TrafficJudge

    judge = TrafficJudge(contract_for(), "documented", kind="proxy", label="test proxy")
    url = f"http://{userinfo}@127.0.0.1:1"
    TrafficProxy(url, judge)
    password = userinfo.partition(":")[2]
    basic = base64.b64encode(userinfo.encode()).decode()
    for redactor in (judge.redactor, user_redactor({"base_url": url})):  # the proxy's judge, and every writer's
        assert redactor.text(text) == shown
        assert _all_masked(redactor.text(f"{userinfo} {password} Basic {basic} {password.upper()}"))
        assert redactor.text(f"pre{password}nt") == f"pre{password}nt"  # never inside a word


def _all_masked(text: str) -> bool:
    return set(text.split()) <= {"[REDACTED]", "Basic"}


@pytest.mark.parametrize("url, masked", [("http://tok_12345678abcd@h/", "tok_12345678abcd"), ("http://u:s3cr3t-pass-1@h/", "s3cr3t-pass-1")])
def test_pass_u3_f5_a_token_alone_and_a_long_password_are_masked_anywhere(url, masked):
    """Pass U3, F5 (what stays): a token in the user name's place (no password) and a password of 8 characters or more
    holding a digit are masked wherever they stand, inside longer text too."""
    from migma_contract.config.options import user_redactor

    assert masked not in user_redactor({"base_url": url}).text(f"x{masked}y and {masked.upper()}")
