"""The main job on embedded defaults: `make demo` (python -m pipelines.demo).

A fresh registry on the local throwaway PostgreSQL, a tenant per plan, a month of traffic
through the usage recorder and the rate limiter (the free tenant goes over its 1,000 API
calls), the pipeline materialized for that month into the local DuckLake, and per tenant:
usage, quota state and what was blocked. The data stays for `make ui`.
"""

from __future__ import annotations

import os
import random
import shutil
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import redis
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from pipelines.definitions import ASSETS, BILLING_ASSETS, defs
from pipelines.lib.periods import month_start, utc_midnight
from pipelines.partitions import usage_shard_partitions
from tenancy.agents import create_agent
from tenancy.billing import ledger
from tenancy.cli.demo import DEMO_TENANTS
from tenancy.db.session import Database
from tenancy.devstack.stack import DEFAULT_DATABASE, LocalStack
from tenancy.devstack.stripe_local import stop_local_stripe
from tenancy.errors import ConfigurationError
from tenancy.plans import default_catalog
from tenancy.quota_gate import QuotaGate
from tenancy.ratelimit import RateLimiter, RatePolicy
from tenancy.registry import add_member, create_tenant
from tenancy.settings import Settings
from tenancy.tenant import Tenant
from tenancy.usage.events import UsageEvent, agent_execution, api_call, storage_delta
from tenancy.usage.recorder import UsageRecorder
from tenancy.usage_warehouse import LOCAL_LAKE, WarehouseLocation, open_warehouse, resolve

# Wide enough for the report even when piped (rich assumes 80 columns without a terminal).
console = Console(width=max(shutil.get_terminal_size((120, 24)).columns, 110))
#: Keep the runs' step-by-step debug log in the Dagster UI, not on the terminal.
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
ENDPOINTS = ("/v1/agents", "/v1/agents/{id}", "/v1/agents/{id}/runs", "/v1/documents", "/v1/search")
#: plan -> (API calls this month so far, agents, extra members, stored bytes, live burst).
#: Whatever the day of the month, the free tenant ends up over its 1,000 calls and the pro
#: tenant in the 90 % warning band.
PROFILE = {
    "free": (1_300, 3, 3, 400 * 10**6, 100),
    "pro": (9_200, 12, 22, 9_300 * 10**6, 100),
    "enterprise": (39_000, 40, 120, 12 * 10**9, 100),
}


def _clear_warehouse(where: WarehouseLocation, run_dir: Path) -> None:
    """Start the warehouse empty: the embedded lake's directory under `run_dir`, or the one
    DuckDB file. A lake elsewhere (a catalog that TENANCY_WAREHOUSE_CATALOG names) is not the
    demo's to wipe, even when it is laid out like the embedded one."""
    if where.file is not None:
        for path in (where.file, where.file.with_name(where.file.name + ".wal")):
            path.unlink(missing_ok=True)
        return
    assert where.lake is not None
    catalog = Path(where.lake.catalog)
    if where != WarehouseLocation.local_lake(run_dir / LOCAL_LAKE):
        raise ConfigurationError(
            f"the demo starts from an empty warehouse but the warehouse is "
            f"{where.describe()}; unset TENANCY_WAREHOUSE_CATALOG and TENANCY_WAREHOUSE_DATA "
            "for the embedded lake, or set TENANCY_WAREHOUSE_PATH to a scratch file"
        )
    shutil.rmtree(catalog.parent, ignore_errors=True)


def _reset(
    run_dir: Path, stack: LocalStack, where: WarehouseLocation
) -> tuple[Database, redis.Redis]:
    with console.status("starting local PostgreSQL and Redis, migrating a fresh registry"):
        urls = stack.fresh_database(DEFAULT_DATABASE)
    client = redis.Redis.from_url(stack.redis.url)
    client.flushall()  # the local throwaway Redis: usage stream, limiter and quota state
    _clear_warehouse(where, run_dir)
    stop_local_stripe(run_dir)  # the local Stripe emulator starts empty with the registry
    shutil.rmtree(run_dir / "objects", ignore_errors=True)
    home = run_dir / "dagster"
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    shutil.copy(Path(__file__).parent / "dagster.yaml", home / "dagster.yaml")
    os.environ["DAGSTER_HOME"] = str(home.resolve())
    return Database(urls.app, urls.platform), client


def _seed(db: Database, run_dir: Path) -> list[Tenant]:
    catalog = default_catalog()
    tenants = []
    for tenant_id, name, domain, plan in DEMO_TENANTS:
        tenant = create_tenant(
            db,
            name=name,
            domain=domain,
            plan=plan,
            owner_email=f"owner@{domain}",
            slug=name.lower().replace(" ", "-"),
            actor="demo",
            catalog=catalog,
            tenant_id=tenant_id,
        ).tenant
        _, agents, members, stored, _ = PROFILE[plan]
        for n in range(agents):
            create_agent(db, tenant.id, f"agent-{n}")
        for n in range(members):
            add_member(db, tenant.id, f"member{n}@{domain}", actor="demo")
        folder = run_dir / "objects" / "tenants" / str(tenant.id) / "documents"
        folder.mkdir(parents=True, exist_ok=True)
        with (folder / "archive.bin").open("wb") as f:
            f.truncate(stored)  # sparse: the measurer sees the size, the disk holds nothing
        tenants.append(tenant)
    return tenants


