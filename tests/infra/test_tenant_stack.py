"""The TenantStack program under Pulumi mocks, for every plan and for a suspended tenant.

`render_tenant` runs the program inside `@pulumi.runtime.test`, so every Output is awaited;
each assertion names the resource it is about.
"""

from __future__ import annotations

import json
from typing import Any

import pulumi
import pytest

from infra.platform_reference import platform_outputs
from infra.render import MOCK_PLATFORM_OUTPUTS, InventoryMocks
from infra.tenant_stack import TenantStack
from policies import tokens as t
from policies.kms_lockout import may_put_key_policy
from tenancy import redis_acl
from tests.infra.inventory import Inventory, statements
from tests.infra.stack_args import stack_args

PLANS = ("free", "pro", "enterprise")


@pytest.fixture(scope="module", params=PLANS)
def inv(request: pytest.FixtureRequest) -> Inventory:
    return Inventory.of(stack_args(request.param))


def test_every_child_is_parented_to_the_component(inv: Inventory) -> None:
    for r in inv.resources:
        if r.type == "codexos:tenancy:TenantStack":
            continue
        assert r.parent_type == "codexos:tenancy:TenantStack", (
            f"{r.name}: parent is {r.parent_type}"
        )
        assert r.name.startswith(f"{inv.args.namespace}-"), (
            f"{r.name}: child names are <component>-<role>"
        )


def test_kms_key_rotates_and_separates_administration_from_use(inv: Inventory) -> None:
    key = inv.one(t.KMS_KEY)
    assert key.props["enableKeyRotation"] is True, f"{key.name}: rotation off"
    assert key.props["deletionWindowInDays"] == 30, f"{key.name}: deletion window"
    alias = inv.one("aws:kms/alias:Alias")
    assert alias.props["name"] == f"alias/tenant-{inv.args.slug}", f"{alias.name}: alias name"
    s = statements(key)
    assert s["EnableIamPolicies"]["Principal"] == {"AWS": "arn:aws:iam::123456789012:root"}, (
        f"{key.name}: no account-root statement"
    )
    admins = s["KeyAdministrators"]
    assert admins["Principal"]["AWS"] == [
        inv.args.platform_admin_arn,
        "arn:aws:iam::123456789012:role/codexos-deployer",
    ], f"{key.name}: administrators"
    assert not {"kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey", "kms:*"} & set(
        admins["Action"]
    ), f"{key.name}: administrators may use the key"
    role_arn = f"arn:aws:iam::123456789012:role/tenant-{inv.args.slug}-workload"
    users = {sid for sid, st in s.items() if st["Principal"] == {"AWS": role_arn}}
    assert users == {"TenantRoleUsesWithItsContext", "TenantRoleUsesViaS3"}, f"{key.name}"
    assert s["TenantRoleUsesWithItsContext"]["Condition"]["StringEquals"] == {
        "kms:EncryptionContext:tenant_id": str(inv.args.tenant_id)
    }


def test_key_policy_passes_the_lockout_check_for_deployer_and_root(inv: Inventory) -> None:
    policy = inv.one(t.KMS_KEY).props["policy"]
    for principal in (
        "arn:aws:iam::123456789012:role/codexos-deployer",
        "arn:aws:iam::123456789012:role/codexos-platform-admin",
        "arn:aws:iam::123456789012:root",
    ):
        assert may_put_key_policy(policy, principal), f"{principal} locked out of the key"
    workload = f"arn:aws:iam::123456789012:role/tenant-{inv.args.slug}-workload"
    document = json.loads(policy)
    without_root = {
        **document,
        "Statement": [st for st in document["Statement"] if st["Sid"] != "EnableIamPolicies"],
    }
    assert not may_put_key_policy(without_root, workload), "the tenant role may rewrite its key"


def test_lockout_model_refuses_the_old_admin_only_policy() -> None:
    admin_only = {
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": "arn:aws:iam::123456789012:role/codexos-platform-admin"},
                "Action": "kms:*",
                "Resource": "*",
            }
        ]
    }
    assert not may_put_key_policy(admin_only, "arn:aws:iam::123456789012:user/ci")
    denied = {
        "Statement": [
            *admin_only["Statement"],
            {
                "Effect": "Deny",
                "Principal": {"AWS": "*"},
                "Action": "kms:Put*",
                "Resource": "*",
            },
        ]
    }
    assert not may_put_key_policy(denied, "arn:aws:iam::123456789012:role/codexos-platform-admin")


