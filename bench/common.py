"""Shared by every bench script: the RESULT line format and throwaway-server set-up."""

from __future__ import annotations

import argparse
import operator
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

_OPS: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le,
    ">=": operator.ge,
    "<": operator.lt,
    ">": operator.gt,
}


def parse_args(description: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="reduced size; under a minute")
    return parser.parse_args()


def result(metric: str, value: float, op: str, target: float) -> bool:
    """Print `RESULT <metric> <value> goal <op> <target> PASS|MISS`; return whether it passed."""
    passed = _OPS[op](value, target)
    print(f"RESULT {metric} {value:.4g} goal {op} {target:g} {'PASS' if passed else 'MISS'}")
    sys.stdout.flush()
    return passed


def scratch_dir(prefix: str) -> Path:
    path = Path(tempfile.mkdtemp(prefix=prefix))
    path.chmod(0o755)  # PostgreSQL runs as an unprivileged user when we are root
    return path


def interleaved_best(
    sides: dict[str, Callable[[], object]],
    samples: int = 3,
    min_seconds: float = 1.0,
    between: Callable[[], object] | None = None,
) -> dict[str, float]:
    """Seconds per call of each side: the best of `samples` samples, the sides taking turns to
    go first. Each sample repeats its side's call until it has run for at least `min_seconds`
    (the count is calibrated once), so even a fast operation is timed over about a second and
    a verdict does not flip with timer noise. `between` runs after every sample (e.g. to reset
    state), outside the timing."""
    import time

    calls: dict[str, int] = {}
    for name, fn in sides.items():  # calibration, also the warm-up
        started = time.perf_counter()
        fn()
        once = max(time.perf_counter() - started, 1e-9)
        calls[name] = max(1, int(min_seconds / once) + 1)
        if between:
            between()
    best = {name: float("inf") for name in sides}
    names = list(sides)
    for r in range(samples):
        for name in names if r % 2 == 0 else names[::-1]:
            fn, n = sides[name], calls[name]
            started = time.perf_counter()
            for _ in range(n):
                fn()
            best[name] = min(best[name], (time.perf_counter() - started) / n)
            if between:
                between()
    return best
