"""Every harmful edit of the catalog, applied to every plan's rendered stack, is caught by its
rule with a message that names the tenant, the resource, the rule and the remedy; the
unedited stacks pass."""

from __future__ import annotations

from functools import cache

import pytest

from infra.args import TenantStackArgs
from infra.render import RenderedResource, render_tenant
from policies.guardrails import check
from tests.infra.stack_args import WITH_WEB, stack_args
from tests.policies.mutations import CATALOG, Mutation

PLANS = ("free", "pro", "enterprise")


def serving(plan: str) -> TenantStackArgs:
    """The plan's stack for a tenant serving a verified domain from its `web` workload."""
    return stack_args(plan, workloads=WITH_WEB, verifiedDomains=["shop.acme.test"])


@cache
def rendered(plan: str) -> tuple[TenantStackArgs, tuple[RenderedResource, ...]]:
    args = serving(plan)
    return args, tuple(render_tenant(args))


CASES = [
    pytest.param(plan, mutation, id=f"{plan}-{mutation.name}")
    for plan in PLANS
    for mutation in CATALOG
    if mutation.applies(serving(plan))
]


def test_the_catalog_covers_every_plan_and_the_eight_edits_of_the_review() -> None:
    assert {plan for plan, *_ in (c.values for c in CASES)} == set(PLANS)
    rules = {m.rule for m in CATALOG}
    assert {
        "irsa-trust-pinned",
        "kms-key-policy-scoped",
        "sse-kms-denies-present",
        "iam-no-escalation",
        "dedicated-bucket-kept",
        "egress-narrow",
        "pod-security-restricted",
        "redis-acl-allow-list",
        "route-backend-rendered",
    } <= rules


@pytest.mark.parametrize("plan", PLANS)
def test_unedited_stack_passes(plan: str) -> None:
    _, resources = rendered(plan)
    assert check(list(resources)) == []


@pytest.mark.parametrize(("plan", "mutation"), CASES)
def test_harmful_edit_is_caught(plan: str, mutation: Mutation) -> None:
    args, resources = rendered(plan)
    edited, touched = mutation.apply(list(resources))
    found = [v for v in check(edited) if v.policy == mutation.rule]
    assert found, f"{mutation.name} on {plan}: not caught by {mutation.rule}"
    violation = found[0]
    assert violation.resource.startswith(f"tenant-{args.slug}-"), violation.resource
    dropped = touched not in {r.name for r in edited}
    if not dropped:
        assert violation.resource == touched, f"{mutation.name}: blamed {violation.resource}"
    text = str(violation)
    assert args.slug in text and mutation.rule in text and violation.remediation in text, text
    assert violation.remediation, f"{mutation.rule} has no remedy"
