"""migma-contract: contract testing and validation for the Migma.ai send endpoint.

The public surface is re-exported here; everything else lives in private modules. The
names are resolved on first use (PEP 562), so that importing a submodule, such as the
pytest plugin every pytest run of an environment loads, does not load the validators.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._version import __version__

if TYPE_CHECKING:
    from pathlib import Path

    from ._catalogue import OPEN_POINTS, RULES, get_rule, rules_for
    from ._exceptions import (
        ConfigError,
        MigmaContractError,
        RunAborted,
        SpecError,
        SpecInvalid,
        SpecUnreadable,
        TargetUnreachable,
    )
    from ._rules import Level, Rule, Subject
    from ._spec import Spec, load_spec

    BUNDLED_SPEC_PATH: Path
    from ._validators import Contract, ResponseVerdict, Violation, contract_for, validate_request, validate_response

_HOME = {
    "._catalogue": ("OPEN_POINTS", "RULES", "get_rule", "rules_for"),
    "._exceptions": ("ConfigError", "MigmaContractError", "RunAborted", "SpecError", "SpecInvalid", "SpecUnreadable",
                     "TargetUnreachable"),
    "._rules": ("Level", "Rule", "Subject"),
    "._spec": ("Spec", "load_spec"),
    "._validators": ("Contract", "ResponseVerdict", "Violation", "contract_for", "validate_request", "validate_response"),
}
_WHERE = {name: module for module, names in _HOME.items() for name in names}

__all__ = [
    "BUNDLED_SPEC_PATH",
    "OPEN_POINTS",
    "RULES",
    "ConfigError",
    "Contract",
    "Level",
    "MigmaContractError",
    "ResponseVerdict",
    "Rule",
    "RunAborted",
    "Spec",
    "SpecError",
    "SpecInvalid",
    "SpecUnreadable",
    "Subject",
    "TargetUnreachable",
    "Violation",
    "__version__",
    "contract_for",
    "get_rule",
    "load_spec",
    "rules_for",
    "validate_request",
    "validate_response",
]


def __getattr__(name: str) -> Any:
    if name == "BUNDLED_SPEC_PATH":  # the vendor's document as shipped: point Schemathesis or other tools at it
        from ._spec import bundled_spec_path

        value: Any = bundled_spec_path()
    elif name in _WHERE:
        value = getattr(importlib.import_module(_WHERE[name], __name__), name)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
