"""Per verified domain: a cert-manager Certificate and an Ingress in the tenant's namespace.

Only domains the registry holds as proven reach here (`TenantStackArgs.verified_domains`,
written by `tenancy stacks generate`). A suspended tenant keeps its Certificates, so the
TLS secrets survive (no re-issue on reactivation, which Let's Encrypt's limits punish), and
loses its Ingresses, so nothing is served. A deleted tenant's stack file lists no domain,
which removes both.
"""

from __future__ import annotations

import hashlib
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from infra.args import TenantStackArgs
from tenancy.tenant import TenantStatus

DOMAIN_ANNOTATION = "codexos.io/domain"
#: The tenant workload's Service that custom domains route to.
BACKEND_SERVICE = "web"
BACKEND_PORT = 80
VERIFIED_CONFIGMAP = "verified-domains"


def domain_key(domain: str) -> str:
    """A short, stable Kubernetes name part for a host name (which may be 253 characters)."""
    return hashlib.sha256(domain.encode()).hexdigest()[:16]


def _labels(args: TenantStackArgs) -> dict[str, str]:
    return {**args.tags, "tenant-status": args.status.value}


def certificate_manifest(args: TenantStackArgs, domain: str) -> dict[str, Any]:
    key = domain_key(domain)
    return {
        "apiVersion": "cert-manager.io/v1",
        "kind": "Certificate",
        "metadata": {
            "name": f"domain-{key}",
            "namespace": args.namespace,
            "labels": _labels(args),
            "annotations": {DOMAIN_ANNOTATION: domain},
        },
        "spec": {
            "secretName": f"tls-{key}",
            "dnsNames": [domain],
            "issuerRef": {
                "name": args.acme_issuer,
                "kind": "ClusterIssuer",
                "group": "cert-manager.io",
            },
            "privateKey": {"algorithm": "ECDSA", "size": 256, "rotationPolicy": "Always"},
            "secretTemplate": {"labels": _labels(args)},
        },
    }


def ingress_manifest(args: TenantStackArgs, domain: str) -> dict[str, Any]:
    key = domain_key(domain)
    backend = {"service": {"name": BACKEND_SERVICE, "port": {"number": BACKEND_PORT}}}
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {
            "name": f"domain-{key}",
            "namespace": args.namespace,
            "labels": _labels(args),
            "annotations": {DOMAIN_ANNOTATION: domain},
        },
        "spec": {
            "ingressClassName": args.ingress_class,
            "tls": [{"hosts": [domain], "secretName": f"tls-{key}"}],
            "rules": [
                {
                    "host": domain,
                    "http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": backend}]},
                }
            ],
        },
    }


def verified_configmap_manifest(args: TenantStackArgs) -> dict[str, Any]:
    """The registry's verified list as the stack received it; the guardrails hold every
    Certificate and Ingress of the namespace to it."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": VERIFIED_CONFIGMAP,
            "namespace": args.namespace,
            "labels": _labels(args),
        },
        "data": {"domains": "\n".join(args.verified_domains)},
    }


def route_manifests(args: TenantStackArgs) -> list[dict[str, Any]]:
    """What the stack renders for custom domains, for the tenant's current status."""
    manifests = [verified_configmap_manifest(args)]
    for domain in args.verified_domains:
        manifests.append(certificate_manifest(args, domain))
        if args.status is TenantStatus.ACTIVE:
            manifests.append(ingress_manifest(args, domain))
    return manifests


def tenant_routes(
    name: str, args: TenantStackArgs, opts: pulumi.ResourceOptions
) -> list[pulumi.Resource]:
    """Register the manifests of `route_manifests` in the tenant namespace (`opts`: the
    namespace's options: parent, and the namespace as a dependency)."""
    resources: list[pulumi.Resource] = []
    for manifest in route_manifests(args):
        kind, meta = manifest["kind"], manifest["metadata"]
        role = (
            kind.lower()
            if kind == "ConfigMap"
            else f"{kind.lower()}-{meta['name'].removeprefix('domain-')}"
        )
        if kind == "ConfigMap":
            resources.append(
                k8s.core.v1.ConfigMap(
                    f"{name}-{role}", metadata=meta, data=manifest["data"], opts=opts
                )
            )
        elif kind == "Ingress":
            resources.append(
                k8s.networking.v1.Ingress(
                    f"{name}-{role}", metadata=meta, spec=manifest["spec"], opts=opts
                )
            )
        else:
            resources.append(
                k8s.apiextensions.CustomResource(
                    f"{name}-{role}",
                    api_version=manifest["apiVersion"],
                    kind=kind,
                    metadata=meta,
                    spec=manifest["spec"],
                    opts=opts,
                )
            )
    return resources
