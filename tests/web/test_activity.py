"""`last_active` through the request path: at most one write per member per hour, counted by
a trigger on the real table, across two service instances sharing Redis."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest
import redis
from starlette.testclient import TestClient

from tenancy.activity import ActivityTracker
from tenancy.circuit import guard_client
from tenancy.db.bootstrap import RegistryUrls
from tenancy.db.session import Database
from tenancy.devstack.ports import free_port
from tenancy.devstack.redis import RedisServer
from tenancy.redis_keys import enforcement_key
from tenancy.registry import add_member
from tenancy.tenant import MemberRole
from tenancy.web.example import ServiceConfig, create_app
from tests.db.factories import make_tenant


@pytest.fixture
def writes(superuser: psycopg.Connection) -> Iterator[psycopg.Connection]:
    """Every UPDATE of a membership's last_active leaves a row in public.activity_writes."""
    superuser.execute("CREATE TABLE public.activity_writes (user_id uuid, at timestamptz)")
    superuser.execute("GRANT INSERT ON public.activity_writes TO tenancy_app")
    superuser.execute(
        "CREATE FUNCTION public.count_write() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "INSERT INTO public.activity_writes VALUES (NEW.user_id, NEW.last_active); "
        "RETURN NEW; END $$"
    )
    superuser.execute(
        "CREATE TRIGGER count_write AFTER UPDATE OF last_active ON registry.user_tenants "
        "FOR EACH ROW EXECUTE FUNCTION public.count_write()"
    )
    yield superuser


def count(writes: psycopg.Connection, user: uuid.UUID) -> int:
    row = writes.execute(
        "SELECT count(*) FROM public.activity_writes WHERE user_id = %s", (user,)
    ).fetchone()
    assert row is not None
    return int(row[0])


def test_one_write_per_member_per_hour_across_instances(
    registry: RegistryUrls,
    db: Database,
    redis_server: RedisServer,
    redis_client: redis.Redis,
    writes: psycopg.Connection,
) -> None:
    acme = make_tenant(db, "acme")
    bob = add_member(db, acme.tenant.id, "bob@acme.example.com", MemberRole.MEMBER)
    config = ServiceConfig(registry.app, registry.platform, redis_server.url)

    def burst(client: TestClient, user: uuid.UUID, n: int) -> None:
        for _ in range(n):
            headers = {"x-tenant-id": str(acme.tenant.id), "x-user-id": str(user)}
            assert client.get("/agents", headers=headers).status_code == 200

    with TestClient(create_app(config)) as first, TestClient(create_app(config)) as second:
        burst(first, acme.owner_id, 20)
        burst(second, acme.owner_id, 20)
        burst(first, bob, 5)
        assert count(writes, acme.owner_id) == 1, "40 requests, two instances: one write"
        assert count(writes, bob) == 1
        assert redis_client.ttl(enforcement_key("activity", acme.tenant.id, acme.owner_id)) > 3500

    # an hour later the key has expired (deleted here) and a fresh process writes again
    redis_client.delete(enforcement_key("activity", acme.tenant.id, acme.owner_id))
    with TestClient(create_app(config)) as third:
        burst(third, acme.owner_id, 10)
    assert count(writes, acme.owner_id) == 2
    last = writes.execute(
        "SELECT last_active FROM registry.user_tenants WHERE user_id = %s", (acme.owner_id,)
    ).fetchone()
    assert last is not None and last[0] is not None


def test_without_redis_the_process_still_writes_once_per_interval(
    db: Database, writes: psycopg.Connection
) -> None:
    acme = make_tenant(db, "acme")
    unreachable = guard_client(f"redis://127.0.0.1:{free_port()}/0")  # the request path's
    tracker = ActivityTracker(db, unreachable)
    assert [tracker.touch(acme.tenant.id, acme.owner_id) for _ in range(5)] == [
        True,
        False,
        False,
        False,
        False,
    ]
    assert count(writes, acme.owner_id) == 1
