"""Every error the toolkit raises on purpose, in one hierarchy.

Each class carries the exit code the command line uses for it, so the CLI and the pytest
plugin turn any of them into one clear line instead of a traceback.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "MigmaContractError",
    "SpecError",
    "SpecInvalid",
    "SpecUnreadable",
    "TargetUnreachable",
]


class MigmaContractError(Exception):
    """Base class: a problem the user can fix, described in one line."""

    exit_code = 2


class SpecError(MigmaContractError):
    """The OpenAPI document cannot be used."""

    def __init__(
        self, message: str, *, path: str, pointer: str | None = None, line: int | None = None
    ) -> None:
        self.path = path
        self.pointer = pointer
        self.line = line
        where = path
        if line is not None:
            where += f":{line}"
        if pointer is not None:
            where += f" (at {pointer or '/'})"
        super().__init__(f"{where}: {message}")
        self.detail = message


class SpecUnreadable(SpecError):
    """The file is missing, or is not YAML/JSON at all."""

    exit_code = 2


class SpecInvalid(SpecError):
    """The file parses, but is not a usable OpenAPI 3.1 document for POST /v1/sending."""

    exit_code = 1


class ConfigError(MigmaContractError):
    """A bad option, environment variable or configuration file."""

    exit_code = 2


class TargetUnreachable(MigmaContractError):
    """The target did not answer at all before any case was judged."""

    exit_code = 3


class Terminated(KeyboardInterrupt):
    """SIGTERM (a CI job's timeout), raised where Ctrl-C's KeyboardInterrupt would be: a run stops the same way
    and says which."""
