"""Pulumi entry point: one stack per tenant (`tenant-<slug>`), configured by infra/stacks/."""

import pulumi

from infra import config
from infra.providers import create_providers
from infra.tenant_stack import TenantStack

stack_config = config.load()
providers = create_providers(
    stack_config.args.namespace, stack_config.args.region, stack_config.cluster
)
tenant = TenantStack(
    stack_config.args.namespace,
    stack_config.args,
    stack_config.redis_admin_url,
    opts=providers.options(),
)
pulumi.export("tenant_id", str(stack_config.args.tenant_id))
pulumi.export("key_arn", tenant.key_arn)
pulumi.export("bucket_name", tenant.bucket_name)
pulumi.export("role_arn", tenant.role_arn)
pulumi.export("namespace", tenant.namespace)
