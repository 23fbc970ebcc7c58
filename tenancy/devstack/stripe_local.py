"""The local profile's Stripe: one emulator process per run directory, started on first use.

Its address and pid are kept in `<run dir>/stripe/emulator.json`; a later process (the
Dagster UI after `make demo`) finds the running one and sees the same customers and invoices.
State lives in the emulator's memory: `tenancy dev down` or a reboot forgets it, like the
throwaway Redis. `stop_local_stripe` ends it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tenancy.devstack.ports import free_port
from tenancy.errors import ServiceError


def _state_file(run_dir: Path) -> Path:
    return run_dir / "stripe" / "emulator.json"


def _answers(url: str) -> bool:
    request = urllib.request.Request(  # noqa: S310 - our own loopback emulator
        f"{url}/v1/customers?limit=1", headers={"Authorization": "Bearer sk_test_local_emulator"}
    )
    try:
        with urllib.request.urlopen(request, timeout=2):  # noqa: S310
            return True
    except OSError:
        return False


def local_stripe_url(run_dir: Path) -> str:
    """The running local emulator's base address, starting it if needed."""
    state = _state_file(run_dir)
    if state.exists():
        data = json.loads(state.read_text())
        if _answers(data["url"]):
            return str(data["url"])
    state.parent.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log = (state.parent / "emulator.log").open("ab")
    proc = subprocess.Popen(
        [sys.executable, "-m", "tenancy.devstack.stripe_emulator", "--port", str(port)],
        stdout=log,
        stderr=log,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while not _answers(url):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise ServiceError(
                f"the local Stripe emulator did not start; see {state.parent / 'emulator.log'}"
            )
        time.sleep(0.1)
    state.write_text(json.dumps({"url": url, "pid": proc.pid}))
    return url


def stop_local_stripe(run_dir: Path) -> None:
    state = _state_file(run_dir)
    if not state.exists():
        return
    data = json.loads(state.read_text())
    try:
        if _answers(str(data["url"])):  # never signal a pid that is no longer our emulator
            os.killpg(int(data["pid"]), signal.SIGTERM)
    except ProcessLookupError:
        pass
    state.unlink()
