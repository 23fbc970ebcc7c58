"""Plan changes that move a tenant's storage, crashed at every step boundary and resumed.

At every boundary the tenant's objects are readable from where the registry sends readers;
at the end each is at the new location exactly once, the old location is gone, and the other
tenants' objects (every version, byte for byte) are as they were. The tenant keeps writing
during the move, including to the old location after the switch.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import psycopg
import pytest
from typer.testing import CliRunner

from tenancy.cli.main import app
from tenancy.db.bootstrap import RegistryUrls
from tenancy.db.session import Database
from tenancy.devstack.redis import RedisServer
from tenancy.errors import TenancyError
from tenancy.lifecycle import RESTORE_WINDOW, Transition
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
from tests.db.factories import make_tenant


class Crash(Exception):
    """A run stopped at a step boundary."""


def s3_client(endpoint: str) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="eu-west-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )


def make_bucket(s3: Any, name: str, versioned: bool) -> None:
    s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    if versioned:
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})


def versions(s3: Any, bucket: str, prefix: str = "") -> dict[tuple[str, str], str]:
    """Every version and delete marker under `prefix`: (key, version) -> SHA-256 or `marker`."""
    seen: dict[tuple[str, str], str] = {}
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Versions", []):
            body = s3.get_object(Bucket=bucket, Key=item["Key"], VersionId=item["VersionId"])
            seen[(item["Key"], item["VersionId"])] = hashlib.sha256(body["Body"].read()).hexdigest()
        for item in page.get("DeleteMarkers", []):
            seen[(item["Key"], item["VersionId"])] = "marker"
    return seen


def bucket_exists(s3: Any, bucket: str) -> bool:
    return any(b["Name"] == bucket for b in s3.list_buckets()["Buckets"])


def current(s3: Any, bucket: str, prefix: str) -> dict[str, bytes]:
    keys = [
        o["Key"]
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        for o in page.get("Contents", [])
    ]
    return {k: s3.get_object(Bucket=bucket, Key=k)["Body"].read() for k in keys}


@pytest.fixture
def world(db: Database, moto_endpoint: str) -> dict[str, Any]:
    """A shared bucket with two tenants, a third tenant in its own (versioned) bucket."""
    s3 = s3_client(moto_endpoint)
    run = uuid.uuid4().hex[:6]
    shared = f"shared-{run}"
    make_bucket(s3, shared, versioned=True)
    tenants: dict[str, Tenant] = {}
    for name, plan in (("mover", "pro"), ("other", "pro"), ("big", "enterprise")):
        tenants[name] = make_tenant(db, f"{name}-{run}", plan).tenant
    big_bucket = dedicated_bucket_name(tenants["big"].slug)
    make_bucket(s3, big_bucket, versioned=True)
    for name, bucket in (("mover", shared), ("other", shared), ("big", big_bucket)):
        prefix = tenant_prefix(tenants[name].id)
        for i in range(4):
            s3.put_object(Bucket=bucket, Key=f"{prefix}documents/{i}.txt", Body=f"{name} {i}")
        s3.put_object(Bucket=bucket, Key=f"{prefix}uploads/blob.bin", Body=os.urandom(3000))
    s3.put_object(
        Bucket=shared, Key=f"{tenant_prefix(tenants['other'].id)}documents/0.txt", Body=b"v2"
    )
    s3.delete_object(Bucket=shared, Key=f"{tenant_prefix(tenants['other'].id)}documents/1.txt")
    return {"s3": s3, "shared": shared, "tenants": tenants, "big_bucket": big_bucket}


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


def test_a_legal_hold_blocks_only_the_removal(
    db: Database, superuser: psycopg.Connection, world: dict[str, Any]
) -> None:
    s3, shared = world["s3"], world["shared"]
    mover = world["tenants"]["mover"]
    prefix = tenant_prefix(mover.id)
    expected = current(s3, shared, prefix)
    make_bucket(s3, dedicated_bucket_name(mover.slug), versioned=True)
    result = apply_transition(db, mover.id, Transition.CHANGE_PLAN, plan="enterprise")
    move_id = uuid.UUID(result.effects["storage_move_id"])
    with pytest.raises(TenancyError, match="storage move to dedicated_bucket still open"):
        apply_transition(db, mover.id, Transition.CHANGE_PLAN, plan="free")
    apply_transition(db, mover.id, Transition.HOLD, reason="litigation 42")

    deleted = f"{prefix}documents/1.txt"
    second_runs: list[str] = []

    def tenant_deletes_after_verify(step: str, phase: str) -> None:
        if (step, phase) == ("copy", "started"):
            with pytest.raises(StorageMoveError, match="another run of this move") as refused:
                run_move(db, move_id, MoveTargets(s3, shared))
            second_runs.append(str(refused.value))
        if (step, phase) == ("verify", "finished"):
            s3.delete_object(Bucket=shared, Key=deleted)

    move = run_move(db, move_id, MoveTargets(s3, shared), checkpoint=tenant_deletes_after_verify)
    assert move.state == "blocked_by_hold" and len(second_runs) == 1, "one run at a time"
    assert "remove_old" not in move.steps and move.steps["switch"]["finished_at"] is not None
    assert move.steps["catch_up"]["detail"]["deleted_at_source_kept_for_hold"] == 1
    target = current(s3, dedicated_bucket_name(mover.slug), prefix)
    assert target[deleted] == expected.pop(deleted), "under hold, a deletion is not carried over"
    assert current(s3, shared, prefix) == expected, "the old location is untouched"
    actions = [
        r[0]
        for r in superuser.execute(
            "SELECT action FROM registry.audit_log WHERE tenant_id = %s ORDER BY seq", (mover.id,)
        ).fetchall()
    ]
    assert "tenant.storage_move.blocked_by_hold" in actions

    apply_transition(db, mover.id, Transition.RELEASE)
    move = run_move(db, move_id, MoveTargets(s3, shared))
    assert move.state == "done" and versions(s3, shared, prefix) == {}
    assert current(s3, dedicated_bucket_name(mover.slug), prefix) == target


def test_cli_change_plan_waits_for_the_bucket_then_resumes(
    cli_env: RegistryUrls,
    redis_server: RedisServer,
    db: Database,
    world: dict[str, Any],
    moto_endpoint: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    for name, value in {
        "TENANCY_REDIS_URL": redis_server.url,
        "TENANCY_RUN_DIR": str(tmp_path),
        "TENANCY_STORAGE": f"s3://{world['shared']}",
        "AWS_ENDPOINT_URL_S3": moto_endpoint,
        "AWS_DEFAULT_REGION": "eu-west-1",
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
    }.items():
        monkeypatch.setenv(name, value)
    s3, mover = world["s3"], world["tenants"]["mover"]
    prefix = tenant_prefix(mover.id)
    expected = current(s3, world["shared"], prefix)
    runner = CliRunner()

    waiting = runner.invoke(app, ["tenants", "change-plan", mover.slug, "enterprise", "--json"])
    assert waiting.exit_code == 1, waiting.output
    data = json.loads(waiting.stdout)
    assert data["tenant"]["plan"] == "enterprise"
    assert "does not exist" in data["storage_move"]["waiting"]
    shown = runner.invoke(app, ["tenants", "storage-move", "status", mover.slug])
    assert shown.exit_code == 0 and "(running)" in shown.output and "copy: started" in shown.output

    make_bucket(s3, dedicated_bucket_name(mover.slug), versioned=True)
    resumed = runner.invoke(
        app, ["tenants", "storage-move", "resume", data["storage_move"]["id"], "--json"]
    )
    assert resumed.exit_code == 0, resumed.output
    move = json.loads(resumed.stdout)
    assert move["state"] == "done" and set(move["steps"]) == set(STEPS)
    assert current(s3, dedicated_bucket_name(mover.slug), prefix) == expected
    assert current(s3, world["shared"], prefix) == {}


def test_a_purge_closes_the_open_move_and_drops_its_object_ledger(
    db: Database, superuser: psycopg.Connection, world: dict[str, Any]
) -> None:
    s3, shared = world["s3"], world["shared"]
    mover = world["tenants"]["mover"]
    make_bucket(s3, dedicated_bucket_name(mover.slug), versioned=True)
    result = apply_transition(db, mover.id, Transition.CHANGE_PLAN, plan="enterprise")
    move_id = uuid.UUID(result.effects["storage_move_id"])

    class Stop(Exception):
        pass

    def stop_after_copy(step: str, phase: str) -> None:
        if (step, phase) == ("verify", "started"):
            raise Stop

    with pytest.raises(Stop):
        run_move(db, move_id, MoveTargets(s3, shared), checkpoint=stop_after_copy)

    def ledger() -> tuple[str, int]:
        state = superuser.execute(
            "SELECT state FROM registry.storage_moves WHERE id = %s", (move_id,)
        ).fetchone()
        objects = superuser.execute(
            "SELECT count(*) FROM registry.storage_move_objects WHERE move_id = %s", (move_id,)
        ).fetchone()
        assert state is not None and objects is not None
        return str(state[0]), int(objects[0])

    assert ledger() == ("running", 5), "the copy recorded every object of the tenant"
    deleted = apply_transition(db, mover.id, Transition.DELETE, reason="closing")
    with pytest.raises(StorageMoveError, match="tenant is deleted"):
        run_move(db, move_id, MoveTargets(s3, shared))
    apply_transition(db, mover.id, Transition.PURGE, now=deleted.tenant.deleted_at + RESTORE_WINDOW)
    assert ledger() == ("done", 0), "closed, and no object keys or digests of the tenant left"
