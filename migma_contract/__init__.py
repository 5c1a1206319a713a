"""migma-contract: contract testing and validation for the Migma.ai send endpoint.

The public surface is re-exported here; everything else lives in private modules.
"""

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
from ._validators import Contract, ResponseVerdict, Violation, contract_for, validate_request, validate_response
from ._version import __version__

__all__ = [
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
