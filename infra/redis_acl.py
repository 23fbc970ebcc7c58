"""A Pulumi dynamic provider for Redis ACL users: there is no Redis ACL provider to use.

The admin connection string is a secret input; the user's password is generated on create,
kept as a secret output, and survives updates to the rules. With `aclfile` set in redis.conf
every change is written there with `ACL SAVE`, so users survive a restart.

With `cluster` (stack config `tenancy:redisCluster: true`) the admin URL names one node of a
Redis Cluster, and every create, update and delete is applied to every node the cluster
lists, primaries and replicas, each saved with `ACL SAVE` where that node has an aclfile
(`tenancy.redis_acl_nodes`). A node that does not take the change fails the operation with
the node named; Pulumi then keeps the previous state, and the next `pulumi up` re-applies the
whole change, which converges because each change is idempotent. Without `cluster`, a server
that turns out to be a cluster node is refused: the user would exist on that node alone.
"""

from __future__ import annotations

import secrets
from typing import Any

import pulumi
import redis
from pulumi.dynamic import (
    CreateResult,
    DiffResult,
    ReadResult,
    Resource,
    ResourceProvider,
    UpdateResult,
)

from tenancy import redis_acl
from tenancy.errors import ConfigurationError
from tenancy.redis_acl_nodes import on_every_node

_REPLACE_ON = ("username",)
_TIMEOUTS = {"socket_timeout": 10, "socket_connect_timeout": 10}


def _client(admin_url: str) -> redis.Redis:
    return redis.Redis.from_url(admin_url, **_TIMEOUTS)


def _single(admin_url: str) -> redis.Redis:
    """A client for a single server; refuses a Redis Cluster node (see the module doc)."""
    client = _client(admin_url)
    if str(client.info("cluster").get("cluster_enabled", 0)) == "1":
        client.close()
        raise ConfigurationError(
            "tenancy:redisCluster is false but the Redis of tenancy:redisAdminUrl is a node of "
            "a Redis Cluster; expected tenancy:redisCluster: true, so that tenant users are "
            "set on every node"
        )
    return client


def _set(props: dict[str, Any], password: str) -> None:
    name, rules = props["username"], list(props["rules"])

    def change(client: redis.Redis) -> bool:
        redis_acl.set_user(client, name, password, rules)
        return persist(client)

    _apply(props, f"ACL SETUSER {name}", change)


def _apply(props: dict[str, Any], action: str, change: Any) -> dict[str, object]:
    if props.get("cluster"):
        return on_every_node(props["admin_url"], action, change, **_TIMEOUTS)
    with _single(props["admin_url"]) as client:
        return {"server": change(client)}


def persist(client: redis.Redis) -> bool:
    """`ACL SAVE` when the server keeps its users in an `aclfile` (redis.conf), so the user
    survives a restart; False when it has none (users then live only in memory, and the next
    `pulumi up` recreates them). Errors of ACL SAVE itself propagate: a user that would vanish
    on restart is a failed create."""
    aclfile = client.config_get("aclfile").get("aclfile")
    if not aclfile:
        return False
    client.execute_command("ACL", "SAVE")  # type: ignore[no-untyped-call]
    return True


class RedisAclUserProvider(ResourceProvider):
    """create/diff/update/delete of one ACL user against the Redis named by `admin_url`."""

    def create(self, props: dict[str, Any]) -> CreateResult:
        password = secrets.token_urlsafe(24)
        _set(props, password)
        return CreateResult(id_=props["username"], outs={**props, "password": password})

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        changed = [k for k in ("username", "rules", "admin_url") if olds.get(k) != news.get(k)]
        if bool(olds.get("cluster")) != bool(news.get("cluster")):  # absent in older states
            changed.append("cluster")
        replaces = [k for k in changed if k in _REPLACE_ON]
        return DiffResult(changes=bool(changed), replaces=replaces, delete_before_replace=True)

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        password = olds.get("password") or secrets.token_urlsafe(24)
        _set(news, password)
        return UpdateResult(outs={**news, "password": password})

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        """Exists only if every node (of a cluster) has the user: otherwise the next
        `pulumi up` creates it again, on every node."""
        found = _apply(props, f"ACL GETUSER {id_}", lambda c: redis_acl.get_user(c, id_))
        exists = all(user is not None for user in found.values())
        return ReadResult(id_=id_ if exists else "", outs=props)

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        def change(client: redis.Redis) -> bool:
            redis_acl.delete_user(client, id_)
            return persist(client)

        _apply(props, f"ACL DELUSER {id_}", change)


class RedisAclUser(Resource):
    """A tenant's Redis ACL user, limited to its key pattern and the command allow-list."""

    username: pulumi.Output[str]
    password: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        *,
        admin_url: pulumi.Input[str],
        username: str,
        rules: list[str],
        cluster: bool = False,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        """`cluster`: `admin_url` names a node of a Redis Cluster; the user is set on every
        node (`rules` should then come from `acl_rules(..., cluster=True)`)."""
        opts = pulumi.ResourceOptions.merge(
            opts, pulumi.ResourceOptions(additional_secret_outputs=["password", "admin_url"])
        )
        super().__init__(
            RedisAclUserProvider(),
            name,
            {
                "admin_url": admin_url,
                "username": username,
                "rules": rules,
                "cluster": cluster,
                "password": None,
            },
            opts,
        )
