"""Guardrail cases for AWS resources (KMS keys, S3 buckets and objects, IAM roles and
policies): policies/aws_rules.py, iam_rules.py and storage_rules.py."""

from __future__ import annotations

import json
from typing import Any

from infra.bucket_policy import bucket_policy, sse_kms_denies
from policies import tokens as t
from tests.policies.tenant_under_test import TAGS, TENANT, Cases

KEY = "arn:aws:kms:eu-west-1:123456789012:key/abc"


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

AWS_CASES: Cases = {
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
}
