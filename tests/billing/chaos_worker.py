"""One billing run of the chaos test, in a process of its own that kills itself (SIGKILL) at
a chosen step boundary: `python -m tests.billing.chaos_worker '<json config>'`.

Config: app/platform URLs, the emulator URL, the month, `kill_step` ("*" for any, or one
step name, or null) and `kill_after` (how many such boundaries to pass first), `kills_file`
(the step is appended there before the kill, so the test knows where each run died).
Exit status: 0 when every invoice of the month is finalized, 1 when one stopped on a billing
error (each is printed on stderr), 2 when one is held.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import uuid
from datetime import date
from pathlib import Path

from tenancy.billing import ledger
from tenancy.billing.gateway import StripeGateway
from tenancy.billing.push import InvoicePusher
from tenancy.billing.settings import StripeSettings
from tenancy.db.session import Database


def main() -> int:
    cfg = json.loads(sys.argv[1])
    seen = 0
    lock = threading.Lock()

    def hook(step: str, invoice_id: uuid.UUID) -> None:
        nonlocal seen
        if cfg["kill_step"] not in ("*", step):
            return
        with lock:
            seen += 1
            if seen > cfg["kill_after"]:
                with Path(cfg["kills_file"]).open("a") as f:
                    f.write(step + "\n")
                    f.flush()
                    os.fsync(f.fileno())
                os.kill(os.getpid(), signal.SIGKILL)

    settings = StripeSettings(
        api_key="sk_test_chaos",
        api_base=cfg["stripe"],
        requests_per_second=1000,
        timeout_seconds=0.3,
        max_tries=12,
        backoff_seconds=0.01,
        backoff_max_seconds=0.2,
    )
    month = date.fromisoformat(cfg["month"])
    with Database(cfg["app"], cfg["platform"], max_size=10) as db:
        pusher = InvoicePusher(db, StripeGateway(settings), hook)
        pending = [i.id for i in ledger.list_invoices(db, month) if i.status in ("draft", "pushed")]
        results, failures = pusher.push_all(pending, workers=8)
    for failure in failures:
        print(failure, file=sys.stderr)
    if failures:
        return 1
    return 2 if any(r.status == "held" for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
