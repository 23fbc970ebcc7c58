"""Invoice 1,000 tenants through the Stripe emulator limited to 100 requests/s, 5 % of writes
faulted (all four kinds), the client paced at the same 100/s with 8 threads.

Prints the requests per invoice, the achieved rate of accepted requests as a fraction of the
allowed rate, and duplicates (Stripe invoices or lines beyond one per ledger id).

python bench/stripe_invoicing.py [--quick]
"""

from __future__ import annotations

import shutil
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import parse_args, result, scratch_dir
from tenancy.billing import ledger
from tenancy.billing.gateway import StripeGateway
from tenancy.billing.lines import Line
from tenancy.billing.push import InvoicePusher
from tenancy.billing.settings import StripeSettings
from tenancy.db.bootstrap import OWNER_ROLE, RUNTIME_ROLES, bootstrap
from tenancy.db.migrate import migrate
from tenancy.db.session import Database
from tenancy.devstack.postgres import PostgresServer
from tenancy.devstack.stripe_emulator import FAULT_KINDS, StripeEmulator
from tenancy.registry import create_tenant

RATE = 100.0
MONTH = date(2025, 3, 1)


def seed(db: Database, tenants: int) -> list:  # type: ignore[type-arg]
    ids = []
    for n in range(tenants):
        tenant = create_tenant(
            db,
            name=f"Bench {n}",
            domain=f"bench{n}.example.com",
            plan="pro",
            owner_email=f"owner@bench{n}.example.com",
            slug=f"bench-{n:04d}",
        ).tenant
        ledger.ensure_account(db, tenant.id, f"owner@bench{n}.example.com", "usd")
        lines = [
            Line("base.pro", "Pro", Decimal(1), Decimal(4900), 4900, MONTH, date(2025, 4, 1)),
            Line(
                "overage.api_calls_per_month.pro",
                "calls",
                Decimal(n % 7),
                Decimal(100),
                100 * (n % 7 + 1),
                MONTH,
                date(2025, 4, 1),
            ),
        ]
        ledger.write_draft(db, tenant.id, MONTH, "usd", lines)
        ids.append(ledger.invoice_id_for(tenant.id, MONTH))
    return ids


def main() -> int:
    quick = parse_args(__doc__ or "").quick
    tenants = 150 if quick else 1000
    base = scratch_dir("bench-stripe-")
    server = PostgresServer(base / "pg")
    server.start()
    emulator = StripeEmulator(rate_limit=RATE, seed=5).serve()
    try:
        passwords = {role: "bench-secret" for role in (OWNER_ROLE, *RUNTIME_ROLES)}
        urls = bootstrap(server.superuser_url, "bench", passwords)
        migrate(urls.owner)
        with Database(urls.app, urls.platform, max_size=10) as db:
            invoice_ids = seed(db, tenants)
            emulator.set_faults(
                {kind: 0.05 / len(FAULT_KINDS) for kind in FAULT_KINDS}, slow_seconds=2.0
            )
            settings = StripeSettings(
                api_key="sk_test_bench",
                api_base=emulator.url,
                requests_per_second=RATE,
                timeout_seconds=1.0,
                backoff_seconds=0.25,
                backoff_max_seconds=4.0,
            )
            gateway = StripeGateway(settings)
            pusher = InvoicePusher(db, gateway)
            before = emulator.requests - emulator.rate_limited
            started = time.perf_counter()
            with ThreadPoolExecutor(max_workers=8) as pool:
                statuses = Counter(r.status for r in pool.map(pusher.push, invoice_ids))
            elapsed = time.perf_counter() - started
            accepted = emulator.requests - emulator.rate_limited - before
        per_ledger = Counter(i["metadata"]["ledger_id"] for i in emulator.invoices.values())
        duplicates = sum(c - 1 for c in per_ledger.values())
        for lines in emulator.lines.values():
            ids = Counter(x["metadata"]["ledger_line_id"] for x in lines)
            duplicates += sum(c - 1 for c in ids.values())
        print(
            f"{tenants} invoices in {elapsed:.1f} s: {dict(statuses)}; {gateway.requests} client "
            f"requests, {accepted} accepted, {emulator.rate_limited} answered 429 by the limiter; "
            f"faults {emulator.faults.counts}"
        )
        ok = result("stripe_requests_per_invoice", gateway.requests / tenants, "<=", 8)
        ok &= result("stripe_rate_fraction_of_allowed", accepted / elapsed / RATE, ">=", 0.9)
        ok &= result("stripe_duplicates", duplicates, "<=", 0)
        ok &= result("stripe_invoices_finalized_fraction", statuses["finalized"] / tenants, ">=", 1)
        return 0 if ok else 1
    finally:
        emulator.close()
        server.destroy()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
