"""What rule email-format counts as an address."""

import pytest

from migma_contract.contract.email import is_email_address


@pytest.mark.parametrize(
    "address",
    [
        "a@example.com",
        "first.last+tag@sub.example.co.uk",
        "o'neil@example.org",
        "jürgen@example.de",
        "用户@例子.广告",
        '"quoted local"@example.com',
        "user@[192.0.2.1]",
        "x@localhost",
    ],
)
def test_addresses(address):
    assert is_email_address(address)


@pytest.mark.parametrize(
    "value",
    [
        "",
        "no-at-sign.example.com",
        "two@at@example.com",
        "has space@example.com",
        "trailing@example.com ",
        "@example.com",
        "local@",
        ".dot@example.com",
        "dot.@example.com",
        "two..dots@example.com",
        "a@-bad.example.com",
        "a@example..com",
        "tab\t@example.com",
        '"unterminated@example.com',
        None,
        5,
    ],
)
def test_not_addresses(value):
    assert not is_email_address(value)


@pytest.mark.parametrize(("address", "valid"), [
    # RFC 1035 §2.3.4: a label of at most 63 octets; RFC 5321 §4.5.3.1: a local part of at most 64, a domain of 255
    ("a@" + "l" * 63 + ".com", True),
    ("a@" + "l" * 64 + ".com", False),
    ("a@example." + "l" * 63, True),
    ("a@example." + "l" * 64, False),
    ("l" * 64 + "@example.com", True),
    ("l" * 65 + "@example.com", False),
    ('"' + "l" * 64 + '"@example.com', True),
    ('"' + "l" * 65 + '"@example.com', False),
    ("a@" + ".".join(["d" * 63] * 3 + ["d" * 61, "d"]), True),  # 255 octets
    ("a@" + ".".join(["d" * 63] * 3 + ["d" * 62, "d"]), False),  # 256
])
def test_length_limits_at_their_boundary(address, valid):
    assert is_email_address(address) is valid
