"""What a recorder or a sanitizer writes in place of a value it hid: the one notion of a mask text, shared by the
recordings' reader (a credential header's value, a JSON body's string value) and the tally (an Idempotency-Key).

No list of masks is complete (Schemathesis writes `[Filtered]` or any `[output.sanitization] replacement` it is given:
`***REDACTED***`, `[SANITIZED]`; Cloudflare's har-sanitizer `[Authorization redacted]`; vcrpy's hooks the replacement
given: `REDACTED`, `XXXXXX`, `<email redacted>`), so a mask is told by its shape: a short text (at most `MASK_SHORT`
characters) holding, anywhere as a word (`_`, `-`, `*`, brackets and spaces part words), a word a recorder writes and no
value of the contract is (`redacted`, `filtered`, `sanitized`, `scrubbed`...), a word of four or more `x`, a run of
three or more `*`, or a bracketed word a value may be (`[hidden]`, `<email removed>`; in a header, where no such word
is a value, the word alone too: `hidden`). A longer text holding such a word ("the redacted minutes of the board's
quarterly meeting", a JWT) is read as sent, and so is any other short text: `Bearer abc`, `Basic dXNlcjpwYXNz`, a
plain token, `[garbage]` (what a client sent, judged).
"""

from __future__ import annotations

import json
import re

__all__ = ["MASK_SHORT", "mask_in_json", "mask_text", "masked_credential"]

MASK_SHORT = 48  # characters of the longest text read as a mask
# words that are a mask wherever they stand as a word
_MASK_WORDS = ("redact(?:ed|ion)?", "filtered", "scrub(?:bed)?", "masked", "saniti[sz]ed", "obfuscated", "censored",
               "anonymi[sz]ed", "x{4,}")
# words that are a mask in brackets (`[hidden]`, `<email removed>`), or as a whole header value
_HIDING_WORDS = ("hidden", "removed", "omitted", "secret", "private", "pii")
# (guillemets too: `‹hidden›`, `«removed»`)
_OPEN, _CLOSE, _NEITHER = "[\\[<({\u2039\u00ab]", "[\\]>)}\u203a\u00bb]", "[^\\]>)}\\[<({\u2039\u00ab\u203a\u00bb]"
_PATTERN = (rf"(?<![a-z0-9])(?:{'|'.join(_MASK_WORDS)})(?![a-z0-9])"
            rf"|{_OPEN}{_NEITHER}{{0,24}}(?<![a-z0-9])(?:{'|'.join(_HIDING_WORDS)})(?![a-z0-9]){_NEITHER}{{0,24}}{_CLOSE}"
            r"|\*{3,}")
_MASK_WORD = re.compile(_PATTERN, re.IGNORECASE)
# A body is asked for masks only where its bytes, lower-cased, hold one of these literals (one search: most bodies hold
# none): each word above starts with one of them, and a JSON escape (`\u00abREDACTED\u00bb`, `\u0072edacted`) may hide
# or split one
_HINT = re.compile(rb"redact|filter|scrub|mask|saniti|obfusc|censor|anonymi|hidden|removed|omitted|secret|private|pii"
                   rb"|\*\*\*|xxxx|\\u")
_BARE = re.compile(rf"(?:{'|'.join(_HIDING_WORDS)})", re.IGNORECASE)
# what a credential header's value starts with: an auth scheme as written (RFC 9110 §11.1: a token), or a whole-value
# replacement written as one (`***REDACTED***`, `REDACTED_TOKEN`); and the one form whose credential alone a recorder
# may hide while the scheme shows: `Bearer` (any case) and SP, as the auth rules read a key (`rules.bearer_key`: RFC
# 6750's form, with RFC 9110 §11.4's 1*SP)
_LEADING_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]*")
_BEARER = re.compile(r"bearer +([^ ].*)", re.IGNORECASE | re.DOTALL)

def mask_text(value: str) -> bool:
    """Whether a recorded text is a recorder's mask rather than what was sent (the shapes above)."""
    text = value.strip(" \t")
    if not text or len(text) > MASK_SHORT:
        return False
    return _MASK_WORD.search(text) is not None or _BARE.fullmatch(text) is not None


def masked_credential(value: str) -> bool:
    """Whether a recorded credential header's value is a mask: the whole value (`[Authorization redacted]`,
    `***REDACTED***`, `[SANITIZED]`), or the credential of `Bearer <credential>` (`Bearer [REDACTED]`, `Bearer xxxx`).

    A mask hides the credential, never the scheme: where another scheme shows (`Basic ****`, `Token [Filtered]`,
    `Digest [redacted]`), or `Bearer` not as the auth rules read a key (`Bearer: [REDACTED]`, `Bearer` and a tab), what the
    auth rules read (the scheme) is recorded, so the value is judged as sent (Pass Y2, F1)."""
    text = value.strip(" \t")
    bearer = _BEARER.fullmatch(text)
    if bearer is not None:
        return mask_text(bearer.group(1))
    scheme = _LEADING_TOKEN.match(text)
    shown = scheme.group() if scheme is not None else ""
    if shown and not mask_text(shown):  # a scheme shows (a token that is no mask: `Basic`, `Token`, `Bearer:`)
        return False
    return mask_text(text)


# A JSON string value (followed by `,`, `]`, `}` or the end: a key is followed by `:`), as written: up to six bytes a
# character (`\uXXXX`) of a text of `MASK_SHORT` characters; and the member name before a value.
_STRING_VALUE = re.compile(rb'(?<!\\)"((?:[^"\\\r\n]|\\.){1,%d})"(?=[ \t\r\n]*(?:[,\]}]|\Z))' % (6 * MASK_SHORT))
_KEY_BEFORE = re.compile(rb'"((?:[^"\\\r\n]|\\.){1,384})"[ \t\r\n]*:[ \t\r\n]*\Z')


def _json_string(raw: bytes) -> str | None:
    """A JSON string's text from its bytes between the quotes (escapes undone); None where it is no JSON string."""
    try:
        text = json.loads(b'"' + raw + b'"')
    except ValueError:
        return None
    return text if isinstance(text, str) else None


def mask_in_json(body: bytes | None) -> tuple[str, str | None] | None:
    """The first JSON string value of a body that is a recorder's mask (`mask_text`, decided on the value as decoded,
    its escapes undone: json.dumps writes `«REDACTED»` as `\u00abREDACTED\u00bb`, Pass Y2, F7) and the member name
    before it (None: none); None where there is none."""
    if not body or _HINT.search(body.lower()) is None:
        return None
    for value in _STRING_VALUE.finditer(body):
        raw = value.group(1)
        if _HINT.search(raw.lower()) is None:
            continue
        text = _json_string(raw)
        if text is None or not mask_text(text):
            continue
        key = _KEY_BEFORE.search(body, max(0, value.start() - 1024), value.start())
        return text, None if key is None else (_json_string(key.group(1)) or key.group(1).decode("utf-8", "replace"))
    return None
