"""Usage events per second: `record_many` (pipelined batches) vs `record` (one per call).

python bench/recorder_batching.py [--quick]
"""

from __future__ import annotations

import sys
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import interleaved_best, parse_args, result
from bench.common_redis import throwaway_redis
from tenancy.usage.events import api_call
from tenancy.usage.recorder import UsageRecorder


def main() -> int:
    quick = parse_args(__doc__ or "").quick
    tenants = [uuid.UUID(int=i + 1) for i in range(100)]
    batch_events = [api_call(tenants[i % 100], "/v1/agents/{id}", "GET", 200) for i in range(5_000)]
    samples = 3 if quick else 6
    with throwaway_redis() as client:
        recorder = UsageRecorder(client, batch_size=500)
        one = iter(range(10**12))

        def single() -> None:
            recorder.record(batch_events[next(one) % len(batch_events)])

        def batch() -> None:
            recorder.record_many(batch_events)

        best = interleaved_best(
            {"single": single, "batch": batch},
            samples=samples,
            between=lambda: client.delete(recorder.stream),
        )
    single_rate, batch_rate = 1 / best["single"], len(batch_events) / best["batch"]
    print(
        f"one per call: {single_rate:,.0f} events/s   batched (500): {batch_rate:,.0f} events/s  "
        f"(best of {samples} samples of at least 1s each)"
    )
    single, batch = single_rate, batch_rate
    ok = result("recorder_batch_vs_single_ratio", batch / single, ">=", 5)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
