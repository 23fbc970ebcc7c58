"""The shared Kubernetes pieces the `platform` stack adds beside the bucket and endpoints: the
ACME ClusterIssuers tenant certificates name (infra/cluster_issuer.py), the Grafana dashboards
as ConfigMaps for the Grafana sidecar (infra/dashboards.py), and, when `tenancy:dagster` is set,
Dagster's official Helm chart with the Kubernetes run launcher (infra/dagster_deployment.py)."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from infra.cluster_issuer import IssuerConfig, cluster_issuers
from infra.dagster_deployment import helm_values
from infra.dashboards import provision_dashboards
from infra.platform_stack import ComponentBuilder, PlatformContext


def acme_cluster_issuers(context: PlatformContext) -> None:
    """Let's Encrypt production and staging; each tenant's `tenancy:acmeIssuer` picks one."""
    cluster_issuers(context.name, IssuerConfig(email=context.args.acme_email), context.parent)


def grafana_dashboards(context: PlatformContext) -> None:
    provision_dashboards(
        f"{context.name}-dashboard",
        context.args.grafana_namespace,
        opts=pulumi.ResourceOptions(parent=context.parent),
    )


#: The chart's version follows Dagster's own (pinned with the rest of the family).
DAGSTER_CHART_VERSION = "1.13.27"
DAGSTER_CHART_REPO = "https://dagster-io.github.io/helm"


def dagster_release(context: PlatformContext) -> None:
    profile = context.args.dagster
    if profile is None:
        return
    k8s.helm.v3.Release(
        f"{context.name}-dagster",
        name="dagster",
        chart="dagster",
        version=DAGSTER_CHART_VERSION,
        repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=DAGSTER_CHART_REPO),
        namespace=profile.job_namespace,
        create_namespace=True,
        atomic=True,
        values=helm_values(profile),
        opts=pulumi.ResourceOptions(parent=context.parent),
    )


#: What `pulumi up --stack platform` builds besides its own resources.
DEFAULT_COMPONENTS: tuple[ComponentBuilder, ...] = (
    acme_cluster_issuers,
    grafana_dashboards,
    dagster_release,
)
