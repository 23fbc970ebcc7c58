"""Push, reconcile and finalize against the Stripe emulator, with faults and crashes."""

from __future__ import annotations

import uuid
from datetime import date

import pytest

from tenancy.billing import ledger
from tenancy.billing.errors import StripeTerminalError
from tenancy.billing.gateway import StripeGateway
from tenancy.billing.push import InvoicePusher
from tenancy.db.session import Database
from tenancy.devstack.stripe_emulator import StripeEmulator
from tests.billing.conftest import draft_invoice, fast_settings

MARCH = date(2025, 3, 1)


class Crash(BaseException):
    """Stands in for the process dying at a step boundary."""


def crash_at(step: str):  # type: ignore[no-untyped-def]
    def hook(name: str, invoice_id: uuid.UUID) -> None:
        if name == step:
            raise Crash(step)

    return hook


def ours(emulator: StripeEmulator, invoice_id: uuid.UUID) -> list[dict]:
    return [
        i for i in emulator.invoices.values() if i["metadata"].get("ledger_id") == str(invoice_id)
    ]


def assert_exactly_once(emulator: StripeEmulator, db: Database, invoice_id: uuid.UUID) -> None:
    (remote,) = ours(emulator, invoice_id)
    invoice = ledger.get_invoice(db, invoice_id)
    assert invoice.status == "finalized" and remote["status"] == "open"
    assert invoice.stripe_invoice_id == remote["id"]
    lines = emulator.lines[remote["id"]]
    assert sorted(x["metadata"]["ledger_line_id"] for x in lines) == sorted(
        str(x.id) for x in ledger.invoice_lines(db, invoice_id)
    )
    assert remote["total"] == invoice.total_cents == invoice.stripe_total_cents
    assert len(emulator.customers) == 1


def test_push_finalizes_one_invoice_with_its_lines(
    db: Database, emulator: StripeEmulator, gateway: StripeGateway
) -> None:
    invoice_id = draft_invoice(db, "acme", MARCH, [4900, 300, 75])
    result = InvoicePusher(db, gateway).push(invoice_id)
    assert result.status == "finalized"
    assert_exactly_once(emulator, db, invoice_id)
    remote = ours(emulator, invoice_id)[0]
    assert remote["auto_advance"] is False
    assert remote["metadata"]["period"] == "2025-03-01"
    # customer lookup, customer, invoice, one add_lines, line list, retrieve, finalize
    assert gateway.requests == 7
    again = InvoicePusher(db, gateway).push(invoice_id)
    assert again.status == "finalized" and gateway.requests == 7


def test_lines_go_in_batches_within_stripes_limit(
    db: Database, emulator: StripeEmulator, gateway: StripeGateway
) -> None:
    invoice_id = draft_invoice(db, "acme", MARCH, list(range(1, 121)))
    assert InvoicePusher(db, gateway).push(invoice_id).status == "finalized"
    assert_exactly_once(emulator, db, invoice_id)


@pytest.mark.parametrize(
    "fault", ["lock_timeout", "error_after_commit", "drop_after_commit", "slow"]
)
@pytest.mark.parametrize("path", ["/v1/customers$", "/v1/invoices$", "add_lines", "finalize"])
def test_a_fault_on_any_write_never_duplicates(
    db: Database, emulator: StripeEmulator, gateway: StripeGateway, fault: str, path: str
) -> None:
    emulator.faults.slow_seconds = 1.0  # beyond the client's 0.5 s timeout
    emulator.inject(fault, path)
    invoice_id = draft_invoice(db, "acme", MARCH, [4900, 300])
    assert InvoicePusher(db, gateway).push(invoice_id).status == "finalized"
    assert emulator.faults.counts == {fault: 1}
    assert_exactly_once(emulator, db, invoice_id)


def test_a_replayed_error_bumps_the_attempt_and_reads_before_retrying(
    db: Database, emulator: StripeEmulator, gateway: StripeGateway
) -> None:
    emulator.inject("error_after_commit", "/v1/invoices$")
    invoice_id = draft_invoice(db, "acme", MARCH, [4900])
    InvoicePusher(db, gateway).push(invoice_id)
    # The create was stored as a 500 and replayed; the run found the invoice by listing.
    assert ledger.get_invoice(db, invoice_id).stripe_attempt == 1
    assert_exactly_once(emulator, db, invoice_id)


@pytest.mark.parametrize(
    "step",
    [
        "frozen",
        "customer_created",
        "customer_recorded",
        "invoice_created",
        "invoice_recorded",
        "lines_added",
        "reconciled",
        "finalize_sent",
        "finalized",
    ],
)
def test_a_crash_at_any_step_converges_on_rerun(
    db: Database, emulator: StripeEmulator, gateway: StripeGateway, step: str
) -> None:
    invoice_id = draft_invoice(db, "acme", MARCH, [4900, 300])
    with pytest.raises(Crash):
        InvoicePusher(db, gateway, crash_at(step)).push(invoice_id)
    assert InvoicePusher(db, gateway).push(invoice_id).status == "finalized"
    assert_exactly_once(emulator, db, invoice_id)


def test_resumed_after_stripe_forgot_its_keys_finds_its_own_objects(
    db: Database, emulator: StripeEmulator, gateway: StripeGateway
) -> None:
    invoice_id = draft_invoice(db, "acme", MARCH, [4900, 300])
    with pytest.raises(Crash):
        InvoicePusher(db, gateway, crash_at("invoice_created")).push(invoice_id)
    emulator.advance(25 * 3600)  # keys expire after 24 h
    emulator.search_delay = 3600  # and search lags: recovery must not rely on it
    assert InvoicePusher(db, gateway).push(invoice_id).status == "finalized"
    assert_exactly_once(emulator, db, invoice_id)


