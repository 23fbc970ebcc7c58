"""The TenantResourceExhaustion alert rule passes promtool's check and its unit test."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

RULES = Path(__file__).resolve().parents[2] / "policies" / "alerts"


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("promtool")
    assert binary, "promtool missing: `make deps` installs Debian's prometheus package"
    return subprocess.run(
        [binary, *args], cwd=RULES, capture_output=True, text=True, timeout=60, check=False
    )


def test_rules_are_valid() -> None:
    result = promtool("check", "rules", "tenant_resources.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 1 rules found" in result.stdout


def test_alert_fires_at_ninety_percent_after_fifteen_minutes() -> None:
    result = promtool("test", "rules", "tenant_resources_test.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_broken_expectation_fails(tmp_path: Path) -> None:
    """The unit test is not vacuous: expecting the alert at 10 minutes must fail."""
    broken = (
        (RULES / "tenant_resources_test.yml")
        .read_text()
        .replace("eval_time: 20m", "eval_time: 10m", 1)
    )
    broken = broken.replace(
        "eval_time: 10m\n        alertname: TenantResourceExhaustion\n        exp_alerts: []",
        "eval_time: 5m\n        alertname: TenantResourceExhaustion\n        exp_alerts: []",
        1,
    )
    (tmp_path / "tenant_resources.yml").write_text((RULES / "tenant_resources.yml").read_text())
    (tmp_path / "test.yml").write_text(broken)
    binary = shutil.which("promtool")
    assert binary
    result = subprocess.run(
        [binary, "test", "rules", "test.yml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
