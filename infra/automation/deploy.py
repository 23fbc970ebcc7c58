"""Preview or update many tenant stacks, each in its own process and workspace directory.

    python -m infra.automation.deploy preview --affected-base origin/main [--parallel 4]
    python -m infra.automation.deploy up --stack tenant-acme --stack tenant-globex
    python -m infra.automation.deploy drift --all      # nightly: preview --expect-no-changes --refresh
    python -m infra.automation.deploy retry --all      # nightly: `up` where the last update failed
    python -m infra.automation.deploy destroy --stack tenant-acme

`preview`, `drift` and `destroy` never create a stack in the backend (a new tenant's preview
says "would be created"). An `--affected-base` of all zeros (a first push) or a commit missing
from the clone (a force push) means every stack. Required secrets come from the environment,
the stack file's `secure:` values or its ESC environment (see infra/automation/secrets.py); a
stack with none is refused before anything runs.

`destroy` takes named stacks only and runs only for tenants the registry says are purged: a
removed stack file, a deleted (restorable) tenant or an unknown name destroys nothing.

Prints a per-tenant result table (also written as Markdown with --summary-file, for the pull
request comment) and exits 1 if any tenant failed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from multiprocessing import get_context
from pathlib import Path

from infra.automation.operations import OPERATIONS, run_operation
from infra.automation.secrets import from_environment, missing_secrets
from infra.automation.workspace import make_workspace
from infra.errors import InfraError
from infra.stack_files import PROJECT_ROOT, STACKS_DIR, list_stacks

POLICY_PACK = str(Path(__file__).resolve().parents[2] / "policies")


@dataclass(frozen=True)
class StackResult:
    stack: str
    operation: str
    ok: bool
    summary: str
    seconds: float
    workspace: str


def run_stack(stack: str, operation: str) -> StackResult:
    """One stack, in this process, in a workspace directory of its own."""
    started = time.monotonic()
    workspace = make_workspace(stack)
    try:
        from pulumi import automation as auto

        secrets = from_environment(os.environ)
        summary = run_operation(auto, stack, operation, str(workspace), secrets, POLICY_PACK)
        return StackResult(
            stack, operation, True, summary, time.monotonic() - started, str(workspace)
        )
    except FileNotFoundError as exc:
        message = f"Pulumi CLI not found ({exc.filename or exc}); install it before `{operation}`"
        return StackResult(
            stack, operation, False, message, time.monotonic() - started, str(workspace)
        )
    except Exception as exc:  # reported per tenant; one failure must not stop the others
        message = " ".join(str(exc).split())[-400:] or type(exc).__name__
        return StackResult(
            stack, operation, False, message, time.monotonic() - started, str(workspace)
        )
    finally:
        shutil.rmtree(workspace, ignore_errors=True)


def run_all(
    stacks: Sequence[str],
    operation: str,
    parallel: int,
    runner: Callable[[str, str], StackResult] = run_stack,
) -> list[StackResult]:
    """At most `parallel` stacks at once, each in a fresh process ("spawn": no shared state)."""
    if operation not in OPERATIONS:
        raise ValueError(f"operation is {operation!r}; expected one of {OPERATIONS}")
    if parallel < 1:
        raise ValueError(f"parallel is {parallel}; expected >= 1")
    results: list[StackResult] = []
    with ProcessPoolExecutor(
        max_workers=parallel, mp_context=get_context("spawn"), max_tasks_per_child=1
    ) as pool:
        futures = {pool.submit(runner, stack, operation): stack for stack in stacks}
        for future in as_completed(futures):
            try:
                results.append(future.result())
            except Exception as exc:  # the worker itself died
                results.append(
                    StackResult(futures[future], operation, False, f"worker failed: {exc}", 0.0, "")
                )
    return sorted(results, key=lambda r: r.stack)


def markdown(results: Sequence[StackResult], operation: str) -> str:
    failed = sum(not r.ok for r in results)
    lines = [
        f"### `pulumi {operation}`: {len(results) - failed} ok, {failed} failed",
        "",
        "| tenant stack | result | changes / error | seconds |",
        "|---|---|---|---|",
    ]
    for r in results:
        text = r.summary.replace("|", "\\|")
        lines.append(
            f"| `{r.stack}` | {'ok' if r.ok else '**FAILED**'} | {text} | {r.seconds:.1f} |"
        )
    return "\n".join(lines) + "\n"


def registry_status(stacks: Sequence[str]) -> dict[str, str]:
    """Each stack's tenant status in the registry (`unknown` when no tenant has its slug)."""
    from tenancy.cli.context import open_database
    from tenancy.errors import NotFoundError
    from tenancy.registry import get_tenant

    statuses = {}
    with open_database() as db:
        for stack in stacks:
            try:
                statuses[stack] = get_tenant(db, stack.removeprefix("tenant-")).status.value
            except (NotFoundError, ValueError):
                statuses[stack] = "unknown"
    return statuses


def destroy_refusals(statuses: dict[str, str]) -> list[str]:
    return [
        f"{stack}: the registry says {status}; expected purged (`tenancy tenants purge` first)"
        for stack, status in sorted(statuses.items())
        if status != "purged"
    ]


def main(
    argv: Sequence[str] | None = None,
    status_of: Callable[[Sequence[str]], dict[str, str]] = registry_status,
    environ: Mapping[str, str] | None = None,
) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m infra.automation.deploy",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("operation", choices=OPERATIONS)
    parser.add_argument(
        "--stack", action="append", default=[], help="a stack to include (repeatable)"
    )
    parser.add_argument(
        "--affected-base", help="include the stacks a change since this git ref affects"
    )
    parser.add_argument("--all", action="store_true", help="include every stack file")
    parser.add_argument("--parallel", type=int, default=4, help="stacks at once (default 4)")
    parser.add_argument("--summary-file", type=Path, help="also write the table as Markdown here")
    parser.add_argument("--status-file", type=Path, help="also write the results as JSON here")
    args = parser.parse_args(argv)
    environ = os.environ if environ is None else environ
    stacks = list(args.stack)
    skipped: list[str] = []
    if args.operation == "destroy" and (args.affected_base or args.all):
        print("destroy takes --stack names only, never the stacks a change affects")
        return 2
    try:
        if args.all:
            stacks += list_stacks(STACKS_DIR)
        if args.affected_base:
            from infra.affected import affected_stacks

            for affected in affected_stacks(PROJECT_ROOT, args.affected_base):
                # Tearing a tenant down follows its export and hard delete; never a side effect.
                (skipped if affected.removed else stacks).append(affected.stack)
        stacks = sorted(set(stacks))
        if args.operation == "destroy":
            refusals = destroy_refusals(status_of(stacks))
            if refusals:
                print("refusing to destroy:\n" + "\n".join(f"  {r}" for r in refusals))
                return 2
        else:
            missing = missing_secrets(stacks, environ, STACKS_DIR)
            if missing:
                print("refusing to run: missing secrets\n" + "\n".join(f"  {m}" for m in missing))
                return 2
    except InfraError as exc:
        print(f"error: {exc}")
        return 2
    if not stacks:
        print("no stacks to run")
        return 0
    results = run_all(stacks, args.operation, args.parallel)
    table = markdown(results, args.operation)
    if skipped:
        table += (
            "\nRemoved stack files (destroy deliberately after export): "
            + ", ".join(skipped)
            + "\n"
        )
    print(table)
    if args.summary_file:
        args.summary_file.write_text(table)
    if args.status_file:
        args.status_file.write_text(json.dumps([asdict(r) for r in results], indent=2) + "\n")
    return 1 if any(not r.ok for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
