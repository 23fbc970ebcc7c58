"""Stack files generated from the registry: deterministic, checkable, pruned."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from infra.stack_files import (
    StackFileError,
    generate,
    list_stacks,
    load_stack_config,
    render,
    tenant_values,
)
from tenancy.cli.main import app
from tenancy.db.bootstrap import RegistryUrls
from tenancy.tenant import Tenant, TenantStatus

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def tenant(
    slug: str,
    plan: str = "pro",
    status: TenantStatus = TenantStatus.ACTIVE,
    deleted_days_ago: int | None = None,
) -> Tenant:
    deleted_at = NOW - timedelta(days=deleted_days_ago) if deleted_days_ago is not None else None
    return Tenant(
        id=uuid.uuid5(uuid.NAMESPACE_DNS, slug),
        slug=slug,
        name=slug.title(),
        domain=f"{slug}.example.com",
        status=status,
        plan=plan,
        limit_overrides={},
        settings={},
        created_at=NOW,
        updated_at=NOW,
        status_changed_at=NOW,
        deleted_at=deleted_at,
        legal_hold=False,
    )


def test_render_is_plain_sorted_and_secret_free() -> None:
    text = render(tenant("acme"))
    assert text.startswith("# The tenancy:tenantId/slug/plan/status/domain keys are written by")
    config = yaml.safe_load(text)["config"]
    assert list(config) == sorted(config)
    assert config == {
        "tenancy:domain": "acme.example.com",
        "tenancy:plan": "pro",
        "tenancy:slug": "acme",
        "tenancy:status": "active",
        "tenancy:tenantId": str(uuid.uuid5(uuid.NAMESPACE_DNS, "acme")),
    }
    assert "secure:" not in text and "encryptionsalt:" not in text and "password" not in text


def test_generate_is_deterministic_and_check_reports_drift(tmp_path: Path) -> None:
    tenants = [tenant("beta"), tenant("alpha", plan="free")]
    first = generate(tenants, tmp_path, now=NOW)
    assert first.written == ["tenant-alpha", "tenant-beta"]
    snapshot = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    second = generate(list(reversed(tenants)), tmp_path, now=NOW)
    assert second.written == [] and second.unchanged == ["tenant-alpha", "tenant-beta"]
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == snapshot

    changed = [tenant("beta", plan="enterprise"), tenant("alpha", plan="free"), tenant("gamma")]
    report = generate(changed, tmp_path, check=True, now=NOW)
    assert report.out_of_date == ["tenant-beta", "tenant-gamma"]
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == snapshot, (
        "--check must not write"
    )


def test_gone_tenants_lose_their_files(tmp_path: Path) -> None:
    generate([tenant("alpha"), tenant("beta"), tenant("gamma"), tenant("delta")], tmp_path, now=NOW)
    remaining = [
        tenant("alpha"),
        tenant("beta", status=TenantStatus.DELETED, deleted_days_ago=3),  # in the 30-day window
        tenant("gamma", status=TenantStatus.PURGED, deleted_days_ago=31),  # hard-deleted
        tenant("delta", status=TenantStatus.DELETED, deleted_days_ago=400),  # not purged: held
    ]
    assert generate(remaining, tmp_path, check=True, now=NOW).removed == ["tenant-gamma"]
    report = generate(remaining, tmp_path, now=NOW)
    assert report.removed == ["tenant-gamma"]
    assert report.written == ["tenant-beta", "tenant-delta"]
    assert list_stacks(tmp_path) == ["tenant-alpha", "tenant-beta", "tenant-delta"]
    beta = yaml.safe_load((tmp_path / "Pulumi.tenant-beta.yaml").read_text())["config"]
    assert beta["tenancy:status"] == "suspended", (
        "a soft-deleted tenant keeps its stack, with no pods"
    )


def test_stack_config_overlays_project_config(tmp_path: Path) -> None:
    generate([tenant("alpha")], tmp_path, now=NOW)
    project = tmp_path / "Pulumi.yaml"
    project.write_text(
        "name: x\nconfig:\n  tenancy:sharedBucket:\n    value: shared\n  aws:region: eu-west-1\n"
    )
    config = load_stack_config("tenant-alpha", tmp_path, project)
    assert config["aws:region"] == "eu-west-1"
    assert (
        tenant_values(config)["sharedBucket"] == "shared"
        and tenant_values(config)["slug"] == "alpha"
    )
    with pytest.raises(FileNotFoundError, match="no stack file for tenant-zeta"):
        load_stack_config("tenant-zeta", tmp_path, project)


def test_cli_generate_and_check_against_registry(cli_env: RegistryUrls, tmp_path: Path) -> None:
    runner = CliRunner()
    created = runner.invoke(
        app,
        [
            "tenants",
            "create",
            "--name",
            "Acme",
            "--domain",
            "acme.example.com",
            "--plan",
            "pro",
            "--owner-email",
            "o@acme.example.com",
        ],
    )
    assert created.exit_code == 0, created.output
    stale = runner.invoke(app, ["stacks", "generate", "--check", "--directory", str(tmp_path)])
    assert stale.exit_code == 1 and "tenant-acme is out of date" in stale.output
    assert runner.invoke(app, ["stacks", "generate", "--directory", str(tmp_path)]).exit_code == 0
    fresh = runner.invoke(app, ["stacks", "generate", "--check", "--directory", str(tmp_path)])
    assert fresh.exit_code == 0, fresh.output


SECRET_FILE = """\
secretsprovider: awskms://alias/pulumi-stacks?region=eu-west-1
encryptionsalt: v1:Zm9vYmFy:v1:c2FsdA==:aGVsbG8gd29ybGQ=
environment:
  - codexos/production
