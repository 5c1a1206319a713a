"""What rule email-format counts as an address."""

import re

import pytest

from migma_contract.contract.email import (
    FAST_ADDRESS_SCHEMA,
    NOT_MAILBOX,
    is_clearly_not_address,
    is_email_address,
    not_mailboxes,
)


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


# --- what is clearly not a Mailbox: classes from RFC 5321's grammar, not a list of examples (issue 25) -----------



PLAIN = ["recipient@example.com", "first.last+contract-check@sub.example.co.uk", "o'neil@example.org", "x@localhost",
         "jürgen@example.de"]
FAST = re.compile(FAST_ADDRESS_SCHEMA["pattern"])


def test_the_classes_are_the_ways_a_string_misses_rfc_5321_mailbox():
    assert [c.name for c in NOT_MAILBOX] == [
        "empty", "no @", "no local part", "no domain", "two @", "white space around", "white space inside",
        "a display name", "angle brackets", "a comment"]
    assert all(c.grammar for c in NOT_MAILBOX)  # each names what of the grammar it misses


@pytest.mark.parametrize("valid", PLAIN)
def test_each_class_built_from_any_address_is_no_address_and_clearly_so(valid):
    built = not_mailboxes(valid)
    assert [label for label, _ in built] == [c.name for c in NOT_MAILBOX]
    for (label, value), klass in zip(built, NOT_MAILBOX, strict=True):
        assert not is_email_address(value), (label, value)
        assert is_clearly_not_address(value), (label, value)
        assert klass.matches(value), (label, value)  # the class recognises what it builds
        assert not FAST.fullmatch(value), (label, value)  # nor does the Rust-side fast path take it
    assert not is_clearly_not_address(valid) and not any(c.matches(valid) for c in NOT_MAILBOX)


@pytest.mark.parametrize(("value", "klass"), [
    ("Ada Lovelace <ada@example.com>", "a display name"),
    ('"Lovelace, Ada" <ada@example.com>', "a display name"),
    ("Ada<ada@example.com>", "a display name"),
    ("<ada@example.com>", "angle brackets"),
    ("ada@example.com (Ada)", "a comment"),
    ("ada(work)@example.com", "a comment"),
    ("\tada@example.com", "white space around"),
    ("ada@example.com\n", "white space around"),
    ("ada @example.com", "white space inside"),
    ("@example.com", "no local part"),
    ("ada@", "no domain"),
    ("ada@work@example.com", "two @"),
])
def test_shapes_real_servers_accept_fall_in_their_class(value, klass):
    assert next(c for c in NOT_MAILBOX if c.name == klass).matches(value)
    assert is_clearly_not_address(value) and not is_email_address(value)


@pytest.mark.parametrize("legal", ['"quoted local"@example.com', '"a@b"@example.com', "user@[192.0.2.1]", "用户@例子.广告"])
def test_exotic_but_legal_addresses_are_not_clearly_invalid(legal):
    """Left undecided by the contract: never called clearly invalid (a quoted local part may hold @ and spaces)."""
    assert is_email_address(legal) and not is_clearly_not_address(legal)
