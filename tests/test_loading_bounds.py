"""Red-team pass H on the files handed in: every YAML file is read by one loader, and what a document costs is bounded.

Each test reproduces one finding of pass H (issue 24) on its class, with a count or a value that shows
the cost, never a wall-time bound: H3 (YAML 1.1 scalars, quadratic to build, in every YAML loader),
H2 (a document whose references expand exponentially), M4(a) (a schema number the validators cannot
compile), L4 (a document's own `$schema` in the compiled schemas).
"""

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

import migma_contract
from migma_contract import load_spec
from migma_contract.cli import main
from migma_contract.core import bounded
from migma_contract.core.exceptions import ConfigError, SpecError
from migma_contract.document.spec import bundled_spec_path
from migma_contract.mock._config import load_mock_config
from migma_contract.traffic import recordings

PACKAGE = Path(migma_contract.__file__).parent
SEXAGESIMAL = "1" + ":1" * 2000  # YAML 1.1: an integer of 2,001 base-60 digits, built in quadratic time


def vendor() -> dict[str, Any]:
    return yaml.safe_load(bundled_spec_path().read_text())


def lint(path: Path) -> Any:
    return CliRunner().invoke(main, ["lint", str(path)], catch_exceptions=False)


# --- H3: one loader for every YAML file, scalars read as JSON data --------------------------------------------


def test_h3_every_yaml_read_in_the_package_goes_through_the_one_loader():
    """Pass H, H3: the document reader, the cassette reader and the mock each chose their own YAML loader (YAML 1.1's
    SafeLoader): a new reader cannot pick another one unseen."""
    found = []
    for path in PACKAGE.rglob("*.py"):
        if path.name == "bounded.py" and path.parent.name == "core":
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if re.search(r"yaml\.(safe_)?load|yaml\.(full_)?load_all|SafeLoader|CSafeLoader|yaml\.Loader\b|BaseLoader", line):
                found.append(f"{path.relative_to(PACKAGE)}:{number}: {line.strip()}")
    allowed = [f for f in found if "bounded.YAML_LOADER" in f or "Loader=_YAML_LOADER" in f]
    assert found == allowed, found
    assert issubclass(recordings._Loader, bounded.YAML_LOADER)


@pytest.mark.parametrize("kind", ["document", "cassette", "mock world", "any file"])
def test_h3_a_sexagesimal_scalar_is_text_in_every_yaml_reader(kind, tmp_path):
    """Pass H, H3: `1:1:1:...` was a YAML 1.1 base-60 integer, whose value costs quadratic time to build (800 KB: 34 s
    in `judge`, 45 s in `lint`). Read by the YAML 1.2 core schema, as OpenAPI 3.1 asks, it is the text it looks like."""
    if kind == "document":
        document = vendor()
        document["x-big"] = "PLACEHOLDER"
        path = tmp_path / "doc.yaml"
        path.write_text(yaml.safe_dump(document, sort_keys=False).replace("PLACEHOLDER", SEXAGESIMAL))
        assert load_spec(path).original["x-big"] == SEXAGESIMAL
    elif kind == "cassette":
        value = bounded.load_yaml(f"interactions:\n- x: {SEXAGESIMAL}\n", loader=recordings._Loader)
        assert value == {"interactions": [{"x": SEXAGESIMAL}]}
    elif kind == "mock world":
        path = tmp_path / "world.yaml"
        path.write_text(f"keys:\n  - key: {SEXAGESIMAL}\n    name: {SEXAGESIMAL}\n    scopes: [email:send]\n")
        assert load_mock_config(path).raw["keys"][0]["name"] == SEXAGESIMAL
    else:
        assert bounded.load_yaml(f"a: {SEXAGESIMAL}") == {"a": SEXAGESIMAL}


def test_h3_plain_scalars_resolve_by_the_yaml_1_2_core_schema():
    """Pass H, H3: only JSON's scalar types, as the YAML 1.2 core schema reads them; YAML 1.1's other forms are text."""
    text = ("a: yes\nb: on\nc: 2024-01-01\nd: 1_000\ne: 0b101\nf: 1:30\ng: 012\nh: 0o17\ni: 0x1F\nj: 1e5\nk: true\nl: ~\n"
            "m: .inf\nn: -2.5\no: Null\n")
    assert bounded.load_yaml(text) == {"a": "yes", "b": "on", "c": "2024-01-01", "d": "1_000", "e": "0b101", "f": "1:30", "g": 12,
                                       "h": 15, "i": 31, "j": 100000.0, "k": True, "l": None, "m": float("inf"), "n": -2.5, "o": None}


