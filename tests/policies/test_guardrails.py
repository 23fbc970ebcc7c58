"""Every guardrail fed a violating and a passing resource, and run over whole inventories."""

from __future__ import annotations

import copy
import json
from dataclasses import replace
from typing import Any

import pytest

from infra.bucket_policy import bucket_policy, sse_kms_denies
from infra.network import pod_security_labels
from infra.render import RenderedResource, render_tenant
from policies import tokens as t
from policies.guardrails import RESOURCE_RULES, STACK_RULES, check
from policies.rule import PolicyResource
from tests.infra.stack_args import stack_args
from tests.policies.test_domain_rules import DOMAIN_CASES

TENANT = "0b7e4c1a-5f0e-4d5e-9a53-6f1c2d3e4a01"
OTHER = "9f0e1d2c-3b4a-4c5d-8e6f-7a8b9c0d1e2f"
KEY = "arn:aws:kms:eu-west-1:123456789012:key/abc"
TAGS = {"tenant-id": TENANT, "plan": "pro", "managed-by": "codexos-tenancy"}


def policy(*statements: dict[str, Any]) -> dict[str, Any]:
    return {
        "policy": json.dumps({"Version": "2012-10-17", "Statement": list(statements)}),
        "role": "r",
    }


GOOD_IAM = policy(
    {
        "Sid": "Objects",
        "Effect": "Allow",
        "Action": ["s3:GetObject"],
        "Resource": f"arn:aws:s3:::data/tenants/{TENANT}/*",
    },
    {
        "Sid": "List",
        "Effect": "Allow",
        "Action": "s3:ListBucket",
        "Resource": "arn:aws:s3:::data",
        "Condition": {"StringLike": {"s3:prefix": [f"tenants/{TENANT}/*"]}},
    },
)
LABELS = {
    "labels": {**TAGS, "tenant-status": "active"},
    "namespace": "tenant-acme",
    "name": "plan-quota",
}
QUOTA = {
    "apiVersion": "v1",
    "kind": "ResourceQuota",
    "metadata": LABELS,
    "spec": {
        "hard": {
            "requests.cpu": "4",
            "limits.cpu": "4",
            "requests.memory": "8Gi",
            "limits.memory": "8Gi",
            "pods": "25",
        }
    },
}
LIMITS = {
    "apiVersion": "v1",
    "kind": "LimitRange",
    "metadata": {**LABELS, "name": "plan-limits"},
    "spec": {
        "limits": [
            {
                "type": "Container",
                "default": {"cpu": "500m", "memory": "512Mi"},
                "max": {"cpu": "4", "memory": "8Gi"},
            }
        ]
    },
}
ISSUER = "oidc.eks.eu-west-1.amazonaws.com/id/ABC"
TRUST = {
    "Effect": "Allow",
    "Principal": {"Federated": f"arn:aws:iam::123456789012:oidc-provider/{ISSUER}"},
    "Action": "sts:AssumeRoleWithWebIdentity",
    "Condition": {
        "StringEquals": {
            f"{ISSUER}:sub": "system:serviceaccount:tenant-acme:workload",
            f"{ISSUER}:aud": "sts.amazonaws.com",
        }
    },
}
ROOT = {
    "Sid": "EnableIamPolicies",
    "Effect": "Allow",
    "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
    "Action": "kms:*",
    "Resource": "*",
}
KEY_PROPS = {"enableKeyRotation": True, "deletionWindowInDays": 30, "tags": TAGS}
ACL = {
    "username": f"tenant-{TENANT}",
    "rules": ["resetkeys", f"~tenant:{TENANT}:*", "-@all", "+get", "+set"],
}

