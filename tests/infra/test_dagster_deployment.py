"""The Dagster-on-Kubernetes profile: Helm values for the official chart with per-run pods
(K8sRunLauncher), PostgreSQL storage from config and no secret in the values. The values the
profile sets are checked against the chart's own schema definitions for them (excerpt below,
from dagster-io/dagster helm/dagster/values.schema.json at bdb8547f), strict where it is."""

from __future__ import annotations

import importlib.util
import json
from typing import Any

import jsonschema
import pytest

from infra.dagster_deployment import (
    DEFINITIONS_MODULE,
    DagsterK8sProfile,
    DagsterProfileError,
    helm_values,
)

_ANY = {"type": "object"}
_SECRET_REFS = {"type": "array", "items": _ANY}
#: The chart's definitions for the keys this profile sets, as published (additionalProperties
#: and required lists kept); Kubernetes sub-objects ($ref to kubernetesjsonschema.dev) are open.
CHART_EXCERPT: dict[str, Any] = {
    "type": "object",
    "properties": {
        "runLauncher": {
            "type": "object",
            "properties": {
                "type": {"enum": ["CeleryK8sRunLauncher", "K8sRunLauncher", "CustomRunLauncher"]},
                "config": {
                    "type": "object",
                    "properties": {
                        "k8sRunLauncher": {
                            "type": "object",
                            "properties": {
                                "image": _ANY,
                                "imagePullPolicy": {"enum": ["Always", "IfNotPresent", "Never"]},
                                "jobNamespace": {"type": ["string", "null"]},
                                "loadInclusterConfig": {"type": "boolean"},
                                "kubeconfigFile": {"type": ["string", "null"]},
                                "envConfigMaps": _SECRET_REFS,
                                "envSecrets": _SECRET_REFS,
                                "envVars": {"type": "array", "items": {"type": "string"}},
                                "volumeMounts": _SECRET_REFS,
                                "volumes": _SECRET_REFS,
                                "labels": {"type": ["object", "null"]},
                                "failPodOnRunFailure": {"type": ["boolean", "null"]},
                                "resources": {"type": ["object", "null"]},
                                "schedulerName": {"type": ["string", "null"]},
                                "securityContext": {"type": ["object", "null"]},
                                "runK8sConfig": {
                                    "type": ["object", "null"],
                                    "properties": {
                                        k: {"type": ["object", "null"]}
                                        for k in (
                                            "containerConfig",
                                            "podSpecConfig",
                                            "podTemplateSpecMetadata",
                                            "jobSpecConfig",
                                            "jobMetadata",
                                        )
                                    },
                                    "additionalProperties": False,
                                },
                            },
                            "required": [
                                "imagePullPolicy",
                                "loadInclusterConfig",
                                "envConfigMaps",
                                "envSecrets",
                                "envVars",
                                "volumeMounts",
                                "volumes",
                            ],
                            "additionalProperties": False,
                        }
                    },
                },
            },
            "required": ["type", "config"],
            "additionalProperties": False,
        },
        "postgresql": {
            "type": "object",
            "properties": {
                "image": _ANY,
                "enabled": {"type": "boolean"},
                "postgresqlHost": {"type": "string"},
                "postgresqlUsername": {"type": "string"},
                "postgresqlPassword": {"type": "string"},
                "postgresqlDatabase": {"type": "string"},
                "postgresqlParams": {"type": "object"},
                "postgresqlScheme": {"type": "string"},
                "service": {
                    "type": "object",
                    "properties": {"port": {"type": "integer"}},
                    "required": ["port"],
                },
            },
        },
        "generatePostgresqlPasswordSecret": {"type": "boolean"},
        "dagsterDaemon": {
            "type": "object",
            "properties": {
                "enabled": {"type": "boolean"},
                "runCoordinator": {
                    "type": "object",
                    "properties": {
                        "enabled": {"type": "boolean"},
                        "type": {"enum": ["QueuedRunCoordinator", "CustomRunCoordinator"]},
                        "config": {
                            "type": "object",
                            "properties": {
                                "queuedRunCoordinator": {
                                    "type": "object",
                                    "properties": {
                                        "maxConcurrentRuns": {
                                            "type": ["integer", "object", "null"]
                                        },
                                        "tagConcurrencyLimits": {"type": ["array", "null"]},
                                        "dequeueIntervalSeconds": {"type": ["integer", "null"]},
                                        "dequeueNumWorkers": {"type": ["integer", "null"]},
                                        "dequeueUseThreads": {"type": ["boolean", "null"]},
                                        "blockOpConcurrencyLimitedRuns": {
                                            "type": "object",
                                            "properties": {
                                                "enabled": {"type": "boolean"},
                                                "opConcurrencySlotBuffer": {"type": "integer"},
                                            },
                                            "required": ["enabled", "opConcurrencySlotBuffer"],
                                        },
                                    },
                                    "additionalProperties": False,
                                }
                            },
                        },
                    },
                    "required": ["enabled", "type", "config"],
                    "additionalProperties": False,
                },
            },
        },
        "dagster-user-deployments": {
            "type": "object",
            "properties": {
                "enabled": {"type": "boolean"},
                "enableSubchart": {"type": "boolean"},
                "deployments": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "name": {"type": "string"},
                            "image": {
                                "type": "object",
                                "properties": {
                                    "repository": {"type": "string"},
                                    "tag": {"type": ["string", "integer", "null"]},
                                    "pullPolicy": {"enum": ["Always", "IfNotPresent", "Never"]},
                                },
                                "required": ["repository", "pullPolicy"],
                            },
                            "dagsterApiGrpcArgs": {"type": "array", "items": {"type": "string"}},
                            "port": {"type": "integer"},
                            "envSecrets": _SECRET_REFS,
                            "includeConfigInLaunchedRuns": {
                                "type": "object",
                                "properties": {"enabled": {"type": "boolean"}},
                                "required": ["enabled"],
                            },
                            "labels": {
                                "type": "object",
                                "additionalProperties": {"type": "string"},
                            },
                        },
                        "required": ["name", "image", "port"],
                    },
                },
            },
        },
        "additionalInstanceConfig": {"type": "object"},
    },
}

