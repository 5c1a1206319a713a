"""HTTP header fields as the judge reads them (RFC 9110 §5), the same for every way in.

- A value is trimmed of optional whitespace only: SP and HTAB (`OWS`, RFC 9110 §5.5/§5.6.3),
  never `str.strip()`'s Unicode whitespace or control characters. `application/json\\xa0` is no
  `application/json`: an HTTP parser does not read it as one, so neither does the judge.
- A field given more than once is one value, joined with ", " (RFC 9110 §5.3), whoever
  collected the fields (`joined`): no way in keeps the first or the last and hides the other. Each value is
  trimmed there as every server trims it (`Idempotency-Key: k ` is the key `k`), in every way in: a recording keeps
  the value as the client sent it (requests sends `k ` as given), a proxy or a middleware gets it trimmed already.
- A singleton field (`Content-Type`) given twice with different values is a conflict a reader
  cannot settle (`values_of` shows it); its list siblings (`Content-Encoding`) are read whole.
- A request head as a server's HTTP layer reads it (`request_head_refusable`): what RFC 9112/9110 make or let it refuse
  before any app (uvicorn's llhttp, h11, nginx answer 400, or 501 to a transfer coding, themselves).
- An HTTP/1.1 head as a client reads it (`unreadable_head`): names are tokens, values hold no control
  character but HTAB, Content-Length is digits (one value, however often given), Transfer-Encoding is
  `chunked` alone. A server that writes what it is given (uvicorn's httptools protocol) sends a head
  past these unchecked; one that checks (h11) refuses it: either way no client reads the answer.
  A Content-Length beside a Transfer-Encoding, or given more than once, h11 reads and Node refuses
  (`framing_apart`): on the wire the sender's violation; in an app's head, the server decides.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from migma_contract.core.untrusted import clean_text

__all__ = ["OWS", "TOKEN", "framing_apart", "framing_refused", "joined", "media_type", "members_of", "request_framing_unread", "request_head_refusable",
           "trimmed", "unreadable_head", "values_of", "writable"]

OWS = " \t"  # RFC 9110 §5.6.3: the only whitespace around a field value and its list members
# one member of a comma-separated field: quoted strings (which may hold commas) kept whole
_MEMBER = re.compile(r'(?:[^,"]|"(?:[^"\\]|\\.)*"?)+')


def trimmed(value: str) -> str:
    """A field value (or a part of one) without its optional whitespace: SP and HTAB, nothing else."""
    return value.strip(OWS)


def joined(pairs: Mapping[str, str] | Iterable[tuple[str, str]]) -> dict[str, str]:
    """Header fields with lower-cased names, each value `trimmed` of its optional whitespace as a server reads it (RFC
    9110 §5.5: no part of the value); a repeated field's values joined with ", " (RFC 9110 §5.3). Names are kept as
    given (lower-cased): a name that is no token (`X-Trace `) is no field a server reads (`request_head_refusable`).

    Linear in the headers' size: each field's values are joined once (joining them one by one copies the
    value so far for every repetition, and nine thousand repetitions of a 64 KB value took hours).
    """
    items = pairs if type(pairs) is list else pairs.items() if isinstance(pairs, Mapping) else list(pairs)  # (a list first: no ABC check)
    once: dict[str, str] = {}
    for name, value in items:  # most header lists name each field once: one pass, no lists
        key = name.lower()
        if key in once:
            break
        once[key] = value.strip(OWS)
    else:
        return once
    merged: dict[str, list[str]] = {}
    for name, value in items:
        merged.setdefault(name.lower(), []).append(value.strip(OWS))
    return {key: values[0] if len(values) == 1 else ", ".join(values) for key, values in merged.items()}


def values_of(value: str) -> list[str]:
    """The distinct values a singleton field's (joined) value holds, each trimmed, in order: one for a field given
    once (or repeated with the same value), more for a conflict (`Content-Type: application/json` and `text/html`).
    Commas inside a quoted parameter (`charset="a,b"`) do not separate. Empty members are left out (`members_of` keeps
    them: whether the value is one media type is `media_type`'s)."""
    if "," not in value:
        return [trimmed(value)]
    distinct: dict[str, str] = {}  # compared without case (a media type's and a charset's case mean nothing)
    for member in _MEMBER.findall(value):
        if member := trimmed(member):
            distinct.setdefault(member.lower(), member)
    return list(distinct.values()) or [""]


_PIECE = re.compile(r'"(?:[^"\\]|\\.)*+"?|[^,"]++|,', re.DOTALL)


def members_of(value: str) -> list[str]:
    """Every member of a comma-separated (joined) value, each trimmed, in order, empty ones kept (`application/json,` is
    two members, the second empty; an empty field line joined beside another is one too). Commas inside a quoted
    string do not separate. Linear."""
    members: list[str] = []
    current: list[str] = []
    for piece in _PIECE.findall(value):
        if piece == ",":
            members.append(trimmed("".join(current)))
            current = []
        else:
            current.append(piece)
    members.append(trimmed("".join(current)))
    return members


# RFC 9110 §8.3.1/§5.6.6: media-type = type "/" subtype parameters; parameters = *( OWS ";" OWS [ parameter ] );
# parameter = token "=" ( token / quoted-string ). Nothing else is one media type: no comma, no empty member.
_TOKEN_TEXT = r"[-!#$%&'*+.^_`|~0-9A-Za-z]++"
_QUOTED_TEXT = r'"(?:[^\x00-\x08\x0a-\x1f\x7f"\\]|\\[^\x00-\x08\x0a-\x1f\x7f])*+"'  # qdtext / quoted-pair (obs-text kept)
# (every quantifier possessive: a run of `; ` never splits two ways, so a value that fails fails in one pass)
_MEDIA_TYPE = re.compile(rf"({_TOKEN_TEXT})/({_TOKEN_TEXT})((?:[ \t]*+;[ \t]*+(?:{_TOKEN_TEXT}=(?:{_TOKEN_TEXT}|{_QUOTED_TEXT}))?+)*+)")
_PARAMETER = re.compile(rf"[ \t]*;[ \t]*(?:({_TOKEN_TEXT})=({_TOKEN_TEXT}|{_QUOTED_TEXT}))?")
_QUOTED_PAIR = re.compile(r"\\(.)", re.DOTALL)


def media_type(value: str, *, empty_parameters: bool = True) -> tuple[str, dict[str, str]] | None:
    """The one media type a Content-Type value names: (`type/subtype` lower-cased, its parameters: names lower-cased,
    values unquoted); None when the value is not exactly one well-formed media type (RFC 9110 §8.3.1, §5.6.6), read
    strictly as Go's `mime.ParseMediaType` and Spring's `MimeTypeUtils.parseMimeType` read it: a list (`a/b, a/b`), an
    empty member (`application/json,`, `,application/json`: a joined empty line), a parameter with no name, no `=` or
    an unclosed quote (`; =x`, `; a`, `charset="utf-8`), a space inside a value (`a=b c`), and a parameter given twice
    (`charset=utf-8; charset=latin1`: Go refuses it, Spring keeps the last, others the first). `empty_parameters`:
    whether an empty parameter (`application/json;`, `;;`, which RFC 9110's grammar allows) is read as none (False:
    refused, as Go refuses `;;`). The value is trimmed of OWS first (a field value's, `joined`). Linear: one regex
    with no nested choice between runs."""
    match = _MEDIA_TYPE.fullmatch(value.strip(OWS))
    if match is None:
        return None
    parameters: dict[str, str] = {}
    for found in _PARAMETER.finditer(match.group(3)):
        name, given = found.group(1), found.group(2)
        if name is None:
            if not empty_parameters:
                return None
            continue
        name = name.lower()
        if name in parameters:
            return None
        parameters[name] = _QUOTED_PAIR.sub(r"\1", given[1:-1]) if given.startswith('"') else given
    return f"{match.group(1)}/{match.group(2)}".lower(), parameters


# RFC 9110 §5.1/§5.5: a field name is a token; a value holds no control character but HTAB (obs-text, bytes 0x80-0xFF,
# is read as opaque). What both uvicorn stacks send and clients (h11, httpx, llhttp) read; nothing else is either.
TOKEN = re.compile(rb"[-!#$%&'*+.^_`|~0-9A-Za-z]+\Z")
_CONTROL = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")
_DIGITS = re.compile(rb"[0-9]+\Z")  # RFC 9110 §8.6: Content-Length = 1*DIGIT (ASCII: no sign, no `_`, no other digits)


def writable(name: bytes, value: bytes) -> bool:
    """Whether a header field may go on the wire as it is: a token for a name, no control character in the value."""
    return TOKEN.match(name) is not None and _CONTROL.search(value) is None


SHOWN_NAME_BYTES = 40  # past this a header name is described, never quoted: no peer-chosen name is cut to a prefix


def shown_name(name: bytes) -> str:
    """A header name as a message quotes it: whole and in its own case (cleaned, quoted) up to `SHOWN_NAME_BYTES`, else
    only its length. Never a prefix and never case-folded: a peer may echo a credential as a header name (an upstream
    the proxy's Basic credential, an app its key), and the redactor masks only a credential it sees whole in its own
    case (a lower-cased base64 is recovered letter by letter; a key's first 64 characters are most of it: Pass Z1, F1)."""
    if len(name) > SHOWN_NAME_BYTES:
        return f"(a name of {len(name):,} bytes, not shown)"
    return _shown(name, SHOWN_NAME_BYTES)


def _shown(raw: bytes, limit: int) -> str:
    """Bytes from a peer as a message quotes them: ASCII as it is, any other byte as `\\xNN`, cleaned, quoted; whole up
    to `limit` bytes, else only their length: never a prefix, which no redactor masks (a key echoed in a Content-Length
    or a Host: its first 40 characters; Pass Z1, F1)."""
    if len(raw) > limit:
        return f"({len(raw):,} bytes, not shown)"
    return f"'{clean_text(raw.decode('ascii', 'backslashreplace'))}'"


def unreadable_head(headers: Iterable[tuple[bytes, bytes]]) -> str | None:
    """Why no HTTP/1.1 client can read an answer whose head carries these fields as written (None: one can).

    One reading for every way an answer is written: each name a token and each value free of control characters
    (`writable`); every Content-Length (each field, each comma-separated member, trimmed of OWS) digits only and all one
    number (RFC 9110 §8.6: a recipient may take `95, 95` as 95; `+95`, `9_5`, `٩٥` or 95 and 100 frame nothing, RFC 9112
    §6.3); Transfer-Encoding, if given, once and exactly `chunked` (the one coding clients decode as framing; `gzip`
    or `identity` leave the body's end unknown, and a server adds its own `chunked` after them). A Content-Length
    beside `chunked`, or one given more than once, h11 reads (as chunked, RFC 9112 §6.3; as one): not every client
    does (`framing_apart`), which each reader of a head judges for itself.
    """
    headers = list(headers)  # read twice (names and values, then framing): any iterable
    for name, value in headers:
        if TOKEN.match(name) is None:
            return f"a header name that is not a token ({shown_name(name)})"
        if _CONTROL.search(value) is not None:
            return f"control characters in the value of {shown_name(name)}"
    return framing_refused(headers)


def framing_refused(headers: Iterable[tuple[bytes, bytes]]) -> str | None:
    """Why an HTTP/1.1 client refuses an answer's framing headers as h11 (httpx's parser) reads them (None: it reads
    them): every Content-Length member, trimmed of OWS, digits only and the same text (`95, 95` is 95; `95` beside
    `095` conflict, as h11 compares them: as text, so no int() of 5,000 digits either); Transfer-Encoding once and
    exactly `chunked` (RFC 9112 §6.1: a client reads no other transfer coding; `gzip` or `identity` leave the body's
    end unknown, and a server adds its own `chunked` after them). The middleware's reading (`unreadable_head`) and the
    proxy's (`wire.upstream`) are this one."""
    length: bytes | None = None
    codings: list[bytes] = []
    for name, value in headers:
        lowered = name.lower()
        if lowered == b"content-length":
            for member in value.split(b","):
                member = member.strip(b" \t")
                if _DIGITS.match(member) is None:
                    return f"a Content-Length that is not digits only ({_shown(value, 40)})"
                if length is not None and member != length:
                    return "two different Content-Lengths"
                length = member
        elif lowered == b"transfer-encoding":
            codings.append(value)
    if codings and (len(codings) > 1 or codings[0].strip(b" \t").lower() != b"chunked"):
        return f"a Transfer-Encoding other than chunked alone ({_shown(b', '.join(codings), 60)}): a client reads no other framing"
    return None


def framing_apart(headers: Iterable[tuple[bytes, bytes]]) -> str | None:
    """Why HTTP/1.1 clients read an answer's framing apart though h11 (`framing_refused`) reads it (None: they agree):
    a Content-Length beside a Transfer-Encoding (RFC 9112 §6.1: a sender MUST NOT send both; h11, curl and urllib read
    it as chunked, Node's http client and fetch refuse it), or a Content-Length given more than once, as two fields or
    a list (`88, 88`: RFC 9110 §8.6 lets a recipient take them as one, h11 does; Node refuses them). On the wire it is
    the sender's violation; in an app's head the server decides what goes out (uvicorn's h11 protocol drops or merges
    them, its httptools protocol writes them as given)."""
    lengths = 0
    encoded = False
    for name, value in headers:
        lowered = name.lower()
        if lowered == b"content-length":
            lengths += value.count(b",") + 1
        elif lowered == b"transfer-encoding":
            encoded = True
    if lengths and encoded:
        return ("a Content-Length beside a Transfer-Encoding (RFC 9112 §6.1: a sender must not send both; Node's http "
                "client and fetch refuse the answer)")
    if lengths > 1:
        return "a Content-Length given more than once (Node's http client and fetch refuse the answer)"
    return None


def request_framing_unread(headers: Iterable[tuple[bytes, bytes]], received: int | None, *,
                           upgrade_read: bool = False) -> str | None:
    """Why the body a server hands its app may not be the one the client framed (None: it is), `received` its length
    as the app got it (None: not known, a body read past a cap). A request asking for an Upgrade (`Connection:
    upgrade` with `Upgrade`, as `curl --http2` over http sends: uvicorn's own httptools protocol stops at its head and
    runs the app with no body; h11 reads it), unless `upgrade_read`: the app is served by the toolkit's servers
    (`wire.serve`), which read such a request whole; framing a client reads no other way (`framing_refused`: a
    Transfer-Encoding other than chunked alone, whose coded bytes a server may hand on as the body; Content-Lengths that
    disagree); a body of another length than its Content-Length says. What the server stack did, never the client's
    doing."""
    headers = list(headers)  # read twice: any iterable
    # the common case, in one pass: no Upgrade, no Transfer-Encoding, at most one Content-Length, digits only
    length: bytes | None = None
    for name, value in headers:
        lowered = name.lower()
        if lowered == b"content-length":
            if length is not None or not value.isdigit():  # (bytes: ASCII digits only, not empty)
                break
            length = value
        elif lowered == b"transfer-encoding" or lowered == b"upgrade":
            break
    else:  # (what the reading below gives such a head, at once)
        if length is None or received is None or (len(length.lstrip(b"0")) <= 18 and int(length) == received):
            return None
    tokens = {t.strip(b" \t").lower() for n, v in headers if n.lower() == b"connection" for t in v.split(b",")}
    upgrade = [v for n, v in headers if n.lower() == b"upgrade"]
    if upgrade and b"upgrade" in tokens and not upgrade_read:
        return f"it asks for an Upgrade ({_shown(upgrade[0], 40)}), whose body a server may not read (uvicorn's httptools hands the app none)"
    if (why := framing_refused(headers)) is not None:
        return f"its framing is one a server may read otherwise ({why.split(': a client')[0]})"
    if received is None or any(n.lower() == b"transfer-encoding" for n, _ in headers):
        return None
    length = next((v.split(b",")[0].strip(b" \t") for n, v in headers if n.lower() == b"content-length"), None)
    if length is not None and (len(length.lstrip(b"0")) > 18 or int(length) != received):  # (digits: `framing_refused`)
        return f"its body as the app got it is {received:,} bytes, where its Content-Length says {_shown(length, 40)}"
    return None


# RFC 9112 §3.2: Host = uri-host [ ":" port ] (RFC 3986: an IP-literal or a reg-name of unreserved, sub-delims and escapes;
# no userinfo, no space, so a Host given twice, joined "a, a", is no Host either)
_HOST = re.compile(rb"(?:\[[-0-9A-Za-z:._~!$&'()*+,;=]*\]|(?:[-0-9A-Za-z._~!$&'()*+,;=]|%[0-9A-Fa-f]{2})*)(?::[0-9]*)?\Z")
_PSEUDO = re.compile(rb":[a-z]+\Z")  # an HTTP/2 pseudo-header as recorders write it (`:authority`): no HTTP/1.1 field
_MAX_LENGTH_DIGITS = 18  # h11 refuses a Content-Length past 20 digits, llhttp one past 2^64: past 18 a server may


def request_head_refusable(headers: Iterable[tuple[str, str]]) -> tuple[str, bool] | None:
    """What in a request's header fields a server's HTTP layer may refuse before any app, and whether it may answer that
    with 501 as well as a 4xx (True: an unknown transfer coding); None: nothing. `headers` as every way in reads them
    (`joined`: names lower-cased, values trimmed, a repeated field joined with ", "). The complete list RFC 9112/9110
    give, as llhttp (uvicorn's httptools, Node) and h11 (uvicorn's other stack, hypercorn) apply it:

    - a field name that is no token (RFC 9110 §5.1): whitespace before the colon or in the name (RFC 9112 §5.1: "MUST
      reject ... with 400"), `(`, `@`, `"`, a non-ASCII letter, an empty name (an HTTP/2 pseudo-header, `:authority`,
      is a recorder's way of writing HTTP/2's request line, no field);
    - a value holding a control character other than HTAB (RFC 9110 §5.5: NUL, CR, LF "MUST either reject or replace",
      other CTLs and DEL "are also invalid"; llhttp refuses them, h11 refuses NUL, VT, FF, CR and LF);
    - Content-Length (RFC 9112 §6.3, RFC 9110 §8.6): a member that is not digits only (`+170`, empty), given more than once
      even alike (`42, 42`: "MAY either reject"; llhttp: "Duplicate Content-Length"), past what a server counts;
    - Transfer-Encoding beside a Content-Length (RFC 9112 §6.1: "MAY reject"; llhttp does), or any other than `chunked`
      once (chunked not final: "MUST respond with 400"; a coding it does not know: "SHOULD respond with 501", as h11
      does; `chunked` twice: "MUST NOT apply ... more than once", h11: "multiple Transfer-Encoding headers");
    - Host given more than once or with a value that is no `uri-host [":" port]` (RFC 9112 §3.2: "MUST respond with a
      400"). A Host not given is not read: recorders leave it out (vcrpy, Schemathesis, HTTP/2's HARs).

    The request target and the head's size are the caller's (`judge.verdict`); the method is `traffic.tally.route_of`'s.
    """
    length: str | None = None
    codings: str | None = None
    for name, value in headers:
        raw = name.encode("utf-8", "surrogatepass")
        if TOKEN.match(raw) is None and _PSEUDO.match(raw) is None:
            return f"gives a header name that is not a token ({shown_name(raw)})", False
        if _CONTROL.search(data := value.encode("utf-8", "surrogatepass")) is not None:
            return f"holds control characters in the value of {shown_name(raw)}", False
        lowered = raw.lower()
        if lowered == b"content-length":
            length = value
            members = [member.strip(OWS) for member in value.split(",")]
            if any(not member.isascii() or not member.isdigit() for member in members):
                return f"gives a Content-Length that is not digits only ({_shown(data, 40)})", False
            if len(members) > 1:
                return f"gives Content-Length more than once ({_shown(data, 40)})", False
            if len(members[0].lstrip("0")) > _MAX_LENGTH_DIGITS:
                return f"gives a Content-Length past what a server counts ({_shown(data, 40)})", False
        elif lowered == b"transfer-encoding":
            codings = value
        elif lowered == b"host" and _HOST.match(data) is None:
            return f"gives a Host that is no host[:port] once ({_shown(data, 60)})", False
    if codings is not None:
        if [member.strip(OWS).lower() for member in codings.split(",")] != ["chunked"]:
            shown = _shown(codings.encode("utf-8", "surrogatepass"), 60)
            return f"gives a Transfer-Encoding other than chunked once ({shown})", True
        if length is not None:
            return "gives Transfer-Encoding beside a Content-Length", False
    return None
