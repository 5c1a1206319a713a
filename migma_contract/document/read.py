"""Reading a document bounded: bytes, nesting, nodes and what YAML aliases add are counted before anything is
built (`core.bounded`, the loader every file goes through); only JSON data is taken, and each node's line is kept."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from migma_contract.core import bounded
from migma_contract.core.exceptions import SpecInvalid, SpecUnreadable
from migma_contract.document.model import _escape

if TYPE_CHECKING:
    import yaml

MAX_DOCUMENT_BYTES = 5 * 1024 * 1024


MAX_NESTING = bounded.MAX_DEPTH


MAX_NODES = bounded.MAX_NODES


MAX_ALIAS_NODES = bounded.MAX_ALIAS_NODES  # what aliases add once expanded (see core.bounded)


# The one YAML loader (`bounded.YAML_LOADER`): scalars by the YAML 1.2 core schema, numbers bounded.
# Asked for when a document is parsed, so PyYAML is imported only when one is (not for the bundled one's JSON copy).


_TAG = "tag:yaml.org,2002:"


_JSON_TAGS = frozenset(_TAG + name for name in ("str", "int", "float", "bool", "null", "map", "seq"))


_TEXT_TAGS = frozenset(_TAG + name for name in ("timestamp", "value"))  # YAML 1.1 readings of plain text


def _read(path: Path, label: str) -> bytes:
    """At most the cap and one byte: a bounded read works for files, FIFOs and /dev/zero alike."""
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_DOCUMENT_BYTES + 1)
    except FileNotFoundError:
        raise SpecUnreadable("no such file; pass the path of an OpenAPI YAML or JSON document", path=label) from None
    except OSError as exc:
        raise SpecUnreadable(f"cannot read the file: {exc.strerror or exc}", path=label) from None
    if len(raw) > MAX_DOCUMENT_BYTES:
        raise SpecUnreadable(f"larger than {MAX_DOCUMENT_BYTES // 2**20} MiB, the cap on documents; not read further", path=label)
    return raw


def _parse(raw: bytes, label: str, *, known: bool = False) -> tuple[dict[str, Any], dict[str, int]]:
    """The document and each pointer's line. `known` bytes (the bundled document's, checked
    by the test suite) have nothing to bound, refuse or locate: they are only built."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SpecUnreadable(f"not UTF-8 text (byte {exc.start})", path=label) from None
    import yaml

    loader = bounded.YAML_LOADER(text)
    try:
        if known:
            data, lines = loader.get_single_data(), {}
        else:
            check_yaml_bounds(text, label)
            node = loader.get_single_node()
            lines = _index(node, label) if node is not None else {}
            data = loader.construct_document(node) if node is not None else None
    except bounded.Bounded as exc:  # the loader refusing a scalar: a number of 5,000 digits, `!!int 1:1`
        raise SpecUnreadable(exc.message, path=label, line=exc.line) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = exc.problem or exc.context or "malformed"
        raise SpecUnreadable(f"not valid YAML/JSON: {problem}", path=label, line=line) from None
    except yaml.YAMLError as exc:
        raise SpecUnreadable(f"not valid YAML/JSON: {exc}", path=label) from None
    except RecursionError:  # the pure-Python composer (no libyaml) on deep input
        raise SpecUnreadable(f"nested more than {MAX_NESTING} levels deep, the cap on documents", path=label) from None
    except (ValueError, OverflowError) as exc:  # a constructor refusing a scalar: an integer of 5,000 digits
        raise SpecUnreadable(f"not valid YAML/JSON: {bounded.scalar_refused(exc)}", path=label) from None
    finally:
        loader.dispose()
    if not isinstance(data, dict):
        kind = "empty" if data is None else type(data).__name__
        raise SpecInvalid(f"the document is {kind}, not an OpenAPI object", path=label, pointer="", line=1)
    return data, lines


def check_yaml_bounds(text: str, label: str) -> None:
    """Refuse (`SpecUnreadable`), before any node is built, a document too deep or too large,
    counting what each YAML alias would expand to (`core.bounded`, the loader every file goes through)."""
    try:
        bounded.check_yaml_bounds(text, what="documents", max_depth=MAX_NESTING, max_nodes=MAX_NODES, max_alias_nodes=MAX_ALIAS_NODES)
    except bounded.Bounded as exc:
        raise SpecUnreadable(exc.message, path=label, line=exc.line) from None


def _unreadable(message: str, label: str, event: yaml.Event | yaml.Node) -> SpecUnreadable:
    return SpecUnreadable(message, path=label, line=event.start_mark.line + 1 if event.start_mark else None)


def _index(root: yaml.Node, label: str) -> dict[str, int]:
    """Each JSON pointer's line, for error messages; on the way, hold the YAML to the JSON
    data model, as OpenAPI asks ("tags MUST be limited to those allowed by the JSON Schema
    ruleset", keys are strings): a key like `200:` is the string "200", an unquoted date is
    text, anything else JSON cannot say (`!!set`, `!!binary`, `.nan`) is refused here,
    before a validator meets it mid-run. Iterative: `_bound` has capped the work."""
    import yaml

    lines: dict[str, int] = {}
    stack: list[tuple[yaml.Node, str]] = [(root, "")]
    while stack:
        node, pointer = stack.pop()
        lines[pointer] = node.start_mark.line + 1
        if isinstance(node, yaml.ScalarNode):
            _check_scalar(node, label)
        elif node.tag not in _JSON_TAGS:
            raise _unreadable(f"YAML tag {node.tag.replace(_TAG, '!!')} is not allowed: an OpenAPI document holds JSON data only", label, node)
        elif isinstance(node, yaml.MappingNode):
            for key, value in reversed(node.value):
                if not isinstance(key, yaml.ScalarNode):
                    raise _unreadable("a mapping key is not a string: an OpenAPI document holds JSON data only", label, key)
                if key.tag != _TAG + "merge":  # `<<: *base` stays a merge
                    _check_scalar(key, label, key=True)
                stack.append((value, f"{pointer}/{_escape(str(key.value))}"))
        else:
            stack.extend((value, f"{pointer}/{index}") for index, value in reversed(list(enumerate(node.value))))
    return lines


def _check_scalar(node: yaml.ScalarNode, label: str, *, key: bool = False) -> None:
    if node.tag not in _JSON_TAGS and node.tag not in _TEXT_TAGS:
        raise _unreadable(f"YAML tag {node.tag.replace(_TAG, '!!')} is not allowed: an OpenAPI document holds JSON data only", label, node)
    if key or node.tag in _TEXT_TAGS:
        node.tag = _TAG + "str"  # keys are strings; JSON has no dates: `2024-01-01` is the text it looks like
    elif node.tag == _TAG + "float" and not math.isfinite(bounded.yaml_float(node)):
        raise _unreadable(f"{node.value} is not a number JSON can hold", label, node)

