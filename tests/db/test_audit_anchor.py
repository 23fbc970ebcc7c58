"""Anchors outside the database catch what the chain alone cannot: its owner rewriting it.

The attacker here is `tenancy_owner`, who owns the table: it lifts forced RLS, disables the
chain trigger, edits or deletes entries and recomputes every later hash. It never has the
anchor key, which lives outside PostgreSQL.
"""

from __future__ import annotations

import base64
import os
import stat
import uuid
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest

from tenancy import audit
from tenancy.audit_anchor import AnchorKey
from tenancy.audit_anchor_config import KEY_VAR, STORE_VAR, Anchoring, anchoring
from tenancy.audit_anchor_store import S3AnchorStore
from tenancy.db.bootstrap import RegistryUrls
from tenancy.db.session import Database
from tenancy.errors import ConfigurationError
from tenancy.settings import Settings
from tests.db.factories import make_tenant

AT = datetime(2026, 11, 26, 21, 0, tzinfo=UTC)


@pytest.fixture
def tenant(db: Database) -> uuid.UUID:
    tid = make_tenant(db, "auditee").tenant.id
    with db.tenant(tid) as conn:
        for n in range(4):
            audit.record(conn, tid, "user:1", "agent.start", f"agent:{n}", {"n": n})
    return tid


class Owner:
    """The migration owner turned attacker: rewrites history the way the issue describes."""

    def __init__(self, url: str) -> None:
        self.conn = psycopg.connect(url, autocommit=True)
        self.conn.execute("ALTER TABLE registry.audit_log NO FORCE ROW LEVEL SECURITY")

    def edit(self, tenant: uuid.UUID, seq: int, target: str) -> None:
        """Change one entry, then recompute its hash and every later link and hash."""
        self.conn.execute("ALTER TABLE registry.audit_log DISABLE TRIGGER audit_chain")
        self.conn.execute(
            "UPDATE registry.audit_log SET target = %s WHERE tenant_id = %s AND seq = %s",
            (target, tenant, seq),
        )
        (head,) = self.conn.execute(
            "SELECT max(seq) FROM registry.audit_log WHERE tenant_id = %s", (tenant,)
        ).fetchone()  # type: ignore[misc]
        for s in range(seq, head + 1):
            self.conn.execute(
                "UPDATE registry.audit_log l SET prev_hash = p.prev, hash = "
                "registry.audit_entry_hash_v2(l.tenant_id, l.seq, l.actor, l.action, l.target, "
                "l.details, l.created_at, p.prev) FROM (SELECT coalesce((SELECT hash FROM "
                "registry.audit_log WHERE tenant_id = %(t)s AND seq = %(s)s - 1), '\\x') AS prev) p "
                "WHERE l.tenant_id = %(t)s AND l.seq = %(s)s",
                {"t": tenant, "s": s},
            )
        self.conn.execute("ALTER TABLE registry.audit_log ENABLE TRIGGER audit_chain")

    def delete_from(self, tenant: uuid.UUID, seq: int) -> None:
        self.conn.execute(
            "DELETE FROM registry.audit_log WHERE tenant_id = %s AND seq >= %s", (tenant, seq)
        )

    def close(self) -> None:
        self.conn.execute("ALTER TABLE registry.audit_log FORCE ROW LEVEL SECURITY")
        self.conn.close()


@pytest.fixture
def owner(registry: RegistryUrls) -> Owner:
    attacker = Owner(registry.owner)
    yield attacker  # type: ignore[misc]
    attacker.close()


def test_anchor_writes_each_intact_head_once(
    db: Database, tenant: uuid.UUID, anchoring: Anchoring
) -> None:
    first = audit.anchor(db, anchoring, now=AT)
    assert [(a.tenant_id, a.seq) for a in first.written] == [(str(tenant), 5)]
    assert audit.anchor(db, anchoring, now=AT).written == (), "an unchanged head is anchored once"
    (chain,) = audit.verify(db, anchoring=anchoring).chains
    assert chain.state == "intact (5 entries), anchored at its head (seq 5)"


