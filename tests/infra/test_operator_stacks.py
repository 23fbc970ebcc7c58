"""The Pulumi Kubernetes Operator profile: a `Stack` per tenant, validated offline against the
operator's own CRD schema (vendored from its v2.9.0 release), secrets only as references."""

from __future__ import annotations

import copy
import json
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from infra.automation.secrets import REQUIRED_SECRETS
from infra.operator_files import write_files
from infra.operator_schema import stack_errors
from infra.operator_stacks import OperatorProfile, OperatorProfileError, stack_resources
from tenancy.cli.main import app
from tenancy.db.bootstrap import RegistryUrls
from tenancy.plans import default_catalog
from tenancy.tenant import Tenant, TenantStatus

NOW = datetime(2026, 11, 26, tzinfo=UTC)
REPO = "https://github.com/codexos/tenancy.git"
COMMIT = "b713fae5a35041d899b0f64151a151f3df068ad1"


def tenant(slug: str, plan: str, status: TenantStatus = TenantStatus.ACTIVE) -> Tenant:
    return Tenant(
        uuid.uuid5(uuid.NAMESPACE_DNS, slug),
        slug,
        slug.title(),
        f"{slug}.example.com",
        status,
        plan,
        {},
        {},
        NOW,
        NOW,
        NOW,
        NOW if status in (TenantStatus.DELETED, TenantStatus.PURGED) else None,
        False,
    )


def tenants() -> list[Tenant]:
    found = [tenant(f"t-{plan}", plan) for plan in default_catalog().names]
    return [
        *found,
        tenant("gone", "pro", TenantStatus.DELETED),
        tenant("shredded", "pro", TenantStatus.PURGED),
        tenant("paused", "free", TenantStatus.SUSPENDED),
    ]


def test_every_tenant_but_the_purged_gets_a_valid_stack() -> None:
    profile = OperatorProfile(REPO, commit=COMMIT, organization="codexos")
    resources = stack_resources(tenants(), profile, NOW)
    names = [r["metadata"]["name"] for r in resources]
    assert "tenant-shredded" not in names and "tenant-gone" in names
    assert names == sorted(names)
    for resource in resources:
        assert stack_errors(resource) == [], resource["metadata"]["name"]
        spec = resource["spec"]
        name = resource["metadata"]["name"]
        assert spec["stack"] == f"codexos/{name}"
        assert spec["projectRepo"] == REPO and spec["commit"] == COMMIT and "branch" not in spec
        assert spec["destroyOnFinalize"] is False, f"{name}: deleting the object must not destroy"
        assert spec["refresh"] is True and spec["continueResyncOnCommitMatch"] is True
        assert spec["config"]["tenancy:slug"] == name.removeprefix("tenant-")
    gone = next(r for r in resources if r["metadata"]["name"] == "tenant-gone")
    assert gone["spec"]["config"]["tenancy:status"] == "suspended"


def test_secrets_are_references_never_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TENANCY_STACK_REDIS_ADMIN_URL", "redis://admin:hunter2@redis:6379/0")
    [resource] = stack_resources([tenant("acme", "pro")], OperatorProfile(REPO, branch="main"))
    assert "hunter2" not in yaml.safe_dump(resource)
    refs = resource["spec"]["secretsRef"]
    assert set(refs) == {s.key for s in REQUIRED_SECRETS}
    assert refs["tenancy:redisAdminUrl"] == {
        "type": "Secret",
        "secret": {"name": "tenant-stack-secrets", "key": "TENANCY_STACK_REDIS_ADMIN_URL"},
    }
    assert resource["spec"]["envRefs"]["PULUMI_ACCESS_TOKEN"]["type"] == "Secret"
    assert not any(key in resource["spec"]["config"] for key in refs)


