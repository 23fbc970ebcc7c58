"""Retry rules of the Stripe gateway and the client-side pacer (fake clocks, no waiting)."""

from __future__ import annotations

from typing import Any

import pytest
import stripe

from tenancy.billing.errors import StripeTerminalError, StripeUnavailableError
from tenancy.billing.gateway import ReplayedError, StripeGateway
from tenancy.billing.settings import StripeSettings
from tenancy.billing.throttle import Throttle


class Clock:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def gateway(clock: Clock, tries: int = 4) -> StripeGateway:
    settings = StripeSettings(
        api_key="sk_test_x", api_base="http://127.0.0.1:9", max_tries=tries, requests_per_second=10
    )
    return StripeGateway(settings, Throttle(10, clock, clock.sleep), clock.sleep)


def failing(*errors: stripe.StripeError) -> Any:
    pending = list(errors)
    seen: list[dict[str, Any]] = []

    def fn(options: dict[str, Any]) -> str:
        seen.append(dict(options))
        if pending:
            raise pending.pop(0)
        return "ok"

    fn.seen = seen  # type: ignore[attr-defined]
    return fn


def test_the_pacer_spaces_requests_by_the_rate() -> None:
    clock = Clock()
    throttle = Throttle(4, clock, clock.sleep)
    for _ in range(5):
        throttle.acquire()
    assert clock.slept == [0.25, 0.25, 0.25, 0.25]


def test_transient_errors_retry_with_the_same_key_and_honour_retry_after() -> None:
    clock = Clock()
    fn = failing(
        stripe.RateLimitError("slow down", http_status=429, headers={"Retry-After": "3"}),
        stripe.APIConnectionError("reset"),
        stripe.APIError("boom", http_status=502),
    )
    assert gateway(clock).call("create invoice", fn, "invoice:1:create:a0") == "ok"
    assert [o["idempotency_key"] for o in fn.seen] == ["invoice:1:create:a0"] * 4
    assert 3.0 in clock.slept


def test_a_replayed_error_asks_for_a_read_and_a_new_key() -> None:
    clock = Clock()
    replayed = stripe.APIError("boom", http_status=500, headers={"Idempotent-Replayed": "true"})
    with pytest.raises(ReplayedError, match="replayed a stored 500"):
        gateway(clock).call("finalize invoice", failing(replayed), "invoice:1:finalize:a0")


def test_a_4xx_is_terminal_at_once() -> None:
    clock = Clock()
    fn = failing(
        stripe.InvalidRequestError("No such customer: 'cus_1'", "customer", http_status=404)
    )
    with pytest.raises(
        StripeTerminalError, match=r"Stripe refused create invoice .* 404 No such customer"
    ):
        gateway(clock).call("create invoice", fn, "invoice:1:create:a0")
    assert len(fn.seen) == 1


def test_transient_errors_past_the_budget_name_the_operation() -> None:
    clock = Clock()
    fn = failing(*[stripe.APIConnectionError("reset") for _ in range(5)])
    with pytest.raises(
        StripeUnavailableError, match="Stripe list invoices still failing after 3 tries"
    ):
        gateway(clock, tries=3).call("list invoices", fn)
