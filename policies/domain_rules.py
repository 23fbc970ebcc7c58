"""Guardrails for custom domains: certificates and routes serve only the tenant's own hosts.

The verified list is the `verified-domains` ConfigMap the stack renders from its config
(`tenancy:verifiedDomains`, written from the registry by `tenancy stacks generate`, whose
`--check` holds the file to the registry on every pull request). Every Certificate must name
only those hosts, use a platform ClusterIssuer and live (so store its secret) in the tenant's
namespace; every route must serve only those hosts, over a secret one of those Certificates
fills. Since the registry lets one tenant at a time hold a name, a route never serves
another tenant's host.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Sequence
from importlib import resources
from typing import Any

import jsonschema

from policies import tokens
from policies.kubernetes_schema import schema_errors
from policies.rule import Resource, ResourceRule, StackRule

CERTIFICATE = "kubernetes:cert-manager.io/v1:Certificate"
CLUSTER_ISSUER = "kubernetes:cert-manager.io/v1:ClusterIssuer"
INGRESS = "kubernetes:networking.k8s.io/v1:Ingress"
HTTP_ROUTE = "kubernetes:gateway.networking.k8s.io/v1:HTTPRoute"
NAMESPACE = "kubernetes:core/v1:Namespace"
CONFIG_MAP = "kubernetes:core/v1:ConfigMap"
SERVICE = tokens.SERVICE
#: The platform's ClusterIssuers (infra/cluster_issuer.py renders them).
PLATFORM_ISSUERS = ("letsencrypt-staging", "letsencrypt-production")
VERIFIED_CONFIGMAP = "verified-domains"


@functools.cache
def _crd_validator(kind: str) -> jsonschema.protocols.Validator:
    text = resources.files("policies").joinpath(f"crd_schemas/{kind}-cert-manager-v1.json")
    schema = json.loads(text.read_text())
    return jsonschema.validators.Draft202012Validator(schema)


def crd_schema_errors(manifest: dict[str, Any]) -> list[str]:
    """Violations of the vendored cert-manager schema (policies/crd_schemas/)."""
    kind = str(manifest.get("kind", "")).lower()
    validator = _crd_validator(kind)
    return [
        f"{e.message} at {'.'.join(str(p) for p in e.absolute_path) or '(root)'}"
        for e in sorted(
            validator.iter_errors(manifest), key=lambda e: list(map(str, e.absolute_path))
        )
    ]


def _manifest(props: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in props.items() if not k.startswith("__")}


def _meta(props: dict[str, Any]) -> dict[str, Any]:
    meta = props.get("metadata") or {}
    return meta if isinstance(meta, dict) else {}


def _certificate(props: dict[str, Any]) -> Iterable[str]:
    for error in crd_schema_errors(_manifest(props)):
        yield f"does not validate against cert-manager's Certificate schema: {error}"
    spec = props.get("spec") or {}
    ref = spec.get("issuerRef") or {}
    if (ref.get("kind"), ref.get("group"), ref.get("name")) not in {
        ("ClusterIssuer", "cert-manager.io", name) for name in PLATFORM_ISSUERS
    }:
        yield (
            f"issuerRef is {ref!r}; expected kind ClusterIssuer, group cert-manager.io and a "
            f"platform issuer ({', '.join(PLATFORM_ISSUERS)})"
        )
    for name in spec.get("dnsNames") or []:
        if "*" in str(name):
            yield f"dnsNames has wildcard {name!r}; expected single verified host names"
    for field in ("ipAddresses", "uris", "emailAddresses", "commonName"):
        if spec.get(field):
            yield f"spec.{field} is set; expected host names in dnsNames only"


def _cluster_issuer(props: dict[str, Any]) -> Iterable[str]:
    for error in crd_schema_errors(_manifest(props)):
        yield f"does not validate against cert-manager's ClusterIssuer schema: {error}"


def _ingress(props: dict[str, Any]) -> Iterable[str]:
    for error in schema_errors(_manifest(props)):
        yield f"does not validate against the Kubernetes schema: {error}"
    spec = props.get("spec") or {}
    if spec.get("defaultBackend"):
        yield "spec.defaultBackend is set: it would serve every host; expected host rules only"
    for index, rule in enumerate(spec.get("rules") or []):
        if not rule.get("host"):
            yield f"spec.rules[{index}] has no host: it would serve every host"


def _verified(resources: Sequence[Resource], namespace: str | None) -> set[str] | None:
    for r in resources:
        meta = _meta(r.props)
        if (r.type, meta.get("name"), meta.get("namespace")) == (
            CONFIG_MAP,
            VERIFIED_CONFIGMAP,
            namespace,
        ):
            text = str((r.props.get("data") or {}).get("domains") or "")
            return {line for line in text.splitlines() if line}
    return None


def _hosts(resource: Resource) -> tuple[list[str], list[tuple[str, str]]]:
    """A route's hosts, and its (host, TLS secret) pairs."""
    spec = resource.props.get("spec") or {}
    if resource.type == HTTP_ROUTE:
        return list(spec.get("hostnames") or ["(any host)"]), []
    hosts = [str(rule.get("host") or "(any host)") for rule in spec.get("rules") or []]
    tls = [
        (str(h), str(t.get("secretName")))
        for t in spec.get("tls") or []
        for h in t.get("hosts") or []
    ]
    return hosts, tls


