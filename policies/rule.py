"""The shape of a guardrail: plain functions over resources, usable with or without CrossGuard.

A resource is anything with `type`, `name` and `props` (Pulumi's camelCase input names), so
the same rule runs over the mocked inventory (`tenancy stacks check`) and inside the policy
pack during `pulumi preview`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol


class Resource(Protocol):
    @property
    def type(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def props(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class PolicyResource:
    """A plain resource, for callers that do not have one of their own."""

    type: str
    name: str
    props: dict[str, Any]
    protect: bool | None = None  # None: the caller does not know the resource options


@dataclass(frozen=True)
class Violation:
    policy: str
    resource: str
    message: str
    remediation: str

    def __str__(self) -> str:
        return f"{self.resource}: [{self.policy}] {self.message} -> {self.remediation}"


@dataclass(frozen=True)
class ResourceRule:
    """Checks one resource of the listed types; `check` yields a message per defect."""

    name: str
    description: str
    remediation: str
    types: tuple[str, ...]
    check: Callable[[dict[str, Any]], Iterable[str]]


@dataclass(frozen=True)
class StackRule:
    """Checks a stack's resources together; `check` yields (resource name, message)."""

    name: str
    description: str
    remediation: str
    check: Callable[[Sequence[Resource]], Iterable[tuple[str, str]]]


def evaluate(
    resources: Sequence[Resource],
    resource_rules: Sequence[ResourceRule],
    stack_rules: Sequence[StackRule],
) -> list[Violation]:
    """Every violation of every rule, in resource order then rule order."""
    found: list[Violation] = []
    for resource in resources:
        for rule in resource_rules:
            if resource.type in rule.types:
                found.extend(
                    Violation(rule.name, resource.name, message, rule.remediation)
                    for message in rule.check(resource.props)
                )
    for stack_rule in stack_rules:
        found.extend(
            Violation(stack_rule.name, name, message, stack_rule.remediation)
            for name, message in stack_rule.check(resources)
        )
    return found
