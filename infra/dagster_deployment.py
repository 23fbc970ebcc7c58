"""Dagster on Kubernetes: values for the official `dagster` Helm chart (1.13.x).

The code location (`pipelines.definitions`) runs as a user deployment; every run gets its own
pod through `K8sRunLauncher` (dagster-k8s); run, event-log and schedule storage are the
platform's PostgreSQL, whose password comes from an existing Kubernetes Secret (the chart's
`global.postgresqlSecretName`, key `postgresql-password`), never from these values. The daemon's
`QueuedRunCoordinator` bounds the runs in flight, and holds back a run whose steps would only
wait for a concurrency-pool slot, so no pod idles on a pool. A pure function returning the
values dict, for the platform stack to pass to `helm.v3.Release`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from infra.errors import InfraError

CODE_LOCATION = "codexos-tenancy"
DEFINITIONS_MODULE = "pipelines.definitions"
GRPC_PORT = 3030
K8S_NAME = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")


class DagsterProfileError(InfraError, ValueError):
    """A Dagster-on-Kubernetes setting is malformed; names it and what was expected."""

    def __init__(self, setting: str, value: object, expected: str) -> None:
        self.setting = setting
        self.value = value
        self.expected = expected
        super().__init__(f"dagster profile: `{setting}` is {value!r}; expected {expected}")


@dataclass(frozen=True)
class DagsterK8sProfile:
    """What the chart needs from the platform's config."""

    image_repository: str
    image_tag: str
    postgres_host: str
    postgres_database: str = "dagster"
    postgres_user: str = "dagster"
    postgres_port: int = 5432
    #: Secret (key `postgresql-password`) holding the storage role's password.
    postgres_secret: str = "dagster-postgresql"  # noqa: S105 - a Secret's name, not a value
    #: Secrets whose keys become the run pods' environment (TENANCY_* settings, Stripe key).
    env_secrets: tuple[str, ...] = ("tenancy-pipelines",)
    job_namespace: str = "dagster"
    max_concurrent_runs: int = 8
    run_cpu: str = "1"
    run_memory: str = "4Gi"
    labels: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("postgres_secret", "job_namespace"):
            value = getattr(self, name)
            if not K8S_NAME.fullmatch(value) or len(value) > 63:
                raise DagsterProfileError(name, value, "a Kubernetes name (DNS label)")
        for secret in self.env_secrets:
            if not K8S_NAME.fullmatch(secret):
                raise DagsterProfileError("env_secrets", secret, "Kubernetes Secret names")
        if not self.image_repository or not self.image_tag or self.image_tag == "latest":
            raise DagsterProfileError(
                "image_tag", self.image_tag, "a pinned tag of the code location image"
            )
        if not self.postgres_host:
            raise DagsterProfileError("postgres_host", self.postgres_host, "a host name")
        if not 0 < self.postgres_port < 65536:
            raise DagsterProfileError("postgres_port", self.postgres_port, "a TCP port")
        if self.max_concurrent_runs < 1:
            raise DagsterProfileError("max_concurrent_runs", self.max_concurrent_runs, ">= 1")


def helm_values(profile: DagsterK8sProfile) -> dict[str, Any]:
    """The `dagster` chart's values for this profile (merged over the chart's defaults)."""
    env_secrets = [{"name": name} for name in profile.env_secrets]
    image = {
        "repository": profile.image_repository,
        "tag": profile.image_tag,
        "pullPolicy": "IfNotPresent",
    }
    return {
        "global": {"postgresqlSecretName": profile.postgres_secret},
        "generatePostgresqlPasswordSecret": False,
        "postgresql": {
            "enabled": False,
            "postgresqlHost": profile.postgres_host,
            "postgresqlUsername": profile.postgres_user,
            "postgresqlDatabase": profile.postgres_database,
            "postgresqlParams": {"sslmode": "require"},
            "service": {"port": profile.postgres_port},
        },
        "dagster-user-deployments": {
            "enabled": True,
            "enableSubchart": True,
            "deployments": [
                {
                    "name": CODE_LOCATION,
                    "image": image,
                    "dagsterApiGrpcArgs": ["--module-name", DEFINITIONS_MODULE],
                    "port": GRPC_PORT,
                    "envSecrets": env_secrets,
                    "includeConfigInLaunchedRuns": {"enabled": True},
                    "labels": dict(profile.labels),
                }
            ],
        },
        "runLauncher": {
            "type": "K8sRunLauncher",
            "config": {
                "k8sRunLauncher": {
                    "imagePullPolicy": "IfNotPresent",
                    "jobNamespace": profile.job_namespace,
                    "loadInclusterConfig": True,
                    "envConfigMaps": [],
                    "envSecrets": env_secrets,
                    "envVars": [],
                    "volumeMounts": [],
                    "volumes": [],
                    "failPodOnRunFailure": True,
                    "labels": dict(profile.labels),
                    "runK8sConfig": {
                        "containerConfig": {
                            "resources": {
                                "requests": {"cpu": profile.run_cpu, "memory": profile.run_memory},
                                "limits": {"memory": profile.run_memory},
                            }
                        }
                    },
                }
            },
        },
        "dagsterDaemon": {
            "enabled": True,
            "runCoordinator": {
                "enabled": True,
                "type": "QueuedRunCoordinator",
                "config": {
                    "queuedRunCoordinator": {
                        "maxConcurrentRuns": profile.max_concurrent_runs,
                        "blockOpConcurrencyLimitedRuns": {
                            "enabled": True,
                            "opConcurrencySlotBuffer": 0,
                        },
                    }
                },
            },
        },
        # One step at a time per pool: `stripe_billing` pushes invoices one run at a time,
        # and `duckdb_warehouse` exists only where the warehouse is a DuckDB file. On a lake
        # with a PostgreSQL catalog the warehouse assets run in no pool
        # (`pipelines.partitions.warehouse_pool`), bounded by `max_concurrent_runs`.
        "additionalInstanceConfig": {
            "concurrency": {"pools": {"default_limit": 1}},
        },
        "telemetry": {"enabled": False},
        "rabbitmq": {"enabled": False},
        "redis": {"enabled": False},
        "flower": {"enabled": False},
    }
