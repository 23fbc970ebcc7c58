"""Custom domains against a real DNS server (dnsmasq) and the real registry.

Each case publishes (or withdraws) TXT records on the server and lets the code under test
resolve them with dnspython, as it does in production.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner

from tenancy.admin_errors import FeatureNotAvailableError
from tenancy.cli.main import app
from tenancy.db.session import Database
from tenancy.dns_check import CheckResult
from tenancy.domain_model import DomainError, DomainStatus
from tenancy.domain_names import normalise_domain
from tenancy.domain_settings import DomainSettings, Resolver, parse_resolver
from tenancy.domains import (
    add_domain,
    check_domain,
    list_domains,
    recheck_open,
    remove_domain,
    served_domains,
    verify_domain,
)
from tenancy.errors import ConfigurationError, InvalidInputError, NotFoundError
from tenancy.feature_overrides import set_override
from tenancy.lifecycle import RESTORE_WINDOW, Transition
from tenancy.transitions import apply_transition
from tests.db.factories import make_tenant
from tests.dns_server import DnsServer

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
RECORD = "_codexos-challenge.{}"


@pytest.fixture(scope="module")
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


def audit_actions(superuser: psycopg.Connection, tenant_id: uuid.UUID) -> list[str]:
    rows = superuser.execute(
        "SELECT action FROM registry.audit_log WHERE tenant_id = %s AND action LIKE 'domain.%%' "
        "ORDER BY seq",
        (tenant_id,),
    ).fetchall()
    return [r[0] for r in rows]


def test_names_are_normalised_and_refused() -> None:
    assert normalise_domain("Shop.Example.COM.") == "shop.example.com"
    assert normalise_domain("Bücher.example") == "xn--bcher-kva.example"
    assert normalise_domain("xn--bcher-kva.example") == "xn--bcher-kva.example"
    assert normalise_domain("faß.de") == "xn--fa-hia.de"  # IDNA 2008: not fass.de
    with pytest.raises(InvalidInputError, match="not a wildcard"):
        normalise_domain("*.example.com")
    with pytest.raises(InvalidInputError, match="internationalised host name"):
        normalise_domain("bad_name.example.com")
    with pytest.raises(InvalidInputError, match="at least two labels"):
        normalise_domain("localhost")


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


def test_internationalised_name(db: Database, dns: DnsServer, settings: DomainSettings) -> None:
    acme = make_tenant(db, "acme").tenant
    claim = add_domain(db, "acme", "Bücher.Acme.test", settings, now=T0)
    assert claim.domain.domain == "xn--bcher-kva.acme.test"
    dns.set_records({RECORD.format("xn--bcher-kva.acme.test"): [claim.token]})
    outcome = verify_domain(db, "acme", "bücher.acme.test.", settings, now=T0)
    assert outcome.domain.status is DomainStatus.VERIFIED
    assert outcome.domain.to_json()["unicode"] == "bücher.acme.test"
    assert served_domains(db) == {acme.id: ("xn--bcher-kva.acme.test",)}


def test_platform_domains_and_suspended_tenants_are_refused(
    db: Database, settings: DomainSettings
) -> None:
    make_tenant(db, "acme")
    for name in ("codexos.example", "acme.codexos.example", "API.CODEXOS.EXAMPLE."):
        with pytest.raises(InvalidInputError, match="outside the platform's own"):
            add_domain(db, "acme", name, settings, now=T0)
    apply_transition(db, "acme", Transition.SUSPEND, reason="unpaid", now=T0)
    with pytest.raises(DomainError, match="is suspended; expected active"):
        add_domain(db, "acme", "shop.acme.test", settings, now=T0)


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


def test_check_skips_a_row_changed_meanwhile(
    db: Database, dns: DnsServer, settings: DomainSettings
) -> None:
    make_tenant(db, "acme")
    claim = add_domain(db, "acme", "shop.acme.test", settings, now=T0)
    remove_domain(db, "acme", "shop.acme.test", now=T0)
    outcome = check_domain(db, claim.domain.id, settings, now=T0)
    assert outcome.domain.status is DomainStatus.RELEASED and outcome.check is None


def test_settings_outside_the_local_profile() -> None:
    with pytest.raises(ConfigurationError, match="TENANCY_PLATFORM_DOMAINS is not set"):
        DomainSettings.from_env({"TENANCY_PROFILE": "production"})
    with pytest.raises(ConfigurationError, match="TENANCY_DNS_RESOLVER is not set"):
        DomainSettings.from_env(
            {"TENANCY_PROFILE": "production", "TENANCY_PLATFORM_DOMAINS": "codexos.example"}
        )
    assert parse_resolver("127.0.0.1:5353") == Resolver("127.0.0.1", 5353)
    assert parse_resolver("[::1]:53") == Resolver("::1", 53)
    with pytest.raises(ConfigurationError, match=r"TENANCY_DNS_RESOLVER is 'dns\.example:53'"):
        parse_resolver("dns.example:53")


def test_cli_add_verify_list_remove(
    cli_env: object,
    db: Database,
    dns: DnsServer,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    make_tenant(db, "acme")
    monkeypatch.setenv("TENANCY_DNS_RESOLVER", dns.address)
    runner = CliRunner()
    added = runner.invoke(app, ["domains", "add", "acme", "shop.acme.test", "--json"])
    assert added.exit_code == 0, added.output
    token = json.loads(added.stdout)["token"]
    failed = runner.invoke(app, ["domains", "verify", "acme", "shop.acme.test"])
    assert failed.exit_code == 1 and "no TXT record" in failed.output
    dns.set_records({RECORD.format("shop.acme.test"): [token]})
    verified = runner.invoke(app, ["domains", "verify", "acme", "shop.acme.test", "--json"])
    assert verified.exit_code == 0, verified.output
    assert json.loads(verified.stdout)["status"] == "verified"
    listed = runner.invoke(app, ["domains", "list", "--tenant", "acme", "--json"])
    assert [d["domain"] for d in json.loads(listed.stdout)] == ["shop.acme.test"]
    removed = runner.invoke(app, ["domains", "remove", "acme", "shop.acme.test", "--json"])
    assert removed.exit_code == 0 and json.loads(removed.stdout)["status"] == "released"
    refused = runner.invoke(app, ["domains", "add", "acme", "*.acme.test"])
    assert refused.exit_code == 1 and "not a wildcard" in refused.output


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
