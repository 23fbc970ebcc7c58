"""Reading `tenancy:*` stack config values into `TenantStackArgs`, each value checked.

Pure Python (no Pulumi import), so bad config is caught and tested without an engine; every
refusal is a `StackConfigError` naming the stack, the key, the value and what was expected.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from typing import Any

from infra.args import (
    ACME_ISSUERS,
    NAMESPACE,
    OIDC_ARN,
    ROLE_ARN,
    EgressService,
    TenantStackArgs,
    Workload,
)
from infra.errors import StackConfigError
from tenancy.domain_names import normalise_domain
from tenancy.errors import InvalidInputError, UnknownPlanError
from tenancy.plans import PlanCatalog
from tenancy.tenant import TenantStatus
from tenancy.validation import parse_tenant_id, validate_domain, validate_slug

_PRINCIPAL_ARN = re.compile(r"arn:aws:iam::(\d{12}):(role|user)/[\w+=,.@/-]+")
_ACCOUNT = re.compile(r"\d{12}")
_REGION = re.compile(r"[a-z]{2}(-gov)?-[a-z]+-\d")
#: The widest block one egress service may name (a service, not the VPC or the internet).
MIN_EGRESS_PREFIX = 16
REDIS_MODES = ("self-managed", "elasticache")
_IMAGE = re.compile(r"[\w.\-/:]+@sha256:[0-9a-f]{64}")
_WORKLOAD_NAME = re.compile(r"[a-z0-9]([a-z0-9-]{0,40}[a-z0-9])?")
_USER_GROUP = re.compile(r"[a-zA-Z][a-zA-Z0-9-]{0,39}")
_STACK_REF = re.compile(r"[\w.-]+/[\w.-]+/[\w.-]+")


def parse_stack_config(
    stack: str, values: Mapping[str, Any], catalog: PlanCatalog, region: str | None
) -> TenantStackArgs:
    """Build args from `tenancy:*` config values (keys without the namespace)."""

    def key(name: str) -> str:
        return f"{NAMESPACE}:{name}"

    def require(name: str, expected: str) -> Any:
        value = values.get(name)
        if value is None or value == "":
            raise StackConfigError(stack, key(name), None, expected)
        return value

    def checked(name: str, value: Any, expected: str, check: Any) -> Any:
        try:
            return check(value)
        except InvalidInputError:
            raise StackConfigError(stack, key(name), value, expected) from None

    tenant_id = checked(
        "tenantId", require("tenantId", "the tenant's UUID"), "a UUID", parse_tenant_id
    )
    slug = checked("slug", require("slug", "the tenant slug"), "3-40 of [a-z0-9-]", validate_slug)
    if stack != f"tenant-{slug}":
        raise StackConfigError(
            stack, key("slug"), slug, f"the slug the stack is named after ({stack})"
        )
    plan_name = require("plan", f"one of: {', '.join(catalog.names)}")
    try:
        plan = catalog.get(plan_name)
    except UnknownPlanError:
        raise StackConfigError(
            stack, key("plan"), plan_name, f"one of: {', '.join(catalog.names)}"
        ) from None
    raw_status = values.get("status") or "active"
    try:
        status = TenantStatus(raw_status)
    except ValueError:
        raise StackConfigError(
            stack, key("status"), raw_status, "one of: active, suspended, deleted"
        ) from None
    if status is TenantStatus.PURGED:
        raise StackConfigError(
            stack,
            key("status"),
            raw_status,
            "active, suspended or deleted (a purged tenant has no stack)",
        )
    if region is None or not _REGION.fullmatch(region):
        raise StackConfigError(stack, "aws:region", region, "an AWS region such as eu-west-1")
    admin = require("platformAdminArn", "the platform admin role ARN")
    if not ROLE_ARN.fullmatch(admin):
        raise StackConfigError(
            stack, key("platformAdminArn"), admin, "arn:aws:iam::<12-digit account>:role/<name>"
        )
    deployer = require("deployerArn", "the IAM role or user ARN that runs `pulumi up`")
    deployer_match = _PRINCIPAL_ARN.fullmatch(str(deployer))
    if deployer_match is None:
        raise StackConfigError(
            stack,
            key("deployerArn"),
            deployer,
            "arn:aws:iam::<12-digit account>:role/<name> or :user/<name>",
        )
    admin_account = str(admin).split(":")[4]
    account = str(values.get("accountId") or admin_account)
    if not _ACCOUNT.fullmatch(account) or account != admin_account:
        raise StackConfigError(
            stack, key("accountId"), account, "the 12-digit account of tenancy:platformAdminArn"
        )
    if deployer_match.group(1) != account:
        raise StackConfigError(
            stack,
            key("deployerArn"),
            deployer,
            f"a principal of account {account} (the key's account)",
        )
    oidc = require("oidcProviderArn", "the cluster's IAM OIDC provider ARN")
    if not OIDC_ARN.fullmatch(oidc):
        raise StackConfigError(
            stack, key("oidcProviderArn"), oidc, "arn:aws:iam::<account>:oidc-provider/<issuer>"
        )
    platform_stack = str(values.get("platformStack") or "organization/codexos-tenancy/platform")
    if not _STACK_REF.fullmatch(platform_stack):
        raise StackConfigError(
            stack,
            key("platformStack"),
            platform_stack,
            "<org>/<project>/<stack>, e.g. organization/codexos-tenancy/platform",
        )
    redis_mode = str(values.get("redisMode") or "self-managed")
    if redis_mode not in REDIS_MODES:
        raise StackConfigError(stack, key("redisMode"), redis_mode, "self-managed or elasticache")
    redis_cluster = _redis_cluster(stack, key("redisCluster"), values.get("redisCluster"))
    if redis_cluster and redis_mode == "elasticache":
        raise StackConfigError(
            stack,
            key("redisCluster"),
            True,
            "false or unset with redisMode elasticache (its user group reaches every node)",
        )
    user_group = values.get("elasticacheUserGroupId") or None
    if redis_mode == "elasticache" and (
        not isinstance(user_group, str) or not _USER_GROUP.fullmatch(user_group)
    ):
        raise StackConfigError(
            stack,
            key("elasticacheUserGroupId"),
            user_group,
            "the ElastiCache user group id (redisMode elasticache)",
        )
    egress = parse_egress(stack, values.get("egressServices") or [])
    domain = values.get("domain") or None
    if domain is not None:
        domain = checked("domain", domain, "an RFC 1123 host name", validate_domain)
    verified = _verified_domains(stack, key("verifiedDomains"), values.get("verifiedDomains"))
    issuer = values.get("acmeIssuer") or ACME_ISSUERS[0]
    if issuer not in ACME_ISSUERS:
        raise StackConfigError(
            stack, key("acmeIssuer"), issuer, f"one of: {', '.join(ACME_ISSUERS)}"
        )
    workloads = parse_workloads(stack, values.get("workloads") or [])
    web_workload = values.get("webWorkload") or "web"
    if not isinstance(web_workload, str) or not _WORKLOAD_NAME.fullmatch(web_workload):
        raise StackConfigError(stack, key("webWorkload"), web_workload, "a workload name")
    if verified and not any(w.name == web_workload and w.port for w in workloads):
        raise StackConfigError(
            stack,
            key("webWorkload"),
            web_workload,
            f"the name of a {key('workloads')} entry with a port (verified domains route to it)",
        )
    return TenantStackArgs(
        tenant_id=tenant_id,
        slug=slug,
        plan=plan,
        status=status,
        region=region,
        platform_admin_arn=admin,
        oidc_provider_arn=oidc,
        deployer_arn=str(deployer),
        platform_stack=platform_stack,
        redis_mode=redis_mode,
        redis_cluster=redis_cluster,
        elasticache_user_group=user_group,
        workloads=workloads,
        domain=domain,
        egress=egress,
        ingress_namespace=str(values.get("ingressNamespace") or "ingress"),
        verified_domains=verified,
        acme_issuer=issuer,
        ingress_class=str(values.get("ingressClass") or "nginx"),
        web_workload=web_workload,
    )


def _redis_cluster(stack: str, name: str, value: Any) -> bool:
    """`tenancy:redisCluster`: a YAML boolean, or its text as `pulumi.Config.get` returns it."""
    if value is None or value == "":
        return False
    text = str(value).strip().lower()
    if isinstance(value, bool) or text in ("true", "false"):
        return text == "true"
    raise StackConfigError(stack, name, value, "true or false (a self-managed Redis Cluster)")


def _verified_domains(stack: str, name: str, value: Any) -> tuple[str, ...]:
    """The registry's proven domains, already normalised (A-labels, lower case), no repeats."""
    if value is None:
        return ()
    if not isinstance(value, list):
        raise StackConfigError(stack, name, value, "a list of host names")
    seen: list[str] = []
    for index, domain in enumerate(value):
        expected = "a normalised host name (IDNA A-labels, lower case, no trailing dot), once"
        try:
            ok = isinstance(domain, str) and normalise_domain(domain) == domain
        except InvalidInputError:
            ok = False
        if not ok or domain in seen:
            raise StackConfigError(stack, f"{name}[{index}]", domain, expected)
        seen.append(domain)
    return tuple(seen)


