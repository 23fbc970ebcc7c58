"""Push one ledger invoice to Stripe, reconcile it line by line, and finalize it — exactly once.

Every mutating request carries a key derived from ledger ids and the attempt number kept in
the ledger (`<object>:<ledger id>:<what>:a<attempt>`), never a random one. The ledger records
each Stripe id as soon as it is known; a resumed run (after a crash, or after Stripe forgot
its keys at 24 h) first looks for its own objects through the consistent list endpoints — a
customer by email and `metadata.tenant_id`, an invoice by customer and `metadata.ledger_id`,
lines by `metadata.ledger_line_id` — and creates only what is missing. When Stripe replays a
stored error for a key, the attempt is bumped in the ledger and the push starts over from
those reads, so nothing is created twice.

`step(name, invoice_id)` is called at every boundary between two steps (the chaos test kills
the process there).
"""

from __future__ import annotations

import functools
import hashlib
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Any

from tenancy.billing import ledger
from tenancy.billing.errors import BillingError, StripeTerminalError, StripeUnavailableError
from tenancy.billing.gateway import ReplayedError, StripeGateway, metadata_of
from tenancy.billing.ledger import Invoice, LedgerLine
from tenancy.billing.reconcile import compare
from tenancy.db.session import Database
from tenancy.registry import get_tenant

#: Stripe accepts at most this many lines per add_lines request.
LINES_PER_REQUEST = 50
MAX_RESTARTS = 10
STEPS = (
    "frozen",
    "customer_created",
    "customer_recorded",
    "invoice_created",
    "invoice_recorded",
    "lines_added",
    "reconciled",
    "finalize_sent",
    "finalized",
)
StepHook = Callable[[str, uuid.UUID], None]


def _no_hook(step: str, invoice_id: uuid.UUID) -> None:
    return None


@dataclass
class PushResult:
    invoice_id: uuid.UUID
    status: str
    stripe_invoice_id: str | None
    differences: list[str] = field(default_factory=list)


@dataclass
class PushFailure:
    """An invoice whose push stopped on a billing error, or was not started because Stripe had
    become unavailable (`attempted` False); a rerun resumes it."""

    invoice_id: uuid.UUID
    error: BillingError
    attempted: bool = True

    def __str__(self) -> str:
        if not self.attempted:
            return f"invoice {self.invoice_id}: not attempted ({self.error})"
        return f"invoice {self.invoice_id}: {self.error}"


def _ts(day: date) -> int:
    return int(datetime.combine(day, time(), UTC).timestamp())


