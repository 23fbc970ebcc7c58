"""The exceptions of the tenancy package. Every one derives from `TenancyError`."""

from __future__ import annotations


class TenancyError(Exception):
    """Base of every error raised by the tenancy package."""


class PlanCatalogError(TenancyError):
    """The plan catalog on disk is invalid; `problems` holds one line per defect."""

    def __init__(self, directory: str, problems: list[str]) -> None:
        self.directory = directory
        self.problems = problems
        listing = "\n".join(f"  {p}" for p in problems)
        super().__init__(f"plan catalog {directory} has {len(problems)} problem(s):\n{listing}")


class UnknownPlanError(TenancyError):
    """A plan name that is not in the catalog."""

    def __init__(self, plan: str, known: list[str]) -> None:
        self.plan = plan
        self.known = known
        super().__init__(f"unknown plan {plan!r}; expected one of: {', '.join(known)}")


class InvalidInputError(TenancyError, ValueError):
    """A value given by a caller is malformed; names the field, the value and what was expected."""

    def __init__(self, field: str, value: object, expected: str) -> None:
        self.field = field
        self.value = value
        self.expected = expected
        super().__init__(f"{field} is {value!r}; expected {expected}")


class TenantExistsError(TenancyError):
    """A tenant with the same slug or domain is already registered."""

    def __init__(self, field: str, value: str) -> None:
        self.field = field
        self.value = value
        super().__init__(f"a tenant with {field} {value!r} already exists")


class NotFoundError(TenancyError, LookupError):
    """The object does not exist, or belongs to another tenant (the two are not told apart)."""

    def __init__(self, kind: str, key: object) -> None:
        self.kind = kind
        self.key = key
        super().__init__(f"{kind} {key} not found")


class ConfigurationError(TenancyError):
    """A setting is missing or malformed, or a required server binary is not installed."""


class ServiceError(TenancyError):
    """A local throwaway service (PostgreSQL, Redis) could not be started or stopped."""
