"""Settings from `[tool.migma-contract]` in pyproject.toml (below CLI options and environment).

Keys are the long option names without dashes in front (`base-url`, `max-requests`,
`level`, ...). A key that is not an option is an error, so a typo never passes silently.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from ._exceptions import ConfigError

__all__ = ["ENV", "pyproject_settings"]

# Environment variables shared by the CLI and the pytest plugin.
ENV = {
    "base_url": "MIGMA_BASE_URL",
    "api_key": "MIGMA_API_KEY",
    "restricted_api_key": "MIGMA_RESTRICTED_API_KEY",
    "level": "MIGMA_LEVEL",
    "seed": "MIGMA_SEED",
    "max_requests": "MIGMA_MAX_REQUESTS",
    "max_time": "MIGMA_MAX_TIME",
    "timeout": "MIGMA_TIMEOUT",
    "rate": "MIGMA_RATE",
    "from_address": "MIGMA_FROM",
    "email_id": "MIGMA_EMAIL_ID",
    "conversation_id": "MIGMA_CONVERSATION_ID",
    "project_id": "MIGMA_PROJECT_ID",
    "audience_id": "MIGMA_AUDIENCE_ID",
    "segment_id": "MIGMA_SEGMENT_ID",
    "tag_id": "MIGMA_TAG_ID",
    "provider": "MIGMA_PROVIDERS",
    "recipient_domain": "MIGMA_RECIPIENT_DOMAIN",
    "report_dir": "MIGMA_REPORT_DIR",
    "spec": "MIGMA_SPEC",
}
SECRET_KEYS = ("api_key", "restricted_api_key")


def pyproject_settings(known: set[str], path: Path | None = None) -> dict[str, Any]:
    """`[tool.migma-contract]` of ./pyproject.toml as option names -> values ({} if absent)."""
    path = path or Path.cwd() / "pyproject.toml"
    if not path.is_file():
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read [tool.migma-contract]: {exc}") from None
    section = data.get("tool", {}).get("migma-contract", {})
    if not isinstance(section, dict):
        raise ConfigError(f"{path}: [tool.migma-contract] must be a table")
    settings: dict[str, Any] = {}
    for key, value in section.items():
        name = key.replace("-", "_")
        if name in SECRET_KEYS:
            raise ConfigError(f"{path}: [tool.migma-contract] {key}: keep keys out of files; set {ENV[name]} instead")
        if name not in known:
            raise ConfigError(f"{path}: [tool.migma-contract] has unknown key {key!r}; known: {', '.join(sorted(k.replace('_', '-') for k in known))}")
        settings[name] = value
    return settings
