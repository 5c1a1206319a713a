"""The one bounded loader for every file handed in: documents, cassettes, HARs, baselines, reports, mock worlds,
and a repository's pyproject.toml.

A file comes from whoever hands it over, so what it may cost is bounded before anything is
built from it: the bytes read (`core.untrusted.read_bounded`), how deep it nests, how many
nodes it holds, and, for YAML, how many nodes its aliases would add once expanded (an
813-byte alias bomb expands to billions). Each bound is far above what a real file of each
kind needs and far below what hurts; a caller may pass tighter ones.

`check_yaml_bounds` reads the YAML event stream, before any node is composed; `load_yaml`
and `load_json` check and build. Every YAML file is built by one loader, `YAML_LOADER`, which
reads scalars as JSON data, by the YAML 1.2 core schema (null, true/false, decimal, 0o and 0x
integers, floats): none of YAML 1.1's costly or surprising forms (`1:1:1:...`, a sexagesimal
integer whose value is quadratic to build; `yes`/`on` as booleans; dates), and no number of
more than `MAX_NUMBER_CHARS` characters is built, whatever its tag says. Every refusal is a `Bounded` error (`message`, `line`),
which each caller turns into its own error class (a document's `SpecUnreadable`, a
`ConfigError` elsewhere): one line, exit 2.
"""

from __future__ import annotations

import json
import math
import re
import sys
from functools import cache, lru_cache
from typing import Any, ClassVar

__all__ = ["MAX_ALIAS_CHARS", "MAX_ALIAS_NODES", "MAX_DEPTH", "MAX_NODES", "MAX_NUMBER_CHARS", "SAFE_LOADER", "YAML_LOADER", "Bounded", "Malformed",
           "check_yaml_bounds", "json_bounds", "json_int", "load_json", "load_toml", "load_yaml", "loads", "scalar_refused", "yaml_float"]

MAX_DEPTH = 64
MAX_NODES = 250_000
# Aliases are accepted, within a small bound, because hand-written YAML sometimes reuses a
# block with an anchor (`<<: *defaults`); every later walk expands them, so the bound is on
# the nodes they add once expanded, not on how many there are.
MAX_ALIAS_NODES = 10_000
# ...and on the characters they add: nine thousand aliases of one anchored 1 MB string are
# only nine thousand nodes, but nine gigabytes once built (a string is expanded by reference,
# but every walk that reads it, joins it or writes it pays its size per alias).
MAX_ALIAS_CHARS = 1 << 20

# A number in a file is a bound, a status code, an example: tens of characters. Past this many a
# YAML number is refused (`Bounded`) before it is built: an integer of 5,000 hex digits would be
# built in linear time and then fail every writer that prints it (Python prints at most 4,300 digits).
MAX_NUMBER_CHARS = 1000


def _yaml() -> Any:
    """PyYAML, imported when a YAML file is first read (~10 ms: a check of the bundled document reads none)."""
    import yaml

    return yaml


def _parser() -> Any:
    yaml = _yaml()
    return getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when present: ~10x faster, the same safe constructor


def json_int(digits: str) -> int:
    """A JSON integer as a number, however many digits it has (the decoders' `parse_int`).

    Python converts at most `sys.get_int_max_str_digits()` digits (4,300: the conversion is
    quadratic) and raises ValueError past that, so `json.loads` would call a valid JSON text
    (RFC 8259 sets no limit) not JSON. Past the limit the integer stands as the largest one of
    that many digits Python converts, of its sign (10**4299): an integer still, and beyond any
    bound a contract writes, which is all judging asks of it; its exact value is never computed.
    """
    try:
        return int(digits)
    except ValueError:
        huge = _largest_convertible(sys.get_int_max_str_digits())
        return -huge if digits.startswith("-") else huge


@lru_cache(maxsize=4)
def _largest_convertible(limit: int) -> int:
    largest: int = 10 ** (max(limit, 1) - 1)
    return largest


def loads(text: str | bytes) -> Any:
    """`json.loads` with `json_int`: a long integer is a number, never "not JSON"."""
    return json.loads(text, parse_int=json_int)


