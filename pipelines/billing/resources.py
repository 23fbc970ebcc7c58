"""Stripe for the pipeline: configured, or in the local profile the emulator it starts."""

from __future__ import annotations

import dagster as dg

from pipelines.resources import run_dir
from tenancy.billing.gateway import StripeGateway
from tenancy.billing.settings import StripeSettings
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
        if self.api_key:
            base = StripeSettings(api_key=self.api_key, api_base=self.api_base or None)
        else:
            local = Settings.from_env().uses_local_registry
            base = StripeSettings.from_env(
                local_api_base=local_stripe_url(run_dir()) if local else None
            )
        if self.requests_per_second:
            base = StripeSettings(
                api_key=base.api_key,
                api_base=base.api_base,
                requests_per_second=self.requests_per_second,
            )
        return base

    def gateway(self) -> StripeGateway:
        return StripeGateway(self.settings())
