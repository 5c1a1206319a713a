"""The spec layer: the bundled copy, loading, checking, repairing, fingerprinting."""

import copy
import hashlib
import json
import re
from pathlib import Path

import pytest
import yaml

from migma_contract import SpecInvalid, SpecUnreadable, load_spec, validate_response
from migma_contract.document.spec import Spec, bundled_spec_path

ROOT = Path(__file__).resolve().parent.parent
SUCCESS_WITH_NULL_ERROR = {"success": True, "data": {"id": "m_1", "status": "queued"}, "error": None}
JSON_HEADERS = {"content-type": "application/json"}


def vendor_document() -> dict:
    return yaml.safe_load(bundled_spec_path().read_text())


def write(tmp_path: Path, name: str, document) -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(document) if name.endswith(".json") else yaml.safe_dump(document, sort_keys=False))
    return path


def test_bundled_copy_is_the_vendor_document_byte_for_byte():
    recorded = re.search(r"sha256: `([0-9a-f]{64})`", (ROOT / "spec" / "ORIGIN.md").read_text()).group(1)
    actual = hashlib.sha256((ROOT / "spec" / "openapi.yaml").read_bytes()).hexdigest()
    assert actual == recorded
    assert load_spec().fingerprint == f"sha256:{recorded}"
    from migma_contract.document.spec import BUNDLED_SHA256

    assert recorded == BUNDLED_SHA256  # the trusted digest is the recorded one


def test_the_bundled_document_passes_full_openapi_validation():
    spec = load_spec(full_validation=True)
    assert spec.source == "bundled" and len(spec.repairs) == 2


def test_nullable_is_repaired_and_recorded():
    spec = load_spec()
    repaired = {r.pointer: r for r in spec.repairs}
    error = repaired["/components/schemas/ApiResponse/properties/error"]
    assert error.kind == "nullable" and error.after == {"type": ["string", "null"]}
    assert "/components/schemas/ApiResponse/properties/data" in repaired
    assert spec.document["components"]["schemas"]["ApiResponse"]["properties"]["error"] == {"type": ["string", "null"]}
    # the original stays as published
    assert spec.original["components"]["schemas"]["ApiResponse"]["properties"]["error"]["nullable"] is True


def test_the_repair_is_what_lets_error_null_pass():
    repaired = load_spec()
    assert validate_response(200, JSON_HEADERS, SUCCESS_WITH_NULL_ERROR, spec=repaired) == []
    unrepaired = Spec(
        source="unrepaired", fingerprint="sha256:unrepaired", version=repaired.version,
        original=repaired.original, document=copy.deepcopy(repaired.original),
    )
    broken = validate_response(200, JSON_HEADERS, SUCCESS_WITH_NULL_ERROR, spec=unrepaired)
    assert [v.rule_id for v in broken] == ["success-schema"]
    assert broken[0].pointer == "/error"


def test_a_document_given_by_path_in_json_loads(tmp_path):
    path = write(tmp_path, "vendor.json", vendor_document())
    spec = load_spec(path)
    assert spec.source == str(path)
    assert spec.fingerprint == "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()
    assert len(spec.repairs) == 2


def test_an_openapi_30_document_gets_nullable_as_30_meant_it(tmp_path):
    document = vendor_document()
    document["openapi"] = "3.0.3"
    spec = load_spec(write(tmp_path, "v30.yaml", document))
    assert spec.document["components"]["schemas"]["ApiResponse"]["properties"]["error"]["type"] == ["string", "null"]


def test_a_property_named_nullable_is_not_mistaken_for_the_keyword(tmp_path):
    document = vendor_document()
    document["components"]["schemas"]["SendEmailResult"]["properties"]["nullable"] = {"type": "boolean"}
    spec = load_spec(write(tmp_path, "prop.yaml", document))
    assert spec.request_properties  # loads
    assert spec.document["components"]["schemas"]["SendEmailResult"]["properties"]["nullable"] == {"type": "boolean"}


def test_spec_exposes_operation_schemas_and_statuses():
    spec = load_spec()
    assert spec.operation["operationId"] == "SendEmail"
    assert spec.documented_statuses == {200, 400, 401, 403}
    assert spec.request_required == ["recipientType", "from", "fromName", "subject"]
    assert spec.response_media_types(400) == ("application/json",)
    assert spec.response_schema(400)["$ref"] == "#/$defs/ApiError"
    assert spec.response_schema(418) is None


@pytest.mark.parametrize(
    ("name", "content", "error", "message"),
    [
        ("bad.yaml", "openapi: 3.1.0\ninfo: {title: x\n  version: 1\n", SpecUnreadable, r"bad\.yaml:3: not valid YAML"),
        ("binary.yaml", b"\xff\xfe\x00", SpecUnreadable, "not UTF-8"),
        ("list.yaml", "- 1\n- 2\n", SpecInvalid, "not an OpenAPI object"),
        ("swagger.yaml", "swagger: '2.0'\n", SpecInvalid, "'openapi' must be a 3.0.x or 3.1.x"),
    ],
)
def test_unusable_files_get_a_clear_error(tmp_path, name, content, error, message):
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(error, match=message) as caught:
        load_spec(path)
    assert caught.value.path == str(path)


def test_missing_file(tmp_path):
    with pytest.raises(SpecUnreadable, match="no such file"):
        load_spec(tmp_path / "nope.yaml")


