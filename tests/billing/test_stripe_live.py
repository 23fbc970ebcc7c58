"""The same push scenarios against Stripe test mode; they run only with a real test key.

Set STRIPE_API_KEY to an `sk_test_` key to run them. They create a customer and invoices in
that test account and void what they finalize.
"""

from __future__ import annotations

import os
import uuid
from datetime import date

import pytest

from tenancy.billing import ledger
from tenancy.billing.gateway import StripeGateway
from tenancy.billing.push import InvoicePusher
from tenancy.billing.settings import StripeSettings
from tenancy.db.session import Database
from tests.billing.conftest import draft_invoice

KEY = os.environ.get("STRIPE_API_KEY", "")
pytestmark = [
    pytest.mark.stripe_live,
    pytest.mark.skipif(
        not KEY.startswith("sk_test_"),
        reason="needs STRIPE_API_KEY set to a Stripe test-mode key (sk_test_...); Stripe is not reachable without one",
    ),
]


class Crash(BaseException):
    pass


@pytest.fixture
def live() -> StripeGateway:
    return StripeGateway(StripeSettings(api_key=KEY, requests_per_second=20))


def _void(gateway: StripeGateway, stripe_id: str) -> None:
    gateway.client.v1.invoices.void_invoice(stripe_id)


def test_live_push_reconcile_finalize(db: Database, live: StripeGateway) -> None:
    slug = f"live-{uuid.uuid4().hex[:8]}"
    invoice_id = draft_invoice(db, slug, date(2025, 3, 1), [4900, 300, 75])
    result = InvoicePusher(db, live).push(invoice_id)
    assert result.status == "finalized" and result.stripe_invoice_id
    remote = live.client.v1.invoices.retrieve(result.stripe_invoice_id)
    assert remote.total == 5275 and remote.status == "open"
    _void(live, result.stripe_invoice_id)


def test_live_crash_after_create_converges(db: Database, live: StripeGateway) -> None:
    slug = f"live-{uuid.uuid4().hex[:8]}"
    invoice_id = draft_invoice(db, slug, date(2025, 3, 1), [4900])

    def crash(step: str, _id: uuid.UUID) -> None:
        if step == "invoice_created":
            raise Crash(step)

    with pytest.raises(Crash):
        InvoicePusher(db, live, crash).push(invoice_id)
    result = InvoicePusher(db, live).push(invoice_id)
    assert result.status == "finalized"
    account = ledger.get_account(db, ledger.get_invoice(db, invoice_id).tenant_id)
    listed = live.client.v1.invoices.list({"customer": str(account.stripe_customer_id)}).data
    assert len([i for i in listed if i.metadata["ledger_id"] == str(invoice_id)]) == 1
    _void(live, str(result.stripe_invoice_id))
