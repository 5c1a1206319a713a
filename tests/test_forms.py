"""Forms own their facets: every form of the catalogue answers every facet, so no module outside the
rule model asks what kind of form a rule has (a new form implements its facets, nothing else)."""

import ast
from pathlib import Path

import pytest

import migma_contract
from migma_contract import contract_for
from migma_contract.contract import rules as rules_module
from migma_contract.contract.catalogue import RULES
from migma_contract.contract.rules import Condition, Form, Mutation, PlannedSend, Subject
from migma_contract.generate.bodies import BodyFactory

FACETS = ("condition", "undecided", "mutations", "planned", "every_recipient_type", "header_variants", "keep", "documented_fragment", "judged_statuses",
          "response_fragment", "keyed_sends", "keyed", "key_length", "compared_as", "judges_servers", "provoke")
COMPARISONS = {"none", "conditional", "request", "body-type", "response-schema", "predicate", "history", "auth", "acceptance"}


def _form_classes():
    found = []
    for value in vars(rules_module).values():
        if isinstance(value, type) and issubclass(value, Form) and value is not Form:
            found.append(value)
    return found


def test_every_form_class_is_a_form_and_every_catalogue_form_is_one():
    assert len(_form_classes()) >= 15
    assert all(isinstance(rule.form, Form) for rule in RULES)
    used = {type(rule.form) for rule in RULES}
    assert used <= set(_form_classes())


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.id)
def test_every_form_answers_every_facet(rule):
    form, spec = rule.form, contract_for().spec
    bodies = BodyFactory(spec)
    for facet in FACETS:
        assert hasattr(form, facet), f"{type(form).__name__} lacks {facet}"
    assert form.condition is None or isinstance(form.condition, Condition)
    assert form.undecided("subject", {}) is None or isinstance(form.undecided("subject", {}), str)
    mutations = list(form.mutations(spec, bodies))
    assert all(isinstance(m, Mutation) for m in mutations)
    assert bool(mutations) == (rule.subject is Subject.REQUEST)  # a request rule can be broken alone; no other can
    variants = list(form.header_variants("key", "restricted"))
    assert bool(variants) == (rule.subject is Subject.AUTH)
    body = bodies.valid_body()
    form.keep(body, bodies.valid_value)
    assert contract_for().request_validator("strict").violations(body) == [] or rule.subject is not Subject.REQUEST
    fragment = form.documented_fragment(spec)
    assert fragment is None or isinstance(fragment, dict)
    statuses = form.judged_statuses(spec)
    assert statuses is None or (statuses and all(isinstance(s, int) for s in statuses))
    assert all(form.response_fragment(spec, s) is None or isinstance(form.response_fragment(spec, s), dict) for s in (200, 400))
    sends = form.keyed_sends("k" * 8)
    assert all(isinstance(s, PlannedSend) for s in sends)
    assert bool(sends) == (form.keyed or form.provoke is not None)
    assert form.compared_as in COMPARISONS
    assert (form.compared_as == "none") == (rule.subject is Subject.IDEMPOTENCY)


def test_a_kept_body_keeps_the_conditional_rules():
    spec = contract_for().spec
    bodies = BodyFactory(spec)
    body = {**bodies.valid_body("audience"), "recipientEmail": "x@example.com"}
    body.pop("recipientId", None)
    for rule in RULES:
        rule.form.keep(body, bodies.valid_value)
    assert "recipientEmail" not in body and "recipientId" in body


def test_no_module_outside_the_rule_model_asks_a_forms_class():
    """isinstance on a form class belongs to the rule model (contract/) and the run's vendor-set memory only."""
    root = Path(migma_contract.__file__).parent
    names = {cls.__name__ for cls in _form_classes()}
    allowed = {"contract/rules.py", "contract/validators.py", "run/keyed.py"}
    asked = []
    for path in root.rglob("*.py"):
        rel = path.relative_to(root).as_posix()
        if rel in allowed:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "isinstance" and len(node.args) == 2:
                named = {n.id for n in ast.walk(node.args[1]) if isinstance(n, ast.Name)}
                if named & names:
                    asked.append(f"{rel}:{node.lineno}")
    assert not asked, asked
