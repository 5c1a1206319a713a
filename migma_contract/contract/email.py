"""What counts as an email address for rule `email-format`.

JSON Schema 2020-12 reads `format: email` as RFC 5321's `Mailbox` (`Local-part "@"
( Domain / address-literal )`), and the usual checkers are either too lax (any string
with an `@`, or an RFC 5322 header parser taking `Name <a@b.c>`) or reject
internationalised addresses. The contract needs a precise line: plain `local@domain`
addresses (dot-atom local part, ASCII or not) are addresses; a string in one of the
classes of `NOT_MAILBOX` (each a way to miss the grammar: nothing at all, no `@`, a part
missing, two `@`, white space, a display name, angle brackets, a comment) is clearly
not. Exotic-but-legal forms (quoted local parts, IP-literal domains) are accepted here so
the toolkit never calls them invalid; the test plan never asserts them either way.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

__all__ = ["FAST_ADDRESS_SCHEMA", "NOT_MAILBOX", "NotMailbox", "is_clearly_not_address", "is_email_address",
           "is_plain_address", "not_mailboxes"]

_ATEXT_SPECIALS = frozenset("!#$%&'*+-/=?^_`{|}~")
_MAX_LOCAL_OCTETS = 64
_MAX_DOMAIN_OCTETS = 255
_MAX_LABEL = 63


MAX_ADDRESS = 320  # no Mailbox is longer (RFC 5321: a Path is at most 256 octets): longer is decided without a pattern


def is_email_address(value: object) -> bool:
    """True when `value` is an RFC 5321/6531 mailbox (`local@domain`)."""
    if not isinstance(value, str) or not value or len(value) > MAX_ADDRESS:
        return False
    # Real traffic repeats its addresses (a sender, a list's recipients): decided once each.
    return _cached_address(value) if len(value) <= _MAX_CACHED else _is_address(value)


_MAX_CACHED = 320  # longer than any address (RFC 5321: 254), so a huge string is never kept


@lru_cache(maxsize=4096)
def _cached_address(value: str) -> bool:
    return _is_address(value)


def _is_address(value: str) -> bool:
    if value.startswith('"'):
        local, domain = _split_quoted(value)
    else:
        local, _, domain = value.rpartition("@")
        if "@" in local or not _is_dot_atom(local):
            return False
    if local is None or domain is None or not local:
        return False
    if len(local.encode("utf-8")) > _MAX_LOCAL_OCTETS + 2:  # +2 for the quotes of a quoted local part
        return False
    return _is_domain(domain)


# The WHATWG (HTML) address grammar, with at least one dot in the domain: what every
# reasonable server accepts. Anything between this and "clearly not" is left undecided.
_PLAIN = re.compile(
    r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+"
)


# What jsonschema-rs can accept on its own, without calling back into Python: an ASCII
# dot-atom local part at a domain of ASCII labels, 64 characters in all (so the local part
# is within its 64 octets and the domain within its 255). Everything it matches,
# `is_email_address` accepts too (a Hypothesis property test holds it to that); what it
# does not match is left to `is_email_address`. Anchored, and free of look-arounds, so the
# regex crate runs it (ECMA-262 and Rust syntax alike).
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
FAST_ADDRESS_SCHEMA = {"pattern": rf"^{_ATEXT}+(?:\.{_ATEXT}+)*@{_LABEL}(?:\.{_LABEL})*$", "maxLength": 64}


def is_plain_address(value: object) -> bool:
    """An address no reasonable server may refuse (ASCII dot-atom at a dotted domain)."""
    return isinstance(value, str) and _PLAIN.fullmatch(value) is not None and _is_dot_atom(value.rpartition("@")[0])


def is_clearly_not_address(value: object) -> bool:
    """A string no reasonable server may take for an address: one of the classes of `NOT_MAILBOX`."""
    return isinstance(value, str) and any(klass.matches(value) for klass in NOT_MAILBOX)


# --- the classes of strings that are not a Mailbox ------------------------------------------------------


def _unquoted(value: str) -> str:
    """`value` with a leading quoted local part made one plain atom (`"a b@c"@d` -> `q@d`): only there may `@`,
    white space and parentheses stand in a Mailbox."""
    if value.startswith('"'):
        local, domain = _split_quoted(value)
        if local is not None and domain is not None:
            return "q@" + domain
    return value


@dataclass(frozen=True)
class NotMailbox:
    """One way a string misses RFC 5321's `Mailbox`: how to build one from an address, and how to tell one."""

    name: str
    grammar: str  # what of the grammar it misses
    build: Callable[[str, str], str]  # (local part, domain) -> a string of the class
    test: Callable[[str], bool]  # whether a string (its leading quoted local part set aside) is of the class

    def matches(self, value: str) -> bool:
        return self.test(_unquoted(value))


