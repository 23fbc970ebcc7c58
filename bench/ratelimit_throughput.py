"""Rate-limiter checks per second vs bare INCRs per second, same client, same mode.

Both sides make one round trip per call from one client, in alternating rounds, against a
throwaway Redis; the limiter's check is an EVALSHA of the GCRA script over many tenants.

    python bench/ratelimit_throughput.py [--quick]
"""

from __future__ import annotations

import sys
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import interleaved_best, parse_args, result
from bench.common_redis import throwaway_redis
from tenancy.ratelimit import RateLimiter, RatePolicy
from tenancy.redis_keys import tenant_key


def main() -> int:
    quick = parse_args(__doc__ or "").quick
    samples = 3 if quick else 7
    tenants = [uuid.UUID(int=i + 1) for i in range(1_000)]
    policy = RatePolicy(requests_per_minute=6_000, burst=100)
    with throwaway_redis() as client:
        limiter = RateLimiter(client)
        incr_keys = [tenant_key(t, "counter") for t in tenants]
        limiter.check(tenants[0], "/v1/agents", policy)  # load the script once
        turn = iter(range(10**12))

        def check() -> None:
            limiter.check(tenants[next(turn) % len(tenants)], "/v1/agents", policy)

        def incr() -> None:
            client.incr(incr_keys[next(turn) % len(incr_keys)])

        best = interleaved_best({"limiter": check, "incr": incr}, samples=samples)
    limiter_rate, incr_rate = 1 / best["limiter"], 1 / best["incr"]
    print(
        f"limiter check: {limiter_rate:,.0f}/s   bare INCR: {incr_rate:,.0f}/s   "
        f"(best of {samples} samples of at least 1s each)"
    )
    ok = result("ratelimit_vs_incr_throughput_ratio", limiter_rate / incr_rate, ">=", 0.8)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