def custom_domains(resources: Sequence[Resource]) -> Iterable[tuple[str, str]]:
    """Certificates and routes against the tenant's namespace and verified list."""
    namespaces = [_meta(r.props).get("name") for r in resources if r.type == NAMESPACE]
    namespace = namespaces[0] if len(namespaces) == 1 else None
    served = [r for r in resources if r.type in (CERTIFICATE, INGRESS, HTTP_ROUTE)]
    if not served:
        return
    verified = _verified(resources, namespace)
    if namespace is None or verified is None:
        for r in served:
            yield (
                r.name,
                (
                    "no tenant namespace with a verified-domains ConfigMap in this stack; "
                    "expected certificates and routes only beside the tenant's verified list"
                ),
            )
        return
    secrets: dict[str, set[str]] = {}
    for r in served:
        where = _meta(r.props).get("namespace")
        if where != namespace:
            yield r.name, f"namespace is {where!r}; expected the tenant's own ({namespace})"
        if r.type == CERTIFICATE:
            spec = r.props.get("spec") or {}
            names = [str(n) for n in spec.get("dnsNames") or []]
            for name in names:
                if name not in verified:
                    yield r.name, f"dnsNames has {name!r}, which is not verified for this tenant"
            secrets.setdefault(str(spec.get("secretName")), set()).update(names)
    for r in served:
        if r.type == CERTIFICATE:
            continue
        hosts, tls = _hosts(r)
        for host in hosts:
            if host not in verified:
                yield r.name, f"serves host {host!r}, which is not verified for this tenant"
        for host, secret in tls:
            if host not in secrets.get(secret, set()):
                yield (
                    r.name,
                    (
                        f"TLS for {host!r} uses secret {secret!r}; expected the secret of this "
                        "tenant's Certificate for that host"
                    ),
                )


def _backends(spec: dict[str, Any]) -> Iterable[tuple[str, dict[str, Any]]]:
    """An Ingress's backends with where they are: (path in the spec, backend)."""
    if isinstance(spec.get("defaultBackend"), dict):
        yield "spec.defaultBackend", spec["defaultBackend"]
    for i, rule in enumerate(spec.get("rules") or []):
        for j, path in enumerate((rule.get("http") or {}).get("paths") or []):
            yield f"spec.rules[{i}].http.paths[{j}].backend", path.get("backend") or {}


def _service_ports(props: dict[str, Any]) -> set[object]:
    """What an Ingress may name of a Service: its port numbers and port names."""
    ports = (props.get("spec") or {}).get("ports") or []
    return {p.get("port") for p in ports} | {p.get("name") for p in ports if p.get("name")}


def route_backends(resources: Sequence[Resource]) -> Iterable[tuple[str, str]]:
    """Every Ingress backend is a Service this stack renders in the Ingress's namespace, on a
    port that Service exposes: a route to nothing serves the ingress controller's 503."""
    services = {
        (_meta(r.props).get("namespace"), _meta(r.props).get("name")): _service_ports(r.props)
        for r in resources
        if r.type == SERVICE
    }
    for r in resources:
        if r.type != INGRESS:
            continue
        namespace = _meta(r.props).get("namespace")
        for where, backend in _backends(r.props.get("spec") or {}):
            service = backend.get("service")
            if not isinstance(service, dict):
                yield r.name, f"{where} is not a Service backend; expected a Service of this stack"
                continue
            name = service.get("name")
            port = service.get("port") or {}
            wanted = port.get("number") if port.get("number") is not None else port.get("name")
            ports = services.get((namespace, name))
            if ports is None:
                yield (
                    r.name,
                    f"{where} names Service {name!r}, which this stack does not render in "
                    f"namespace {namespace!r}",
                )
            elif wanted not in ports:
                yield (
                    r.name,
                    f"{where} uses port {wanted!r} of Service {name!r}, which exposes "
                    f"{sorted(map(str, ports))}",
                )


RESOURCE_RULES: tuple[ResourceRule, ...] = (
    ResourceRule(
        "certificate-platform-issuer",
        "A certificate is valid cert-manager v1, is issued by a platform ClusterIssuer and "
        "names single host names.",
        "reference a platform ClusterIssuer and list verified host names in dnsNames",
        (CERTIFICATE,),
        _certificate,
    ),
    ResourceRule(
        "cluster-issuer-schema",
        "A ClusterIssuer validates against cert-manager's v1 schema.",
        "fix the ClusterIssuer's fields",
        (CLUSTER_ISSUER,),
        _cluster_issuer,
    ),
    ResourceRule(
        "route-names-its-hosts",
        "An Ingress is valid and every rule names a host: nothing serves all hosts.",
        "give every rule a verified host and drop defaultBackend",
        (INGRESS,),
        _ingress,
    ),
)
STACK_RULES: tuple[StackRule, ...] = (
    StackRule(
        "custom-domains-verified",
        "Certificates and routes live in the tenant's namespace and serve only the hosts "
        "the registry verified for this tenant, over this tenant's certificate secrets.",
        "run `tenancy domains verify`, then `tenancy stacks generate`; never add hosts by hand",
        custom_domains,
    ),
    StackRule(
        "route-backend-rendered",
        "Every Ingress backend is a Service rendered in the same stack and namespace, on a "
        "port that Service exposes.",
        "give the `tenancy:webWorkload` workload a `port` in `tenancy:workloads`; never point "
        "a route at a Service the stack does not render",
        route_backends,
    ),
)
