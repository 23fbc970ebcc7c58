"""Which names can be claimed: normalised (IDNA 2008), internationalised names proven by their
A-label, and names refused (wildcards, bad labels, the platform's own, a suspended tenant)."""

from __future__ import annotations

import pytest

from tenancy.db.session import Database
from tenancy.domain_model import DomainError, DomainStatus
from tenancy.domain_names import normalise_domain
from tenancy.domain_settings import DomainSettings
from tenancy.domains import add_domain, served_domains, verify_domain
from tenancy.errors import InvalidInputError
from tenancy.lifecycle import Transition
from tenancy.transitions import apply_transition
from tests.db.factories import make_tenant
from tests.dns_server import DnsServer
from tests.domains.claims import RECORD, T0


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
