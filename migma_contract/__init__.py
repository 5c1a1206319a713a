"""migma-contract: contract testing and validation for the Migma.ai send endpoint.

The public surface is re-exported here (and the Hypothesis strategies in
`migma_contract.strategies`); everything else lives in private modules whose names may
change. `tests/test_public_api.py` pins this list.
"""

from ._bodies import Fixtures
from ._catalogue import OPEN_POINTS, RULES, get_rule, rules_for
from ._exceptions import (
    ConfigError,
    MigmaContractError,
    SpecError,
    SpecInvalid,
    SpecUnreadable,
    TargetUnreachable,
)
from ._options import CheckOptions
from ._result import (
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
)
from ._rules import Level, OpenPoint, Rule, RuleSet, Subject
from ._runner import run_check
from ._spec import Spec, load_spec
from ._validators import Contract, ResponseVerdict, Violation, contract_for, validate_request, validate_response
from ._version import __version__

__all__ = [
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
