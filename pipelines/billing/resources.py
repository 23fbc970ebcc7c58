"""Stripe for the pipeline: configured, or in the local profile the emulator it starts."""

from __future__ import annotations

import os

import dagster as dg

from pipelines.resources import run_dir
from tenancy.billing.gateway import StripeGateway
from tenancy.billing.settings import BASE_VAR, KEY_VARS, RATE_VAR, StripeSettings
from tenancy.devstack.stripe_local import local_stripe_url
from tenancy.settings import Settings


class StripeResource(dg.ConfigurableResource):  # type: ignore[type-arg]
    """Stripe's API. Empty fields mean: TENANCY_STRIPE_API_KEY / STRIPE_API_KEY and
    TENANCY_STRIPE_API_BASE from the environment; with neither set and the local profile in
    use (no TENANCY_DATABASE_URL), the local Stripe emulator; otherwise an error naming the
    variable."""

    api_key: str = ""
    api_base: str = ""
    requests_per_second: float = 0.0
    concurrency: int = 4

    def settings(self) -> StripeSettings:
        env = dict(os.environ)
        if self.api_key:
            env.update({KEY_VARS[0]: self.api_key, BASE_VAR: self.api_base})
        if self.requests_per_second:
            env[RATE_VAR] = str(self.requests_per_second)
        configured = any(env.get(name) for name in KEY_VARS)
        local = not configured and Settings.from_env().local
        return StripeSettings.from_env(
            env, local_api_base=local_stripe_url(run_dir()) if local else None
        )

    def gateway(self) -> StripeGateway:
        return StripeGateway(self.settings())
