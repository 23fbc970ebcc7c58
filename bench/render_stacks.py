"""Render and check N tenant stacks offline (Pulumi mocks + every guardrail).

Renders 100 and 1,000 tenants (quick: 40 and 200) in one process, to show the per-tenant
cost stays flat as N grows (linear total), then the 1,000 again over every core with the
parallel renderer the CLI uses; goal: under 30 ms per tenant on this machine.

    python bench/render_stacks.py [--quick]
"""

from __future__ import annotations

import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import parse_args, result
from infra.args import TenantStackArgs
from infra.args_parsing import parse_stack_config
from infra.render_many import default_workers, render_many
from tenancy.plans import load_catalog

PLANS = ("free", "pro", "enterprise")


def tenants(n: int) -> list[TenantStackArgs]:
    catalog = load_catalog()
    out = []
    for i in range(n):
        plan = PLANS[i % 3]
        slug = f"bench-{i:05d}"
        values = {
            "tenantId": str(uuid.UUID(int=i + 1)),
            "slug": slug,
            "plan": plan,
            "status": "suspended" if i % 10 == 0 else "active",
            "workloads": [
                {
                    "name": "agent-runtime",
                    "image": "ghcr.io/x/agent@sha256:" + "ab" * 32,
                    "replicas": 1,
                }
            ],
            "platformAdminArn": "arn:aws:iam::123456789012:role/codexos-platform-admin",
            "deployerArn": "arn:aws:iam::123456789012:role/codexos-deployer",
            "oidcProviderArn": "arn:aws:iam::123456789012:oidc-provider/oidc.eks.eu-west-1.amazonaws.com/id/X",
            "egressServices": [
                {"name": "redis", "cidr": "10.40.12.0/28", "port": 6379},
                {"name": "postgres", "cidr": "10.40.13.0/28", "port": 5432},
            ],
        }
        out.append(parse_stack_config(f"tenant-{slug}", values, catalog, "eu-west-1"))
    return out


def timed(args: list[TenantStackArgs], workers: int) -> float:
    started = time.perf_counter()
    rendered = render_many(args, workers=workers, keep_resources=False)
    elapsed = time.perf_counter() - started
    bad = [v for r in rendered for v in (r.violations or [])]
    if bad or len(rendered) != len(args):
        raise SystemExit(
            f"unexpected: {len(bad)} violations, {len(rendered)} of {len(args)} rendered: {bad[:3]}"
        )
    return elapsed / len(args)


def main() -> int:
    quick = parse_args(__doc__ or "").quick
    small, large = (40, 200) if quick else (100, 1_000)
    workers = default_workers()
    timed(tenants(3), workers=1)  # warm this process (imports, schema files) for a fair baseline
    seq_small = timed(tenants(small), workers=1)
    seq_large = timed(tenants(large), workers=1)
    par_large = timed(tenants(large), workers=workers)
    print(
        f"sequential, 1 process: {small} tenants {seq_small * 1000:.1f} ms/tenant, "
        f"{large} tenants {seq_large * 1000:.1f} ms/tenant"
    )
    print(
        f"parallel, {workers} processes: {large} tenants {par_large * 1000:.1f} ms/tenant "
        f"({par_large * large:.1f} s in all, workers' start-up included); "
        f"{seq_large / par_large:.2f}x the sequential baseline"
    )
    ok = result("render_check_ms_per_tenant", par_large * 1000, "<", 30)
    # Linear growth: at 10x the tenants, the per-tenant cost of the same code stays flat.
    ok &= result("per_tenant_cost_growth_large_vs_small", seq_large / seq_small, "<=", 1.25)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
