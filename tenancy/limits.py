"""Limits as values: a number, or an explicit `unlimited` that never enters arithmetic as -1."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tenancy.errors import InvalidInputError

UNLIMITED = "unlimited"
LIMIT_EXPECTED = "a number >= 0 or `unlimited`"

#: The metered resources every plan limits, in the order tables show them.
LIMIT_KEYS = ("users", "agents", "storage_gb", "api_calls_per_month")
#: Rate-limit settings a tenant may override beside its limits (see `RatePolicy.for_tenant`).
RATE_KEYS = ("requests_per_minute", "burst")
#: Every key a tenant's `limit_overrides` may hold: one schema, validated when written.
OVERRIDE_KEYS = LIMIT_KEYS + RATE_KEYS


@dataclass(frozen=True, slots=True)
class Limit:
    """An upper bound on a resource; `maximum is None` means unlimited."""

    maximum: int | None

    @classmethod
    def parse(cls, raw: object, field: str = "limit") -> Limit:
        """Build a limit from catalog or override data; rejects -1, strings, floats and bools."""
        if raw == UNLIMITED:
            return cls(None)
        if isinstance(raw, bool) or not isinstance(raw, int) or raw < 0:
            raise InvalidInputError(field, raw, LIMIT_EXPECTED)
        return cls(raw)

    @property
    def unlimited(self) -> bool:
        return self.maximum is None

    def allows(self, used: float) -> bool:
        """True while `used` is within the limit (a limit of 10 allows 10)."""
        return self.maximum is None or used <= self.maximum

    def ratio(self, used: float) -> float | None:
        """Fraction of the limit in use, or None when unlimited (there is nothing to divide by)."""
        if self.maximum is None:
            return None
        if self.maximum == 0:
            return 0.0 if used <= 0 else float("inf")
        return used / self.maximum

    def to_data(self) -> int | str:
        return UNLIMITED if self.maximum is None else self.maximum

    def __str__(self) -> str:
        return UNLIMITED if self.maximum is None else f"{self.maximum:,}"


def parse_overrides(raw: Mapping[str, Any] | None) -> dict[str, Limit]:
    """Validate per-tenant overrides, limits and rate settings alike: known keys only, each a
    valid limit (`burst` is a number: a burst cannot be unlimited)."""
    overrides: dict[str, Limit] = {}
    for key, value in (raw or {}).items():
        if key not in OVERRIDE_KEYS:
            raise InvalidInputError(
                "limit override key", key, f"one of: {', '.join(OVERRIDE_KEYS)}"
            )
        overrides[key] = Limit.parse(value, f"limit override `{key}`")
        if key == "burst" and overrides[key].unlimited:
            raise InvalidInputError("limit override `burst`", value, "a number >= 0")
    return overrides


def limit_overrides(raw: Mapping[str, Any] | None) -> dict[str, Limit]:
    """Only the overrides of metered limits (`LIMIT_KEYS`), validated."""
    return {k: v for k, v in parse_overrides(raw).items() if k in LIMIT_KEYS}
