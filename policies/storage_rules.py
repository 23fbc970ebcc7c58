"""Guardrails on uploads and buckets: every way to miss the tenant key is denied, plain HTTP is
refused, and a dedicated bucket keeps its versions, its lifecycle and its protection."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from policies import tokens as t
from policies.iam_rules import as_list, statements
from policies.rule import Resource, ResourceRule, StackRule
from policies.unknowns import is_unknown

SSE = "s3:x-amz-server-side-encryption"
KEY_ID = "s3:x-amz-server-side-encryption-aws-kms-key-id"
#: (operator, header) pairs that must each be the whole condition of one Deny on PutObject.
REQUIRED_DENIES = (
    ("StringNotEquals", SSE),
    ("Null", SSE),
    ("StringNotEquals", KEY_ID),
    ("Null", KEY_ID),
)


def _denies_put(statement: dict[str, Any]) -> bool:
    actions = [str(a) for a in as_list(statement.get("Action", []))]
    return statement.get("Effect") == "Deny" and any(
        a in ("s3:PutObject", "s3:*", "*") for a in actions
    )


def missing_sse_denies(found: list[dict[str, Any]]) -> list[str]:
    present = set()
    for statement in filter(_denies_put, found):
        condition = statement.get("Condition") or {}
        if len(condition) == 1:
            ((operator, keys),) = condition.items()
            if isinstance(keys, dict) and len(keys) == 1:
                ((header, value),) = keys.items()
                if operator == "StringNotLike" and header == KEY_ID and value not in ("*", ["*"]):
                    operator = "StringNotEquals"  # a key pattern (the shared bucket's account keys)
                present.add((operator, header))
    return [f"{op} {header}" for op, header in REQUIRED_DENIES if (op, header) not in present]


def _sse_kms_required(props: dict[str, Any]) -> Iterable[str]:
    if is_unknown(props.get("policy")):
        return
    found = statements(props.get("policy"))
    allows_put = any(
        st.get("Effect") == "Allow"
        and any(str(a) in ("s3:PutObject", "s3:*", "*") for a in as_list(st.get("Action", [])))
        for st in found
    )
    if "bucket" in props or allows_put:  # a bucket policy, or a role that may upload
        missing = missing_sse_denies(found)
        if missing:
            yield f"no separate Deny on s3:PutObject for: {'; '.join(missing)}"


def _tls_only(props: dict[str, Any]) -> Iterable[str]:
    if is_unknown(props.get("policy")):
        return
    for st in statements(props.get("policy")):
        condition = (st.get("Condition") or {}).get("Bool") or {}
        if st.get("Effect") == "Deny" and condition.get("aws:SecureTransport") == "false":
            return
    yield "no Deny for aws:SecureTransport false"


def _for_bucket(resources: Sequence[Resource], kind: str, bucket: Resource) -> list[Resource]:
    name = bucket.props.get("bucket")
    return [r for r in resources if r.type == kind and r.props.get("bucket") in (name, None)]


def _dedicated_bucket_kept(resources: Sequence[Resource]) -> Iterable[tuple[str, str]]:
    for bucket in (r for r in resources if r.type == t.BUCKET):
        versioning = _for_bucket(resources, t.BUCKET_VERSIONING, bucket)
        statuses = [
            (v.props.get("versioningConfiguration") or {}).get("status") for v in versioning
        ]
        if not any(s == "Enabled" or is_unknown(s) for s in statuses):
            yield bucket.name, f"versioning is not enabled ({statuses or 'no BucketVersioning'})"
        lifecycle = _for_bucket(resources, t.BUCKET_LIFECYCLE, bucket)
        if not any(r.props.get("rules") for r in lifecycle):
            yield bucket.name, "no lifecycle configuration (exports never expire)"
        if not _for_bucket(resources, t.BUCKET_POLICY, bucket):
            yield bucket.name, "no bucket policy (TLS-only and SSE-KMS denies)"


def _data_protected(resources: Sequence[Resource]) -> Iterable[tuple[str, str]]:
    for resource in resources:
        if resource.type in (t.KMS_KEY, t.BUCKET):
            # Only callers that see resource options say; plain props carry no `protect`.
            if getattr(resource, "protect", None) is False:
                yield resource.name, "tenant data can be destroyed (protect is off)"
            if getattr(resource, "retain_on_delete", None) is False:
                yield resource.name, "tenant data is deleted with the stack (retain_on_delete off)"


RESOURCE_RULES = (
    ResourceRule(
        "sse-kms-denies-present",
        "A role that may upload, and every bucket policy, denies s3:PutObject separately when "
        "the algorithm is not aws:kms, the header is absent, the key is not the tenant key, or "
        "the key id is absent (IAM ANDs keys inside one operator, so one statement is not enough).",
        "build the statements with infra.bucket_policy.sse_kms_denies",
        (t.IAM_ROLE_POLICY, t.BUCKET_POLICY),
        _sse_kms_required,
    ),
    ResourceRule(
        "bucket-tls-only",
        "Every bucket policy refuses requests without TLS.",
        "add infra.bucket_policy.tls_only to the bucket policy",
        (t.BUCKET_POLICY,),
        _tls_only,
    ),
)

STACK_RULES = (
    StackRule(
        "dedicated-bucket-kept",
        "A tenant's own bucket keeps versioning, its lifecycle rules and its bucket policy.",
        "create the bucket through infra.storage.tenant_storage",
        _dedicated_bucket_kept,
    ),
    StackRule(
        "tenant-data-protected",
        "The tenant key and bucket are `protect`ed and retained on delete: only the purge "
        "(crypto-shred) ends them, never a config change or a destroy.",
        "pass protect=True, retain_on_delete=True in the resource options",
        _data_protected,
    ),
)
