"""`tenancy members`: invitations and members of a tenant.

`--as EMAIL` acts as that member, bound by the role rules; without it the command acts as the
platform's operator (`cli` in the audit trail), who is bound only by the last-owner rule.
"""

from __future__ import annotations

from datetime import timedelta

import typer
from rich.table import Table

from tenancy import invitations
from tenancy.admin_errors import PermissionDeniedError
from tenancy.cli.context import JsonOption, console, open_database, print_json
from tenancy.db.session import Database
from tenancy.members import (
    Actor,
    leave,
    list_members,
    remove_member,
    set_role,
    user_by_email,
)
from tenancy.registry import get_tenant
from tenancy.tenant import MemberRole

app = typer.Typer(help="Invite, accept and manage a tenant's members.", no_args_is_help=True)

TenantOption = typer.Option(..., "--tenant", help="Tenant id or slug.")
AsOption = typer.Option(None, "--as", help="Act as this member (e-mail); default: operator.")


def _actor(db: Database, as_email: str | None) -> Actor:
    return Actor.platform("cli") if as_email is None else Actor.member(user_by_email(db, as_email))


@app.command()
def invite(
    email: str = typer.Argument(..., help="The invitee's e-mail address."),
    tenant: str = TenantOption,
    role: MemberRole = typer.Option(MemberRole.MEMBER, help="Role offered."),
    ttl_days: int = typer.Option(7, min=1, max=90, help="Days before the invitation expires."),
    as_email: str | None = AsOption,
    as_json: bool = JsonOption,
) -> None:
    """Invite by e-mail: the token goes out through the notification outbox only."""
    with open_database() as db:
        found = get_tenant(db, tenant)
        issued = invitations.invite(
            db, found.id, _actor(db, as_email), email, role, ttl=timedelta(days=ttl_days)
        )
    if as_json:
        print_json(issued.invitation.to_json())
    else:
        console.print(
            f"invited {issued.invitation.email} to {found.slug} as {role} "
            f"(invitation {issued.invitation.id}, expires {issued.invitation.expires_at:%Y-%m-%d})"
        )


@app.command()
def accept(
    token: str = typer.Argument(..., help="The invitation code from the e-mail."),
    as_json: bool = JsonOption,
) -> None:
    """Accept an invitation: the invitee becomes a member in the role offered."""
    with open_database() as db:
        invitation, user_id = invitations.accept(db, token)
    if as_json:
        print_json({**invitation.to_json(), "state": "accepted", "user_id": str(user_id)})
    else:
        console.print(f"{invitation.email} joined as {invitation.role}")


@app.command()
def decline(
    token: str = typer.Argument(..., help="The invitation code from the e-mail."),
    as_json: bool = JsonOption,
) -> None:
    """Decline an invitation; its token stops working."""
    with open_database() as db:
        invitation = invitations.decline(db, token)
    if as_json:
        print_json({**invitation.to_json(), "state": "declined"})
    else:
        console.print(f"invitation for {invitation.email} declined")


@app.command()
def revoke(
    invitation_id: str = typer.Argument(..., help="Invitation id (from `members list`)."),
    tenant: str = TenantOption,
    as_email: str | None = AsOption,
    as_json: bool = JsonOption,
) -> None:
    """Revoke a pending invitation."""
    with open_database() as db:
        found = get_tenant(db, tenant)
        invitation = invitations.revoke(db, found.id, _actor(db, as_email), invitation_id)
    if as_json:
        print_json({**invitation.to_json(), "state": "revoked"})
    else:
        console.print(f"invitation for {invitation.email} revoked")


@app.command()
def resend(
    invitation_id: str = typer.Argument(..., help="Invitation id (from `members list`)."),
    tenant: str = TenantOption,
    ttl_days: int = typer.Option(7, min=1, max=90, help="Days before it expires again."),
    as_email: str | None = AsOption,
    as_json: bool = JsonOption,
) -> None:
    """Send a pending invitation again with a new token; the previous token stops working."""
    with open_database() as db:
        found = get_tenant(db, tenant)
        issued = invitations.resend(
            db, found.id, _actor(db, as_email), invitation_id, ttl=timedelta(days=ttl_days)
        )
    if as_json:
        print_json(issued.invitation.to_json())
    else:
        console.print(f"invitation for {issued.invitation.email} sent again")


@app.command("list")
def list_(
    tenant: str = TenantOption,
    as_email: str | None = AsOption,
    as_json: bool = JsonOption,
) -> None:
    """Members and pending invitations (invitations only for owners, admins, the operator)."""
    with open_database() as db:
        found = get_tenant(db, tenant)
        actor = _actor(db, as_email)
        members = list_members(db, found.id, actor)
        try:
            pending = invitations.list_pending(db, found.id, actor)
        except PermissionDeniedError:
            pending = []
    if as_json:
        print_json(
            {
                "members": [m.to_json() for m in members],
                "invitations": [i.to_json() for i in pending],
            }
        )
        return
    table = Table(title=f"Members of {found.slug}")
    for column in ("email", "role", "joined", "last active"):
        table.add_column(column)
    for m in members:
        active = m.last_active.strftime("%Y-%m-%d %H:%M") if m.last_active else ""
        table.add_row(m.email, m.role.value, m.joined_at.strftime("%Y-%m-%d"), active)
    for i in pending:
        table.add_row(i.email, f"{i.role.value} (invited)", "", f"expires {i.expires_at:%Y-%m-%d}")
    console.print(table)


@app.command("set-role")
def set_role_(
    email: str = typer.Argument(..., help="The member's e-mail."),
    role: MemberRole = typer.Option(..., help="The new role."),
    tenant: str = TenantOption,
    as_email: str | None = AsOption,
    as_json: bool = JsonOption,
) -> None:
    """Change a member's role (the last owner cannot be demoted)."""
    with open_database() as db:
        found = get_tenant(db, tenant)
        previous = set_role(db, found.id, _actor(db, as_email), user_by_email(db, email), role)
    if as_json:
        print_json({"email": email, "from": previous.value, "to": role.value})
    else:
        console.print(f"{email}: {previous} -> {role}")


@app.command()
def remove(
    email: str = typer.Argument(..., help="The member's e-mail."),
    tenant: str = TenantOption,
    as_email: str | None = AsOption,
    as_json: bool = JsonOption,
) -> None:
    """Remove a member (the last owner cannot be removed)."""
    with open_database() as db:
        found = get_tenant(db, tenant)
        previous = remove_member(db, found.id, _actor(db, as_email), user_by_email(db, email))
    if as_json:
        print_json({"email": email, "removed": True, "role": previous.value})
    else:
        console.print(f"{email} ({previous}) removed from {found.slug}")


@app.command("leave")
def leave_(
    email: str = typer.Argument(..., help="The e-mail of the member who leaves."),
    tenant: str = TenantOption,
    as_json: bool = JsonOption,
) -> None:
    """Leave a tenant (the last owner cannot)."""
    with open_database() as db:
        found = get_tenant(db, tenant)
        previous = leave(db, found.id, user_by_email(db, email))
    if as_json:
        print_json({"email": email, "left": True, "role": previous.value})
    else:
        console.print(f"{email} ({previous}) left {found.slug}")
