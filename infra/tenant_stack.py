"""`TenantStack`: one tenant's isolated slice of the platform, as one Pulumi component."""

from __future__ import annotations

import pulumi

from infra.args import TenantStackArgs
from infra.data_plane import tenant_data_plane
from infra.identity import suspension_deny, workload_policy, workload_role
from infra.keys import tenant_key
from infra.network import tenant_namespace
from infra.platform_reference import PlatformOutputs
from infra.routes import tenant_routes
from infra.storage import tenant_storage
from infra.workloads import tenant_workloads

COMPONENT_TYPE = "codexos:tenancy:TenantStack"


class TenantStack(pulumi.ComponentResource):
    """A tenant's KMS key, storage, workload identity, Kubernetes namespace (Pod Security
    restricted, default-deny network policy, plan quotas), Redis user with its credentials as a
    Secret, and its agent runtimes (scaled to zero while the tenant is stopped)."""

    key_arn: pulumi.Output[str]
    bucket_name: pulumi.Output[str]
    role_arn: pulumi.Output[str]
    namespace: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        args: TenantStackArgs,
        redis_admin_url: pulumi.Input[str],
        platform: PlatformOutputs,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        if not isinstance(args, TenantStackArgs):
            raise TypeError(f"{name}: args must be TenantStackArgs, got {type(args).__name__}")
        super().__init__(COMPONENT_TYPE, name, None, opts)
        role = workload_role(name, args, self)
        key = tenant_key(name, args, role.arn, self)
        storage = tenant_storage(name, args, key.key, platform.shared_bucket_name, self)
        workload_policy(name, args, role, storage.bucket_name, key.key.arn, self)
        suspension_deny(name, args, role, self)
        space = tenant_namespace(
            name, args, role.arn, [platform.s3_cidrs, platform.aws_api_cidrs], self
        )
        data_plane = tenant_data_plane(name, args, redis_admin_url, self, space.in_namespace)
        self.redis_credentials = data_plane.redis_credentials
        tenant_workloads(
            name,
            args,
            pulumi.ResourceOptions.merge(
                space.in_namespace,
                pulumi.ResourceOptions(depends_on=[data_plane.redis_credentials]),
            ),
        )
        tenant_routes(name, args, space.in_namespace)
        self.key_arn = key.key.arn
        self.bucket_name = storage.bucket_name
        self.role_arn = role.arn
        self.namespace = space.namespace.metadata.apply(lambda m: m.name or args.namespace)
        self.register_outputs(
            {
                "key_arn": self.key_arn,
                "bucket_name": self.bucket_name,
                "role_arn": self.role_arn,
                "namespace": self.namespace,
            }
        )
