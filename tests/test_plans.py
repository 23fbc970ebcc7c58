"""The plan catalog: the shipped plans, and every kind of defect pinned by its message."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tenancy.cli.main import app
from tenancy.errors import InvalidInputError, PlanCatalogError, UnknownPlanError
from tenancy.limits import Limit
from tenancy.plans import DEFAULT_PLANS_DIR, load_catalog


@pytest.fixture
def plans_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)  # messages show paths relative to the working directory
    target = tmp_path / "plans"
    shutil.copytree(DEFAULT_PLANS_DIR, target)
    return target


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def problems(directory: Path) -> list[str]:
    with pytest.raises(PlanCatalogError) as info:
        load_catalog(directory)
    return info.value.problems


def test_shipped_catalog_matches_the_product_spec() -> None:
    catalog = load_catalog()
    assert catalog.names == ["free", "pro", "enterprise"]
    limits = {
        plan.name: (
            plan.limits.users,
            plan.limits.agents,
            plan.limits.storage_gb,
            plan.limits.api_calls_per_month,
        )
        for plan in catalog
    }
    assert limits == {
        "free": (Limit(5), Limit(10), Limit(1), Limit(1000)),
        "pro": (Limit(25), Limit(100), Limit(10), Limit(10000)),
        "enterprise": (Limit(None), Limit(None), Limit(100), Limit(100000)),
    }
    assert catalog.get("enterprise").storage.model == "dedicated_bucket"


def test_unlimited_never_enters_arithmetic() -> None:
    unlimited = load_catalog().get("enterprise").limits.users
    assert unlimited.unlimited and unlimited.maximum is None
    assert unlimited.allows(10**12)
    assert unlimited.ratio(10**12) is None
    assert Limit(1000).ratio(900) == 0.9
    assert not Limit(1000).allows(1001)


def test_overrides_replace_plan_limits_and_are_validated() -> None:
    pro = load_catalog().get("pro")
    effective = pro.effective_limits({"api_calls_per_month": 50000, "users": "unlimited"})
    assert effective["api_calls_per_month"] == Limit(50000)
    assert effective["users"].unlimited
    assert effective["agents"] == Limit(100)
    with pytest.raises(InvalidInputError, match=r"limit override `users` is -1; expected a number"):
        pro.effective_limits({"users": -1})
    with pytest.raises(InvalidInputError, match=r"limit override key is 'gpus'; expected one of"):
        pro.effective_limits({"gpus": 1})


def test_unknown_plan_names_the_known_ones() -> None:
    with pytest.raises(
        UnknownPlanError, match=r"unknown plan 'platinum'; expected one of: free, pro, enterprise"
    ):
        load_catalog().get("platinum")


def test_negative_limit(plans_dir: Path) -> None:
    edit(plans_dir / "pro.yaml", "storage_gb: 10", "storage_gb: -1")
    assert problems(plans_dir) == [
        "plans/pro.yaml: plan `pro`: `limits.storage_gb` is -1; expected a number >= 0 or `unlimited`"
    ]


def test_unknown_key(plans_dir: Path) -> None:
    edit(plans_dir / "free.yaml", "  pods: 5", "  pods: 5\n  gpus: 1")
    assert problems(plans_dir) == [
        "plans/free.yaml: plan `free`: `kubernetes.gpus` is an unknown key; "
        "expected one of: cpu, memory, pods, container_cpu, container_memory"
    ]


def test_wrong_types(plans_dir: Path) -> None:
    edit(plans_dir / "pro.yaml", "burst: 60", 'burst: "60"')
    edit(plans_dir / "pro.yaml", "memory: 8Gi", "memory: 8GB")
    found = problems(plans_dir)
    assert 'plans/pro.yaml: plan `pro`: `rate_limit.burst` is "60"; expected an integer' in found
    assert (
        'plans/pro.yaml: plan `pro`: `kubernetes.memory` is "8GB"; '
        'expected a memory quantity such as "8Gi"' in found
    )


def test_missing_field_and_missing_plan(plans_dir: Path) -> None:
    (plans_dir / "enterprise.yaml").unlink()
    edit(plans_dir / "free.yaml", "storage:\n  model: shared_prefix\n", "")
    found = problems(plans_dir)
    assert "plans/free.yaml: plan `free`: `storage` is missing" in found
    assert any(p.startswith("plans: plan `enterprise` is missing; expected a file") for p in found)


def test_duplicate_plan_names(plans_dir: Path) -> None:
    shutil.copy(plans_dir / "pro.yaml", plans_dir / "pro-copy.yaml")
    assert problems(plans_dir) == [
        'plans/pro.yaml: plan `pro`: `name` is "pro", already declared by plans/pro-copy.yaml; '
        "expected each plan name once"
    ]


def test_price_on_an_unlimited_limit(plans_dir: Path) -> None:
    edit(
        plans_dir / "enterprise.yaml",
        "storage_gb: {per: 1, cents: 20}",
        "storage_gb: {per: 1, cents: 20}\n    users: {per: 1, cents: 900}",
    )
    assert problems(plans_dir) == [
        "plans/enterprise.yaml: plan `enterprise`: `pricing.overage.users` prices usage above "
        "`limits.users`, which is unlimited; expected a numeric limit or no overage price"
    ]


def test_duplicate_yaml_key_and_bad_yaml(plans_dir: Path) -> None:
    edit(plans_dir / "free.yaml", "  users: 5", "  users: 5\n  users: 50")
    (plans_dir / "pro.yaml").write_text("name: pro\nlimits: [unclosed\n")
    found = problems(plans_dir)
    assert any(
        p.startswith("plans/free.yaml: not valid YAML:") and "duplicate key 'users'" in p
        for p in found
    )
    assert any(p.startswith("plans/pro.yaml: not valid YAML:") for p in found)


def test_problems_from_many_files_are_all_reported(plans_dir: Path) -> None:
    edit(plans_dir / "free.yaml", "users: 5", "users: -1")
    edit(plans_dir / "pro.yaml", "model: shared_prefix", "model: bucket")
    found = problems(plans_dir)
    assert len(found) == 2
    assert (
        'plans/pro.yaml: plan `pro`: `storage.model` is "bucket"; expected one of '
        "'shared_prefix' or 'dedicated_bucket'" in found
    )


def test_cli_plans_check(plans_dir: Path) -> None:
    runner = CliRunner()
    ok = runner.invoke(app, ["plans", "check", str(plans_dir)])
    assert ok.exit_code == 0, ok.output
    assert "enterprise" in ok.output and "unlimited" in ok.output
    edit(plans_dir / "pro.yaml", "storage_gb: 10", "storage_gb: -1")
    bad = runner.invoke(app, ["plans", "check", str(plans_dir)])
    assert bad.exit_code == 1
    assert "`limits.storage_gb` is -1; expected a number >= 0 or `unlimited`" in bad.output
    as_json = runner.invoke(app, ["plans", "check", str(plans_dir), "--json"])
    assert as_json.exit_code == 1 and '"ok": false' in as_json.output
