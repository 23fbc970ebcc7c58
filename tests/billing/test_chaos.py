"""Chaos: 200 tenants, faults of every kind on well over 10 % of Stripe writes, and the
billing process SIGKILLed at every kind of step boundary, rerun until done.

A real subprocess is killed (not an exception raised in-process), so nothing in the process
— a finally block, a pool's cleanup, a half-sent request — gets to tidy up: what survives is
exactly what Postgres committed and what Stripe stored.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
from collections import Counter
from datetime import date
from pathlib import Path

from tenancy.billing import ledger
from tenancy.billing.push import STEPS
from tenancy.db.bootstrap import RegistryUrls
from tenancy.db.session import Database
from tenancy.devstack.stripe_emulator import FAULT_KINDS, StripeEmulator
from tests.billing.conftest import draft_invoice

TENANTS = 200
MONTH = date(2025, 3, 1)
ROOT = Path(__file__).resolve().parents[2]


def run(config: dict[str, object]) -> tuple[int, str]:
    """One worker run: its exit status and the tail of what it printed on stderr."""
    proc = subprocess.run(
        [sys.executable, "-m", "tests.billing.chaos_worker", json.dumps(config)],
        cwd=ROOT,
        timeout=300,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode in (0, 1, -9), proc.stderr[-3000:]
    return proc.returncode, proc.stderr[-3000:]


def test_chaos_converges_to_exactly_one_finalized_invoice_each(
    db: Database, registry: RegistryUrls, emulator: StripeEmulator, tmp_path: Path
) -> None:
    rng = random.Random(7)
    for n in range(TENANTS):
        cents = [4900] + [rng.randint(-500, 5000) for _ in range(rng.randint(0, 4))]
        draft_invoice(db, f"chaos-{n:03d}", MONTH, [c for c in cents if c] or [4900])
    emulator.set_faults({kind: 0.10 for kind in FAULT_KINDS}, slow_seconds=0.4)
    kills = tmp_path / "kills"
    base = {
        "app": registry.app,
        "platform": registry.platform,
        "stripe": emulator.url,
        "month": MONTH.isoformat(),
        "kills_file": str(kills),
    }
    # First a kill at every kind of boundary, then kills anywhere, then runs until done.
    plan = [(step, rng.randint(0, 3)) for step in STEPS]
    plan += [("*", rng.randint(20, 200)) for _ in range(6)]
    codes = [run({**base, "kill_step": step, "kill_after": after})[0] for step, after in plan]
    stderr = ""
    for _ in range(20):
        code, stderr = run({**base, "kill_step": None, "kill_after": 0})
        codes.append(code)
        if code == 0:
            break
    assert codes[-1] == 0, f"exit codes of the runs: {codes}; the last run said:\n{stderr}"

    killed = Counter(kills.read_text().split())
    assert set(killed) == set(STEPS), f"killed at {dict(killed)}"
    for kind in FAULT_KINDS:
        assert emulator.faults.counts.get(kind, 0) >= 0.08 * emulator.mutating, (
            emulator.faults.counts
        )
    print(
        f"\nchaos: {len(codes)} runs, {emulator.requests} requests, {emulator.mutating} writes, faults {emulator.faults.counts}, kills {dict(killed)}"
    )

    invoices = ledger.list_invoices(db, MONTH)
    assert len(invoices) == TENANTS
    assert {i.status for i in invoices} == {"finalized"}
    by_stripe_id = {i.stripe_invoice_id: i for i in invoices}
    assert len(emulator.invoices) == TENANTS, "a duplicate or orphan invoice in Stripe"
    for stripe_id, remote in emulator.invoices.items():
        invoice = by_stripe_id[stripe_id]
        assert remote["metadata"]["ledger_id"] == str(invoice.id)
        assert remote["status"] in ("open", "paid")
        assert remote["total"] == invoice.total_cents == invoice.stripe_total_cents
        ours = sorted(str(x.id) for x in ledger.invoice_lines(db, invoice.id))
        theirs = sorted(x["metadata"]["ledger_line_id"] for x in emulator.lines[stripe_id])
        assert theirs == ours, f"orphan or missing line on {stripe_id}"
    assert len(emulator.customers) == TENANTS
