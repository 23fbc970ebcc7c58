"""`tenancy tenants change-plan` waits for the tenant's new bucket; `storage-move resume`
finishes the move once it exists."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tenancy.cli.main import app
from tenancy.db.bootstrap import RegistryUrls
from tenancy.db.session import Database
from tenancy.devstack.redis import RedisServer
from tenancy.object_store import tenant_prefix
from tenancy.storage_location import dedicated_bucket_name
from tenancy.storage_move import STEPS
from tests.storage_move.buckets import current, make_bucket


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
