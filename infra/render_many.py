"""Render (and check) many tenants at once, spread over worker processes.

Rendering is CPU-bound inside the Pulumi SDK (about 2 ms per resource registration, most of
it in the SDK's serialization and event loop), so more tenants per second only come from more
cores: each worker renders a contiguous chunk of tenants, one after another.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context

from infra.args import TenantStackArgs
from infra.render import RenderedResource, render_tenant
from policies.guardrails import check
from policies.rule import Violation

#: Below this many tenants a worker's start-up (~1 s of imports) costs more than it saves.
PARALLEL_THRESHOLD = 40


@dataclass(frozen=True)
class Rendered:
    stack: str
    resources: list[RenderedResource] | None  # None when only the check was asked for
    resource_count: int
    violations: list[Violation] | None


def _render_chunk(
    chunk: Sequence[TenantStackArgs], keep_resources: bool, run_check: bool
) -> list[Rendered]:
    out = []
    for args in chunk:
        resources = render_tenant(args)
        violations = check(resources) if run_check else None
        out.append(
            Rendered(
                f"tenant-{args.slug}",
                resources if keep_resources else None,
                len(resources),
                violations,
            )
        )
    return out


def default_workers() -> int:
    return max(1, len(os.sched_getaffinity(0)))


def render_many(
    tenants: Sequence[TenantStackArgs],
    *,
    workers: int | None = None,
    keep_resources: bool = True,
    run_check: bool = True,
) -> list[Rendered]:
    """Results in the order of `tenants`; `workers=1` (or few tenants) stays in this process."""
    workers = workers or default_workers()
    if workers == 1 or len(tenants) < PARALLEL_THRESHOLD:
        return _render_chunk(tenants, keep_resources, run_check)
    size = -(-len(tenants) // workers)
    chunks = [tenants[i : i + size] for i in range(0, len(tenants), size)]
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
        parts = pool.map(
            _render_chunk, chunks, [keep_resources] * len(chunks), [run_check] * len(chunks)
        )
        return [rendered for part in parts for rendered in part]
