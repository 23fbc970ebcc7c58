"""The tenant's Kubernetes namespace: labels, service account, network policy and quotas.

Default deny in both directions, then explicit allows: within the namespace, DNS, the
platform ingress controller, and egress only to the services listed in config (each a CIDR
and one port) and, on 443 only, to AWS through the platform's VPC endpoints.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from infra.args import TenantStackArgs

NAME_LABEL = "kubernetes.io/metadata.name"
#: Pod Security Admission: enforce, warn and audit all at `restricted`, pinned to a policy
#: version so a cluster upgrade does not change what tenant pods may do without a review.
POD_SECURITY_LEVEL = "restricted"
POD_SECURITY_VERSION = "v1.33"


@dataclass(frozen=True)
class TenantNamespace:
    namespace: k8s.core.v1.Namespace
    service_account: k8s.core.v1.ServiceAccount
    in_namespace: pulumi.ResourceOptions  # options for further objects in the namespace


def labels(args: TenantStackArgs) -> dict[str, str]:
    return {**args.tags, "tenant-status": args.status.value}


def pod_security_labels() -> dict[str, str]:
    labels = {}
    for mode in ("enforce", "warn", "audit"):
        labels[f"pod-security.kubernetes.io/{mode}"] = POD_SECURITY_LEVEL
        labels[f"pod-security.kubernetes.io/{mode}-version"] = POD_SECURITY_VERSION
    return labels


def quota_hard(args: TenantStackArgs) -> dict[str, str]:
    """The ResourceQuota from the plan; a suspended tenant may run no pods, which stops its agents."""
    quota = args.plan.kubernetes
    pods = 0 if args.stopped else quota.pods
    return {
        "requests.cpu": quota.cpu,
        "limits.cpu": quota.cpu,
        "requests.memory": quota.memory,
        "limits.memory": quota.memory,
        "pods": str(pods),
    }


def _policy(
    name: str,
    ns: str,
    args: TenantStackArgs,
    spec: k8s.networking.v1.NetworkPolicySpecArgs,
    opts: pulumi.ResourceOptions,
    policy_name: str,
) -> k8s.networking.v1.NetworkPolicy:
    return k8s.networking.v1.NetworkPolicy(
        name,
        metadata=k8s.meta.v1.ObjectMetaArgs(name=policy_name, namespace=ns, labels=labels(args)),
        spec=spec,
        opts=opts,
    )


def _aws_peers(cidrs: list[list[str]]) -> list[k8s.networking.v1.NetworkPolicyPeerArgs]:
    unique = sorted({c for group in cidrs for c in group})
    return [
        k8s.networking.v1.NetworkPolicyPeerArgs(ip_block=k8s.networking.v1.IPBlockArgs(cidr=c))
        for c in unique
    ]


def tenant_namespace(
    name: str,
    args: TenantStackArgs,
    role_arn: pulumi.Output[str],
    aws_cidrs: Sequence[pulumi.Output[list[str]]],
    parent: pulumi.Resource,
) -> TenantNamespace:
    """`aws_cidrs`: the platform's S3 gateway endpoint ranges and its STS/KMS interface
    endpoint subnets, reachable on 443 only (no NAT, no instance metadata service)."""
    child = pulumi.ResourceOptions(parent=parent)
    ns_name = args.namespace
    namespace = k8s.core.v1.Namespace(
        f"{name}-namespace",
        metadata=k8s.meta.v1.ObjectMetaArgs(
            name=ns_name, labels={**labels(args), **pod_security_labels()}
        ),
        opts=child,
    )
    in_ns = pulumi.ResourceOptions(parent=parent, depends_on=[namespace])
    service_account = k8s.core.v1.ServiceAccount(
        f"{name}-service-account",
        metadata=k8s.meta.v1.ObjectMetaArgs(
            name=args.service_account,
            namespace=ns_name,
            labels=labels(args),
            annotations={"eks.amazonaws.com/role-arn": role_arn},
        ),
        # IRSA needs no API token: EKS's pod identity webhook projects its own web identity
        # token into pods of an annotated service account, and tenant code never calls the
        # Kubernetes API.
        automount_service_account_token=False,
        opts=in_ns,
    )
    # The namespace's `default` service account exists already; patch it (server-side apply)
    # so pods that name no service account get no API token either.
    k8s.core.v1.ServiceAccountPatch(
        f"{name}-default-service-account",
        metadata=k8s.meta.v1.ObjectMetaPatchArgs(
            name="default", namespace=ns_name, labels=labels(args)
        ),
        automount_service_account_token=False,
        opts=in_ns,
    )
    every_pod = k8s.meta.v1.LabelSelectorArgs()
    _policy(
        f"{name}-netpol-default-deny",
        ns_name,
        args,
        k8s.networking.v1.NetworkPolicySpecArgs(
            pod_selector=every_pod,
            policy_types=["Ingress", "Egress"],
        ),
        in_ns,
        "default-deny",
    )
    same_namespace = k8s.networking.v1.NetworkPolicyPeerArgs(pod_selector=every_pod)
    _policy(
        f"{name}-netpol-same-namespace",
        ns_name,
        args,
        k8s.networking.v1.NetworkPolicySpecArgs(
            pod_selector=every_pod,
            policy_types=["Ingress", "Egress"],
            ingress=[k8s.networking.v1.NetworkPolicyIngressRuleArgs(from_=[same_namespace])],
            egress=[k8s.networking.v1.NetworkPolicyEgressRuleArgs(to=[same_namespace])],
        ),
        in_ns,
        "allow-same-namespace",
    )
    _policy(
        f"{name}-netpol-dns",
        ns_name,
        args,
        k8s.networking.v1.NetworkPolicySpecArgs(
            pod_selector=every_pod,
            policy_types=["Egress"],
            egress=[
                k8s.networking.v1.NetworkPolicyEgressRuleArgs(
                    to=[
                        k8s.networking.v1.NetworkPolicyPeerArgs(
                            namespace_selector=k8s.meta.v1.LabelSelectorArgs(
                                match_labels={NAME_LABEL: "kube-system"}
                            ),
                            pod_selector=k8s.meta.v1.LabelSelectorArgs(
                                match_labels={"k8s-app": "kube-dns"}
                            ),
                        )
                    ],
                    ports=[
                        k8s.networking.v1.NetworkPolicyPortArgs(protocol=p, port=53)
                        for p in ("UDP", "TCP")
                    ],
                )
            ],
        ),
        in_ns,
        "allow-dns",
    )
    _policy(
        f"{name}-netpol-ingress",
        ns_name,
        args,
        k8s.networking.v1.NetworkPolicySpecArgs(
            pod_selector=every_pod,
            policy_types=["Ingress"],
            ingress=[
                k8s.networking.v1.NetworkPolicyIngressRuleArgs(
                    from_=[
                        k8s.networking.v1.NetworkPolicyPeerArgs(
                            namespace_selector=k8s.meta.v1.LabelSelectorArgs(
                                match_labels={NAME_LABEL: args.ingress_namespace}
                            ),
                        )
                    ]
                )
            ],
        ),
        in_ns,
        "allow-platform-ingress",
    )
    # One policy for every egress beyond the namespace and DNS: a rule per configured service
    # (its CIDR, its one port), and AWS on 443 through the platform's endpoints.
    service_rules = [
        k8s.networking.v1.NetworkPolicyEgressRuleArgs(
            to=[
                k8s.networking.v1.NetworkPolicyPeerArgs(
                    ip_block=k8s.networking.v1.IPBlockArgs(cidr=service.cidr)
                )
            ],
            ports=[
                k8s.networking.v1.NetworkPolicyPortArgs(
                    protocol=service.protocol, port=service.port
                )
            ],
        )
        for service in args.egress
    ]
    aws_rule = k8s.networking.v1.NetworkPolicyEgressRuleArgs(
        to=pulumi.Output.all(*aws_cidrs).apply(_aws_peers),
        ports=[k8s.networking.v1.NetworkPolicyPortArgs(protocol="TCP", port=443)],
    )
    _policy(
        f"{name}-netpol-egress",
        ns_name,
        args,
        k8s.networking.v1.NetworkPolicySpecArgs(
            pod_selector=every_pod,
            policy_types=["Egress"],
            egress=[*service_rules, aws_rule],
        ),
        in_ns,
        "allow-egress",
    )
    k8s.core.v1.ResourceQuota(
        f"{name}-quota",
        metadata=k8s.meta.v1.ObjectMetaArgs(
            name="plan-quota", namespace=ns_name, labels=labels(args)
        ),
        spec=k8s.core.v1.ResourceQuotaSpecArgs(hard=quota_hard(args)),
        opts=in_ns,
    )
    quota = args.plan.kubernetes
    k8s.core.v1.LimitRange(
        f"{name}-limits",
        metadata=k8s.meta.v1.ObjectMetaArgs(
            name="plan-limits", namespace=ns_name, labels=labels(args)
        ),
        spec=k8s.core.v1.LimitRangeSpecArgs(
            limits=[
                k8s.core.v1.LimitRangeItemArgs(
                    type="Container",
                    default={"cpu": quota.container_cpu, "memory": quota.container_memory},
                    default_request={"cpu": quota.container_cpu, "memory": quota.container_memory},
                    max={"cpu": quota.cpu, "memory": quota.memory},
                )
            ]
        ),
        opts=in_ns,
    )
    return TenantNamespace(namespace, service_account, in_ns)
