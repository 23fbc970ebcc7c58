"""The exceptions of the Pulumi program."""

from __future__ import annotations

from tenancy.errors import TenancyError


class InfraError(TenancyError):
    """Base of every error raised by the infra package."""


class StackConfigError(InfraError, ValueError):
    """A stack config value is missing or malformed; names the stack, key and value."""

    def __init__(self, stack: str, key: str, value: object, expected: str) -> None:
        self.stack = stack
        self.key = key
        self.value = value
        self.expected = expected
        shown = "missing" if value is None else f"{value!r}"
        super().__init__(f"{stack}: config `{key}` is {shown}; expected {expected}")
