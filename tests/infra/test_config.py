"""Bad stack config fails at construction, naming the stack and the config key."""

from __future__ import annotations

import pytest

from infra.args_parsing import parse_stack_config
from infra.errors import StackConfigError
from tenancy.plans import load_catalog
from tests.infra.stack_args import config_values, stack_args


def test_valid_config_builds_args() -> None:
    args = stack_args("enterprise")
    assert args.dedicated_bucket and args.namespace == "tenant-acme-enterprise"
    assert args.account_id == "123456789012"
    assert args.oidc_issuer == "oidc.eks.eu-west-1.amazonaws.com/id/ABC"
    assert args.tags == {
        "tenant-id": str(args.tenant_id),
        "plan": "enterprise",
        "managed-by": "codexos-tenancy",
    }


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"plan": "platinum"},
            "tenant-acme-platinum: config `tenancy:plan` is 'platinum'; expected one of: free, pro, enterprise",
        ),
        (
            {"workloads": [{"name": "agent", "image": "ghcr.io/x/agent:latest", "replicas": 1}]},
            "config `tenancy:workloads[0].image` is 'ghcr.io/x/agent:latest'; expected an image pinned by digest",
        ),
        (
            {"workloads": [{"name": "agent", "image": "x@sha256:" + "a" * 64, "replicas": 0}]},
            "config `tenancy:workloads[0].replicas` is 0; expected a whole number >= 1",
        ),
        (
            {"redisMode": "elasticache"},
            "config `tenancy:elasticacheUserGroupId` is missing; expected the ElastiCache user group id",
        ),
        (
            {"redisMode": "memcached"},
            "config `tenancy:redisMode` is 'memcached'; expected self-managed or elasticache",
        ),
        (
            {
                "egressServices": [
                    {"name": "redis", "cidr": "10.40.12.0/28", "port": 6379},
                    {"name": "pg", "cidr": "10.0.0.300/24", "port": 5432},
                ]
            },
            "tenant-acme-pro: config `tenancy:egressServices[1].cidr` is '10.0.0.300/24'; expected a CIDR such as 10.40.12.0/24",
        ),
        (
            {"egressServices": [{"name": "vpc", "cidr": "10.0.0.0/8", "port": 443}]},
            "config `tenancy:egressServices[0].cidr` is '10.0.0.0/8'; expected the service's own block, /16 or narrower",
        ),
        (
            {"egressServices": [{"name": "redis", "cidr": "10.40.12.0/28", "port": 0}]},
            "config `tenancy:egressServices[0].port` is 0; expected a port number 1-65535",
        ),
        (
            {"egressServices": ["10.40.12.0/28"]},
            "config `tenancy:egressServices[0]` is '10.40.12.0/28'; expected a mapping with name, cidr and port",
        ),
        ({"tenantId": "not-a-uuid"}, "config `tenancy:tenantId` is 'not-a-uuid'; expected a UUID"),
        (
            {"status": "paused"},
            "config `tenancy:status` is 'paused'; expected one of: active, suspended, deleted",
        ),
        (
            {"status": "purged"},
            "config `tenancy:status` is 'purged'; expected active, suspended or deleted",
        ),
        (
            {"platformAdminArn": "admin"},
            "config `tenancy:platformAdminArn` is 'admin'; expected arn:aws:iam::",
        ),
        (
            {"deployerArn": None},
            "tenant-acme-pro: config `tenancy:deployerArn` is missing; expected the IAM role or user ARN that runs `pulumi up`",
        ),
        (
            {"deployerArn": "arn:aws:sts::123456789012:assumed-role/ci/session"},
            "config `tenancy:deployerArn` is 'arn:aws:sts::123456789012:assumed-role/ci/session'; expected arn:aws:iam::",
        ),
        (
            {"deployerArn": "arn:aws:iam::210987654321:role/ci"},
            "config `tenancy:deployerArn` is 'arn:aws:iam::210987654321:role/ci'; expected a principal of account 123456789012",
        ),
        (
            {"accountId": "999999999999"},
            "config `tenancy:accountId` is '999999999999'; expected the 12-digit account of tenancy:platformAdminArn",
        ),
    ],
)
def test_bad_config_names_the_key(overrides: dict[str, object], message: str) -> None:
    values = config_values(**overrides)  # type: ignore[arg-type]
    with pytest.raises(
        StackConfigError,
        match=message.replace("(", r"\(")
        .replace(")", r"\)")
        .replace("[", r"\[")
        .replace("]", r"\]")
        .replace(".", r"\."),
    ):
        parse_stack_config(f"tenant-{values['slug']}", values, load_catalog(), "eu-west-1")


def test_stack_name_must_match_slug() -> None:
    with pytest.raises(
        StackConfigError,
        match=r"tenant-other: config `tenancy:slug` is 'acme-pro'; expected the slug",
    ):
        parse_stack_config("tenant-other", config_values(), load_catalog(), "eu-west-1")


def test_region_is_required() -> None:
    with pytest.raises(
        StackConfigError, match="config `aws:region` is missing; expected an AWS region"
    ):
        parse_stack_config("tenant-acme-pro", config_values(), load_catalog(), None)
