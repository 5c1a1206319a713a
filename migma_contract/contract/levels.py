"""How strict a run is, and where a rule comes from: read by the options table on every start, so nothing else here."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["Level", "RuleSet"]


class Level(StrEnum):
    """How strict a run is; each level includes the ones before it."""

    SCHEMA = "schema"
    DOCUMENTED = "documented"
    STRICT = "strict"

    @property
    def rank(self) -> int:
        return list(Level).index(self)

    def includes(self, other: Level) -> bool:
        return other.rank <= self.rank

    @classmethod
    def parse(cls, value: str | Level) -> Level:
        try:
            return cls(value)
        except ValueError:
            names = ", ".join(level.value for level in cls)
            raise ValueError(f"unknown level {value!r}; choose one of {names}") from None


class RuleSet(StrEnum):
    """Where a rule comes from, and so whether a run judges it unasked.

    `contract`: the bundled document (always judged). `vendor`: the vendor's wider
    documentation (its idempotency and rate-limit pages, its SDK's README), which the
    bundled document does not state: judged only when a run asks (`--with-vendor`).
    """

    CONTRACT = "contract"
    VENDOR = "vendor"
