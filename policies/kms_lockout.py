"""A model of KMS's key policy lockout safety check, for tests and the key-policy guardrail.

KMS refuses `CreateKey`/`PutKeyPolicy` unless the new policy lets the calling principal call
`PutKeyPolicy` later. The model: an unconditional Allow of an action pattern matching
`kms:PutKeyPolicy` on `*`, to the principal itself or to its account root (which delegates to
IAM policies, so the principal's own IAM policy decides), and no Deny that matches.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Mapping
from typing import Any

PUT_KEY_POLICY = "kms:PutKeyPolicy"


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _principals(statement: Mapping[str, Any]) -> list[str]:
    principal = statement.get("Principal")
    if principal == "*":
        return ["*"]
    if isinstance(principal, Mapping):
        return [str(p) for p in _as_list(principal.get("AWS", []))]
    return []


def _matches_action(statement: Mapping[str, Any], action: str) -> bool:
    return any(
        fnmatch.fnmatchcase(action.lower(), str(pattern).lower())
        for pattern in _as_list(statement.get("Action", []))
    )


def _names(statement: Mapping[str, Any], principal_arn: str) -> bool:
    account = principal_arn.split(":")[4]
    accepted = {"*", principal_arn, f"arn:aws:iam::{account}:root", account}
    return any(p in accepted for p in _principals(statement))


def may_put_key_policy(policy: str | Mapping[str, Any], principal_arn: str) -> bool:
    """True when `principal_arn` (an IAM role or user ARN) passes the lockout check."""
    document = json.loads(policy) if isinstance(policy, str) else policy
    statements = _as_list(document.get("Statement", []))
    relevant = [
        s
        for s in statements
        if _matches_action(s, PUT_KEY_POLICY)
        and _names(s, principal_arn)
        and "*" in _as_list(s.get("Resource", []))
    ]
    if any(s.get("Effect") == "Deny" for s in relevant):
        return False
    return any(s.get("Effect") == "Allow" and not s.get("Condition") for s in relevant)
