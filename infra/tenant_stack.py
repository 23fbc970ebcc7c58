"""`TenantStack`: one tenant's isolated slice of the platform, as one Pulumi component."""

from __future__ import annotations

import pulumi

from infra.args import TenantStackArgs
from infra.data_plane import tenant_data_plane
from infra.identity import suspension_deny, workload_policy, workload_role
from infra.keys import tenant_key
from infra.network import tenant_namespace
from infra.routes import tenant_routes
from infra.storage import tenant_storage

COMPONENT_TYPE = "codexos:tenancy:TenantStack"


class TenantStack(pulumi.ComponentResource):
    """A tenant's KMS key, storage, workload identity, Kubernetes namespace with default-deny
    network policy and plan quotas, Postgres schema and Redis ACL user."""

    key_arn: pulumi.Output[str]
    bucket_name: pulumi.Output[str]
    role_arn: pulumi.Output[str]
    namespace: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        args: TenantStackArgs,
        redis_admin_url: pulumi.Input[str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        if not isinstance(args, TenantStackArgs):
            raise TypeError(f"{name}: args must be TenantStackArgs, got {type(args).__name__}")
        super().__init__(COMPONENT_TYPE, name, None, opts)
        role = workload_role(name, args, self)
        key = tenant_key(name, args, role.arn, self)
        storage = tenant_storage(name, args, key.key, self)
        workload_policy(name, args, role, storage.bucket_name, key.key.arn, self)
        suspension_deny(name, args, role, self)
        space = tenant_namespace(name, args, role.arn, self)
        tenant_data_plane(name, args, redis_admin_url, self)
        tenant_routes(name, args, self)
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
