"""`TenantStackArgs`: everything one tenant's stack is built from, and its defaults.

Pure Python (no Pulumi import). `infra.args_parsing` builds it from `tenancy:*` config values,
checking each one, so bad config is caught and tested without an engine.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field

from tenancy.plans import Plan
from tenancy.tenant import TenantStatus

NAMESPACE = "tenancy"
ROLE_ARN = re.compile(r"arn:aws:iam::(\d{12}):role/[\w+=,.@/-]+")
OIDC_ARN = re.compile(r"arn:aws:iam::(\d{12}):oidc-provider/([\w.-]+(/[\w.-]+)*)")
#: The platform's ACME ClusterIssuers (infra/cluster_issuer.py); staging unless config says.
ACME_ISSUERS = ("letsencrypt-staging", "letsencrypt-production")


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
        match = ROLE_ARN.fullmatch(self.platform_admin_arn)
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
        match = OIDC_ARN.fullmatch(self.oidc_provider_arn)
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
