"""Settings of custom domains: the platform's own domains, the resolver, the grace period.

Read when asked for. Outside the local profile the platform domains and the resolver must be
configured; the local profile falls back to `codexos.example` and the system's resolver.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

from tenancy.domain_names import normalise_domain
from tenancy.errors import ConfigurationError
from tenancy.settings import Settings

PLATFORM_DOMAINS_VAR = "TENANCY_PLATFORM_DOMAINS"
RESOLVER_VAR = "TENANCY_DNS_RESOLVER"
TIMEOUT_VAR = "TENANCY_DNS_TIMEOUT_SECONDS"
GRACE_VAR = "TENANCY_DOMAIN_GRACE_HOURS"
RELEASE_HOLD_VAR = "TENANCY_DOMAIN_RELEASE_HOLD_HOURS"
LOCAL_PLATFORM_DOMAIN = "codexos.example"
TOKEN_LIFETIME = timedelta(days=7)


@dataclass(frozen=True)
class Resolver:
    """A nameserver to ask; None in `DomainSettings.resolver` means the system's."""

    address: str
    port: int = 53


@dataclass(frozen=True)
class DomainSettings:
    platform_domains: tuple[str, ...]
    resolver: Resolver | None
    timeout_seconds: float = 5.0
    grace: timedelta = timedelta(hours=72)
    #: After a tenant lets a name go, how long before another tenant's proof counts: time for
    #: the deploy to take the previous tenant's route down first.
    release_hold: timedelta = timedelta(hours=24)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> DomainSettings:
        settings = Settings.from_env(environ)
        env = settings.extra or {}
        raw_domains = env.get(PLATFORM_DOMAINS_VAR)
        if raw_domains is None:
            settings.require_local(
                PLATFORM_DOMAINS_VAR, "the platform's own domains, comma-separated"
            )
            raw_domains = LOCAL_PLATFORM_DOMAIN
        domains = tuple(
            normalise_domain(d, PLATFORM_DOMAINS_VAR) for d in raw_domains.split(",") if d.strip()
        )
        raw_resolver = env.get(RESOLVER_VAR)
        resolver = None
        if raw_resolver is None:
            settings.require_local(RESOLVER_VAR, "the DNS resolver that checks tokens, host[:port]")
        else:
            resolver = parse_resolver(raw_resolver)
        return cls(
            platform_domains=domains,
            resolver=resolver,
            timeout_seconds=_positive(env, TIMEOUT_VAR, 5.0),
            grace=timedelta(hours=_positive(env, GRACE_VAR, 72.0)),
            release_hold=timedelta(hours=_positive(env, RELEASE_HOLD_VAR, 24.0)),
        )


def parse_resolver(value: str) -> Resolver:
    """`192.0.2.53`, `192.0.2.53:5353` or `[2001:db8::53]:5353`."""
    host, port = value.strip(), "53"
    if host.startswith("["):
        host, _, rest = host[1:].partition("]")
        port = rest.removeprefix(":") or "53"
    elif host.count(":") == 1:
        host, port = host.split(":")
    try:
        ipaddress.ip_address(host)
        number = int(port)
        if not 0 < number < 65536:
            raise ValueError(port)
    except ValueError:
        raise ConfigurationError(
            f"{RESOLVER_VAR} is {value!r}; expected a resolver's IP address and optional port, "
            "such as 127.0.0.1:5353"
        ) from None
    return Resolver(host, number)


def _positive(env: Mapping[str, str], variable: str, default: float) -> float:
    raw = env.get(variable)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if value <= 0:
        raise ConfigurationError(f"{variable} is {raw!r}; expected a number > 0")
    return value
