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
