"""Guardrail cases for Kubernetes resources (namespaces, quotas, limit ranges, workloads,
network policies): policies/kubernetes_rules.py and pod_security_rules.py."""

from __future__ import annotations

from infra.network import pod_security_labels
from policies import tokens as t
from tests.policies.tenant_under_test import TAGS, Cases

LABELS = {
    "labels": {**TAGS, "tenant-status": "active"},
    "namespace": "tenant-acme",
    "name": "plan-quota",
}
QUOTA = {
    "apiVersion": "v1",
    "kind": "ResourceQuota",
    "metadata": LABELS,
    "spec": {
        "hard": {
            "requests.cpu": "4",
            "limits.cpu": "4",
            "requests.memory": "8Gi",
            "limits.memory": "8Gi",
            "pods": "25",
        }
    },
}
LIMITS = {
    "apiVersion": "v1",
    "kind": "LimitRange",
    "metadata": {**LABELS, "name": "plan-limits"},
    "spec": {
        "limits": [
            {
                "type": "Container",
                "default": {"cpu": "500m", "memory": "512Mi"},
                "max": {"cpu": "4", "memory": "8Gi"},
            }
        ]
    },
}

KUBERNETES_CASES: Cases = {
    "kubernetes-labels-present": (
        t.NAMESPACE,
        {"metadata": {"name": "tenant-acme", "labels": TAGS}},
        {"metadata": {"name": "tenant-acme", "labels": {}}},
        "missing labels: tenant-id, plan, managed-by",
    ),
    "quota-matches-plan": (
        t.RESOURCE_QUOTA,
        QUOTA,
        {**QUOTA, "spec": {"hard": {**QUOTA["spec"]["hard"], "pods": "500"}}},
        "hard pods is '500'; plan pro says '25'",
    ),
    "limit-range-matches-plan": (
        t.LIMIT_RANGE,
        LIMITS,
        {
            **LIMITS,
            "spec": {
                "limits": [{"type": "Container", "default": {"cpu": "8"}, "max": {"memory": "8Gi"}}]
            },
        },
        "default cpu is '8'; plan pro says '500m'",
    ),
    "kubernetes-schema-valid": (
        t.RESOURCE_QUOTA,
        QUOTA,
        {**QUOTA, "spec": {"hard": {"pods": "25"}, "hardd": {}}},
        "does not validate against the Kubernetes",
    ),
    "pod-security-restricted": (
        t.NAMESPACE,
        {"metadata": {"name": "tenant-acme", "labels": pod_security_labels()}},
        {
            "metadata": {
                "name": "tenant-acme",
                "labels": {
                    **pod_security_labels(),
                    "pod-security.kubernetes.io/enforce": "privileged",
                },
            }
        },
        "pod-security.kubernetes.io/enforce is 'privileged'; expected 'restricted'",
    ),
    "service-account-no-token": (
        t.SERVICE_ACCOUNT,
        {"automountServiceAccountToken": False},
        {"automountServiceAccountToken": True},
        "automountServiceAccountToken is True; expected false",
    ),
    "egress-narrow": (
        t.NETWORK_POLICY,
        {
            "spec": {
                "egress": [
                    {"to": [{"ipBlock": {"cidr": "10.40.12.0/28"}}], "ports": [{"port": 6379}]}
                ]
            }
        },
        {
            "spec": {
                "egress": [{"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}], "ports": [{"port": 443}]}]
            }
        },
        "egress[0] reaches 0.0.0.0/0",
    ),
    "workload-stopped-and-restricted": (
        t.DEPLOYMENT,
        {
            "metadata": {"labels": {"tenant-status": "suspended"}},
            "spec": {
                "replicas": 0,
                "template": {"spec": {"automountServiceAccountToken": False, "containers": []}},
            },
        },
        {
            "metadata": {"labels": {"tenant-status": "suspended"}},
            "spec": {
                "replicas": 2,
                "template": {"spec": {"automountServiceAccountToken": False, "containers": []}},
            },
        },
        "tenant is suspended but replicas is 2; expected 0",
    ),
}
