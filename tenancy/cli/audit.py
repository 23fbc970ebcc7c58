"""`tenancy audit`: check the audit trail's hash chains and anchor their heads."""

from __future__ import annotations

import typer

from tenancy.audit import AuditReport
from tenancy.audit import anchor as anchor_chains
from tenancy.audit import verify as verify_chains
from tenancy.audit_anchor_config import anchoring
from tenancy.cli.context import JsonOption, console, err_console, open_database, print_json
from tenancy.validation import parse_tenant_id

app = typer.Typer(help="Audit trail.", no_args_is_help=True)

TenantOption = typer.Option(None, "--tenant", help="Only this tenant id.")


def _report_json(report: AuditReport) -> dict[str, object]:
    return {
        "ok": report.ok,
        "tenants": report.tenants,
        "entries": report.entries,
        "chains": [
            {
                "tenant_id": c.tenant_id,
                "ok": c.ok,
                "entries": c.entries,
                "head_seq": c.head_seq,
                "anchored_seq": c.anchored_seq,
                "broken": None if c.broken is None else vars(c.broken),
                "state": c.state,
            }
            for c in report.chains
        ],
    }


def _print_report(report: AuditReport) -> None:
    for chain in report.chains:
        if chain.ok:
            console.print(f"tenant {chain.tenant_id}: {chain.state}", highlight=False)
        else:
            err_console.print(
                f"tenant {chain.tenant_id}: [red]{chain.state}[/red]",
                highlight=False,
                soft_wrap=True,
            )
    verdict = "intact" if report.ok else f"BROKEN in {len(report.broken)} tenant(s)"
    console.print(
        f"audit trail {verdict}: {report.entries} entries across {report.tenants} tenant(s)"
    )


@app.command()
def verify(tenant: str | None = TenantOption, as_json: bool = JsonOption) -> None:
    """Recompute every tenant's hash chain and check it against its latest anchor; report every
    tenant and exit 1 if any chain is broken."""
    tid = parse_tenant_id(tenant) if tenant else None
    anchors = anchoring()
    with open_database() as db:
        report = verify_chains(db, tid, anchors)
    if as_json:
        print_json(_report_json(report))
    else:
        _print_report(report)
    if not report.ok:
        raise typer.Exit(1)


@app.command()
def anchor(tenant: str | None = TenantOption, as_json: bool = JsonOption) -> None:
    """Verify every chain, then sign the head of each intact one with TENANCY_AUDIT_ANCHOR_KEY
    and write it to TENANCY_AUDIT_ANCHOR_STORE. Run it periodically; exit 1 if a chain is
    broken (a broken chain is never anchored)."""
    tid = parse_tenant_id(tenant) if tenant else None
    anchors = anchoring()
    with open_database() as db:
        run = anchor_chains(db, anchors, tid)
    if as_json:
        print_json(
            {
                **_report_json(run.report),
                "anchored": [{"tenant_id": a.tenant_id, "seq": a.seq} for a in run.written],
            }
        )
    else:
        _print_report(run.report)
        console.print(f"anchored {len(run.written)} chain head(s)")
    if not run.report.ok:
        raise typer.Exit(1)
