"""One owner per name: a proven name cannot be taken, two tenants proving at once get one owner,
row-level security keeps tenants out of each other's claims, a purge releases the names."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import psycopg
import pytest

from tenancy.db.session import Database
from tenancy.dns_check import CheckResult
from tenancy.domain_model import DomainError, DomainStatus
from tenancy.domain_settings import DomainSettings
from tenancy.domains import add_domain, list_domains, remove_domain, served_domains, verify_domain
from tenancy.lifecycle import RESTORE_WINDOW, Transition
from tenancy.transitions import apply_transition
from tests.db.factories import make_tenant
from tests.dns_server import DnsServer
from tests.domains.claims import RECORD, T0, audit_actions


def test_a_second_tenant_cannot_take_a_proven_domain(
    db: Database, dns: DnsServer, settings: DomainSettings
) -> None:
    acme, globex = make_tenant(db, "acme").tenant, make_tenant(db, "globex").tenant
    a = add_domain(db, "acme", "shop.shared.test", settings, now=T0)
    b = add_domain(db, "globex", "SHOP.shared.test.", settings, now=T0)  # pending holds nothing
    dns.set_records({RECORD.format("shop.shared.test"): [a.token, b.token]})
    verify_domain(db, "acme", "shop.shared.test", settings, now=T0)
    with pytest.raises(DomainError, match="proven by another tenant first"):
        verify_domain(db, "globex", "shop.shared.test", settings, now=T0)
    with pytest.raises(DomainError, match="held by another tenant"):
        add_domain(db, "globex", "shop.shared.test", settings, now=T0)
    assert served_domains(db) == {acme.id: ("shop.shared.test",)}

    # acme removes it; acme's stale record does not hand it to globex, globex's own token does
    remove_domain(db, "acme", "shop.shared.test", now=T0 + timedelta(hours=1))
    assert served_domains(db) == {}
    dns.set_records({RECORD.format("shop.shared.test"): [a.token]})
    later = T0 + timedelta(hours=2)
    assert (
        verify_domain(db, "globex", "shop.shared.test", settings, now=later).domain.status
        == "pending"
    )
    dns.set_records({RECORD.format("shop.shared.test"): [b.token]})
    # its own token, but acme's route may still be up: held for the release hold (24 h)
    held = verify_domain(db, "globex", "shop.shared.test", settings, now=later)
    assert held.domain.status == "pending" and held.check is not None
    assert held.check.result is CheckResult.MATCH
    assert "can be proven from 2026-11-03T10:00:00+00:00" in str(held.domain.last_detail)
    after_hold = T0 + timedelta(hours=25)
    assert (
        verify_domain(db, "globex", "shop.shared.test", settings, now=after_hold).domain.status
        == "verified"
    )
    assert served_domains(db) == {globex.id: ("shop.shared.test",)}


def test_two_tenants_proving_at_once_get_one_owner(
    db: Database, dns: DnsServer, settings: DomainSettings
) -> None:
    make_tenant(db, "acme"), make_tenant(db, "globex")
    a = add_domain(db, "acme", "shop.race.test", settings, now=T0)
    b = add_domain(db, "globex", "shop.race.test", settings, now=T0)
    dns.set_records({RECORD.format("shop.race.test"): [a.token, b.token]})
    barrier = threading.Barrier(2)

    def prove(tenant: str) -> str:
        barrier.wait()
        try:
            return verify_domain(db, tenant, "shop.race.test", settings, now=T0).domain.status
        except DomainError as exc:
            return str(exc)

    with ThreadPoolExecutor(2) as pool:
        results = sorted(pool.map(prove, ["acme", "globex"]))
    assert results[1] == "verified", results
    assert "proven by another tenant first" in results[0], results
    assert len(served_domains(db)) == 1


def test_hostile_tenant_through_row_level_security(
    db: Database, dns: DnsServer, settings: DomainSettings
) -> None:
    acme, globex = make_tenant(db, "acme").tenant, make_tenant(db, "globex").tenant
    claim = add_domain(db, "acme", "shop.acme.test", settings, now=T0)
    dns.set_records({RECORD.format("shop.acme.test"): [claim.token]})
    verify_domain(db, "acme", "shop.acme.test", settings, now=T0)
    with db.tenant(acme.id) as conn:
        assert conn.execute("SELECT count(*) AS n FROM registry.domains").fetchone() == {"n": 1}
    with db.tenant(globex.id) as conn:
        assert conn.execute("SELECT domain FROM registry.domains").fetchall() == []
    attacks = [
        "UPDATE registry.domains SET tenant_id = %(me)s",
        "DELETE FROM registry.domains",
        "INSERT INTO registry.domains (tenant_id, domain, token_sha256, token_expires_at, "
        "created_at, updated_at, status, verified_at) VALUES (%(me)s, 'shop.acme.test', "
        "sha256('x'), now(), now(), now(), 'verified', now())",
    ]
    for attack in attacks:
        with pytest.raises(psycopg.errors.InsufficientPrivilege), db.tenant(globex.id) as conn:
            conn.execute(attack, {"me": globex.id})
    assert [d.tenant_id for d in list_domains(db)] == [acme.id]


def test_purge_releases_the_names(
    db: Database, dns: DnsServer, settings: DomainSettings, superuser: psycopg.Connection
) -> None:
    acme = make_tenant(db, "acme").tenant
    claim = add_domain(db, "acme", "shop.acme.test", settings, now=T0)
    dns.set_records({RECORD.format("shop.acme.test"): [claim.token]})
    verify_domain(db, "acme", "shop.acme.test", settings, now=T0)
    apply_transition(db, "acme", Transition.DELETE, reason="left", now=T0)
    assert served_domains(db) == {}  # a deleted tenant's stack serves nothing
    held = list_domains(db, acme.id)[0]
    assert held.status is DomainStatus.VERIFIED  # kept, so a restore gets it back
    apply_transition(db, "acme", Transition.PURGE, now=T0 + RESTORE_WINDOW)
    assert list_domains(db, acme.id)[0].status is DomainStatus.RELEASED
    assert audit_actions(superuser, acme.id)[-1] == "domain.released"
