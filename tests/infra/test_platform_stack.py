"""The `platform` stack under mocks: the shared bucket locked down, its policy, the endpoints,
the hook for further shared components, and the stack file it is configured by."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pytest
import yaml

from infra.errors import StackConfigError
from infra.platform_args import PlatformArgs, parse_platform_config
from infra.platform_stack import PlatformContext
from infra.render import render_platform
from policies import tokens as t
from policies.guardrails import check
from policies.kms_lockout import may_put_key_policy
from policies.storage_rules import missing_sse_denies

ROOT = Path(__file__).resolve().parents[2]


def platform_values() -> dict[str, Any]:
    project = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())["config"]
    stack = yaml.safe_load((ROOT / "infra/stacks/Pulumi.platform.yaml").read_text())["config"]
    merged = {k: v["value"] if isinstance(v, dict) else v for k, v in project.items()} | stack
    return {k.removeprefix("tenancy:"): v for k, v in merged.items() if k.startswith("tenancy:")}


@pytest.fixture(scope="module")
def args() -> PlatformArgs:
    return parse_platform_config(platform_values(), "eu-west-1")


def test_shared_bucket_is_locked_down(args: PlatformArgs) -> None:
    resources = render_platform(args)
    by_type: dict[str, list[Any]] = {}
    for r in resources:
        by_type.setdefault(r.type, []).append(r)
    (bucket,) = by_type[t.BUCKET]
    assert bucket.props["bucket"] == "codexos-tenant-data"
    assert bucket.protect and bucket.retain_on_delete, f"{bucket.name}: not protected"
    (pab,) = by_type[t.BUCKET_PUBLIC_ACCESS]
    assert all(
        pab.props[f] is True
        for f in (
            "blockPublicAcls",
            "blockPublicPolicy",
            "ignorePublicAcls",
            "restrictPublicBuckets",
        )
    )
    (sse,) = by_type[t.BUCKET_SSE]
    assert sse.props["rules"][0]["applyServerSideEncryptionByDefault"]["sseAlgorithm"] == "aws:kms"
    (versioning,) = by_type[t.BUCKET_VERSIONING]
    assert versioning.props["versioningConfiguration"]["status"] == "Enabled"
    (policy,) = by_type[t.BUCKET_POLICY]
    statements = json.loads(policy.props["policy"])["Statement"]
    assert missing_sse_denies(statements) == [], f"{policy.name}: SSE-KMS denies"
    tls = next(s for s in statements if s["Sid"] == "DenyInsecureTransport")
    assert tls["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    other_key = next(s for s in statements if s["Sid"] == "DenyPutOtherKey")
    assert other_key["Condition"] == {
        "StringNotLike": {
            "s3:x-amz-server-side-encryption-aws-kms-key-id": "arn:aws:kms:eu-west-1:123456789012:key/*"
        }
    }, "uploads must name a key of this account"
    (key,) = by_type[t.KMS_KEY]
    assert may_put_key_policy(key.props["policy"], args.deployer_arn), "deployer locked out"
    assert check(resources) == [], "the platform stack passes the guardrails"


def test_endpoints_keep_aws_traffic_inside_the_vpc(args: PlatformArgs) -> None:
    endpoints = {
        r.props["serviceName"]: r
        for r in render_platform(args)
        if r.type == "aws:ec2/vpcEndpoint:VpcEndpoint"
    }
    s3 = endpoints["com.amazonaws.eu-west-1.s3"]
    assert s3.props["vpcEndpointType"] == "Gateway" and s3.props["routeTableIds"] == list(
        args.route_table_ids
    )
    for service in ("sts", "kms"):
        interface = endpoints[f"com.amazonaws.eu-west-1.{service}"]
        assert (
            interface.props["vpcEndpointType"] == "Interface"
            and interface.props["privateDnsEnabled"] is True
        )
        assert interface.props["subnetIds"] == list(args.endpoint_subnet_ids)


def test_extra_components_plug_in_with_the_platform_providers(args: PlatformArgs) -> None:
    seen: list[PlatformContext] = []

    def dashboards(context: PlatformContext) -> None:
        seen.append(context)
        k8s.core.v1.ConfigMap(
            f"{context.name}-dashboards",
            metadata=k8s.meta.v1.ObjectMetaArgs(name="dashboards", namespace="monitoring"),
            data={"tenants.json": "{}"},
            opts=pulumi.ResourceOptions(parent=context.parent),
        )

    resources = render_platform(args, [dashboards])
    (config_map,) = [r for r in resources if r.type == "kubernetes:core/v1:ConfigMap"]
    assert config_map.parent_type == "codexos:tenancy:PlatformStack"
    assert (
        config_map.provider
        and "pulumi:providers:kubernetes::platform-kubernetes" in config_map.provider
    )
    assert seen and seen[0].args is args


@pytest.mark.parametrize(
    ("override", "message"),
    [
        (
            {"vpcId": "vpc-nope"},
            "platform: config `tenancy:vpcId` is 'vpc-nope'; expected a VPC id",
        ),
        (
            {"routeTableIds": []},
            "config `tenancy:routeTableIds` is missing; expected a list of route table ids",
        ),
        (
            {"endpointSubnetCidrs": ["10.40.20.1/24"]},
            r"config `tenancy:endpointSubnetCidrs\[0\]` is '10.40.20.1/24'",
        ),
        (
            {"sharedBucket": "Bad_Bucket"},
            "config `tenancy:sharedBucket` is 'Bad_Bucket'; expected an S3 bucket name",
        ),
    ],
)
def test_bad_platform_config_names_the_key(override: dict[str, Any], message: str) -> None:
    with pytest.raises(StackConfigError, match=message):
        parse_platform_config(platform_values() | override, "eu-west-1")


def test_platform_renders_the_acme_issuers_and_the_dashboards(args: PlatformArgs) -> None:
    from infra.platform_components import DEFAULT_COMPONENTS

    resources = render_platform(args, DEFAULT_COMPONENTS)
    issuers = [r for r in resources if r.props.get("kind") == "ClusterIssuer"]
    assert sorted(r.props["metadata"]["name"] for r in issuers) == [
        "letsencrypt-production",
        "letsencrypt-staging",
    ]
    assert all(r.props["spec"]["acme"]["email"] == args.acme_email for r in issuers)
    boards = [r for r in resources if r.type == "kubernetes:core/v1:ConfigMap"]
    dashboard_files = sorted((ROOT / "policies" / "dashboards").glob("*.json"))
    assert len(boards) == len(dashboard_files) > 0
    for board in boards:
        assert board.props["metadata"]["namespace"] == args.grafana_namespace
        assert board.props["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert check(resources) == []


def test_platform_refuses_a_missing_acme_email() -> None:
    values = platform_values()
    del values["acmeEmail"]
    with pytest.raises(StackConfigError, match="tenancy:acmeEmail"):
        parse_platform_config(values, "eu-west-1")


def test_dagster_chart_only_when_configured_with_the_profile_values() -> None:
    from dataclasses import replace as with_changes

    from infra.dagster_deployment import helm_values
    from infra.platform_components import DEFAULT_COMPONENTS

    values = platform_values()
    plain = parse_platform_config(values, "eu-west-1")
    assert plain.dagster is None
    assert not [r for r in render_platform(plain, DEFAULT_COMPONENTS) if "helm" in r.type]
    values["dagster"] = {
        "imageRepository": "registry.example.com/codexos/pipelines",
        "imageTag": "2026.11.26",
        "postgresHost": "dagster-db.internal",
    }
    configured = parse_platform_config(values, "eu-west-1")
    assert configured.dagster is not None
    (release,) = [r for r in render_platform(configured, DEFAULT_COMPONENTS) if "helm" in r.type]
    assert release.props["chart"] == "dagster"
    assert release.props["values"] == json.loads(json.dumps(helm_values(configured.dagster)))
    assert with_changes(configured, dagster=None) == plain


@pytest.mark.parametrize(
    ("dagster", "named"),
    [
        ({"imageRepository": "r", "imageTag": "latest", "postgresHost": "db"}, "imageTag"),
        ({"imageRepository": "r", "imageTag": "1", "postgresHost": "db", "colour": 1}, "colour"),
        ({"imageRepository": "r"}, "tenancy:dagster"),
    ],
)
def test_a_bad_dagster_profile_names_its_key(dagster: dict[str, Any], named: str) -> None:
    values = platform_values() | {"dagster": dagster}
    with pytest.raises(StackConfigError, match=named):
        parse_platform_config(values, "eu-west-1")
