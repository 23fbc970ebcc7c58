"""Usage against plan limits: state per metric, and what enforcement blocks.

ok below 90 % of a limit, warning from 90 % (the alert threshold of the product spec),
exceeded above the limit (a limit of 1,000 allows 1,000). An unlimited limit is always ok and
has no ratio. A metric is blocked when it is exceeded and the plan sells no overage for it
(the free plan's hard limits); paid plans keep running and pay the overage.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from tenancy.plans import Plan

WARNING_RATIO = 0.9
BYTES_PER_GB = 10**9
#: Monthly usage metric -> (plan limit key, divisor into the limit's unit).
LIMITED_METRICS = {
    "api_calls": ("api_calls_per_month", 1),
    "users": ("users", 1),
    "agents": ("agents", 1),
    "storage_bytes": ("storage_gb", BYTES_PER_GB),
}
_NOUNS = {
    "api_calls_per_month": "API calls this month",
    "users": "users",
    "agents": "agents",
    "storage_gb": "GB stored",
}


class QuotaState(StrEnum):
    OK = "ok"
    WARNING = "warning"
    EXCEEDED = "exceeded"


@dataclass(frozen=True)
class QuotaStatus:
    tenant_id: uuid.UUID
    limit_key: str
    used: float
    limit: float | None
    ratio: float | None
    state: QuotaState
    blocked: bool
    reason: str


def evaluate(
    tenant_id: uuid.UUID,
    plan: Plan,
    overrides: Mapping[str, Any] | None,
    usage: Mapping[str, float],
) -> list[QuotaStatus]:
    """One status per limited metric, in LIMITED_METRICS order; missing usage counts as 0."""
    limits = plan.effective_limits(overrides)
    out = []
    for metric, (limit_key, divisor) in LIMITED_METRICS.items():
        used = float(usage.get(metric, 0)) / divisor
        limit = limits[limit_key]
        ratio = limit.ratio(used)
        if ratio is None:
            state = QuotaState.OK
        elif not limit.allows(used):
            state = QuotaState.EXCEEDED
        elif ratio >= WARNING_RATIO:
            state = QuotaState.WARNING
        else:
            state = QuotaState.OK
        blocked = state is QuotaState.EXCEEDED and limit_key not in plan.pricing.overage
        shown = f"{used:,.0f}" if divisor == 1 else f"{used:,.2f}"
        reason = f"{shown} of {limit} {_NOUNS[limit_key]} (plan {plan.name})"
        out.append(
            QuotaStatus(
                tenant_id,
                limit_key,
                used,
                None if limit.maximum is None else float(limit.maximum),
                ratio,
                state,
                blocked,
                reason,
            )
        )
    return out
