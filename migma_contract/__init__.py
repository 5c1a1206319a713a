"""migma-contract: contract testing and validation for the Migma.ai send endpoint.

The public surface is re-exported here (and the Hypothesis strategies in
`migma_contract.strategies`); everything else lives in private modules whose names may
change. `tests/test_public_api.py` pins this list.

The names are resolved on first use (PEP 562): importing a submodule, such as the pytest
plugin that every pytest run of an environment loads, does not load the validators, the
document loader or the HTTP client.

The imports under TYPE_CHECKING below are the one list of the public names: type checkers
read them, and `__all__` and where each name lives are read from the same lines (this
file's source, parsed on the first use of a name). A name is added or removed there alone.
"""

import functools as _functools
import importlib as _importlib
import typing as _typing

from migma_contract._version import __version__ as __version__

if _typing.TYPE_CHECKING:  # the public names, each `X as X` (an explicit re-export for strict checkers)
    # ruff's isort would write each `X as X` on its own line: sorted by hand here
    # isort: off
    from pathlib import Path

    from migma_contract.config.options import (
        CheckOptions as CheckOptions,
    )
    from migma_contract.contract.catalogue import (
        OPEN_POINTS as OPEN_POINTS,
        RULES as RULES,
        get_rule as get_rule,
        rules_for as rules_for,
    )
    from migma_contract.contract.rules import (
        Level as Level,
        OpenPoint as OpenPoint,
        Rule as Rule,
        RuleSet as RuleSet,
        Subject as Subject,
    )
    from migma_contract.contract.validators import (
        Contract as Contract,
        ResponseVerdict as ResponseVerdict,
        ResponseViolations as ResponseViolations,
        Violation as Violation,
        contract_for as contract_for,
        validate_request as validate_request,
        validate_response as validate_response,
    )
    from migma_contract.core.exceptions import (
        ConfigError as ConfigError,
        MigmaContractError as MigmaContractError,
        SpecError as SpecError,
        SpecInvalid as SpecInvalid,
        SpecUnreadable as SpecUnreadable,
        TargetUnreachable as TargetUnreachable,
    )
    from migma_contract.document.spec import (
        Spec as Spec,
        load_spec as load_spec,
    )
    from migma_contract.generate.bodies import (
        Fixtures as Fixtures,
    )
    from migma_contract.run.result import (
        Budget as Budget,
        Finding as Finding,
        PlanStats as PlanStats,
        RequestRecord as RequestRecord,
        ResponseRecord as ResponseRecord,
        RuleResult as RuleResult,
        RunResult as RunResult,
        RunSettings as RunSettings,
        SpecInfo as SpecInfo,
        Status as Status,
        TargetInfo as TargetInfo,
        TrafficStats as TrafficStats,
    )
    from migma_contract.run.runner import (
        run_check as run_check,
    )

    # isort: on

    BUNDLED_SPEC_PATH: Path


@_functools.cache
def _public() -> dict[str, str]:
    """Each public name -> the module it lives in ('' for one made here), from the TYPE_CHECKING block above."""
    import ast

    with open(__file__, encoding="utf-8") as source:
        tree = ast.parse(source.read())
    [block] = [node for node in tree.body if isinstance(node, ast.If) and ast.unparse(node.test) == "_typing.TYPE_CHECKING"]
    homes = {"__version__": "migma_contract._version"}
    for node in block.body:
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(f"{__name__}."):
            homes.update((alias.asname or alias.name, node.module) for alias in node.names)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            homes[node.target.id] = ""
    return homes


def _sorted(names: _typing.Iterable[str]) -> list[str]:
    """isort-style, as ruff's RUF022 keeps an `__all__`: CONSTANTS, then Classes, then the rest."""
    return sorted(names, key=lambda name: (0 if name.isupper() else 1 if name[0].isupper() else 2, name))


def __getattr__(name: str) -> _typing.Any:
    homes = _public()
    value: _typing.Any
    if name == "__all__":
        value = _sorted(homes)
    elif name == "BUNDLED_SPEC_PATH":  # the vendor's document as shipped: point Schemathesis or other tools at it
        from migma_contract.document.spec import bundled_spec_path

        value = bundled_spec_path()
    elif homes.get(name):
        value = getattr(_importlib.import_module(homes[name]), name)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*__getattr__("__all__"), *(name for name in globals() if name.startswith("_"))})
