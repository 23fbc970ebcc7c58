"""The CrossGuard policy pack: `pulumi preview --policy-pack policies`. Builds the pack only;
the rules are plain functions in policies/guardrails.py."""

import contextlib
from collections.abc import Mapping, Sequence
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyPack,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from policies.guardrails import RESOURCE_RULES, STACK_RULES
from policies.rule import PolicyResource, ResourceRule, StackRule


def _raw(props: Any) -> dict[str, Any]:
    """The properties with preview's unknown sentinels left in place: the SDK's proxy raises
    on the first unknown, which would skip the whole rule; the rules skip only what is unknown
    (policies/unknowns.py)."""
    unwrapped = _unwrap(props)
    return dict(unwrapped) if isinstance(unwrapped, Mapping) else {}


def _unwrap(value: Any) -> Any:
    if isinstance(value, Mapping | Sequence) and not isinstance(value, str | bytes):
        with contextlib.suppress(KeyError, TypeError, IndexError):
            value = value["__target"]  # type: ignore[call-overload]  # how the SDK's proxies hand out their raw contents
    if isinstance(value, Mapping):
        return {k: _unwrap(v) for k, v in value.items()}
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        return [_unwrap(v) for v in value]
    return value


def _resource_policy(rule: ResourceRule) -> ResourceValidationPolicy:
    def validate(args: ResourceValidationArgs, report: ReportViolation) -> None:
        if args.resource_type in rule.types:
            for message in rule.check(_raw(args.props)):
                report(message, None)

    return ResourceValidationPolicy(
        name=rule.name,
        description=rule.description,
        validate=validate,
        enforcement_level=EnforcementLevel.MANDATORY,
        remediation_steps=rule.remediation,
    )


def _stack_policy(rule: StackRule) -> StackValidationPolicy:
    def validate(args: StackValidationArgs, report: ReportViolation) -> None:
        resources = [
            PolicyResource(
                r.resource_type,
                r.name,
                _raw(r.props),
                getattr(getattr(r, "opts", None), "protect", None),
            )
            for r in args.resources
        ]
        for name, message in rule.check(resources):
            report(f"{name}: {message}", None)

    return StackValidationPolicy(
        name=rule.name,
        description=rule.description,
        validate=validate,
        enforcement_level=EnforcementLevel.MANDATORY,
        remediation_steps=rule.remediation,
    )


PolicyPack(
    name="codexos-tenant-guardrails",
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=[*map(_resource_policy, RESOURCE_RULES), *map(_stack_policy, STACK_RULES)],
)