def test_validation_is_strict_about_names_and_types() -> None:
    [good] = stack_resources([tenant("acme", "pro")], OperatorProfile(REPO, branch="main"))
    typo = copy.deepcopy(good)
    typo["spec"]["resyncFrequency"] = 60
    assert stack_errors(typo) == [
        "Additional properties are not allowed ('resyncFrequency' was unexpected) at spec"
    ]
    wrong = copy.deepcopy(good)
    wrong["spec"]["secretsRef"]["tenancy:redisAdminUrl"]["secret"] = {"name": "x"}
    wrong["spec"]["destroyOnFinalize"] = "false"
    assert stack_errors(wrong) == [
        "'false' is not of type 'boolean' at spec.destroyOnFinalize",
        "'key' is a required property at spec.secretsRef.tenancy:redisAdminUrl.secret",
    ]
    nameless = copy.deepcopy(good)
    del nameless["spec"]["stack"]
    nameless["metadata"]["name"] = "Tenant_Acme"
    assert stack_errors(nameless) == [
        "metadata.name: 'Tenant_Acme' is not a DNS subdomain name",
        "'stack' is a required property at spec",
    ]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"commit": COMMIT, "branch": "main"}, "`commit/branch`.*exactly one"),
        ({}, "`commit/branch`.*exactly one"),
        ({"commit": "b713fae"}, "`commit` is 'b713fae'; expected a full 40-character"),
        ({"branch": "main", "resync_seconds": 30}, "`resync_seconds` is 30; expected >= 60"),
        ({"branch": "main", "namespace": "Tenant Stacks"}, "`namespace` is 'Tenant Stacks'"),
    ],
)
def test_bad_profile_settings_are_named(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(OperatorProfileError, match=message):
        OperatorProfile(REPO, **kwargs)  # type: ignore[arg-type]
    with pytest.raises(OperatorProfileError, match="`project_repo` is 'file:///tmp/x'"):
        OperatorProfile("file:///tmp/x", branch="main")


def test_files_are_written_checked_and_never_deleted_for_unknown_tenants(tmp_path: Path) -> None:
    profile = OperatorProfile(REPO, branch="main")
    first = write_files(tenants(), profile, tmp_path)
    assert "tenant-t-pro" in first.written and first.removed == []
    assert write_files(tenants(), profile, tmp_path, check=True).out_of_date == []
    (tmp_path / "tenant-stranger.yaml").write_text("kept: true\n")
    (tmp_path / "tenant-shredded.yaml").write_text("old: true\n")
    report = write_files(tenants(), profile, tmp_path)
    assert report.unknown == ["tenant-stranger"] and report.removed == ["tenant-shredded"]
    assert (tmp_path / "tenant-stranger.yaml").exists()
    loaded = yaml.safe_load((tmp_path / "tenant-t-pro.yaml").read_text())
    assert stack_errors(loaded) == []


def test_cli_writes_operator_files_from_the_registry(cli_env: RegistryUrls, tmp_path: Path) -> None:
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
    argv = ["stacks", "operator", "--repo", REPO, "--branch", "main", "--directory", str(tmp_path)]
    assert runner.invoke(app, [*argv, "--check"]).exit_code == 1
    result = runner.invoke(app, argv)
    assert result.exit_code == 0, result.output
    assert stack_errors(yaml.safe_load((tmp_path / "tenant-acme.yaml").read_text())) == []
    assert runner.invoke(app, [*argv, "--check"]).exit_code == 0
    bad = runner.invoke(app, [*argv[:-4], "--commit", "abc", "--directory", str(tmp_path)])
    assert bad.exit_code == 1 and "`commit` is 'abc'; expected a full 40-character" in bad.output


def test_verified_domains_reach_the_stack_as_json_the_program_reads_back() -> None:
    profile = OperatorProfile(REPO, commit=COMMIT)
    acme = tenant("acme", "pro")
    hosts = ["shop.acme.test", "www.acme.test"]
    [resource] = stack_resources([acme], profile, domains={acme.id: hosts})
    config = resource["spec"]["config"]
    assert all(isinstance(value, str) for value in config.values())
    assert json.loads(config["tenancy:verifiedDomains"]) == hosts
    assert stack_errors(resource) == []
    [plain] = stack_resources([acme], profile)
    assert "tenancy:verifiedDomains" not in plain["spec"]["config"]
