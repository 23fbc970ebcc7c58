"""The tenant stack's certificates and routes for verified, unverified, suspended and
deleted tenants, rendered by the real program under Pulumi mocks."""

from __future__ import annotations

import re
import shutil
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from infra.args_parsing import parse_stack_config
from infra.cluster_issuer import IssuerConfig, cluster_issuer_manifests
from infra.domain_overlap import shared_hosts
from infra.errors import StackConfigError
from infra.render import render_tenant
from infra.routes import domain_key
from infra.stack_files import STACKS_DIR, generate, stack_values
from infra.stack_files import render as render_stack_file
from policies.domain_rules import (
    CERTIFICATE,
    INGRESS,
    PLATFORM_ISSUERS,
    SERVICE,
    crd_schema_errors,
)
from policies.guardrails import check
from policies.tokens import DEPLOYMENT
from tenancy.cli.main import app
from tenancy.plans import load_catalog
from tenancy.tenant import Tenant, TenantStatus
from tests.infra.inventory import Inventory
from tests.infra.stack_args import IMAGE, WITH_WEB, config_values, stack_args

SHOP = "shop.acme.test"
BOOKS = "xn--bcher-kva.acme.test"


def test_verified_tenant_gets_a_certificate_and_a_route_per_domain() -> None:
    inventory = Inventory.of(stack_args(workloads=WITH_WEB, verifiedDomains=[SHOP, BOOKS]))
    certificates = inventory.all(CERTIFICATE)
    assert sorted(c.props["spec"]["dnsNames"][0] for c in certificates) == sorted([SHOP, BOOKS])
    shop = next(c for c in certificates if c.props["spec"]["dnsNames"] == [SHOP])
    assert shop.props["metadata"]["namespace"] == "tenant-acme-pro"
    assert shop.props["spec"]["issuerRef"] == {
        "name": "letsencrypt-staging",
        "kind": "ClusterIssuer",
        "group": "cert-manager.io",
    }
    routes = inventory.all(INGRESS)
    route = next(r for r in routes if r.props["spec"]["rules"][0]["host"] == SHOP)
    assert route.props["spec"]["tls"] == [
        {"hosts": [SHOP], "secretName": f"tls-{domain_key(SHOP)}"}
    ]
    assert shop.props["spec"]["secretName"] == f"tls-{domain_key(SHOP)}"
    assert {r.parent_type for r in certificates + routes} == {"codexos:tenancy:TenantStack"}
    assert check(inventory.resources) == []


def test_unverified_tenant_gets_none_even_with_a_registry_domain() -> None:
    # `domain` is the tenant's registry column, which nothing verified: it never reaches a route
    inventory = Inventory.of(stack_args(domain="acme.example.com"))
    assert inventory.all(CERTIFICATE) == [] and inventory.all(INGRESS) == []
    assert check(inventory.resources) == []


def test_suspended_tenant_renders_no_certificate_and_no_route() -> None:
    # the suspended namespace admits no pod, so cert-manager's HTTP-01 solver could not run:
    # a kept Certificate would fail to renew and fire the expiry alert
    suspended = Inventory.of(
        stack_args(status="suspended", workloads=WITH_WEB, verifiedDomains=[SHOP])
    )
    assert suspended.all(INGRESS) == [] and suspended.all(CERTIFICATE) == []
    assert check(suspended.resources) == []


def test_reactivated_certificate_reuses_the_secret_cert_manager_left() -> None:
    before = Inventory.of(stack_args(workloads=WITH_WEB, verifiedDomains=[SHOP, BOOKS]))
    Inventory.of(stack_args(status="suspended", workloads=WITH_WEB, verifiedDomains=[SHOP, BOOKS]))
    # a fresh render (nothing carried over) after reactivation: the names follow the domain only
    after = Inventory.of(stack_args(workloads=WITH_WEB, verifiedDomains=[BOOKS, SHOP]))

    def secrets(inventory: Inventory) -> dict[str, tuple[str, str]]:
        return {
            c.props["spec"]["dnsNames"][0]: (c.name, c.props["spec"]["secretName"])
            for c in inventory.all(CERTIFICATE)
        }

    assert secrets(before) == secrets(after)
    assert secrets(after)[SHOP] == (
        f"tenant-acme-pro-certificate-{domain_key(SHOP)}",
        f"tls-{domain_key(SHOP)}",
    )
    # the Secret is cert-manager's: the stack never renders it, so no deploy deletes it
    assert not any(
        r.type == "kubernetes:core/v1:Secret" and r.props["metadata"]["name"].startswith("tls-")
        for r in before.resources
    )


