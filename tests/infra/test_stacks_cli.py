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
