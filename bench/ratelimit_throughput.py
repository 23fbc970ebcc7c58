"""Rate-limiter checks per second vs bare INCRs per second, same client, same mode.

Both sides make one round trip per call from one client, in alternating rounds, against a
throwaway Redis; the limiter's check is an EVALSHA of the GCRA script over many tenants.

    python bench/ratelimit_throughput.py [--quick]
"""

from __future__ import annotations

import statistics
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import parse_args, result
from bench.common_redis import throwaway_redis
from tenancy.ratelimit import RateLimiter, RatePolicy
from tenancy.redis_keys import tenant_key


def main() -> int:
    quick = parse_args(__doc__ or "").quick
    rounds, per_round = (6, 2_000) if quick else (10, 10_000)
    tenants = [uuid.UUID(int=i + 1) for i in range(1_000)]
    policy = RatePolicy(requests_per_minute=6_000, burst=100)
    with throwaway_redis() as client:
        limiter = RateLimiter(client)
        incr_keys = [tenant_key(t, "counter") for t in tenants]
        limiter.check(tenants[0], "/v1/agents", policy)  # load the script once
        limiter_rates, incr_rates = [], []
        for r in range(rounds):
            sides = ["limiter", "incr"] if r % 2 == 0 else ["incr", "limiter"]
            for side in sides:
                started = time.perf_counter()
                if side == "limiter":
                    for i in range(per_round):
                        limiter.check(tenants[i % len(tenants)], "/v1/agents", policy)
                    limiter_rates.append(per_round / (time.perf_counter() - started))
                else:
                    for i in range(per_round):
                        client.incr(incr_keys[i % len(incr_keys)])
                    incr_rates.append(per_round / (time.perf_counter() - started))
    limiter_rate = statistics.median(limiter_rates)
    incr_rate = statistics.median(incr_rates)
    print(
        f"limiter check: {limiter_rate:,.0f}/s   bare INCR: {incr_rate:,.0f}/s   "
        f"(median of {rounds} rounds of {per_round:,})"
    )
    ok = result("ratelimit_vs_incr_throughput_ratio", limiter_rate / incr_rate, ">=", 0.8)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
