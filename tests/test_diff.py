"""`migma-contract diff`: the bundled document against itself and against hand-made variants."""

import copy
import io
import json

import pytest
import yaml
from click.testing import CliRunner

from migma_contract import load_spec, rules_for
from migma_contract.cli import main
from migma_contract.diff.compare import Kind, Party, diff_specs
from migma_contract.diff.render import md_cell, render_json, render_markdown, render_table
from migma_contract.diff.schema import compare_schemas
from migma_contract.document.spec import bundled_spec_path

RULES = rules_for("strict")  # the document's rules: the vendor set is not read from a document

BUNDLED = yaml.safe_load(bundled_spec_path().read_text(encoding="utf-8"))
CLIENTS, SERVERS = Party.CLIENTS, Party.SERVERS


def schemas(document):
    return document["components"]["schemas"]


def responses(document):
    return document["paths"]["/v1/sending"]["post"]["responses"]


def variant(tmp_path, change, name="new.yaml"):
    """The bundled document changed by `change`, written to a file (as a vendor update would arrive)."""
    document = copy.deepcopy(BUNDLED)
    change(document)
    path = tmp_path / name
    path.write_text(yaml.safe_dump(document, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


def compare(tmp_path, change):
    return diff_specs(load_spec(bundled_spec_path()), load_spec(variant(tmp_path, change)))


def rule(diff, rule_id):
    return next(r for r in diff.rules if r.rule == rule_id)


def changed(diff):
    return {r.rule: r.kind for r in diff.rules if r.kind is not Kind.UNCHANGED}


def run(*args):
    return CliRunner().invoke(main, ["diff", *map(str, args)])


def test_the_bundled_document_against_itself_changes_nothing():
    spec = load_spec(bundled_spec_path())
    diff = diff_specs(spec, load_spec())
    assert changed(diff) == {} and not diff.fields and not diff.stale
    assert diff.exit_code == 0 and diff.headline.startswith("no change to the contract")
    result = run(bundled_spec_path(), bundled_spec_path())
    assert result.exit_code == 0, result.output
    assert "no change to the contract" in result.output and f"unchanged ({len(RULES)})" in result.output


def test_an_enum_value_removed_tightens_the_enum_rule_and_breaks_clients(tmp_path):
    def drop_mailgun(document):
        schemas(document)["SendEmailRequest"]["properties"]["providerType"]["enum"].remove("mailgun")

    diff = compare(tmp_path, drop_mailgun)
    assert changed(diff) == {"provider-type-enum": Kind.TIGHTENED}
    assert rule(diff, "provider-type-enum").breaks == {CLIENTS, SERVERS}
    [field] = diff.request
    assert (field.pointer, field.aspect, field.kind, field.old) == ("/providerType", "enum value", Kind.TIGHTENED, ["mailgun"])
    assert diff.exit_code == 1 and diff.headline == "BREAKS CLIENTS (provider-type-enum tightened; 1 field/status change(s)) · breaks servers (provider-type-enum tightened; 1 field/status change(s))"

    result = run(bundled_spec_path(), tmp_path / "new.yaml", "--format", "json")
    assert result.exit_code == 1
    report = json.loads(result.output)
    assert report["breaks_clients"] is True
    assert [(r["rule"], r["kind"], r["breaks"]) for r in report["rules"] if r["kind"] != "unchanged"] == [
        ("provider-type-enum", "tightened", ["clients", "servers"])]


def test_an_enum_value_added_loosens_and_breaks_only_servers(tmp_path):
    diff = compare(tmp_path, lambda d: schemas(d)["SendEmailRequest"]["properties"]["providerType"]["enum"].append("postmark"))
    assert changed(diff) == {"provider-type-enum": Kind.LOOSENED}
    assert rule(diff, "provider-type-enum").breaks == {SERVERS}
    assert diff.exit_code == 0 and diff.headline.startswith("breaks servers only")


def test_a_field_made_required_tightens_required_fields(tmp_path):
    diff = compare(tmp_path, lambda d: schemas(d)["SendEmailRequest"]["required"].append("replyTo"))
    assert changed(diff) == {"required-fields": Kind.TIGHTENED}
    [change] = rule(diff, "required-fields").changes
    assert (change.pointer, change.aspect, change.breaks) == ("/replyTo", "required", {CLIENTS, SERVERS})
    assert run(bundled_spec_path(), tmp_path / "new.yaml").exit_code == 1


def test_a_field_no_longer_required_loosens_and_breaks_servers(tmp_path):
    diff = compare(tmp_path, lambda d: schemas(d)["SendEmailRequest"]["required"].remove("fromName"))
    assert changed(diff) == {"required-fields": Kind.LOOSENED}
    assert rule(diff, "required-fields").breaks == {SERVERS} and diff.exit_code == 0


def test_a_request_property_dropped_breaks_the_clients_that_send_it(tmp_path):
    diff = compare(tmp_path, lambda d: schemas(d)["SendEmailRequest"]["properties"].pop("projectId"))
    assert changed(diff) == {"field-types": Kind.LOOSENED}
    [field] = diff.request
    assert (field.pointer, field.aspect, field.kind, field.breaks) == ("/projectId", "property", Kind.REMOVED, {CLIENTS, SERVERS})
    assert diff.exit_code == 1


def test_a_new_optional_request_property_breaks_no_client(tmp_path):
    diff = compare(tmp_path, lambda d: schemas(d)["SendEmailRequest"]["properties"].update(template={"type": "string"}))
    assert changed(diff) == {"field-types": Kind.TIGHTENED}
    assert rule(diff, "field-types").breaks == {SERVERS}  # servers must now check its type; clients never sent it
    assert diff.exit_code == 0


def test_a_format_dropped_loosens_email_format_only(tmp_path):
    diff = compare(tmp_path, lambda d: schemas(d)["SendEmailRequest"]["properties"]["replyTo"].pop("format"))
    assert changed(diff) == {"email-format": Kind.LOOSENED}
    assert rule(diff, "email-format").breaks == {SERVERS}
    assert [(c.pointer, c.aspect, c.kind) for c in diff.request] == [("/replyTo", "format", Kind.LOOSENED)]


def test_a_prose_sentence_removed_flags_the_rule_that_quotes_it_as_stale(tmp_path):
    def drop_sentence(document):
        schemas(document)["SendEmailRequest"]["properties"]["recipientId"]["description"] = "The segment or tag ID."

    diff = compare(tmp_path, drop_sentence)
    assert [(r.rule, r.stale_quotes) for r in diff.stale] == [
        ("batch-needs-recipientId", ("Required for audience/segment/tag sends.",))]
    assert changed(diff) == {}  # the structure is the same: only the prose the rule rests on is gone
    [field] = diff.request
    assert (field.pointer, field.aspect, field.breaks) == ("/recipientId", "description", frozenset())
    result = run(bundled_spec_path(), tmp_path / "new.yaml")
    assert result.exit_code == 0, result.output
    assert "batch-needs-recipientId may be stale" in result.output


def test_a_quote_with_an_ellipsis_is_found_by_its_parts(tmp_path):
    operation = BUNDLED["paths"]["/v1/sending"]["post"]
    sentence = "All sends are queued for background delivery and return immediately with status queued. "
    assert sentence in operation["description"]

    def drop(document):
        target = document["paths"]["/v1/sending"]["post"]
        target["description"] = target["description"].replace(sentence, "")

    diff = compare(tmp_path, drop)
    assert {r.rule for r in diff.stale} == {"result-status-queued", "result-status-known"}
    assert rule(diff, "result-status-known").stale_quotes == ("return immediately with status queued",)


def test_a_response_field_type_widened_loosens_success_schema_and_breaks_clients(tmp_path):
    diff = compare(tmp_path, lambda d: schemas(d)["SendEmailResult"]["properties"]["id"].update(type=["string", "integer"]))
    assert changed(diff) == {"success-schema": Kind.LOOSENED}
    [field] = diff.responses
    assert (field.scope, field.pointer, field.aspect, field.breaks) == ("response 200", "/data/id", "type", {CLIENTS})
    assert (field.old, field.new) == (["string"], ["integer", "string"])
    assert diff.exit_code == 1


def test_api_error_requiring_less_loosens_error_schema_for_every_error_status(tmp_path):
    diff = compare(tmp_path, lambda d: schemas(d)["ApiError"].update(required=["success"]))
    assert changed(diff) == {"error-schema": Kind.LOOSENED}
    assert rule(diff, "error-schema").breaks == {CLIENTS}
    [field] = diff.responses
    assert (field.scope, field.pointer, field.aspect, field.kind) == ("responses 400, 401, 403", "/error", "required", Kind.LOOSENED)
    assert diff.exit_code == 1


def test_a_response_field_made_required_breaks_servers_not_clients(tmp_path):
    diff = compare(tmp_path, lambda d: schemas(d)["SendEmailResult"].update(required=["id"]))
    assert changed(diff) == {"success-schema": Kind.TIGHTENED}
    assert rule(diff, "success-schema").breaks == {SERVERS}
    assert diff.exit_code == 0


def test_an_error_status_added_and_one_removed(tmp_path):
    def swap(document):
        responses(document)["404"] = {"$ref": "#/components/responses/BadRequest"}
        del responses(document)["403"]

    diff = compare(tmp_path, swap)
    statuses = {(c.scope, c.kind): c.breaks for c in diff.statuses}
    assert statuses == {("status 403", Kind.REMOVED): {SERVERS}, ("status 404", Kind.ADDED): frozenset()}
    assert changed(diff)["status-documented"] is Kind.CHANGED
    assert rule(diff, "status-documented").breaks == {SERVERS}
    # error-schema now also covers 404 and no longer 403: a change of scope, which breaks nobody
    assert rule(diff, "error-schema").breaks == frozenset() and rule(diff, "error-schema").kind is Kind.CHANGED
    assert diff.exit_code == 0


def test_a_success_status_added_breaks_clients(tmp_path):
    def add_202(document):
        responses(document)["202"] = copy.deepcopy(responses(document)["200"])

    diff = compare(tmp_path, add_202)
    assert [(c.scope, c.kind, c.breaks) for c in diff.statuses] == [("status 202", Kind.ADDED, {CLIENTS})]
    assert rule(diff, "status-documented").kind is Kind.LOOSENED
    assert diff.exit_code == 1


HOSTILE = "Hostile | <script>alert(1)</script>\nsecond `line` [red]x[/red] [link](https://evil.example)"


def hostile_description(document):
    schemas(document)["SendEmailRequest"]["properties"]["recipientId"]["description"] = HOSTILE


def test_markdown_escapes_a_hostile_description(tmp_path):
    markdown = render_markdown(compare(tmp_path, hostile_description))
    row = next(line for line in markdown.splitlines() if line.startswith("| request /recipientId"))
    assert "<script>" not in markdown and "\\<script\\>" in row  # escaped as every Markdown writer escapes (md_text)
    assert "Hostile \\| " in row and row.count(" | ") == 4  # five cells: the description's | opened none
    assert "\\`line\\`" in row and "\\[link\\](https\\://evil.example)" in row
    assert "second" in row and "second" not in markdown.split(row)[1]  # the newline did not end the row
    assert md_cell("a\nb|c") == "a b\\|c"


def test_the_console_table_does_not_read_document_text_as_markup(tmp_path):
    out = io.StringIO()
    render_table(compare(tmp_path, hostile_description), out, width=300)
    text = out.getvalue()
    assert "[red]x[/red]" in text and "\x1b" not in text
    assert "\\u000a" in text  # the newline is shown, not obeyed


def test_json_is_stable_and_sorted(tmp_path):
    diff = compare(tmp_path, hostile_description)
    first, second = render_json(diff), render_json(diff)
    assert first == second
    data = json.loads(first)
    assert list(data) == sorted(data)
    assert data["request"][0]["new"] == HOSTILE.replace("\n", "\\u000a")
    assert len(data["rules"]) == len(RULES)


def test_out_writes_the_file_and_keeps_the_exit_code(tmp_path):
    new = variant(tmp_path, lambda d: schemas(d)["SendEmailRequest"]["required"].append("replyTo"))
    out = tmp_path / "diff.md"
    result = run(bundled_spec_path(), new, "--format", "md", "--out", out)
    assert result.exit_code == 1
    assert out.read_text(encoding="utf-8").startswith("## migma-contract diff: BREAKS CLIENTS")
    assert "| `required-fields` | schema | tightened | clients, servers |" in out.read_text(encoding="utf-8")


@pytest.mark.parametrize("content", [None, "openapi: 3.1.0\ninfo: {title: x\n", "openapi: 3.1.0\ninfo: {title: x, version: '1'}\npaths: {}\n"])
def test_an_unusable_document_is_one_line_and_exit_2(tmp_path, content):
    path = tmp_path / "bad.yaml"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    result = run(bundled_spec_path(), path)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and "bad.yaml" in result.output


def test_a_batch_type_dropped_tightens_the_enum_and_narrows_the_batch_rules_without_breaking_anyone_twice(tmp_path):
    diff = compare(tmp_path, lambda d: schemas(d)["SendEmailRequest"]["properties"]["recipientType"]["enum"].remove("tag"))
    assert changed(diff) == {"recipient-type-enum": Kind.TIGHTENED, "batch-needs-recipientId": Kind.LOOSENED,
                             "batch-forbids-recipientEmail": Kind.LOOSENED}
    assert rule(diff, "recipient-type-enum").breaks == {CLIENTS, SERVERS}
    [scope] = rule(diff, "batch-needs-recipientId").changes
    assert (scope.aspect, scope.old, scope.new, scope.breaks) == ("scope", ["audience", "segment", "tag"], ["audience", "segment"], frozenset())


def test_a_property_a_prose_rule_names_dropped_removes_the_rule(tmp_path):
    diff = compare(tmp_path, lambda d: schemas(d)["SendEmailRequest"]["properties"].pop("recipientId"))
    assert rule(diff, "batch-needs-recipientId").kind is Kind.REMOVED
    assert rule(diff, "batch-needs-recipientId").breaks == {SERVERS}  # servers must accept batch sends without it
    assert rule(diff, "batch-needs-recipientId").stale_quotes == ("Required for audience/segment/tag sends.",)


def test_a_self_referencing_schema_is_compared_in_bounded_time():
    # The loader's validator refuses the worst cycles; the comparison bounds itself anyway.
    def document(id_type):
        node = {"properties": {"id": {"type": id_type}, **{name: {"$ref": "#/$defs/Node"} for name in "abcdefgh"}},
                "allOf": [{"$ref": "#/$defs/Node"}] * 4}
        return {"$ref": "#/$defs/Node", "$defs": {"Node": node}}

    raws = compare_schemas(document("string"), document("integer"))  # unbounded, it would not return (pytest-timeout)
    assert ("/id", "type", Kind.CHANGED) in {(r.pointer, r.aspect, r.kind) for r in raws}


def test_a_constraint_on_a_key_of_a_free_form_object_can_break_clients(tmp_path):
    # `variables` documents any key (additionalProperties: true): clients may already send `name`.
    diff = compare(tmp_path, lambda d: schemas(d)["SendEmailRequest"]["properties"]["variables"].update(
        properties={"name": {"type": "string"}}))
    [field] = diff.request
    assert (field.pointer, field.aspect, field.kind, field.breaks) == ("/variables/name", "property", Kind.ADDED, {CLIENTS, SERVERS})


def test_an_unwritable_out_is_one_line_and_exit_2(tmp_path):
    result = run(bundled_spec_path(), bundled_spec_path(), "--out", tmp_path / "missing" / "diff.md")
    assert result.exit_code == 2 and "cannot write" in result.output and "Traceback" not in result.output


# --- a change some $refs away (issue 24's red-team pass, M6) -------------------------------------------------


def _chain(inner_v="string", required=("v",), extra=None):
    """The request gains meta -> Meta -> Inner: a property two $refs away from the request's own schema."""
    def change(document):
        inner = {"type": "object", "properties": {"v": {"type": inner_v}, **(extra or {})}, "required": list(required)}
        schemas(document).update(Meta={"type": "object", "properties": {"inner": {"$ref": "#/components/schemas/Inner"}}},
                                 Inner=inner)
        schemas(document)["SendEmailRequest"]["properties"]["meta"] = {"$ref": "#/components/schemas/Meta"}
    return change


def test_a_change_two_refs_deep_breaks_clients(tmp_path):
    """M6: Inner.v string -> integer and a required w, two $refs from the request: "no change to the contract", exit 0."""
    old = variant(tmp_path, _chain(), "old.yaml")
    new = variant(tmp_path, _chain("integer", ("v", "w"), {"w": {"type": "string"}}), "new.yaml")
    diff = diff_specs(load_spec(old), load_spec(new))
    found = {(c.pointer, c.aspect, c.kind) for c in diff.request}
    assert ("/meta/inner/v", "type", Kind.CHANGED) in found and ("/meta/inner/w", "required", Kind.TIGHTENED) in found
    done = run(old, new)
    assert done.exit_code == 1 and "BREAKS CLIENTS" in done.output, done.output
    assert run(old, variant(tmp_path, _chain(), "same.yaml")).exit_code == 0


def _dag(depth, changed_at=None, shared=8):
    """C0 -> C1 -> ... -> C{depth}, each node's a referring to the next, and b too on the first `shared` levels
    (2^shared paths to the last: a document expanding to more is refused when loaded, see test_loading_bounds)."""
    def change(document):
        for level in range(depth):
            ref = {"$ref": f"#/components/schemas/C{level + 1}"}
            schemas(document)[f"C{level}"] = {"type": "object", "properties": {"a": ref, **({"b": ref} if level < shared else {})}}
        schemas(document)[f"C{depth}"] = {"type": "object", "properties": {"leaf": {"type": "string"}}}
        if changed_at is not None:
            schemas(document)[f"C{changed_at}"]["properties"]["a"] = {"type": "integer"}
        schemas(document)["SendEmailRequest"]["properties"]["x"] = {"$ref": "#/components/schemas/C0"}
    return change


@pytest.mark.parametrize("changed_at", [0, 3, 10, 14])
def test_a_change_in_a_shared_dag_of_refs_breaks_clients_at_any_depth(tmp_path, changed_at):
    """M6: only a change one $ref away from the request was seen; three, ten or 23 away: "no change"."""
    old = variant(tmp_path, _dag(16), "old.yaml")
    diff = diff_specs(load_spec(old), load_spec(variant(tmp_path, _dag(16, changed_at))))
    assert any(c.pointer == "/x" + "/a" * (changed_at + 1) and c.aspect == "type" for c in diff.request), diff.request
    assert diff.exit_code == 1


def test_a_change_past_the_comparisons_depth_is_still_a_change(tmp_path):
    old = variant(tmp_path, _dag(24), "old.yaml")
    diff = diff_specs(load_spec(old), load_spec(variant(tmp_path, _dag(24, 22))))
    assert diff.request and diff.exit_code == 1


def test_telling_two_dags_equal_costs_their_size_not_their_paths():
    from migma_contract.diff.schema import Resolver

    defs = {f"C{level}": {"type": "object", "properties": {"a": {"$ref": f"#/$defs/C{level + 1}"}, "b": {"$ref": f"#/$defs/C{level + 1}"}}}
            for level in range(40)}
    defs["C40"] = {"type": "string"}
    root = {"$ref": "#/$defs/C0", "$defs": defs}
    resolver = Resolver(root)
    assert resolver.digest(root) == Resolver(copy.deepcopy(root)).digest(root) is not None
    assert resolver._digest_steps < 50 * 41  # 2^40 paths, each definition hashed once
    assert not compare_schemas(root, copy.deepcopy(root))


def test_a_change_behind_a_cycle_of_refs_is_found():
    def document(leaf_type):
        return {"$ref": "#/$defs/Node", "$defs": {
            "Node": {"type": "object", "properties": {"next": {"$ref": "#/$defs/Node"}, "meta": {"$ref": "#/$defs/Meta"}}},
            "Meta": {"type": "object", "properties": {"deep": {"$ref": "#/$defs/Deep"}}},
            "Deep": {"type": "object", "properties": {"back": {"$ref": "#/$defs/Node"}, "v": {"type": leaf_type}}}}}

    assert not compare_schemas(document("string"), document("string"))
    raws = compare_schemas(document("string"), document("integer"))
    # reported once, where the walk first reaches it (here through `next`, the first property)
    assert [(r.pointer.endswith("/meta/deep/v"), r.aspect, r.kind) for r in raws] == [(True, "type", Kind.CHANGED)]
