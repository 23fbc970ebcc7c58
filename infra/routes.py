"""Per verified domain: a cert-manager Certificate and an Ingress in the tenant's namespace.

Only domains the registry holds as proven reach here (`TenantStackArgs.verified_domains`,
written by `tenancy stacks generate`). The Ingress routes to the Service of the workload
`tenancy:webWorkload` (infra/workloads.py renders it) on that workload's port.

A suspended tenant renders neither Ingresses nor Certificates: its ResourceQuota of `pods: 0`
would keep cert-manager's HTTP-01 solver pod from running, so a kept Certificate would fail
to renew. The TLS Secret is cert-manager's, not the stack's, and cert-manager leaves it in
place when its Certificate is deleted (unless the controller runs with
`--enable-certificate-owner-ref`); on reactivation the re-created Certificate (same name,
same `secretName`, both derived from the domain) finds it and re-issues only if it is no
longer valid. A deleted tenant's stack file lists no domain, which removes both as well.
"""

from __future__ import annotations

import hashlib
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from infra.args import TenantStackArgs
from tenancy.tenant import TenantStatus

DOMAIN_ANNOTATION = "codexos.io/domain"
VERIFIED_CONFIGMAP = "verified-domains"


def domain_key(domain: str) -> str:
    """A short, stable Kubernetes name part for a host name (which may be 253 characters)."""
    return hashlib.sha256(domain.encode()).hexdigest()[:16]


def _labels(args: TenantStackArgs) -> dict[str, str]:
    return {**args.tags, "tenant-status": args.status.value}


def secret_name(domain: str) -> str:
    """The TLS Secret cert-manager fills for a domain: the same for as long as the domain is
    verified, so a re-created Certificate finds the Secret its predecessor left."""
    return f"tls-{domain_key(domain)}"


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
            "secretName": secret_name(domain),
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
    web = args.web
    # parse_stack_config refuses verified domains without a web workload that has a port
    assert web is not None and web.port is not None
    backend = {"service": {"name": web.name, "port": {"number": web.port}}}
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
            "tls": [{"hosts": [domain], "secretName": secret_name(domain)}],
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
    if args.status is not TenantStatus.ACTIVE:
        return manifests
    for domain in args.verified_domains:
        manifests.append(certificate_manifest(args, domain))
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
