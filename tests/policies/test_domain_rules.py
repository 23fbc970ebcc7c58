"""The custom-domain guardrails, fed rendered stacks and hostile edits of them."""

from __future__ import annotations

import copy
from dataclasses import replace
from typing import Any

from infra.render import RenderedResource, render_tenant
from policies.domain_rules import (
    CERTIFICATE,
    CLUSTER_ISSUER,
    CONFIG_MAP,
    HTTP_ROUTE,
    INGRESS,
    SERVICE,
)
from policies.guardrails import check
from policies.rule import PolicyResource
from tests.infra.stack_args import WITH_WEB, stack_args

SHOP = "shop.acme.test"
GOOD_CERT: dict[str, Any] = {
    "apiVersion": "cert-manager.io/v1",
    "kind": "Certificate",
    "metadata": {"name": "domain-1", "namespace": "tenant-acme"},
    "spec": {
        "secretName": "tls-1",
        "dnsNames": [SHOP],
        "issuerRef": {
            "name": "letsencrypt-staging",
            "kind": "ClusterIssuer",
            "group": "cert-manager.io",
        },
    },
}
GOOD_INGRESS: dict[str, Any] = {
    "apiVersion": "networking.k8s.io/v1",
    "kind": "Ingress",
    "metadata": {"name": "domain-1", "namespace": "tenant-acme"},
    "spec": {
        "tls": [{"hosts": [SHOP], "secretName": "tls-1"}],
        "rules": [{"host": SHOP, "http": {"paths": [{"path": "/", "pathType": "Prefix",
                   "backend": {"service": {"name": "web", "port": {"number": 80}}}}]}}],
    },
}  # fmt: skip
GOOD_ISSUER: dict[str, Any] = {
    "apiVersion": "cert-manager.io/v1",
    "kind": "ClusterIssuer",
    "metadata": {"name": "letsencrypt-staging"},
    "spec": {"acme": {"server": "https://acme-staging-v02.api.letsencrypt.org/directory",
                      "privateKeySecretRef": {"name": "k"}}},
}  # fmt: skip


