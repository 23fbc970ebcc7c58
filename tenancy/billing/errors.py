"""Billing errors: terminal ones stop an invoice, transient ones are retried."""

from __future__ import annotations

from tenancy.errors import TenancyError


class BillingError(TenancyError):
    """Base of every billing error."""


class StripeTerminalError(BillingError):
    """Stripe refused a request for a reason a retry cannot fix (a 4xx other than 429)."""

    def __init__(
        self,
        operation: str,
        key: str,
        status: int | None,
        message: str,
        key_reused: bool = False,
    ) -> None:
        self.operation = operation
        self.key = key
        self.status = status
        #: Stripe's `idempotency_error`: a request with this key already succeeded with other
        #: parameters, so something may exist that this request would duplicate.
        self.key_reused = key_reused
        super().__init__(f"Stripe refused {operation} (idempotency key {key}): {status} {message}")


class StripeUnavailableError(BillingError):
    """Stripe kept failing with transient errors (network, 5xx, 429) past the retry budget."""

    def __init__(self, operation: str, attempts: int, last: str) -> None:
        self.operation = operation
        self.attempts = attempts
        super().__init__(f"Stripe {operation} still failing after {attempts} tries: {last}")


class ReconcileMismatchError(BillingError):
    """Stripe's invoice differs from the ledger; `differences` names tenant, line and amounts."""

    def __init__(self, differences: list[str]) -> None:
        self.differences = differences
        super().__init__("; ".join(differences))
