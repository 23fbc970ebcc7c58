"""The guardrails run over whole rendered inventories, as rendered and with hostile edits."""

from __future__ import annotations

import copy
from dataclasses import replace
from typing import Any

import pytest

from infra.render import RenderedResource, render_tenant
from policies import tokens as t
from policies.guardrails import check
from tests.infra.stack_args import stack_args
from tests.policies.aws_cases import policy
from tests.policies.tenant_under_test import OTHER


@pytest.mark.parametrize("plan", ["free", "pro", "enterprise"])
@pytest.mark.parametrize("status", ["active", "suspended", "deleted"])
def test_rendered_inventory_of_every_plan_passes(plan: str, status: str) -> None:
    assert check(render_tenant(stack_args(plan, status=status))) == []


def test_rendered_elasticache_stack_passes_and_reset_is_caught() -> None:
    resources = render_tenant(
        stack_args("pro", redisMode="elasticache", elasticacheUserGroupId="codexos-tenants")
    )
    assert check(resources) == []
    edited = [
        replace(r, props={**r.props, "accessString": "on reset " + r.props["accessString"][3:]})
        if r.type == t.ELASTICACHE_USER
        else r
        for r in resources
    ]
    found = [v for v in check(edited) if v.policy == "elasticache-acl-allow-list"]
    assert [v.resource for v in found] == ["tenant-acme-pro-redis-user"], found
    assert "contains reset" in found[0].message


def _mutate(
    resources: list[RenderedResource], name_suffix: str, change: Any
) -> list[RenderedResource]:
    out = []
    for r in resources:
        if r.name.endswith(name_suffix):
            props = copy.deepcopy(r.props)
            result = change(props)
            if result is None:
                continue  # dropped
            r = replace(r, props=result)
        out.append(r)
    return out


def test_deliberately_broken_inventory_is_caught() -> None:
    resources = render_tenant(stack_args("enterprise"))
    resources = _mutate(
        resources, "-bucket-encryption", lambda p: None
    )  # bucket without encryption
    resources = _mutate(
        resources, "-netpol-default-deny", lambda p: None
    )  # namespace without default deny
    resources = _mutate(
        resources,
        "-role-policy",
        lambda p: policy(
            {"Sid": "Admin", "Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}
        ),
    )  # IAM with *
    found = {(v.policy, v.resource) for v in check(resources)}
    assert ("bucket-protected", "tenant-acme-enterprise-bucket") in found
    assert ("namespace-isolated", "tenant-acme-enterprise-namespace") in found
    assert ("iam-least-privilege", "tenant-acme-enterprise-role-policy") in found


def test_stack_rule_catches_foreign_tenant_prefix() -> None:
    resources = render_tenant(stack_args("pro"))
    resources = _mutate(
        resources,
        "-role-policy",
        lambda p: policy(
            {
                "Sid": "Theirs",
                "Effect": "Allow",
                "Action": "s3:GetObject",
                "Resource": f"arn:aws:s3:::codexos-tenant-data/tenants/{OTHER}/*",
            }
        ),
    )
    violations = [v for v in check(resources) if v.policy == "iam-own-tenant-only"]
    assert [v.resource for v in violations] == ["tenant-acme-pro-role-policy"]
    assert OTHER in violations[0].message
