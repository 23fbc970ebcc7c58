"""The only place that reads `pulumi.Config`: stack config into validated `TenantStackArgs`."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from infra.args import NAMESPACE, TenantStackArgs, parse_stack_config
from infra.providers import ClusterAccess
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
    "deployerArn",
    "accountId",
    "oidcProviderArn",
    "ingressNamespace",
)


@dataclass(frozen=True)
class StackConfig:
    args: TenantStackArgs
    redis_admin_url: pulumi.Output[str]
    cluster: ClusterAccess


def load() -> StackConfig:
    cfg = pulumi.Config(NAMESPACE)
    values: dict[str, object] = {k: cfg.get(k) for k in CONFIG_KEYS}
    values["egressServices"] = cfg.get_object("egressServices")
    args = parse_stack_config(
        pulumi.get_stack(), values, default_catalog(), pulumi.Config("aws").get("region")
    )
    cluster = ClusterAccess(kubeconfig=cfg.get("kubeconfig"), context=cfg.get("kubeContext"))
    return StackConfig(args, cfg.require_secret("redisAdminUrl"), cluster)
