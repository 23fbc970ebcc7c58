"""Every guardrail fed a violating and a passing resource; the cases live by resource kind."""

from __future__ import annotations

import json
from typing import Any

import pytest

from policies import tokens as t
from policies.guardrails import RESOURCE_RULES, STACK_RULES, check
from policies.rule import PolicyResource
from tests.policies.aws_cases import AWS_CASES, GOOD_IAM, ROOT, policy
from tests.policies.kubernetes_cases import KUBERNETES_CASES
from tests.policies.redis_cases import ACL, REDIS_CASES
from tests.policies.tenant_under_test import OTHER, TAGS, TENANT, Cases
from tests.policies.test_domain_rules import DOMAIN_CASES

CASES: Cases = {**AWS_CASES, **KUBERNETES_CASES, **REDIS_CASES, **DOMAIN_CASES}


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
