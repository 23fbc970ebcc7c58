"""Cache keys stay inside their tenant's namespace."""

from __future__ import annotations

import uuid

import pytest

from tenancy.errors import InvalidInputError
from tenancy.redis_keys import enforcement_key, platform_key, tenant_key, tenant_prefix

TENANT = uuid.UUID("0b7e4c1a-5f0e-4d5e-9a53-6f1c2d3e4a01")


def test_keys_are_namespaced() -> None:
    assert tenant_key(TENANT, "cache", "agents", 42) == f"tenant:{TENANT}:cache:agents:42"
    assert (
        tenant_key(str(TENANT), "ratelimit", "/v1/agents")
        == f"tenant:{TENANT}:ratelimit:/v1/agents"
    )
    assert tenant_prefix(TENANT) == f"tenant:{TENANT}:"
    assert platform_key("usage", "events") == "platform:usage:events"
    assert enforcement_key("quota", str(TENANT), "state") == f"platform:quota:{{{TENANT}}}:state"
    with pytest.raises(InvalidInputError, match="tenant id is"):
        enforcement_key("quota", "*", "state")


@pytest.mark.parametrize(
    "part",
    [
        "a:b",
        "*",
        "agents*",
        "a?",
        "[ab]",
        "x]",
        "with space",
        "tab\t",
        "new\nline",
        "",
        "back\\slash",
        None,
        1.5,
    ],
)
def test_parts_that_could_escape_are_rejected(part: object) -> None:
    with pytest.raises(
        InvalidInputError, match=r"key part 2 is .*; expected a non-empty string without"
    ):
        tenant_key(TENANT, "cache", part)


@pytest.mark.parametrize(
    "tenant",
    [
        "*",
        f"{TENANT}:*",
        "tenant:other",
        "not-a-uuid",
        f"{TENANT} ",
        str(TENANT).replace("-", ""),
        "",
        None,
    ],
)
def test_tenant_ids_that_could_escape_are_rejected(tenant: object) -> None:
    with pytest.raises(InvalidInputError, match=r"tenant id is .*; expected a UUID"):
        tenant_key(tenant, "cache")  # type: ignore[arg-type]


def test_a_key_needs_a_part() -> None:
    with pytest.raises(InvalidInputError, match="expected at least one part after the tenant id"):
        tenant_key(TENANT)