class InvoicePusher:
    """Push, reconcile and finalize ledger invoices through one `StripeGateway`."""

    def __init__(self, db: Database, gateway: StripeGateway, step: StepHook = _no_hook) -> None:
        self.db = db
        self.gateway = gateway
        self.stripe: Any = gateway.client.v1  # responses are read as Stripe objects
        self.step = step

    def push(self, invoice_id: uuid.UUID) -> PushResult:
        invoice = ledger.get_invoice(self.db, invoice_id)
        fresh = invoice.status == "draft"  # nobody has sent anything for it yet
        if invoice.status not in ("draft", "pushed"):
            return PushResult(invoice_id, invoice.status, invoice.stripe_invoice_id)
        if fresh:
            ledger.freeze(self.db, invoice_id)
            self.step("frozen", invoice_id)
        for _ in range(MAX_RESTARTS):
            try:
                return self._push(ledger.get_invoice(self.db, invoice_id), fresh)
            except ReplayedError as replayed:
                self._bump_attempt(invoice, replayed.operation)
                fresh = False
            except StripeTerminalError as refused:
                # Stripe may keep the refusal under this key for 24 h: once the cause is fixed
                # (a customer, a parameter), the rerun must not meet it again. A refused
                # request created nothing, and the rerun reads before it creates. Not so for a
                # key reused with other parameters: its first request did succeed (say, a
                # customer whose billing email changed since), so a new key could make a
                # second one; that stays refused until someone looks.
                if not refused.key_reused:
                    self._bump_attempt(invoice, refused.operation)
                raise
        raise BillingError(
            f"invoice {invoice_id}: Stripe replayed errors {MAX_RESTARTS} times in a row"
        )

    def _bump_attempt(self, invoice: Invoice, operation: str) -> None:
        if operation == "create customer":
            ledger.bump_attempt(self.db, "accounts", invoice.tenant_id)
        else:
            ledger.bump_attempt(self.db, "invoices", invoice.id)

    def push_all(
        self, invoice_ids: Sequence[uuid.UUID], workers: int
    ) -> tuple[list[PushResult], list[PushFailure]]:
        """Push every invoice, `workers` at a time. Stripe refusing one invoice stops only
        that invoice: the others go on, and the failures come back beside the results. Stripe
        unavailable past the retry budget stops the run from starting more (each would spend
        the whole budget again): those come back as not attempted. Anything else (the registry
        gone) stops the whole run."""
        unavailable: list[StripeUnavailableError] = []

        def one(invoice_id: uuid.UUID) -> PushResult | PushFailure:
            if unavailable:
                return PushFailure(invoice_id, unavailable[0], attempted=False)
            try:
                return self.push(invoice_id)
            except StripeUnavailableError as exc:
                unavailable.append(exc)
                return PushFailure(invoice_id, exc)
            except BillingError as exc:
                return PushFailure(invoice_id, exc)

        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            outcomes = list(pool.map(one, invoice_ids))
        return (
            [o for o in outcomes if isinstance(o, PushResult)],
            [o for o in outcomes if isinstance(o, PushFailure)],
        )

    def _push(self, invoice: Invoice, fresh: bool) -> PushResult:
        customer = self._customer(invoice)
        stripe_invoice = self._invoice(invoice, customer, fresh)
        lines = ledger.invoice_lines(self.db, invoice.id)
        if stripe_invoice["status"] == "draft":
            self._lines(
                invoice, stripe_invoice["id"], lines, fresh and invoice.stripe_invoice_id is None
            )
            self.step("lines_added", invoice.id)
        remote = self._remote_lines(stripe_invoice["id"])
        stripe_invoice = self.gateway.call(
            "retrieve invoice",
            lambda o: self.stripe.invoices.retrieve(stripe_invoice["id"], options=o),
        )
        tenant = get_tenant(self.db, invoice.tenant_id)
        differences = compare(tenant.slug, invoice, lines, remote, int(stripe_invoice["total"]))
        if differences:
            ledger.update_invoice(
                self.db,
                invoice.id,
                hold_reason="; ".join(differences),
                stripe_total_cents=int(stripe_invoice["total"]),
            )
            return PushResult(invoice.id, "held", stripe_invoice["id"], differences)
        if invoice.hold_reason:
            ledger.update_invoice(self.db, invoice.id, hold_reason=None)
        self.step("reconciled", invoice.id)
        if stripe_invoice["status"] == "draft":
            key = f"invoice:{invoice.id}:finalize:a{invoice.stripe_attempt}"
            stripe_invoice = self.gateway.call(
                "finalize invoice",
                lambda o: self.stripe.invoices.finalize_invoice(
                    stripe_invoice["id"], {"auto_advance": False}, o
                ),
                key,
            )
            self.step("finalize_sent", invoice.id)
        status = {
            "open": "finalized",
            "paid": "paid",
            "void": "void",
            "uncollectible": "uncollectible",
        }[stripe_invoice["status"]]
        ledger.update_invoice(
            self.db,
            invoice.id,
            status=status,
            stripe_total_cents=int(stripe_invoice["total"]),
            finalized_at=datetime.now(UTC),
        )
        self.step("finalized", invoice.id)
        return PushResult(invoice.id, status, stripe_invoice["id"])

    def _customer(self, invoice: Invoice) -> str:
        account = ledger.get_account(self.db, invoice.tenant_id)
        if account.stripe_customer_id:
            return account.stripe_customer_id
        tenant_id = str(invoice.tenant_id)
        found = [
            c.id
            for c in self.gateway.pages(
                "list customers",
                lambda p: self.stripe.customers.list({**p, "email": account.billing_email}),
            )
            if metadata_of(c).get("tenant_id") == tenant_id
        ]
        if found:
            customer_id = str(found[-1])  # the oldest, should two ever exist
        else:
            tenant = get_tenant(self.db, invoice.tenant_id)
            created = self.gateway.call(
                "create customer",
                lambda o: self.stripe.customers.create(
                    {
                        "email": account.billing_email,
                        "name": tenant.name,
                        "metadata": {"tenant_id": tenant_id, "slug": tenant.slug},
                    },
                    o,
                ),
                f"customer:{tenant_id}:create:a{account.stripe_attempt}",
            )
            customer_id = str(created.id)
            self.step("customer_created", invoice.id)
        ledger.set_customer(self.db, invoice.tenant_id, customer_id)
        self.step("customer_recorded", invoice.id)
        return customer_id

    def _invoice(self, invoice: Invoice, customer: str, fresh: bool) -> Any:
        if invoice.stripe_invoice_id:
            return self.gateway.call(
                "retrieve invoice",
                lambda o: self.stripe.invoices.retrieve(str(invoice.stripe_invoice_id), options=o),
            )
        ours = (
            []
            if fresh
            else [
                i
                for i in self.gateway.pages(
                    "list invoices",
                    lambda p: self.stripe.invoices.list({**p, "customer": customer}),
                )
                if metadata_of(i).get("ledger_id") == str(invoice.id)
            ]
        )
        if ours:
            found = ours[-1]  # the oldest; any younger one is a draft nobody recorded
            for extra in ours[:-1]:
                if extra.status == "draft":
                    self.gateway.call(
                        "delete orphan invoice",
                        functools.partial(self._delete, extra.id),
                        f"invoice:{invoice.id}:delete:{extra.id}",
                    )
        else:
            found = self.gateway.call(
                "create invoice",
                lambda o: self.stripe.invoices.create(
                    {
                        "customer": customer,
                        "auto_advance": False,
                        "collection_method": "send_invoice",
                        "days_until_due": 30,
                        "currency": invoice.currency,
                        "pending_invoice_items_behavior": "exclude",
                        "description": f"CodexOS usage {invoice.period_start:%Y-%m}",
                        "metadata": {
                            "tenant_id": str(invoice.tenant_id),
                            "period": invoice.period_start.isoformat(),
                            "ledger_id": str(invoice.id),
                        },
                    },
                    o,
                ),
                f"invoice:{invoice.id}:create:a{invoice.stripe_attempt}",
            )
            self.step("invoice_created", invoice.id)
        ledger.update_invoice(self.db, invoice.id, stripe_invoice_id=str(found.id))
        self.step("invoice_recorded", invoice.id)
        return found

    def _delete(self, stripe_invoice_id: str, options: Any) -> Any:
        return self.stripe.invoices.delete(stripe_invoice_id, options=options)

    def _add_lines(self, stripe_invoice_id: str, params: Any, options: Any) -> Any:
        return self.stripe.invoices.add_lines(stripe_invoice_id, params, options)

    def _remote_lines(self, stripe_invoice_id: str) -> list[Any]:
        return list(
            self.gateway.pages(
                "list invoice lines",
                lambda p: self.stripe.invoices.line_items.list(stripe_invoice_id, p),
            )
        )

    def _lines(
        self, invoice: Invoice, stripe_invoice_id: str, lines: list[LedgerLine], new: bool
    ) -> None:
        present = (
            set()
            if new
            else {
                metadata_of(line).get("ledger_line_id")
                for line in self._remote_lines(stripe_invoice_id)
            }
        )
        missing = [line for line in lines if str(line.id) not in present]
        for start in range(0, len(missing), LINES_PER_REQUEST):
            batch = missing[start : start + LINES_PER_REQUEST]
            digest = hashlib.sha256(",".join(str(b.id) for b in batch).encode()).hexdigest()[:16]
            params = {"lines": [_line_params(invoice, b) for b in batch]}
            self.gateway.call(
                "add invoice lines",
                functools.partial(self._add_lines, stripe_invoice_id, params),
                f"invoice:{invoice.id}:lines:{digest}:a{invoice.stripe_attempt}",
            )


def _line_params(invoice: Invoice, entry: LedgerLine) -> dict[str, Any]:
    line = entry.line
    metadata = {"ledger_line_id": str(entry.id), "code": line.code, "ledger_id": str(invoice.id)}
    if line.corrects_period:
        metadata["corrects_period"] = line.corrects_period.isoformat()
    return {
        "amount": line.amount_cents,
        "description": line.description,
        "period": {"start": _ts(line.period_start), "end": _ts(line.period_end)},
        "metadata": metadata,
    }