@pytest.mark.parametrize("scalar", ["!!int 1" + ":1" * 200, "!!float 1" + ":1" * 200, "!!int 1_000", "!!bool yes", "!!int ''",
                                    "!!float ''"])
def test_h3_an_explicit_tag_is_built_by_the_same_rules_or_refused_in_one_line(scalar):
    """Pass H, H3: `!!int 1:1:1...` was built by YAML 1.1's constructor whatever the resolver said (and `!!int ''`,
    `!!bool yes` raised IndexError, KeyError: exit 3)."""
    with pytest.raises(bounded.Malformed) as refused:
        bounded.load_yaml(f"a: {scalar}\n")
    assert refused.value.line == 1 and "\n" not in refused.value.message


@pytest.mark.parametrize("number", ["9" * 1001, "0x" + "f" * 5000, "-" + "1" * 1001, "1." + "5" * 1000, "!!float " + "7" * 1001])
def test_h3_a_number_past_the_cap_is_refused_before_it_is_built(number, tmp_path):
    """Pass H, H3/M4(a): an integer of 5,000 hex digits was built (and then crashed whatever printed it); a number is
    refused past `MAX_NUMBER_CHARS` characters, in every reader, with a one-line message naming the cap."""
    with pytest.raises(bounded.Bounded, match=r"more than 1,000 characters \(the cap on numbers\)"):
        bounded.load_yaml(f"a: {number}\n")
    world = tmp_path / "world.yaml"
    world.write_text(f"limits:\n  max_body_bytes: {number}\n")
    with pytest.raises(ConfigError, match="the cap on numbers"):
        load_mock_config(world)
    document = vendor()
    document["components"]["schemas"]["SendEmailRequest"]["properties"]["subject"]["maxLength"] = 1234567
    path = tmp_path / "doc.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False).replace("1234567", number))
    with pytest.raises(SpecError, match="the cap on numbers"):
        load_spec(path)
    result = lint(path)
    assert result.exit_code == 2 and "NOT USABLE" in result.output and "the cap on numbers" in result.output, result.output


# --- H2: what a document's references expand to is bounded before any walker expands them --------------------


def reference_dag(tmp_path: Path, levels: int, kind: str = "allOf") -> Path:
    """The vendor's document plus schemas M0..M<levels>, each naming the next twice: 2^levels once expanded."""
    document = vendor()
    schemas = document["components"]["schemas"]
    for i in range(levels):
        ref = {"$ref": f"#/components/schemas/M{i + 1}"}
        schemas[f"M{i}"] = {"allOf": [ref, dict(ref)]} if kind == "allOf" else {"type": "object", "properties": {"a": ref, "b": dict(ref)}}
    schemas[f"M{levels}"] = {"type": "object", "properties": {"z": {"type": "string"}}}
    schemas["SendEmailRequest"]["properties"]["meta"] = {"$ref": "#/components/schemas/M0"}
    path = tmp_path / f"dag_{kind}_{levels}.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


@pytest.mark.parametrize("kind", ["allOf", "properties"])
def test_h2_a_reference_dag_is_refused_by_the_bound_before_any_walker_expands_it(kind, tmp_path, monkeypatch):
    """Pass H, H2: a 10 KB document of 30 schemas, each naming the next twice, cost exponential CPU in `lint`, `diff` and
    `check --spec` (L=16: 14 s, L=30: over a minute): the OpenAPI validator walks shared definitions once per path. Its
    size once expanded (counted once per definition) is past the cap: exit 2 naming the cap, and no validator runs."""
    from migma_contract.document import lint as document_lint

    def never(*_: Any) -> None:
        raise AssertionError("the OpenAPI validator walked a document past the cap")

    monkeypatch.setattr(document_lint, "_validate_openapi", never)
    path = reference_dag(tmp_path, 30, kind)
    refs = document_lint._check_keywords(yaml.safe_load(path.read_text()), lambda message, _: AssertionError(message))
    assert document_lint.expanded_size(yaml.safe_load(path.read_text()), refs, 10**12) > 2**30
    for args in (["lint", path], ["diff", bundled_spec_path(), path], ["check", "--spec", path, "--max-requests", "1"]):
        result = CliRunner().invoke(main, [str(arg) for arg in args], catch_exceptions=False)
        assert result.exit_code == 2, (args, result.output)
        assert "expand to more than 200,000 nodes (the cap on documents" in result.output, result.output


