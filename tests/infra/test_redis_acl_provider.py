"""The Redis ACL dynamic provider against a real Redis: lifecycle and cross-tenant refusal."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from infra.errors import StackConfigError
from infra.redis_acl import RedisAclUserProvider, persist
from tenancy import redis_acl
from tenancy.devstack.redis import RedisServer
from tests.infra.inventory import Inventory
from tests.infra.stack_args import stack_args

A = uuid.UUID("0b7e4c1a-5f0e-4d5e-9a53-6f1c2d3e4a01")
B = uuid.UUID("1c8f5d2b-6a1f-4e6f-8b64-7a2d3e4f5b02")


def props(admin_url: str, tenant: uuid.UUID, **over: object) -> dict[str, object]:
    base = {
        "admin_url": admin_url,
        "username": redis_acl.username(tenant),
        "rules": redis_acl.acl_rules(tenant),
    }
    return {**base, **over}


def login(server: RedisServer, user: str, password: str) -> redis.Redis:
    return redis.Redis(
        host="127.0.0.1", port=server.port, username=user, password=password, socket_timeout=5
    )


@pytest.fixture
def admin(redis_server: RedisServer) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_server.url)
    client.flushall()
    yield client
    for user in client.acl_users():
        if user != "default":
            client.acl_deluser(user)
    client.close()


@pytest.fixture
def tenants(redis_server: RedisServer, admin: redis.Redis) -> dict[uuid.UUID, redis.Redis]:
    provider = RedisAclUserProvider()
    clients = {}
    for tenant in (A, B):
        created = provider.create(props(redis_server.url, tenant))
        assert created.id == f"tenant-{tenant}"
        clients[tenant] = login(redis_server, created.id, created.outs["password"])
    return clients


def test_tenant_user_reaches_only_its_own_keys(tenants: dict[uuid.UUID, redis.Redis]) -> None:
    a, b = tenants[A], tenants[B]
    a.set(f"tenant:{A}:cache:x", "1")
    b.set(f"tenant:{B}:cache:x", "2")
    assert a.get(f"tenant:{A}:cache:x") == b"1"
    with pytest.raises(redis.exceptions.NoPermissionError):
        a.get(f"tenant:{B}:cache:x")
    with pytest.raises(redis.exceptions.NoPermissionError):
        a.set(f"tenant:{B}:cache:x", "stolen")
    with pytest.raises(redis.exceptions.NoPermissionError):
        a.set("global:key", "x")
    assert b.get(f"tenant:{B}:cache:x") == b"2"


@pytest.mark.parametrize(
    "command",
    [
        ("FLUSHALL",),
        ("FLUSHDB",),
        ("FUNCTION", "FLUSH"),
        ("KEYS", "*"),
        ("SCAN", "0"),
        ("CONFIG", "GET", "*"),
        ("EVAL", "return 1", "0"),
        ("ACL", "LIST"),
        ("SCRIPT", "FLUSH"),
        ("CLIENT", "LIST"),
    ],
)
def test_dangerous_commands_are_refused(
    tenants: dict[uuid.UUID, redis.Redis], command: tuple[str, ...]
) -> None:
    with pytest.raises(redis.exceptions.NoPermissionError):
        tenants[A].execute_command(*command)


def test_flushall_attempt_leaves_other_tenant_data(
    tenants: dict[uuid.UUID, redis.Redis], admin: redis.Redis
) -> None:
    tenants[B].set(f"tenant:{B}:k", "v")
    with pytest.raises(redis.exceptions.NoPermissionError):
        tenants[A].flushall()
    assert admin.get(f"tenant:{B}:k") == b"v"


def test_diff_update_and_delete(redis_server: RedisServer, admin: redis.Redis) -> None:
    provider = RedisAclUserProvider()
    olds = provider.create(props(redis_server.url, A)).outs
    same = provider.diff(olds["username"], olds, props(redis_server.url, A))
    assert same.changes is False
    fewer = [r for r in redis_acl.acl_rules(A) if r != "+set"]
    changed = provider.diff(olds["username"], olds, props(redis_server.url, A, rules=fewer))
    assert changed.changes is True and changed.replaces == []
    renamed = provider.diff(
        olds["username"], olds, props(redis_server.url, A, username="tenant-renamed")
    )
    assert renamed.replaces == ["username"]

    updated = provider.update(olds["username"], olds, props(redis_server.url, A, rules=fewer)).outs
    assert updated["password"] == olds["password"], "an update must not rotate the password"
    client = login(redis_server, olds["username"], olds["password"])
    assert client.get(f"tenant:{A}:k") is None
    with pytest.raises(redis.exceptions.NoPermissionError):
        client.set(f"tenant:{A}:k", "v")

    assert provider.read(olds["username"], updated).id == olds["username"]
    provider.delete(olds["username"], updated)
    assert redis_acl.get_user(admin, olds["username"]) is None
    assert provider.read(olds["username"], updated).id == ""
    with pytest.raises(redis.exceptions.AuthenticationError):
        login(redis_server, olds["username"], olds["password"]).ping()


def test_users_survive_a_restart_when_redis_keeps_an_aclfile(tmp_path: Path) -> None:
    server = RedisServer(tmp_path / "redis-acl", aclfile=True)
    server.start()
    try:
        provider = RedisAclUserProvider()
        created = provider.create(props(server.url, A))
        stopped = provider.create(props(server.url, B, rules=[*redis_acl.acl_rules(B), "off"]))
        server.stop()
        assert not server.running()
        server.start()
        with login(server, created.id, created.outs["password"]) as user:
            user.set(f"tenant:{A}:k", "v")
            with pytest.raises(redis.exceptions.NoPermissionError):
                user.get(f"tenant:{B}:k")
        with pytest.raises(redis.exceptions.AuthenticationError):
            login(server, stopped.id, stopped.outs["password"]).ping()
        provider.delete(created.id, created.outs)
        server.stop()
        server.start()
        with redis.Redis.from_url(server.url) as admin:
            assert set(admin.acl_users()) == {"default", stopped.id}, "a deleted user came back"
    finally:
        server.destroy()


def test_without_an_aclfile_nothing_is_saved(redis_server: RedisServer, admin: redis.Redis) -> None:
    assert persist(admin) is False


def test_the_stack_config_selects_cluster_mode() -> None:
    """`tenancy:redisCluster: true` gives the provider the cluster flag and the user the
    commands a cluster client needs; elasticache stays as it was."""
    args = stack_args("pro", redisCluster="true")
    assert args.redis_cluster is True and stack_args("pro").redis_cluster is False
    assert stack_args("pro", redisCluster=False).redis_cluster is False
    user = Inventory.of(args).one("pulumi-python:dynamic:Resource")
    assert user.props["cluster"] is True, f"{user.name}: cluster flag"
    assert user.props["rules"] == redis_acl.acl_rules(args.tenant_id, cluster=True)
    single = Inventory.of(stack_args("pro")).one("pulumi-python:dynamic:Resource")
    assert single.props["cluster"] is False and "+cluster|slots" not in single.props["rules"]
    with pytest.raises(StackConfigError, match="config `tenancy:redisCluster` is 'yes'; expected"):
        stack_args("pro", redisCluster="yes")
    with pytest.raises(StackConfigError, match="`tenancy:redisCluster` is True; expected false"):
        stack_args(
            "pro",
            redisCluster=True,
            redisMode="elasticache",
            elasticacheUserGroupId="codexos-tenants",
        )
