"""The many-stack driver: bounded parallelism, a process and workspace per stack, failures
reported per tenant with a non-zero exit. The Pulumi CLI is not on this machine, so the
per-stack operation is replaced by a stand-in that records what it was given."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from infra.automation import deploy
from infra.automation.deploy import StackResult, markdown, run_all, run_stack
from infra.automation.workspace import make_workspace
from tenancy.db.bootstrap import RegistryUrls
from tenancy.db.session import Database
from tenancy.lifecycle import Transition
from tenancy.transitions import apply_transition
from tests.db.factories import make_tenant

LOG = Path(os.environ.get("TENANCY_DEPLOY_TEST_LOG", "/nonexistent"))


def recording_runner(stack: str, operation: str) -> StackResult:
    """Runs in a spawned worker: logs start/end times, pid and workspace, fails tenant-bad."""
    log = Path(os.environ["TENANCY_DEPLOY_TEST_LOG"])
    workspace = make_workspace(stack)
    started = time.time()
    time.sleep(0.3)
    with log.open("a") as f:
        f.write(
            json.dumps(
                {
                    "stack": stack,
                    "pid": os.getpid(),
                    "start": started,
                    "end": time.time(),
                    "workspace": str(workspace),
                    "files": sorted(p.name for p in workspace.iterdir()),
                }
            )
            + "\n"
        )
    ok = stack != "tenant-bad"
    return StackResult(
        stack, operation, ok, "create 26" if ok else "boom: provider error", 0.3, str(workspace)
    )


def test_parallelism_is_bounded_and_each_stack_has_its_own_process_and_workspace(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = tmp_path / "log.jsonl"
    monkeypatch.setenv("TENANCY_DEPLOY_TEST_LOG", str(log))
    stacks = [f"tenant-t{i}" for i in range(6)]
    results = run_all(stacks, "up", parallel=2, runner=recording_runner)
    assert [r.stack for r in results] == sorted(stacks) and all(r.ok for r in results)
    entries = [json.loads(line) for line in log.read_text().splitlines()]
    events = sorted([(e["start"], 1) for e in entries] + [(e["end"], -1) for e in entries])
    running = peak = 0
    for _, delta in events:
        running += delta
        peak = max(peak, running)
    assert peak <= 2, f"{peak} stacks ran at once with parallel=2"
    assert len({e["pid"] for e in entries}) == 6, "each stack must run in a fresh process"
    assert len({e["workspace"] for e in entries}) == 6, "each stack must have its own workspace"
    for e in entries:
        assert e["files"] == ["Pulumi.yaml", f"Pulumi.{e['stack']}.yaml"] or e["files"] == [
            "Pulumi.yaml"
        ]


def test_one_failure_is_reported_and_fails_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TENANCY_DEPLOY_TEST_LOG", str(tmp_path / "log.jsonl"))
    monkeypatch.setattr(
        deploy,
        "run_all",
        lambda stacks, op, parallel: run_all(stacks, op, parallel, recording_runner),
    )
    summary = tmp_path / "summary.md"
    code = deploy.main(
        ["up", "--stack", "tenant-good", "--stack", "tenant-bad", "--summary-file", str(summary)],
        environ={"TENANCY_STACK_REDIS_ADMIN_URL": "redis://admin@redis:6379/0"},
    )
    assert code == 1
    table = summary.read_text()
    assert "1 ok, 1 failed" in table
    assert "| `tenant-bad` | **FAILED** | boom: provider error |" in table
    assert "| `tenant-good` | ok | create 26 |" in table


def test_workspace_points_at_the_real_program() -> None:
    workspace = make_workspace("tenant-acme-free")
    try:
        import yaml

        project = yaml.safe_load((workspace / "Pulumi.yaml").read_text())
        assert Path(project["main"]).joinpath("__main__.py").exists()
        assert project["stackConfigDir"] == "."
        assert (workspace / "Pulumi.tenant-acme-free.yaml").exists()
    finally:
        import shutil

        shutil.rmtree(workspace)


def test_missing_pulumi_cli_is_a_per_tenant_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    result = run_stack("tenant-acme-free", "preview")
    assert not result.ok and result.summary.startswith("Pulumi CLI not found")
    assert not Path(result.workspace).exists(), "the workspace is cleaned up"


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="parallel is 0; expected >= 1"):
        run_all(["tenant-a"], "up", 0)
    with pytest.raises(ValueError, match="operation is 'refresh'"):
        run_all(["tenant-a"], "refresh", 1)
    assert "| `tenant-a` | ok | no changes | 1.0 |" in markdown(
        [StackResult("tenant-a", "up", True, "no changes", 1.0, "")], "up"
    )


def test_destroy_runs_only_for_tenants_the_registry_says_are_purged(
    cli_env: RegistryUrls, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    db = Database(cli_env.app, cli_env.platform)
    for slug in ("acme", "globex", "initech"):
        make_tenant(db, slug)
    apply_transition(db, "acme", Transition.DELETE, reason="closing")
    apply_transition(db, "acme", Transition.PURGE, force=True)
    apply_transition(db, "globex", Transition.DELETE, reason="closing")
    db.close()
    calls: list[tuple[list[str], str]] = []

    def fake_run_all(stacks: list[str], operation: str, parallel: int) -> list[StackResult]:
        calls.append((list(stacks), operation))
        return [StackResult(s, operation, True, "delete 26", 0.1, "") for s in stacks]

    monkeypatch.setattr(deploy, "run_all", fake_run_all)
    for stacks in (
        ["tenant-globex"],
        ["tenant-initech"],
        ["tenant-nobody"],
        ["tenant-acme", "tenant-globex"],
    ):
        argv = ["destroy", *(a for s in stacks for a in ("--stack", s))]
        assert deploy.main(argv) == 2
    out = capsys.readouterr().out
    assert "tenant-globex: the registry says deleted; expected purged" in out
    assert "tenant-initech: the registry says active" in out
    assert "tenant-nobody: the registry says unknown" in out
    assert deploy.main(["destroy", "--affected-base", "HEAD"]) == 2
    assert calls == [], "nothing destroyed while any named tenant is not purged"
    assert deploy.main(["destroy", "--stack", "tenant-acme"]) == 0
    assert calls == [(["tenant-acme"], "destroy")]
