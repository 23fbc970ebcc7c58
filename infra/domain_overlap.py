"""Across stacks: no custom domain may be served by two tenants' stacks at once.

Each stack is checked alone by the guardrails; this looks at every stack file together, so
a host left in one tenant's file while another tenant's file gains it fails the pull request.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from infra.stack_files import (
    PROJECT_FILE,
    STACKS_DIR,
    list_stacks,
    load_stack_config,
    tenant_values,
)


def shared_hosts(served: Mapping[str, Sequence[str]]) -> dict[str, list[str]]:
    """host -> the stacks listing it, for every host listed by more than one stack."""
    owners: dict[str, list[str]] = {}
    for stack, hosts in served.items():
        for host in hosts:
            owners.setdefault(host, []).append(stack)
    return {host: sorted(stacks) for host, stacks in sorted(owners.items()) if len(stacks) > 1}


def served_by_stack(
    directory: Path = STACKS_DIR, project_file: Path = PROJECT_FILE
) -> dict[str, list[str]]:
    """Every stack file's `tenancy:verifiedDomains` (unvalidated: rendering checks them)."""
    served: dict[str, list[str]] = {}
    for stack in list_stacks(directory):
        value = tenant_values(load_stack_config(stack, directory, project_file)).get(
            "verifiedDomains"
        )
        if isinstance(value, list):
            served[stack] = [str(host) for host in value]
    return served


def overlap_problems(stacks: Iterable[str], directory: Path, project_file: Path) -> list[str]:
    """One line per host that one of `stacks` shares with any other stack."""
    wanted = set(stacks)
    return [
        f"{', '.join(owners)}: host {host!r} is served by {len(owners)} stacks; expected one "
        "tenant (run `tenancy stacks generate` from the registry)"
        for host, owners in shared_hosts(served_by_stack(directory, project_file)).items()
        if wanted & set(owners)
    ]
