"""migma-contract: contract testing and validation for the Migma.ai send endpoint.

The public surface is re-exported here (and the Hypothesis strategies in
`migma_contract.strategies`); everything else lives in private modules whose names may
change. `tests/test_public_api.py` pins this list.

The names are resolved on first use (PEP 562): importing a submodule, such as the pytest
plugin that every pytest run of an environment loads, does not load the validators, the
document loader or the HTTP client.
"""

import importlib as _importlib
import typing as _typing

from migma_contract._version import __version__

if _typing.TYPE_CHECKING:
    from pathlib import Path

    from migma_contract.config.options import CheckOptions
    from migma_contract.contract.catalogue import OPEN_POINTS, RULES, get_rule, rules_for
    from migma_contract.contract.rules import Level, OpenPoint, Rule, RuleSet, Subject
    from migma_contract.contract.validators import (
        Contract,
        ResponseVerdict,
        Violation,
        contract_for,
        validate_request,
        validate_response,
    )
    from migma_contract.core.exceptions import (
        ConfigError,
        MigmaContractError,
        SpecError,
        SpecInvalid,
        SpecUnreadable,
        TargetUnreachable,
    )
    from migma_contract.document.spec import Spec, load_spec
    from migma_contract.generate.bodies import Fixtures
    from migma_contract.run.result import (
        Budget,
        Finding,
        PlanStats,
        RequestRecord,
        ResponseRecord,
        RuleResult,
        RunResult,
        RunSettings,
        SpecInfo,
        Status,
        TargetInfo,
        TrafficStats,
    )
    from migma_contract.run.runner import run_check

    BUNDLED_SPEC_PATH: Path

_HOMES = {
    ".generate.bodies": ("Fixtures",),
    ".contract.catalogue": ("OPEN_POINTS", "RULES", "get_rule", "rules_for"),
    ".core.exceptions": ("ConfigError", "MigmaContractError", "SpecError", "SpecInvalid", "SpecUnreadable", "TargetUnreachable"),
    ".config.options": ("CheckOptions",),
    ".run.result": ("Budget", "Finding", "PlanStats", "RequestRecord", "ResponseRecord", "RuleResult", "RunResult",
                 "RunSettings", "SpecInfo", "Status", "TargetInfo", "TrafficStats"),
    ".contract.rules": ("Level", "OpenPoint", "Rule", "RuleSet", "Subject"),
    ".run.runner": ("run_check",),
    ".document.spec": ("Spec", "load_spec"),
    ".contract.validators": ("Contract", "ResponseVerdict", "Violation", "contract_for", "validate_request", "validate_response"),
}
_HOME_OF = {name: module for module, names in _HOMES.items() for name in names}

__all__ = [
    "BUNDLED_SPEC_PATH",
    "OPEN_POINTS",
    "RULES",
    "Budget",
    "CheckOptions",
    "ConfigError",
    "Contract",
    "Finding",
    "Fixtures",
    "Level",
    "MigmaContractError",
    "OpenPoint",
    "PlanStats",
    "RequestRecord",
    "ResponseRecord",
    "ResponseVerdict",
    "Rule",
    "RuleResult",
    "RuleSet",
    "RunResult",
    "RunSettings",
    "Spec",
    "SpecError",
    "SpecInfo",
    "SpecInvalid",
    "SpecUnreadable",
    "Status",
    "Subject",
    "TargetInfo",
    "TargetUnreachable",
    "TrafficStats",
    "Violation",
    "__version__",
    "contract_for",
    "get_rule",
    "load_spec",
    "rules_for",
    "run_check",
    "validate_request",
    "validate_response",
]


def __getattr__(name: str) -> _typing.Any:
    if name == "BUNDLED_SPEC_PATH":  # the vendor's document as shipped: point Schemathesis or other tools at it
        from migma_contract.document.spec import bundled_spec_path

        value: _typing.Any = bundled_spec_path()
    elif name in _HOME_OF:
        value = getattr(_importlib.import_module(_HOME_OF[name], __name__), name)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*__all__, *(name for name in globals() if name.startswith("_"))})
