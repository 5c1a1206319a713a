"""The catalogue holds exactly the rules of CONTRACT.md, and every rule can be broken alone."""

import pytest

from migma_contract import RULES, Level, RuleSet, Subject, get_rule, load_spec, rules_for, validate_request
from migma_contract.contract.rules import AuthForm, RequestForm
from migma_contract.generate.bodies import BodyFactory

# The ids and levels of CONTRACT.md, as users, CI configurations and reports refer to them.
CONTRACT_IDS = {
    "body-json-object": "schema",
    "body-utf8": "strict",
    "required-fields": "schema",
    "field-types": "schema",
    "recipient-type-enum": "schema",
    "provider-type-enum": "schema",
    "email-format": "documented",
    "email-needs-recipientEmail": "documented",
    "batch-needs-recipientId": "documented",
    "batch-forbids-recipientEmail": "documented",
    "known-fields": "strict",  # not in CONTRACT.md: the toolkit's strictest reading (issue 13, misspelt fields)
    "auth-required": "schema",
    "auth-scope": "documented",
    "accepts-valid": "schema",
    "no-server-error": "schema",
    "responds-in-time": "schema",
    "status-documented": "schema",
    "content-type-json": "schema",
    "success-schema": "schema",
    "error-schema": "schema",
    "envelope-consistent": "documented",
    "result-has-id": "documented",
    "result-status-known": "documented",
    "result-count": "documented",
    "result-status-queued": "strict",
    "result-provider": "strict",
    "result-id-unique": "documented",
    "success-without-error": "strict",
}
# The vendor set of CONTRACT.md ("Vendor rules"): opt-in, from the vendor's wider documentation.
VENDOR_IDS = {
    "idempotency-replay": "documented",
    "idempotency-conflict": "documented",
    "idempotency-scope": "documented",
    "idempotency-key-length": "documented",
    "idempotency-not-stored": "documented",
    "rate-limit-retry-after": "documented",
}

SPEC = load_spec()
FACTORY = BodyFactory(SPEC)
REQUEST_RULES = [r for r in RULES if r.subject is Subject.REQUEST]


def test_catalogue_is_contract_md():
    assert {r.id: r.level.value for r in RULES if r.set is RuleSet.CONTRACT} == CONTRACT_IDS
    assert {r.id: r.level.value for r in RULES if r.set is RuleSet.VENDOR} == VENDOR_IDS
    assert len({r.id for r in RULES}) == len(RULES)


def test_the_vendor_set_is_opt_in_and_quotes_its_sources():
    contract = {r.id for r in rules_for("strict")}
    assert contract == set(CONTRACT_IDS)  # unasked, no vendor rule is judged
    assert {r.id for r in rules_for("documented", ["contract", "vendor"])} == {
        r.id for r in rules_for("documented")} | set(VENDOR_IDS)
    assert {r.id for r in rules_for("strict", [RuleSet.VENDOR])} == set(VENDOR_IDS)
    for rule_id in VENDOR_IDS:
        rule = get_rule(rule_id)
        assert "issue 15" in rule.source and '"' in rule.source, rule_id  # a quote of the vendor's words, and where from
        assert rule.as_dict()["set"] == "vendor"
    with pytest.raises(ValueError, match="'extras' is not a valid RuleSet"):
        rules_for("strict", ["extras"])


def test_every_rule_has_words_a_source_and_the_form_its_subject_needs():
    from migma_contract.contract.rules import Acceptance, AuthForm, KeyedForm, RequestForm, ResponseForm

    form_of = {Subject.REQUEST: RequestForm, Subject.AUTH: AuthForm, Subject.ACCEPTANCE: Acceptance, Subject.RESPONSE: ResponseForm,
               Subject.IDEMPOTENCY: KeyedForm}
    for rule in RULES:
        assert rule.text.strip() and rule.source.strip(), rule.id
        assert isinstance(rule.form, form_of[rule.subject]), rule.id
        if rule.subject in (Subject.REQUEST, Subject.AUTH, Subject.ACCEPTANCE):
            assert rule.expected_status in {200, 400, 401, 403}, rule.id


def test_levels_include_the_ones_before():
    assert set(rules_for("schema")) < set(rules_for("documented")) < set(rules_for("strict")) == {
        r for r in RULES if r.set is RuleSet.CONTRACT}
    assert all(r.level is Level.SCHEMA for r in rules_for("schema"))
    with pytest.raises(ValueError, match="unknown level 'loose'"):
        rules_for("loose")


def test_get_rule_names_known_ids_when_wrong():
    assert get_rule("email-format").level is Level.DOCUMENTED
    with pytest.raises(KeyError, match="known: body-json-object"):
        get_rule("nope")


@pytest.mark.parametrize("recipient_type", FACTORY.recipient_types)
def test_valid_bodies_break_no_rule(recipient_type):
    assert validate_request(FACTORY.valid_body(recipient_type), level="strict") == []


@pytest.mark.parametrize("rule", REQUEST_RULES, ids=lambda r: r.id)
def test_each_request_rule_is_broken_alone_by_each_of_its_mutations(rule):
    mutations = list(rule.form.mutations(SPEC, FACTORY))
    assert mutations, f"{rule.id} has no way to be broken"
    for mutation in mutations:
        found = validate_request(mutation.body, level=rule.level)
        assert {v.rule_id for v in found} == {rule.id}, mutation.label
        # and at the strictest level nothing else is broken either
        assert {v.rule_id for v in validate_request(mutation.body, level="strict")} == {rule.id}, mutation.label