def test_routes_go_to_the_web_workloads_service_on_its_port() -> None:
    inventory = Inventory.of(stack_args(workloads=WITH_WEB, verifiedDomains=[SHOP]))
    (route,) = inventory.all(INGRESS)
    backend = route.props["spec"]["rules"][0]["http"]["paths"][0]["backend"]
    assert backend == {"service": {"name": "web", "port": {"number": 8080}}}
    (service,) = inventory.all(SERVICE)
    assert service.props["metadata"]["name"] == "web"
    assert service.props["metadata"]["namespace"] == "tenant-acme-pro"
    assert service.props["spec"]["type"] == "ClusterIP"
    assert service.props["spec"]["ports"] == [
        {"name": "http", "port": 8080, "targetPort": 8080, "protocol": "TCP"}
    ]
    web = next(d for d in inventory.all(DEPLOYMENT) if d.props["metadata"]["name"] == "web")
    pod_labels = web.props["spec"]["template"]["metadata"]["labels"]
    assert service.props["spec"]["selector"].items() <= pod_labels.items()
    assert web.props["spec"]["selector"]["matchLabels"] == service.props["spec"]["selector"]
    (container,) = web.props["spec"]["template"]["spec"]["containers"]
    assert container["ports"] == [{"containerPort": 8080, "protocol": "TCP"}]
    # same options as the Deployment: in the namespace, after the Redis credentials
    assert service.parent_type == web.parent_type == "codexos:tenancy:TenantStack"
    assert service.provider == web.provider is not None
    # a workload without a port gets no Service and no container port
    agent = next(d for d in inventory.all(DEPLOYMENT) if d.props["metadata"]["name"] != "web")
    assert "ports" not in agent.props["spec"]["template"]["spec"]["containers"][0]


def test_web_workload_is_chosen_by_config() -> None:
    workloads = [{"name": "storefront", "image": IMAGE, "replicas": 1, "port": 3000}]
    args = stack_args(workloads=workloads, webWorkload="storefront", verifiedDomains=[SHOP])
    inventory = Inventory.of(args)
    backend = inventory.one(INGRESS).props["spec"]["rules"][0]["http"]["paths"][0]["backend"]
    assert backend == {"service": {"name": "storefront", "port": {"number": 3000}}}
    assert check(inventory.resources) == []


@pytest.mark.parametrize(
    ("workloads", "web"),
    [
        ([{"name": "agent-runtime", "image": IMAGE, "replicas": 2}], None),  # no `web` at all
        ([{"name": "web", "image": IMAGE, "replicas": 1}], None),  # `web` without a port
        (WITH_WEB, "storefront"),  # names a workload that does not exist
    ],
)
def test_verified_domains_without_a_web_workload_port_are_refused(
    workloads: list[dict[str, object]], web: str | None
) -> None:
    with pytest.raises(StackConfigError, match=r"`tenancy:webWorkload`.*with a port"):
        stack_args(workloads=workloads, webWorkload=web, verifiedDomains=[SHOP])
    # without verified domains nothing routes, so nothing is required
    stack_args(workloads=workloads, webWorkload=web)


@pytest.mark.parametrize("port", [0, 65536, -1, "8080", True, 8.5])
def test_bad_workload_port_is_refused(port: object) -> None:
    workloads = [{"name": "web", "image": IMAGE, "replicas": 1, "port": port}]
    with pytest.raises(StackConfigError, match=re.escape("`tenancy:workloads[0].port`")):
        stack_args(workloads=workloads)


def test_bad_web_workload_name_is_refused() -> None:
    with pytest.raises(StackConfigError, match=re.escape("`tenancy:webWorkload`")):
        stack_args(workloads=WITH_WEB, webWorkload="Web_1")


def _tenant(status: TenantStatus) -> Tenant:
    now = datetime(2026, 11, 2, tzinfo=UTC)
    return Tenant(
        id=uuid.UUID("1c8f5d2b-6a1f-4e6f-8b64-7a2d3e4f5b02"), slug="acme-pro", name="Acme",
        domain=None, status=status, plan="pro", limit_overrides={}, settings={},
        created_at=now, updated_at=now, status_changed_at=now,
        deleted_at=now if status is TenantStatus.DELETED else None, legal_hold=False,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("status", "served"),
    [(TenantStatus.ACTIVE, 1), (TenantStatus.SUSPENDED, 0), (TenantStatus.DELETED, 0)],
)
def test_stack_file_from_the_registry_to_the_rendered_stack(
    status: TenantStatus, served: int
) -> None:
    text = render_stack_file(_tenant(status), domains=[SHOP])
    config = yaml.safe_load(text)["config"]
    values = {k.removeprefix("tenancy:"): v for k, v in config.items()}
    merged = {**config_values(workloads=WITH_WEB), **values}
    args = parse_stack_config("tenant-acme-pro", merged, load_catalog(), "eu-west-1")
    inventory = Inventory.of(args)
    assert len(inventory.all(INGRESS)) == served
    # suspended: no Certificate (the namespace admits no solver pod); deleted: no domain listed
    assert len(inventory.all(CERTIFICATE)) == served
    assert check(inventory.resources) == []