def test_owner_rewrite_with_recomputed_hashes_is_detected(
    db: Database, tenant: uuid.UUID, anchoring: Anchoring, owner: Owner
) -> None:
    audit.anchor(db, anchoring, now=AT)
    owner.edit(tenant, 2, "agent:innocent")
    assert audit.verify(db).ok, "the chain alone cannot tell: every hash was recomputed"
    (broken,) = audit.verify(db, anchoring=anchoring).broken
    assert (broken.seq, broken.reason) == (
        5,
        f"entry differs from the anchor of {AT.isoformat()}: "
        "the chain was rewritten up to here and its hashes recomputed",
    )


def test_owner_deleting_the_newest_entries_is_detected(
    db: Database, tenant: uuid.UUID, anchoring: Anchoring, owner: Owner
) -> None:
    audit.anchor(db, anchoring, now=AT)
    owner.delete_from(tenant, 4)
    assert audit.verify(db).ok, "the chain alone cannot tell"
    (broken,) = audit.verify(db, anchoring=anchoring).broken
    assert broken.reason == (
        f"the chain ends at seq 3 but the anchor of {AT.isoformat()} covers seq 5: "
        "entries were deleted"
    )


def test_owner_deleting_a_whole_chain_is_detected(
    db: Database, tenant: uuid.UUID, anchoring: Anchoring, owner: Owner
) -> None:
    audit.anchor(db, anchoring, now=AT)
    owner.delete_from(tenant, 1)
    report = audit.verify(db, anchoring=anchoring)
    assert [(c.tenant_id, c.entries) for c in report.chains] == [(str(tenant), 0)]
    assert "the chain ends at seq 0" in report.broken[0].reason


def test_a_broken_chain_is_never_anchored(
    db: Database, tenant: uuid.UUID, anchoring: Anchoring, owner: Owner
) -> None:
    bystander = make_tenant(db, "bystander").tenant.id
    audit.anchor(db, anchoring, now=AT)
    with db.tenant(tenant) as conn:
        audit.record(conn, tenant, "user:1", "agent.stop", "agent:0")
    owner.edit(tenant, 3, "agent:innocent")
    run = audit.anchor(db, anchoring, now=AT)
    assert run.written == ()
    states = {c.tenant_id: c.ok for c in run.report.chains}
    assert states == {str(tenant): False, str(bystander): True}
    assert anchoring.store.latest(str(tenant)).seq == 5  # type: ignore[union-attr]


def test_anchor_forged_without_the_key_is_refused(
    db: Database, tenant: uuid.UUID, anchoring: Anchoring, owner: Owner
) -> None:
    audit.anchor(db, anchoring, now=AT)
    owner.edit(tenant, 2, "agent:innocent")
    (head,) = owner.conn.execute(
        "SELECT hash FROM registry.audit_log WHERE tenant_id = %s AND seq = 5", (tenant,)
    ).fetchone()  # type: ignore[misc]
    guessed = AnchorKey(os.urandom(32))
    forged = guessed.sign(str(tenant), 6, bytes(head), AT)
    anchoring.store.put(forged.__class__(**{**vars(forged), "key_id": anchoring.key.key_id}))
    (broken,) = audit.verify(db, anchoring=anchoring).broken
    assert broken.reason == "anchor of seq 6 does not verify under the configured key: forged"


def test_entries_after_the_last_anchor_are_not_covered(
    db: Database, tenant: uuid.UUID, anchoring: Anchoring, owner: Owner
) -> None:
    # The documented limit: until the next anchor, newer entries rest on the chain alone.
    audit.anchor(db, anchoring, now=AT)
    with db.tenant(tenant) as conn:
        for n in range(2):
            audit.record(conn, tenant, "user:1", "agent.stop", f"agent:{n}")
    owner.edit(tenant, 6, "agent:innocent")
    (chain,) = audit.verify(db, anchoring=anchoring).chains
    assert chain.ok
    assert chain.state == "intact (7 entries), anchored at seq 5; seq 6-7 not anchored yet"


