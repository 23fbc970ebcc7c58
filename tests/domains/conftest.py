"""Custom domains are tested against a real DNS server (dnsmasq) and the real registry.

Each case publishes (or withdraws) TXT records on the server and lets the code under test
resolve them with dnspython, as it does in production. One server serves the whole package;
its records are emptied before each test.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from tenancy.domain_settings import DomainSettings, Resolver
from tests.dns_server import DnsServer


@pytest.fixture(scope="package")
def dns_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DnsServer]:
    server = DnsServer(tmp_path_factory.mktemp("dns"))
    server.set_records({})
    yield server
    server.stop()


@pytest.fixture
def dns(dns_server: DnsServer) -> DnsServer:
    dns_server.set_records({})
    return dns_server


@pytest.fixture
def settings(dns: DnsServer) -> DomainSettings:
    return DomainSettings(
        platform_domains=("codexos.example",),
        resolver=Resolver("127.0.0.1", dns.port),
        timeout_seconds=2.0,
        grace=timedelta(hours=24),
    )
