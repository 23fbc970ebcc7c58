"""Usage events per second: `record_many` (pipelined batches) vs `record` (one per call).

python bench/recorder_batching.py [--quick]
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
from tenancy.usage.events import api_call
from tenancy.usage.recorder import UsageRecorder


def main() -> int:
    quick = parse_args(__doc__ or "").quick
    rounds, per_round = (4, 5_000) if quick else (6, 20_000)
    tenants = [uuid.UUID(int=i + 1) for i in range(100)]
    events = [api_call(tenants[i % 100], "/v1/agents/{id}", "GET", 200) for i in range(per_round)]
    single_rates, batch_rates = [], []
    with throwaway_redis() as client:
        recorder = UsageRecorder(client, batch_size=500)
        for r in range(rounds):
            for side in ["single", "batch"] if r % 2 == 0 else ["batch", "single"]:
                started = time.perf_counter()
                if side == "single":
                    for event in events:
                        recorder.record(event)
                    single_rates.append(per_round / (time.perf_counter() - started))
                else:
                    recorder.record_many(events)
                    batch_rates.append(per_round / (time.perf_counter() - started))
            client.delete(recorder.stream)
    single, batch = statistics.median(single_rates), statistics.median(batch_rates)
    print(f"one per call: {single:,.0f} events/s   batched (500): {batch:,.0f} events/s")
    ok = result("recorder_batch_vs_single_ratio", batch / single, ">=", 5)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
