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

import re

__all__ = ["MASK_HINT", "MASK_SHORT", "MASK_WORD_BYTES", "mask_text", "masked_credential"]

MASK_SHORT = 48  # characters of the longest text read as a mask
# words that are a mask wherever they stand as a word
_MASK_WORDS = ("redact(?:ed|ion)?", "filtered", "scrub(?:bed)?", "masked", "saniti[sz]ed", "obfuscated", "censored",
               "anonymi[sz]ed", "x{4,}")
# words that are a mask in brackets (`[hidden]`, `<email removed>`), or as a whole header value
_HIDING_WORDS = ("hidden", "removed", "omitted", "secret", "private", "pii")
_OPEN, _CLOSE = r"[\[<({]", r"[\]>)}]"
_PATTERN = (rf"(?<![a-z0-9])(?:{'|'.join(_MASK_WORDS)})(?![a-z0-9])"
            rf"|{_OPEN}[^\]>)}}\[<({{]{{0,24}}(?<![a-z0-9])(?:{'|'.join(_HIDING_WORDS)})(?![a-z0-9])[^\]>)}}\[<({{]{{0,24}}{_CLOSE}"
            r"|\*{3,}")
_MASK_WORD = re.compile(_PATTERN, re.IGNORECASE)
MASK_WORD_BYTES = re.compile(_PATTERN.encode(), re.IGNORECASE)  # the same, for a body's bytes (`recordings._mask_in`)
# ...asked only of a body whose bytes, lower-cased, hold one of these literals (one search: most bodies hold none); each
# word above starts with one of them
MASK_HINT = re.compile(rb"redact|filter|scrub|mask|saniti|obfusc|censor|anonymi|hidden|removed|omitted|secret|private|pii"
                       rb"|\*\*\*|xxxx")
_BARE = re.compile(rf"(?:{'|'.join(_HIDING_WORDS)})", re.IGNORECASE)
# an auth scheme (RFC 9110 §11.1: a token) and what follows it after whitespace
_SCHEME = re.compile(r"([!#$%&'*+.^_`|~0-9A-Za-z-]+)[ \t]+(.+)", re.DOTALL)


def mask_text(value: str) -> bool:
    """Whether a recorded text is a recorder's mask rather than what was sent (the shapes above)."""
    text = value.strip(" \t")
    if not text or len(text) > MASK_SHORT:
        return False
    return _MASK_WORD.search(text) is not None or _BARE.fullmatch(text) is not None


def masked_credential(value: str) -> bool:
    """Whether a recorded credential header's value is a mask: the whole value (`[Authorization redacted]`,
    `***REDACTED***`, `[SANITIZED]`), or what follows its scheme (`Bearer [REDACTED]`, `Basic ****`, `Bearer xxxx`)."""
    if mask_text(value):
        return True
    scheme = _SCHEME.fullmatch(value.strip(" \t"))
    return scheme is not None and mask_text(scheme.group(2))
