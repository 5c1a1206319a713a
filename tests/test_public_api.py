"""The public API, pinned (in the manner of httpx's test_exported_members.py).

The package lists its public names once (the TYPE_CHECKING imports of its __init__.py;
`__all__` is derived from them). A name added there or removed must change EXPECTED here
too, so the public surface never changes by accident; and every public callable takes and
returns only public types, so no user has to import a private module to call it.
"""

import importlib
import inspect
import subprocess
import sys
import types
import typing

import pytest

import migma_contract
import migma_contract.strategies

EXPECTED = [
    "BUNDLED_SPEC_PATH", "OPEN_POINTS", "RULES", "Budget", "CheckOptions", "ConfigError", "Contract", "Finding", "Fixtures", "Level",
    "MigmaContractError", "OpenPoint", "PlanStats", "RequestRecord", "ResponseRecord", "ResponseVerdict", "ResponseViolations", "Rule",
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


def test_the_names_are_read_from_the_type_checking_imports_and_live_where_they_say():
    homes = migma_contract._public()
    assert sorted(homes) == sorted(EXPECTED)
    for name, module in homes.items():
        if module:  # BUNDLED_SPEC_PATH is made by the package itself
            assert getattr(importlib.import_module(module), name) is getattr(migma_contract, name), name


@pytest.mark.e2e
def test_the_list_star_import_and_dir_load_nothing_heavy():
    code = ("import sys; before = set(sys.modules)\n"
            "import migma_contract; names = migma_contract.__all__; listed = dir(migma_contract)\n"
            "print(' '.join(sorted(set(sys.modules) - before)))\n"
            "from migma_contract import *\n"
            "print(' '.join(sorted(name for name in names if name not in globals())))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded, missing = [*done.stdout.splitlines(), "", ""][:2]
    heavy = {"httpx", "yaml", "jsonschema", "jsonschema_rs", "hypothesis", "schemathesis", "starlette", "rich",
             "migma_contract.document.spec", "migma_contract.contract.validators", "migma_contract.contract.catalogue"}
    assert not set(loaded.split()) & heavy, loaded
    assert missing == ""  # `import *` gives every name of __all__


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


def test_the_package_says_it_is_typed():
    # PEP 561: type checkers read the package's own annotations (the wheel takes every file of the package)
    from pathlib import Path

    assert (Path(migma_contract.__file__).parent / "py.typed").is_file()