PROFILE = DagsterK8sProfile(
    image_repository="registry.example.com/codexos/pipelines",
    image_tag="2026.11.26-4428fe0",
    postgres_host="dagster-db.internal",
)


def test_values_satisfy_the_charts_schema_for_what_they_set() -> None:
    values = helm_values(PROFILE)
    errors = [e.message for e in jsonschema.Draft7Validator(CHART_EXCERPT).iter_errors(values)]
    assert errors == []
    broken = json.loads(json.dumps(values))
    broken["runLauncher"]["config"]["k8sRunLauncher"]["runK8sConfig"]["containerConfg"] = {}
    del broken["runLauncher"]["config"]["k8sRunLauncher"]["envVars"]
    errors = sorted(
        e.message for e in jsonschema.Draft7Validator(CHART_EXCERPT).iter_errors(broken)
    )
    assert errors == [
        "'envVars' is a required property",
        "Additional properties are not allowed ('containerConfg' was unexpected)",
    ]


def test_per_run_pods_postgres_storage_and_no_secret_values() -> None:
    values = helm_values(PROFILE)
    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    launcher = values["runLauncher"]["config"]["k8sRunLauncher"]
    assert launcher["jobNamespace"] == "dagster" and launcher["envSecrets"] == [
        {"name": "tenancy-pipelines"}
    ]
    postgres = values["postgresql"]
    assert postgres["enabled"] is False and postgres["postgresqlHost"] == "dagster-db.internal"
    assert values["generatePostgresqlPasswordSecret"] is False
    assert values["global"]["postgresqlSecretName"] == "dagster-postgresql"
    assert "postgresqlPassword" not in postgres, "the password comes from the Secret only"
    [deployment] = values["dagster-user-deployments"]["deployments"]
    assert deployment["dagsterApiGrpcArgs"] == ["--module-name", DEFINITIONS_MODULE]
    assert importlib.util.find_spec(DEFINITIONS_MODULE) is not None
    pools = values["additionalInstanceConfig"]["concurrency"]["pools"]
    assert pools == {"default_limit": 1}, "one Stripe push, one DuckDB-file writer at a time"


def test_the_run_launcher_the_chart_names_is_installed() -> None:
    from dagster_k8s import K8sRunLauncher

    assert K8sRunLauncher.__module__ == "dagster_k8s.launcher"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"image_tag": "latest"}, "`image_tag` is 'latest'; expected a pinned tag"),
        ({"postgres_host": ""}, "`postgres_host` is ''"),
        ({"max_concurrent_runs": 0}, "`max_concurrent_runs` is 0; expected >= 1"),
        ({"job_namespace": "Dagster Runs"}, "`job_namespace` is 'Dagster Runs'"),
        ({"postgres_port": 70000}, "`postgres_port` is 70000; expected a TCP port"),
    ],
)
def test_bad_settings_are_named(change: dict[str, Any], message: str) -> None:
    settings = {
        "image_repository": "r",
        "image_tag": "1",
        "postgres_host": "db",
        **change,
    }
    with pytest.raises(DagsterProfileError, match=message):
        DagsterK8sProfile(**settings)