def test_tenant_data_is_protected_and_retained_on_delete(inv: Inventory) -> None:
    guarded = [inv.one(t.KMS_KEY), *inv.all(t.BUCKET)]
    assert len(guarded) == (2 if inv.args.dedicated_bucket else 1)
    for r in guarded:
        assert r.protect and r.retain_on_delete, (
            f"{r.name}: protect={r.protect} retain_on_delete={r.retain_on_delete}"
        )
    assert not inv.one(t.IAM_ROLE).protect, "only data-bearing resources are protected"


def test_every_resource_uses_the_explicit_providers(inv: Inventory) -> None:
    for r in inv.resources:
        package = r.type.split(":")[0]
        if package in ("aws", "kubernetes"):
            assert r.provider and f"pulumi:providers:{package}::{inv.args.namespace}-" in (
                r.provider
            ), f"{r.name}: provider {r.provider}"


def test_storage_by_plan(inv: Inventory) -> None:
    key_arn = "arn:aws:kms:eu-west-1:123456789012:key/"
    assert inv.all(t.BUCKET_OBJECT) == [], "the deployer does not write with the tenant key"
    if inv.args.plan.storage.model == "shared_prefix":
        assert inv.all(t.BUCKET) == [], "shared-prefix plan must not create a bucket"
        policy = inv.one(t.IAM_ROLE_POLICY).props["policy"]
        assert "arn:aws:s3:::codexos-tenant-data/tenants/" in policy, "the platform's bucket"
        return
    bucket = inv.one(t.BUCKET)
    assert bucket.props["bucket"] == f"codexos-tenant-{inv.args.slug}", f"{bucket.name}: name"
    sse = inv.one(t.BUCKET_SSE).props["rules"][0]
    assert sse["applyServerSideEncryptionByDefault"]["sseAlgorithm"] == "aws:kms"
    assert sse["applyServerSideEncryptionByDefault"]["kmsMasterKeyId"].startswith(key_arn)
    assert sse["bucketKeyEnabled"] is True, "bucket keys off"
    pab = inv.one(t.BUCKET_PUBLIC_ACCESS)
    assert all(
        pab.props[f] is True
        for f in (
            "blockPublicAcls",
            "blockPublicPolicy",
            "ignorePublicAcls",
            "restrictPublicBuckets",
        )
    ), f"{pab.name}: {pab.props}"
    versioning = inv.one("aws:s3/bucketVersioning:BucketVersioning")
    assert versioning.props["versioningConfiguration"]["status"] == "Enabled", f"{versioning.name}"
    rule = inv.one("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration").props[
        "rules"
    ][0]
    assert (
        rule["filter"]["prefix"] == f"tenants/{inv.args.tenant_id}/exports/"
        and rule["expiration"]["days"] == 30
    )


def test_workload_role_is_scoped_to_tenant(inv: Inventory) -> None:
    role = inv.one(t.IAM_ROLE)
    trust = json.loads(role.props["assumeRolePolicy"])["Statement"][0]
    issuer = inv.args.oidc_issuer
    assert trust["Principal"] == {"Federated": inv.args.oidc_provider_arn}, (
        f"{role.name}: trust principal"
    )
    assert trust["Condition"]["StringEquals"][f"{issuer}:sub"] == (
        f"system:serviceaccount:tenant-{inv.args.slug}:workload"
    ), f"{role.name}: trusted by another service account"
    policy = inv.one(t.IAM_ROLE_POLICY)
    s = statements(policy)
    prefix = f"tenants/{inv.args.tenant_id}/"
    assert s["ObjectsUnderOwnPrefix"]["Resource"].endswith(f"/{prefix}*"), (
        f"{policy.name}: object scope"
    )
    assert s["ListOwnPrefixOnly"]["Condition"] == {"StringLike": {"s3:prefix": [f"{prefix}*"]}}
    assert_sse_kms_denies(policy.name, s, f"tenants/{inv.args.tenant_id}/*", "arn:aws:kms:")
    kms = s["OwnKeyWithOwnContext"]
    assert kms["Resource"].startswith("arn:aws:kms:") and "*" not in kms["Resource"], (
        f"{policy.name}: key scope"
    )
    assert kms["Condition"]["StringEquals"]["kms:EncryptionContext:tenant_id"] == str(
        inv.args.tenant_id
    )