def test_h2_the_openapi_validator_gathers_each_schemas_properties_once(tmp_path, monkeypatch):
    """Pass H, H2: under the cap, openapi-spec-validator's walk still gathered an `allOf` branch's properties once per
    path to it (2^L calls for L levels); memoised, once per schema."""
    from openapi_spec_validator.validation import keywords

    calls = []
    original = keywords.SchemaValidator._collect_properties

    def counted(self: Any, schema: Any) -> set[str]:
        calls.append(1)
        return original(self, schema)

    monkeypatch.setattr(keywords.SchemaValidator, "_collect_properties", counted)
    load_spec(reference_dag(tmp_path, 12))  # under the cap: validated, and usable
    assert 0 < len(calls) < 200, len(calls)  # 2^12 = 4,096 without the memo


def test_h2_recursive_definitions_stay_cheap_and_usable(tmp_path):
    """A tree (a definition reaching itself) and a tangle of definitions naming each other are what real documents
    hold: a $ref into a recursive definition counts as one node, as every walker stops there; both load."""
    document = vendor()
    schemas = document["components"]["schemas"]
    for i in range(9):
        schemas[f"R{i}"] = {"type": "object", "properties": {f"r{j}": {"$ref": f"#/components/schemas/R{j}"} for j in range(9)}}
    schemas["Tree"] = {"type": "object", "properties": {"children": {"type": "array", "items": {"$ref": "#/components/schemas/Tree"}}}}
    schemas["SendEmailRequest"]["properties"]["meta"] = {"$ref": "#/components/schemas/R0"}
    schemas["SendEmailRequest"]["properties"]["tree"] = {"$ref": "#/components/schemas/Tree"}
    path = tmp_path / "recursive.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    spec = load_spec(path)
    from migma_contract.document import lint as document_lint

    refs = document_lint._check_keywords(spec.original, lambda message, _: AssertionError(message))
    assert document_lint.expanded_size(spec.original, refs, 10**12) < 2_000
    assert lint(path).exit_code == 0


def test_h2_a_tangle_of_definitions_naming_each_other_is_inlined_once_each():
    """Pass H, H2 (the toolkit's own walker): the validators' fast path inlined a definition again on every path that
    did not repeat it: 9 definitions each naming all 9 (a response schema holding them) took 100 s and 3.6 GB in
    `lint` and `check`. Recursive definitions keep their $ref, the others are inlined once and shared."""
    from migma_contract.contract.fastschema import inline_refs

    defs = {f"R{i}": {"type": "object", "properties": {f"r{j}": {"$ref": f"#/$defs/R{j}"} for j in range(6)}} for i in range(6)}
    defs["Leaf"] = {"type": "string"}
    defs["Pair"] = {"properties": {"a": {"$ref": "#/$defs/Leaf"}, "b": {"$ref": "#/$defs/Leaf"}}}

    def nodes(node: Any) -> int:
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
        return 1 + sum(nodes(child) for child in children)

    inlined = inline_refs({"properties": {"x": {"$ref": "#/$defs/R0"}, "p": {"$ref": "#/$defs/Pair"}}}, defs)
    assert inlined["properties"]["x"] == {"$ref": "#/$defs/R0"}  # 6! paths through the tangle before
    assert inlined["properties"]["p"]["properties"]["a"] is inlined["properties"]["p"]["properties"]["b"]  # inlined once
    assert nodes(inlined) < 20


# --- M4(a): what the validators cannot compile is a document error, in one place -------------------------------


