"""Domain settings outside the local profile: every missing setting named, resolvers parsed."""

from __future__ import annotations

import pytest

from tenancy.domain_settings import DomainSettings, Resolver, parse_resolver
from tenancy.errors import ConfigurationError


def test_settings_outside_the_local_profile() -> None:
    with pytest.raises(ConfigurationError, match="TENANCY_PLATFORM_DOMAINS is not set"):
        DomainSettings.from_env({"TENANCY_PROFILE": "production"})
    with pytest.raises(ConfigurationError, match="TENANCY_DNS_RESOLVER is not set"):
        DomainSettings.from_env(
            {"TENANCY_PROFILE": "production", "TENANCY_PLATFORM_DOMAINS": "codexos.example"}
        )
    assert parse_resolver("127.0.0.1:5353") == Resolver("127.0.0.1", 5353)
    assert parse_resolver("[::1]:53") == Resolver("::1", 53)
    with pytest.raises(ConfigurationError, match=r"TENANCY_DNS_RESOLVER is 'dns\.example:53'"):
        parse_resolver("dns.example:53")
