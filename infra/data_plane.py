"""The tenant's slice of the shared data plane: its Redis user, and its credentials delivered
as a Kubernetes Secret in its namespace.

Self-managed Redis gets the user through the ACL dynamic provider (which persists it with
`ACL SAVE` when the server has an `aclfile`; with `tenancy:redisCluster`, on every node of
the cluster, and the user may also ask for the slot map); ElastiCache gets an `aws.elasticache.User` in the
platform's user group, with an access string (no `reset`: ElastiCache manages passwords).

There is no per-tenant Postgres schema: tenant rows live in the shared registry under forced
row-level security, and no plan buys a dedicated data tier, so a schema would be a dead
resource.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s
import pulumi_random as random

from infra.args import TenantStackArgs
from infra.network import labels
from infra.redis_acl import RedisAclUser
from infra.workloads import REDIS_SECRET
from tenancy import redis_acl


@dataclass(frozen=True)
class TenantDataPlane:
    redis_username: str
    redis_password: pulumi.Output[str]
    redis_credentials: k8s.core.v1.Secret


def access_string(args: TenantStackArgs) -> str:
    """The ElastiCache form of the tenant's ACL rules: `on`/`off` first, no `reset*`."""
    rules = [r for r in redis_acl.acl_rules(args.tenant_id) if not r.startswith("reset")]
    return " ".join(["off" if args.stopped else "on", *rules])


def _self_managed(
    name: str, args: TenantStackArgs, admin_url: pulumi.Input[str], child: pulumi.ResourceOptions
) -> pulumi.Output[str]:
    # A stopped tenant's user stays off (rules apply left to right, after the provider's
    # "on"), so a `pulumi up` during a suspension does not let it back in.
    stopped = ["off"] if args.stopped else []
    user = RedisAclUser(
        f"{name}-redis-user",
        admin_url=admin_url,
        username=redis_acl.username(args.tenant_id),
        rules=[*redis_acl.acl_rules(args.tenant_id, cluster=args.redis_cluster), *stopped],
        cluster=args.redis_cluster,
        opts=child,
    )
    return user.password


def _elasticache(
    name: str, args: TenantStackArgs, child: pulumi.ResourceOptions
) -> pulumi.Output[str]:
    password = random.RandomPassword(f"{name}-redis-password", length=32, special=False, opts=child)
    user = aws.elasticache.User(
        f"{name}-redis-user",
        user_id=f"tenant-{args.tenant_id.hex}",
        user_name=redis_acl.username(args.tenant_id),
        engine="redis",
        access_string=access_string(args),
        authentication_mode=aws.elasticache.UserAuthenticationModeArgs(
            type="password", passwords=[password.result]
        ),
        tags=args.tags,
        opts=child,
    )
    assert args.elasticache_user_group is not None  # guaranteed by parse_stack_config
    aws.elasticache.UserGroupAssociation(
        f"{name}-redis-user-group",
        user_group_id=args.elasticache_user_group,
        user_id=user.user_id,
        opts=child,
    )
    return password.result


def tenant_data_plane(
    name: str,
    args: TenantStackArgs,
    redis_admin_url: pulumi.Input[str],
    parent: pulumi.Resource,
    in_namespace: pulumi.ResourceOptions,
) -> TenantDataPlane:
    child = pulumi.ResourceOptions(parent=parent)
    if args.redis_mode == "elasticache":
        password = _elasticache(name, args, child)
    else:
        password = _self_managed(name, args, redis_admin_url, child)
    username = redis_acl.username(args.tenant_id)
    secret_password: pulumi.Output[str] = pulumi.Output.secret(password)
    credentials = k8s.core.v1.Secret(
        f"{name}-redis-credentials",
        metadata=k8s.meta.v1.ObjectMetaArgs(
            name=REDIS_SECRET, namespace=args.namespace, labels=labels(args)
        ),
        type="Opaque",
        string_data={"username": username, "password": secret_password},
        opts=pulumi.ResourceOptions.merge(
            in_namespace, pulumi.ResourceOptions(additional_secret_outputs=["stringData", "data"])
        ),
    )
    return TenantDataPlane(username, secret_password, credentials)
