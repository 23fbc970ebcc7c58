"""Guardrails on who may assume the tenant role, who may use or rewrite the tenant key, and
which IAM actions a tenant role must never hold."""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Iterable
from typing import Any

from policies import tokens as t
from policies.rule import ResourceRule
from policies.unknowns import is_unknown

_ROOT = re.compile(r"arn:aws:iam::\d{12}:root")
#: Actions that let a tenant role become someone else.
ESCALATION_ACTIONS = (
    "iam:PassRole",
    "sts:AssumeRole",
    "sts:AssumeRoleWithWebIdentity",
    "sts:AssumeRoleWithSAML",
    "iam:CreateAccessKey",
    "iam:PutRolePolicy",
    "iam:AttachRolePolicy",
    "iam:UpdateAssumeRolePolicy",
    "kms:PutKeyPolicy",
    "kms:CreateGrant",
)


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def statements(document: Any) -> list[dict[str, Any]]:
    """The statements of a JSON policy string or dict; [] when unknown during preview."""
    if document is None or is_unknown(document):
        return []
    parsed = json.loads(document) if isinstance(document, str) else document
    found = parsed.get("Statement", [])
    return [found] if isinstance(found, dict) else [s for s in found if isinstance(s, dict)]


def _label(statement: dict[str, Any], index: int) -> str:
    return str(statement.get("Sid") or f"statement {index}")


def _aws_principals(statement: dict[str, Any]) -> list[str]:
    principal = statement.get("Principal")
    if principal == "*":
        return ["*"]
    if isinstance(principal, dict):
        return [str(p) for p in as_list(principal.get("AWS", []))]
    return []


def _irsa_trust(props: dict[str, Any]) -> Iterable[str]:
    for index, st in enumerate(statements(props.get("assumeRolePolicy"))):
        if st.get("Effect") != "Allow":
            continue
        label = _label(st, index)
        if _aws_principals(st):
            yield f"{label} trusts AWS principals {_aws_principals(st)}; expected the OIDC provider only"
        if "sts:AssumeRoleWithWebIdentity" not in as_list(st.get("Action")):
            continue
        condition = st.get("Condition") or {}
        for operator in condition:
            if operator != "StringEquals":
                yield f"{label} uses {operator}; expected StringEquals on :sub and :aud"
        equals = condition.get("StringEquals") or {}
        subs = [v for k, v in equals.items() if k.endswith(":sub")]
        auds = [v for k, v in equals.items() if k.endswith(":aud")]
        if not subs or any(
            not is_unknown(v) and (not isinstance(v, str) or "*" in v or "?" in v) for v in subs
        ):
            yield f"{label} does not pin :sub to one service account ({subs})"
        if auds != ["sts.amazonaws.com"] and not any(is_unknown(v) for v in auds):
            yield f"{label} does not require :aud sts.amazonaws.com ({auds})"


def _key_policy(props: dict[str, Any]) -> Iterable[str]:
    if is_unknown(props.get("policy")):
        return
    found = statements(props.get("policy"))
    if not found:
        yield "key has no policy; expected the tenant key policy (infra.keys.key_policy)"
    has_root = False
    for index, st in enumerate(found):
        if st.get("Effect") != "Allow":
            continue
        label = _label(st, index)
        principals = _aws_principals(st)
        if "*" in principals:
            yield f"{label} allows Principal '*'"
        actions = [str(a) for a in as_list(st.get("Action", []))]
        is_root = bool(principals) and all(_ROOT.fullmatch(p) for p in principals)
        has_root |= is_root and "kms:*" in actions
        if not is_root and any(a in ("*", "kms:*") for a in actions):
            yield f"{label} allows {actions} to {principals}; only the account root may hold kms:*"
    if not has_root:
        yield "no account-root statement; the key can be locked out of IAM"


def _escalation(props: dict[str, Any]) -> Iterable[str]:
    for index, st in enumerate(statements(props.get("policy"))):
        if st.get("Effect") != "Allow":
            continue
        actions = [str(a) for a in as_list(st.get("Action", []))]
        granted = sorted(
            {
                dangerous
                for dangerous in ESCALATION_ACTIONS
                for pattern in actions
                if fnmatch.fnmatchcase(dangerous.lower(), pattern.lower())
            }
        )
        if granted:
            yield f"{_label(st, index)} allows {', '.join(granted)} (on {st.get('Resource')})"


RESOURCE_RULES = (
    ResourceRule(
        "irsa-trust-pinned",
        "The tenant role trusts only the cluster's OIDC provider, for exactly one service "
        "account (StringEquals :sub) and audience sts.amazonaws.com.",
        "build the trust policy with infra.identity.trust_policy",
        (t.IAM_ROLE,),
        _irsa_trust,
    ),
    ResourceRule(
        "kms-key-policy-scoped",
        "The key policy never allows Principal '*', gives kms:* only to the account root "
        "(which keeps the key manageable), and keeps the root statement.",
        "build the key policy with infra.keys.key_policy",
        (t.KMS_KEY,),
        _key_policy,
    ),
    ResourceRule(
        "iam-no-escalation",
        "A tenant role never holds actions that let it act as another role or rewrite policies "
        "(iam:PassRole, sts:AssumeRole, policy and key-policy writes).",
        "remove the statement; a tenant role needs only its prefix and its key",
        (t.IAM_ROLE_POLICY,),
        _escalation,
    ),
)
