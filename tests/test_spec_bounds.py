"""Documents come from whoever hands over the file: bounded before anything builds them, and
every document `load_spec` accepts is one `check` can use (issue 11, bounded documents).

Each refused input is one line and exit 2 (`SpecUnreadable`) or 1 (`SpecInvalid`) from
`lint`, exit 2 from `check`, never "internal error" or a traceback.
"""

import copy
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from migma_contract import SpecInvalid, SpecUnreadable, contract_for, load_spec
from migma_contract.cli import main
from migma_contract.core.exceptions import SpecError
from migma_contract.document import model as _model
from migma_contract.document import read as _read
from migma_contract.document.model import iter_schemas
from migma_contract.document.read import MAX_ALIAS_NODES, MAX_DOCUMENT_BYTES, MAX_NESTING
from migma_contract.document.spec import bundled_spec_path

BUNDLED = bundled_spec_path().read_text()
JSON_HEADERS = {"content-type": "application/json"}


def vendor() -> dict[str, Any]:
    return yaml.safe_load(BUNDLED)


def schemas(document: dict[str, Any]) -> dict[str, Any]:
    return document["components"]["schemas"]


def operation(document: dict[str, Any]) -> dict[str, Any]:
    return document["paths"]["/v1/sending"]["post"]


def write(tmp_path: Path, content: str | dict[str, Any], name: str = "doc.yaml") -> Path:
    path = tmp_path / name
    path.write_text(content if isinstance(content, str) else yaml.safe_dump(content, sort_keys=False))
    return path


def cli(*args: str) -> Any:
    return CliRunner().invoke(main, list(args))


def assert_refused_by_the_cli(path: Path, lint_code: int, fragment: str) -> None:
    """`lint` says NOT USABLE with its exit code; `check` one line, exit 2; neither crashes."""
    linted = cli("lint", str(path))
    assert linted.exit_code == lint_code, linted.output
    assert "NOT USABLE" in linted.output and fragment in linted.output
    checked = cli("check", "--spec", str(path), "--dry-run")
    assert checked.exit_code == 2, checked.output
    assert checked.output.startswith("migma-contract: error: ") and fragment in checked.output
    assert len(checked.output.strip().splitlines()) == 1
    for output in (linted.output, checked.output):
        assert "internal error" not in output and "Traceback" not in output


# --- YAML bounds: size, nesting, nodes, aliases ------------------------------------------------


