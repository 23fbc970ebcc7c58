"""Invoicing through the pipeline: ledger from the warehouse, Stripe push, late usage,
plan changes, schedules and the payment event sensor."""

from __future__ import annotations

from datetime import UTC, date, datetime

import dagster as dg
import pytest

from pipelines.billing.resources import StripeResource
from pipelines.billing.schedules import billing_schedule, invoice_draft_schedule
from pipelines.billing.sensors import stripe_payment_events_sensor
from tenancy.billing import ledger
from tenancy.db.session import Database
from tenancy.devstack.stripe_emulator import StripeEmulator
from tenancy.usage_warehouse import open_warehouse
from tests.pipelines.billing_support import (
    FEB,
    MAR,
    emulator,
    materialize,
    record_calls,
    resources,
    roll_up,
)
from tests.pipelines.conftest import Pipeline
from tests.warehouses import KINDS

__all__ = ["emulator", "resources"]  # fixtures


@pytest.mark.parametrize("warehouse_kind", KINDS)
def test_month_invoiced_exactly_once_and_late_usage_corrects_the_next(
    pipeline: Pipeline, resources: dict[str, object], emulator: StripeEmulator, db: Database
) -> None:
    pro, ent = pipeline.tenants["pro"], pipeline.tenants["enterprise"]
    record_calls(pipeline, pro, FEB, 12_500, 29)
    record_calls(pipeline, ent, FEB, 1_000, 29)
    roll_up(resources, FEB, 29)
    result = materialize(resources, ["invoice_ledger", "stripe_invoices"], FEB.isoformat())
    assert all(c.passed for c in result.get_asset_check_evaluations())
    invoices = {i.tenant_id: i for i in ledger.list_invoices(db, FEB)}
    assert set(invoices) == {pro, ent}  # the free tenant had nothing billable
    assert invoices[pro].total_cents == 4900 + 300  # 2,500 over: 3 started blocks of 1,000
    assert invoices[ent].total_cents == 49900
    assert {i.status for i in invoices.values()} == {"finalized"}
    assert len(emulator.invoices) == 2
    # A rerun changes nothing: the ledger is frozen and Stripe already has the invoices.
    materialize(resources, ["invoice_ledger", "stripe_invoices"], FEB.isoformat())
    assert len(emulator.invoices) == 2 and sum(len(v) for v in emulator.lines.values()) == 3

    # 1,000 late calls for February arrive after its invoice was finalized.
    record_calls(pipeline, pro, FEB, 1_000, 29)
    record_calls(pipeline, pro, MAR, 100, 31)
    roll_up(resources, FEB, 29)
    roll_up(resources, MAR, 31)
    materialize(resources, ["invoice_ledger"], MAR.isoformat())
    assert ledger.get_invoice(db, invoices[pro].id).total_cents == 5200  # never edited
    march = ledger.get_invoice(db, ledger.invoice_id_for(pro, MAR))
    lines = [x.line for x in ledger.invoice_lines(db, march.id)]
    fix = [x for x in lines if x.corrects_period == FEB]
    assert [(x.code, x.amount_cents) for x in fix] == [("overage.api_calls_per_month.pro", 100)]
    assert march.total_cents == 4900 + 100
    # February's invoice plus its correction equal February's true usage: 3,500 over -> 4 blocks.
    assert sum(v for v in ledger.billed(db, pro, FEB).values()) == 5200  # march still a draft
    materialize(resources, ["stripe_invoices"], MAR.isoformat())
    assert sum(ledger.billed(db, pro, FEB).values()) == 4900 + 400


def test_a_plan_change_prorates_by_snapshot_days(
    pipeline: Pipeline, resources: dict[str, object], db: Database
) -> None:
    pro = pipeline.tenants["pro"]
    roll_up(resources, FEB, 29)
    with open_warehouse(pipeline.warehouse) as conn:
        conn.execute(
            "UPDATE registry_snapshots SET plan = 'enterprise' WHERE tenant_id = ? AND day >= '2024-02-20'",
            [str(pro)],
        )
    materialize(resources, ["invoice_ledger"], FEB.isoformat())
    lines = {x.line.code: x.line for x in ledger.invoice_lines(db, ledger.invoice_id_for(pro, FEB))}
    assert (
        lines["base.pro"].period_end == date(2024, 2, 20) == lines["base.enterprise"].period_start
    )
    assert lines["base.pro"].amount_cents == round(4900 * 19 / 29)
    assert lines["base.enterprise"].amount_cents == 49900 - round(49900 * 19 / 29)


