"""How a request names its tenant. Pluggable: by host (a tenant's own domain, or
`<slug>.<platform domain>`), or by a header that the authentication layer in front sets
(after verifying the token whose claim it copies). Each resolver returns a lookup key
(`("id" | "slug" | "domain", value)`) or None when the request names no tenant."""

from __future__ import annotations

from collections.abc import MutableMapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

Scope = MutableMapping[str, Any]


class TenantResolver(Protocol):
    def __call__(self, scope: Scope) -> tuple[str, str] | None: ...


def header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return str(value.decode("latin-1"))
    return None


@dataclass(frozen=True)
class HostResolver:
    """`acme.<platform_domain>` -> slug `acme`; any other host -> the tenant holding it as a
    proven custom domain."""

    platform_domain: str

    def __call__(self, scope: Scope) -> tuple[str, str] | None:
        host = (header(scope, b"host") or "").split(":", 1)[0].lower().rstrip(".")
        if not host or host == self.platform_domain:
            return None
        suffix = "." + self.platform_domain
        if host.endswith(suffix):
            slug = host[: -len(suffix)]
            return ("slug", slug) if slug and "." not in slug else None
        return ("domain", host)


@dataclass(frozen=True)
class HeaderResolver:
    """The tenant id from a header the authentication layer sets (default `x-tenant-id`).
    The edge must strip this header from client requests; only the auth layer may set it."""

    name: str = "x-tenant-id"

    def __call__(self, scope: Scope) -> tuple[str, str] | None:
        value = header(scope, self.name.lower().encode("latin-1"))
        return ("id", value) if value else None


@dataclass(frozen=True)
class FirstOf:
    """The first resolver that names a tenant."""

    resolvers: Sequence[TenantResolver]

    def __call__(self, scope: Scope) -> tuple[str, str] | None:
        for resolve in self.resolvers:
            if (found := resolve(scope)) is not None:
                return found
        return None
