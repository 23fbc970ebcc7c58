"""The tenant's workload role: assumable only by its namespace's service account (IRSA), and
allowed only its own prefix and its own key."""

from __future__ import annotations

import json

import pulumi
import pulumi_aws as aws

from infra.args import TenantStackArgs
from infra.bucket_policy import sse_kms_denies


def trust_policy(args: TenantStackArgs) -> str:
    issuer = args.oidc_issuer
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Federated": args.oidc_provider_arn},
                    "Action": "sts:AssumeRoleWithWebIdentity",
                    "Condition": {
                        "StringEquals": {
                            f"{issuer}:sub": f"system:serviceaccount:{args.namespace}:{args.service_account}",
                            f"{issuer}:aud": "sts.amazonaws.com",
                        }
                    },
                }
            ],
        }
    )


def access_policy(args: TenantStackArgs, bucket: str, key_arn: str) -> str:
    """Object actions under the tenant prefix only; listing only with that `s3:prefix`;
    puts must use SSE-KMS with the tenant key (four separate denies); KMS only on that key."""
    bucket_arn = f"arn:aws:s3:::{bucket}"
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "ObjectsUnderOwnPrefix",
                    "Effect": "Allow",
                    "Action": [
                        "s3:GetObject",
                        "s3:PutObject",
                        "s3:DeleteObject",
                        "s3:AbortMultipartUpload",
                    ],
                    "Resource": f"{bucket_arn}/{args.prefix}*",
                },
                {
                    "Sid": "ListOwnPrefixOnly",
                    "Effect": "Allow",
                    "Action": "s3:ListBucket",
                    "Resource": bucket_arn,
                    "Condition": {"StringLike": {"s3:prefix": [f"{args.prefix}*"]}},
                },
                *sse_kms_denies(f"{bucket_arn}/{args.prefix}*", key_arn),
                {
                    "Sid": "OwnKeyWithOwnContext",
                    "Effect": "Allow",
                    "Action": ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey"],
                    "Resource": key_arn,
                    "Condition": {
                        "StringEquals": {"kms:EncryptionContext:tenant_id": str(args.tenant_id)}
                    },
                },
                {
                    "Sid": "OwnKeyThroughS3",
                    "Effect": "Allow",
                    "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
                    "Resource": key_arn,
                    "Condition": {
                        "StringEquals": {"kms:ViaService": f"s3.{args.region}.amazonaws.com"}
                    },
                },
            ],
        }
    )


def workload_role(name: str, args: TenantStackArgs, parent: pulumi.Resource) -> aws.iam.Role:
    return aws.iam.Role(
        f"{name}-role",
        name=f"tenant-{args.slug}-workload",
        assume_role_policy=trust_policy(args),
        tags=args.tags,
        opts=pulumi.ResourceOptions(parent=parent),
    )


def workload_policy(
    name: str,
    args: TenantStackArgs,
    role: aws.iam.Role,
    bucket: pulumi.Input[str],
    key_arn: pulumi.Output[str],
    parent: pulumi.Resource,
) -> aws.iam.RolePolicy:
    document = pulumi.Output.all(bucket, key_arn).apply(
        lambda values: access_policy(args, values[0], values[1])
    )
    return aws.iam.RolePolicy(
        f"{name}-role-policy",
        role=role.id,
        policy=document,
        opts=pulumi.ResourceOptions(parent=parent),
    )


#: While suspended the workload role keeps its grants but an explicit deny outranks them all.
SUSPENDED_DENY = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [{"Sid": "TenantSuspended", "Effect": "Deny", "Action": "*", "Resource": "*"}],
    },
    sort_keys=True,
)


def suspension_deny(
    name: str, args: TenantStackArgs, role: aws.iam.Role, parent: pulumi.Resource
) -> aws.iam.RolePolicy | None:
    """A deny-everything policy on the workload role of a suspended tenant; none otherwise."""
    if not args.stopped:
        return None
    return aws.iam.RolePolicy(
        f"{name}-suspended-deny",
        role=role.id,
        policy=SUSPENDED_DENY,
        opts=pulumi.ResourceOptions(parent=parent),
    )
