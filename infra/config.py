"""The only place that reads `pulumi.Config`: stack config into validated `TenantStackArgs`."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from infra.args import NAMESPACE, TenantStackArgs
from infra.args_parsing import parse_stack_config
from infra.platform_args import PLATFORM_STACK, PlatformArgs, parse_platform_config
from infra.providers import ClusterAccess
from tenancy.plans import default_catalog

#: Keys read from the `tenancy` namespace (all plain text; the one secret is read separately).
CONFIG_KEYS = (
    "tenantId",
    "slug",
    "plan",
    "status",
    "domain",
    "platformAdminArn",
    "deployerArn",
    "accountId",
    "oidcProviderArn",
    "ingressNamespace",
    "acmeIssuer",
    "ingressClass",
    "webWorkload",
    "platformStack",
    "redisMode",
    "redisCluster",
    "elasticacheUserGroupId",
)
#: Keys of the `platform` stack (plain text; lists read as objects).
PLATFORM_KEYS = (
    "sharedBucket",
    "platformAdminArn",
    "deployerArn",
    "vpcId",
    "acmeEmail",
    "grafanaNamespace",
)
PLATFORM_LISTS = (
    "routeTableIds",
    "endpointSubnetIds",
    "endpointSubnetCidrs",
    "endpointSecurityGroupIds",
)


@dataclass(frozen=True)
class PlatformConfig:
    args: PlatformArgs
    cluster: ClusterAccess


@dataclass(frozen=True)
class StackConfig:
    args: TenantStackArgs
    redis_admin_url: pulumi.Output[str]
    cluster: ClusterAccess


def load() -> StackConfig:
    cfg = pulumi.Config(NAMESPACE)
    values: dict[str, object] = {k: cfg.get(k) for k in CONFIG_KEYS}
    values["egressCidrs"] = cfg.get_object("egressCidrs")
    values["verifiedDomains"] = cfg.get_object("verifiedDomains")
    values["egressServices"] = cfg.get_object("egressServices")
    values["workloads"] = cfg.get_object("workloads")
    args = parse_stack_config(
        pulumi.get_stack(), values, default_catalog(), pulumi.Config("aws").get("region")
    )
    cluster = ClusterAccess(kubeconfig=cfg.get("kubeconfig"), context=cfg.get("kubeContext"))
    return StackConfig(args, cfg.require_secret("redisAdminUrl"), cluster)


def load_platform() -> PlatformConfig:
    cfg = pulumi.Config(NAMESPACE)
    values: dict[str, object] = {k: cfg.get(k) for k in PLATFORM_KEYS}
    values |= {k: cfg.get_object(k) for k in PLATFORM_LISTS}
    values["dagster"] = cfg.get_object("dagster")
    args = parse_platform_config(values, pulumi.Config("aws").get("region"))
    cluster = ClusterAccess(kubeconfig=cfg.get("kubeconfig"), context=cfg.get("kubeContext"))
    return PlatformConfig(args, cluster)


def is_platform_stack() -> bool:
    return pulumi.get_stack() == PLATFORM_STACK
