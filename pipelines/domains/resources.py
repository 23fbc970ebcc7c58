"""The settings the domain checks run with."""

from __future__ import annotations

from datetime import timedelta

import dagster as dg

from tenancy.domain_settings import DomainSettings, parse_resolver


class DomainCheckSettings(dg.ConfigurableResource):  # type: ignore[type-arg]
    """Resolver (`host:port`) and grace period; empty means TENANCY_DNS_RESOLVER and
    TENANCY_DOMAIN_GRACE_HOURS (see tenancy/domain_settings.py)."""

    resolver: str = ""
    grace_hours: float = 0.0

    def settings(self) -> DomainSettings:
        settings = DomainSettings.from_env()
        if self.resolver:
            settings = DomainSettings(
                settings.platform_domains,
                parse_resolver(self.resolver),
                settings.timeout_seconds,
                settings.grace,
            )
        if self.grace_hours > 0:
            settings = DomainSettings(
                settings.platform_domains,
                settings.resolver,
                settings.timeout_seconds,
                timedelta(hours=self.grace_hours),
            )
        return settings