def _month_of_traffic(tenants: list[Tenant], recorder: UsageRecorder, now: datetime) -> int:
    rng = random.Random(7)  # noqa: S311 - synthetic demo traffic, nothing secret
    start = utc_midnight(month_start(now.date()))
    seconds = max(int((now - start).total_seconds()) - 120, 1)
    total = 0
    with Progress(console=console, transient=True) as progress:
        for tenant in tenants:
            count, _, _, stored, _ = PROFILE[tenant.plan]
            task = progress.add_task(
                f"recording {count:,} API calls for {tenant.slug}", total=count
            )
            batch: list[UsageEvent] = []
            for i in range(count):
                at = start + timedelta(seconds=rng.randrange(seconds))
                batch.append(
                    api_call(
                        tenant.id,
                        rng.choice(ENDPOINTS),
                        rng.choice(("GET", "GET", "POST")),
                        200,
                        at,
                    )
                )
                if i % 25 == 0:
                    batch.append(agent_execution(tenant.id, tenant.id, at))
                if len(batch) >= 2_000:
                    recorder.record_many(batch)
                    progress.advance(task, len(batch))
                    batch = []
            batch.append(storage_delta(tenant.id, stored, start + timedelta(seconds=1)))
            recorder.record_many(batch)
            progress.advance(task, count)
            total += count
    return total


def _live_burst(
    tenants: list[Tenant], limiter: RateLimiter, recorder: UsageRecorder
) -> dict[str, int]:
    """Right now, each tenant fires a burst; the limiter admits what its plan allows."""
    catalog = default_catalog()
    limited = {}
    for tenant in tenants:
        policy = RatePolicy.for_tenant(catalog.get(tenant.plan), tenant.limit_overrides)
        denied = 0
        for _ in range(PROFILE[tenant.plan][4]):
            if limiter.check(tenant.id, "/v1/search", policy).allowed:
                recorder.record(api_call(tenant.id, "/v1/search", "GET", 200))
            else:
                denied += 1
        limited[tenant.slug] = denied
    return limited


def _materialize(now: datetime) -> None:
    instance = dg.DagsterInstance.get()
    month = month_start(now.date())
    steps = [
        *(
            (
                f"draining usage stream shard {shard} into the warehouse",
                ["usage_events"],
                shard,
                None,
            )
            for shard in usage_shard_partitions.get_partition_keys()
        ),
        (
            f"rolling up {month:%B} day by day",
            ["daily_tenant_usage"],
            None,
            {
                "dagster/asset_partition_range_start": month.isoformat(),
                "dagster/asset_partition_range_end": now.date().isoformat(),
            },
        ),
        (
            f"rolling up {month:%B} and enforcing quotas",
            ["monthly_tenant_usage", "tenant_quota_status"],
            month.isoformat(),
            None,
        ),
    ]
    for label, selection, partition, tags in steps:
        with console.status(label):
            result = dg.materialize(
                ASSETS,
                selection=selection,
                instance=instance,
                resources=defs.resources,
                partition_key=partition,
                tags=tags,
                run_config=QUIET,
            )
        failed = [c.check_name for c in result.get_asset_check_evaluations() if not c.passed]
        console.print(
            f"[green]done[/green] {label}"
            + (f"  [red]failed checks: {failed}[/red]" if failed else "")
        )


