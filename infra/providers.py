"""Explicit providers, passed to the tenant component as resource options.

Nothing falls back to ambient credentials or the current kubectl context by accident: the AWS
provider is pinned to the stack's region and the Kubernetes provider to the configured
kubeconfig and context (on EKS, a kubeconfig from `aws eks update-kubeconfig`, whose exec
plugin fetches a token with the deployer's AWS credentials).
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s


@dataclass(frozen=True)
class ClusterAccess:
    """`tenancy:kubeconfig` (a path or the file's contents) and `tenancy:kubeContext`; both
    unset means the provider's own default (`KUBECONFIG`, then ~/.kube/config)."""

    kubeconfig: str | None = None
    context: str | None = None


@dataclass(frozen=True)
class Providers:
    aws: aws.Provider
    kubernetes: k8s.Provider

    def options(self) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(providers=[self.aws, self.kubernetes])


def create_providers(name: str, region: str, cluster: ClusterAccess) -> Providers:
    return Providers(
        aws=aws.Provider(f"{name}-aws", region=region),
        kubernetes=k8s.Provider(
            f"{name}-kubernetes",
            kubeconfig=cluster.kubeconfig,
            context=cluster.context,
            # Fail on a schema error instead of silently dropping fields, and apply server-side.
            enable_server_side_apply=True,
        ),
    )
