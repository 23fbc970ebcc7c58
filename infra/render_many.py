"""Render (and check) many tenants at once, spread over worker processes.

Rendering is CPU-bound inside the Pulumi SDK (about 2 ms per resource registration, most of
it in the SDK's serialization and event loop), so more tenants per second only come from more
cores: workers take small chunks of tenants in turn and render each chunk one tenant at a time.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
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
    on_progress: Callable[[int], None] | None = None,
) -> list[Rendered]:
    """Results in the order of `tenants`; `workers=1` (or few tenants) stays in this process.
    `on_progress(n)` is called as each n tenants are done."""
    workers = workers or default_workers()
    if workers == 1 or len(tenants) < PARALLEL_THRESHOLD:
        out = []
        for args in tenants:
            out.extend(_render_chunk([args], keep_resources, run_check))
            if on_progress:
                on_progress(1)
        return out
    # Several small chunks per worker: progress moves, and a slow chunk does not idle the rest.
    size = max(1, len(tenants) // (workers * 8))
    chunks = [tenants[i : i + size] for i in range(0, len(tenants), size)]
    results: dict[int, list[Rendered]] = {}
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
        futures = {
            pool.submit(_render_chunk, chunk, keep_resources, run_check): n
            for n, chunk in enumerate(chunks)
        }
        for future in as_completed(futures):
            n = futures[future]
            results[n] = future.result()
            if on_progress:
                on_progress(len(chunks[n]))
    return [rendered for n in range(len(chunks)) for rendered in results[n]]
