"""The Host/Origin guard reads `host [":" port]` strictly, and Sec-Fetch-Site once (pass X1, F5).

urlsplit read `[::1]evil.com` and `[::1]]` as the loopback `::1`, and a Sec-Fetch-Site given twice was read by its last.
No browser sends these (a page sets neither Host nor Sec-Fetch-*): refused all the same, as a repeated Host or Origin is.
"""

import pytest

from migma_contract.wire.boundary import foreign_request, host_name

HOST = [(b"host", b"127.0.0.1")]


@pytest.mark.parametrize("value", ["[::1]evil.com", "[::1]]", "[[::1]", "[::1]:80x", "127.0.0.1]", "[::1]:80:80",
                                   "localhost:+80", "localhost:8 0"])
def test_x1_f5_a_host_with_text_after_its_ip_literal_or_a_stray_bracket_is_no_host(value):
    """Pass X1, F5 (t3_host.py): `Host: [::1]evil.com` and `Host: [::1]]` passed as loopback."""
    assert host_name(value) == ""
    assert foreign_request([(b"host", value.encode())], local_origins=True, dotless_hosts=False) is not None


@pytest.mark.parametrize("value", ["[::1]", "[::1]:4011", "127.0.0.1", "127.0.0.1:4011", "localhost", "LOCALHOST:80"])
def test_x1_f5_a_loopback_host_is_still_answered(value):
    assert foreign_request([(b"host", value.encode())], local_origins=True, dotless_hosts=False) is None


def test_x1_f5_an_origin_with_text_after_its_ip_literal_is_no_local_page():
    """Pass X1, F5 (t3_host.py): `Origin: http://[::1]evil.com` passed as a page on loopback."""
    assert foreign_request([*HOST, (b"origin", b"http://[::1]evil.com")], local_origins=True) is not None
    assert foreign_request([*HOST, (b"origin", b"http://[::1]:5173")], local_origins=True) is None


@pytest.mark.parametrize("sites", [[b"cross-site", b"none"], [b"none", b"none"], [b"same-origin", b"cross-site"],
                                   [b"nowhere"], [b"cross-site, none"], [b""]])
def test_x1_f5_a_sec_fetch_site_given_twice_or_not_one_of_its_values_is_refused(sites):
    """Pass X1, F5 (t3_host.py): `Sec-Fetch-Site: cross-site` then `Sec-Fetch-Site: none` was read by its last."""
    headers = [*HOST, *((b"sec-fetch-site", site) for site in sites)]
    assert foreign_request(headers, local_origins=True) is not None


@pytest.mark.parametrize("site", [b"none", b"same-origin", b"None "])
def test_x1_f5_one_sec_fetch_site_of_no_other_site_is_served(site):
    assert foreign_request([*HOST, (b"sec-fetch-site", site)], local_origins=True) is None
