"""Payment state flowing back from Stripe: invoice events read from a stored cursor.

The events list is read by creation time (`created[gte]` of the cursor), oldest first; ids
already applied at the cursor's second are remembered in the cursor, so an event is applied
once even when several share a second. Applying is idempotent anyway (it sets a status).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tenancy.billing import ledger
from tenancy.billing.gateway import StripeGateway
from tenancy.db.session import Database
from tenancy.plans import PlanCatalog

EVENT_TYPES = tuple(ledger.PAYMENT_STATUSES)


@dataclass
class EventCursor:
    created: int = 0
    seen: list[str] = field(default_factory=list)

    @classmethod
    def parse(cls, raw: str | None) -> EventCursor:
        if not raw:
            return cls()
        data = json.loads(raw)
        return cls(int(data["created"]), list(data["seen"]))

    def dump(self) -> str:
        return json.dumps({"created": self.created, "seen": self.seen})


@dataclass
class PollResult:
    applied: list[tuple[str, str]]  # (event type, stripe invoice id)
    ignored: int
    cursor: EventCursor


def poll(
    gateway: StripeGateway, db: Database, catalog: PlanCatalog, cursor: EventCursor
) -> PollResult:
    """Apply every payment event after `cursor` to the ledger; returns the new cursor."""
    v1: Any = gateway.client.v1
    events = list(
        gateway.pages(
            "list events",
            lambda p: v1.events.list(
                {**p, "types": list(EVENT_TYPES), "created": {"gte": cursor.created}}
            ),
        )
    )
    events.sort(key=lambda e: (int(e.created), str(e.id)))
    grace = {plan.name: plan.pricing.payment_grace_days for plan in catalog}
    applied: list[tuple[str, str]] = []
    ignored = 0
    created, seen = cursor.created, list(cursor.seen)
    for event in events:
        if int(event.created) == cursor.created and event.id in cursor.seen:
            continue
        invoice_id = str(event.data.object.id)
        at = datetime.fromtimestamp(int(event.created), UTC)
        if ledger.apply_payment_event(db, str(event.type), invoice_id, at, grace) is None:
            ignored += 1
        else:
            applied.append((str(event.type), invoice_id))
        if int(event.created) > created:
            created, seen = int(event.created), []
        seen.append(str(event.id))
    return PollResult(applied, ignored, EventCursor(created, seen))