def parse_egress(stack: str, raw: Any) -> tuple[EgressService, ...]:
    """`tenancy:egressServices`: a list of {name, cidr, port[, protocol]}."""
    field_name = f"{NAMESPACE}:egressServices"
    if not isinstance(raw, list):
        raise StackConfigError(stack, field_name, raw, "a list of {name, cidr, port}")
    out = []
    for index, item in enumerate(raw):
        where = f"{field_name}[{index}]"
        if not isinstance(item, Mapping) or not {"name", "cidr", "port"} <= set(item):
            raise StackConfigError(stack, where, item, "a mapping with name, cidr and port")
        try:
            network = ipaddress.ip_network(item["cidr"], strict=True)
        except (TypeError, ValueError):
            raise StackConfigError(
                stack, f"{where}.cidr", item["cidr"], "a CIDR such as 10.40.12.0/24"
            ) from None
        if network.version == 4 and network.prefixlen < MIN_EGRESS_PREFIX:
            raise StackConfigError(
                stack,
                f"{where}.cidr",
                item["cidr"],
                f"the service's own block, /{MIN_EGRESS_PREFIX} or narrower",
            )
        port = item["port"]
        if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
            raise StackConfigError(stack, f"{where}.port", port, "a port number 1-65535")
        protocol = str(item.get("protocol", "TCP"))
        if protocol not in ("TCP", "UDP"):
            raise StackConfigError(stack, f"{where}.protocol", protocol, "TCP or UDP")
        out.append(EgressService(str(item["name"]), str(network), port, protocol))
    return tuple(out)


