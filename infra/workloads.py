"""The tenant's agent runtimes as Deployments: scaled to zero while the tenant is stopped.

A ResourceQuota of `pods: 0` only refuses new pods; running ones keep running. Declaring the
workloads in the stack lets suspension stop them for real (replicas 0, the controller deletes
the pods) and reactivation bring them back at the configured count; the quota stays as a guard
against pods started outside the stack. A workload with a `port` also gets a ClusterIP Service
of its name on that port (what custom-domain Ingresses route to, infra/routes.py).
"""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from infra.args import TenantStackArgs, Workload
from infra.network import labels

REDIS_SECRET = "redis-credentials"  # noqa: S105 (the Secret's name)


def replicas(args: TenantStackArgs, workload: Workload) -> int:
    return 0 if args.stopped else workload.replicas


def _container(args: TenantStackArgs, workload: Workload) -> k8s.core.v1.ContainerArgs:
    quota = args.plan.kubernetes
    from_secret = [
        k8s.core.v1.EnvVarArgs(
            name=env,
            value_from=k8s.core.v1.EnvVarSourceArgs(
                secret_key_ref=k8s.core.v1.SecretKeySelectorArgs(name=REDIS_SECRET, key=key)
            ),
        )
        for env, key in (("REDIS_USERNAME", "username"), ("REDIS_PASSWORD", "password"))
    ]
    return k8s.core.v1.ContainerArgs(
        name=workload.name,
        image=workload.image,
        env=[k8s.core.v1.EnvVarArgs(name="TENANT_ID", value=str(args.tenant_id)), *from_secret],
        ports=(
            None
            if workload.port is None
            else [k8s.core.v1.ContainerPortArgs(container_port=workload.port, protocol="TCP")]
        ),
        resources=k8s.core.v1.ResourceRequirementsArgs(
            requests={"cpu": quota.container_cpu, "memory": quota.container_memory},
            limits={"cpu": quota.container_cpu, "memory": quota.container_memory},
        ),
        # What Pod Security `restricted` demands, stated here so the pod is admitted.
        security_context=k8s.core.v1.SecurityContextArgs(
            allow_privilege_escalation=False,
            read_only_root_filesystem=True,
            run_as_non_root=True,
            capabilities=k8s.core.v1.CapabilitiesArgs(drop=["ALL"]),
            seccomp_profile=k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault"),
        ),
    )


def _selector(workload: Workload) -> dict[str, str]:
    return {"app.kubernetes.io/name": workload.name}


def _service(
    name: str, args: TenantStackArgs, workload: Workload, port: int, opts: pulumi.ResourceOptions
) -> k8s.core.v1.Service:
    """A ClusterIP Service of the workload's name, in front of its pods, on its port."""
    return k8s.core.v1.Service(
        f"{name}-service-{workload.name}",
        metadata=k8s.meta.v1.ObjectMetaArgs(
            name=workload.name, namespace=args.namespace, labels=labels(args)
        ),
        spec=k8s.core.v1.ServiceSpecArgs(
            type="ClusterIP",
            selector=_selector(workload),
            ports=[
                k8s.core.v1.ServicePortArgs(
                    name="http", port=port, target_port=port, protocol="TCP"
                )
            ],
        ),
        opts=opts,
    )


def tenant_workloads(
    name: str, args: TenantStackArgs, opts: pulumi.ResourceOptions
) -> list[k8s.apps.v1.Deployment | k8s.core.v1.Service]:
    out: list[k8s.apps.v1.Deployment | k8s.core.v1.Service] = []
    for workload in args.workloads:
        selector = _selector(workload)
        if workload.port is not None:
            out.append(_service(name, args, workload, workload.port, opts))
        out.append(
            k8s.apps.v1.Deployment(
                f"{name}-workload-{workload.name}",
                metadata=k8s.meta.v1.ObjectMetaArgs(
                    name=workload.name, namespace=args.namespace, labels=labels(args)
                ),
                spec=k8s.apps.v1.DeploymentSpecArgs(
                    replicas=replicas(args, workload),
                    selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector),
                    template=k8s.core.v1.PodTemplateSpecArgs(
                        metadata=k8s.meta.v1.ObjectMetaArgs(labels={**labels(args), **selector}),
                        spec=k8s.core.v1.PodSpecArgs(
                            service_account_name=args.service_account,
                            automount_service_account_token=False,
                            security_context=k8s.core.v1.PodSecurityContextArgs(
                                run_as_non_root=True,
                                seccomp_profile=k8s.core.v1.SeccompProfileArgs(
                                    type="RuntimeDefault"
                                ),
                            ),
                            containers=[_container(args, workload)],
                        ),
                    ),
                ),
                opts=opts,
            )
        )
    return out