def alias_bomb(levels: int) -> str:
    """'Billion laughs': each level lists the one before ten times; 10**levels strings in all."""
    names = "abcdefghij"
    lines = ["openapi: 3.1.0", "x-lol:", f"  a: &a [{','.join(['lol'] * 10)}]"]
    lines += [f"  {names[i]}: &{names[i]} [{','.join([f'*{names[i - 1]}'] * 10)}]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("levels", [5, 9], ids=["1e5-nodes", "1e9-nodes"])
def test_an_alias_bomb_is_refused_before_it_expands(tmp_path, levels):
    path = write(tmp_path, alias_bomb(levels))
    assert path.stat().st_size < 500
    with pytest.raises(SpecUnreadable, match=f"YAML aliases would add more than {MAX_ALIAS_NODES:,} nodes"):
        load_spec(path)
    assert_refused_by_the_cli(path, 2, "YAML aliases would add")


def test_a_recursive_alias_is_refused(tmp_path):
    path = write(tmp_path, "openapi: 3.1.0\nx-loop: &loop [*loop]\n")
    with pytest.raises(SpecUnreadable, match=r"alias \*loop is inside the node it names") as caught:
        load_spec(path)
    assert caught.value.line == 2
    assert_refused_by_the_cli(path, 2, "is inside the node it names")


@pytest.mark.parametrize(
    "text",
    [
        "openapi: 3.1.0\nx-deep: " + "[" * 990 + "]" * 990 + "\n",
        "openapi: 3.1.0\nx-deep: " + "{a: " * 990 + "1" + "}" * 990 + "\n",
        "openapi: 3.1.0\nx-deep:\n" + "".join("  " * depth + "- \n" for depth in range(1, 100)),
    ],
    ids=["flow-sequences-990", "flow-mappings-990", "block-sequences-100"],
)
def test_a_deep_document_is_refused(tmp_path, text):
    path = write(tmp_path, text)
    with pytest.raises(SpecUnreadable, match=f"nested more than {MAX_NESTING} levels deep"):
        load_spec(path)
    assert_refused_by_the_cli(path, 2, "levels deep")


def nested(levels: int) -> dict[str, Any]:
    node: dict[str, Any] = {}
    for _ in range(levels - 1):
        node = {"a": node}
    return node


def test_the_nesting_cap_is_exact(tmp_path):
    document = vendor()
    document["x-deep"] = nested(MAX_NESTING - 1)  # the root is the first level
    assert load_spec(write(tmp_path, document), full_validation=True).document["x-deep"]
    document["x-deep"] = nested(MAX_NESTING)
    with pytest.raises(SpecUnreadable, match="nested more than"):
        load_spec(write(tmp_path, document))


def test_an_alias_cannot_nest_the_document_past_the_cap(tmp_path):
    deep = "[" * 40 + "]" * 40
    text = f"openapi: 3.1.0\nx-a: &deep {deep}\nx-b: {'[' * 30}*deep{']' * 30}\n"
    with pytest.raises(SpecUnreadable, match=r"alias \*deep nests the document more than"):
        load_spec(write(tmp_path, text))


def test_a_few_aliases_and_a_merge_key_are_fine(tmp_path):
    text = BUNDLED.replace("    ApiError:\n      type: object", "    ApiError: &error\n      type: object")
    text = text.replace("  responses:\n    BadRequest:", "    Copy: *error\n    Merged:\n      <<: *error\n      description: merged\n"
                        "  responses:\n    BadRequest:")
    spec = load_spec(write(tmp_path, text), full_validation=True)
    components = spec.document["components"]["schemas"]
    assert components["Copy"] == components["ApiError"]
    assert components["Merged"] == {**components["ApiError"], "description": "merged"}


def test_the_node_cap(tmp_path, monkeypatch):
    monkeypatch.setattr(_read, "MAX_NODES", 400)  # the vendor's document has 415
    with pytest.raises(SpecUnreadable, match="more than 400 YAML nodes"):
        load_spec(write(tmp_path, BUNDLED + "# a copy\n"))


def test_a_file_over_the_size_cap_is_refused_unread(tmp_path):
    path = tmp_path / "big.yaml"
    path.write_text("openapi: 3.1.0\n" + "#" * MAX_DOCUMENT_BYTES)
    with pytest.raises(SpecUnreadable, match=f"larger than {MAX_DOCUMENT_BYTES // 2**20} MiB, the cap"):
        load_spec(path)
    assert_refused_by_the_cli(path, 2, "MiB, the cap")


def test_the_size_cap_is_exact(tmp_path, monkeypatch):
    path = write(tmp_path, BUNDLED + "# a copy\n")
    monkeypatch.setattr(_read, "MAX_DOCUMENT_BYTES", path.stat().st_size)
    assert load_spec(path).version == "3.1.0"
    monkeypatch.setattr(_read, "MAX_DOCUMENT_BYTES", path.stat().st_size - 1)
    with pytest.raises(SpecUnreadable, match="the cap on documents"):
        load_spec(path)


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="no /dev/zero")
def test_dev_zero_is_refused_at_the_cap():
    with pytest.raises(SpecUnreadable, match="MiB, the cap"):
        load_spec("/dev/zero")
    assert_refused_by_the_cli(Path("/dev/zero"), 2, "MiB, the cap")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs")