def parse_workloads(stack: str, raw: Any) -> tuple[Workload, ...]:
    """`tenancy:workloads`: a list of {name, image (pinned by digest), replicas[, port]}."""
    field_name = f"{NAMESPACE}:workloads"
    if not isinstance(raw, list):
        raise StackConfigError(stack, field_name, raw, "a list of {name, image, replicas}")
    out: list[Workload] = []
    for index, item in enumerate(raw):
        where = f"{field_name}[{index}]"
        if not isinstance(item, Mapping) or not {"name", "image", "replicas"} <= set(item):
            raise StackConfigError(stack, where, item, "a mapping with name, image and replicas")
        if not isinstance(item["name"], str) or not _WORKLOAD_NAME.fullmatch(item["name"]):
            raise StackConfigError(stack, f"{where}.name", item["name"], "a DNS label")
        if item["name"] in {w.name for w in out}:
            raise StackConfigError(stack, f"{where}.name", item["name"], "a name used once")
        if not isinstance(item["image"], str) or not _IMAGE.fullmatch(item["image"]):
            raise StackConfigError(
                stack,
                f"{where}.image",
                item["image"],
                "an image pinned by digest (<repo>@sha256:<64 hex>)",
            )
        replicas = item["replicas"]
        if isinstance(replicas, bool) or not isinstance(replicas, int) or replicas < 1:
            raise StackConfigError(stack, f"{where}.replicas", replicas, "a whole number >= 1")
        port = item.get("port")
        if port is not None and (
            isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536
        ):
            raise StackConfigError(stack, f"{where}.port", port, "a port number 1-65535")
        out.append(Workload(item["name"], item["image"], replicas, port))
    return tuple(out)
