"""Every mandatory guardrail, and `check` to run them over a stack's resources."""

from __future__ import annotations

from collections.abc import Sequence

from policies import (
    aws_rules,
    domain_rules,
    iam_rules,
    kubernetes_rules,
    pod_security_rules,
    redis_rules,
    storage_rules,
)
from policies.rule import Resource, ResourceRule, StackRule, Violation, evaluate

RESOURCE_RULES: tuple[ResourceRule, ...] = (
    *aws_rules.RESOURCE_RULES,
    *iam_rules.RESOURCE_RULES,
    *storage_rules.RESOURCE_RULES,
    *kubernetes_rules.RESOURCE_RULES,
    *pod_security_rules.RESOURCE_RULES,
    *redis_rules.RESOURCE_RULES,
    *domain_rules.RESOURCE_RULES,
)
STACK_RULES: tuple[StackRule, ...] = (
    *aws_rules.STACK_RULES,
    *storage_rules.STACK_RULES,
    *kubernetes_rules.STACK_RULES,
    *domain_rules.STACK_RULES,
)


def check(resources: Sequence[Resource]) -> list[Violation]:
    return evaluate(resources, RESOURCE_RULES, STACK_RULES)
