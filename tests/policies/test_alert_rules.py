"""Every alert rule file passes promtool's check and its own unit test (`<name>_test.yml`), and
each unit test fails when its rules are broken (it is not vacuous)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

RULES = Path(__file__).resolve().parents[2] / "policies" / "alerts"
RULE_FILES = sorted(p.name for p in RULES.glob("*.yml") if not p.stem.endswith("_test"))
EXPECTED_FOR = {
    "TenantResourceExhaustion": "5m",
    "TenantBlockedByQuota": "5m",
    "UsageIngestStale": "5m",
    "UsageIngestNeverReported": "1h",
    "UsageQuarantineRateHigh": "5m",
    "InvoiceHeldByReconciliation": None,
    "InvoicesStuckInPush": "2h",
    "CertificateExpiringSoon": "1h",
    "CertificateExpiryImminent": "10m",
}


def promtool(*args: str, cwd: Path = RULES) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("promtool")
    assert binary, "promtool missing: `make deps` installs Debian's prometheus package"
    return subprocess.run(
        [binary, *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )


def alerts(rule_file: str) -> list[dict[str, object]]:
    groups = yaml.safe_load((RULES / rule_file).read_text())["groups"]
    return [rule for group in groups for rule in group["rules"] if "alert" in rule]


def test_every_alert_and_how_long_it_waits() -> None:
    found = {str(r["alert"]): r.get("for") for f in RULE_FILES for r in alerts(f)}
    assert found == EXPECTED_FOR, "TenantResourceExhaustion fires after 5 minutes, as the spec says"


@pytest.mark.parametrize("rule_file", RULE_FILES)
def test_rules_are_valid_and_their_unit_test_passes(rule_file: str) -> None:
    checked = promtool("check", "rules", rule_file)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    unit = rule_file.replace(".yml", "_test.yml")
    assert (RULES / unit).exists(), f"{rule_file} has no promtool unit test {unit}"
    tested = promtool("test", "rules", unit)
    assert tested.returncode == 0, tested.stdout + tested.stderr


MUTATIONS = [(f, "never_fires") for f in RULE_FILES] + [
    (f, "no_wait") for f in RULE_FILES if any(r.get("for") for r in alerts(f))
]


@pytest.mark.parametrize(("rule_file", "mutation"), MUTATIONS)
def test_a_broken_rule_fails_its_unit_test(rule_file: str, mutation: str, tmp_path: Path) -> None:
    """An expression that never fires, or rules that skip their `for` wait, must be caught."""
    document = yaml.safe_load((RULES / rule_file).read_text())
    for group in document["groups"]:
        for rule in group["rules"]:
            if mutation == "never_fires":
                rule["expr"] = "vector(1) > 2"
            elif rule.get("for"):
                rule["for"] = "0m"
    (tmp_path / rule_file).write_text(yaml.safe_dump(document))
    unit = rule_file.replace(".yml", "_test.yml")
    shutil.copy(RULES / unit, tmp_path / unit)
    result = promtool("test", "rules", unit, cwd=tmp_path)
    assert result.returncode != 0, f"{unit} passes with {mutation} rules"