def test_cli_anchor_then_verify(
    db: Database, tenant: uuid.UUID, cli_env: RegistryUrls, anchor_env: Anchoring, owner: Owner
) -> None:
    from typer.testing import CliRunner

    from tenancy.cli.main import app

    anchored = CliRunner().invoke(app, ["audit", "anchor"])
    assert anchored.exit_code == 0, anchored.output
    assert "anchored 1 chain head(s)" in anchored.output
    owner.delete_from(tenant, 5)
    result = CliRunner().invoke(app, ["audit", "verify"])
    assert result.exit_code == 1
    assert f"tenant {tenant}: broken at seq 5: the chain ends at seq 4" in result.output


def test_production_without_a_key_names_the_variable(tmp_path: Path) -> None:
    env = {
        "TENANCY_DATABASE_URL": "postgresql://o@db/x",
        "TENANCY_APP_DATABASE_URL": "postgresql://a@db/x",
        "TENANCY_PLATFORM_DATABASE_URL": "postgresql://p@db/x",
    }
    with pytest.raises(ConfigurationError, match=f"{KEY_VAR} is not set"):
        anchoring(environ=env)
    key = base64.b64encode(os.urandom(32)).decode()
    with pytest.raises(ConfigurationError, match=f"{STORE_VAR} is not set"):
        anchoring(environ={**env, KEY_VAR: key})
    with pytest.raises(ConfigurationError, match=f"{KEY_VAR}: the audit anchor key has 16 bytes"):
        anchoring(environ={**env, KEY_VAR: base64.b64encode(os.urandom(16)).decode()})
    with pytest.raises(ConfigurationError, match=f"{KEY_VAR} is not base64"):
        anchoring(environ={**env, KEY_VAR: "not base64!"})
    configured = anchoring(environ={**env, KEY_VAR: key, STORE_VAR: str(tmp_path)})
    assert configured.key.key_id == AnchorKey(base64.b64decode(key)).key_id
    in_s3 = anchoring(environ={**env, KEY_VAR: key, STORE_VAR: "s3://audit-anchors/prod"}).store
    assert isinstance(in_s3, S3AnchorStore)
    assert (in_s3.bucket, in_s3.prefix) == ("audit-anchors", "prod/")


def test_local_profile_generates_a_private_key_once(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {"TENANCY_RUN_DIR": str(tmp_path / "run"), "TENANCY_PROFILE": "local"}
    )
    first = anchoring(settings, environ={})
    key_file = tmp_path / "run" / "audit-anchor.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert anchoring(settings, environ={}).key.key_id == first.key.key_id


def test_anchors_in_an_object_locked_bucket(
    db: Database, tenant: uuid.UUID, moto_endpoint: str, owner: Owner
) -> None:
    import boto3
    import botocore.exceptions

    s3 = boto3.client(
        "s3",
        endpoint_url=moto_endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    bucket = f"anchors-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
    store = S3AnchorStore(s3, bucket, "audit")
    locked = Anchoring(AnchorKey(os.urandom(32)), store)
    (written,) = audit.anchor(db, locked, now=AT).written
    assert store.tenants() == [str(tenant)]
    assert store.latest(str(tenant)) == written
    key = f"audit/{tenant}/{written.seq:020d}.json"
    with pytest.raises(botocore.exceptions.ClientError, match="PreconditionFailed"):
        store.put(written)  # written once
    version = s3.head_object(Bucket=bucket, Key=key)["VersionId"]
    with pytest.raises(botocore.exceptions.ClientError, match="AccessDenied"):
        s3.delete_object(Bucket=bucket, Key=key, VersionId=version)  # locked
    owner.delete_from(tenant, 5)
    (broken,) = audit.verify(db, anchoring=locked).broken
    assert "entries were deleted" in broken.reason