def test_schema_level_ignores_documented_rules():
    body = FACTORY.valid_body("segment")
    del body["recipientId"]
    assert validate_request(body, level="schema") == []
    assert [v.rule_id for v in validate_request(body)] == ["batch-needs-recipientId"]


def test_mutations_cover_every_subcase_contract_md_names():
    labels = {r.id: [m.label for m in r.form.mutations(SPEC, FACTORY)] for r in REQUEST_RULES}
    assert {f"{p} missing" for p in SPEC.request_required} <= set(labels["required-fields"])
    typed = labels["field-types"]
    for prop in SPEC.request_properties:
        assert sum(label.startswith(f"{prop} is ") for label in typed) == 5, prop  # every other JSON type, null included
    assert any("null" in label for label in typed)
    assert len(labels["email-format"]) == 3 * 10  # three address fields x the ten classes of non-Mailbox strings
    assert len(labels["batch-needs-recipientId"]) == 3 and len(labels["batch-forbids-recipientEmail"]) == 3


def test_auth_forms_cover_missing_wrong_scheme_and_unknown_key():
    bearer = get_rule("auth-required").form
    scope = get_rule("auth-scope").form
    assert isinstance(bearer, AuthForm) and isinstance(scope, AuthForm)
    variants = dict(bearer.header_variants("mc_key", None))
    assert variants["no Authorization header"] == {}
    assert variants["Basic scheme instead of Bearer"]["Authorization"].startswith("Basic ")
    assert variants["the key without the Bearer scheme"] == {"Authorization": "mc_key"}
    assert list(scope.header_variants("mc_key", None)) == []
    assert list(scope.header_variants("mc_key", "mc_restricted")) == [("a key without email:send", {"Authorization": "Bearer mc_restricted"})]


def test_request_forms_are_request_rules():
    for rule in RULES:
        assert isinstance(rule.form, RequestForm) == (rule.subject is Subject.REQUEST)


# --- body-utf8 (issue 25): a body in another encoding is its own rule, at strict -------------------------------

def _utf8_mutations():
    return {m.label: m.body for m in get_rule("body-utf8").form.mutations(SPEC, FACTORY)}


def test_body_utf8_is_broken_by_utf16_latin1_and_invalid_bytes_each_a_json_object_otherwise():
    from migma_contract.contract.rules import RawBody

    mutations = _utf8_mutations()
    assert sorted(mutations) == ["body holds invalid UTF-8 bytes", "body is Latin-1 (ISO-8859-1)",
                                 "body is UTF-16 (with a byte order mark)"]
    for label, body in mutations.items():
        assert isinstance(body, RawBody), label
        assert [v.rule_id for v in validate_request(body, level="strict")] == ["body-utf8"], label
        # below strict the same bytes break nothing: a lenient reader takes them for a valid request
        assert validate_request(body, level="schema") == [] and validate_request(body) == [], label
    assert "body is not UTF-8" not in [m.label for m in get_rule("body-json-object").form.mutations(SPEC, FACTORY)]


def test_a_non_utf8_body_that_is_no_json_object_in_any_encoding_still_breaks_body_json_object():
    from migma_contract.contract.rules import RawBody

    garbage = RawBody(b"\xff\xfe\x00not json at all")
    assert {v.rule_id for v in validate_request(garbage, level="strict")} == {"body-utf8", "body-json-object"}
    assert [v.rule_id for v in validate_request(garbage, level="schema")] == ["body-json-object"]
    utf16_list = RawBody("[1, 2]".encode("utf-16"))
    assert [v.rule_id for v in validate_request(utf16_list, level="schema")] == ["body-json-object"]


def _encoding_as_written(raw):
    """The encoding test of RFC 4627 §3 written out plainly: byte order marks first, then the zero-byte pattern."""
    for bom, found in ((b"\xff\xfe\x00\x00", ("utf-32", "UTF-32")), (b"\x00\x00\xfe\xff", ("utf-32", "UTF-32")),
                       (b"\xff\xfe", ("utf-16", "UTF-16")), (b"\xfe\xff", ("utf-16", "UTF-16"))):
        if raw.startswith(bom):
            return found
    if len(raw) < 4:
        return None
    zeros = tuple(byte == 0 for byte in raw[:4])
    return {(True, True, True, False): ("utf-32-be", "UTF-32BE"), (False, True, True, True): ("utf-32-le", "UTF-32LE"),
            (True, False, True, False): ("utf-16-be", "UTF-16BE"), (False, True, False, True): ("utf-16-le", "UTF-16LE")}.get(zeros)


def test_the_quick_utf8_path_tells_every_encoding_as_the_rule_does():
    # A body with no zero byte and no mark's first byte in its head is told UTF-8 at once (speed): every
    # head of up to five bytes from the bytes that matter is told as the plain reading tells it.
    import itertools

    from migma_contract.contract.rules import _other_encoding

    alphabet = (0x00, 0xFF, 0xFE, 0xEF, 0xBB, 0xBF, 0x7B, 0x20)
    for length in range(6):
        for head in itertools.product(alphabet, repeat=length):
            raw = bytes(head)
            assert _other_encoding(raw) == _encoding_as_written(raw), raw
