"""A Pulumi dynamic provider for Redis ACL users: there is no Redis ACL provider to use.

The admin connection string is a secret input; the user's password is generated on create,
kept as a secret output, and survives updates to the rules. With `aclfile` set in redis.conf
every change is written there with `ACL SAVE`, so users survive a restart.
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

_REPLACE_ON = ("username",)


def _client(admin_url: str) -> redis.Redis:
    return redis.Redis.from_url(admin_url, socket_timeout=10, socket_connect_timeout=10)


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
        with _client(props["admin_url"]) as client:
            redis_acl.set_user(client, props["username"], password, list(props["rules"]))
            persist(client)
        return CreateResult(id_=props["username"], outs={**props, "password": password})

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        changed = [k for k in ("username", "rules", "admin_url") if olds.get(k) != news.get(k)]
        replaces = [k for k in changed if k in _REPLACE_ON]
        return DiffResult(changes=bool(changed), replaces=replaces, delete_before_replace=True)

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        password = olds.get("password") or secrets.token_urlsafe(24)
        with _client(news["admin_url"]) as client:
            redis_acl.set_user(client, news["username"], password, list(news["rules"]))
            persist(client)
        return UpdateResult(outs={**news, "password": password})

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        with _client(props["admin_url"]) as client:
            exists = redis_acl.get_user(client, id_) is not None
        return ReadResult(id_=id_ if exists else "", outs=props)

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        with _client(props["admin_url"]) as client:
            redis_acl.delete_user(client, id_)
            persist(client)


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
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        opts = pulumi.ResourceOptions.merge(
            opts, pulumi.ResourceOptions(additional_secret_outputs=["password", "admin_url"])
        )
        super().__init__(
            RedisAclUserProvider(),
            name,
            {"admin_url": admin_url, "username": username, "rules": rules, "password": None},
            opts,
        )