config:
  aws:region: eu-central-1
  tenancy:redisAdminUrl:
    secure: v1:AAAABBBBCCCC:ZGVhZGJlZWY=
  tenancy:egressCidrs:
    - 10.50.0.0/24
  tenancy:plan: free
"""


def test_secrets_and_foreign_keys_survive_generate_and_pass_check(tmp_path: Path) -> None:
    path = tmp_path / "Pulumi.tenant-acme.yaml"
    path.write_text(SECRET_FILE)
    assert generate([tenant("acme")], tmp_path, check=True, now=NOW).written == ["tenant-acme"]
    assert path.read_text() == SECRET_FILE, "--check must not write"

    report = generate([tenant("acme")], tmp_path, now=NOW)
    assert report.written == ["tenant-acme"] and report.removed == []
    document = yaml.safe_load(path.read_text())
    assert document["secretsprovider"] == "awskms://alias/pulumi-stacks?region=eu-west-1"
    assert document["encryptionsalt"] == "v1:Zm9vYmFy:v1:c2FsdA==:aGVsbG8gd29ybGQ="
    assert document["environment"] == ["codexos/production"]
    config = document["config"]
    assert config["tenancy:redisAdminUrl"] == {"secure": "v1:AAAABBBBCCCC:ZGVhZGJlZWY="}
    assert config["aws:region"] == "eu-central-1"
    assert config["tenancy:egressCidrs"] == ["10.50.0.0/24"]
    assert config["tenancy:plan"] == "pro", "an owned key follows the registry"
    assert config["tenancy:slug"] == "acme"

    text = path.read_text()
    again = generate([tenant("acme")], tmp_path, check=True, now=NOW)
    assert again.out_of_date == [] and again.unchanged == ["tenant-acme"]
    assert generate([tenant("acme")], tmp_path, now=NOW).written == []
    assert path.read_text() == text, "a file whose owned keys match is left byte for byte"


def test_check_reports_only_drift_in_owned_keys(tmp_path: Path) -> None:
    generate([tenant("acme")], tmp_path, now=NOW)
    path = tmp_path / "Pulumi.tenant-acme.yaml"
    # What `pulumi config set --secret` and `pulumi config env add` would add by hand.
    document = yaml.safe_load(path.read_text())
    document["encryptionsalt"] = "v1:c2FsdA==:v1:aGVsbG8=:d29ybGQ="
    document["environment"] = ["codexos/production"]
    document["config"]["tenancy:redisAdminUrl"] = {"secure": "v1:AAAA:BBBB"}
    document["config"]["kubernetes:context"] = "prod"
    path.write_text(yaml.safe_dump(document))
    assert generate([tenant("acme")], tmp_path, check=True, now=NOW).out_of_date == []

    document["config"]["tenancy:status"] = "suspended"
    del document["config"]["tenancy:domain"]
    path.write_text(yaml.safe_dump(document))
    assert generate([tenant("acme")], tmp_path, check=True, now=NOW).out_of_date == ["tenant-acme"]
    generate([tenant("acme")], tmp_path, now=NOW)
    restored = yaml.safe_load(path.read_text())
    assert restored["config"]["tenancy:status"] == "active"
    assert restored["config"]["tenancy:domain"] == "acme.example.com"
    assert restored["config"]["tenancy:redisAdminUrl"] == {"secure": "v1:AAAA:BBBB"}
    assert restored["encryptionsalt"] == "v1:c2FsdA==:v1:aGVsbG8=:d29ybGQ="


def test_a_file_the_registry_does_not_know_is_never_deleted(tmp_path: Path) -> None:
    generate([tenant("alpha"), tenant("beta")], tmp_path, now=NOW)
    orphan = tmp_path / "Pulumi.tenant-beta.yaml"
    before = orphan.read_bytes()
    for check in (True, False):
        report = generate([tenant("alpha")], tmp_path, check=check, now=NOW)
        assert report.unknown == ["tenant-beta"] and report.removed == []
    assert orphan.read_bytes() == before
    assert generate([], tmp_path, now=NOW).unknown == ["tenant-alpha", "tenant-beta"], (
        "an empty registry (the wrong database) deletes nothing"
    )
    assert list_stacks(tmp_path) == ["tenant-alpha", "tenant-beta"]


@pytest.mark.parametrize(
    ("text", "problem"),
    [("config: [1, 2]\n", "`config` is not a mapping"), ("config: {a: [\n", "not valid YAML")],
)
def test_a_broken_stack_file_is_named_and_left_alone(
    tmp_path: Path, text: str, problem: str
) -> None:
    path = tmp_path / "Pulumi.tenant-acme.yaml"
    path.write_text(text)
    with pytest.raises(StackFileError, match=rf"Pulumi.tenant-acme.yaml: .*{problem}"):
        generate([tenant("acme")], tmp_path, now=NOW)
    assert path.read_text() == text


def test_cli_keeps_and_reports_a_file_the_registry_does_not_know(
    cli_env: RegistryUrls, tmp_path: Path
) -> None:
    stray = tmp_path / "Pulumi.tenant-ghost.yaml"
    stray.write_text(SECRET_FILE)
    runner = CliRunner()
    result = runner.invoke(app, ["stacks", "generate", "--directory", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "tenant-ghost: no tenant with slug 'ghost' in the registry; file kept" in result.output
    checked = runner.invoke(app, ["stacks", "generate", "--check", "--directory", str(tmp_path)])
    assert checked.exit_code == 1 and "tenant-ghost: no tenant" in checked.output
    assert stray.read_text() == SECRET_FILE
