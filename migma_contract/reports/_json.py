"""`conformance.json`: the result model as versioned JSON (schema: `conformance.schema.json`).

A conformance.json may come from anyone (`migma-contract report`, `--baseline`), so it
is read as hostile input: a regular file of bounded size and nesting, parsed, checked
against the shipped schema (`RunResult.from_dict`), and every string in it cleaned of
control characters before any writer sees it. Its curl lines are rebuilt from each finding's
recorded request (`run.records.rebuilt_curl`): a command the file holds is never shown. Each
problem is one line (ConfigError).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from migma_contract.core import bounded
from migma_contract.core.exceptions import ConfigError
from migma_contract.core.untrusted import MAX_INPUT_BYTES, clean_data, clean_text, read_bounded
from migma_contract.run.result import ResultInvalid, RunResult

SCHEMA_PATH = Path(__file__).with_name("conformance.schema.json")
MAX_DEPTH = 32  # the format nests 5 levels deep


def render_json(result: RunResult) -> str:
    return json.dumps(clean_data(result.to_dict()), indent=2, ensure_ascii=False) + "\n"




def load_result(path: str | Path) -> RunResult:
    """Read a saved conformance.json back into the result model (for `migma-contract report`)."""
    shown = clean_text(path)
    raw = read_bounded(path, MAX_INPUT_BYTES)
    try:
        data: Any = bounded.load_json(raw, what="reports", max_depth=MAX_DEPTH, max_nodes=bounded.MAX_NODES * 4)
    except bounded.Malformed as exc:
        raise ConfigError(f"{shown}: not JSON: {clean_text(exc.message)[:200]}") from None
    except bounded.Bounded as exc:
        raise ConfigError(f"{shown}: {exc.message}; not a conformance.json") from None
    try:
        result = RunResult.from_dict(clean_data(data))
    except ResultInvalid as exc:
        raise ConfigError(f"{shown}: {clean_text(exc)}") from None
    from migma_contract.run.records import rebuilt_curl  # here: it loads the HTTP stack, which a dry run never needs

    for finding in result.findings:  # a command shown is one the toolkit built, never the file's own text
        finding.request.curl = rebuilt_curl(finding.request)
    return result


def json_schema() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    return schema
