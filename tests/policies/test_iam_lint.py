"""Every rendered IAM, trust, bucket and key policy through parliament, an offline IAM linter
with AWS's own action, resource and condition-key catalog.

parliament lints identity policies; on resource policies a few findings are expected by
construction and listed here with the reason. Anything else (an unknown action or condition
key, a malformed statement, a type mismatch that is not usable) fails.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator

import pytest

from infra.platform_args import parse_platform_config
from infra.render import RenderedResource, render_platform, render_tenant
from policies import tokens as t
from tests.infra.stack_args import stack_args
from tests.infra.test_platform_stack import platform_values

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # parliament imports the deprecated pkg_resources
    from parliament import analyze_policy_string

#: (resource type, policy property) -> findings that hold by construction, and why.
EXPECTED: dict[tuple[str, str], dict[str, str]] = {
    (t.KMS_KEY, "policy"): {
        # In a key policy "Resource": "*" means this key; parliament reads it as every key.
        "RESOURCE_STAR": "key policies name their own key as *",
    },
    (t.IAM_ROLE, "assumeRolePolicy"): {
        # Trust policies have no Resource, and parliament knows only the big public IdPs.
        "MALFORMED": "trust policies have no Resource",
        "UNKNOWN_FEDERATION_SOURCE": "the EKS cluster's OIDC provider",
    },
    (t.IAM_ROLE_POLICY, "policy"): {
        # AWS documents StringNotEquals on the key-id header with the key ARN as its value.
        "MISMATCHED_TYPE_BUT_USABLE": "key ARN compared as a string",
    },
    (t.BUCKET_POLICY, "policy"): {
        "MISMATCHED_TYPE_BUT_USABLE": "key ARN compared as a string",
    },
}


def policies(resources: list[RenderedResource]) -> Iterator[tuple[RenderedResource, str]]:
    for resource in resources:
        for prop in ("policy", "assumeRolePolicy"):
            if (resource.type, prop) in EXPECTED and isinstance(resource.props.get(prop), str):
                yield resource, prop


def rendered() -> list[RenderedResource]:
    out: list[RenderedResource] = []
    for plan in ("free", "pro", "enterprise"):
        for status in ("active", "suspended"):
            out.extend(render_tenant(stack_args(plan, status=status)))
    out.extend(render_platform(parse_platform_config(platform_values(), "eu-west-1")))
    return out


@pytest.fixture(scope="module")
def linted() -> list[tuple[RenderedResource, str, list[tuple[str, str]]]]:
    out = []
    for resource, prop in policies(rendered()):
        analysis = analyze_policy_string(resource.props[prop])
        out.append((resource, prop, [(f.issue, str(f.detail)) for f in analysis.findings]))
    return out


def test_every_kind_of_policy_is_linted(
    linted: list[tuple[RenderedResource, str, list[tuple[str, str]]]],
) -> None:
    kinds = {(r.type, prop) for r, prop, _ in linted}
    assert kinds == set(EXPECTED), f"linted {kinds}"
    assert len(linted) >= 20


def test_no_unexpected_findings(
    linted: list[tuple[RenderedResource, str, list[tuple[str, str]]]],
) -> None:
    unexpected = [
        f"{resource.name} {prop}: {issue} {detail}"
        for resource, prop, findings in linted
        for issue, detail in findings
        if issue not in EXPECTED[(resource.type, prop)]
    ]
    assert unexpected == []


def test_the_linter_catches_what_it_is_here_for() -> None:
    typo = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObjekt","Resource":"arn:aws:s3:::b/*"}]}'
    issues = {f.issue for f in analyze_policy_string(typo).findings}
    assert "UNKNOWN_ACTION" in issues, issues
    bad_key = '{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"s3:PutObject","Resource":"arn:aws:s3:::b/*","Condition":{"StringNotEquals":{"s3:x-amz-server-side-encription":"aws:kms"}}}]}'
    issues = {f.issue for f in analyze_policy_string(bad_key).findings}
    assert issues & {"UNKNOWN_CONDITION_FOR_ACTION", "UNKNOWN_CONDITION_KEY"}, issues