class Bounded(ValueError):
    """A file over one of the bounds (or one the parser refuses): `message` says which, `line` where (1-based)."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.message, self.line = message, line


class Malformed(Bounded):
    """Not the format at all (malformed YAML or JSON), as opposed to over a bound."""


_TAG = "tag:yaml.org,2002:"
_INT = re.compile(r"[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+")
_FLOAT = re.compile(r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?")
_SPECIAL_FLOATS = {".inf": math.inf, "+.inf": math.inf, "-.inf": -math.inf, ".nan": math.nan}
_BOOLS = {"true": True, "false": False}


def _line(node: Any) -> int | None:
    mark = getattr(node, "start_mark", None)
    return mark.line + 1 if mark is not None else None


def _number_text(node: Any, kind: str) -> str:
    text = node.value if isinstance(node.value, str) else ""
    if len(text) > MAX_NUMBER_CHARS:
        raise Bounded(f"a number of more than {MAX_NUMBER_CHARS:,} characters (the cap on numbers); refused before it is built",
                      _line(node))
    if not text:
        raise Malformed(f"an empty scalar tagged as {kind}", _line(node))
    return text


def yaml_int(node: Any) -> int:
    """An integer scalar's value: decimal, 0o or 0x, at most `MAX_NUMBER_CHARS` characters; anything else is `Malformed`."""
    text = _number_text(node, "an integer")
    if not _INT.fullmatch(text):
        raise Malformed(f"{text[:40]!r} is not an integer JSON can hold (YAML 1.2: decimal, 0o or 0x)", _line(node))
    if text.startswith(("0o", "0x")):
        return int(text[2:], 8 if text[1] == "o" else 16)
    return int(text)


def yaml_float(node: Any) -> float:
    """A float scalar's value (YAML 1.2 core forms, at most `MAX_NUMBER_CHARS` characters); anything else is `Malformed`."""
    text = _number_text(node, "a float")
    special = _SPECIAL_FLOATS.get(text.lower())
    if special is not None:
        return special
    if not (_FLOAT.fullmatch(text) or _INT.fullmatch(text)):
        raise Malformed(f"{text[:40]!r} is not a number JSON can hold", _line(node))
    return float(int(text[2:], 8 if text[1] == "o" else 16)) if text.startswith(("0o", "0x")) else float(text)


@cache
def _json_loader() -> Any:
    """`YAML_LOADER`, built when first asked for (module `__getattr__`)."""
    parser = _parser()

    class JsonLoader(parser):  # type: ignore[misc,valid-type]  # the C loader exists only with libyaml: the base is chosen at import
        """The one YAML loader (safe, libyaml when present) for every file handed in: scalars read as JSON data.

        Plain scalars resolve by the YAML 1.2 core schema, as OpenAPI 3.1 asks of YAML documents:
        `~`/`null`, `true`/`false`, integers (decimal, 0o, 0x), floats (with `.inf`, `.nan`);
        anything else is a string. YAML 1.1's other forms are text: `1:1:1:...` (a sexagesimal
        integer, quadratic to build), `yes`/`on`/`off` (booleans there), `2024-01-01` (a date),
        `1_000`, `0b1`. An explicit tag is built by the same rules (`!!int 1:1` is refused, not
        built), a number never past `MAX_NUMBER_CHARS` characters, and `!!timestamp` is its text
        (JSON has no dates). What the constructor refuses is a `Bounded` or `Malformed` with its line.
        """

        yaml_implicit_resolvers: ClassVar[dict[Any, list[tuple[str, re.Pattern[str]]]]] = {}  # none of YAML 1.1's: added below
        yaml_constructors: ClassVar[dict[Any, Any]] = dict(parser.yaml_constructors)

        def construct_json_int(self, node: Any) -> int:
            return yaml_int(node)

        def construct_json_float(self, node: Any) -> float:
            return yaml_float(node)

        def construct_json_bool(self, node: Any) -> bool:
            value = _BOOLS.get(node.value.lower()) if isinstance(node.value, str) else None
            if value is None:
                raise Malformed(f"{str(node.value)[:40]!r} is not true or false", _line(node))
            return value

        def construct_text(self, node: Any) -> str:
            return str(self.construct_scalar(node))

    for _tag, _pattern, _first in (
        ("bool", r"true|True|TRUE|false|False|FALSE", "tTfF"),
        ("int", _INT.pattern, "-+0123456789"),
        ("float", _FLOAT.pattern + r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)", "-+.0123456789"),
        ("null", r"~|null|Null|NULL|", ["~", "n", "N", ""]),
        ("merge", r"<<", "<"),  # `<<: *defaults`: a merge, as hand-written YAML uses it (what it adds is bounded above)
    ):
        JsonLoader.add_implicit_resolver(_TAG + _tag, re.compile(f"^(?:{_pattern})$"), list(_first))
    JsonLoader.add_constructor(_TAG + "int", JsonLoader.construct_json_int)
    JsonLoader.add_constructor(_TAG + "float", JsonLoader.construct_json_float)
    JsonLoader.add_constructor(_TAG + "bool", JsonLoader.construct_json_bool)
    JsonLoader.add_constructor(_TAG + "timestamp", JsonLoader.construct_text)
    return JsonLoader


