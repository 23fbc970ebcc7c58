"""What each driver operation does to one selected stack, through the Automation API.

Only `up` and `retry` may create a stack in the backend. `preview` (pull requests), `drift`
(nightly) and `destroy` select existing stacks only: a tenant whose stack does not exist yet is
reported as "would be created" by `preview` and as a failure by `drift`.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import ModuleType
from typing import Any

from infra.errors import InfraError

OPERATIONS = ("preview", "up", "drift", "retry", "destroy")
CREATES_STACKS = frozenset({"up", "retry"})
WOULD_BE_CREATED = "would be created (no stack in the backend yet; `up` creates it on merge)"


class StackMissingError(InfraError):
    """The operation needs an existing stack and the backend has none by that name."""

    def __init__(self, stack: str, operation: str) -> None:
        self.stack = stack
        self.operation = operation
        super().__init__(
            f"{stack}: no stack in the backend, so `{operation}` has nothing to compare; "
            "expected a deployed stack (its first `up` has not run or failed before creating it)"
        )


def _name(op: Any) -> str:
    """Pulumi's `OpType` is a str enum whose f-string is `OpType.SAME`; the value is `same`."""
    return str(getattr(op, "value", op))


def changes(summary: Mapping[Any, int] | None) -> str:
    named = sorted((_name(op), n) for op, n in (summary or {}).items())
    return ", ".join(f"{op} {n}" for op, n in named) or "no changes"


def last_update_failed(stack: Any) -> bool:
    """Whether the newest `update` in the stack's history (the backend's own record) failed,
    or the stack has never completed one."""
    for entry in stack.history(page_size=20, show_secrets=False):
        if entry.kind == "update":
            return bool(entry.result != "succeeded")
    return True


def run_operation(
    auto: ModuleType,
    stack: str,
    operation: str,
    work_dir: str,
    secrets: Mapping[str, str],
    policy_pack: str,
) -> str:
    """The change summary of `operation` on `stack`; raises on failure."""
    if operation not in OPERATIONS:
        raise ValueError(f"operation is {operation!r}; expected one of {OPERATIONS}")
    if operation in CREATES_STACKS:
        selected = auto.create_or_select_stack(stack_name=stack, work_dir=work_dir)
    else:
        try:
            selected = auto.select_stack(stack_name=stack, work_dir=work_dir)
        except auto.StackNotFoundError:
            if operation == "preview":
                return WOULD_BE_CREATED
            if operation == "destroy":
                return "no stack in the backend; nothing to destroy"
            raise StackMissingError(stack, operation) from None
    for key, value in sorted(secrets.items()):
        selected.set_config(key, auto.ConfigValue(value=value, secret=True))
    if operation == "preview":
        preview = selected.preview(policy_packs=[policy_pack], color="never")
        return changes(preview.change_summary)
    if operation == "drift":
        preview = selected.preview(
            policy_packs=[policy_pack], expect_no_changes=True, refresh=True, color="never"
        )
        drifted = {op: n for op, n in (preview.change_summary or {}).items() if _name(op) != "same"}
        if drifted:
            raise InfraError(f"{stack}: drift: {changes(drifted)}")
        return "no drift"
    if operation == "destroy":
        gone = selected.destroy(color="never")
        selected.workspace.remove_stack(stack)
        return changes(gone.summary.resource_changes)
    if operation == "retry" and not last_update_failed(selected):
        return "last up succeeded; nothing to retry"
    up = selected.up(policy_packs=[policy_pack], color="never")
    summary = changes(up.summary.resource_changes)
    return f"retried: {summary}" if operation == "retry" else summary
