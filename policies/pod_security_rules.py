"""Guardrails on what tenant pods may do and reach: Pod Security `restricted`, no API tokens,
and egress only to narrow, port-limited destinations."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Any

from policies import tokens as t
from policies.rule import ResourceRule
from policies.unknowns import is_unknown

MODES = ("enforce", "warn", "audit")
#: The widest IP block a tenant pod may reach; anything wider is "the internet" or "the VPC".
MIN_PREFIX_LENGTH = {4: 16, 6: 48}


def _labels(props: dict[str, Any]) -> dict[str, Any]:
    return dict((props.get("metadata") or {}).get("labels") or {})


def _pod_security(props: dict[str, Any]) -> Iterable[str]:
    labels = _labels(props)
    for mode in MODES:
        value = labels.get(f"pod-security.kubernetes.io/{mode}")
        if value != "restricted" and not is_unknown(value):
            yield f"pod-security.kubernetes.io/{mode} is {value!r}; expected 'restricted'"


def _no_token(props: dict[str, Any]) -> Iterable[str]:
    value = props.get("automountServiceAccountToken")
    if value is not False and not is_unknown(value):
        yield f"automountServiceAccountToken is {value!r}; expected false"


def _egress(props: dict[str, Any]) -> Iterable[str]:
    for index, rule in enumerate((props.get("spec") or {}).get("egress") or []):
        blocks = [peer.get("ipBlock") for peer in rule.get("to") or [] if peer.get("ipBlock")]
        if not blocks:
            continue
        if not rule.get("ports"):
            yield f"egress[{index}] reaches IP blocks on every port; expected explicit ports"
        for block in blocks:
            cidr = block.get("cidr")
            if is_unknown(cidr):
                continue
            try:
                network = ipaddress.ip_network(str(cidr), strict=False)
            except ValueError:
                yield f"egress[{index}] has an invalid CIDR {cidr!r}"
                continue
            if network.prefixlen < MIN_PREFIX_LENGTH[network.version]:
                yield (
                    f"egress[{index}] reaches {cidr}; expected a block of at least "
                    f"/{MIN_PREFIX_LENGTH[network.version]} for one service"
                )


def _workload(props: dict[str, Any]) -> Iterable[str]:
    labels = _labels(props)
    spec = props.get("spec") or {}
    replicas = spec.get("replicas")
    stopped = labels.get("tenant-status") in ("suspended", "deleted")
    if stopped and replicas != 0 and not is_unknown(replicas):
        yield f"tenant is {labels['tenant-status']} but replicas is {replicas!r}; expected 0"
    pod = ((spec.get("template") or {}).get("spec")) or {}
    if pod.get("automountServiceAccountToken") is not False:
        yield "pod mounts a Kubernetes API token; expected automountServiceAccountToken false"
    if pod.get("hostNetwork") or pod.get("hostPID") or pod.get("hostIPC"):
        yield "pod shares a host namespace"
    for container in pod.get("containers") or []:
        context = container.get("securityContext") or {}
        name = container.get("name")
        if context.get("privileged") or context.get("allowPrivilegeEscalation") is not False:
            yield f"container {name} may escalate privileges"
        if (context.get("capabilities") or {}).get("drop") != ["ALL"]:
            yield f"container {name} keeps Linux capabilities; expected drop [ALL]"
        if context.get("runAsNonRoot") is not True:
            yield f"container {name} may run as root"


RESOURCE_RULES = (
    ResourceRule(
        "workload-stopped-and-restricted",
        "Tenant Deployments run zero replicas while the tenant is suspended or deleted, and "
        "their pods meet Pod Security `restricted` without an API token.",
        "build the Deployment with infra.workloads.tenant_workloads",
        (t.DEPLOYMENT,),
        _workload,
    ),
    ResourceRule(
        "pod-security-restricted",
        "Tenant namespaces enforce, warn and audit the Pod Security `restricted` level.",
        "set the labels with infra.network.pod_security_labels",
        (t.NAMESPACE,),
        _pod_security,
    ),
    ResourceRule(
        "service-account-no-token",
        "Tenant service accounts do not mount a Kubernetes API token (IRSA brings its own).",
        "set automount_service_account_token=False",
        (t.SERVICE_ACCOUNT, t.SERVICE_ACCOUNT_PATCH),
        _no_token,
    ),
    ResourceRule(
        "egress-narrow",
        "NetworkPolicy egress to IP blocks names ports and blocks no wider than one service "
        "(/16 for IPv4); 0.0.0.0/0 or the whole VPC never.",
        "list the service's CIDR and port in tenancy:egressServices",
        (t.NETWORK_POLICY,),
        _egress,
    ),
)
