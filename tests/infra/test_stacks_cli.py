"""`tenancy stacks render/check` over stack files: the committed ones, and broken ones."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from typer.testing import CliRunner

from infra.stack_files import STACKS_DIR
from tenancy.cli.main import app


def test_committed_stacks_render_and_pass() -> None:
    runner = CliRunner()
    rendered = runner.invoke(app, ["stacks", "render", "--json", "acme-free"])
    assert rendered.exit_code == 0, rendered.output
    inventory = json.loads(rendered.output)["tenant-acme-free"]
    types = {r["type"] for r in inventory}
    assert "aws:kms/key:Key" in types and "kubernetes:core/v1:Namespace" in types
    checked = runner.invoke(app, ["stacks", "check"])
    assert checked.exit_code == 0, checked.output
    assert "3 stack(s) pass every guardrail" in checked.output


def test_bad_stack_config_fails_check_naming_the_key(tmp_path: Path) -> None:
    for path in STACKS_DIR.glob("*.yaml"):
        shutil.copy(path, tmp_path)
    broken = tmp_path / "Pulumi.tenant-globex-pro.yaml"
    broken.write_text(broken.read_text().replace("tenancy:plan: pro", "tenancy:plan: platinum"))
    result = CliRunner().invoke(app, ["stacks", "check", "--directory", str(tmp_path)])
    assert result.exit_code == 1
    assert (
        "tenant-globex-pro: config error: tenant-globex-pro: config `tenancy:plan` is 'platinum'"
        in result.output
    )


def test_unknown_slug_is_refused() -> None:
    result = CliRunner().invoke(app, ["stacks", "render", "nobody"])
    assert result.exit_code != 0
    assert "no stack file for tenant-nobody" in str(result.exception)


def test_guardrail_violation_names_tenant_resource_policy_and_remedy(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import infra.render_many as render_many
    from infra.render import render_tenant

    def without_default_deny(args):  # type: ignore[no-untyped-def]
        return [r for r in render_tenant(args) if not r.name.endswith("-netpol-default-deny")]

    monkeypatch.setattr(render_many, "render_tenant", without_default_deny)
    result = CliRunner().invoke(app, ["stacks", "check", "acme-free"])
    assert result.exit_code == 1
    assert (
        "tenant-acme-free: tenant-acme-free-namespace: [namespace-isolated] namespace tenant-acme-free has no "
        "default-deny NetworkPolicy (ingress and egress); remedy: create the namespace through "
        "infra.network.tenant_namespace" in result.output
    )


def test_parallel_rendering_matches_sequential() -> None:
    from infra.render_many import PARALLEL_THRESHOLD, render_many
    from tests.infra.stack_args import stack_args

    tenants = [
        stack_args(
            ("free", "pro", "enterprise")[i % 3],
            slug=f"par-{i:03d}",
            tenantId=f"00000000-0000-4000-8000-{i:012d}",
        )
        for i in range(42)  # over PARALLEL_THRESHOLD: two-tenant chunks in 2 worker processes
    ]
    assert len(tenants) > PARALLEL_THRESHOLD, "or workers=2 renders in this process too"
    sequential = render_many(tenants, workers=1, keep_resources=False)
    parallel = render_many(tenants, workers=2, keep_resources=False)
    assert [(r.stack, r.resource_count, r.violations) for r in parallel] == [
        (r.stack, r.resource_count, r.violations) for r in sequential
    ]
    assert all(r.violations == [] for r in parallel)
