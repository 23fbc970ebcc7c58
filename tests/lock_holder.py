"""Targets for spawned processes that hold a DuckDB file's lock. Kept apart from the test
modules, which import Dagster: a spawned child imports its target's module, and this one
costs it only DuckDB."""

from __future__ import annotations

import time
from typing import Any

import duckdb


def hold_lock(path: str, ready: Any, release: Any) -> None:
    """Open `path` (taking its lock), say so through `ready`, and hold it until `release`."""
    conn = duckdb.connect(path)
    ready.set()
    release.wait(60)
    conn.close()


def release_after(event: Any, seconds: float) -> None:
    time.sleep(seconds)
    event.set()
