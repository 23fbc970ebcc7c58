"""Owner notifications: written to the outbox in the transaction of the change they announce.

Writing the message with the state change means neither can exist without the other: a
suspension that rolls back sends nothing, and one that commits has its message waiting even
if the mail server is down. `tenancy.notification_sender` delivers the outbox.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from tenancy.db.session import Connection
from tenancy.lifecycle import Transition
from tenancy.tenant import Tenant

#: The transitions owners hear about, and the outbox kind each becomes. Legal holds and plan
#: changes are not announced from here (a hold may be confidential; billing announces plans).
KINDS: dict[Transition, str] = {
    Transition.SUSPEND: "suspended",
    Transition.REACTIVATE: "reactivated",
    Transition.DELETE: "deleted",
    Transition.RESTORE: "restored",
    Transition.PURGE: "purged",
}
EXPORT_READY = "export_ready"
MESSAGE_DOMAIN = "notifications.codexos.invalid"

_SUBJECTS = {
    "suspended": "Your CodexOS workspace {slug} is suspended",
    "reactivated": "Your CodexOS workspace {slug} is active again",
    "deleted": "Your CodexOS workspace {slug} was deleted",
    "restored": "Your CodexOS workspace {slug} was restored",
    "purged": "Your CodexOS workspace {slug} was permanently deleted",
    "export_ready": "The export of your CodexOS workspace {slug} is ready",
    "domain_token": "Prove that {domain} is yours to use it with CodexOS workspace {slug}",
}
_BODIES = {
    "suspended": "Requests and agents of {slug} are stopped. Reason: {reason}\n",
    "reactivated": "Requests and agents of {slug} run again.\n",
    "deleted": (
        "{slug} was deleted. It can be restored until {restorable_until}; after that its data "
        "is permanently deleted. Reason: {reason}\n"
    ),
    "restored": "{slug} was restored and its data kept.\n",
    "purged": "All data of {slug} was permanently deleted and its encryption key destroyed.\n",
    "export_ready": "The export of {slug} is at {location} (manifest SHA-256 {manifest_sha256}).\n",
    "domain_token": (
        "Publish this TXT record, then run `tenancy domains verify` (or wait for the hourly "
        'check):\n\n  {record}  TXT  "{token}"\n\nThe token is valid until {expires} and '
        "proves this claim only. Keep the record: the domain stays yours while it is there.\n"
    ),
}


def owner_addresses(conn: Connection, tenant_id: uuid.UUID) -> list[str]:
    rows = conn.execute(
        "SELECT u.email FROM registry.user_tenants m JOIN registry.users u ON u.id = m.user_id "
        "WHERE m.tenant_id = %s AND m.role = 'owner' ORDER BY u.email",
        (tenant_id,),
    ).fetchall()
    return [str(r["email"]) for r in rows]


def enqueue(
    conn: Connection, tenant: Tenant, kind: str, details: dict[str, Any], now: datetime
) -> int:
    """One outbox row per owner of `tenant`, in the caller's transaction; returns how many."""
    values = {"slug": tenant.slug, "reason": "", **{k: str(v) for k, v in details.items()}}
    subject = _SUBJECTS[kind].format_map(values)
    body = _BODIES[kind].format_map(values)
    recipients = owner_addresses(conn, tenant.id)
    for recipient in recipients:
        enqueue_message(conn, tenant.id, kind, recipient, subject, body, now)
    return len(recipients)


def enqueue_message(
    conn: Connection,
    tenant_id: uuid.UUID,
    kind: str,
    recipient: str,
    subject: str,
    body: str,
    now: datetime,
) -> None:
    """One outbox row for one recipient, in the caller's transaction."""
    conn.execute(
        "INSERT INTO registry.notification_outbox (tenant_id, kind, recipient, subject, body, "
        "message_id, created_at, next_attempt_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
        (tenant_id, kind, recipient, subject, body, f"<{uuid.uuid4()}@{MESSAGE_DOMAIN}>", now, now),
    )


def notify_owners(
    conn: Connection,
    tenant: Tenant,
    transition: Transition,
    details: dict[str, Any],
    now: datetime,
) -> int:
    """Queue the message `transition` sends to the tenant's owners, if it sends one."""
    kind = KINDS.get(transition)
    return 0 if kind is None else enqueue(conn, tenant, kind, details, now)
