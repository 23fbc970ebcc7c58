"""`tenancy notifications`: deliver the owners' notification outbox, and look into it."""

from __future__ import annotations

import typer
from rich.table import Table

from tenancy.cli.context import JsonOption, console, open_database, print_json
from tenancy.notification_sender import OutboxSender, SmtpSettings

app = typer.Typer(
    help="Owner notifications (the outbox and its SMTP sender).", no_args_is_help=True
)


@app.command()
def send(
    limit: int = typer.Option(100, min=1, max=10_000, help="At most this many messages."),
    as_json: bool = JsonOption,
) -> None:
    """Send what is due through TENANCY_SMTP_HOST; run it every minute. Exit 1 if a message
    failed for good (it stays in the outbox as `failed`)."""
    smtp = SmtpSettings.from_env()
    with open_database() as db:
        report = OutboxSender(db, smtp).send_due(limit=limit)
    if as_json:
        print_json(report.to_json())
    else:
        console.print(
            f"sent {len(report.sent)}, to retry {len(report.retried)}, failed {len(report.failed)}"
        )
        for row_id, error in {**report.retried, **report.failed}.items():
            console.print(f"  outbox {row_id}: {error}", highlight=False, soft_wrap=True)
    if report.failed:
        raise typer.Exit(1)


@app.command("list")
def list_(
    state: str | None = typer.Option(None, help="pending, sent or failed."),
    as_json: bool = JsonOption,
) -> None:
    """The outbox, newest first (at most 200 rows)."""
    where, params = ("WHERE state = %s", (state,)) if state else ("", ())
    with open_database() as db, db.platform() as conn:
        rows = conn.execute(
            "SELECT id, tenant_id::text AS tenant_id, kind, recipient, state, attempts, "
            "created_at, sent_at, next_attempt_at, last_error FROM registry.notification_outbox "
            f"{where} ORDER BY id DESC LIMIT 200",
            params,
        ).fetchall()
    if as_json:
        print_json(rows)
        return
    table = Table(title="Notification outbox")
    for column in ("id", "kind", "recipient", "state", "attempts", "last error"):
        table.add_column(column)
    for r in rows:
        table.add_row(
            str(r["id"]),
            str(r["kind"]),
            str(r["recipient"]),
            str(r["state"]),
            str(r["attempts"]),
            str(r["last_error"] or ""),
        )
    console.print(table)
