"""Helpers for the spool tests: what a spool directory holds, the writer processes, and the
real drain that counts what reached the stream."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO

import duckdb
import redis

from pipelines.lib import warehouse
from pipelines.lib.drain import Drain, DrainStats
from pipelines.lib.ingest import IngestWindow
from tenancy.usage.events import parse_fields
from tenancy.usage.spool import QUARANTINE_FILE, SEGMENT_GLOB
from tenancy.usage.stream import UsageConsumer

ROOT = Path(__file__).resolve().parents[2]


def spooled_tenants(directory: Path) -> Counter[uuid.UUID]:
    """Events per tenant in the spool's segments; every line must be a whole event."""
    counts: Counter[uuid.UUID] = Counter()
    for segment in directory.glob(SEGMENT_GLOB):
        for line in segment.read_text().splitlines():
            counts[parse_fields(json.loads(line)).tenant_id] += 1
    return counts


def quarantined(directory: Path) -> list[dict[str, object]]:
    path = directory / QUARANTINE_FILE
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


class Warehouse:
    """An in-memory warehouse fed by the real drain (`pipelines.lib.drain.Drain`)."""

    def __init__(self) -> None:
        self.conn = duckdb.connect(":memory:")
        warehouse.configure(self.conn, memory_limit="512MB")

    def drain(self, client: redis.Redis, tenants: set[uuid.UUID]) -> DrainStats:
        now = datetime.now(UTC)
        window = IngestWindow(now - timedelta(days=1), now + timedelta(minutes=5))
        consumer = UsageConsumer(client, "spool-test")
        return Drain(self.conn, consumer, lambda: tenants, window, log=lambda _: None).run()

    def counted(self) -> dict[uuid.UUID, int]:
        rows = self.conn.execute(
            "SELECT tenant_id, sum(quantity) FROM usage_events GROUP BY ALL"
        ).fetchall()
        return {uuid.UUID(str(t)): int(q) for t, q in rows}


class Writer:
    """A `tests.usage.spool_writer` process (see its docstring for the protocol)."""

    def __init__(self, directory: Path, tenant: uuid.UUID, count: int) -> None:
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.usage.spool_writer",
                *map(str, (directory, tenant, count)),
            ],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.expect("loaded")

    @property
    def stdin(self) -> IO[str]:
        assert self.proc.stdin is not None
        return self.proc.stdin

    def expect(self, word: str) -> None:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().strip()
        assert line == word, f"spool writer said {line!r}; expected {word!r}"

    def go(self) -> None:
        self.stdin.write("go\n")
        self.stdin.flush()

    def finish(self) -> None:
        self.stdin.close()
        assert self.proc.wait(timeout=30) == 0

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(timeout=30)
        self.stdin.close()
