"""Guardrails for the tenant's AWS resources: keys, buckets, tags and IAM."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

from policies import tokens as t
from policies.iam_rules import statements
from policies.rule import Resource, ResourceRule, StackRule

_TENANT_PREFIX = re.compile(r"tenants/([0-9a-f-]{36})/")
MIN_DELETION_WINDOW_DAYS = 30


def _key_rotation(props: dict[str, Any]) -> Iterable[str]:
    if props.get("enableKeyRotation") is not True:
        yield "KMS key rotation is off"
    window = props.get("deletionWindowInDays")  # the engine hands numbers over as floats
    if (
        isinstance(window, bool)
        or not isinstance(window, int | float)
        or window < MIN_DELETION_WINDOW_DAYS
    ):
        yield f"deletion window is {window!r} days; expected >= {MIN_DELETION_WINDOW_DAYS}"


def _is_customer_key(key: object) -> bool:
    return isinstance(key, str) and bool(key) and "alias/aws/" not in key


def _bucket_encryption(props: dict[str, Any]) -> Iterable[str]:
    rules = props.get("rules") or []
    if not rules:
        yield "no server-side encryption rule"
    for rule in rules:
        default = rule.get("applyServerSideEncryptionByDefault") or {}
        if default.get("sseAlgorithm") != "aws:kms":
            yield f"sseAlgorithm is {default.get('sseAlgorithm')!r}; expected 'aws:kms'"
        if not _is_customer_key(default.get("kmsMasterKeyId")):
            yield "kmsMasterKeyId is not the tenant's own KMS key"
        if rule.get("bucketKeyEnabled") is not True:
            yield "bucketKeyEnabled is off; expected S3 bucket keys on"


def _object_encryption(props: dict[str, Any]) -> Iterable[str]:
    if props.get("serverSideEncryption") != "aws:kms" or not _is_customer_key(
        props.get("kmsKeyId")
    ):
        yield "object is not encrypted with SSE-KMS under the tenant key"


def _public_access(props: dict[str, Any]) -> Iterable[str]:
    for flag in (
        "blockPublicAcls",
        "blockPublicPolicy",
        "ignorePublicAcls",
        "restrictPublicBuckets",
    ):
        if props.get(flag) is not True:
            yield f"{flag} is {props.get(flag)!r}; expected true"


def _tags(props: dict[str, Any]) -> Iterable[str]:
    tags = props.get("tags") or {}
    # The platform stack's shared resources belong to no tenant.
    required = ("managed-by",) if tags.get("component") == "platform" else t.REQUIRED_TAGS
    missing = [tag for tag in required if not tags.get(tag)]
    if missing:
        yield f"missing tags: {', '.join(missing)}"


def _statements(props: dict[str, Any]) -> list[dict[str, Any]]:
    return statements(props.get("policy"))


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _iam(props: dict[str, Any]) -> Iterable[str]:
    tenants: set[str] = set()
    for index, statement in enumerate(_statements(props)):
        label = statement.get("Sid") or f"statement {index}"
        resources = [str(r) for r in _as_list(statement.get("Resource", []))]
        for resource in resources:
            tenants.update(_TENANT_PREFIX.findall(resource))
        for condition in (statement.get("Condition") or {}).values():
            for key, value in condition.items():
                if key == "kms:EncryptionContext:tenant_id":
                    tenants.update(str(v) for v in _as_list(value))
        if statement.get("Effect") != "Allow":
            continue
        if any(r == "*" or r.endswith(":*") for r in resources):
            yield f"{label} allows Resource '*'"
        actions = [str(a) for a in _as_list(statement.get("Action", []))]
        if any(a == "*" or a.endswith(":*") for a in actions):
            yield f"{label} allows a wildcard action ({', '.join(actions)})"
        for resource in resources:
            if (
                resource.startswith("arn:aws:s3:::")
                and "/" in resource
                and not _TENANT_PREFIX.search(resource)
            ):
                yield f"{label} grants objects outside a tenant prefix ({resource})"
        if "s3:ListBucket" in actions:
            like = (statement.get("Condition") or {}).get("StringLike") or {}
            if not like.get("s3:prefix"):
                yield f"{label} allows s3:ListBucket without an s3:prefix condition"
    if len(tenants) > 1:
        yield f"policy names several tenants: {', '.join(sorted(tenants))}"


def _stack_tenant(resources: Sequence[Resource]) -> str | None:
    for resource in resources:
        if resource.type == t.NAMESPACE:
            labels = (resource.props.get("metadata") or {}).get("labels") or {}
            return labels.get("tenant-id")
    return None


def _iam_own_tenant(resources: Sequence[Resource]) -> Iterable[tuple[str, str]]:
    tenant = _stack_tenant(resources)
    for resource in resources:
        if resource.type != t.IAM_ROLE_POLICY or tenant is None:
            continue
        for statement in _statements(resource.props):
            for target in _as_list(statement.get("Resource", [])):
                for other in _TENANT_PREFIX.findall(str(target)):
                    if other != tenant:
                        yield (
                            resource.name,
                            f"grants tenant {other}'s prefix in tenant {tenant}'s stack",
                        )


def _every_bucket(resources: Sequence[Resource]) -> Iterable[tuple[str, str]]:
    """Each bucket has an SSE-KMS config under a key of this stack and a public access block."""
    keys = {r.props.get("arn") for r in resources if r.type == t.KMS_KEY} - {None}
    for bucket in (r for r in resources if r.type == t.BUCKET):
        name = bucket.props.get("bucket") or bucket.name
        sse = [
            r for r in resources if r.type == t.BUCKET_SSE and r.props.get("bucket") in (name, None)
        ]
        pab = [
            r
            for r in resources
            if r.type == t.BUCKET_PUBLIC_ACCESS and r.props.get("bucket") in (name, None)
        ]
        if not sse:
            yield bucket.name, "bucket has no server-side encryption configuration"
        if not pab:
            yield bucket.name, "bucket has no public access block"
        for config in sse:
            for rule in config.props.get("rules") or []:
                key = (rule.get("applyServerSideEncryptionByDefault") or {}).get("kmsMasterKeyId")
                if keys and key is not None and key not in keys:
                    yield bucket.name, f"bucket is encrypted with {key}, not this tenant's key"


RESOURCE_RULES = (
    ResourceRule(
        "kms-key-rotation-enabled",
        "Tenant KMS keys rotate yearly and keep a 30-day deletion window.",
        "set enable_key_rotation=True and deletion_window_in_days=30 on aws.kms.Key",
        (t.KMS_KEY,),
        _key_rotation,
    ),
    ResourceRule(
        "bucket-encrypted-with-tenant-key",
        "Tenant data is encrypted with SSE-KMS under the tenant's own key, with bucket keys on.",
        "add a BucketServerSideEncryptionConfiguration with sse_algorithm='aws:kms', "
        "kms_master_key_id=<tenant key ARN> and bucket_key_enabled=True",
        (t.BUCKET_SSE,),
        _bucket_encryption,
    ),
    ResourceRule(
        "object-encrypted-with-tenant-key",
        "Objects written by the program use SSE-KMS with the tenant key.",
        "set server_side_encryption='aws:kms' and kms_key_id=<tenant key ARN>",
        (t.BUCKET_OBJECT,),
        _object_encryption,
    ),
    ResourceRule(
        "bucket-public-access-blocked",
        "All four S3 public access block settings are on.",
        "set block_public_acls, block_public_policy, ignore_public_acls and "
        "restrict_public_buckets to True",
        (t.BUCKET_PUBLIC_ACCESS,),
        _public_access,
    ),
    ResourceRule(
        "tags-present",
        "Every taggable AWS resource carries tenant-id, plan and managed-by tags (shared "
        "platform resources: component=platform and managed-by).",
        "pass tags=args.tags to the resource",
        t.AWS_TAGGABLE,
        _tags,
    ),
    ResourceRule(
        "iam-least-privilege",
        "IAM statements never grant '*' resources or actions, objects outside one tenant's "
        "prefix, or listing without an s3:prefix condition.",
        "scope Resource to arn:aws:s3:::<bucket>/tenants/<id>/* and the tenant key ARN",
        (t.IAM_ROLE_POLICY,),
        _iam,
    ),
)

STACK_RULES = (
    StackRule(
        "iam-own-tenant-only",
        "A tenant's role policy names only that tenant's prefix.",
        "build the policy from the stack's own tenant id",
        _iam_own_tenant,
    ),
    StackRule(
        "bucket-protected",
        "Every bucket has SSE-KMS under a key of its own stack and a public access block.",
        "create the bucket through infra.storage.tenant_storage",
        _every_bucket,
    ),
)
