"""`TenantStackArgs`: everything one tenant's stack is built from, validated on construction.

Pure Python (no Pulumi import), so bad config is caught and tested without an engine.
"""

from __future__ import annotations

import ipaddress
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from infra.errors import StackConfigError
from tenancy.domain_names import normalise_domain
from tenancy.errors import InvalidInputError, UnknownPlanError
from tenancy.plans import Plan, PlanCatalog
from tenancy.tenant import TenantStatus
from tenancy.validation import parse_tenant_id, validate_domain, validate_slug

NAMESPACE = "tenancy"
_ROLE_ARN = re.compile(r"arn:aws:iam::(\d{12}):role/[\w+=,.@/-]+")
_PRINCIPAL_ARN = re.compile(r"arn:aws:iam::(\d{12}):(role|user)/[\w+=,.@/-]+")
_ACCOUNT = re.compile(r"\d{12}")
_OIDC_ARN = re.compile(r"arn:aws:iam::(\d{12}):oidc-provider/([\w.-]+(/[\w.-]+)*)")
_REGION = re.compile(r"[a-z]{2}(-gov)?-[a-z]+-\d")
#: The platform's ACME ClusterIssuers (infra/cluster_issuer.py); staging unless config says.
ACME_ISSUERS = ("letsencrypt-staging", "letsencrypt-production")


#: The widest block one egress service may name (a service, not the VPC or the internet).
MIN_EGRESS_PREFIX = 16


@dataclass(frozen=True)
class EgressService:
    """One destination tenant pods may reach: `tenancy:egressServices[i]` = {name, cidr, port}."""

    name: str
    cidr: str
    port: int
    protocol: str = "TCP"


@dataclass(frozen=True)
class Workload:
    """One agent runtime the tenant runs: `tenancy:workloads[i]` = {name, image, replicas[,
    port]}. The image is pinned by digest so a redeploy runs exactly what was reviewed; a
    workload with a `port` listens on it and gets a ClusterIP Service of its name."""

    name: str
    image: str
    replicas: int
    port: int | None = None


REDIS_MODES = ("self-managed", "elasticache")
_IMAGE = re.compile(r"[\w.\-/:]+@sha256:[0-9a-f]{64}")
_WORKLOAD_NAME = re.compile(r"[a-z0-9]([a-z0-9-]{0,40}[a-z0-9])?")
_USER_GROUP = re.compile(r"[a-zA-Z][a-zA-Z0-9-]{0,39}")
_STACK_REF = re.compile(r"[\w.-]+/[\w.-]+/[\w.-]+")


@dataclass(frozen=True)
class TenantStackArgs:
    """The validated inputs of a `TenantStack`."""

    tenant_id: uuid.UUID
    slug: str
    plan: Plan
    status: TenantStatus
    region: str
    platform_admin_arn: str
    oidc_provider_arn: str
    deployer_arn: str = ""
    platform_stack: str = "organization/codexos-tenancy/platform"
    redis_mode: str = "self-managed"
    redis_cluster: bool = False
    elasticache_user_group: str | None = None
    workloads: tuple[Workload, ...] = ()
    domain: str | None = None
    egress: tuple[EgressService, ...] = ()
    ingress_namespace: str = "ingress"
    extra_tags: Mapping[str, str] = field(default_factory=dict)
    verified_domains: tuple[str, ...] = ()
    acme_issuer: str = ACME_ISSUERS[0]
    ingress_class: str = "nginx"
    web_workload: str = "web"

    @property
    def web(self) -> Workload | None:
        """The workload custom domains route to (`tenancy:webWorkload`), if it has a port."""
        return next(
            (w for w in self.workloads if w.name == self.web_workload and w.port is not None),
            None,
        )

    @property
    def account_id(self) -> str:
        match = _ROLE_ARN.fullmatch(self.platform_admin_arn)
        assert match is not None
        return match.group(1)

    @property
    def account_root_arn(self) -> str:
        return f"arn:aws:iam::{self.account_id}:root"

    @property
    def key_admin_arns(self) -> list[str]:
        """Who manages (never uses) the tenant key: the platform admin and whoever runs `up`."""
        return list(dict.fromkeys(a for a in (self.platform_admin_arn, self.deployer_arn) if a))

    @property
    def stopped(self) -> bool:
        """Suspended and (soft-)deleted tenants keep their data but run nothing."""
        return self.status is not TenantStatus.ACTIVE

    @property
    def oidc_issuer(self) -> str:
        match = _OIDC_ARN.fullmatch(self.oidc_provider_arn)
        assert match is not None
        return match.group(2)

    @property
    def namespace(self) -> str:
        return f"tenant-{self.slug}"

    @property
    def service_account(self) -> str:
        return "workload"

    @property
    def prefix(self) -> str:
        """The tenant's key prefix in whichever bucket holds its objects."""
        return f"tenants/{self.tenant_id}/"

    @property
    def dedicated_bucket(self) -> bool:
        return self.plan.storage.model == "dedicated_bucket"

    @property
    def tags(self) -> dict[str, str]:
        return {
            **self.extra_tags,
            "tenant-id": str(self.tenant_id),
            "plan": self.plan.name,
            "managed-by": "codexos-tenancy",
        }


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
    if not _ROLE_ARN.fullmatch(admin):
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
    if not _OIDC_ARN.fullmatch(oidc):
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
