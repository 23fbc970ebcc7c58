"""The tenant's KMS key: rotation on, 30-day deletion window, a per-tenant alias."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra.args import TenantStackArgs

DELETION_WINDOW_DAYS = 30


@dataclass(frozen=True)
class TenantKey:
    key: aws.kms.Key
    alias: aws.kms.Alias


def key_policy(args: TenantStackArgs, tenant_role_arn: str) -> str:
    """Only the platform admin manages the key; only the tenant's role may use it, and only
    with its own tenant id as encryption context or through S3 for its objects."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "PlatformAdminManages",
                    "Effect": "Allow",
                    "Principal": {"AWS": args.platform_admin_arn},
                    "Action": "kms:*",
                    "Resource": "*",  # in a key policy "*" means this key
                },
                {
                    "Sid": "TenantRoleUsesWithItsContext",
                    "Effect": "Allow",
                    "Principal": {"AWS": tenant_role_arn},
                    "Action": ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey"],
                    "Resource": "*",
                    "Condition": {
                        "StringEquals": {"kms:EncryptionContext:tenant_id": str(args.tenant_id)}
                    },
                },
                {
                    "Sid": "TenantRoleUsesViaS3",
                    "Effect": "Allow",
                    "Principal": {"AWS": tenant_role_arn},
                    "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
                    "Resource": "*",
                    "Condition": {
                        "StringEquals": {"kms:ViaService": f"s3.{args.region}.amazonaws.com"}
                    },
                },
            ],
        }
    )


def tenant_key(
    name: str, args: TenantStackArgs, role_arn: pulumi.Output[str], parent: pulumi.Resource
) -> TenantKey:
    key = aws.kms.Key(
        f"{name}-key",
        description=f"CodexOS tenant {args.slug} ({args.tenant_id})",
        enable_key_rotation=True,
        deletion_window_in_days=DELETION_WINDOW_DAYS,
        policy=role_arn.apply(lambda arn: key_policy(args, arn)),
        tags=args.tags,
        opts=pulumi.ResourceOptions(parent=parent),
    )
    alias = aws.kms.Alias(
        f"{name}-key-alias",
        name=f"alias/tenant-{args.slug}",
        target_key_id=key.key_id,
        opts=pulumi.ResourceOptions(parent=parent),
    )
    return TenantKey(key, alias)