def _report(
    tenants: list[Tenant],
    where: WarehouseLocation,
    gate: QuotaGate,
    limited: dict[str, int],
    month: str,
) -> None:
    with open_warehouse(where, read_only=True) as conn:
        rows = conn.execute(
            'SELECT slug, metric, used, "limit", state FROM tenant_quota_status WHERE month = ?',
            [month],
        ).fetchall()
    status = {(slug, metric): (used, limit, state) for slug, metric, used, limit, state in rows}
    table = Table(title=f"Usage and quotas, {month[:7]} (UTC); used / limit")
    for column in (
        "tenant",
        "API calls",
        "agents",
        "users",
        "storage GB",
        "rate-limited",
        "quota gate",
    ):
        table.add_column(column)
    colors = {"ok": "green", "warning": "yellow", "exceeded": "red"}

    def cell(slug: str, metric: str, fmt: str = "{:,.0f}") -> str:
        used, limit, state = status[(slug, metric)]
        shown = fmt.format(used) + "/" + ("unlim." if limit is None else fmt.format(limit))
        return f"[{colors[state]}]{shown}[/{colors[state]}]"

    blocked = []
    for tenant in tenants:
        decision = gate.check(tenant.id, "api_calls_per_month")
        if not decision.allowed:
            blocked.append(
                f"{tenant.slug}: {decision.reason}; API calls refused until {decision.until:%Y-%m-%d %H:%M} UTC"
            )
        table.add_row(
            f"{tenant.slug} ({tenant.plan})",
            cell(tenant.slug, "api_calls_per_month"),
            cell(tenant.slug, "agents"),
            cell(tenant.slug, "users"),
            cell(tenant.slug, "storage_gb", "{:,.1f}"),
            str(limited[tenant.slug]),
            "[green]allowed[/green]" if decision.allowed else "[red]blocked[/red]",
        )
    console.print(table)
    console.print(
        "[green]green[/green] ok, [yellow]yellow[/yellow] >= 90 % (alert), [red]red[/red] over the limit; "
        "rate-limited: requests of a live burst the limiter refused"
    )
    for line in blocked:
        console.print(f"[red]blocked[/red] {line}")


def _backdate(db: Database, now: datetime) -> None:
    """The demo tenants have been customers since the 1st, so this month's registry snapshots
    (and the invoice prorated from them) include them from the first day."""
    with db.platform() as conn:
        conn.execute(
            "UPDATE registry.tenants SET created_at = %s", (utc_midnight(month_start(now.date())),)
        )


def _invoice(month: str) -> None:
    """Close the month so far as if it had ended: ledger, then Stripe (the local emulator)."""
    with console.status(f"invoicing {month[:7]} so far: ledger, Stripe push, reconcile, finalize"):
        result = dg.materialize(
            [*ASSETS, *BILLING_ASSETS],
            selection=["invoice_ledger", "stripe_invoices"],
            instance=dg.DagsterInstance.get(),
            resources=defs.resources,
            partition_key=month,
            run_config=QUIET,
        )
    failed = [c.check_name for c in result.get_asset_check_evaluations() if not c.passed]
    console.print(
        f"[green]done[/green] invoicing {month[:7]}"
        + (f"  [red]failed checks: {failed}[/red]" if failed else "")
    )


def _report_invoices(db: Database, tenants: list[Tenant], month: str) -> None:
    invoices = {
        i.tenant_id: i for i in ledger.list_invoices(db, datetime.fromisoformat(month).date())
    }
    table = Table(title=f"Invoices, {month[:7]} (UTC; closed early for the demo)")
    for column in ("tenant", "base", "overage", "total", "Stripe invoice", "state"):
        table.add_column(column, no_wrap=column in ("Stripe invoice", "total"))
    for tenant in tenants:
        invoice = invoices.get(tenant.id)
        if invoice is None:
            table.add_row(
                f"{tenant.slug} ({tenant.plan})", "", "", "", "", "none: nothing billable"
            )
            continue
        lines = [entry.line for entry in ledger.invoice_lines(db, invoice.id)]
        base = sum(x.amount_cents for x in lines if x.code.startswith("base."))
        overage = sum(x.amount_cents for x in lines if x.code.startswith("overage."))
        table.add_row(
            f"{tenant.slug} ({tenant.plan})",
            f"{base / 100:,.2f}",
            f"{overage / 100:,.2f}",
            f"{invoice.total_cents / 100:,.2f} {invoice.currency.upper()}",
            invoice.stripe_invoice_id or "",
            invoice.status,
        )
    console.print(table)


def main() -> int:
    settings = Settings.from_env()
    run_dir = settings.run_dir
    stack = LocalStack(run_dir)
    where = resolve(settings)
    db, client = _reset(run_dir, stack, where)
    now = datetime.now(UTC)
    try:
        tenants = _seed(db, run_dir)
        console.print(
            f"created {len(tenants)} tenants (one per plan) with their agents, members and documents"
        )
        _backdate(db, now)
        recorder = UsageRecorder(client, shards=len(usage_shard_partitions.get_partition_keys()))
        recorded = _month_of_traffic(tenants, recorder, now)
        limited = _live_burst(tenants, RateLimiter(client), recorder)
        console.print(
            f"recorded {recorded:,} API calls for {now:%B} so far; a live burst of "
            f"{sum(PROFILE[t.plan][4] for t in tenants)} requests met the rate limiter"
        )
        _materialize(now)
        _report(tenants, where, QuotaGate(client), limited, month_start(now.date()).isoformat())
        _invoice(month_start(now.date()).isoformat())
        _report_invoices(db, tenants, month_start(now.date()).isoformat())
    finally:
        db.close()
    console.print(
        "\nOpen the Dagster UI on the same data: [bold]make ui[/bold] (http://127.0.0.1:3000)\n"
        "Stop the local servers: [bold]make down[/bold]"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
