"""The tenant's object storage: a prefix in the shared bucket, or a bucket of its own."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra.args import TenantStackArgs
from infra.bucket_policy import bucket_policy

EXPORT_EXPIRY_DAYS = 30


@dataclass(frozen=True)
class TenantStorage:
    bucket_name: pulumi.Output[str]
    bucket: aws.s3.Bucket | None


def tenant_storage(
    name: str,
    args: TenantStackArgs,
    key: aws.kms.Key,
    shared_bucket: pulumi.Output[str],
    parent: pulumi.Resource,
) -> TenantStorage:
    """A dedicated bucket for plans that buy one; otherwise the platform's shared bucket (its
    name read from the platform stack), where the tenant owns one prefix. Nothing is written
    under the prefix: S3 has no directories, and the deployer administers the tenant key but
    may not use it."""
    child = pulumi.ResourceOptions(parent=parent)
    bucket: aws.s3.Bucket | None = None
    if args.dedicated_bucket:
        bucket = aws.s3.Bucket(
            f"{name}-bucket",
            bucket=f"codexos-tenant-{args.slug}",
            tags=args.tags,
            # Emptying or replacing the bucket is the purge's job, never a config change's.
            opts=pulumi.ResourceOptions(parent=parent, protect=True, retain_on_delete=True),
        )
        aws.s3.BucketServerSideEncryptionConfiguration(
            f"{name}-bucket-encryption",
            bucket=bucket.id,
            rules=[
                aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
                    apply_server_side_encryption_by_default=aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                        sse_algorithm="aws:kms", kms_master_key_id=key.arn
                    ),
                    bucket_key_enabled=True,
                )
            ],
            opts=child,
        )
        aws.s3.BucketPublicAccessBlock(
            f"{name}-bucket-public-access",
            bucket=bucket.id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=child,
        )
        aws.s3.BucketPolicy(
            f"{name}-bucket-policy",
            bucket=bucket.id,
            policy=pulumi.Output.all(bucket.bucket, key.arn).apply(
                lambda v: json.dumps(bucket_policy(v[0], v[1]))
            ),
            opts=child,
        )
        aws.s3.BucketVersioning(
            f"{name}-bucket-versioning",
            bucket=bucket.id,
            versioning_configuration=aws.s3.BucketVersioningVersioningConfigurationArgs(
                status="Enabled"
            ),
            opts=child,
        )
        aws.s3.BucketLifecycleConfiguration(
            f"{name}-bucket-lifecycle",
            bucket=bucket.id,
            rules=[
                aws.s3.BucketLifecycleConfigurationRuleArgs(
                    id="expire-exports",
                    status="Enabled",
                    filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(
                        prefix=f"{args.prefix}exports/"
                    ),
                    expiration=aws.s3.BucketLifecycleConfigurationRuleExpirationArgs(
                        days=EXPORT_EXPIRY_DAYS
                    ),
                    noncurrent_version_expiration=aws.s3.BucketLifecycleConfigurationRuleNoncurrentVersionExpirationArgs(
                        noncurrent_days=EXPORT_EXPIRY_DAYS
                    ),
                )
            ],
            opts=child,
        )
        bucket_name: pulumi.Output[str] = bucket.bucket
    else:
        bucket_name = shared_bucket
    return TenantStorage(bucket_name, bucket)
