"""Build stack config and args for tests, one field at a time."""

from __future__ import annotations

import uuid
from typing import Any

from infra.args import TenantStackArgs
from infra.args_parsing import parse_stack_config
from tenancy.plans import load_catalog

TENANT_IDS = {
    "free": uuid.UUID("0b7e4c1a-5f0e-4d5e-9a53-6f1c2d3e4a01"),
    "pro": uuid.UUID("1c8f5d2b-6a1f-4e6f-8b64-7a2d3e4f5b02"),
    "enterprise": uuid.UUID("2d906e3c-7b2a-4f7a-9c75-8b3e4f5a6c03"),
}


IMAGE = "ghcr.io/codexos/agent-runtime@sha256:" + "ab" * 32
AGENT = {"name": "agent-runtime", "image": IMAGE, "replicas": 2}
#: The default workloads plus `web` with a port: what a tenant serving custom domains runs.
WITH_WEB = [AGENT, {"name": "web", "image": IMAGE, "replicas": 1, "port": 8080}]


def config_values(plan: str = "pro", **overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "tenantId": str(TENANT_IDS.get(plan, uuid.uuid4())),
        "slug": f"acme-{plan}",
        "plan": plan,
        "status": "active",
        "workloads": [AGENT],
        "platformAdminArn": "arn:aws:iam::123456789012:role/codexos-platform-admin",
        "deployerArn": "arn:aws:iam::123456789012:role/codexos-deployer",
        "oidcProviderArn": "arn:aws:iam::123456789012:oidc-provider/oidc.eks.eu-west-1.amazonaws.com/id/ABC",
        "egressServices": [
            {"name": "redis", "cidr": "10.40.12.0/28", "port": 6379},
            {"name": "postgres", "cidr": "10.40.13.0/28", "port": 5432},
        ],
    }
    values.update(overrides)
    return {k: v for k, v in values.items() if v is not None}


def stack_args(plan: str = "pro", region: str = "eu-west-1", **overrides: Any) -> TenantStackArgs:
    values = config_values(plan, **overrides)
    return parse_stack_config(f"tenant-{values['slug']}", values, load_catalog(), region)
