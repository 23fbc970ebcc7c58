"""The deploy driver's paths a real CI run takes: a push with no base (all-zero `before`, a
force push), secrets that must come from somewhere, previews that never create stacks, the
nightly drift check and retry. The Pulumi CLI is not on this machine, so the Automation API is
replaced at its boundary (`select_stack` / `create_or_select_stack`) by stacks that record
what they were asked, behaving as the documented API does."""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pulumi import automation as auto

from infra.affected import affected_stacks
from infra.automation import deploy
from infra.automation.deploy import StackResult, run_stack
from infra.automation.operations import WOULD_BE_CREATED
from infra.stack_files import PROJECT_ROOT, STACKS_DIR, list_stacks

ZERO = "0" * 40
SECRET_VAR = "TENANCY_STACK_REDIS_ADMIN_URL"


class FakeStack:
    """A backend stack: records config set on it and the operations run."""

    def __init__(self, name: str, history: list[tuple[str, str]], drift: dict[str, int]) -> None:
        self.name = name
        self.calls: list[str] = []
        self.config: dict[str, auto.ConfigValue] = {}
        self._history = history
        self._drift = drift

    def set_config(self, key: str, value: auto.ConfigValue) -> None:
        self.config[key] = value

    def history(self, page_size: int | None = None, show_secrets: bool = True) -> list[Any]:
        now = datetime.now(UTC)
        return [auto.UpdateSummary(kind, now, "", {}, {}, result) for kind, result in self._history]

    def preview(self, **kwargs: Any) -> auto.PreviewResult:
        self.calls.append(f"preview {sorted(k for k, v in kwargs.items() if v is True)}")
        return auto.PreviewResult("", "", {auto.OpType.SAME: 20, **self._drift})  # type: ignore[dict-item]

    def up(self, **kwargs: Any) -> auto.UpResult:
        self.calls.append("up")
        summary = auto.UpdateSummary(
            "update", datetime.now(UTC), "", {}, {}, "succeeded", resource_changes={"create": 3}
        )
        return auto.UpResult("", "", summary, {})


class FakeBackend:
    def __init__(self, existing: dict[str, FakeStack]) -> None:
        self.stacks = existing
        self.created: list[str] = []

    def select_stack(self, stack_name: str, work_dir: str) -> FakeStack:
        if stack_name not in self.stacks:
            raise auto.StackNotFoundError(
                auto.CommandResult("", f"no stack named '{stack_name}' found", 255)
            )
        return self.stacks[stack_name]

    def create_or_select_stack(self, stack_name: str, work_dir: str) -> FakeStack:
        if stack_name not in self.stacks:
            self.created.append(stack_name)
            self.stacks[stack_name] = FakeStack(stack_name, [], {})
        return self.stacks[stack_name]


@pytest.fixture
def backend(monkeypatch: pytest.MonkeyPatch) -> FakeBackend:
    fake = FakeBackend(
        {
            "tenant-acme-free": FakeStack("tenant-acme-free", [("update", "succeeded")], {}),
            "tenant-globex-pro": FakeStack(
                "tenant-globex-pro", [("refresh", "succeeded"), ("update", "failed")], {}
            ),
        }
    )
    monkeypatch.setattr(auto, "select_stack", fake.select_stack)
    monkeypatch.setattr(auto, "create_or_select_stack", fake.create_or_select_stack)
    monkeypatch.setenv(SECRET_VAR, "redis://admin:s3cret@redis:6379/0")
    return fake


def test_preview_never_creates_a_stack_and_says_it_would_be_created(backend: FakeBackend) -> None:
    result = run_stack("tenant-initech-enterprise", "preview")
    assert result.ok and result.summary == WOULD_BE_CREATED
    assert backend.created == [] and "tenant-initech-enterprise" not in backend.stacks
    assert not Path(result.workspace).exists()
    existing = run_stack("tenant-acme-free", "preview")
    assert existing.ok and existing.summary == "same 20"
    assert backend.created == []


def test_required_secret_is_set_as_a_secret_through_the_automation_api(
    backend: FakeBackend,
) -> None:
    assert run_stack("tenant-acme-free", "preview").ok
    value = backend.stacks["tenant-acme-free"].config["tenancy:redisAdminUrl"]
    assert value.secret is True and value.value == "redis://admin:s3cret@redis:6379/0"
    for path in STACKS_DIR.glob("Pulumi.*.yaml"):
        assert "s3cret" not in path.read_text(), f"{path.name}: a secret reached a stack file"