def test_stack_values_list_domains_only_for_live_tenants() -> None:
    values = stack_values(_tenant(TenantStatus.ACTIVE), [SHOP, BOOKS])
    assert values["verifiedDomains"] == sorted([SHOP, BOOKS])
    assert "verifiedDomains" not in stack_values(_tenant(TenantStatus.DELETED), [SHOP])
    assert "verifiedDomains" not in stack_values(_tenant(TenantStatus.ACTIVE))


@pytest.mark.parametrize(
    ("value", "key"),
    [
        (["Shop.Acme.test"], "verifiedDomains[0]"),
        (["bücher.acme.test"], "verifiedDomains[0]"),
        (["*.acme.test"], "verifiedDomains[0]"),
        ([SHOP, SHOP], "verifiedDomains[1]"),
        ("shop.acme.test", "verifiedDomains"),
    ],
)
def test_bad_verified_domains_are_refused(value: object, key: str) -> None:
    with pytest.raises(StackConfigError, match=re.escape(f"`tenancy:{key}`")):
        stack_args(workloads=WITH_WEB, verifiedDomains=value)


def test_issuer_is_chosen_by_config() -> None:
    args = stack_args(
        workloads=WITH_WEB, verifiedDomains=[SHOP], acmeIssuer="letsencrypt-production"
    )
    (certificate,) = Inventory.of(args).all(CERTIFICATE)
    assert certificate.props["spec"]["issuerRef"]["name"] == "letsencrypt-production"
    with pytest.raises(StackConfigError, match="tenancy:acmeIssuer"):
        stack_args(acmeIssuer="my-own-issuer")


def test_cluster_issuers_are_valid_and_match_the_guardrail() -> None:
    manifests = cluster_issuer_manifests(IssuerConfig("ops@codexos.example"))
    assert [m["metadata"]["name"] for m in manifests] == [
        "letsencrypt-production",
        "letsencrypt-staging",
    ]
    assert {m["metadata"]["name"] for m in manifests} == set(PLATFORM_ISSUERS)
    servers = {m["metadata"]["name"]: m["spec"]["acme"]["server"] for m in manifests}
    assert servers["letsencrypt-staging"].startswith("https://acme-staging-v02.")
    assert servers["letsencrypt-production"] == "https://acme-v02.api.letsencrypt.org/directory"
    for manifest in manifests:
        assert crd_schema_errors(manifest) == []
    with pytest.raises(ValueError, match="acme email"):
        IssuerConfig("not-an-address")


def test_rendered_certificates_validate_against_the_vendored_schema() -> None:
    resources = render_tenant(stack_args(workloads=WITH_WEB, verifiedDomains=[SHOP]))
    (certificate,) = [r for r in resources if r.type == CERTIFICATE]
    assert crd_schema_errors(certificate.props) == []


def test_generate_writes_and_checks_the_verified_domains(tmp_path: Path) -> None:
    tenant = _tenant(TenantStatus.ACTIVE)
    generate([tenant], tmp_path, domains={tenant.id: [SHOP]})
    written = yaml.safe_load((tmp_path / "Pulumi.tenant-acme-pro.yaml").read_text())
    assert written["config"]["tenancy:verifiedDomains"] == [SHOP]
    assert generate([tenant], tmp_path, check=True, domains={tenant.id: [SHOP]}).unchanged
    # a domain revoked or released in the registry makes the committed file stale
    stale = generate([tenant], tmp_path, check=True, domains={})
    assert stale.out_of_date == ["tenant-acme-pro"]


def test_stacks_check_fails_when_two_stacks_serve_one_host(tmp_path: Path) -> None:
    assert shared_hosts({"tenant-a": [SHOP], "tenant-b": [BOOKS]}) == {}
    for path in STACKS_DIR.glob("*.yaml"):
        shutil.copy(path, tmp_path)
    for slug in ("acme-free", "globex-pro"):
        path = tmp_path / f"Pulumi.tenant-{slug}.yaml"
        path.write_text(path.read_text() + f"  tenancy:verifiedDomains:\n  - {SHOP}\n")
    result = CliRunner().invoke(app, ["stacks", "check", "acme-free", "--directory", str(tmp_path)])
    assert result.exit_code == 1
    assert (
        f"tenant-acme-free, tenant-globex-pro: host '{SHOP}' is served by 2 stacks" in result.output
    )
