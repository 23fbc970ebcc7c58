"""Billing fixtures: the Stripe emulator on loopback and a gateway pointed at it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import date
from decimal import Decimal

import pytest

from tenancy.billing import ledger
from tenancy.billing.gateway import StripeGateway
from tenancy.billing.lines import Line
from tenancy.billing.periods import month_end
from tenancy.billing.settings import StripeSettings
from tenancy.db.session import Database
from tenancy.devstack.stripe_emulator import StripeEmulator
from tests.db.factories import make_tenant


@pytest.fixture
def emulator() -> Iterator[StripeEmulator]:
    server = StripeEmulator(seed=1).serve()
    yield server
    server.close()


def fast_settings(url: str, **overrides: object) -> StripeSettings:
    """Fast retries and a short timeout, so injected faults cost milliseconds."""
    values: dict[str, object] = {
        "api_key": "sk_test_emulator",
        "api_base": url,
        "requests_per_second": 1000.0,
        "timeout_seconds": 0.5,
        "backoff_seconds": 0.005,
        "backoff_max_seconds": 0.05,
    }
    values.update(overrides)
    return StripeSettings(**values)  # type: ignore[arg-type]


@pytest.fixture
def gateway(emulator: StripeEmulator) -> StripeGateway:
    return StripeGateway(fast_settings(emulator.url))


def draft_invoice(db: Database, slug: str, period: date, cents: list[int]) -> uuid.UUID:
    """A tenant with a billing account and a draft invoice of one line per amount."""
    tenant = make_tenant(db, slug).tenant
    ledger.ensure_account(db, tenant.id, f"billing@{slug}.example.com", "usd")
    lines = [
        Line(f"line.{i}", f"line {i}", Decimal(1), Decimal(c), c, period, month_end(period))
        for i, c in enumerate(cents)
    ]
    ledger.write_draft(db, tenant.id, period, "usd", lines)
    return ledger.invoice_id_for(tenant.id, period)
