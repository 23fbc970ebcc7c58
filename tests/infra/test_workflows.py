"""The pull-request and deploy workflows parse and call only commands that exist."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import typer.main
import yaml

from infra.automation.deploy import OPERATIONS
from tenancy.cli.main import app

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))


def run_lines() -> list[tuple[str, str]]:
    lines = []
    for path in WORKFLOWS:
        workflow = yaml.safe_load(path.read_text())
        for job in workflow["jobs"].values():
            for step in job["steps"]:
                for line in str(step.get("run", "")).splitlines():
                    lines.append((path.name, line.strip()))
    return lines


def test_workflows_parse_with_triggers_and_jobs() -> None:
    assert {p.name for p in WORKFLOWS} == {"pull-request.yml", "deploy.yml", "drift.yml"}
    for path in WORKFLOWS:
        workflow = yaml.safe_load(path.read_text())
        assert workflow["jobs"], path.name
        assert True in workflow or "on" in workflow, (
            f"{path.name}: no trigger"
        )  # YAML 1.1 reads `on` as True


def test_tenancy_commands_exist() -> None:
    click_app = typer.main.get_command(app)
    found = 0
    for name, line in run_lines():
        for match in re.finditer(r"\.venv/bin/tenancy ([a-z-]+) ([a-z-]+)", line):
            group, command = match.groups()
            assert group in click_app.commands, f"{name}: no command group `tenancy {group}`"  # type: ignore[attr-defined]
            assert command in click_app.commands[group].commands, (
                f"{name}: no `tenancy {group} {command}`"
            )  # type: ignore[attr-defined]
            found += 1
    assert found >= 3


def test_make_targets_and_deploy_module_exist() -> None:
    makefile = (ROOT / "Makefile").read_text()
    for name, line in run_lines():
        words = (
            shlex.split(line)
            if line
            and not line.startswith(
                ("if", "else", "fi", "grep", ".venv/bin/tenancy stacks check $(")
            )
            else []
        )
        if words[:1] == ["make"]:
            for target in words[1:]:
                assert re.search(rf"^{re.escape(target)}:", makefile, re.M), (
                    f"{name}: no make target {target}"
                )
        if words[:3] == [".venv/bin/python", "-m", "infra.automation.deploy"]:
            assert words[3] in OPERATIONS, f"{name}: unknown operation {words[3]}"


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_deploy_steps_fail_the_job_on_tenant_failure(path: Path) -> None:
    text = path.read_text()
    assert "|| true" not in text.replace("> render.txt || true", ""), (
        f"{path.name}: a failure is swallowed"
    )


def jobs() -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path.name, name, job)
        for path in WORKFLOWS
        for name, job in yaml.safe_load(path.read_text())["jobs"].items()
    ]


def test_every_action_is_pinned_by_commit_and_checkout_keeps_no_credentials() -> None:
    for workflow, name, job in jobs():
        for step in job["steps"]:
            if "uses" not in step:
                continue
            assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", step["uses"]), (
                f"{workflow} {name}: {step['uses']} is not pinned by commit"
            )
            if step["uses"].startswith("actions/checkout@"):
                assert step["with"]["persist-credentials"] is False, f"{workflow} {name}"


def test_cloud_access_is_oidc_only_and_up_runs_in_a_protected_environment() -> None:
    for path in WORKFLOWS:
        workflow = yaml.safe_load(path.read_text())
        assert workflow["permissions"] == {}, f"{path.name}: workflow-wide permissions"
        assert "AWS_ACCESS_KEY_ID" not in path.read_text(), f"{path.name}: static AWS keys"
    for workflow, name, job in jobs():
        uses = [str(step.get("uses", "")) for step in job["steps"]]
        runs = " ".join(str(step.get("run", "")) for step in job["steps"])
        if any(u.startswith("aws-actions/configure-aws-credentials@") for u in uses):
            assert job["permissions"].get("id-token") == "write", f"{workflow} {name}"
            step = next(s for s in job["steps"] if "configure-aws-credentials" in s.get("uses", ""))
            assert "role-to-assume" in step["with"], f"{workflow} {name}: no role assumed"
        if re.search(r"infra\.automation\.deploy (up|retry|destroy)", runs):
            assert job.get("environment") == "production", (
                f"{workflow} {name}: `up` outside the protected environment"
            )
        if "make test" not in runs:
            assert "make venv" in runs or not runs, (
                f"{workflow} {name}: installs servers it never uses"
            )


def test_push_base_reaches_the_driver_through_the_environment() -> None:
    deploy = (ROOT / ".github" / "workflows" / "deploy.yml").read_text()
    assert "BEFORE: ${{ github.event.before }}" in deploy
    assert '--affected-base "$BEFORE"' in deploy
