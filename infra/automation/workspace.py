"""One throwaway workspace directory per stack operation.

The Automation API is not safe to use concurrently inside one workspace (it writes the
selected stack and config next to Pulumi.yaml), so each stack gets a directory holding a copy
of the project file, pointing back at the real program, and that stack's config file.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import yaml

from infra.stack_files import PROJECT_FILE, PROJECT_ROOT, STACKS_DIR


def make_workspace(stack: str, root: Path | None = None) -> Path:
    """A fresh directory with Pulumi.yaml (main = the real infra/) and the stack's file."""
    directory = Path(tempfile.mkdtemp(prefix=f"pulumi-{stack}-", dir=root))
    project = yaml.safe_load(PROJECT_FILE.read_text())
    project["main"] = str(PROJECT_ROOT / "infra")
    project["stackConfigDir"] = "."
    options = (project.get("runtime") or {}).get("options") or {}
    if "virtualenv" in options:
        options["virtualenv"] = str(PROJECT_ROOT / options["virtualenv"])
    (directory / "Pulumi.yaml").write_text(yaml.safe_dump(project, sort_keys=False))
    stack_file = STACKS_DIR / f"Pulumi.{stack}.yaml"
    if stack_file.exists():
        shutil.copy(stack_file, directory / stack_file.name)
    return directory
