"""The scheduled domain re-check, materialized by Dagster against a real DNS server."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import dagster as dg
import pytest

from pipelines.definitions import defs
from pipelines.domains.assets import domain_ownership_checks
from pipelines.domains.resources import DomainCheckSettings
from pipelines.domains.schedules import domain_checks_schedule
from pipelines.resources import RegistryResource
from tenancy.db.bootstrap import RegistryUrls
from tenancy.db.session import Database
from tenancy.domain_model import DomainStatus
from tenancy.domain_settings import DomainSettings, Resolver
from tenancy.domains import add_domain, list_domains
from tests.db.factories import make_tenant
from tests.dns_server import DnsServer


@pytest.fixture
def dns(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DnsServer]:
    server = DnsServer(tmp_path_factory.mktemp("dns"))
    server.set_records({})
    yield server
    server.stop()


def test_materialize_records_every_result(
    db: Database, registry: RegistryUrls, dns: DnsServer
) -> None:
    make_tenant(db, "acme")
    settings = DomainSettings(("codexos.example",), Resolver("127.0.0.1", dns.port))
    now = datetime.now(UTC)
    proven = add_domain(db, "acme", "shop.acme.test", settings, now=now)
    add_domain(db, "acme", "blog.acme.test", settings, now=now)
    dns.set_records({"_codexos-challenge.shop.acme.test": [proven.token]})

    result = dg.materialize(
        [domain_ownership_checks],
        resources={
            "registry": RegistryResource(
                app_database_url=registry.app, platform_database_url=registry.platform
            ),
            "domains": DomainCheckSettings(resolver=dns.address),
        },
    )
    assert result.success
    (materialization,) = result.asset_materializations_for_node("domain_ownership_checks")
    metadata = {k: v.value for k, v in materialization.metadata.items()}
    assert metadata["checked"] == 2
    assert metadata["result_match"] == 1 and metadata["result_missing"] == 1
    states = {d.domain: (d.status, d.last_result) for d in list_domains(db)}
    assert states == {
        "shop.acme.test": (DomainStatus.VERIFIED, "match"),
        "blog.acme.test": (DomainStatus.PENDING, "missing"),
    }


def test_schedule_is_registered_and_ticks_hourly() -> None:
    assert defs.resolve_job_def("domain_checks_job") is not None
    tick = datetime(2026, 11, 2, 10, 17, tzinfo=UTC)
    context = dg.build_schedule_context(scheduled_execution_time=tick)
    request = domain_checks_schedule.evaluate_tick(context).run_requests
    assert request is not None and request[0].run_key == f"domains-{tick.isoformat()}"
    assert domain_checks_schedule.cron_schedule == "17 * * * *"
