"""The CrossGuard pack wires every rule in, mandatory, without starting the pack's server.

`PolicyPack()` starts a gRPC server and blocks, so the pack's __main__ runs here with a
stand-in that records what it was given; the policies it built are then called the way the
engine calls them.
"""

from __future__ import annotations

import runpy
from pathlib import Path
from typing import Any, ClassVar

import pulumi_policy
import pytest
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, unknown_checking_proxy

from policies import tokens as t
from policies.guardrails import RESOURCE_RULES, STACK_RULES

PACK_MAIN = Path(__file__).resolve().parents[2] / "policies" / "__main__.py"


class RecordedPack:
    instances: ClassVar[list[RecordedPack]] = []

    def __init__(
        self, name: str, policies: list[Any], enforcement_level: Any = None, **_: Any
    ) -> None:
        self.name = name
        self.policies = policies
        self.enforcement_level = enforcement_level
        RecordedPack.instances.append(self)


class Args:
    def __init__(self, resource_type: str, props: dict[str, Any], name: str = "r") -> None:
        self.resource_type = resource_type
        self.props = props
        self.name = name


@pytest.fixture
def pack(monkeypatch: pytest.MonkeyPatch) -> RecordedPack:
    RecordedPack.instances.clear()
    monkeypatch.setattr(pulumi_policy, "PolicyPack", RecordedPack)
    runpy.run_path(str(PACK_MAIN), run_name="__main__")
    assert len(RecordedPack.instances) == 1
    return RecordedPack.instances[0]


def test_pack_holds_every_rule_as_mandatory(pack: RecordedPack) -> None:
    assert pack.name == "codexos-tenant-guardrails"
    names = [p.name for p in pack.policies]
    assert names == [r.name for r in (*RESOURCE_RULES, *STACK_RULES)]
    for policy in pack.policies:
        assert policy.enforcement_level == pulumi_policy.EnforcementLevel.MANDATORY, policy.name
        assert policy.description and policy.remediation_steps, policy.name


def test_resource_policy_reports_through_the_engine_callback(pack: RecordedPack) -> None:
    policy = next(p for p in pack.policies if p.name == "kms-key-rotation-enabled")
    reports: list[str] = []
    validate = policy.validate
    validate(
        Args(t.KMS_KEY, {"enableKeyRotation": False, "deletionWindowInDays": 30.0}),
        lambda message, urn: reports.append(message),
    )
    assert reports == ["KMS key rotation is off"]
    reports.clear()
    validate(
        Args(t.BUCKET, {"enableKeyRotation": False}), lambda message, urn: reports.append(message)
    )
    assert reports == [], "a rule ignores resource types it does not cover"


def test_stack_policy_reports_resource_names(pack: RecordedPack) -> None:
    policy = next(p for p in pack.policies if p.name == "namespace-isolated")

    class StackArgs:
        def __init__(self) -> None:
            self.resources = [
                Args(t.NAMESPACE, {"metadata": {"name": "tenant-x"}}, name="tenant-x-namespace")
            ]

    reports: list[str] = []
    policy.validate(StackArgs(), lambda message, urn: reports.append(message))
    assert (
        "tenant-x-namespace: namespace tenant-x has no default-deny NetworkPolicy (ingress and egress)"
        in reports
    )


def test_preview_unknowns_skip_only_what_is_unknown(pack: RecordedPack) -> None:
    """In preview the engine passes unknown values; the pack checks the known rest instead of
    giving up on the whole resource."""
    policy = next(p for p in pack.policies if p.name == "egress-narrow")
    props = unknown_checking_proxy(
        {
            "spec": {
                "egress": [
                    {
                        "to": [
                            {"ipBlock": {"cidr": UNKNOWN_STRING_VALUE}},
                            {"ipBlock": {"cidr": "0.0.0.0/0"}},
                        ],
                        "ports": [{"port": 443}],
                    }
                ]
            }
        }
    )
    reports: list[str] = []
    policy.validate(Args(t.NETWORK_POLICY, props), lambda message, urn: reports.append(message))
    assert reports == [
        "egress[0] reaches 0.0.0.0/0; expected a block of at least /16 for one service"
    ]
    sse = next(p for p in pack.policies if p.name == "sse-kms-denies-present")
    reports.clear()
    unknown_policy = unknown_checking_proxy({"role": "r", "policy": UNKNOWN_STRING_VALUE})
    sse.validate(Args(t.IAM_ROLE_POLICY, unknown_policy), lambda m, urn: reports.append(m))
    assert reports == [], "a policy document computed from unknown ARNs is checked during up"
