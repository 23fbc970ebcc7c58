"""The status store the request path reads: its key, its values, and who may touch it."""

from __future__ import annotations

import uuid

import pytest
import redis

from tenancy import redis_acl
from tenancy.devstack.redis import RedisServer
from tenancy.errors import InvalidInputError
from tenancy.tenant_status import TenantStatusStore, status_key

TENANT = uuid.UUID("0b7e4c1a-5f0e-4d5e-9a53-6f1c2d3e4a02")


def test_publish_and_get(redis_client: redis.Redis) -> None:
    store = TenantStatusStore(redis_client)
    assert store.get(TENANT) is None
    store.publish(TENANT, "suspended", "unpaid invoice")
    assert store.get(TENANT) == ("suspended", "unpaid invoice")
    assert store.get(str(TENANT)) == ("suspended", "unpaid invoice")
    store.publish(TENANT, "active", None)
    assert store.get(TENANT) == ("active", None)
    assert status_key(TENANT) == f"platform:tenant:{{{TENANT}}}:status"
    assert store.get(uuid.uuid4()) is None, "one tenant's status is not another's"


def test_unknown_status_is_refused(redis_client: redis.Redis) -> None:
    with pytest.raises(
        InvalidInputError, match="tenant status is 'paused'; expected one of: active"
    ):
        TenantStatusStore(redis_client).publish(TENANT, "paused", None)
    assert TenantStatusStore(redis_client).get(TENANT) is None


def test_a_tenant_cannot_lift_its_own_suspension(
    redis_client: redis.Redis, redis_server: RedisServer
) -> None:
    TenantStatusStore(redis_client).publish(TENANT, "suspended", "abuse")
    name = redis_acl.username(TENANT)
    redis_acl.set_user(redis_client, name, "tenant-secret", redis_acl.acl_rules(TENANT))
    tenant = redis.Redis(
        host="127.0.0.1", port=redis_server.port, username=name, password="tenant-secret"
    )
    key = status_key(TENANT)
    for attempt in (
        lambda: tenant.get(key),
        lambda: tenant.set(key, '{"status": "active", "reason": null}'),
        lambda: tenant.delete(key),
        lambda: tenant.expire(key, 1),
    ):
        with pytest.raises(redis.exceptions.NoPermissionError):
            attempt()
    tenant.close()
    assert TenantStatusStore(redis_client).get(TENANT) == ("suspended", "abuse")
