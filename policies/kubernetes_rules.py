"""Guardrails for the tenant's namespace: isolation, labels, plan quotas and schema validity."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from policies import tokens as t
from policies.kubernetes_schema import KUBERNETES_VERSION, schema_errors
from policies.rule import Resource, ResourceRule, StackRule
from tenancy.plans import PlanCatalog, default_catalog


def _metadata(props: dict[str, Any]) -> dict[str, Any]:
    meta = props.get("metadata") or {}
    return meta if isinstance(meta, dict) else {}


def _labels(props: dict[str, Any]) -> Iterable[str]:
    labels = _metadata(props).get("labels") or {}
    missing = [tag for tag in t.REQUIRED_TAGS if not labels.get(tag)]
    if missing:
        yield f"missing labels: {', '.join(missing)}"


def expected_quota(
    plan_name: str, status: str, catalog: PlanCatalog | None = None
) -> dict[str, str]:
    quota = (catalog or default_catalog()).get(plan_name).kubernetes
    return {
        "requests.cpu": quota.cpu,
        "limits.cpu": quota.cpu,
        "requests.memory": quota.memory,
        "limits.memory": quota.memory,
        "pods": "0" if status in ("suspended", "deleted") else str(quota.pods),
    }


def _quota_matches_plan(props: dict[str, Any]) -> Iterable[str]:
    labels = _metadata(props).get("labels") or {}
    plan = labels.get("plan")
    if plan not in default_catalog().names:
        yield f"label plan is {plan!r}; expected a plan of the catalog"
        return
    expected = expected_quota(plan, labels.get("tenant-status", "active"))
    hard = {k: str(v) for k, v in ((props.get("spec") or {}).get("hard") or {}).items()}
    for key, value in expected.items():
        if hard.get(key) != value:
            yield f"hard {key} is {hard.get(key)!r}; plan {plan} says {value!r}"


def _limits_match_plan(props: dict[str, Any]) -> Iterable[str]:
    plan = (_metadata(props).get("labels") or {}).get("plan")
    if plan not in default_catalog().names:
        yield f"label plan is {plan!r}; expected a plan of the catalog"
        return
    quota = default_catalog().get(plan).kubernetes
    items = (props.get("spec") or {}).get("limits") or []
    containers = [item for item in items if item.get("type") == "Container"]
    if not containers:
        yield "no Container limit item"
    for item in containers:
        if (item.get("default") or {}).get("cpu") != quota.container_cpu:
            yield f"default cpu is {(item.get('default') or {}).get('cpu')!r}; plan {plan} says {quota.container_cpu!r}"
        if (item.get("max") or {}).get("memory") != quota.memory:
            yield f"max memory is {(item.get('max') or {}).get('memory')!r}; plan {plan} says {quota.memory!r}"


def _schema_valid(props: dict[str, Any]) -> Iterable[str]:
    manifest = {k: v for k, v in props.items() if not k.startswith("__")}
    for error in schema_errors(manifest):
        yield f"does not validate against the Kubernetes {KUBERNETES_VERSION} schema: {error}"


def _is_default_deny(props: dict[str, Any]) -> bool:
    spec = props.get("spec") or {}
    selector = spec.get("podSelector")
    selects_all = selector is not None and not (
        selector.get("matchLabels") or selector.get("matchExpressions")
    )
    return (
        selects_all
        and {"Ingress", "Egress"} <= set(spec.get("policyTypes") or [])
        and not spec.get("ingress")
        and not spec.get("egress")
    )


def _namespace_isolated(resources: Sequence[Resource]) -> Iterable[tuple[str, str]]:
    def in_namespace(kind: str, ns: object) -> list[Resource]:
        return [
            r for r in resources if r.type == kind and _metadata(r.props).get("namespace") == ns
        ]

    for namespace in (r for r in resources if r.type == t.NAMESPACE):
        ns = _metadata(namespace.props).get("name")
        if not any(_is_default_deny(p.props) for p in in_namespace(t.NETWORK_POLICY, ns)):
            yield (
                namespace.name,
                f"namespace {ns} has no default-deny NetworkPolicy (ingress and egress)",
            )
        if not in_namespace(t.RESOURCE_QUOTA, ns):
            yield namespace.name, f"namespace {ns} has no ResourceQuota"
        if not in_namespace(t.LIMIT_RANGE, ns):
            yield namespace.name, f"namespace {ns} has no LimitRange"


RESOURCE_RULES = (
    ResourceRule(
        "kubernetes-labels-present",
        "Every Kubernetes object carries tenant-id, plan and managed-by labels.",
        "pass metadata.labels=infra.network.labels(args)",
        t.KUBERNETES,
        _labels,
    ),
    ResourceRule(
        "quota-matches-plan",
        "The namespace ResourceQuota equals the plan catalog's (pods 0 when suspended).",
        "derive the quota from the plan catalog (infra.network.quota_hard)",
        (t.RESOURCE_QUOTA,),
        _quota_matches_plan,
    ),
    ResourceRule(
        "limit-range-matches-plan",
        "The namespace LimitRange uses the plan catalog's container defaults and maxima.",
        "derive the LimitRange from the plan catalog",
        (t.LIMIT_RANGE,),
        _limits_match_plan,
    ),
    ResourceRule(
        "kubernetes-schema-valid",
        "Rendered Kubernetes objects validate against the Kubernetes OpenAPI schema.",
        "fix the field named in the message",
        t.KUBERNETES,
        _schema_valid,
    ),
)

STACK_RULES = (
    StackRule(
        "namespace-isolated",
        "Each tenant namespace has a default-deny NetworkPolicy, a ResourceQuota and a LimitRange.",
        "create the namespace through infra.network.tenant_namespace",
        _namespace_isolated,
    ),
)
