"""Plan changes that move a tenant's storage, crashed at every step boundary and resumed.

At every boundary the tenant's objects are readable from where the registry sends readers;
at the end each is at the new location exactly once, the old location is gone, and the other
tenants' objects (every version, byte for byte) are as they were. The tenant keeps writing
during the move, including to the old location after the switch.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from tenancy.db.bootstrap import RegistryUrls
from tenancy.db.session import Database
from tenancy.lifecycle import Transition
from tenancy.object_store import tenant_prefix
from tenancy.storage_location import dedicated_bucket_name
from tenancy.storage_move import (
    STEPS,
    MoveTargets,
    StorageMoveError,
    find_move,
    readable_locations,
    run_move,
)
from tenancy.tenant import Tenant
from tenancy.transitions import apply_transition
from tests.storage_move.buckets import bucket_exists, current, make_bucket, versions


class Crash(Exception):
    """A run stopped at a step boundary."""


def others_snapshot(world: dict[str, Any], mover: Tenant) -> dict[str, Any]:
    s3, shared = world["s3"], world["shared"]
    snap: dict[str, Any] = {
        "shared": {
            k: v
            for k, v in versions(s3, shared).items()
            if not k[0].startswith(tenant_prefix(mover.id))
        }
    }
    big = world["big_bucket"]
    if mover.id != world["tenants"]["big"].id:
        snap["big"] = versions(s3, big)
    return snap


def read_as_tenant(db: Database, world: dict[str, Any], tenant: Tenant, key: str) -> bytes | None:
    """What a reader following the registry gets for `key`."""
    for location in readable_locations(db, tenant):
        bucket = location.bucket_name(world["shared"])
        try:
            return bytes(world["s3"].get_object(Bucket=bucket, Key=key)["Body"].read())
        except world["s3"].exceptions.NoSuchKey:
            continue
        except world["s3"].exceptions.NoSuchBucket:
            continue
    return None


def write_as_tenant(
    db: Database, world: dict[str, Any], tenant: Tenant, key: str, data: bytes
) -> None:
    """A write goes where the registry says the tenant's storage is now."""
    bucket = readable_locations(db, tenant)[0].bucket_name(world["shared"])
    world["s3"].put_object(Bucket=bucket, Key=key, Body=data)


def crash_everywhere(
    db: Database,
    move_id: uuid.UUID,
    targets: MoveTargets,
    at_boundary: Callable[[tuple[str, str, int]], None],
) -> int:
    """Run the move again and again, each run stopped at the first boundary no run stopped
    at before, until one run finishes; returns how many runs it took."""
    seen: set[tuple[str, str, int]] = set()
    runs = 0
    while True:
        runs += 1
        counts: dict[tuple[str, str], int] = {}

        def checkpoint(step: str, phase: str, counts: dict[tuple[str, str], int] = counts) -> None:
            counts[(step, phase)] = counts.get((step, phase), 0) + 1
            label = (step, phase, counts[(step, phase)])
            at_boundary(label)
            if label not in seen:
                seen.add(label)
                raise Crash(str(label))

        try:
            move = run_move(db, move_id, targets, checkpoint=checkpoint)
        except Crash:
            continue
        assert move.state == "done"
        return runs


