"""The cost of spooling a usage event (`tenancy.usage.spool`) against recording it in Redis:
one XADD on a local Redis (the baseline the request path normally pays), an append with the
default fsync at most once a second, and an append fsynced on every line.

python bench/usage_spool.py [--quick]
"""

from __future__ import annotations

import shutil
import sys
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import interleaved_best, parse_args, result, scratch_dir
from bench.common_redis import throwaway_redis
from tenancy.usage.events import api_call
from tenancy.usage.recorder import UsageRecorder
from tenancy.usage.spool import Spool


def main() -> int:
    quick = parse_args(__doc__ or "").quick
    events = [api_call(uuid.UUID(int=i + 1), "/v1/agents/{id}", "GET", 200) for i in range(100)]
    fields = [e.to_fields() for e in events]
    samples = 2 if quick else 5
    where = scratch_dir("usage-spool-bench-")
    interval, per_line = Spool(where / "interval"), Spool(where / "per-line", fsync_seconds=0)
    turn = iter(range(10**12))
    try:
        with throwaway_redis() as client:
            recorder = UsageRecorder(client)

            def xadd() -> None:
                recorder.record(events[next(turn) % 100])

            best = interleaved_best(
                {
                    "xadd": xadd,
                    "interval": lambda: interval.append(fields[next(turn) % 100]),
                    "per_line": lambda: per_line.append(fields[next(turn) % 100]),
                },
                samples=samples,
                min_seconds=0.5 if quick else 1.0,
                between=lambda: client.delete(recorder.stream_of(events[0])),
            )
    finally:
        interval.close()
        per_line.close()
        shutil.rmtree(where, ignore_errors=True)
    us = {name: seconds * 1e6 for name, seconds in best.items()}
    print(
        f"per event: XADD {us['xadd']:.1f} µs, spool (fsync each second) {us['interval']:.1f} "
        f"µs, spool (fsync each line) {us['per_line']:.1f} µs (best of {samples} samples)"
    )
    print(
        f"fsync on every line: {us['per_line'] / us['xadd']:.1f}x an XADD, at most "
        f"{1e6 / us['per_line']:,.0f} events/s per process (appends share one segment)"
    )
    ok = result("spool_append_vs_xadd_ratio", us["interval"] / us["xadd"], "<=", 1.0)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
