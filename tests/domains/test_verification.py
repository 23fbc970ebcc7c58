"""Proving a claim by its TXT record, and the scheduled checks after: the token, its expiry,
a record that goes missing (and comes back) within the grace period, a dead resolver."""

from __future__ import annotations

from datetime import timedelta

import psycopg
import pytest

from tenancy.db.session import Database
from tenancy.dns_check import CheckResult
from tenancy.domain_model import DomainStatus
from tenancy.domain_settings import DomainSettings, Resolver
from tenancy.domains import (
    add_domain,
    check_domain,
    recheck_open,
    remove_domain,
    served_domains,
    verify_domain,
)
from tenancy.errors import NotFoundError
from tests.db.factories import make_tenant
from tests.dns_server import DnsServer
from tests.domains.claims import RECORD, T0, audit_actions


def test_verify_with_the_published_token(
    db: Database, dns: DnsServer, settings: DomainSettings, superuser: psycopg.Connection
) -> None:
    acme = make_tenant(db, "acme").tenant
    claim = add_domain(db, "acme", "Shop.Acme.TEST.", settings, now=T0)
    assert claim.domain.domain == "shop.acme.test" and claim.domain.status is DomainStatus.PENDING
    stored = superuser.execute("SELECT token_sha256 FROM registry.domains").fetchone()
    assert stored is not None and claim.token.encode() not in bytes(stored[0])
    body = superuser.execute(
        "SELECT body FROM registry.notification_outbox WHERE kind = 'domain_token'"
    ).fetchone()
    assert (
        body is not None and claim.token in body[0] and RECORD.format("shop.acme.test") in body[0]
    )

    dns.set_records({RECORD.format("shop.acme.test"): ["unrelated=1", claim.token]})
    outcome = verify_domain(db, "acme", "shop.acme.test", settings, now=T0 + timedelta(hours=1))
    assert outcome.check is not None and outcome.check.result is CheckResult.MATCH
    assert outcome.domain.status is DomainStatus.VERIFIED
    assert served_domains(db) == {acme.id: ("shop.acme.test",)}
    # the next scheduled check that still finds the record makes it active
    (again,) = recheck_open(db, settings, now=T0 + timedelta(hours=2))
    assert again.domain.status is DomainStatus.ACTIVE
    assert audit_actions(superuser, acme.id) == ["domain.add", "domain.verified", "domain.active"]


def test_wrong_token_and_missing_record_leave_it_pending(
    db: Database, dns: DnsServer, settings: DomainSettings
) -> None:
    make_tenant(db, "acme")
    claim = add_domain(db, "acme", "shop.acme.test", settings, now=T0)
    missing = verify_domain(db, "acme", "shop.acme.test", settings, now=T0)
    assert missing.check is not None and missing.check.result is CheckResult.MISSING
    dns.set_records({RECORD.format("shop.acme.test"): [claim.token[:-1] + "x"]})
    wrong = verify_domain(db, "acme", "shop.acme.test", settings, now=T0)
    assert wrong.check is not None and wrong.check.result is CheckResult.MISMATCH
    assert wrong.domain.status is DomainStatus.PENDING
    assert wrong.domain.last_result == "mismatch" and served_domains(db) == {}
    # a record at the domain itself (not the challenge name) proves nothing
    dns.set_records({"shop.acme.test": [claim.token]})
    assert verify_domain(db, "acme", "shop.acme.test", settings, now=T0).domain.status == "pending"


def test_token_expires_after_seven_days(
    db: Database, dns: DnsServer, settings: DomainSettings
) -> None:
    make_tenant(db, "acme")
    claim = add_domain(db, "acme", "shop.acme.test", settings, now=T0)
    dns.set_records({RECORD.format("shop.acme.test"): [claim.token]})
    late = verify_domain(db, "acme", "shop.acme.test", settings, now=T0 + timedelta(days=7))
    assert late.domain.status is DomainStatus.EXPIRED and late.check is None
    with pytest.raises(NotFoundError):  # an expired claim is closed: a new claim, a new token
        verify_domain(db, "acme", "shop.acme.test", settings, now=T0 + timedelta(days=7))
    fresh = add_domain(db, "acme", "shop.acme.test", settings, now=T0 + timedelta(days=8))
    assert fresh.token != claim.token
    # the old token, still published, does not prove the new claim (single use)
    stale = verify_domain(db, "acme", "shop.acme.test", settings, now=T0 + timedelta(days=8))
    assert stale.domain.status is DomainStatus.PENDING


def test_record_removed_later_is_revoked_after_the_grace_period(
    db: Database, dns: DnsServer, settings: DomainSettings, superuser: psycopg.Connection
) -> None:
    acme = make_tenant(db, "acme").tenant
    claim = add_domain(db, "acme", "shop.acme.test", settings, now=T0)
    dns.set_records({RECORD.format("shop.acme.test"): [claim.token]})
    verify_domain(db, "acme", "shop.acme.test", settings, now=T0)
    dns.set_records({})
    (first,) = recheck_open(db, settings, now=T0 + timedelta(hours=1))
    assert first.domain.status is DomainStatus.FAILED
    assert first.domain.missing_since == T0 + timedelta(hours=1)
    assert served_domains(db) == {acme.id: ("shop.acme.test",)}  # still served in the grace
    (within,) = recheck_open(db, settings, now=T0 + timedelta(hours=25))
    assert within.domain.status is DomainStatus.FAILED
    (past,) = recheck_open(db, settings, now=T0 + timedelta(hours=25, seconds=1))
    assert past.domain.status is DomainStatus.REVOKED
    assert served_domains(db) == {} and recheck_open(db, settings, now=T0 + timedelta(days=2)) == []
    assert audit_actions(superuser, acme.id)[-2:] == ["domain.failed", "domain.revoked"]


def test_record_back_within_the_grace_period_is_active_again(
    db: Database, dns: DnsServer, settings: DomainSettings
) -> None:
    make_tenant(db, "acme")
    claim = add_domain(db, "acme", "shop.acme.test", settings, now=T0)
    dns.set_records({RECORD.format("shop.acme.test"): [claim.token]})
    verify_domain(db, "acme", "shop.acme.test", settings, now=T0)
    dns.set_records({})
    recheck_open(db, settings, now=T0 + timedelta(hours=1))
    dns.set_records({RECORD.format("shop.acme.test"): [claim.token]})
    (back,) = recheck_open(db, settings, now=T0 + timedelta(hours=20))
    assert back.domain.status is DomainStatus.ACTIVE and back.domain.missing_since is None


def test_resolver_failure_changes_nothing(db: Database, dns: DnsServer) -> None:
    make_tenant(db, "acme")
    dead = DomainSettings(("codexos.example",), Resolver("127.0.0.1", 9), timeout_seconds=0.3)
    add_domain(db, "acme", "shop.acme.test", dead, now=T0)
    outcome = verify_domain(db, "acme", "shop.acme.test", dead, now=T0)
    assert outcome.check is not None and outcome.check.result is CheckResult.ERROR
    assert outcome.domain.status is DomainStatus.PENDING and outcome.domain.last_result == "error"


def test_check_skips_a_row_changed_meanwhile(
    db: Database, dns: DnsServer, settings: DomainSettings
) -> None:
    make_tenant(db, "acme")
    claim = add_domain(db, "acme", "shop.acme.test", settings, now=T0)
    remove_domain(db, "acme", "shop.acme.test", now=T0)
    outcome = check_domain(db, claim.domain.id, settings, now=T0)
    assert outcome.domain.status is DomainStatus.RELEASED and outcome.check is None