def test_an_endless_fifo_is_read_up_to_the_cap_only(tmp_path):
    fifo = tmp_path / "spec.yaml"
    os.mkfifo(fifo)
    written = []

    def endless_writer() -> None:
        with open(fifo, "wb") as pipe:  # blocks until the loader opens the other end
            try:
                while True:
                    pipe.write(b"# " + b"x" * 65_534)
                    written.append(65_536)
            except BrokenPipeError:  # the loader stopped reading and closed its end
                pass

    writer = threading.Thread(target=endless_writer, daemon=True)
    writer.start()
    with pytest.raises(SpecUnreadable, match="MiB, the cap"):
        load_spec(fifo)
    writer.join(timeout=30)
    assert not writer.is_alive()
    assert sum(written) < 2 * MAX_DOCUMENT_BYTES


# --- YAML holds JSON data only ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("snippet", "message"),
    [
        ("x-set: !!set {a: null}", "YAML tag !!set is not allowed"),
        ("x-bytes: !!binary aGVsbG8=", "YAML tag !!binary is not allowed"),
        ("x-own: !mine 1", "YAML tag !mine is not allowed"),
        ("x-nan: .nan", ".nan is not a number JSON can hold"),
        ("x-inf: -.inf", "-.inf is not a number JSON can hold"),
        ("x-huge: 1.0e+400", "is not a number JSON can hold"),
        ("? [a, b]\n: complex key", "a mapping key is not a string"),
    ],
    ids=["set", "binary", "custom-tag", "nan", "infinity", "overflow", "complex-key"],
)
def test_what_json_cannot_hold_is_refused(tmp_path, snippet, message):
    path = write(tmp_path, BUNDLED + snippet + "\n")
    with pytest.raises(SpecUnreadable, match=message) as caught:
        load_spec(path)
    assert caught.value.line == len(BUNDLED.splitlines()) + 1
    assert_refused_by_the_cli(path, 2, message.split(" is ")[0])


def test_unquoted_keys_and_dates_are_the_text_they_look_like(tmp_path):
    """OpenAPI: keys are strings and tags those of JSON, so `200:` is "200" and a date is text."""
    text = BUNDLED.replace("        '200':\n", "        200:\n").replace(
        "        sentCount:\n          type: integer\n", "        sentCount:\n          type: integer\n          example: 2026-11-26\n"
    )
    assert "        200:\n" in text and "example: 2026-11-26" in text
    spec = load_spec(write(tmp_path, text), full_validation=True)
    assert 200 in spec.documented_statuses
    assert spec.document["components"]["schemas"]["SendEmailResult"]["properties"]["sentCount"]["example"] == "2026-11-26"
    verdict = contract_for(spec).response_validator("strict").evaluate(200, JSON_HEADERS, b'{"success": true, "data": {"id": "x"}}')
    assert "success-schema" in verdict.applied


# --- keywords and refs the validators cannot follow ----------------------------------------------


