"""Where enforcement writes: the quota gate's state in Redis, and the Prometheus textfile."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from pipelines.resources import run_dir


class QuotaOutputs(dg.ConfigurableResource):  # type: ignore[type-arg]
    """`textfile` for node_exporter's textfile collector (default: <run dir>/metrics/...)."""

    textfile: str = ""

    def textfile_path(self) -> Path:
        return (
            Path(self.textfile)
            if self.textfile
            else run_dir() / "metrics" / "tenant_resource_usage.prom"
        )