def _display_name(value: str) -> bool:
    """`Name <mailbox>`: a non-blank name, one `<...>`, nothing but white space after (linear: a regular
    expression for it backtracks quadratically on a long string without `<`, holding the GIL for seconds)."""
    opened, closed = value.find("<"), value.find(">")
    return (value.count("<") == 1 and value.count(">") == 1 and 0 < opened < closed
            and bool(value[:opened].strip()) and not value[closed + 1:].strip())

NOT_MAILBOX: tuple[NotMailbox, ...] = (
    NotMailbox("empty", "no Mailbox at all", lambda local, domain: "", lambda v: not v),
    NotMailbox("no @", 'no "@" between Local-part and Domain', lambda local, domain: f"{local}.{domain}",
               lambda v: bool(v) and "@" not in v),
    NotMailbox("no local part", "an empty Local-part", lambda local, domain: f"@{domain}", lambda v: v.startswith("@")),
    NotMailbox("no domain", "an empty Domain", lambda local, domain: f"{local}@", lambda v: len(v) > 1 and v.endswith("@")),
    NotMailbox("two @", 'an "@" in a Dot-string (only a Quoted-string may hold one)',
               lambda local, domain: f"{local}@at@{domain}", lambda v: v.count("@") > 1),
    NotMailbox("white space around", "white space before or after the Mailbox (it has no FWS)",
               lambda local, domain: f" {local}@{domain}\n", lambda v: v != v.strip()),
    NotMailbox("white space inside", "white space in a Dot-string or a Domain (not atext)",
               lambda local, domain: f"{local} name@{domain}", lambda v: any(ch.isspace() for ch in v.strip())),
    NotMailbox("a display name", "an RFC 5322 name-addr (`Name <mailbox>`), a header's form, not a Mailbox",
               lambda local, domain: f"Contract Check <{local}@{domain}>", _display_name),
    NotMailbox("angle brackets", "an RFC 5321 Path (`<mailbox>`), the SMTP command's form, not a Mailbox",
               lambda local, domain: f"<{local}@{domain}>", lambda v: v.startswith("<") and v.rstrip().endswith(">")),
    NotMailbox("a comment", "an RFC 5322 comment (`(text)`), which RFC 5321 does not have",
               lambda local, domain: f"(comment){local}@{domain}", lambda v: "(" in v or ")" in v),
)


def not_mailboxes(valid: str) -> list[tuple[str, str]]:
    """One string of each class of `NOT_MAILBOX`, built from the address `valid`: (class name, string)."""
    local, _, domain = valid.rpartition("@")
    return [(klass.name, klass.build(local, domain)) for klass in NOT_MAILBOX]


def _is_atom_char(ch: str) -> bool:
    return (ch.isascii() and (ch.isalnum() or ch in _ATEXT_SPECIALS)) or (not ch.isascii() and ch.isprintable() and not ch.isspace())


def _is_dot_atom(local: str) -> bool:
    if not local or len(local.encode("utf-8")) > _MAX_LOCAL_OCTETS:
        return False
    return all(atom and all(_is_atom_char(ch) for ch in atom) for atom in local.split("."))


def _split_quoted(value: str) -> tuple[str | None, str | None]:
    """Split `"quoted local"@domain`; (None, None) when the quoting is broken."""
    index = 1
    while index < len(value):
        ch = value[index]
        if ch == "\\":
            index += 2
            continue
        if ch == '"':
            rest = value[index + 1 :]
            if not rest.startswith("@"):
                return None, None
            inner = value[1:index]
            if any(ord(c) < 32 or ord(c) == 127 for c in inner):
                return None, None
            return value[: index + 1], rest[1:]
        index += 1
    return None, None


def _is_domain(domain: str) -> bool:
    if not domain or len(domain.encode("utf-8")) > _MAX_DOMAIN_OCTETS:
        return False
    if domain.startswith("[") and domain.endswith("]"):
        inner = domain[1:-1]
        return bool(inner) and all(ch.isascii() and (ch.isalnum() or ch in ".:-") for ch in inner)
    labels = domain.split(".")
    for label in labels:
        if not label or len(label) > _MAX_LABEL or label[0] == "-" or label[-1] == "-":
            return False
        if not all((ch.isascii() and (ch.isalnum() or ch == "-")) or (not ch.isascii() and ch.isalnum()) for ch in label):
            return False
    return True
