"""The public API, pinned (in the manner of httpx's test_exported_members.py).

A name added to or removed from `migma_contract.__all__` must change this file too, so
the public surface never changes by accident; and every public callable takes and
returns only public types, so no user has to import a private module to call it.
"""

import inspect
import types
import typing

import migma_contract
import migma_contract.strategies

EXPECTED = [
    "BUNDLED_SPEC_PATH", "OPEN_POINTS", "RULES", "Budget", "CheckOptions", "ConfigError", "Contract", "Finding", "Fixtures", "Level",
    "MigmaContractError", "OpenPoint", "PlanStats", "RequestRecord", "ResponseRecord", "ResponseVerdict", "Rule",
    "RuleResult", "RuleSet", "RunResult", "RunSettings", "Spec", "SpecError", "SpecInfo", "SpecInvalid", "SpecUnreadable",
    "Status", "Subject", "TargetInfo", "TargetUnreachable", "TrafficStats", "Violation", "__version__", "contract_for", "get_rule",
    "load_spec", "rules_for", "run_check", "validate_request", "validate_response",
]


def test_all_is_sorted_and_pinned():
    # isort-style, as ruff's RUF022 keeps it: CONSTANTS, then Classes, then the rest
    def kind(name):
        return (0 if name.isupper() else 1 if name[0].isupper() else 2, name)

    assert migma_contract.__all__ == sorted(migma_contract.__all__, key=kind)
    assert migma_contract.__all__ == sorted(EXPECTED, key=kind)


def test_every_exported_name_exists_and_no_private_module_leaks_by_name():
    for name in migma_contract.__all__:
        assert hasattr(migma_contract, name), name
    public = {n for n in dir(migma_contract) if n.isidentifier() and not n.startswith("_")}
    leaked = public - set(migma_contract.__all__)
    assert leaked <= {"asgi", "cli", "mock", "reports", "strategies", "pytest_plugin", "schemathesis_checks", "testing"}, leaked


def _classes_in(annotation):
    """Every class an annotation names (through unions, Optional and generics)."""
    origin = typing.get_origin(annotation)
    if origin is None:
        return [annotation] if isinstance(annotation, type) else []
    found = [] if origin in (typing.Union, types.UnionType) or not isinstance(origin, type) else [origin]
    for argument in typing.get_args(annotation):
        found += _classes_in(argument)
    return found


def _private(cls):
    module = getattr(cls, "__module__", "")
    return module.startswith("migma_contract") and not (
        getattr(migma_contract, cls.__name__, None) is cls or getattr(migma_contract.strategies, cls.__name__, None) is cls
    )


def _callables():
    for module in (migma_contract, migma_contract.strategies):
        for name in module.__all__:
            value = getattr(module, name)
            if inspect.isfunction(value):
                yield f"{module.__name__}.{name}", value


def test_public_callables_take_and_return_only_public_types():
    checked = 0
    for qualname, function in _callables():
        hints = typing.get_type_hints(function)
        for parameter, annotation in hints.items():
            private = [cls.__qualname__ for cls in _classes_in(annotation) if _private(cls)]
            assert not private, f"{qualname}({parameter}) uses private {private}"
        checked += 1
    assert checked == 12  # seven functions above, five strategies


def test_a_private_type_in_a_signature_is_caught():
    from migma_contract.generate.plan import Plan

    def leaky(plan: Plan | None = None) -> None: ...

    assert [cls for cls in _classes_in(typing.get_type_hints(leaky)["plan"]) if _private(cls)] == [Plan]
