"""Pulumi entry point. The stack name picks the program: `platform` builds the shared pieces
(infra/stacks/Pulumi.platform.yaml), `tenant-<slug>` one tenant (Pulumi.tenant-<slug>.yaml)."""

import pulumi

from infra import config
from infra.platform_components import DEFAULT_COMPONENTS
from infra.platform_reference import platform_outputs
from infra.platform_stack import ComponentBuilder, PlatformStack
from infra.providers import create_providers
from infra.tenant_stack import TenantStack

#: Shared components added to the platform stack (the ClusterIssuers and the dashboards today):
#: each a `ComponentBuilder` taking the platform's `PlatformContext`.
PLATFORM_COMPONENTS: list[ComponentBuilder] = list(DEFAULT_COMPONENTS)

if config.is_platform_stack():
    platform_config = config.load_platform()
    providers = create_providers("platform", platform_config.args.region, platform_config.cluster)
    platform = PlatformStack(
        "platform", platform_config.args, PLATFORM_COMPONENTS, opts=providers.options()
    )
    pulumi.export("shared_bucket_name", platform.shared_bucket_name)
    pulumi.export("shared_bucket_arn", platform.shared_bucket_arn)
    pulumi.export("s3_cidrs", platform.s3_cidrs)
    pulumi.export("aws_api_cidrs", platform.aws_api_cidrs)
else:
    stack_config = config.load()
    args = stack_config.args
    providers = create_providers(args.namespace, args.region, stack_config.cluster)
    tenant = TenantStack(
        args.namespace,
        args,
        stack_config.redis_admin_url,
        platform_outputs(args.platform_stack),
        opts=providers.options(),
    )
    pulumi.export("tenant_id", str(args.tenant_id))
    pulumi.export("key_arn", tenant.key_arn)
    pulumi.export("bucket_name", tenant.bucket_name)
    pulumi.export("role_arn", tenant.role_arn)
    pulumi.export("namespace", tenant.namespace)
