"""Stripe settings from the environment, read when asked for (never at import time)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from tenancy.errors import ConfigurationError

KEY_VARS = ("TENANCY_STRIPE_API_KEY", "STRIPE_API_KEY")
BASE_VAR = "TENANCY_STRIPE_API_BASE"
RATE_VAR = "TENANCY_STRIPE_REQUESTS_PER_SECOND"
#: Stripe's documented limits: 25 requests/s in test mode, 100/s live.
TEST_MODE_RATE = 25.0
LIVE_RATE = 100.0
#: The key the local profile uses with the emulator (it accepts any `sk_` key).
LOCAL_KEY = "sk_test_local_emulator"


@dataclass(frozen=True)
class StripeSettings:
    """How to reach Stripe: key, base address (None = api.stripe.com) and client behaviour."""

    api_key: str
    api_base: str | None = None
    requests_per_second: float = TEST_MODE_RATE
    timeout_seconds: float = 30.0
    max_tries: int = 8
    backoff_seconds: float = 0.5
    backoff_max_seconds: float = 20.0

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, local_api_base: str | None = None
    ) -> StripeSettings:
        """The configured Stripe. Without a key, the local profile's emulator at
        `local_api_base` if given; otherwise an error naming the variables."""
        env = os.environ if environ is None else environ
        key = next((env[name] for name in KEY_VARS if env.get(name)), "")
        base = env.get(BASE_VAR) or None
        if not key:
            if local_api_base is None:
                raise ConfigurationError(
                    f"no Stripe API key: set {KEY_VARS[0]} (or {KEY_VARS[1]}) to an sk_live_ or "
                    f"sk_test_ key; only the local profile runs without one"
                )
            key, base = LOCAL_KEY, base or local_api_base
        if not key.startswith(("sk_", "rk_")):
            raise ConfigurationError(
                f"{KEY_VARS[0]} starts with {key[:3]!r}; expected a secret key (sk_test_... or sk_live_...)"
            )
        default_rate = LIVE_RATE if key.startswith(("sk_live_", "rk_live_")) else TEST_MODE_RATE
        raw_rate = env.get(RATE_VAR)
        try:
            rate = float(raw_rate) if raw_rate else default_rate
        except ValueError:
            raise ConfigurationError(f"{RATE_VAR} is {raw_rate!r}; expected a number > 0") from None
        if rate <= 0:
            raise ConfigurationError(f"{RATE_VAR} is {raw_rate!r}; expected a number > 0")
        return cls(api_key=key, api_base=base, requests_per_second=rate)
