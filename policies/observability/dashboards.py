"""The operators' Grafana dashboards, built with Grafana's own foundation SDK.

Four dashboards: one per tenant (a `tenant` variable, not a file per tenant), the aggregate
across tenants, resource utilization against limits, and cost priced from the plan catalog.
Every panel's PromQL comes from `policies.observability.queries`; `tenancy dashboards generate`
writes them to `policies/dashboards/<uid>.json` and `--check` fails on drift.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

from grafana_foundation_sdk.builders import bargauge, stat, table, timeseries
from grafana_foundation_sdk.builders.dashboard import (
    Dashboard,
    DatasourceVariable,
    QueryVariable,
    Row,
)
from grafana_foundation_sdk.builders.prometheus import Dataquery
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import (
    DataSourceRef,
    VariableRefresh,
    VariableSort,
)

from policies.observability import queries as q

DATASOURCE = DataSourceRef(type_val="prometheus", uid="${datasource}")
TENANT = "$tenant"
TAGS = ["codexos", "tenancy"]
Kind = Literal["timeseries", "stat", "bargauge", "table"]


@dataclass(frozen=True)
class Panel:
    """One panel: its title, how it is drawn, its unit and its queries (expr, legend)."""

    title: str
    kind: Kind
    targets: tuple[tuple[str, str], ...]
    unit: str = "short"
    description: str = ""
    width: int = 12
    maximum: float | None = None


def _build_panel(panel: Panel) -> Any:
    factories: dict[str, Callable[[], Any]] = {
        "timeseries": timeseries.Panel,
        "stat": stat.Panel,
        "bargauge": bargauge.Panel,
        "table": table.Panel,
    }
    builder = factories[panel.kind]()
    builder = (
        builder.title(panel.title)
        .description(panel.description)
        .datasource(DATASOURCE)
        .unit(panel.unit)
        .span(panel.width)
        .height(8)
    )
    if panel.maximum is not None:
        builder = builder.min(0).max(panel.maximum)
    instant = panel.kind in ("stat", "bargauge", "table")
    for ref, (expr, legend) in zip("ABCDEFGH", panel.targets, strict=False):
        query = Dataquery().expr(expr).legend_format(legend).ref_id(ref).datasource(DATASOURCE)
        builder = builder.with_target(query.instant() if instant else query.range())
    return builder


def _dashboard(
    uid: str, title: str, description: str, rows: list[tuple[str, list[Panel]]], tenant_var: bool
) -> dict[str, Any]:
    board = (
        Dashboard(title)
        .uid(uid)
        .description(description)
        .tags(TAGS)
        .editable()
        .refresh("1m")
        .time("now-6h", "now")
        .timezone("utc")
        .with_variable(DatasourceVariable("datasource").label("Prometheus").type("prometheus"))
    )
    if tenant_var:
        board = board.with_variable(
            QueryVariable("tenant")
            .label("Tenant")
            .datasource(DATASOURCE)
            .query({"query": "label_values(tenant_plan, tenant)", "refId": "tenant"})
            .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
            .sort(VariableSort.ALPHABETICAL_ASC)
        )
    for row_title, panels in rows:
        board = board.with_row(Row(row_title))
        for panel in panels:
            board = board.with_panel(_build_panel(panel))
    built: dict[str, Any] = json.loads(json.dumps(board.build(), cls=JSONEncoder))
    for number, panel in enumerate(built["panels"], start=1):
        panel["id"] = number  # Grafana keys panel state (links, edits) by a unique id
        for key in [k for k, v in panel.items() if v is None]:
            del panel[key]  # the SDK leaves unset plugin options as null
    return built


def tenant_dashboard() -> dict[str, Any]:
    return _dashboard(
        "codexos-tenant",
        "CodexOS / Tenant",
        "One tenant (pick it in the `tenant` variable): requests, refusals, limits, cost.",
        [
            (
                "Requests",
                [
                    Panel(
                        "Requests by status class",
                        "timeseries",
                        ((q.requests_by_status(TENANT), "{{status_class}}"),),
                        unit="reqps",
                    ),
                    Panel(
                        "Refused: rate limit, quota, pipeline block",
                        "timeseries",
                        ((q.refusals_by_reason(TENANT), "{{reason}}"),),
                        unit="reqps",
                    ),
                ],
            ),
            (
                "Limits this month",
                [
                    Panel(
                        "Share of each limit in use",
                        "bargauge",
                        ((q.usage_fraction(TENANT), "{{resource}}"),),
                        unit="percentunit",
                        maximum=1,
                        description="Alerted at 90 % (TenantResourceExhaustion).",
                    ),
                    Panel(
                        "Used and limit",
                        "table",
                        (
                            (q.tenant_used(TENANT), "used {{resource}}"),
                            (q.tenant_limit(TENANT), "limit {{resource}}"),
                        ),
                        description="An unlimited limit has no limit value.",
                    ),
                    Panel(
                        "Blocked by the quota gate (1 = blocked)",
                        "stat",
                        ((q.blocked(TENANT), "{{resource}}"),),
                    ),
                    Panel(
                        "Estimated invoice this month",
                        "stat",
                        ((q.estimate_dollars(TENANT), "estimate"),),
                        unit="currencyUSD",
                        description="Base price plus started overage blocks at the current level.",
                    ),
                ],
            ),
        ],
        tenant_var=True,
    )


def aggregate_dashboard() -> dict[str, Any]:
    return _dashboard(
        "codexos-tenants",
        "CodexOS / All tenants",
        "Across tenants: traffic, admission decisions, plans, blocks, the usage pipeline and "
        "invoicing.",
        [
            (
                "Request path",
                [
                    Panel(
                        "Requests by status class",
                        "timeseries",
                        ((q.requests_by_status(), "{{status_class}}"),),
                        unit="reqps",
                    ),
                    Panel(
                        "Refusals by reason",
                        "timeseries",
                        ((q.refusals_by_reason(), "{{reason}}"),),
                        unit="reqps",
                    ),
                    Panel(
                        "Admitted share of decisions",
                        "stat",
                        ((q.admitted_ratio(), "admitted"),),
                        unit="percentunit",
                    ),
                    Panel(
                        "Rate limiter outcomes",
                        "timeseries",
                        ((q.ratelimit_outcomes(), "{{outcome}}"),),
                        unit="reqps",
                    ),
                    Panel(
                        "Busiest tenants",
                        "bargauge",
                        ((q.top_tenants_by_requests(), "{{tenant}}"),),
                        unit="reqps",
                        width=24,
                    ),
                ],
            ),
            (
                "Tenants",
                [
                    Panel("Tenants by plan", "stat", ((q.tenants_by_plan(), "{{plan}}"),)),
                    Panel(
                        "Limits blocked by the quota gate",
                        "stat",
                        ((q.blocked_total(), "blocked"),),
                    ),
                ],
            ),
            (
                "Usage pipeline",
                [
                    Panel(
                        "Since the last successful ingest, per shard",
                        "stat",
                        ((q.ingest_age(), "shard {{shard}}"),),
                        unit="s",
                        description="UsageIngestStale fires past one hour.",
                    ),
                    Panel(
                        "Quarantined share of the last ingest, per shard",
                        "stat",
                        ((q.quarantine_ratio(), "shard {{shard}}"),),
                        unit="percentunit",
                        description="UsageQuarantineRateHigh fires above 1 %.",
                    ),
                    Panel(
                        "Entries of the last ingest, per shard",
                        "bargauge",
                        ((q.ingest_entries(), "shard {{shard}} {{outcome}}"),),
                        width=24,
                    ),
                ],
            ),
            (
                "Invoicing",
                [
                    Panel(
                        "Invoices by status",
                        "bargauge",
                        ((q.invoices_by_status(), "{{status}}"),),
                    ),
                    Panel(
                        "Held by reconciliation",
                        "table",
                        ((q.held_invoices(), "{{tenant}} {{period}}"),),
                        description="InvoiceHeldByReconciliation fires for each; "
                        "`tenancy billing reconcile --month` names the differences.",
                    ),
                ],
            ),
        ],
        tenant_var=False,
    )


def utilization_dashboard() -> dict[str, Any]:
    rows: list[tuple[str, list[Panel]]] = [
        (
            "Near the limit",
            [
                Panel(
                    "Tenants at or above 90 % of a limit",
                    "bargauge",
                    ((q.near_limit_by_resource(), "{{resource}}"),),
                    width=24,
                )
            ],
        )
    ]
    for resource in q.RESOURCES:
        rows.append(
            (
                resource,
                [
                    Panel(
                        f"{resource}: share of the limit, top 20 tenants",
                        "bargauge",
                        ((f"topk(20, {q.usage_fraction(resource=resource)})", "{{tenant}}"),),
                        unit="percentunit",
                        maximum=1,
                    ),
                    Panel(
                        f"{resource}: used and limit",
                        "table",
                        (
                            (q.used(resource), "used {{tenant}}"),
                            (q.limit(resource), "limit {{tenant}}"),
                        ),
                    ),
                ],
            )
        )
    return _dashboard(
        "codexos-utilization",
        "CodexOS / Resource utilization",
        "Storage, API calls, users and agents against each tenant's limit (overrides applied).",
        rows,
        tenant_var=False,
    )


def cost_dashboard() -> dict[str, Any]:
    return _dashboard(
        "codexos-cost",
        "CodexOS / Cost",
        "Usage priced by the plan catalog's own prices (exported as metrics): the month so far "
        "at current levels. The invoice (`tenancy billing preview`) is the authority.",
        [
            (
                "This month",
                [
                    Panel(
                        "Base price by plan",
                        "bargauge",
                        ((q.base_by_plan_dollars(), "{{plan}}"),),
                        unit="currencyUSD",
                    ),
                    Panel(
                        "Overage by resource",
                        "bargauge",
                        ((q.overage_by_resource_dollars(), "{{resource}}"),),
                        unit="currencyUSD",
                    ),
                    Panel(
                        "Largest estimated invoices",
                        "table",
                        ((q.top_tenants_by_cost(), "{{tenant}}"),),
                        unit="currencyUSD",
                        width=24,
                    ),
                ],
            )
        ],
        tenant_var=False,
    )


BUILDERS = {
    "codexos-tenant": tenant_dashboard,
    "codexos-tenants": aggregate_dashboard,
    "codexos-utilization": utilization_dashboard,
    "codexos-cost": cost_dashboard,
}


def dashboards() -> dict[str, dict[str, Any]]:
    """Every dashboard by uid (also its file name)."""
    return {uid: build() for uid, build in BUILDERS.items()}


def render(dashboard: dict[str, Any]) -> str:
    return json.dumps(dashboard, indent=2, sort_keys=True) + "\n"


def expressions(dashboard: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(panel title, PromQL) for every query of every panel, and of every query variable."""
    for variable in dashboard.get("templating", {}).get("list", []):
        query = variable.get("query")
        if variable.get("type") == "query" and isinstance(query, dict):
            yield f"variable {variable['name']}", str(query["query"])
    for panel in dashboard.get("panels", []):
        for target in panel.get("targets") or []:
            yield str(panel.get("title")), str(target["expr"])