def put(pointer: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """A mutation setting `value` at a JSON pointer of the vendor's document."""

    def mutate(document: dict[str, Any]) -> None:
        *parents, last = [part.replace("~1", "/") for part in pointer.strip("/").split("/")]
        node = document
        for part in parents:
            node = node.setdefault(part, {}) if isinstance(node, dict) else node[int(part)]
        node[last] = value

    return mutate


SCHEMAS = "/components/schemas"
RESULT = f"{SCHEMAS}/SendEmailResult"
REQUEST_MEDIA = "/paths/~1v1~1sending/post/requestBody/content/application~1json"

REFUSED: dict[str, tuple[Callable[[dict[str, Any]], None], str, str]] = {
    # name: (mutation, message fragment, where the error points)
    "dynamicRef": (put(f"{RESULT}/properties/id", {"$dynamicRef": "#meta"}), "$dynamicRef is not supported", f"{RESULT}/properties/id/$dynamicRef"),
    "dynamicAnchor": (put(f"{RESULT}/$dynamicAnchor", "meta"), "$dynamicAnchor is not supported", f"{RESULT}/$dynamicAnchor"),
    "recursiveRef": (put(f"{RESULT}/properties/id", {"$recursiveRef": "#"}), "$recursiveRef is not supported", f"{RESULT}/properties/id/$recursiveRef"),
    "id-in-a-component": (put(f"{RESULT}/$id", "https://example.com/result"), "$id is not supported", f"{RESULT}/$id"),
    "id-in-the-request-schema": (put(f"{REQUEST_MEDIA}/schema/$id", "request.json"), "$id is not supported", f"{REQUEST_MEDIA}/schema/$id"),
    "dynamicRef-in-a-parameter": (
        put("/paths/~1v1~1sending/post/parameters", [{"name": "q", "in": "query", "schema": {"$dynamicRef": "#q"}}]),
        "$dynamicRef is not supported", "/paths/~1v1~1sending/post/parameters/0/schema/$dynamicRef",
    ),
    "anchor-ref": (put(f"{RESULT}/properties/id", {"$ref": "#result"}), "anchors ('#name') are not supported", f"{RESULT}/properties/id/$ref"),
    "ref-with-a-space": (
        put(f"{RESULT}/properties/id", {"$ref": "#/components/schemas/SendEmailRequest/properties/a b"}),
        "percent-encoded", f"{RESULT}/properties/id/$ref",
    ),
    "schema-ref-outside-components": (
        put(f"{RESULT}/properties/id", {"$ref": "#/paths/~1v1~1sending/post/requestBody/content/application~1json/schema"}),
        "must point into #/components/schemas/", f"{RESULT}/properties/id/$ref",
    ),
    "schema-ref-to-a-list": (
        put(f"{RESULT}/properties/id", {"$ref": "#/components/schemas/SendEmailRequest/required"}),
        "points to a list, not a schema", f"{RESULT}/properties/id/$ref",
    ),
    "ref-loop": (
        lambda d: schemas(d).update(A={"$ref": "#/components/schemas/B"}, B={"$ref": "#/components/schemas/A"}),
        "$ref loop that never steps into the data", f"{SCHEMAS}/B/$ref",
    ),
    "allOf-itself": (put(f"{RESULT}/allOf", [{"$ref": "#/components/schemas/SendEmailResult"}]), "$ref loop", f"{RESULT}/allOf/0/$ref"),
    "response-ref-loop": (
        lambda d: d["components"]["responses"].update(
            BadRequest={"$ref": "#/components/responses/Unauthorized"}, Unauthorized={"$ref": "#/components/responses/BadRequest"}
        ),
        "$ref loop", "/components/responses/Unauthorized/$ref",
    ),
    "external-ref-in-an-extension": (put(f"{RESULT}/x-meta", {"$ref": "http://example.com/x"}), "points outside the document", f"{RESULT}/x-meta/$ref"),
    "no-recipientType": (
        lambda d: schemas(d)["SendEmailRequest"]["properties"].pop("recipientType"), "recipientType an enum of strings", f"{REQUEST_MEDIA}/schema",
    ),
    "recipientType-without-enum": (
        lambda d: schemas(d)["SendEmailRequest"]["properties"]["recipientType"].pop("enum"), "recipientType an enum of strings", f"{REQUEST_MEDIA}/schema",
    ),
    "recipientType-nullable": (
        put(f"{SCHEMAS}/SendEmailRequest/properties/recipientType/nullable", True), "found ['email', 'audience', 'segment', 'tag', None]",
        f"{REQUEST_MEDIA}/schema",
    ),
    "request-schema-true": (put(f"{REQUEST_MEDIA}/schema", True), "recipientType an enum of strings", f"{REQUEST_MEDIA}/schema"),
    "request-schema-an-array": (put(f"{SCHEMAS}/SendEmailRequest", {"type": "array"}), "recipientType an enum of strings", f"{REQUEST_MEDIA}/schema"),
}


@pytest.mark.parametrize("name", list(REFUSED))
def test_what_check_could_not_use_is_a_lint_error(tmp_path, name):
    mutate, fragment, pointer = REFUSED[name]
    document = vendor()
    mutate(document)
    path = write(tmp_path, document)
    with pytest.raises(SpecInvalid) as caught:
        load_spec(path, full_validation=True)
    assert fragment in caught.value.detail and "\n" not in str(caught.value)
    assert caught.value.pointer == pointer
    assert caught.value.line is not None
    assert_refused_by_the_cli(path, 1, fragment)


def test_the_error_line_is_the_keyword_s_line(tmp_path):
    document = vendor()
    REFUSED["dynamicRef"][0](document)
    path = write(tmp_path, document)
    with pytest.raises(SpecInvalid) as caught:
        load_spec(path)
    assert path.read_text().splitlines()[caught.value.line - 1].strip() == "$dynamicRef: '#meta'"


ACCEPTED: dict[str, Callable[[dict[str, Any]], None]] = {
    "schema-with-$anchor": put(f"{RESULT}/$anchor", "result"),
    "recursion-through-a-property": put(f"{SCHEMAS}/SendEmailRequest/properties/variables", {"$ref": "#/components/schemas/SendEmailRequest"}),
    "property-named-$ref": put(f"{SCHEMAS}/SendEmailRequest/properties/$ref", {"type": "string"}),
    "property-named-$id": put(f"{RESULT}/properties/$id", {"type": "string"}),
    "property-named-default-holding-a-ref": put(f"{RESULT}/properties/default", {"$ref": "#/components/schemas/ApiError"}),
    "ref-text-inside-example-and-const": lambda d: (
        put(f"{RESULT}/example", {"$ref": "#/nowhere"})(d), put(f"{RESULT}/properties/provider/const", {"$ref": "#/x"})(d)
    ),
    "type-list": put(f"{SCHEMAS}/SendEmailRequest/properties/subject/type", ["string", "integer"]),
    "items-false": put(f"{SCHEMAS}/SendEmailRequest/properties/tags", {"type": "array", "items": False}),
    "boolean-property-schemas": lambda d: (
        put(f"{SCHEMAS}/SendEmailRequest/properties/subject", True)(d), put(f"{SCHEMAS}/SendEmailRequest/properties/fromName", False)(d)
    ),
    "boolean-response-schema": put("/paths/~1v1~1sending/post/responses/200/content/application~1json/schema", False),
    "ref-to-a-boolean-component": lambda d: (
        put(f"{SCHEMAS}/Anything", True)(d), put(f"{RESULT}/properties/provider", {"$ref": "#/components/schemas/Anything"})(d)
    ),
    "ref-into-a-component-s-property": put(f"{RESULT}/properties/provider", {"$ref": "#/components/schemas/SendEmailRequest/properties/from"}),
    "percent-encoded-ref": lambda d: (
        put(f"{SCHEMAS}/SendEmailRequest/properties/a b", {"type": "string"})(d),
        put(f"{RESULT}/properties/provider", {"$ref": "#/components/schemas/SendEmailRequest/properties/a%20b"})(d),
    ),
    "ref-with-siblings": put(f"{RESULT}/properties/provider", {"$ref": "#/components/schemas/ApiError", "description": "x"}),
    "request-body-by-ref": lambda d: (
        d["components"].update(requestBodies={"Send": operation(d)["requestBody"]}),
        operation(d).update(requestBody={"$ref": "#/components/requestBodies/Send"}),
    ),
    "2XX-response": lambda d: operation(d)["responses"].update({"2XX": operation(d)["responses"].pop("200")}),
    "openapi-3.0": lambda d: d.update(openapi="3.0.3"),
}


def assert_usable(spec: Any) -> None:
    """What `check` does with a document, short of sending: compile every validator."""
    contract = contract_for(spec)
    contract.request_validator("strict").violations({"recipientType": "email"})
    validator = contract.response_validator("strict")
    for status in (*spec.documented_statuses, 200, 500):
        validator.evaluate(status, JSON_HEADERS, b"{}")
        validator.evaluate(status, JSON_HEADERS, b'{"success": true, "data": {"id": "m_1", "status": "queued"}, "error": null}')
    contract.enriched_document("strict")


@pytest.mark.parametrize("name", list(ACCEPTED))
def test_a_document_lint_accepts_can_be_checked(tmp_path, name):
    document = vendor()
    ACCEPTED[name](document)
    path = write(tmp_path, document)
    assert_usable(load_spec(path, full_validation=True))  # what `lint` loads
    planned = cli("check", "--spec", str(path), "--dry-run")
    assert planned.exit_code == 0, planned.output
    assert "planned requests" in planned.output


# --- any document load_spec accepts, check can use --------------------------------------------

_COMPONENTS = sorted(schemas(vendor()))
_SCHEMA_POINTERS = [pointer for pointer, _ in iter_schemas(vendor())]
_EDITS = st.sampled_from([
    ("type", ["string", "integer"]), ("type", ["object", "null"]), ("type", "null"), ("type", "array"), ("type", "boolean"),
    ("items", False), ("items", True), ("items", {"type": "string"}), ("prefixItems", [True, False]),
    ("properties", {"$ref": {"type": "string"}}), ("properties", {"x": True, "y": False}), ("properties", {}),
    ("additionalProperties", False), ("additionalProperties", {"type": "integer"}), ("unevaluatedProperties", False),
    ("required", []), ("required", ["recipientType", "nope"]), ("enum", ["a", 1, None]), ("enum", []), ("const", {"$ref": "#/x"}),
    ("allOf", [True]), ("anyOf", [False, {"type": "string"}]), ("oneOf", [{"type": "integer"}, {"type": "string"}]),
    ("not", {}), ("if", {"required": ["a"]}), ("then", False), ("$anchor", "here"), ("minLength", 10**12), ("nullable", True),
    ("format", "email"), ("pattern", "^[a-z]+$"), ("default", None), ("example", "2026-11-26"),
] + [("$ref", f"#/components/schemas/{name}") for name in _COMPONENTS])
_TARGETS = st.sampled_from(_SCHEMA_POINTERS)


@settings(max_examples=15, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(edits=st.lists(st.tuples(_TARGETS, _EDITS | st.sampled_from([("", True), ("", False)])), min_size=1, max_size=3))
def test_any_document_load_spec_accepts_compiles(tmp_path, edits):
    document = vendor()
    for pointer, (keyword, value) in edits:
        node = _model._lookup(document, pointer)
        if not isinstance(node, dict):
            continue  # replaced by an earlier edit
        if keyword:
            node[keyword] = copy.deepcopy(value)
        else:  # the whole schema becomes `true` or `false`
            parent, _, last = pointer.rpartition("/")
            holder = _model._lookup(document, parent)
            holder[int(last) if isinstance(holder, list) else last.replace("~1", "/").replace("~0", "~")] = value
    path = write(tmp_path, document)
    try:
        spec = load_spec(path, full_validation=True)
    except SpecError as exc:
        assert isinstance(exc, SpecInvalid | SpecUnreadable)
        assert "\n" not in str(exc)
        return
    assert_usable(spec)


def test_the_bundled_fast_path_builds_what_the_checked_path_builds():
    """The bundled bytes skip the bounds and the OpenAPI validation (their sha256 is trusted):
    the full path must build exactly the same document from them."""
    fast, checked = load_spec(), load_spec(bundled_spec_path(), full_validation=True)
    assert fast.original == checked.original and fast.document == checked.document
    assert fast.repairs == checked.repairs and fast.notes == checked.notes
