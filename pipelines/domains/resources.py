"""The settings the domain checks run with."""

from __future__ import annotations

from dataclasses import replace
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
            settings = replace(settings, resolver=parse_resolver(self.resolver))
        if self.grace_hours > 0:
            settings = replace(settings, grace=timedelta(hours=self.grace_hours))
        return settings