def test_missing_paths_names_the_problem(tmp_path):
    document = vendor_document()
    del document["paths"]
    with pytest.raises(SpecInvalid, match="no 'paths'") as caught:
        load_spec(write(tmp_path, "nopaths.yaml", document))
    assert caught.value.pointer == "/paths"


def test_ref_to_nowhere_names_the_ref_and_its_line(tmp_path):
    document = vendor_document()
    document["paths"]["/v1/sending"]["post"]["responses"]["200"]["content"]["application/json"]["schema"]["$ref"] = "#/components/schemas/Nope"
    path = write(tmp_path, "badref.yaml", document)
    with pytest.raises(SpecInvalid, match="'#/components/schemas/Nope' points to nothing") as caught:
        load_spec(path)
    assert caught.value.pointer.endswith("/responses/200/content/application~1json/schema/$ref")
    assert "Nope" in path.read_text().splitlines()[caught.value.line - 1]


@pytest.mark.parametrize("index", ["%C2%B2", "%D9%A3", "9" * 5000])
def test_a_ref_indexing_a_list_with_what_is_no_ascii_number_points_to_nothing(tmp_path, index):
    """Final pass P2, F2: "²" and "٣" are digits to str.isdigit() but no number to int(): a $ref indexing a list with one
    was an internal error (ValueError), exit 3, instead of the $ref named; 5,000 digits are past int()'s limit."""
    document = vendor_document()
    document["components"]["listy"] = [{"description": "x"}]
    document["paths"]["/v1/sending"]["post"]["responses"]["200"] = {"$ref": f"#/components/listy/{index}"}
    with pytest.raises(SpecInvalid, match="points to nothing"):
        load_spec(write(tmp_path, "digit.yaml", document))


def test_a_response_key_of_what_is_no_ascii_number_is_no_status(tmp_path):
    document = vendor_document()
    document["paths"]["/v1/sending"]["post"]["responses"]["²⁰⁰"] = {"description": "superscript"}
    with pytest.raises(SpecInvalid) as caught:  # the OpenAPI schema refuses such a key: a clear error, never a ValueError
        load_spec(write(tmp_path, "superscript.yaml", document))
    assert "ValueError" not in str(caught.value)


def test_invalid_openapi_is_located_in_the_document(tmp_path):
    document = vendor_document()
    document["components"]["schemas"]["SendEmailRequest"]["properties"]["from"]["type"] = "strin"
    with pytest.raises(SpecInvalid, match="not a valid OpenAPI document") as caught:
        load_spec(write(tmp_path, "badtype.yaml", document))
    assert caught.value.pointer == "/components/schemas/SendEmailRequest/properties/from/type"


def test_missing_operation(tmp_path):
    document = vendor_document()
    document["paths"] = {"/v1/other": document["paths"]["/v1/sending"]}
    with pytest.raises(SpecInvalid, match="no operation POST /v1/sending"):
        load_spec(write(tmp_path, "other.yaml", document))


def test_the_bundled_json_copy_is_the_yaml():
    """The bundled document's JSON copy (read instead of the YAML, so a run need not import PyYAML) is the
    YAML's parse, key order and all, and its digest is the one the loader trusts. After editing the YAML,
    regenerate it: json.dumps(parse, indent=1, ensure_ascii=False) + newline."""
    from migma_contract.core import bounded
    from migma_contract.document.spec import BUNDLED_JSON_SHA256

    source = bundled_spec_path()
    parsed = yaml.load(source.read_text(encoding="utf-8"), Loader=bounded.YAML_LOADER)
    raw = source.with_name("openapi.json").read_bytes()
    assert raw.decode("utf-8") == json.dumps(parsed, indent=1, ensure_ascii=False) + "\n"
    assert hashlib.sha256(raw).hexdigest() == BUNDLED_JSON_SHA256


@pytest.mark.e2e
def test_loading_the_bundled_document_imports_no_yaml():
    """~10 ms of every run: the bundled document is read from its JSON copy, and nothing on a
    check's way (options, document, plan, contract) imports PyYAML until a YAML file is read."""
    import subprocess
    import sys

    code = ("import sys\nfrom migma_contract.config.options import CheckOptions\nfrom migma_contract.run.runner import prepare_run\n"
            "prepared = prepare_run(CheckOptions(base_url='http://127.0.0.1:9', api_key='k'))\n"
            "assert prepared.spec.fingerprint.endswith(sys.argv[1]), prepared.spec.fingerprint\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'yaml'))\n")
    from migma_contract.document.spec import BUNDLED_SHA256

    done = subprocess.run([sys.executable, "-c", code, BUNDLED_SHA256], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


@pytest.mark.parametrize("change", ["missing", "edited"])
def test_a_json_copy_not_the_recorded_one_is_not_read(tmp_path, change):
    """The YAML stays the source: a copy missing or not byte for byte the recorded one is ignored, and the YAML parsed."""
    from migma_contract.document import spec as spec_module

    source = bundled_spec_path()
    (tmp_path / "openapi.yaml").write_bytes(source.read_bytes())
    if change == "edited":
        copy_ = json.loads(source.with_name("openapi.json").read_text(encoding="utf-8"))
        copy_["info"]["title"] = "not the vendor's"
        (tmp_path / "openapi.json").write_text(json.dumps(copy_, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    loaded = spec_module._load(tmp_path / "openapi.yaml", source="bundled", trusted=spec_module.BUNDLED_SHA256)
    assert loaded.original == load_spec().original
    assert loaded.original["info"]["title"] != "not the vendor's"