def test_namespace_is_labelled_isolated_and_quota_follows_plan(inv: Inventory) -> None:
    ns = inv.one(t.NAMESPACE)
    labels = ns.props["metadata"]["labels"]
    for mode in ("enforce", "warn", "audit"):
        assert labels[f"pod-security.kubernetes.io/{mode}"] == "restricted", f"{ns.name}: {mode}"
        assert labels[f"pod-security.kubernetes.io/{mode}-version"].startswith("v1."), ns.name
    for sa in inv.all(t.SERVICE_ACCOUNT) + inv.all(t.SERVICE_ACCOUNT_PATCH):
        assert sa.props["automountServiceAccountToken"] is False, f"{sa.name}: API token mounted"
    assert (
        labels["tenant-id"] == str(inv.args.tenant_id) and labels["plan"] == inv.args.plan.name
    ), f"{ns.name}"
    sa = inv.one(t.SERVICE_ACCOUNT)
    assert sa.props["metadata"]["annotations"]["eks.amazonaws.com/role-arn"].endswith(
        f"role/tenant-{inv.args.slug}-workload"
    ), f"{sa.name}: IRSA annotation"
    policies = {p.props["metadata"]["name"]: p.props["spec"] for p in inv.all(t.NETWORK_POLICY)}
    assert set(policies) == {
        "default-deny",
        "allow-same-namespace",
        "allow-dns",
        "allow-platform-ingress",
        "allow-egress",
    }
    *services, aws = policies["allow-egress"]["egress"]
    assert aws["ports"] == [{"protocol": "TCP", "port": 443}], f"AWS egress ports: {aws}"
    assert sorted(p["ipBlock"]["cidr"] for p in aws["to"]) == sorted(
        MOCK_PLATFORM_OUTPUTS["s3_cidrs"] + MOCK_PLATFORM_OUTPUTS["aws_api_cidrs"]
    ), "AWS reached only through the platform stack's endpoints"
    assert services == [
        {
            "to": [{"ipBlock": {"cidr": "10.40.12.0/28"}}],
            "ports": [{"protocol": "TCP", "port": 6379}],
        },
        {
            "to": [{"ipBlock": {"cidr": "10.40.13.0/28"}}],
            "ports": [{"protocol": "TCP", "port": 5432}],
        },
    ], "egress only to each configured service on its port"
    quota = inv.one(t.RESOURCE_QUOTA).props["spec"]["hard"]
    k8s = inv.args.plan.kubernetes
    assert quota == {
        "requests.cpu": k8s.cpu,
        "limits.cpu": k8s.cpu,
        "requests.memory": k8s.memory,
        "limits.memory": k8s.memory,
        "pods": str(k8s.pods),
    }, f"quota of {inv.args.plan.name}"
    limits = inv.one(t.LIMIT_RANGE).props["spec"]["limits"][0]
    assert limits["default"] == {"cpu": k8s.container_cpu, "memory": k8s.container_memory}


def test_data_plane_is_the_redis_user_only(inv: Inventory) -> None:
    assert not [r.name for r in inv.resources if r.type.startswith("postgresql:")], (
        "no dead Postgres resources"
    )
    user = inv.one(t.DYNAMIC)
    assert user.props["username"] == f"tenant-{inv.args.tenant_id}"
    assert user.props["rules"] == redis_acl.acl_rules(inv.args.tenant_id), f"{user.name}: ACL rules"


def assert_sse_kms_denies(name: str, s: dict[str, Any], objects: str, key: str) -> None:
    """Each way to miss the tenant key is denied by a statement of its own (IAM ANDs the keys
    inside one operator, so one combined statement would let wrong-key uploads through)."""
    sse, kid = "s3:x-amz-server-side-encryption", "s3:x-amz-server-side-encryption-aws-kms-key-id"
    expected = {
        "DenyPutNotSseKms": ("StringNotEquals", sse),
        "DenyPutWithoutSseHeader": ("Null", sse),
        "DenyPutOtherKey": ("StringNotEquals", kid),
        "DenyPutWithoutKeyId": ("Null", kid),
    }
    for sid, (operator, header) in expected.items():
        st = s.get(sid)
        assert st is not None, f"{name}: no {sid}"
        assert st["Effect"] == "Deny" and st["Action"] == "s3:PutObject", f"{name}: {sid}"
        assert str(st["Resource"]).endswith(objects), f"{name}: {sid} on {st['Resource']}"
        assert list(st["Condition"]) == [operator] and list(st["Condition"][operator]) == [
            header
        ], f"{name}: {sid} condition {st['Condition']}"
    assert s["DenyPutOtherKey"]["Condition"]["StringNotEquals"][kid].startswith(key)


