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
