"""Which stacks a change affects, computed on a scratch git repository."""

from __future__ import annotations

import shutil
import subprocess
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from infra.affected import affected_stacks
from infra.errors import InfraError
from infra.stack_files import PROJECT_FILE, generate
from tenancy.plans import DEFAULT_PLANS_DIR
from tenancy.tenant import Tenant, TenantStatus

NOW = datetime(2026, 11, 26, tzinfo=UTC)


def tenant(slug: str, plan: str) -> Tenant:
    return Tenant(
        uuid.uuid5(uuid.NAMESPACE_DNS, slug),
        slug,
        slug,
        None,
        TenantStatus.ACTIVE,
        plan,
        {},
        {},
        NOW,
        NOW,
        NOW,
        None,
        False,
    )


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / "infra").mkdir(parents=True)
    shutil.copytree(DEFAULT_PLANS_DIR, root / "plans")
    shutil.copy(PROJECT_FILE, root / "Pulumi.yaml")
    (root / "infra" / "tenant_stack.py").write_text("# program\n")
    (root / "README.md").write_text("readme\n")
    generate(
        [tenant("alpha", "free"), tenant("beta", "pro"), tenant("gamma", "pro")],
        root / "infra" / "stacks",
        now=NOW,
    )
    git(root, "init", "-q", "-b", "main")
    git(root, "-c", "user.name=t", "-c", "user.email=t@example.com", "add", ".")
    git(root, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "base")
    git(root, "checkout", "-q", "-b", "change")
    return root


def stacks(repo: Path) -> list[str]:
    return [a.stack for a in affected_stacks(repo, "main")]


def test_nothing_changed(repo: Path) -> None:
    assert stacks(repo) == []


def test_unrelated_file_affects_nothing(repo: Path) -> None:
    (repo / "README.md").write_text("more\n")
    assert stacks(repo) == []


def test_stack_file_change_affects_that_stack(repo: Path) -> None:
    path = repo / "infra" / "stacks" / "Pulumi.tenant-beta.yaml"
    path.write_text(path.read_text().replace("status: active", "status: suspended"))
    assert stacks(repo) == ["tenant-beta"]


def test_plan_change_affects_tenants_on_that_plan(repo: Path) -> None:
    path = repo / "plans" / "pro.yaml"
    path.write_text(path.read_text().replace("pods: 25", "pods: 30"))
    git(repo, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qam", "more pods")
    found = affected_stacks(repo, "main")
    assert [a.stack for a in found] == ["tenant-beta", "tenant-gamma"]
    assert found[0].reasons == ("plans/pro.yaml changed (plan pro)",)


@pytest.mark.parametrize("path", ["infra/tenant_stack.py", "policies/new_rule.py", "Pulumi.yaml"])
def test_program_or_policy_change_affects_all(repo: Path, path: str) -> None:
    target = repo / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text((target.read_text() if target.exists() else "") + "# changed\n")
    assert stacks(repo) == ["tenant-alpha", "tenant-beta", "tenant-gamma"]


def test_removed_stack_is_reported_as_removed(repo: Path) -> None:
    (repo / "infra" / "stacks" / "Pulumi.tenant-gamma.yaml").unlink()
    found = affected_stacks(repo, "main")
    assert [(a.stack, a.removed) for a in found] == [("tenant-gamma", True)]


def test_unknown_base_ref_is_a_clear_error(repo: Path) -> None:
    with pytest.raises(InfraError, match="git merge-base no-such-ref HEAD failed"):
        affected_stacks(repo, "no-such-ref")
