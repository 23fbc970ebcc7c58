"""The platform's ACME ClusterIssuers: Let's Encrypt production and staging.

Both are rendered; which one tenant certificates use is stack config (`tenancy:acmeIssuer`,
staging unless set), so tests and previews never spend production rate limits. Returned as
plain manifests (validated on their own) and, for the platform stack, as Pulumi resources.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from infra.args import ACME_ISSUERS

STAGING, PRODUCTION = ACME_ISSUERS
#: Let's Encrypt's ACME v2 directories (https://letsencrypt.org/docs/staging-environment/).
DIRECTORIES = {
    STAGING: "https://acme-staging-v02.api.letsencrypt.org/directory",
    PRODUCTION: "https://acme-v02.api.letsencrypt.org/directory",
}


@dataclass(frozen=True)
class IssuerConfig:
    """What the ACME account needs: a contact address and the ingress class that answers
    HTTP-01 challenges."""

    email: str
    ingress_class: str = "nginx"

    def __post_init__(self) -> None:
        if "@" not in self.email or self.email.strip() != self.email:
            raise ValueError(
                f"acme email is {self.email!r}; expected an address such as ops@example.com"
            )


def cluster_issuer_manifest(name: str, config: IssuerConfig) -> dict[str, Any]:
    if name not in DIRECTORIES:
        raise ValueError(f"issuer is {name!r}; expected one of: {', '.join(ACME_ISSUERS)}")
    return {
        "apiVersion": "cert-manager.io/v1",
        "kind": "ClusterIssuer",
        "metadata": {"name": name, "labels": {"managed-by": "codexos-tenancy"}},
        "spec": {
            "acme": {
                "server": DIRECTORIES[name],
                "email": config.email,
                "privateKeySecretRef": {"name": f"{name}-account-key"},
                "solvers": [{"http01": {"ingress": {"ingressClassName": config.ingress_class}}}],
            }
        },
    }


def cluster_issuer_manifests(config: IssuerConfig) -> list[dict[str, Any]]:
    """Production and staging, in that order."""
    return [cluster_issuer_manifest(name, config) for name in (PRODUCTION, STAGING)]


def cluster_issuers(
    name: str, config: IssuerConfig, parent: pulumi.Resource | None = None
) -> list[k8s.apiextensions.CustomResource]:
    """The two ClusterIssuers as resources of the platform stack."""
    return [
        k8s.apiextensions.CustomResource(
            f"{name}-{manifest['metadata']['name']}",
            api_version=manifest["apiVersion"],
            kind=manifest["kind"],
            metadata=manifest["metadata"],
            spec=manifest["spec"],
            opts=pulumi.ResourceOptions(parent=parent),
        )
        for manifest in cluster_issuer_manifests(config)
    ]