YAML_LOADER: Any  # declared only: `__getattr__` builds it
SAFE_LOADER: Any


def __getattr__(name: str) -> Any:
    """`YAML_LOADER` and `SAFE_LOADER` (the same loader under the name readers of the YAML event stream use):
    built, and PyYAML imported, on first use."""
    if name in ("YAML_LOADER", "SAFE_LOADER"):
        return _json_loader()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _at(message: str, event: Any) -> Bounded:
    mark = getattr(event, "start_mark", None)
    return Bounded(message, mark.line + 1 if mark is not None else None)


def check_yaml_bounds(text: str, *, what: str = "documents", max_depth: int = MAX_DEPTH, max_nodes: int = MAX_NODES,
                      max_alias_nodes: int = MAX_ALIAS_NODES, max_alias_chars: int = MAX_ALIAS_CHARS) -> None:
    """Refuse (`Bounded`), from the event stream and before any node is built, YAML too deep or too
    large, counting what each alias would expand to (in nodes and in the characters of its scalars),
    and aliases that loop. `what` names the kind of file in the message ("the cap on documents")."""
    anchors: dict[str, tuple[int, int, int]] = {}  # anchor -> (nodes, height, characters) of the node it names
    open_: list[list[Any]] = []  # enclosing collections: [anchor, nodes, height of the tallest child, characters]
    literal = added = added_chars = 0
    yaml = _yaml()
    scalar, alias = yaml.ScalarEvent, yaml.AliasEvent
    starts, ends = (yaml.MappingStartEvent, yaml.SequenceStartEvent), (yaml.MappingEndEvent, yaml.SequenceEndEvent)
    event: Any
    for event in yaml.parse(text, Loader=_parser()):
        kind = type(event)
        if kind is scalar:
            literal += 1
            if event.anchor is not None:
                anchors[event.anchor] = (1, 0, len(event.value))
            if open_:
                open_[-1][1] += 1
                open_[-1][3] += len(event.value)
        elif kind in ends:
            anchor, nodes, tallest, chars = open_.pop()
            if anchor is not None:
                anchors[anchor] = (nodes, tallest + 1, chars)
            if open_:
                open_[-1][1] += nodes
                open_[-1][2] = max(open_[-1][2], tallest + 1)
                open_[-1][3] += chars
            continue
        elif kind in starts:
            literal += 1
            open_.append([event.anchor, 1, 0, 0])
            if len(open_) > max_depth:
                raise _at(f"nested more than {max_depth} levels deep, the cap on {what}", event)
        elif kind is alias:
            if any(enclosing[0] == event.anchor for enclosing in open_):
                raise _at(f"the YAML alias *{event.anchor} is inside the node it names: the {what.removesuffix('s')} would be infinite", event)
            nodes, height, chars = anchors.get(event.anchor, (1, 0, 0))  # an unknown anchor: the composer says so
            added += nodes
            added_chars += chars
            if added > max_alias_nodes:
                raise _at(f"YAML aliases would add more than {max_alias_nodes:,} nodes (the cap) once expanded; "
                          "refused before expanding them", event)
            if added_chars > max_alias_chars:
                raise _at(f"YAML aliases would add more than {max_alias_chars:,} characters (the cap) once expanded; "
                          "refused before expanding them", event)
            if len(open_) + height > max_depth:
                raise _at(f"the YAML alias *{event.anchor} nests the {what.removesuffix('s')} more than {max_depth} levels deep, "
                          f"the cap on {what}", event)
            if open_:
                open_[-1][1] += nodes
                open_[-1][2] = max(open_[-1][2], height)
                open_[-1][3] += chars
            continue
        else:
            continue
        if literal > max_nodes:
            raise _at(f"more than {max_nodes:,} YAML nodes, the cap on {what}", event)