# rule name -> (resource type, passing props, violating props, expected message fragment)
CASES: dict[str, tuple[str, dict[str, Any], dict[str, Any], str]] = {
    "kms-key-rotation-enabled": (
        t.KMS_KEY,
        {"enableKeyRotation": True, "deletionWindowInDays": 30, "tags": TAGS},
        {"enableKeyRotation": False, "deletionWindowInDays": 30},
        "KMS key rotation is off",
    ),
    "bucket-encrypted-with-tenant-key": (
        t.BUCKET_SSE,
        {
            "bucket": "b",
            "rules": [
                {
                    "applyServerSideEncryptionByDefault": {
                        "sseAlgorithm": "aws:kms",
                        "kmsMasterKeyId": KEY,
                    },
                    "bucketKeyEnabled": True,
                }
            ],
        },
        {
            "bucket": "b",
            "rules": [
                {
                    "applyServerSideEncryptionByDefault": {"sseAlgorithm": "AES256"},
                    "bucketKeyEnabled": True,
                }
            ],
        },
        "sseAlgorithm is 'AES256'; expected 'aws:kms'",
    ),
    "object-encrypted-with-tenant-key": (
        t.BUCKET_OBJECT,
        {"serverSideEncryption": "aws:kms", "kmsKeyId": KEY, "tags": TAGS},
        {"serverSideEncryption": "aws:kms", "kmsKeyId": "alias/aws/s3", "tags": TAGS},
        "not encrypted with SSE-KMS under the tenant key",
    ),
    "bucket-public-access-blocked": (
        t.BUCKET_PUBLIC_ACCESS,
        {
            "blockPublicAcls": True,
            "blockPublicPolicy": True,
            "ignorePublicAcls": True,
            "restrictPublicBuckets": True,
        },
        {
            "blockPublicAcls": True,
            "blockPublicPolicy": False,
            "ignorePublicAcls": True,
            "restrictPublicBuckets": True,
        },
        "blockPublicPolicy is False; expected true",
    ),
    "tags-present": (
        t.IAM_ROLE,
        {"tags": TAGS},
        {"tags": {"plan": "pro"}},
        "missing tags: tenant-id, managed-by",
    ),
    "iam-least-privilege": (
        t.IAM_ROLE_POLICY,
        GOOD_IAM,
        policy({"Sid": "Everything", "Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}),
        "Everything allows Resource '*'",
    ),
    "kubernetes-labels-present": (
        t.NAMESPACE,
        {"metadata": {"name": "tenant-acme", "labels": TAGS}},
        {"metadata": {"name": "tenant-acme", "labels": {}}},
        "missing labels: tenant-id, plan, managed-by",
    ),
    "quota-matches-plan": (
        t.RESOURCE_QUOTA,
        QUOTA,
        {**QUOTA, "spec": {"hard": {**QUOTA["spec"]["hard"], "pods": "500"}}},
        "hard pods is '500'; plan pro says '25'",
    ),
    "limit-range-matches-plan": (
        t.LIMIT_RANGE,
        LIMITS,
        {
            **LIMITS,
            "spec": {
                "limits": [{"type": "Container", "default": {"cpu": "8"}, "max": {"memory": "8Gi"}}]
            },
        },
        "default cpu is '8'; plan pro says '500m'",
    ),
    "kubernetes-schema-valid": (
        t.RESOURCE_QUOTA,
        QUOTA,
        {**QUOTA, "spec": {"hard": {"pods": "25"}, "hardd": {}}},
        "does not validate against the Kubernetes",
    ),
    "redis-acl-allow-list": (
        t.DYNAMIC,
        ACL,
        {**ACL, "rules": [f"~tenant:{TENANT}:*", "-@all", "+get", "+flushall", "+function|flush"]},
        "grants forbidden commands or categories: flushall, function|flush",
    ),
    "irsa-trust-pinned": (
        t.IAM_ROLE,
        {"assumeRolePolicy": json.dumps({"Statement": [TRUST]}), "tags": TAGS},
        {
            "assumeRolePolicy": json.dumps(
                {
                    "Statement": [
                        {
                            **TRUST,
                            "Condition": {
                                "StringLike": {f"{ISSUER}:sub": "system:serviceaccount:*:*"}
                            },
                        }
                    ]
                }
            ),
            "tags": TAGS,
        },
        "uses StringLike; expected StringEquals",
    ),
    "kms-key-policy-scoped": (
        t.KMS_KEY,
        {**KEY_PROPS, "policy": json.dumps({"Statement": [ROOT]})},
        {
            **KEY_PROPS,
            "policy": json.dumps(
                {
                    "Statement": [
                        ROOT,
                        {
                            "Sid": "Open",
                            "Effect": "Allow",
                            "Principal": "*",
                            "Action": "kms:*",
                            "Resource": "*",
                        },
                    ]
                }
            ),
        },
        "Open allows Principal '*'",
    ),
    "iam-no-escalation": (
        t.IAM_ROLE_POLICY,
        GOOD_IAM,
        policy(
            {
                "Sid": "Hop",
                "Effect": "Allow",
                "Action": ["sts:AssumeRole"],
                "Resource": "arn:aws:iam::123456789012:role/codexos-platform-admin",
            }
        ),
        "Hop allows sts:AssumeRole",
    ),
    "sse-kms-denies-present": (
        t.BUCKET_POLICY,
        {"bucket": "b", "policy": json.dumps(bucket_policy("b", KEY))},
        {
            "bucket": "b",
            "policy": json.dumps(
                {
                    "Statement": [
                        {
                            "Effect": "Deny",
                            "Principal": "*",
                            "Action": "s3:PutObject",
                            "Resource": "arn:aws:s3:::b/*",
                            "Condition": {
                                "StringNotEquals": {
                                    "s3:x-amz-server-side-encryption": "aws:kms",
                                    "s3:x-amz-server-side-encryption-aws-kms-key-id": KEY,
                                }
                            },
                        }
                    ]
                }
            ),
        },
        "no separate Deny on s3:PutObject for: StringNotEquals s3:x-amz-server-side-encryption;",
    ),
    "bucket-tls-only": (
        t.BUCKET_POLICY,
        {"bucket": "b", "policy": json.dumps(bucket_policy("b", KEY))},
        {
            "bucket": "b",
            "policy": json.dumps({"Statement": sse_kms_denies("arn:aws:s3:::b/*", KEY)}),
        },
        "no Deny for aws:SecureTransport false",
    ),
    "pod-security-restricted": (
        t.NAMESPACE,
        {"metadata": {"name": "tenant-acme", "labels": pod_security_labels()}},
        {
            "metadata": {
                "name": "tenant-acme",
                "labels": {
                    **pod_security_labels(),
                    "pod-security.kubernetes.io/enforce": "privileged",
                },
            }
        },
        "pod-security.kubernetes.io/enforce is 'privileged'; expected 'restricted'",
    ),
    "service-account-no-token": (
        t.SERVICE_ACCOUNT,
        {"automountServiceAccountToken": False},
        {"automountServiceAccountToken": True},
        "automountServiceAccountToken is True; expected false",
    ),
    "egress-narrow": (
        t.NETWORK_POLICY,
        {
            "spec": {
                "egress": [
                    {"to": [{"ipBlock": {"cidr": "10.40.12.0/28"}}], "ports": [{"port": 6379}]}
                ]
            }
        },
        {
            "spec": {
                "egress": [{"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}], "ports": [{"port": 443}]}]
            }
        },
        "egress[0] reaches 0.0.0.0/0",
    ),
    "elasticache-acl-allow-list": (
        t.ELASTICACHE_USER,
        {"accessString": f"on ~tenant:{TENANT}:* &tenant:{TENANT}:* -@all +get"},
        {"accessString": f"on ~tenant:{TENANT}:* allchannels -@all +get"},
        "opens everything with allchannels",
    ),
    "workload-stopped-and-restricted": (
        t.DEPLOYMENT,
        {
            "metadata": {"labels": {"tenant-status": "suspended"}},
            "spec": {
                "replicas": 0,
                "template": {"spec": {"automountServiceAccountToken": False, "containers": []}},
            },
        },
        {
            "metadata": {"labels": {"tenant-status": "suspended"}},
            "spec": {
                "replicas": 2,
                "template": {"spec": {"automountServiceAccountToken": False, "containers": []}},
            },
        },
        "tenant is suspended but replicas is 2; expected 0",
    ),
}

CASES.update(DOMAIN_CASES)


def test_every_resource_rule_has_a_case() -> None:
    assert {r.name for r in RESOURCE_RULES} == set(CASES)


@pytest.mark.parametrize("rule_name", sorted(CASES))
def test_rule_passes_good_and_catches_bad(rule_name: str) -> None:
    rule = next(r for r in RESOURCE_RULES if r.name == rule_name)
    type_, good, bad, fragment = CASES[rule_name]
    assert type_ in rule.types
    assert list(rule.check(good)) == [], f"{rule_name} flagged a compliant resource"
    messages = list(rule.check(bad))
    assert any(fragment in m for m in messages), f"{rule_name}: {messages}"


@pytest.mark.parametrize(
    ("statement", "fragment"),
    [
        (
            {
                "Sid": "Wild",
                "Effect": "Allow",
                "Action": "s3:*",
                "Resource": f"arn:aws:s3:::d/tenants/{TENANT}/*",
            },
            "Wild allows a wildcard action",
        ),
        (
            {
                "Sid": "Bucket",
                "Effect": "Allow",
                "Action": "s3:GetObject",
                "Resource": "arn:aws:s3:::d/*",
            },
            "Bucket grants objects outside a tenant prefix",
        ),
        (
            {
                "Sid": "List",
                "Effect": "Allow",
                "Action": "s3:ListBucket",
                "Resource": "arn:aws:s3:::d",
            },
            "List allows s3:ListBucket without an s3:prefix condition",
        ),
        (
            {
                "Sid": "Other",
                "Effect": "Allow",
                "Action": "s3:GetObject",
                "Resource": f"arn:aws:s3:::d/tenants/{OTHER}/*",
            },
            "policy names several tenants",
        ),
    ],
)
def test_iam_rule_variants(statement: dict[str, Any], fragment: str) -> None:
    rule = next(r for r in RESOURCE_RULES if r.name == "iam-least-privilege")
    props = policy(json.loads(GOOD_IAM["policy"])["Statement"][0], statement)
    assert any(fragment in m for m in rule.check(props)), list(rule.check(props))


def test_redis_rule_refuses_foreign_or_global_key_patterns() -> None:
    rule = next(r for r in RESOURCE_RULES if r.name == "redis-acl-allow-list")
    assert any(
        "expected exactly ~tenant:<id>:*" in m
        for m in rule.check({**ACL, "rules": ["~*", "-@all", "+get"]})
    )
    assert any(
        "+@all" not in m and "-@all" in m
        for m in rule.check({**ACL, "rules": [f"~tenant:{TENANT}:*", "+get"]})
    )


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


def test_stack_rules_are_described() -> None:
    for rule in (*RESOURCE_RULES, *STACK_RULES):
        assert rule.description and rule.remediation, rule.name
        assert rule.name == rule.name.lower() and " " not in rule.name, f"{rule.name}: kebab-case"


def test_policy_resource_works_with_plain_data() -> None:
    found = check(
        [
            PolicyResource(
                t.KMS_KEY,
                "k",
                {
                    "enableKeyRotation": False,
                    "deletionWindowInDays": 7,
                    "tags": TAGS,
                    "policy": json.dumps({"Statement": [ROOT]}),
                },
            )
        ]
    )
    assert [v.policy for v in found] == ["kms-key-rotation-enabled", "kms-key-rotation-enabled"]
