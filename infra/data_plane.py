"""The tenant's slice of the shared data plane: its Redis ACL user.

There is no per-tenant Postgres schema: tenant rows live in the shared registry under forced
row-level security, and no plan buys a dedicated data tier, so a schema would be a dead
resource.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from infra.args import TenantStackArgs
from infra.redis_acl import RedisAclUser
from tenancy import redis_acl


@dataclass(frozen=True)
class TenantDataPlane:
    redis_user: RedisAclUser


def tenant_data_plane(
    name: str, args: TenantStackArgs, redis_admin_url: pulumi.Input[str], parent: pulumi.Resource
) -> TenantDataPlane:
    child = pulumi.ResourceOptions(parent=parent)
    # A stopped tenant's user stays off (rules apply left to right, after the provider's
    # "on"), so a `pulumi up` during a suspension does not let it back in.
    stopped = ["off"] if args.stopped else []
    redis_user = RedisAclUser(
        f"{name}-redis-user",
        admin_url=redis_admin_url,
        username=redis_acl.username(args.tenant_id),
        rules=[*redis_acl.acl_rules(args.tenant_id), *stopped],
        opts=child,
    )
    return TenantDataPlane(redis_user)
