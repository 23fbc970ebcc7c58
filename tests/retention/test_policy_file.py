"""Retention's policy file (the spec's table, every problem of a broken one named) and the rule
that decides, by tenant status, what a category keeps."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tenancy.cli.main import app
from tenancy.retention import decide
from tenancy.retention_policy import RetentionPolicyError, load_policy
from tenancy.tenant import TenantStatus
from tests.retention.sweeper import NOW, POLICY, SECOND
from tests.test_lifecycle_rules import tenant as fake_tenant


def test_the_policy_file_holds_the_spec_table() -> None:
    days = {
        status.value: {c: (d.days if d else None) for c, d in row.items()}
        for status, row in POLICY.retention.items()
    }
    assert days == {
        "active": {"logs": 365, "audit_trails": 2555, "user_data": None, "agent_executions": 90},
        "suspended": {"logs": 30, "audit_trails": 365, "user_data": 365, "agent_executions": 30},
        "deleted": {"logs": 7, "audit_trails": 90, "user_data": 30, "agent_executions": 7},
    }
    assert [t.describe() for t in POLICY.targets["user_data"]] == [
        "registry documents.created_at",
        "storage tenants/<id>/documents/",
        "storage tenants/<id>/uploads/",
        "storage tenants/<id>/exports/",
    ]


def test_a_broken_policy_names_every_problem(tmp_path: Path) -> None:
    path = tmp_path / "retention.yaml"
    text = Path(POLICY.path).read_text()
    path.write_text(
        text.replace("logs: 30d", "logs: 30 days")
        .replace("table: documents", "table: users")
        .replace("  deleted: {", "  gone: {")
    )
    with pytest.raises(RetentionPolicyError) as info:
        load_policy(path)
    assert info.value.problems == [
        "categories.user_data.targets[0]: registry 'users' is not sweepable; expected one of: "
        "registry audit_log, registry documents, registry agent_executions, warehouse usage_events",
        "retention.suspended.logs: is '30 days'; expected <n>d, <n>y or indefinite",
        "retention.deleted: missing; expected a duration per category",
        "retention.gone: unknown status; expected active, suspended or deleted",
    ]
    result = CliRunner().invoke(app, ["retention", "check", str(path)])
    assert result.exit_code == 1 and "is '30 days'" in result.output
    assert CliRunner().invoke(app, ["retention", "check"]).exit_code == 0


def test_decide_by_status_to_the_second() -> None:
    active = fake_tenant(TenantStatus.ACTIVE)
    assert decide(active, "logs", POLICY, NOW).cutoff == NOW - timedelta(days=365)
    assert decide(active, "user_data", POLICY, NOW).outcome == "indefinite"
    suspended = fake_tenant(TenantStatus.SUSPENDED, status_changed_at=NOW - timedelta(days=30))
    assert decide(suspended, "logs", POLICY, NOW).cutoff == NOW - timedelta(days=30)
    assert decide(suspended, "logs", POLICY, NOW - SECOND).outcome == "in_grace"
    held = dataclasses.replace(suspended, legal_hold=True, legal_hold_reason="case")
    assert decide(held, "logs", POLICY, NOW).outcome == "blocked_by_hold"
    purged = fake_tenant(
        TenantStatus.PURGED, deleted_at=NOW - timedelta(days=90), status_changed_at=NOW
    )
    assert decide(purged, "audit_trails", POLICY, NOW).cutoff == NOW - timedelta(days=90)