def with_result_id(tmp_path: Path, keyword: str, value: Any, name: str = "doc.yaml") -> Path:
    document = vendor()
    document["components"]["schemas"]["SendEmailResult"]["properties"]["id"][keyword] = value
    path = tmp_path / name
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def test_m4a_a_schema_the_validators_cannot_compile_is_a_document_error_before_anything_runs(tmp_path):
    """Pass H, M4(a): a schema the OpenAPI validator accepts (Python reads `(?P=n)`) but the validators cannot compile
    (Rust does not) was called usable by `lint` and crashed `check` mid-run ("internal error", exit 3)."""
    path = with_result_id(tmp_path, "pattern", "(?P<n>a)(?P=n)")
    (tmp_path / "none.har").write_text('{"log": {"version": "1.2", "creator": {"name": "t", "version": "1"}, "entries": []}}')
    result = lint(path)
    assert result.exit_code == 1 and "NOT USABLE" in result.output, result.output
    assert "cannot compile" in result.output and "/components/schemas/SendEmailResult/properties/id/pattern" in result.output
    for args in (["check", "--spec", path, "--max-requests", "1", "--report-dir", tmp_path / "r"],
                 ["judge", tmp_path / "none.har", "--spec", path]):
        result = CliRunner().invoke(main, [str(arg) for arg in args], catch_exceptions=False)
        assert result.exit_code == 2 and "cannot compile" in result.output and "internal error" not in result.output, result.output
        assert len(result.output.strip().splitlines()) <= 2, result.output


@pytest.mark.parametrize("failure", [ValueError("Failed to convert large integer to string"), OverflowError("too big"),
                                     RecursionError("maximum recursion depth exceeded"), TypeError("odd")])
def test_m4a_any_failure_compiling_the_document_is_mapped_in_one_place(failure, monkeypatch, tmp_path):
    """Pass H, M4(a): a schema number the compiler could not convert raised ValueError from the validators' compile;
    whatever the compiler raises on the user's document is a `SpecInvalid` naming the document."""
    from migma_contract.contract import validators
    from migma_contract.core.exceptions import SpecInvalid

    def broken(*_: Any, **__: Any) -> Any:
        raise failure

    spec = load_spec(with_result_id(tmp_path, "maxLength", 10**900))  # a number Rust converts (under the loader's cap)
    monkeypatch.setattr(validators.jsonschema_rs, "Draft202012Validator", broken)
    with pytest.raises(SpecInvalid, match="cannot compile") as refused:
        validators.Contract(spec).compile_all()
    assert refused.value.path == spec.source and "\n" not in str(refused.value)


def test_m4a_the_bundled_document_compiles_whole_so_a_checks_start_may_skip_it():
    """`contract_for` compiles a document handed in whole at once, and spares the bundled bytes (a check's start):
    they must compile, at every level and status."""
    from migma_contract.contract import validators

    validators.Contract(load_spec()).compile_all()


# --- L4: the document's `$schema` never reaches the compiled schemas --------------------------------------------


def test_l4_a_documents_schema_dialect_is_not_carried_into_the_compiled_schemas(tmp_path):
    """Pass H, L4: a `$schema` in the document (draft-07, draft-04) stayed in the standalone
    schemas the validators compile; the validators' own dialect stands, and no `$schema` of the document's is kept.
    Instance data is copied unchanged (a `const` holding `$ref` and `$schema` keys is data, not a keyword)."""
    document = vendor()
    draft4 = "http://json-schema.org/draft-04/schema#"
    media = document["paths"]["/v1/sending"]["post"]["responses"]["200"]["content"]["application/json"]
    media["schema"] = {"$schema": "http://json-schema.org/draft-07/schema#", "allOf": [media["schema"]]}
    result = document["components"]["schemas"]["SendEmailResult"]
    result["$schema"] = draft4
    result["properties"]["id"]["$schema"] = draft4
    result["properties"]["$schema"] = {"type": "string"}  # a property called $schema: a name, kept
    result["properties"]["kind"] = {"const": {"$schema": draft4, "$ref": "#/components/schemas/SendEmailResult"}}
    path = tmp_path / "dialect.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    spec = load_spec(path)
    compiled = spec.response_schema(200)
    assert compiled["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    kept = compiled["$defs"]["SendEmailResult"]
    assert "$schema" not in kept and "$schema" not in kept["properties"]["id"] and "$schema" in kept["properties"]
    assert kept["properties"]["kind"]["const"] == {"$schema": draft4, "$ref": "#/components/schemas/SendEmailResult"}

    def dialects(node: Any, data: bool = False) -> list[str]:
        if isinstance(node, list):
            return [d for item in node for d in dialects(item, data)]
        if not isinstance(node, dict):
            return []
        found = [node["$schema"]] if isinstance(node.get("$schema"), str) and not data else []
        return found + [d for key, value in node.items() if key != "$schema"
                        for d in dialects(value, data or key in ("const", "enum", "default", "examples"))]

    assert dialects(compiled) == ["https://json-schema.org/draft/2020-12/schema"]