def test_a_mismatch_holds_the_invoice_and_names_tenant_line_and_amounts(
    db: Database, emulator: StripeEmulator, gateway: StripeGateway
) -> None:
    invoice_id = draft_invoice(db, "acme", MARCH, [4900, 300])
    with pytest.raises(Crash):
        InvoicePusher(db, gateway, crash_at("lines_added")).push(invoice_id)
    stripe_id = ledger.get_invoice(db, invoice_id).stripe_invoice_id
    assert stripe_id is not None
    emulator.tamper_line(stripe_id, 1, 250)
    result = InvoicePusher(db, gateway).push(invoice_id)
    assert result.status == "held"
    assert any(
        "tenant acme" in d and "line.1" in d and "ledger 300 cents, Stripe 250 cents" in d
        for d in result.differences
    )
    assert any("total: ledger 5200 cents, Stripe 5150 cents" in d for d in result.differences)
    assert emulator.invoices[stripe_id]["status"] == "draft"
    invoice = ledger.get_invoice(db, invoice_id)
    assert (
        invoice.status == "pushed"
        and invoice.hold_reason
        and "Stripe 250 cents" in invoice.hold_reason
    )


def test_rate_limited_requests_are_retried_and_not_stored(
    db: Database, emulator: StripeEmulator
) -> None:
    from tests.billing.conftest import fast_settings

    emulator.rate_limit = 5
    gateway = StripeGateway(
        fast_settings(emulator.url, backoff_seconds=0.2, backoff_max_seconds=1.0, max_tries=20)
    )
    invoice_id = draft_invoice(db, "acme", MARCH, [4900])
    assert InvoicePusher(db, gateway).push(invoice_id).status == "finalized"
    assert emulator.rate_limited > 0
    assert_exactly_once(emulator, db, invoice_id)


def test_an_invoice_stripe_refuses_stops_only_itself(
    db: Database, emulator: StripeEmulator, gateway: StripeGateway
) -> None:
    refused = draft_invoice(db, "gone", MARCH, [4900])
    others = [draft_invoice(db, f"ok-{n}", MARCH, [4900, 120]) for n in range(3)]
    # The registry points at a customer Stripe does not have: a 404 no retry can fix.
    ledger.set_customer(db, ledger.get_invoice(db, refused).tenant_id, "cus_deleted")
    results, failures = InvoicePusher(db, gateway).push_all([refused, *others], workers=2)
    assert [f.invoice_id for f in failures] == [refused]
    assert "create invoice" in str(failures[0]) and "cus_deleted" in str(failures[0])
    assert sorted(r.invoice_id for r in results) == sorted(others)
    assert {ledger.get_invoice(db, i).status for i in others} == {"finalized"}
    assert ledger.get_invoice(db, refused).status == "pushed"
    # Once the cause is fixed, a rerun gets through: Stripe kept the refusal under the old
    # key, and the push moved on to a new one.
    with db.platform() as conn:
        conn.execute(
            "UPDATE billing.accounts SET stripe_customer_id = NULL WHERE tenant_id = %s",
            (ledger.get_invoice(db, refused).tenant_id,),
        )
    assert InvoicePusher(db, gateway).push(refused).status == "finalized"
    assert len(ours(emulator, refused)) == 1


def test_stripe_unavailable_stops_the_run_from_starting_more_invoices(
    db: Database, emulator: StripeEmulator
) -> None:
    invoices = [draft_invoice(db, f"t-{n}", MARCH, [4900]) for n in range(12)]
    gateway = StripeGateway(fast_settings(emulator.url, max_tries=3))
    emulator.close()  # Stripe unreachable: every request fails after its retries
    results, failures = InvoicePusher(db, gateway).push_all(invoices, workers=2)
    assert results == [] and sorted(f.invoice_id for f in failures) == sorted(invoices)
    attempted = [f for f in failures if f.attempted]
    assert 1 <= len(attempted) <= 2, "only those already under way spend the retry budget"
    assert gateway.requests <= 2 * 3
    assert all("not attempted" in str(f) for f in failures if not f.attempted)


def test_an_error_outside_billing_stops_the_whole_run(
    db: Database, emulator: StripeEmulator, gateway: StripeGateway
) -> None:
    invoices = [draft_invoice(db, f"t-{n}", MARCH, [4900]) for n in range(3)]

    def registry_gone(step: str, invoice_id: uuid.UUID) -> None:
        raise RuntimeError("the registry went away")

    with pytest.raises(RuntimeError, match="registry went away"):
        InvoicePusher(db, gateway, registry_gone).push_all(invoices, workers=1)


def test_a_key_reused_with_other_parameters_never_makes_a_second_customer(
    db: Database, emulator: StripeEmulator, gateway: StripeGateway
) -> None:
    """The create went through but the run died before recording it; then the billing email
    changed, so the next run does not find that customer and sends the create again under
    the same key with the new email. Stripe refuses the reused key, and it stays refused:
    a new key would make a second customer."""
    invoice_id = draft_invoice(db, "acme", MARCH, [4900])
    with pytest.raises(Crash):
        InvoicePusher(db, gateway, crash_at("customer_created")).push(invoice_id)
    with db.platform() as conn:
        conn.execute("UPDATE billing.accounts SET billing_email = 'finance@acme.example.com'")
    for _ in range(2):
        with pytest.raises(StripeTerminalError) as refused:
            InvoicePusher(db, gateway).push(invoice_id)
        assert refused.value.key_reused and ":create:a0" in refused.value.key
    assert len(emulator.customers) == 1
