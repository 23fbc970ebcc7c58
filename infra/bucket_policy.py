"""Statements that keep unencrypted or wrongly-keyed objects out of a bucket, and plain HTTP off it.

IAM ANDs the keys inside one condition operator, so each way an upload can miss the tenant
key gets its own Deny: a different algorithm, no algorithm header, another key, no key id.
The same statements go on the tenant role (identity policy) and on the bucket (resource
policy), so neither a tenant role edit nor another principal can upload around them.
"""

from __future__ import annotations

from typing import Any

SSE_HEADER = "s3:x-amz-server-side-encryption"
KEY_HEADER = "s3:x-amz-server-side-encryption-aws-kms-key-id"
#: The Sids the guardrails look for; a policy without all four lets some wrong upload through.
SSE_DENY_SIDS = (
    "DenyPutNotSseKms",
    "DenyPutWithoutSseHeader",
    "DenyPutOtherKey",
    "DenyPutWithoutKeyId",
)


def sse_kms_denies(
    objects_arn: str,
    key_arn: str,
    *,
    key_operator: str = "StringNotEquals",
    principal: bool = False,
) -> list[dict[str, Any]]:
    """Four Deny statements on `s3:PutObject` to `objects_arn` unless it is SSE-KMS under
    `key_arn` (an exact ARN, or a pattern with `key_operator="StringNotLike"`). Clients send the
    full key ARN in `x-amz-server-side-encryption-aws-kms-key-id`."""
    who: dict[str, Any] = {"Principal": "*"} if principal else {}

    def deny(sid: str, condition: dict[str, Any]) -> dict[str, Any]:
        return {
            "Sid": sid,
            "Effect": "Deny",
            **who,
            "Action": "s3:PutObject",
            "Resource": objects_arn,
            "Condition": condition,
        }

    return [
        deny("DenyPutNotSseKms", {"StringNotEquals": {SSE_HEADER: "aws:kms"}}),
        deny("DenyPutWithoutSseHeader", {"Null": {SSE_HEADER: "true"}}),
        deny("DenyPutOtherKey", {key_operator: {KEY_HEADER: key_arn}}),
        deny("DenyPutWithoutKeyId", {"Null": {KEY_HEADER: "true"}}),
    ]


def tls_only(bucket_arn: str) -> dict[str, Any]:
    """Refuse every request that does not come over TLS."""
    return {
        "Sid": "DenyInsecureTransport",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [bucket_arn, f"{bucket_arn}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }


def bucket_policy(
    bucket: str, key_arn: str, *, key_operator: str = "StringNotEquals"
) -> dict[str, Any]:
    """The resource policy of a tenant or shared bucket: TLS only, SSE-KMS only, under `key_arn`."""
    bucket_arn = f"arn:aws:s3:::{bucket}"
    return {
        "Version": "2012-10-17",
        "Statement": [
            tls_only(bucket_arn),
            *sse_kms_denies(f"{bucket_arn}/*", key_arn, key_operator=key_operator, principal=True),
        ],
    }