def test_drift_selects_only_and_fails_on_changes_or_a_missing_stack(backend: FakeBackend) -> None:
    clean = run_stack("tenant-acme-free", "drift")
    assert clean.ok and clean.summary == "no drift"
    assert backend.stacks["tenant-acme-free"].calls == ["preview ['expect_no_changes', 'refresh']"]
    backend.stacks["tenant-acme-free"]._drift = {auto.OpType.UPDATE: 2}  # type: ignore[dict-item]
    drifted = run_stack("tenant-acme-free", "drift")
    assert not drifted.ok and "tenant-acme-free: drift: update 2" in drifted.summary
    missing = run_stack("tenant-initech-enterprise", "drift")
    assert not missing.ok and "no stack in the backend" in missing.summary
    assert backend.created == []


def test_retry_runs_up_only_where_the_last_update_failed(backend: FakeBackend) -> None:
    assert run_stack("tenant-acme-free", "retry").summary == "last up succeeded; nothing to retry"
    assert backend.stacks["tenant-acme-free"].calls == []
    retried = run_stack("tenant-globex-pro", "retry")
    assert retried.ok and retried.summary == "retried: create 3"
    assert backend.stacks["tenant-globex-pro"].calls == ["up"]
    never = run_stack("tenant-initech-enterprise", "retry")
    assert never.summary == "retried: create 3" and backend.created == ["tenant-initech-enterprise"]


def recorded(monkeypatch: pytest.MonkeyPatch) -> list[tuple[list[str], str]]:
    calls: list[tuple[list[str], str]] = []

    def fake_run_all(stacks: list[str], operation: str, parallel: int) -> list[StackResult]:
        calls.append((list(stacks), operation))
        return [StackResult(s, operation, True, "no changes", 0.1, "") for s in stacks]

    monkeypatch.setattr(deploy, "run_all", fake_run_all)
    return calls


def test_missing_secret_refuses_before_anything_runs(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    calls = recorded(monkeypatch)
    assert deploy.main(["up", "--all"], environ={}) == 2
    out = capsys.readouterr().out
    assert "refusing to run: missing secrets" in out
    assert (
        "tenant-acme-free: secret `tenancy:redisAdminUrl` is not set; expected the environment "
        f"variable {SECRET_VAR}" in out
    )
    assert calls == []
    assert deploy.main(["up", "--all"], environ={SECRET_VAR: "redis://x"}) == 0
    assert calls == [(list_stacks(STACKS_DIR), "up")]


def test_all_zero_before_sha_means_every_stack(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    calls = recorded(monkeypatch)
    status = tmp_path / "status.json"
    argv = ["up", "--affected-base", ZERO, "--status-file", str(status)]
    assert deploy.main(argv, environ={SECRET_VAR: "redis://x"}) == 0
    assert calls == [(list_stacks(STACKS_DIR), "up")]
    assert [r["stack"] for r in json.loads(status.read_text())] == list_stacks(STACKS_DIR)
    found = affected_stacks(PROJECT_ROOT, ZERO)
    assert [a.stack for a in found] == list_stacks(STACKS_DIR)
    assert "a first push" in found[0].reasons[0]


def test_force_pushed_away_base_means_every_stack(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    stacks = repo / "infra" / "stacks"
    stacks.mkdir(parents=True)
    for name in ("Pulumi.tenant-a.yaml", "Pulumi.tenant-b.yaml"):
        (stacks / name).write_text("config: {}\n")
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    gone = "3f" * 20  # a well-formed commit id this clone has never seen
    found = affected_stacks(repo, gone)
    assert [a.stack for a in found] == ["tenant-a", "tenant-b"]
    assert "not in this clone" in found[0].reasons[0]


def test_bad_named_base_is_a_clear_error_not_a_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    calls = recorded(monkeypatch)
    argv = ["preview", "--affected-base", "no-such-branch"]
    assert deploy.main(argv, environ={SECRET_VAR: "x"}) == 2
    assert "error: git merge-base no-such-branch HEAD failed" in capsys.readouterr().out
    assert calls == []
