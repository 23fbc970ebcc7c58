"""`tenancy billing preview | status | reconcile` against a real registry and the emulator."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from tenancy.billing import ledger
from tenancy.cli.main import app
from tenancy.db.bootstrap import RegistryUrls
from tenancy.db.session import Database
from tenancy.devstack.stripe_emulator import StripeEmulator
from tests.pipelines.billing_support import (
    FEB,
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
def test_preview_status_and_reconcile(
    pipeline: Pipeline,
    resources: dict[str, object],
    emulator: StripeEmulator,
    db: Database,
    cli_env: RegistryUrls,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TENANCY_STRIPE_API_KEY", "sk_test_emulator")
    monkeypatch.setenv("TENANCY_STRIPE_API_BASE", emulator.url)
    pro = pipeline.tenants["pro"]
    record_calls(pipeline, pro, FEB, 11_200, 29)
    roll_up(resources, FEB, 29)
    runner = CliRunner()
    args = ["--warehouse", str(pipeline.warehouse_path)]
    shown = runner.invoke(
        app, ["billing", "preview", "acme-pro", "--month", "2024-02", "--json", *args]
    )
    assert shown.exit_code == 0, shown.output
    data = json.loads(shown.output)
    assert [(x["code"], x["amount_cents"]) for x in data["lines"]] == [
        ("base.pro", 4900),
        ("overage.api_calls_per_month.pro", 200),
    ]
    table = runner.invoke(app, ["billing", "preview", "acme-pro", "--month", "2024-02", *args])
    assert "49.00" in table.output and "2.00" in table.output

    materialize(resources, ["invoice_ledger", "stripe_invoices"], FEB.isoformat())
    status = runner.invoke(app, ["billing", "status", "--month", "2024-02", "--json"])
    assert status.exit_code == 0, status.output
    assert {(x["slug"], x["status"]) for x in json.loads(status.output)} == {
        ("acme-pro", "finalized"),
        ("acme-enterprise", "finalized"),
    }
    agreed = runner.invoke(app, ["billing", "reconcile", "--month", "2024-02"])
    assert agreed.exit_code == 0, agreed.output

    stripe_id = ledger.get_invoice(db, ledger.invoice_id_for(pro, FEB)).stripe_invoice_id
    assert stripe_id
    emulator.tamper_line(stripe_id, 1, 150)
    differs = runner.invoke(app, ["billing", "reconcile", "--month", "2024-02"])
    assert differs.exit_code == 1
    assert "tenant acme-pro" in differs.output
    assert "ledger 200 cents, Stripe 150 cents" in differs.output
    assert "total: ledger 5100 cents, Stripe 5050 cents" in differs.output
