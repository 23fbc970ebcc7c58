"""Dashboards as code: the committed JSON is exactly what the builders make, the per-tenant
dashboard is one dashboard with a `tenant` variable, and drift is caught by name."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from typer.testing import CliRunner

from policies.observability.cli import app
from policies.observability.dashboards import dashboards, expressions
from policies.observability.files import DASHBOARDS_DIR, generate

runner = CliRunner()


def test_committed_dashboards_match_the_builders() -> None:
    report = generate(DASHBOARDS_DIR, check=True)
    assert report.stale == [] and report.extra == [], (
        f"stale {report.stale}, extra {report.extra}: run `tenancy dashboards generate`"
    )
    assert sorted(report.unchanged) == sorted(f"{uid}.json" for uid in dashboards())


def test_check_names_a_stale_a_missing_and_an_extra_file(tmp_path: Path) -> None:
    shutil.copytree(DASHBOARDS_DIR, tmp_path, dirs_exist_ok=True)
    board = json.loads((tmp_path / "codexos-cost.json").read_text())
    board["panels"][1]["targets"][0]["expr"] = "vector(1)"  # a hand edit
    (tmp_path / "codexos-cost.json").write_text(json.dumps(board))
    (tmp_path / "codexos-tenant.json").unlink()
    (tmp_path / "old.json").write_text("{}")
    result = runner.invoke(app, ["generate", "--check", "--directory", str(tmp_path)])
    assert result.exit_code == 1
    assert "codexos-cost.json is out of date" in result.output
    assert "codexos-tenant.json is out of date" in result.output
    assert "old.json is made by no builder" in result.output
    assert (
        board["panels"][1]["targets"][0]["expr"]
        == json.loads((tmp_path / "codexos-cost.json").read_text())["panels"][1]["targets"][0][
            "expr"
        ]
    ), "--check writes nothing"
    fixed = runner.invoke(app, ["generate", "--directory", str(tmp_path)])
    assert fixed.exit_code == 0, fixed.output
    assert generate(tmp_path, check=True).stale == [] and not (tmp_path / "old.json").exists()


def test_one_tenant_dashboard_with_a_tenant_variable() -> None:
    board = dashboards()["codexos-tenant"]
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["tenant"]["type"] == "query"
    assert variables["tenant"]["query"]["query"] == "label_values(tenant_plan, tenant)"
    panel_queries = [e for title, e in expressions(board) if not title.startswith("variable")]
    assert panel_queries and all('tenant="$tenant"' in e for e in panel_queries), (
        "every per-tenant panel is filtered by the variable"
    )


def test_every_panel_has_a_unique_id_and_a_prometheus_datasource() -> None:
    for uid, board in dashboards().items():
        ids = [p["id"] for p in board["panels"]]
        assert len(ids) == len(set(ids)), f"{uid}: duplicate panel ids"
        for panel in board["panels"]:
            if panel["type"] == "row":
                continue
            assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, (
                f"{uid}: panel {panel['title']}"
            )
            assert panel["targets"], f"{uid}: panel {panel['title']} has no query"


def test_the_four_dashboards_the_spec_asks_for() -> None:
    titles = {board["title"] for board in dashboards().values()}
    assert titles == {
        "CodexOS / Tenant",
        "CodexOS / All tenants",
        "CodexOS / Resource utilization",
        "CodexOS / Cost",
    }
    utilization = " ".join(e for _, e in expressions(dashboards()["codexos-utilization"]))
    for resource in ("storage_gb", "api_calls_per_month", "users", "agents"):
        assert f'resource="{resource}"' in utilization
    cost = " ".join(e for _, e in expressions(dashboards()["codexos-cost"]))
    assert "plan_base_monthly_cents" in cost and "plan_overage_block_cents" in cost