def test_dedicated_bucket_policy_is_tls_and_tenant_key_only() -> None:
    inv = Inventory.of(stack_args("enterprise"))
    policy = inv.one(t.BUCKET_POLICY)
    s = statements(policy)
    tls = s["DenyInsecureTransport"]
    assert tls["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}, f"{policy.name}"
    assert_sse_kms_denies(
        policy.name,
        s,
        "codexos-tenant-acme-enterprise/*",
        "arn:aws:kms:eu-west-1:123456789012:key/",
    )


def test_every_taggable_resource_is_tagged(inv: Inventory) -> None:
    for r in inv.resources:
        if r.type in t.AWS_TAGGABLE:
            assert r.props.get("tags") == inv.args.tags, f"{r.name}: tags {r.props.get('tags')}"
        if r.type in t.KUBERNETES:
            labels = r.props["metadata"]["labels"]
            assert {k: labels[k] for k in t.REQUIRED_TAGS} == inv.args.tags, (
                f"{r.name}: labels {labels}"
            )


@pytest.mark.parametrize("status", ["suspended", "deleted"])
def test_stopped_tenant_runs_no_pods(status: str) -> None:
    inv = Inventory.of(stack_args("pro", status=status))
    quota = inv.one(t.RESOURCE_QUOTA)
    assert quota.props["spec"]["hard"]["pods"] == "0", (
        f"{quota.name}: suspended tenant still runs pods"
    )
    assert quota.props["metadata"]["labels"]["tenant-status"] == status
    assert inv.one(t.KMS_KEY).props["enableKeyRotation"] is True, "suspension keeps the key"
    user = inv.one(t.DYNAMIC)
    assert user.props["rules"][-1] == "off", f"{user.name}: a redeploy must not re-enable it"
    deny_policy = next(r for r in inv.all(t.IAM_ROLE_POLICY) if r.name.endswith("-suspended-deny"))
    deny = json.loads(deny_policy.props["policy"])["Statement"]
    assert deny == [{"Sid": "TenantSuspended", "Effect": "Deny", "Action": "*", "Resource": "*"}]


def test_no_service_egress_without_services() -> None:
    inv = Inventory.of(stack_args("free", egressServices=[]))
    policies = {p.props["metadata"]["name"]: p.props["spec"] for p in inv.all(t.NETWORK_POLICY)}
    (aws,) = policies["allow-egress"]["egress"]
    assert aws["ports"] == [{"protocol": "TCP", "port": 443}], "only AWS on 443 remains"


def test_component_outputs_resolve() -> None:
    args = stack_args("enterprise")
    pulumi.runtime.set_mocks(
        InventoryMocks(args), project="codexos-tenancy", stack=f"tenant-{args.slug}", preview=False
    )

    @pulumi.runtime.test
    def outputs() -> pulumi.Output[None]:
        stack = TenantStack(
            args.namespace,
            args,
            pulumi.Output.secret("redis://mock"),
            platform_outputs(args.platform_stack),
        )

        def check(values: list[str]) -> None:
            key_arn, bucket, role_arn, namespace = values
            assert key_arn.startswith("arn:aws:kms:eu-west-1:123456789012:key/"), (
                f"key_arn {key_arn}"
            )
            assert bucket == f"codexos-tenant-{args.slug}", f"bucket_name {bucket}"
            assert role_arn.endswith(f":role/tenant-{args.slug}-workload"), f"role_arn {role_arn}"
            assert namespace == args.namespace, f"namespace {namespace}"

        return pulumi.Output.all(
            stack.key_arn, stack.bucket_name, stack.role_arn, stack.namespace
        ).apply(check)

    outputs()


def test_component_rejects_untyped_args() -> None:
    with pytest.raises(TypeError, match="tenant-x: args must be TenantStackArgs, got dict"):
        TenantStack("tenant-x", {"slug": "x"}, "redis://mock", None)  # type: ignore[arg-type]
