"""zizmor, GitHub Actions' security linter, offline over .github/workflows: no finding at its
default persona and severity. A deliberately bad workflow proves the check can fail."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / ".github" / "workflows"
ZIZMOR = shutil.which("zizmor", path=str(Path(sys.executable).parent)) or "zizmor"

BAD = """\
on: push
permissions: write-all
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - run: echo "${{ github.event.head_commit.message }}"
"""


def zizmor(directory: Path) -> list[dict[str, Any]]:
    result = subprocess.run(
        [ZIZMOR, "--offline", "--no-progress", "--format=json", str(directory)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    # 0: clean; 10 + the highest severity found: findings; anything else: zizmor itself failed.
    assert result.returncode == 0 or result.returncode >= 10, result.stderr
    findings: list[dict[str, Any]] = json.loads(result.stdout)
    return findings


def describe(finding: dict[str, Any]) -> str:
    where = finding["locations"][0]["symbolic"]
    path = where["key"].get("Local", {}).get("given_path", where["key"])
    return f"{path}: {finding['ident']} ({finding['desc']}) at {where.get('annotation', '')}"


def test_workflows_have_no_zizmor_findings() -> None:
    assert sorted(p.name for p in WORKFLOWS.glob("*.yml"))
    findings = zizmor(WORKFLOWS)
    assert findings == [], "\n".join(describe(f) for f in findings)


def test_zizmor_catches_the_classic_mistakes(tmp_path: Path) -> None:
    workflows = tmp_path / ".github" / "workflows"
    workflows.mkdir(parents=True)
    (workflows / "bad.yml").write_text(BAD)
    found = {f["ident"] for f in zizmor(workflows)}
    assert {"unpinned-uses", "artipacked", "template-injection"} <= found
