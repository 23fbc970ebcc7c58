"""What a rate-limiter check costs over a bare INCR, in microseconds, from the same client.

Loopback round-trip time swings with CPU load, so a ratio against INCR decides nothing; this
reports, for one check per round trip and for pipelined batches (`check_many` against
pipelined INCRs), the microseconds a check adds over INCR in the same client, and the server's
own cost per call from `INFO commandstats` (evalsha vs incr). Both are measured twice: with
idle cores, and with one core kept busy by another process. Each side is timed for at least a
second per sample, best of several, the sides taking turns.

    python bench/ratelimit_throughput.py [--quick]
"""

from __future__ import annotations

import multiprocessing
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import redis

from bench.common import interleaved_best, parse_args, result
from bench.common_redis import throwaway_redis
from tenancy.metered import MeteredQuota
from tenancy.ratelimit import RateLimiter, RatePolicy
from tenancy.redis_keys import tenant_key

BATCH = 100


def spin(stop: Any) -> None:
    while not stop.is_set():
        sum(range(10_000))


def server_usec(client: redis.Redis, command: str) -> float:
    stats = client.info("commandstats")
    return float(stats.get(f"cmdstat_{command}", {}).get("usec_per_call", 0.0))


def measure(client: redis.Redis, samples: int) -> dict[str, float]:
    tenants = [uuid.UUID(int=i + 1) for i in range(1_000)]
    policy = RatePolicy(requests_per_minute=6_000_000, burst=100)  # never refuses: full path
    limiter = RateLimiter(client)
    incr_keys = [tenant_key(t, "counter") for t in tenants]
    limiter.check(tenants[0], "/v1/agents", policy)  # load the script once
    turn = iter(range(10**12))
    quota = MeteredQuota.monthly("api_calls_per_month", 10**12, datetime.now(UTC))

    def check() -> None:
        limiter.check(tenants[next(turn) % len(tenants)], "/v1/agents", policy)

    def check_quota() -> None:
        limiter.check(tenants[next(turn) % len(tenants)], "/v1/agents", policy, quota=quota)

    def incr() -> None:
        client.incr(incr_keys[next(turn) % len(incr_keys)])

    def check_many() -> None:
        n = next(turn)
        limiter.check_many(
            [(tenants[(n + i) % len(tenants)], "/v1/agents", policy, None) for i in range(BATCH)]
        )

    def incr_many() -> None:
        n = next(turn)
        pipe = client.pipeline(transaction=False)
        for i in range(BATCH):
            pipe.incr(incr_keys[(n + i) % len(incr_keys)])
        pipe.execute()

    client.config_resetstat()
    best = interleaved_best(
        {"check": check, "check_quota": check_quota, "incr": incr},
        samples=samples,
    )
    # redis-py sends INCR as INCRBY key 1
    evalsha, incr_server = server_usec(client, "evalsha"), server_usec(client, "incrby")
    many = interleaved_best({"check_many": check_many, "incr_many": incr_many}, samples=samples)
    return {
        "check_us": best["check"] * 1e6,
        "check_quota_us": best["check_quota"] * 1e6,
        "incr_us": best["incr"] * 1e6,
        "many_us": many["check_many"] * 1e6 / BATCH,
        "incr_many_us": many["incr_many"] * 1e6 / BATCH,
        "server_evalsha_us": evalsha,
        "server_incr_us": incr_server,
    }


def main() -> int:
    quick = parse_args(__doc__ or "").quick
    samples = 3 if quick else 7
    results = {}
    with throwaway_redis() as client:
        results["idle"] = measure(client, samples)
        stop = multiprocessing.Event()
        busy = multiprocessing.Process(target=spin, args=(stop,), daemon=True)
        busy.start()
        time.sleep(0.2)
        try:
            results["one core busy"] = measure(client, samples)
        finally:
            stop.set()
            busy.join(5)
    for condition, r in results.items():
        print(
            f"{condition:>13}: check {r['check_us']:.1f} µs, with hard quota "
            f"{r['check_quota_us']:.1f} µs, INCR {r['incr_us']:.1f} µs -> adds "
            f"{r['check_us'] - r['incr_us']:.1f} µs; pipelined x{BATCH}: check_many "
            f"{r['many_us']:.2f} µs/check vs INCR {r['incr_many_us']:.2f} µs; server: evalsha "
            f"{r['server_evalsha_us']:.2f} µs/call vs incr {r['server_incr_us']:.2f}"
        )
    ok = True
    for condition, r in results.items():
        tag = condition.replace(" ", "_")
        ok &= result(f"ratelimit_check_added_us_{tag}", r["check_us"] - r["incr_us"], "<=", 10)
        ok &= result(
            f"ratelimit_check_many_added_us_{tag}", r["many_us"] - r["incr_many_us"], "<=", 10
        )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
