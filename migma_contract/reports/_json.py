"""`conformance.json`: the result model as versioned JSON (schema: `conformance.schema.json`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .._exceptions import ConfigError
from .._result import ResultInvalid, RunResult
from .._untrusted import clean_text

SCHEMA_PATH = Path(__file__).with_name("conformance.schema.json")


def render_json(result: RunResult) -> str:
    return json.dumps(result.to_dict(), indent=2, ensure_ascii=False) + "\n"


def load_result(path: str | Path) -> RunResult:
    """Read a saved conformance.json back into the result model (for `migma-contract report`)."""
    try:
        data: Any = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None
    except (ValueError, RecursionError) as exc:
        raise ConfigError(f"{path}: not JSON: {str(exc)[:200]}") from None
    try:
        return RunResult.from_dict(data)
    except ResultInvalid as exc:
        raise ConfigError(f"{path}: {clean_text(exc)}") from None


def json_schema() -> dict[str, Any]:
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
