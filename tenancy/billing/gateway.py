"""Every Stripe request the project makes goes through here: paced, retried, keyed.

- Pacing: one `Throttle` per process (Stripe's 25/s test, 100/s live by default).
- Transient failures (network, timeouts, 5xx, 429, 409 key-in-use) are retried with
  exponential backoff that honours `Retry-After`, **with the same idempotency key**: if the
  first try executed, Stripe replays its result instead of doing it twice.
- Stripe stores the response of a request that began executing, errors included, and replays
  it for the same key (`Idempotent-Replayed: true`). A replayed error means the key is spent:
  `ReplayedError` is raised so the caller first reads what exists and then tries again with a
  new deterministic key (the attempt number kept in the ledger).
- Terminal failures (other 4xx, idempotency_error) raise `StripeTerminalError` at once.
The library's own retries are off (`max_network_retries=0`): it would retry 409/429 lock
timeouts by itself and hide replays from us.
"""

from __future__ import annotations

import functools
import random
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import stripe

from tenancy.billing.errors import StripeTerminalError, StripeUnavailableError
from tenancy.billing.settings import StripeSettings
from tenancy.billing.throttle import Throttle

T = TypeVar("T")


class ReplayedError(Exception):
    """Stripe replayed a stored error for this idempotency key: read, then use a new key."""

    def __init__(self, operation: str, key: str, status: int | None, code: str | None) -> None:
        self.operation = operation
        self.key = key
        self.status = status
        self.code = code
        super().__init__(
            f"{operation}: Stripe replayed a stored {status} {code or ''} for key {key}"
        )


def metadata_of(obj: Any) -> dict[str, str]:
    """A Stripe object's metadata as a plain dict (StripeObject is not a dict)."""
    raw = getattr(obj, "metadata", None)
    return {str(k): str(v) for k, v in raw.to_dict().items()} if raw else {}


def _header(error: stripe.StripeError, name: str) -> str | None:
    headers = error.headers or {}
    for key, value in headers.items():
        if key.lower() == name:
            return str(value)
    return None


def _ignore_options(
    fetch: Callable[[dict[str, Any]], Any], params: dict[str, Any], options: Any
) -> Any:
    return fetch(params)


class StripeGateway:
    """The `stripe` library's client with pacing and the retry rules above."""

    def __init__(
        self,
        settings: StripeSettings,
        throttle: Throttle | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.settings = settings
        self.throttle = throttle or Throttle(settings.requests_per_second)
        self._sleep = sleep
        base = {"api": settings.api_base} if settings.api_base else None
        self.client = stripe.StripeClient(
            settings.api_key,
            base_addresses=base,  # type: ignore[arg-type]
            max_network_retries=0,
            http_client=stripe.RequestsClient(timeout=settings.timeout_seconds),
        )
        self.requests = 0
        self._count = threading.Lock()
        self._rng = random.Random()  # noqa: S311 - backoff jitter

    def call(self, operation: str, fn: Callable[[dict[str, Any]], T], key: str | None = None) -> T:
        """Run `fn(options)` (one Stripe request) under the rules above; `key` is the
        idempotency key of a mutating request, None for reads."""
        options: Any = {"idempotency_key": key} if key else {}
        last = ""
        for attempt in range(1, self.settings.max_tries + 1):
            self.throttle.acquire()
            with self._count:
                self.requests += 1
            try:
                return fn(options)
            except stripe.StripeError as exc:
                status = exc.http_status
                code = exc.code
                if key and _header(exc, "idempotent-replayed") == "true":
                    raise ReplayedError(operation, key, status, code) from exc
                transient = (
                    isinstance(exc, stripe.APIConnectionError)
                    or status in (409, 429)
                    or (status is not None and status >= 500)
                )
                if isinstance(exc, stripe.IdempotencyError) or not transient:
                    raise StripeTerminalError(
                        operation,
                        key or "-",
                        status,
                        str(exc.user_message or exc),
                        key_reused=isinstance(exc, stripe.IdempotencyError),
                    ) from exc
                last = f"{status or 'network'} {code or type(exc).__name__}"
                self._sleep(self._delay(attempt, _header(exc, "retry-after")))
        raise StripeUnavailableError(operation, self.settings.max_tries, last)

    def _delay(self, attempt: int, retry_after: str | None) -> float:
        if retry_after:
            try:
                wait: float = float(retry_after)
                self.throttle.pause(wait)
                return wait
            except ValueError:
                pass
        ceiling = min(
            self.settings.backoff_max_seconds, self.settings.backoff_seconds * 2.0 ** (attempt - 1)
        )
        return ceiling / 2 + self._rng.uniform(0, ceiling / 2)

    def pages(self, operation: str, fetch: Callable[[dict[str, Any]], Any]) -> Iterator[Any]:
        """Every object of a list endpoint, page by page (each page a paced, retried read).
        `fetch(params)` gets the paging parameters to merge into its own."""
        after: str | None = None
        while True:
            params: dict[str, Any] = {"limit": 100}
            if after:
                params["starting_after"] = after
            page = self.call(operation, functools.partial(_ignore_options, fetch, params))
            yield from page.data
            if not page.has_more or not page.data:
                return
            after = page.data[-1].id
