"""Write `tenant_resource_usage` for the node exporter's textfile collector, atomically."""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterable
from pathlib import Path

from tenancy.metrics import RESOURCE_USAGE

HELP = (
    f"# HELP {RESOURCE_USAGE} Fraction of the plan limit in use this month (1.0 = at the limit).\n"
)
TYPE = f"# TYPE {RESOURCE_USAGE} gauge\n"


def render(ratios: Iterable[tuple[uuid.UUID, str, float]]) -> str:
    lines = [HELP, TYPE]
    for tenant_id, resource, ratio in sorted(ratios, key=lambda r: (str(r[0]), r[1])):
        lines.append(
            f'{RESOURCE_USAGE}{{tenant="{tenant_id}",resource="{resource}"}} {ratio:.6g}\n'
        )
    return "".join(lines)


def write(path: Path, ratios: Iterable[tuple[uuid.UUID, str, float]]) -> None:
    """Replace `path` in one rename, so the collector never reads half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".prom")
    with os.fdopen(fd, "w") as f:
        f.write(render(ratios))
    os.replace(tmp, path)
