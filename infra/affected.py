"""Which tenant stacks a change affects, from the files it touches.

- a stack file: that stack (also when the file was removed: the stack must be torn down)
- a plan file: the stacks of tenants on that plan (old and new name, if it was renamed)
- the program, the policies, the core package, the project or lock file: every stack
- no base to compare with: every stack. That is a base of all zeros (what a push event's
  `before` holds on a branch's first push) or a full commit id this clone does not have (the
  old head of a force push); a named ref that does not resolve stays an error.
"""

from __future__ import annotations

import re
import subprocess
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import yaml

from infra.errors import InfraError
from infra.stack_files import list_stacks, load_stack_config, tenant_values

EVERY_STACK_PATHS = ("infra/", "policies/", "tenancy/", "Pulumi.yaml", "pyproject.toml", "uv.lock")
STACKS_PREFIX = "infra/stacks/"
FULL_COMMIT_ID = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")


@dataclass(frozen=True)
class AffectedStack:
    stack: str
    reasons: tuple[str, ...]
    removed: bool


def _git(repo: Path, *args: str) -> str:
    result = subprocess.run(
        ["git", *args], cwd=repo, capture_output=True, text=True, timeout=60, check=False
    )
    if result.returncode != 0:
        raise InfraError(f"git {' '.join(args)} failed: {result.stderr.strip()}")
    return result.stdout


def changed_files(repo: Path, base: str) -> list[str]:
    """Files changed since the merge base with `base`, committed or not, and new untracked ones."""
    merge_base = _git(repo, "merge-base", base, "HEAD").strip()
    changed = _git(repo, "diff", "--name-only", merge_base).splitlines()
    untracked = _git(repo, "ls-files", "--others", "--exclude-standard").splitlines()
    return sorted(set(changed) | set(untracked))


def _plan_names(repo: Path, base: str, path: str) -> set[str]:
    names = set()
    for ref in (base, None):
        try:
            text = _git(repo, "show", f"{ref}:{path}") if ref else (repo / path).read_text()
        except (InfraError, FileNotFoundError):
            continue
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError:
            data = None
        names.add(
            data["name"]
            if isinstance(data, dict) and isinstance(data.get("name"), str)
            else Path(path).stem
        )
    return names


def missing_base_reason(repo: Path, base: str) -> str | None:
    """Why there is nothing to compare with, or None when `base` can be diffed against."""
    if not FULL_COMMIT_ID.fullmatch(base):
        return None
    if set(base) == {"0"}:
        return f"no base commit ({base[:7]}...: a first push)"
    probe = subprocess.run(
        ["git", "cat-file", "-e", f"{base}^{{commit}}"],
        cwd=repo,
        capture_output=True,
        timeout=60,
        check=False,
    )
    if probe.returncode != 0:
        return f"base commit {base[:12]} not in this clone (a force push?)"
    return None


def affected_stacks(repo: Path, base: str) -> list[AffectedStack]:
    stacks_dir = repo / STACKS_PREFIX
    current = list_stacks(stacks_dir)
    no_base = missing_base_reason(repo, base)
    if no_base:
        return [AffectedStack(stack, (f"{no_base}: every stack",), False) for stack in current]
    reasons: dict[str, list[str]] = defaultdict(list)
    removed: set[str] = set()
    for path in changed_files(repo, base):
        if path.startswith(STACKS_PREFIX) and path.endswith(".yaml"):
            stack = Path(path).name.removeprefix("Pulumi.").removesuffix(".yaml")
            if stack.startswith("tenant-"):
                reasons[stack].append(f"{path} changed")
                if stack not in current:
                    removed.add(stack)
        elif path.startswith("plans/") and path.endswith((".yaml", ".yml")):
            plans = _plan_names(repo, base, path)
            for stack in current:
                plan = tenant_values(
                    load_stack_config(stack, stacks_dir, repo / "Pulumi.yaml")
                ).get("plan")
                if plan in plans:
                    reasons[stack].append(f"{path} changed (plan {plan})")
        elif path.startswith(EVERY_STACK_PATHS):
            for stack in current:
                reasons[stack].append(f"{path} changed")
    return [
        AffectedStack(stack, tuple(dict.fromkeys(why)), stack in removed)
        for stack, why in sorted(reasons.items())
    ]
