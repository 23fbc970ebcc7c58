"""`PlatformArgs`: the validated inputs of the `platform` stack (shared bucket, VPC endpoints).

Pure Python like `infra.args_parsing`, so bad config is caught and tested without an engine.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from infra.args import NAMESPACE
from infra.dagster_deployment import DagsterK8sProfile, DagsterProfileError
from infra.errors import StackConfigError

PLATFORM_STACK = "platform"
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_ROLE_ARN = re.compile(r"arn:aws:iam::(\d{12}):(role|user)/[\w+=,.@/-]+")
_VPC = re.compile(r"vpc-[0-9a-f]{8,17}")
_ROUTE_TABLE = re.compile(r"rtb-[0-9a-f]{8,17}")
_SUBNET = re.compile(r"subnet-[0-9a-f]{8,17}")
_SECURITY_GROUP = re.compile(r"sg-[0-9a-f]{8,17}")
_REGION = re.compile(r"[a-z]{2}(-gov)?-[a-z]+-\d")
#: AWS APIs tenant pods reach through interface endpoints (IRSA's STS and the tenant key).
INTERFACE_SERVICES = ("sts", "kms")

_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_K8S_NAME = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")


@dataclass(frozen=True)
class PlatformArgs:
    region: str
    shared_bucket: str
    platform_admin_arn: str
    deployer_arn: str
    vpc_id: str
    route_table_ids: tuple[str, ...]
    endpoint_subnet_ids: tuple[str, ...]
    endpoint_subnet_cidrs: tuple[str, ...]
    endpoint_security_group_ids: tuple[str, ...]
    #: ACME account contact of the platform's ClusterIssuers (Let's Encrypt's expiry notices).
    acme_email: str
    #: Where the Grafana sidecar looks for dashboard ConfigMaps.
    grafana_namespace: str = "monitoring"
    #: The Dagster-on-Kubernetes profile (`tenancy:dagster`); None: Dagster runs elsewhere.
    dagster: DagsterK8sProfile | None = None

    @property
    def account_id(self) -> str:
        return self.platform_admin_arn.split(":")[4]

    @property
    def account_root_arn(self) -> str:
        return f"arn:aws:iam::{self.account_id}:root"

    @property
    def key_admin_arns(self) -> list[str]:
        return list(dict.fromkeys((self.platform_admin_arn, self.deployer_arn)))

    @property
    def tags(self) -> dict[str, str]:
        return {"component": "platform", "managed-by": "codexos-tenancy"}


def parse_platform_config(values: Mapping[str, Any], region: str | None) -> PlatformArgs:
    """Build args from `tenancy:*` config values of the `platform` stack."""
    stack = PLATFORM_STACK

    def key(name: str) -> str:
        return f"{NAMESPACE}:{name}"

    def matching(name: str, pattern: re.Pattern[str], expected: str) -> str:
        value = values.get(name)
        if not isinstance(value, str) or not pattern.fullmatch(value):
            raise StackConfigError(stack, key(name), value, expected)
        return value

    def ids(
        name: str, pattern: re.Pattern[str], expected: str, *, required: bool
    ) -> tuple[str, ...]:
        raw = values.get(name) or []
        if not isinstance(raw, list) or (required and not raw):
            raise StackConfigError(stack, key(name), raw or None, f"a list of {expected}")
        for index, item in enumerate(raw):
            if not isinstance(item, str) or not pattern.fullmatch(item):
                raise StackConfigError(stack, f"{key(name)}[{index}]", item, expected)
        return tuple(raw)

    if region is None or not _REGION.fullmatch(region):
        raise StackConfigError(stack, "aws:region", region, "an AWS region such as eu-west-1")
    admin = matching("platformAdminArn", _ROLE_ARN, "arn:aws:iam::<account>:role/<name>")
    deployer = matching(
        "deployerArn", _ROLE_ARN, "arn:aws:iam::<account>:role/<name> or :user/<name>"
    )
    cidrs = values.get("endpointSubnetCidrs") or []
    if not isinstance(cidrs, list) or not cidrs:
        raise StackConfigError(stack, key("endpointSubnetCidrs"), cidrs or None, "a list of CIDRs")
    for index, cidr in enumerate(cidrs):
        try:
            ipaddress.ip_network(cidr, strict=True)
        except (TypeError, ValueError):
            raise StackConfigError(
                stack,
                f"{key('endpointSubnetCidrs')}[{index}]",
                cidr,
                "a CIDR such as 10.40.20.0/24",
            ) from None
    return PlatformArgs(
        region=region,
        shared_bucket=matching("sharedBucket", _BUCKET, "an S3 bucket name"),
        platform_admin_arn=admin,
        deployer_arn=deployer,
        vpc_id=matching("vpcId", _VPC, "a VPC id such as vpc-0abc12345"),
        route_table_ids=ids(
            "routeTableIds", _ROUTE_TABLE, "route table ids (rtb-...)", required=True
        ),
        endpoint_subnet_ids=ids(
            "endpointSubnetIds", _SUBNET, "subnet ids (subnet-...)", required=True
        ),
        endpoint_subnet_cidrs=tuple(cidrs),
        endpoint_security_group_ids=ids(
            "endpointSecurityGroupIds",
            _SECURITY_GROUP,
            "security group ids (sg-...)",
            required=False,
        ),
        acme_email=matching("acmeEmail", _EMAIL, "an e-mail address such as ops@example.com"),
        grafana_namespace=matching(
            "grafanaNamespace", _K8S_NAME, "a Kubernetes namespace name such as monitoring"
        )
        if values.get("grafanaNamespace") is not None
        else "monitoring",
        dagster=parse_dagster_profile(values.get("dagster")),
    )


#: `tenancy:dagster` keys (camelCase, as Pulumi config is written) -> profile fields.
DAGSTER_KEYS = {
    "imageRepository": "image_repository",
    "imageTag": "image_tag",
    "postgresHost": "postgres_host",
    "postgresDatabase": "postgres_database",
    "postgresUser": "postgres_user",
    "postgresPort": "postgres_port",
    "postgresSecret": "postgres_secret",
    "jobNamespace": "job_namespace",
    "maxConcurrentRuns": "max_concurrent_runs",
}


def parse_dagster_profile(raw: Any) -> DagsterK8sProfile | None:
    """`tenancy:dagster`: {imageRepository, imageTag, postgresHost, ...}, or unset."""
    name = f"{NAMESPACE}:dagster"
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        raise StackConfigError(PLATFORM_STACK, name, raw, "a mapping of the Dagster profile")
    unknown = sorted(set(raw) - set(DAGSTER_KEYS))
    if unknown:
        raise StackConfigError(
            PLATFORM_STACK,
            f"{name}.{unknown[0]}",
            raw[unknown[0]],
            f"one of {sorted(DAGSTER_KEYS)}",
        )
    try:
        return DagsterK8sProfile(**{DAGSTER_KEYS[k]: v for k, v in raw.items()})
    except TypeError as exc:  # a required key missing
        raise StackConfigError(
            PLATFORM_STACK, name, dict(raw), "imageRepository, imageTag and postgresHost at least"
        ) from exc
    except DagsterProfileError as exc:
        key = next((k for k, v in DAGSTER_KEYS.items() if v == exc.setting), exc.setting)
        raise StackConfigError(PLATFORM_STACK, f"{name}.{key}", exc.value, exc.expected) from exc