def load_yaml(text: str, *, loader: Any = None, what: str = "files", max_depth: int = MAX_DEPTH,
              max_nodes: int = MAX_NODES, max_alias_nodes: int = MAX_ALIAS_NODES, max_alias_chars: int = MAX_ALIAS_CHARS) -> Any:
    """YAML text, held to the bounds before it is built (`Bounded` for a refusal or malformed YAML); `loader`: `YAML_LOADER` unless given."""
    yaml = _yaml()
    try:
        check_yaml_bounds(text, what=what, max_depth=max_depth, max_nodes=max_nodes, max_alias_nodes=max_alias_nodes,
                          max_alias_chars=max_alias_chars)
        return yaml.load(text, Loader=loader or _json_loader())
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise Malformed(f"not valid YAML: {exc.problem or exc.context or 'malformed'}", mark.line + 1 if mark else None) from None
    except yaml.YAMLError as exc:
        raise Malformed(f"not valid YAML: {str(exc).splitlines()[0] if str(exc) else 'malformed'}") from None
    except RecursionError:  # the pure-Python composer (no libyaml) on deep input
        raise Bounded(f"nested more than {max_depth} levels deep, the cap on {what}") from None
    except Bounded:
        raise
    except (ValueError, OverflowError) as exc:  # a constructor refusing a scalar: an integer of 5,000 digits
        raise Malformed(f"not valid YAML: {scalar_refused(exc)}") from None


def scalar_refused(exc: Exception) -> str:
    """Why a parser's constructor refused a scalar, in one short line (Python's integers stop at 4,300 digits)."""
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return "a number of more than 4,300 digits" if "integer string conversion" in text else text[:120]


def json_bounds(value: Any, *, what: str = "files", max_depth: int = MAX_DEPTH, max_nodes: int = MAX_NODES) -> None:
    """Refuse (`Bounded`) a parsed JSON value deeper or larger than the bounds (iteratively: no stack to exhaust)."""
    stack, nodes = [(value, 1)], 0
    while stack:
        node, depth = stack.pop()
        nodes += 1
        if depth > max_depth:
            raise Bounded(f"nested more than {max_depth} levels deep, the cap on {what}")
        if nodes > max_nodes:
            raise Bounded(f"more than {max_nodes:,} JSON values, the cap on {what}")
        if isinstance(node, dict):
            stack.extend((child, depth + 1) for child in node.values())
        elif isinstance(node, list):
            stack.extend((child, depth + 1) for child in node)


def load_json(text: str | bytes, *, what: str = "files", max_depth: int = MAX_DEPTH, max_nodes: int = MAX_NODES) -> Any:
    """JSON text, held to the bounds (`Bounded` for a refusal or malformed JSON; never a RecursionError)."""
    try:
        value = json.loads(text)
    except RecursionError:  # the decoder recurses per level: refused at the interpreter's limit, before any cost
        raise Bounded(f"nested more than {max_depth} levels deep, the cap on {what}") from None
    except UnicodeDecodeError as exc:
        raise Malformed(f"not UTF-8 text (byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise Malformed(f"not valid JSON: {exc.msg} (line {exc.lineno})", exc.lineno) from None
    except ValueError as exc:  # an integer past Python's 4,300 digits
        raise Malformed(f"not valid JSON: {scalar_refused(exc)}") from None
    json_bounds(value, what=what, max_depth=max_depth, max_nodes=max_nodes)
    return value


def load_toml(text: str, *, what: str = "files", max_depth: int = MAX_DEPTH, max_nodes: int = MAX_NODES) -> dict[str, Any]:
    """TOML text (a repository's pyproject.toml), held to the bounds: `Bounded` for a refusal, `Malformed` for
    anything the parser raises (tomllib recurses per level of nesting: 200,000 nested arrays are a RecursionError
    there, a config error here, never a crash)."""
    import tomllib

    try:
        value = tomllib.loads(text)
    except RecursionError:
        raise Bounded(f"nested more than {max_depth} levels deep, the cap on {what}") from None
    except tomllib.TOMLDecodeError as exc:
        raise Malformed(f"not valid TOML: {str(exc)[:160]}") from None
    except Exception as exc:  # whatever else the parser raises on hostile text is the file's fault
        raise Malformed(f"not valid TOML: {scalar_refused(exc)}") from None
    json_bounds(value, what=what, max_depth=max_depth, max_nodes=max_nodes)
    return value
