"""A client-side request pacer shared by every thread that talks to Stripe.

Requests are spaced `1 / rate` seconds apart (no burst), so no one-second window ever holds
more than `rate` of them: Stripe's limiter, which counts per second, is not provoked.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class Throttle:
    def __init__(
        self,
        rate: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate <= 0:
            raise ValueError(f"rate is {rate!r}; expected requests per second > 0")
        self.interval = 1.0 / rate
        self._clock = clock
        self._sleep = sleep
        self._next = 0.0
        self._lock = threading.Lock()

    def acquire(self) -> None:
        """Wait for this caller's slot."""
        with self._lock:
            now = self._clock()
            slot = max(now, self._next)
            self._next = slot + self.interval
        if slot > now:
            self._sleep(slot - now)

    def pause(self, seconds: float) -> None:
        """Nobody sends for `seconds` (Stripe asked us to back off with Retry-After)."""
        with self._lock:
            self._next = max(self._next, self._clock() + seconds)
