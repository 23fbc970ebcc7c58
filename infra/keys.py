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


#: AWS's own key-administrator action list: everything that manages the key, nothing that uses it.
ADMIN_ACTIONS = [
    "kms:Create*",
    "kms:Describe*",
    "kms:Enable*",
    "kms:List*",
    "kms:Put*",
    "kms:Update*",
    "kms:Revoke*",
    "kms:Disable*",
    "kms:Get*",
    "kms:Delete*",
    "kms:TagResource",
    "kms:UntagResource",
    "kms:ScheduleKeyDeletion",
    "kms:CancelKeyDeletion",
    "kms:RotateKeyOnDemand",
]


def key_policy(args: TenantStackArgs, tenant_role_arn: str) -> str:
    """The account root enables IAM policies (AWS's default statement, which also keeps the
    key recoverable), the platform admin and the deployer administer the key without being
    able to use it, and only the tenant's role uses it: with its own tenant id as encryption
    context, or through S3 for its objects. Passes KMS's lockout safety check because the
    principal that runs `up` is named in `KeyAdministrators`."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "EnableIamPolicies",
                    "Effect": "Allow",
                    "Principal": {"AWS": args.account_root_arn},
                    "Action": "kms:*",
                    "Resource": "*",  # in a key policy "*" means this key
                },
                {
                    "Sid": "KeyAdministrators",
                    "Effect": "Allow",
                    "Principal": {"AWS": args.key_admin_arns},
                    "Action": ADMIN_ACTIONS,
                    "Resource": "*",
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
        # Tenant data dies only by the purge's crypto-shred, never by a config change or destroy.
        opts=pulumi.ResourceOptions(parent=parent, protect=True, retain_on_delete=True),
    )
    alias = aws.kms.Alias(
        f"{name}-key-alias",
        name=f"alias/tenant-{args.slug}",
        target_key_id=key.key_id,
        opts=pulumi.ResourceOptions(parent=parent),
    )
    return TenantKey(key, alias)
