"""Helpers for tests that start servers of their own."""

from __future__ import annotations

import subprocess
import time
import urllib.request
from collections.abc import Callable


def wait_for_http(
    url: str, proc: subprocess.Popen[bytes], timeout: float, why: Callable[[], str]
) -> None:
    """Poll `url` until it answers; raise with `why()` if `proc` dies or time runs out."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError(why()) from None
            time.sleep(0.2)
