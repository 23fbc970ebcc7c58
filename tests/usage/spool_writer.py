"""A process that spools usage events, for the tests of `tenancy.usage.spool`:

    python -m tests.usage.spool_writer <spool dir> <tenant id> <count>

It prints `loaded`, waits for a line on stdin, appends `count` API-call events of the tenant,
prints `written`, then waits for stdin to close (holding its segment, as a live writer does)
and closes its spool. Killed instead, it leaves its segment as a crashed process would."""

from __future__ import annotations

import sys
from pathlib import Path

from tenancy.usage.events import api_call
from tenancy.usage.spool import Spool


def main(directory: str, tenant: str, count: str) -> None:
    spool = Spool(Path(directory))
    print("loaded", flush=True)
    sys.stdin.readline()
    for n in range(int(count)):
        spool.append(api_call(tenant, f"/v1/items/{n % 7}", "POST", 201).to_fields())
    print("written", flush=True)
    sys.stdin.read()
    spool.close()


if __name__ == "__main__":
    main(*sys.argv[1:4])
