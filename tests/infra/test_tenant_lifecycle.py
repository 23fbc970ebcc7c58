"""What a tenant's status does to its rendered stack: workloads scaled to zero while suspended
or deleted (the quota alone would leave running pods alive), restored on reactivation, and
the Redis credentials delivered as a Secret without ever appearing in the inventory."""

from __future__ import annotations

import pytest

from infra.render import SECRET_PLACEHOLDER
from policies import tokens as t
from tests.infra.inventory import Inventory
from tests.infra.stack_args import IMAGE, stack_args


@pytest.mark.parametrize(("status", "replicas"), [("active", 2), ("suspended", 0), ("deleted", 0)])
def test_workloads_follow_the_tenant_status(status: str, replicas: int) -> None:
    inv = Inventory.of(stack_args("pro", status=status))
    deployment = inv.one(t.DEPLOYMENT)
    assert deployment.props["spec"]["replicas"] == replicas, (
        f"{deployment.name}: {status} tenant runs {deployment.props['spec']['replicas']} pods"
    )
    quota = inv.one(t.RESOURCE_QUOTA).props["spec"]["hard"]["pods"]
    assert quota == ("0" if replicas == 0 else "25"), "the quota stays as a guard"
    pod = deployment.props["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "workload" and pod["automountServiceAccountToken"] is False
    (container,) = pod["containers"]
    assert container["image"] == IMAGE, f"{deployment.name}: image"
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    env = {e["name"]: e for e in container["env"]}
    assert env["REDIS_PASSWORD"]["valueFrom"]["secretKeyRef"] == {
        "name": "redis-credentials",
        "key": "password",
    }


def test_reactivation_restores_the_configured_replicas() -> None:
    suspended = Inventory.of(stack_args("enterprise", status="suspended"))
    active = Inventory.of(stack_args("enterprise", status="active"))
    assert suspended.one(t.DEPLOYMENT).props["spec"]["replicas"] == 0
    assert active.one(t.DEPLOYMENT).props["spec"]["replicas"] == 2
    assert active.one(t.RESOURCE_QUOTA).props["spec"]["hard"]["pods"] == "200"
    user = active.one(t.DYNAMIC)
    assert "off" not in user.props["rules"], f"{user.name}: reactivated user stays off"
    assert not [r for r in active.all(t.IAM_ROLE_POLICY) if r.name.endswith("-suspended-deny")]


def test_redis_password_is_a_secret_in_the_tenant_namespace() -> None:
    inv = Inventory.of(stack_args("pro"))
    secret = inv.one(t.SECRET)
    assert secret.props["metadata"]["namespace"] == "tenant-acme-pro", f"{secret.name}: namespace"
    # The engine receives the value marked secret (encrypted in state); the inventory, like
    # `tenancy stacks render --json`, only ever holds the placeholder.
    data = secret.props["stringData"]
    assert data == {"username": SECRET_PLACEHOLDER, "password": SECRET_PLACEHOLDER}, (
        f"{secret.name}: stringData {data}"
    )


def test_elasticache_users_have_access_strings_without_reset() -> None:
    inv = Inventory.of(
        stack_args("pro", redisMode="elasticache", elasticacheUserGroupId="codexos-tenants")
    )
    assert not inv.all(t.DYNAMIC), "no self-managed ACL user on ElastiCache"
    user = inv.one("aws:elasticache/user:User")
    access = user.props["accessString"].split()
    assert access[0] == "on" and not [r for r in access if r.startswith("reset")], access
    assert f"~tenant:{inv.args.tenant_id}:*" in access and "-@all" in access
    assert user.props["authenticationMode"]["type"] == "password"
    group = inv.one("aws:elasticache/userGroupAssociation:UserGroupAssociation")
    assert group.props["userGroupId"] == "codexos-tenants"
    stopped = Inventory.of(
        stack_args(
            "pro",
            status="suspended",
            redisMode="elasticache",
            elasticacheUserGroupId="codexos-tenants",
        )
    )
    assert stopped.one("aws:elasticache/user:User").props["accessString"].startswith("off ")
