"""Look a domain's challenge TXT record up and compare it with the stored token hash.

dnspython against the configured resolver, no cache (a removed record must show at the next
check). A timeout or a server failure is `error` (transient: the domain's state is not
changed); only an answer without the token (`mismatch`) or no record at all (`missing`)
counts against the domain.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import dns.exception
import dns.resolver

from tenancy.domain_names import challenge_name
from tenancy.domain_settings import DomainSettings
from tenancy.domain_tokens import token_matches


class CheckResult(StrEnum):
    MATCH = "match"
    MISMATCH = "mismatch"
    MISSING = "missing"
    ERROR = "error"


@dataclass(frozen=True)
class Check:
    result: CheckResult
    detail: str


def _resolver(settings: DomainSettings) -> dns.resolver.Resolver:
    if settings.resolver is None:
        resolver = dns.resolver.Resolver()
    else:
        resolver = dns.resolver.Resolver(configure=False)
        resolver.nameservers = [settings.resolver.address]
        resolver.port = settings.resolver.port
    resolver.cache = None
    resolver.lifetime = settings.timeout_seconds
    resolver.timeout = settings.timeout_seconds
    return resolver


def txt_values(name: str, settings: DomainSettings) -> list[bytes]:
    """Every TXT record at `name`, each record's strings joined (RFC 7208 style)."""
    answer = _resolver(settings).resolve(name, "TXT", search=False)
    return [b"".join(record.strings) for record in answer]


def check_token(domain: str, token_sha256: bytes, settings: DomainSettings) -> Check:
    """Whether any TXT record at `_codexos-challenge.<domain>` holds the token."""
    name = challenge_name(domain)
    try:
        values = txt_values(name, settings)
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        return Check(CheckResult.MISSING, f"no TXT record at {name}")
    except (dns.resolver.NoNameservers, dns.exception.Timeout) as exc:
        return Check(CheckResult.ERROR, f"{name}: resolver failed: {exc}")
    except dns.exception.DNSException as exc:
        return Check(CheckResult.ERROR, f"{name}: {type(exc).__name__}: {exc}")
    if any(token_matches(value, token_sha256) for value in values):
        return Check(CheckResult.MATCH, f"token found at {name}")
    return Check(
        CheckResult.MISMATCH, f"{len(values)} TXT record(s) at {name}, none holds the token"
    )
