"""Custom domains follow the `custom_domain` feature: a tenant without it cannot claim or verify
(from the API or the CLI), and only entitled tenants' names are served."""

from __future__ import annotations

import psycopg
import pytest
from typer.testing import CliRunner

from tenancy.admin_errors import FeatureNotAvailableError
from tenancy.cli.main import app
from tenancy.db.session import Database
from tenancy.domain_model import DomainStatus
from tenancy.domain_settings import DomainSettings
from tenancy.domains import add_domain, list_domains, served_domains, verify_domain
from tenancy.feature_overrides import set_override
from tests.db.factories import make_tenant
from tests.dns_server import DnsServer
from tests.domains.claims import RECORD, T0, audit_actions

NOT_ON_FREE = (
    "feature `custom_domain` is not available on plan free; it is included in: pro, enterprise"
)


def test_a_tenant_without_custom_domains_cannot_claim_or_verify(
    db: Database, dns: DnsServer, settings: DomainSettings, superuser: psycopg.Connection
) -> None:
    free = make_tenant(db, "acme", plan="free").tenant
    with pytest.raises(FeatureNotAvailableError, match=NOT_ON_FREE):
        add_domain(db, "acme", "shop.acme.test", settings, now=T0)
    assert list_domains(db, free.id) == [] and audit_actions(superuser, free.id) == []
    for plan in ("pro", "enterprise"):
        slug = f"{plan}co"
        make_tenant(db, slug, plan=plan)
        claim = add_domain(db, slug, f"shop.{slug}.test", settings, now=T0)
        dns.set_records({RECORD.format(f"shop.{slug}.test"): [claim.token]})
        outcome = verify_domain(db, slug, f"shop.{slug}.test", settings, now=T0)
        assert outcome.domain.status is DomainStatus.VERIFIED
    # a claim made while entitled cannot be verified once the feature is withdrawn
    claim = add_domain(db, "proco", "blog.proco.test", settings, now=T0)
    set_override(db, "proco", "custom_domain", False, reason="abuse")
    dns.set_records({RECORD.format("blog.proco.test"): [claim.token]})
    with pytest.raises(FeatureNotAvailableError, match="not available on plan pro"):
        verify_domain(db, "proco", "blog.proco.test", settings, now=T0)
    assert [d.status for d in list_domains(db, "proco") if d.domain == "blog.proco.test"] == [
        DomainStatus.PENDING
    ]


def test_served_domains_follow_the_entitlement(
    db: Database, dns: DnsServer, settings: DomainSettings
) -> None:
    acme = make_tenant(db, "acme").tenant
    globex = make_tenant(db, "globex", plan="free").tenant
    set_override(db, "globex", "custom_domain", True, reason="beta")
    for slug in ("acme", "globex"):
        claim = add_domain(db, slug, f"shop.{slug}.test", settings, now=T0)
        dns.set_records({RECORD.format(f"shop.{slug}.test"): [claim.token]})
        verify_domain(db, slug, f"shop.{slug}.test", settings, now=T0)
    both = {acme.id: ("shop.acme.test",), globex.id: ("shop.globex.test",)}
    assert served_domains(db) == both  # the grant serves a free tenant's proven name
    set_override(db, "acme", "custom_domain", False, reason="downgrade pending")
    set_override(db, "globex", "custom_domain", None, reason="beta over")
    assert served_domains(db) == {}  # neither serves any more...
    assert {d.status for d in list_domains(db)} == {DomainStatus.VERIFIED}  # ...claims stay
    set_override(db, "acme", "custom_domain", None, reason="paid")
    assert served_domains(db) == {acme.id: ("shop.acme.test",)}  # regained: served again


def test_cli_refuses_a_free_tenant(
    cli_env: object, db: Database, dns: DnsServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_tenant(db, "acme", plan="free")
    monkeypatch.setenv("TENANCY_DNS_RESOLVER", dns.address)
    refused = CliRunner().invoke(app, ["domains", "add", "acme", "shop.acme.test"])
    assert refused.exit_code == 1 and NOT_ON_FREE in " ".join(refused.output.split())
