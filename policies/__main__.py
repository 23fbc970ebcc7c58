"""The CrossGuard policy pack: `pulumi preview --policy-pack policies`. Builds the pack only;
the rules are plain functions in policies/guardrails.py."""

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


def _resource_policy(rule: ResourceRule) -> ResourceValidationPolicy:
    def validate(args: ResourceValidationArgs, report: ReportViolation) -> None:
        if args.resource_type in rule.types:
            for message in rule.check(dict(args.props)):
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
        resources = [PolicyResource(r.resource_type, r.name, dict(r.props)) for r in args.resources]
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
