"""Where enforcement writes: the quota gate's state in Redis, and the Prometheus textfile."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from tenancy.settings import Settings


class QuotaOutputs(dg.ConfigurableResource):  # type: ignore[type-arg]
    """`textfile` for node_exporter's textfile collector (default: <run dir>/metrics/...); the
    pipeline's other textfiles (`pipelines.lib.pipeline_metrics`) are written beside it."""

    textfile: str = ""

    def textfile_path(self) -> Path:
        if self.textfile:
            return Path(self.textfile)
        return Settings.from_env().path(
            "TENANCY_METRICS_TEXTFILE",
            "metrics/tenant_resource_usage.prom",
            "the node_exporter textfile for tenant_resource_usage",
        )

    def beside(self, name: str) -> Path:
        """Another textfile in the collector's directory."""
        return self.textfile_path().parent / name
