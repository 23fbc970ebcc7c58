"""The only place that reads `pulumi.Config`: stack config into validated `TenantStackArgs`."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from infra.args import NAMESPACE, TenantStackArgs, parse_stack_config
from tenancy.plans import default_catalog

#: Keys read from the `tenancy` namespace (all plain text; the one secret is read separately).
CONFIG_KEYS = (
    "tenantId",
    "slug",
    "plan",
    "status",
    "domain",
    "sharedBucket",
    "platformAdminArn",
    "oidcProviderArn",
    "ingressNamespace",
    "acmeIssuer",
    "ingressClass",
)


@dataclass(frozen=True)
class StackConfig:
    args: TenantStackArgs
    redis_admin_url: pulumi.Output[str]


def load() -> StackConfig:
    cfg = pulumi.Config(NAMESPACE)
    values: dict[str, object] = {k: cfg.get(k) for k in CONFIG_KEYS}
    values["egressCidrs"] = cfg.get_object("egressCidrs")
    values["verifiedDomains"] = cfg.get_object("verifiedDomains")
    args = parse_stack_config(
        pulumi.get_stack(), values, default_catalog(), pulumi.Config("aws").get("region")
    )
    return StackConfig(args, cfg.require_secret("redisAdminUrl"))
