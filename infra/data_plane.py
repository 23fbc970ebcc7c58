"""The tenant's slice of the shared data plane: a Postgres schema and a Redis ACL user."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_postgresql as postgresql

from infra.args import TenantStackArgs
from infra.redis_acl import RedisAclUser
from tenancy import redis_acl
from tenancy.tenant import TenantStatus


@dataclass(frozen=True)
class TenantDataPlane:
    schema: postgresql.Schema
    redis_user: RedisAclUser


def schema_name(args: TenantStackArgs) -> str:
    return f"tenant_{args.tenant_id.hex}"


def tenant_data_plane(
    name: str, args: TenantStackArgs, redis_admin_url: pulumi.Input[str], parent: pulumi.Resource
) -> TenantDataPlane:
    child = pulumi.ResourceOptions(parent=parent)
    schema = schema_name(args)
    # NOLOGIN: the request path reaches it with SET ROLE inside the tenant's transaction.
    role = postgresql.Role(f"{name}-pg-role", name=schema, login=False, inherit=False, opts=child)
    pg_schema = postgresql.Schema(f"{name}-pg-schema", name=schema, drop_cascade=False, opts=child)
    postgresql.Grant(
        f"{name}-pg-schema-grant",
        role=role.name,
        database="tenancy",
        schema=pg_schema.name,
        object_type="schema",
        privileges=["USAGE", "CREATE"],
        opts=child,
    )
    # A suspended tenant's user stays off (rules apply left to right, after the provider's
    # "on"), so a `pulumi up` during a suspension does not let it back in.
    suspended = ["off"] if args.status is TenantStatus.SUSPENDED else []
    redis_user = RedisAclUser(
        f"{name}-redis-user",
        admin_url=redis_admin_url,
        username=redis_acl.username(args.tenant_id),
        rules=[*redis_acl.acl_rules(args.tenant_id), *suspended],
        opts=child,
    )
    return TenantDataPlane(pg_schema, redis_user)