def _with(base: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    out = copy.deepcopy(base)
    *parents, last = path.split(".")
    node = out
    for part in parents:
        node = node[part]
    node[last] = value
    return out


#: rule -> (type, compliant props, violating props, fragment of the message); also run by
#: tests/policies/test_guardrails.py with every other resource rule.
DOMAIN_CASES: dict[str, tuple[str, dict[str, Any], dict[str, Any], str]] = {
    "certificate-platform-issuer": (
        CERTIFICATE,
        GOOD_CERT,
        _with(GOOD_CERT, "spec.issuerRef", {"name": "tenant-own-ca", "kind": "Issuer"}),
        "expected kind ClusterIssuer",
    ),
    "cluster-issuer-schema": (
        CLUSTER_ISSUER,
        GOOD_ISSUER,
        _with(GOOD_ISSUER, "spec.acme.sever", "typo"),
        "Additional properties are not allowed ('sever' was unexpected)",
    ),
    "route-names-its-hosts": (
        INGRESS,
        GOOD_INGRESS,
        _with(GOOD_INGRESS, "spec.rules", [{"http": GOOD_INGRESS["spec"]["rules"][0]["http"]}]),
        "has no host: it would serve every host",
    ),
}


def test_certificate_rule_variants() -> None:
    from policies.domain_rules import _certificate

    wildcard = _with(GOOD_CERT, "spec.dnsNames", ["*.acme.test"])
    assert any("wildcard" in m for m in _certificate(wildcard))
    ip = _with(GOOD_CERT, "spec.ipAddresses", ["10.0.0.1"])
    assert any("spec.ipAddresses is set" in m for m in _certificate(ip))
    unknown_field = _with(GOOD_CERT, "spec.dnsNamez", [SHOP])
    assert any("Certificate schema" in m for m in _certificate(unknown_field))


def _stack(**overrides: Any) -> list[RenderedResource]:
    return render_tenant(stack_args(workloads=WITH_WEB, verifiedDomains=[SHOP], **overrides))


def _edit(
    resources: list[RenderedResource], type_: str, path: str, value: Any
) -> list[RenderedResource]:
    return [
        replace(r, props=_with(r.props, path, value)) if r.type == type_ else r for r in resources
    ]


def _messages(resources: list[Any]) -> list[str]:
    return [f"{v.policy}: {v.message}" for v in check(resources)]


def test_rendered_stack_passes() -> None:
    assert check(_stack()) == []


def test_certificate_for_an_unverified_host_is_caught() -> None:
    bad = _edit(_stack(), CERTIFICATE, "spec.dnsNames", [SHOP, "bank.example.com"])
    assert any("'bank.example.com', which is not verified" in m for m in _messages(bad))


def test_route_for_another_tenants_host_is_caught() -> None:
    resources = _stack()
    ingress = next(r for r in resources if r.type == INGRESS)
    spec = copy.deepcopy(ingress.props["spec"])
    spec["rules"][0]["host"] = "globex.example.com"
    bad = [replace(r, props={**r.props, "spec": spec}) if r is ingress else r for r in resources]
    assert any("serves host 'globex.example.com'" in m for m in _messages(bad))


def test_certificate_outside_the_tenant_namespace_is_caught() -> None:
    bad = _edit(_stack(), CERTIFICATE, "metadata.namespace", "tenant-globex")
    assert any("expected the tenant's own (tenant-acme-pro)" in m for m in _messages(bad))


def test_route_using_a_secret_no_certificate_of_the_tenant_fills() -> None:
    resources = _stack()
    ingress = next(r for r in resources if r.type == INGRESS)
    spec = copy.deepcopy(ingress.props["spec"])
    spec["tls"][0]["secretName"] = "globex-tls"
    bad = [replace(r, props={**r.props, "spec": spec}) if r is ingress else r for r in resources]
    assert any("uses secret 'globex-tls'" in m for m in _messages(bad))


def test_verified_list_widened_without_certificates_is_still_bounded() -> None:
    # removing the verified list makes every certificate and route a violation
    resources = [r for r in _stack() if r.type != CONFIG_MAP]
    messages = _messages(resources)
    assert sum("no tenant namespace with a verified-domains ConfigMap" in m for m in messages) == 2


def test_hostless_gateway_route_is_caught() -> None:
    route = PolicyResource(
        HTTP_ROUTE,
        "acme-route",
        {"metadata": {"name": "r", "namespace": "tenant-acme-pro"}, "spec": {"parentRefs": []}},
    )
    assert any("serves host '(any host)'" in m for m in _messages([*_stack(), route]))


def _backend(resources: list[RenderedResource], service: dict[str, Any]) -> list[Any]:
    ingress = next(r for r in resources if r.type == INGRESS)
    spec = copy.deepcopy(ingress.props["spec"])
    spec["rules"][0]["http"]["paths"][0]["backend"] = {"service": service}
    return [replace(r, props={**r.props, "spec": spec}) if r is ingress else r for r in resources]


def test_route_to_a_service_the_stack_does_not_render_is_caught() -> None:
    # the old fixed backend: `web` on port 80 while the stack renders no such Service
    resources = [r for r in _stack() if r.type != SERVICE]
    messages = _messages(resources)
    assert any(
        m.startswith("route-backend-rendered: spec.rules[0].http.paths[0].backend names "
                     "Service 'web', which this stack does not render") for m in messages
    ), messages  # fmt: skip
    another = _backend(_stack(), {"name": "billing", "port": {"number": 8080}})
    assert any("names Service 'billing'" in m for m in _messages(another))


def test_route_to_a_port_the_service_does_not_expose_is_caught() -> None:
    bad = _backend(_stack(), {"name": "web", "port": {"number": 80}})
    assert any("uses port 80 of Service 'web', which exposes" in m for m in _messages(bad))
    by_name = _backend(_stack(), {"name": "web", "port": {"name": "http"}})
    assert not any(m.startswith("route-backend-rendered") for m in _messages(by_name))


def test_route_to_a_service_of_another_namespace_is_caught() -> None:
    bad = _edit(_stack(), SERVICE, "metadata.namespace", "tenant-globex")
    assert any("in namespace 'tenant-acme-pro'" in m for m in _messages(bad))


def test_resource_backend_is_caught() -> None:
    resources = _stack()
    ingress = next(r for r in resources if r.type == INGRESS)
    spec = copy.deepcopy(ingress.props["spec"])
    spec["rules"][0]["http"]["paths"][0]["backend"] = {
        "resource": {"apiGroup": "k8s.example.com", "kind": "StorageBucket", "name": "b"}
    }
    bad = [replace(r, props={**r.props, "spec": spec}) if r is ingress else r for r in resources]
    assert any("is not a Service backend" in m for m in _messages(bad))
