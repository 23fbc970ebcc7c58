"""`policies/dashboards/<uid>.json`: written from the builders, or checked for drift."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from policies.observability.dashboards import dashboards, render

DASHBOARDS_DIR = Path(__file__).resolve().parents[1] / "dashboards"


@dataclass
class Report:
    written: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)  # differs from the builders, or missing
    extra: list[str] = field(default_factory=list)  # a JSON file no builder makes


def generate(directory: Path = DASHBOARDS_DIR, *, check: bool = False) -> Report:
    """Write every dashboard whose file differs (nothing with `check`) and remove JSON files
    that no builder makes, so the directory holds exactly what the ConfigMaps provision."""
    report = Report()
    wanted = {f"{uid}.json": render(board) for uid, board in dashboards().items()}
    for name, text in sorted(wanted.items()):
        path = directory / name
        if path.exists() and path.read_text() == text:
            report.unchanged.append(name)
            continue
        report.stale.append(name)
        if not check:
            directory.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            report.written.append(name)
    for path in sorted(directory.glob("*.json")):
        if path.name not in wanted:
            report.extra.append(path.name)
            if not check:
                path.unlink()
    return report