def test_upgrade_to_a_dedicated_bucket_survives_a_crash_at_every_boundary(
    db: Database, world: dict[str, Any]
) -> None:
    s3, shared = world["s3"], world["shared"]
    mover = world["tenants"]["mover"]
    prefix = tenant_prefix(mover.id)
    target = dedicated_bucket_name(mover.slug)
    expected = current(s3, shared, prefix)
    before = others_snapshot(world, mover)

    result = apply_transition(db, mover.id, Transition.CHANGE_PLAN, plan="enterprise")
    move_id = uuid.UUID(result.effects["storage_move_id"])
    targets = MoveTargets(s3, shared)
    with pytest.raises(StorageMoveError, match=f"bucket '{target}' does not exist"):
        run_move(db, move_id, targets)
    make_bucket(s3, target, versioned=True)  # what the tenant's stack creates

    doc = f"{prefix}documents/"
    # At a boundary: (key, bytes or None to delete, "tenant" = where the registry says, or
    # "old" = the old location whatever the registry says, i.e. a straggling request).
    hostile: dict[tuple[str, str, int], list[tuple[str, bytes | None, str]]] = {
        ("copy", "object", 2): [(f"{doc}during-copy.txt", b"during copy", "tenant")],
        ("verify", "started", 1): [(f"{doc}0.txt", b"rewritten before switch", "tenant")],
        ("verify", "finished", 1): [(f"{doc}3.txt", None, "tenant")],
        ("switch", "started", 1): [(f"{doc}before-switch.txt", b"just before", "tenant")],
        ("switch", "finished", 1): [
            (f"{doc}after-switch.txt", b"after", "tenant"),
            (f"{doc}2.txt", b"rewritten after switch", "tenant"),
        ],
        ("catch_up", "started", 1): [
            (f"{doc}straggler.txt", b"late", "old"),
            (f"{doc}2.txt", b"stale straggler", "old"),  # older than the tenant's rewrite
        ],
        ("remove_old", "started", 1): [(f"{doc}straggler-2.txt", b"later", "old")],
    }
    done: set[tuple[str, str, int]] = set()
    checks = 0

    def at_boundary(label: tuple[str, str, int]) -> None:
        nonlocal checks
        for key, data in expected.items():
            assert read_as_tenant(db, world, mover, key) == data, f"{key} unreadable at {label}"
        checks += 1
        if label in hostile and label not in done:
            done.add(label)
            for key, data, where in hostile[label]:
                if data is None:
                    bucket = readable_locations(db, mover)[0].bucket_name(shared)
                    s3.delete_object(Bucket=bucket, Key=key)
                    expected.pop(key)
                elif where == "old":
                    s3.put_object(Bucket=shared, Key=key, Body=data)
                    expected.setdefault(key, data)
                else:
                    write_as_tenant(db, world, mover, key, data)
                    expected[key] = data

    runs = crash_everywhere(db, move_id, targets, at_boundary)
    assert done == set(hostile), "every hostile write happened"
    assert runs > 2 * len(STEPS) and checks > runs

    assert current(s3, target, prefix) == expected, "everything, at the new location"
    assert expected[f"{doc}2.txt"] == b"rewritten after switch", "the newer write won"
    assert f"{doc}3.txt" not in expected and f"{doc}straggler-2.txt" in expected
    per_key: dict[str, int] = {}
    for key, _ in versions(s3, target):
        per_key[key] = per_key.get(key, 0) + 1
    twice = {f"{doc}0.txt", f"{doc}2.txt", f"{doc}3.txt"}  # rewritten, or deleted (a marker)
    assert per_key == {k: 2 if k in twice else 1 for k in [*expected, f"{doc}3.txt"]}, (
        "no object copied twice"
    )
    assert versions(s3, shared, prefix) == {}, "no version or marker left at the old location"
    assert others_snapshot(world, mover) == before, "other tenants untouched, byte for byte"
    assert readable_locations(db, mover)[0].bucket == target

    move = find_move(db, mover.slug)
    assert move.state == "done" and set(move.steps) == set(STEPS)
    with db.platform() as conn:
        ledger = {
            r["key"]
            for r in conn.execute(
                "SELECT key FROM registry.storage_move_objects WHERE move_id = %s", (move_id,)
            ).fetchall()
        }
    written_at_target = {f"{doc}after-switch.txt"}
    assert ledger == set(expected) - written_at_target | {f"{doc}3.txt"}, "stragglers too"


def test_downgrade_to_the_shared_bucket_survives_sigkill(
    db: Database, registry: RegistryUrls, world: dict[str, Any], moto_endpoint: str
) -> None:
    s3, shared = world["s3"], world["shared"]
    big = world["tenants"]["big"]
    prefix = tenant_prefix(big.id)
    expected = current(s3, world["big_bucket"], prefix)
    before = {k: v for k, v in versions(s3, shared).items()}

    result = apply_transition(db, big.id, Transition.CHANGE_PLAN, plan="pro")
    move_id = result.effects["storage_move_id"]
    script = (
        "import os, signal, sys, uuid\n"
        "import boto3\n"
        "from tenancy.db.session import Database\n"
        "from tenancy.storage_move import MoveTargets, run_move\n"
        "app, platform, endpoint, shared, move, stop = sys.argv[1:]\n"
        "step, phase, n = stop.split(':')\n"
        "seen = {}\n"
        "def checkpoint(s, p):\n"
        "    seen[(s, p)] = seen.get((s, p), 0) + 1\n"
        "    if (s, p, seen[(s, p)]) == (step, phase, int(n)):\n"
        "        os.kill(os.getpid(), signal.SIGKILL)\n"
        "db = Database(app, platform, max_size=2)\n"
        "s3 = boto3.client('s3', endpoint_url=endpoint, region_name='eu-west-1', "
        "aws_access_key_id='test', aws_secret_access_key='test')\n"
        "run_move(db, uuid.UUID(move), MoveTargets(s3, shared), checkpoint=checkpoint)\n"
    )
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    for stop in ("copy:object:3", "switch:finished:1"):
        proc = subprocess.run(
            [
                sys.executable,
                "-c",
                script,
                registry.app,
                registry.platform,
                moto_endpoint,
                shared,
                move_id,
                stop,
            ],
            env=env,
            capture_output=True,
            timeout=120,
        )
        assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()[-2000:]
        for key, data in expected.items():
            assert read_as_tenant(db, world, big, key) == data, f"{key} unreadable after {stop}"

    move = run_move(db, uuid.UUID(move_id), MoveTargets(s3, shared))
    assert move.state == "done"
    assert current(s3, shared, prefix) == expected
    assert not bucket_exists(s3, world["big_bucket"]), "the dedicated bucket is gone"
    assert move.steps["remove_old"]["detail"]["bucket_deleted"] == world["big_bucket"]
    after = versions(s3, shared)
    assert {k: v for k, v in after.items() if not k[0].startswith(prefix)} == before
    assert sorted(k[0] for k in after if k[0].startswith(prefix)) == sorted(expected)
