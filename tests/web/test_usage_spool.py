"""The example service while its Redis is down: every request still answers, every usage event
waits in the spool, and once Redis is back the replay thread re-records them and the drain
counts each request exactly once."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

from tenancy.db.bootstrap import RegistryUrls
from tenancy.db.session import Database
from tenancy.devstack.redis import RedisServer
from tenancy.web.example import ServiceConfig, create_app
from tests.db.factories import make_tenant
from tests.usage.spool_support import Warehouse, spooled_tenants


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A Redis of this test's own, to stop and start again on the same port."""
    server = RedisServer(tmp_path / "redis")
    server.start()
    yield server
    server.destroy()


def counter(client: TestClient, name: str) -> float:
    text = client.get("/metrics").text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name:
                return sample.value
    raise AssertionError(f"{name} not in /metrics")


def test_requests_during_a_redis_outage_are_spooled_and_counted_once(
    registry: RegistryUrls, db: Database, own_redis: RedisServer, tmp_path: Path
) -> None:
    made = make_tenant(db, "spool-pro", plan="pro")
    tenant, sent = made.tenant.id, {"x-tenant-id": str(made.tenant.id)}
    sent["x-user-id"] = str(made.owner_id)
    spool_dir = tmp_path / "spool"
    app = create_app(
        ServiceConfig(registry.app, registry.platform, own_redis.url, usage_spool_dir=spool_dir)
    )
    lake = Warehouse()
    with TestClient(app) as client:
        before = [client.get("/agents", headers=sent).status_code for _ in range(5)]
        assert before == [200] * 5
        with redis.Redis.from_url(own_redis.url) as stream:
            assert lake.drain(stream, {tenant}).inserted == 5  # Redis keeps no data on restart

        own_redis.stop()
        during = [client.get("/agents", headers=sent).status_code for _ in range(20)]
        assert during == [200] * 20, "the rate limiter fails open; the usage goes to the spool"
        assert spooled_tenants(spool_dir) == {tenant: 20}
        assert counter(client, "tenancy_usage_events_spooled_total") == 20

        own_redis.start()
        after = client.get("/agents", headers=sent)  # traffic goes on: recorded, or spooled
        assert after.status_code == 200
        recorder, registry_ = app.state.usage_recorder, app.state.usage_recorder.metrics.registry

        def replayed() -> bool:
            done = registry_.get_sample_value("tenancy_usage_events_replayed_total")
            spooled = registry_.get_sample_value("tenancy_usage_events_spooled_total")
            return not recorder.spool.pending() and done == spooled

        deadline = time.monotonic() + 30  # the replay thread's next round, after its backoff
        while not replayed() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert replayed(), "the spool was replayed once Redis answered"
        assert counter(client, "tenancy_usage_events_replayed_total") >= 20

    with redis.Redis.from_url(own_redis.url) as stream:
        stats = lake.drain(stream, {tenant})
    assert (stats.inserted, stats.quarantined) == (21, 0)
    assert lake.counted() == {tenant: 26}, "each of the 26 requests counted once"
