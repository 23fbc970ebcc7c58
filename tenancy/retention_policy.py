"""The retention policy (`policies/retention.yaml`): one typed loader, and its checks.

Every status of the lifecycle but `purged` (whose data is gone) must give every category a
duration; every category must name the concrete tables, stream or storage prefixes it covers,
and only targets the sweep knows how to delete from are accepted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

import yaml

from tenancy.errors import TenancyError
from tenancy.tenant import TenantStatus

CATEGORIES = ("logs", "audit_trails", "user_data", "agent_executions")
SWEPT_STATUSES = (TenantStatus.ACTIVE, TenantStatus.SUSPENDED, TenantStatus.DELETED)
#: What the sweep can delete from: (kind, table) with the time column it expects.
KNOWN_TARGETS = {
    ("registry", "audit_log"): "created_at",
    ("registry", "documents"): "created_at",
    ("registry", "agent_executions"): "started_at",
    ("warehouse", "usage_events"): "occurred_at",
}
KNOWN_METRICS = ("api_call", "agent_execution")
_DURATION = re.compile(r"^(?P<n>[1-9][0-9]{0,4})(?P<unit>[dy])$")


class RetentionPolicyError(TenancyError):
    """The policy file is invalid; `problems` holds one line per defect."""

    def __init__(self, path: Path, problems: list[str]) -> None:
        self.path = path
        self.problems = problems
        listing = "\n".join(f"  {p}" for p in problems)
        super().__init__(f"retention policy {path} has {len(problems)} problem(s):\n{listing}")


@dataclass(frozen=True)
class Target:
    kind: Literal["registry", "warehouse", "storage"]
    table: str | None = None
    time_column: str | None = None
    metric: str | None = None
    prefix: str | None = None

    def describe(self) -> str:
        if self.kind == "storage":
            return f"storage tenants/<id>/{self.prefix}"
        metric = f" (metric {self.metric})" if self.metric else ""
        return f"{self.kind} {self.table}.{self.time_column}{metric}"


@dataclass(frozen=True)
class RetentionPolicy:
    path: Path
    targets: dict[str, tuple[Target, ...]]
    retention: dict[TenantStatus, dict[str, timedelta | None]]  # None: indefinite

    def keep_for(self, status: TenantStatus, category: str) -> timedelta | None:
        return self.retention[status][category]


def default_policy_path() -> Path:
    return Path(__file__).resolve().parent.parent / "policies" / "retention.yaml"


def parse_duration(text: object) -> timedelta | None:
    """`90d`, `7y` (365 days each) or `indefinite` (None); raises ValueError otherwise."""
    if text == "indefinite":
        return None
    match = _DURATION.fullmatch(str(text)) if isinstance(text, str) else None
    if match is None:
        raise ValueError(f"{text!r}; expected <n>d, <n>y or indefinite")
    days = int(match["n"]) * (365 if match["unit"] == "y" else 1)
    return timedelta(days=days)


def _target(raw: Any, where: str, problems: list[str]) -> Target | None:
    if not isinstance(raw, dict):
        problems.append(f"{where}: is {raw!r}; expected a mapping with `kind`")
        return None
    kind = raw.get("kind")
    if kind == "storage":
        prefix = raw.get("prefix")
        if not isinstance(prefix, str) or not re.fullmatch(r"[a-z]+/", prefix):
            problems.append(f"{where}.prefix: is {prefix!r}; expected a folder such as documents/")
            return None
        return Target("storage", prefix=prefix)
    table, column, metric = raw.get("table"), raw.get("time_column"), raw.get("metric")
    expected = KNOWN_TARGETS.get((str(kind), str(table)))
    if expected is None:
        known = ", ".join(f"{k} {t}" for k, t in KNOWN_TARGETS)
        problems.append(f"{where}: {kind} {table!r} is not sweepable; expected one of: {known}")
        return None
    if column != expected:
        problems.append(f"{where}.time_column: is {column!r}; expected {expected!r}")
        return None
    if kind == "warehouse" and metric not in KNOWN_METRICS:
        problems.append(f"{where}.metric: is {metric!r}; expected one of {KNOWN_METRICS}")
        return None
    return Target(kind, table, column, metric)  # type: ignore[arg-type]


def load_policy(path: Path | None = None) -> RetentionPolicy:
    """Read and check the policy; every problem is reported at once."""
    path = path or default_policy_path()
    try:
        raw = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise RetentionPolicyError(path, [f"unreadable: {exc}"]) from None
    problems: list[str] = []
    if not isinstance(raw, dict) or raw.get("version") != 1:
        raise RetentionPolicyError(path, ["`version` must be 1 at the top of a mapping"])
    categories = raw.get("categories") or {}
    targets: dict[str, tuple[Target, ...]] = {}
    for category in CATEGORIES:
        entries = (categories.get(category) or {}).get("targets")
        if not isinstance(entries, list) or not entries:
            problems.append(f"categories.{category}.targets: missing; expected at least one target")
            continue
        parsed = [
            _target(e, f"categories.{category}.targets[{i}]", problems)
            for i, e in enumerate(entries)
        ]
        targets[category] = tuple(t for t in parsed if t is not None)
    problems += [
        f"categories.{c}: unknown category; expected one of {CATEGORIES}"
        for c in categories
        if c not in CATEGORIES
    ]
    table = raw.get("retention") or {}
    retention: dict[TenantStatus, dict[str, timedelta | None]] = {}
    for status in SWEPT_STATUSES:
        row = table.get(status.value)
        if not isinstance(row, dict):
            problems.append(f"retention.{status.value}: missing; expected a duration per category")
            continue
        retention[status] = {}
        for category in CATEGORIES:
            try:
                retention[status][category] = parse_duration(row.get(category))
            except ValueError as exc:
                problems.append(f"retention.{status.value}.{category}: is {exc}")
        problems += [
            f"retention.{status.value}.{c}: unknown category" for c in row if c not in CATEGORIES
        ]
    problems += [
        f"retention.{s}: unknown status; expected active, suspended or deleted"
        for s in table
        if s not in {x.value for x in SWEPT_STATUSES}
    ]
    if problems:
        raise RetentionPolicyError(path, problems)
    return RetentionPolicy(path, targets, retention)
