"""A writer process for the lakehouse tests: `python -m tests.pipelines.lakehouse_worker
<spec.json>` ingests its batches of generated events, then replaces its days' rollups.

The events come from `generate_events(seed)`, so every process and the single-process
baseline see exactly the same events; the spec says which batches and days are this
process's. With `"hold_before_commit": true` it stops inside its first day's rollup
transaction, after the delete and insert, prints `holding` and waits to be killed.
"""

from __future__ import annotations

import json
import random
import sys
import time
import uuid
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from pipelines.lib import event_store, ingest_batches, warehouse, writes
from tenancy import lakehouse

FIRST_DAY = date(2026, 3, 1)
DAYS = 4
TENANTS = [uuid.UUID(int=0x7000 + n) for n in range(12)]
METRICS = ("api_call", "agent_execution", "storage_bytes_added")


def generate_events(seed: int, count: int) -> pa.Table:
    """`count` events over DAYS days and TENANTS tenants, in EVENT_COLUMNS' shape."""
    rng = random.Random(seed)
    rows: dict[str, list[Any]] = {name: [] for name in warehouse.EVENT_COLUMNS.names}
    for n in range(count):
        metric = rng.choice(METRICS)
        when = datetime(2026, 3, 1) + timedelta(seconds=rng.randrange(DAYS * 86_400))
        rows["event_id"].append(str(uuid.UUID(int=rng.getrandbits(128))))
        rows["tenant_id"].append(str(rng.choice(TENANTS)))
        rows["metric"].append(metric)
        rows["quantity"].append(rng.randrange(1, 1_000))
        rows["occurred_at"].append(when)
        api = metric == "api_call"
        rows["endpoint"].append(rng.choice(["/v1/a", "/v1/b/{id}"]) if api else None)
        rows["method"].append("GET" if api else None)
        rows["status"].append(200 if api else None)
        rows["agent_id"].append(None)
        rows["entry_id"].append(f"{n}-0")
        rows["copy"].append(1)
    return pa.Table.from_pydict(rows, schema=warehouse.EVENT_COLUMNS)


def ingest(conn: duckdb.DuckDBPyConnection, events: pa.Table, scope: str) -> int:
    """One batch in one transaction holding the fence `scope`, retried whole when another
    writer's commit wins."""

    def store() -> int:
        with writes.transaction(conn):
            writes.fence(conn, f"usage_event_claims:{scope}")
            batch_id = ingest_batches.next_batch_id(conn)
            result = event_store.insert_events(conn, events, batch_id)
            conn.execute(
                "INSERT INTO ingest_batches VALUES (?, now()::TIMESTAMP, ?, ?, ?, 0)",
                [batch_id, len(events), result.inserted, result.duplicates],
            )
        return result.inserted

    return writes.retry_conflicts(store)


def rollup(conn: duckdb.DuckDBPyConnection, day: date) -> int:
    end = day + timedelta(days=1)
    return writes.write(
        conn, lambda: warehouse.rollup_days(conn, day, end), [f"daily_tenant_usage:{day}"]
    )


def main(spec_path: str) -> None:
    spec = json.loads(Path(spec_path).read_text())
    s3 = lakehouse.S3Access(**spec["s3"]) if spec.get("s3") else None
    conn = lakehouse.connect(lakehouse.LakeLocation(spec["catalog"], spec["data"], s3))
    warehouse.configure(conn, "1GB", 1)
    events = generate_events(spec["seed"], spec["count"])
    size = spec["batch_size"]
    for start in spec["batch_starts"]:
        ingest(conn, events.slice(start, size), spec.get("scope", "all"))
    days = [date.fromisoformat(d) for d in spec["days"]]
    if spec.get("hold_before_commit"):
        conn.execute("BEGIN TRANSACTION")
        warehouse.rollup_days(conn, days[0], days[0] + timedelta(days=1))
        print("holding", flush=True)
        time.sleep(600)
    for day in days:
        rollup(conn, day)
    print("done", flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
