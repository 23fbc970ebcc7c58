"""`PlatformStack`: the pieces every tenant shares, in the `platform` stack of the same project.

The shared bucket (public access blocked, SSE-KMS by default, versioned, TLS-only, uploads only
with SSE-KMS under a key of this account), the S3 gateway endpoint and the STS/KMS interface
endpoints tenant pods reach AWS through. Tenant stacks read its outputs with a
`pulumi.StackReference` (infra/platform_reference.py). Other shared components plug in as
builders: `PlatformStack(..., components=[build_cluster_issuer, ...])`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra.bucket_policy import bucket_policy
from infra.keys import ADMIN_ACTIONS
from infra.platform_args import INTERFACE_SERVICES, PlatformArgs

COMPONENT_TYPE = "codexos:tenancy:PlatformStack"
NONCURRENT_VERSION_DAYS = 30


@dataclass(frozen=True)
class PlatformContext:
    """What a component builder gets: the validated args and the component to parent to
    (children inherit its providers)."""

    name: str
    args: PlatformArgs
    parent: pulumi.ComponentResource


#: A shared component (ClusterIssuer, dashboards ConfigMaps, Dagster chart, operator Stacks…).
ComponentBuilder = Callable[[PlatformContext], None]


def platform_key_policy(args: PlatformArgs) -> str:
    """Root enables IAM policies; the admin and the deployer administer; S3 uses the key for
    the bucket's default encryption on behalf of callers the bucket lets in."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "EnableIamPolicies",
                    "Effect": "Allow",
                    "Principal": {"AWS": args.account_root_arn},
                    "Action": "kms:*",
                    "Resource": "*",
                },
                {
                    "Sid": "KeyAdministrators",
                    "Effect": "Allow",
                    "Principal": {"AWS": args.key_admin_arns},
                    "Action": ADMIN_ACTIONS,
                    "Resource": "*",
                },
            ],
        }
    )


class PlatformStack(pulumi.ComponentResource):
    """The shared bucket and the VPC endpoints; `components` add further shared pieces."""

    shared_bucket_name: pulumi.Output[str]
    shared_bucket_arn: pulumi.Output[str]
    s3_cidrs: pulumi.Output[Sequence[str]]
    aws_api_cidrs: pulumi.Output[list[str]]

    def __init__(
        self,
        name: str,
        args: PlatformArgs,
        components: Sequence[ComponentBuilder] = (),
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        if not isinstance(args, PlatformArgs):
            raise TypeError(f"{name}: args must be PlatformArgs, got {type(args).__name__}")
        super().__init__(COMPONENT_TYPE, name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        kept = pulumi.ResourceOptions(parent=self, protect=True, retain_on_delete=True)
        key = aws.kms.Key(
            f"{name}-shared-key",
            description="CodexOS shared bucket default encryption",
            enable_key_rotation=True,
            deletion_window_in_days=30,
            policy=platform_key_policy(args),
            tags=args.tags,
            opts=kept,
        )
        bucket = aws.s3.Bucket(
            f"{name}-shared-bucket", bucket=args.shared_bucket, tags=args.tags, opts=kept
        )
        aws.s3.BucketPublicAccessBlock(
            f"{name}-shared-bucket-public-access",
            bucket=bucket.id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=child,
        )
        aws.s3.BucketServerSideEncryptionConfiguration(
            f"{name}-shared-bucket-encryption",
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
        aws.s3.BucketVersioning(
            f"{name}-shared-bucket-versioning",
            bucket=bucket.id,
            versioning_configuration=aws.s3.BucketVersioningVersioningConfigurationArgs(
                status="Enabled"
            ),
            opts=child,
        )
        aws.s3.BucketLifecycleConfiguration(
            f"{name}-shared-bucket-lifecycle",
            bucket=bucket.id,
            rules=[
                aws.s3.BucketLifecycleConfigurationRuleArgs(
                    id="expire-noncurrent-versions",
                    status="Enabled",
                    filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=""),
                    noncurrent_version_expiration=aws.s3.BucketLifecycleConfigurationRuleNoncurrentVersionExpirationArgs(
                        noncurrent_days=NONCURRENT_VERSION_DAYS
                    ),
                )
            ],
            opts=child,
        )
        # Each tenant's role pins its own key; the bucket refuses any key outside this account.
        account_keys = f"arn:aws:kms:{args.region}:{args.account_id}:key/*"
        aws.s3.BucketPolicy(
            f"{name}-shared-bucket-policy",
            bucket=bucket.id,
            policy=bucket.bucket.apply(
                lambda b: json.dumps(bucket_policy(b, account_keys, key_operator="StringNotLike"))
            ),
            opts=child,
        )
        s3_endpoint = aws.ec2.VpcEndpoint(
            f"{name}-s3-endpoint",
            vpc_id=args.vpc_id,
            service_name=f"com.amazonaws.{args.region}.s3",
            vpc_endpoint_type="Gateway",
            route_table_ids=list(args.route_table_ids),
            tags=args.tags,
            opts=child,
        )
        for service in INTERFACE_SERVICES:
            aws.ec2.VpcEndpoint(
                f"{name}-{service}-endpoint",
                vpc_id=args.vpc_id,
                service_name=f"com.amazonaws.{args.region}.{service}",
                vpc_endpoint_type="Interface",
                subnet_ids=list(args.endpoint_subnet_ids),
                security_group_ids=list(args.endpoint_security_group_ids) or None,
                private_dns_enabled=True,
                tags=args.tags,
                opts=child,
            )
        context = PlatformContext(name, args, self)
        for build in components:
            build(context)
        self.shared_bucket_name = bucket.bucket
        self.shared_bucket_arn = bucket.arn
        self.s3_cidrs = s3_endpoint.cidr_blocks
        self.aws_api_cidrs = pulumi.Output.from_input(list(args.endpoint_subnet_cidrs))
        self.register_outputs(
            {
                "shared_bucket_name": self.shared_bucket_name,
                "shared_bucket_arn": self.shared_bucket_arn,
                "s3_cidrs": self.s3_cidrs,
                "aws_api_cidrs": self.aws_api_cidrs,
            }
        )