def test_a_mismatch_fails_the_check_and_holds_the_invoice(
    pipeline: Pipeline, resources: dict[str, object], emulator: StripeEmulator, db: Database
) -> None:
    pro = pipeline.tenants["pro"]
    roll_up(resources, FEB, 29)
    materialize(resources, ["invoice_ledger"], FEB.isoformat())
    invoice_id = ledger.invoice_id_for(pro, FEB)
    # Someone edits the draft in Stripe between our add_lines and our reconcile.
    original = emulator.invoice_view

    def tampered(invoice: dict) -> dict:
        for line in emulator.lines[invoice["id"]]:
            line["amount"] = 1
        emulator._totals(invoice)
        return original(invoice)

    emulator.invoice_view = tampered  # type: ignore[method-assign]
    result = materialize(resources, ["stripe_invoices"], FEB.isoformat(), raise_on_error=False)
    check = next(
        c
        for c in result.get_asset_check_evaluations()
        if c.check_name == "stripe_invoices_reconciled"
    )
    assert not check.passed
    assert "tenant acme-pro" in str(
        check.description
    ) and "ledger 4900 cents, Stripe 1 cents" in str(check.description)
    assert ledger.get_invoice(db, invoice_id).status == "pushed"
    assert {i["status"] for i in emulator.invoices.values()} == {"draft"}
    metrics = (pipeline.textfile.parent / "billing_invoices.prom").read_text()
    assert f'billing_invoice_held{{period="2024-02",tenant="{pro}"}} 1.0' in metrics
    assert 'billing_invoices{status="pushed"}' in metrics


def test_an_invoice_stripe_refuses_fails_the_run_after_every_other_is_finalized(
    pipeline: Pipeline, resources: dict[str, object], emulator: StripeEmulator, db: Database
) -> None:
    pro, ent = pipeline.tenants["pro"], pipeline.tenants["enterprise"]
    roll_up(resources, FEB, 29)
    materialize(resources, ["invoice_ledger"], FEB.isoformat())
    ledger.ensure_account(db, pro, "billing@pro.example.com", "usd")
    ledger.set_customer(db, pro, "cus_deleted")
    result = materialize(resources, ["stripe_invoices"], FEB.isoformat(), raise_on_error=False)
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    refused = ledger.invoice_id_for(pro, FEB)
    assert "1 of 2 invoices for 2024-02 stopped" in str(failure.step_failure_data.error)
    assert str(refused) in str(failure.step_failure_data.error)
    assert ledger.get_invoice(db, ledger.invoice_id_for(ent, FEB)).status == "finalized"
    assert ledger.get_invoice(db, refused).status == "pushed"


def test_schedules_close_a_month_only_after_the_grace_period(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TENANCY_BILLING_GRACE_DAYS", "3")

    def tick(schedule: dg.ScheduleDefinition, day: date) -> object:
        at = datetime(day.year, day.month, day.day, 3, tzinfo=UTC)
        return schedule(dg.build_schedule_context(scheduled_execution_time=at))

    assert isinstance(tick(billing_schedule, date(2024, 3, 3)), dg.SkipReason)
    run = tick(billing_schedule, date(2024, 3, 4))
    assert isinstance(run, dg.RunRequest) and run.partition_key == "2024-02-01"
    assert isinstance(tick(billing_schedule, date(2024, 3, 5)), dg.SkipReason)
    draft = tick(invoice_draft_schedule, date(2024, 3, 1))
    assert isinstance(draft, dg.RunRequest) and draft.partition_key == "2024-02-01"
    assert isinstance(tick(invoice_draft_schedule, date(2024, 3, 4)), dg.SkipReason)
    jan = tick(billing_schedule, date(2025, 1, 4))
    assert isinstance(jan, dg.RunRequest) and jan.partition_key == "2024-12-01"


def test_the_payment_sensor_applies_events_once_from_its_cursor(
    pipeline: Pipeline, resources: dict[str, object], emulator: StripeEmulator, db: Database
) -> None:
    pro, ent = pipeline.tenants["pro"], pipeline.tenants["enterprise"]
    roll_up(resources, FEB, 29)
    materialize(resources, ["invoice_ledger", "stripe_invoices"], FEB.isoformat())
    paid = ledger.get_invoice(db, ledger.invoice_id_for(pro, FEB)).stripe_invoice_id
    failed = ledger.get_invoice(db, ledger.invoice_id_for(ent, FEB)).stripe_invoice_id
    assert paid and failed
    stripe = resources["stripe"]
    assert isinstance(stripe, StripeResource)
    stripe.gateway().client.v1.invoices.pay(paid, {"paid_out_of_band": True})
    emulator.fail_payment(failed)

    def evaluate(cursor: str | None) -> tuple[str | None, str]:
        with dg.build_sensor_context(
            cursor=cursor, resources={"registry": resources["registry"], "stripe": stripe}
        ) as context:
            outcome = stripe_payment_events_sensor(context)
            return context.cursor, str(outcome)

    cursor, outcome = evaluate(None)
    assert "applied 2 payment event(s)" in outcome
    assert ledger.get_invoice(db, ledger.invoice_id_for(pro, FEB)).status == "paid"
    assert ledger.get_invoice(db, ledger.invoice_id_for(ent, FEB)).status == "payment_failed"
    account = ledger.get_account(db, ent)
    assert account.state == "past_due" and account.grace_until is not None
    cursor_again, outcome = evaluate(cursor)
    assert "applied 0 payment event(s)" in outcome and cursor_again == cursor
