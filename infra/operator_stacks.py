"""Tenant stacks run by the Pulumi Kubernetes Operator: one `pulumi.com/v1` `Stack` per tenant.

For thousands of tenants, the cluster runs `pulumi up` per tenant with its own concurrency and
retries instead of the in-process driver (which stays for small installs). Each `Stack` points
at this repository (`projectRepo` at a pinned `commit`, or a `branch`), where the program and
the tenant's stack file live; the operator creates a new tenant's stack in the backend on its
first run (`useLocalStackOnly` is left off: it would only select existing stacks). Plain values
go in `config`; every secret the program requires comes from a Kubernetes Secret through
`secretsRef` (never a value in the object), the backend token through `envRefs`. Deleting a `Stack` object never destroys the tenant (`destroyOnFinalize:
false`): teardown stays the deliberate `deploy destroy` of a purged tenant.

Pure functions returning plain dicts, so the platform stack can render them and the CLI can
write them (`tenancy stacks operator`) beside the stack files.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from infra.automation.secrets import REQUIRED_SECRETS
from infra.errors import InfraError
from infra.stack_files import has_infrastructure, owned_config
from tenancy.tenant import Tenant

API_VERSION = "pulumi.com/v1"
COMMIT = re.compile(r"[0-9a-f]{40}")
REPO_URL = re.compile(r"(https://|ssh://|git@)[^\s]+")
DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")


class OperatorProfileError(InfraError, ValueError):
    """An operator profile setting is malformed; names the setting and what was expected."""

    def __init__(self, setting: str, value: object, expected: str) -> None:
        self.setting = setting
        self.value = value
        self.expected = expected
        super().__init__(f"operator profile: `{setting}` is {value!r}; expected {expected}")


@dataclass(frozen=True)
class OperatorProfile:
    """Where the program comes from and how the operator runs each tenant's stack."""

    project_repo: str
    commit: str | None = None
    branch: str | None = None
    repo_dir: str = "."
    namespace: str = "tenant-stacks"
    service_account: str = "tenant-stacks"
    organization: str | None = None
    #: Kubernetes Secret (in `namespace`) with `accessToken`: the Pulumi backend token.
    access_token_secret: str = "pulumi-api-secret"  # noqa: S105 - a Secret's name, not a value
    #: Kubernetes Secret whose keys are the variables of `infra/automation/secrets.py`.
    stack_secrets: str = "tenant-stack-secrets"
    git_auth_secret: str | None = None
    environments: tuple[str, ...] = ()
    resync_seconds: int = 3600
    retry_max_backoff_seconds: int = 3600
    labels: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not REPO_URL.fullmatch(self.project_repo):
            raise OperatorProfileError(
                "project_repo", self.project_repo, "an https://, ssh:// or git@ repository URL"
            )
        if (self.commit is None) == (self.branch is None):
            raise OperatorProfileError(
                "commit/branch", (self.commit, self.branch), "exactly one of the two"
            )
        if self.commit is not None and not COMMIT.fullmatch(self.commit):
            raise OperatorProfileError("commit", self.commit, "a full 40-character commit id")
        for name in ("namespace", "service_account", "access_token_secret", "stack_secrets"):
            value = getattr(self, name)
            if not DNS_LABEL.fullmatch(value) or len(value) > 63:
                raise OperatorProfileError(name, value, "a Kubernetes name (DNS label)")
        if self.resync_seconds < 60:
            raise OperatorProfileError(
                "resync_seconds", self.resync_seconds, ">= 60 (the operator's minimum)"
            )
        if self.retry_max_backoff_seconds < 60:
            raise OperatorProfileError(
                "retry_max_backoff_seconds", self.retry_max_backoff_seconds, ">= 60"
            )


def config_value(value: Any) -> str:
    """Stack config values are strings; structured ones (the verified domains) as JSON, which
    the program reads back with `Config.get_object`."""
    return value if isinstance(value, str) else json.dumps(value)


def stack_resource(
    tenant: Tenant, profile: OperatorProfile, domains: Sequence[str] = ()
) -> dict[str, Any]:
    """The `Stack` object for one tenant serving the verified `domains`."""
    stack = f"tenant-{tenant.slug}"
    source: dict[str, Any] = {"projectRepo": profile.project_repo, "repoDir": profile.repo_dir}
    if profile.commit:
        source["commit"] = profile.commit
    else:
        source["branch"] = profile.branch
    if profile.git_auth_secret:
        source["gitAuthSecret"] = profile.git_auth_secret
    spec: dict[str, Any] = {
        "stack": f"{profile.organization}/{stack}" if profile.organization else stack,
        **source,
        "config": {
            key: config_value(value) for key, value in owned_config(tenant, domains).items()
        },
        "secretsRef": {
            secret.key: {
                "type": "Secret",
                "secret": {"name": profile.stack_secrets, "key": secret.variable},
            }
            for secret in REQUIRED_SECRETS
        },
        "envRefs": {
            "PULUMI_ACCESS_TOKEN": {
                "type": "Secret",
                "secret": {"name": profile.access_token_secret, "key": "accessToken"},
            }
        },
        "serviceAccountName": profile.service_account,
        "refresh": True,
        "continueResyncOnCommitMatch": True,
        "resyncFrequencySeconds": profile.resync_seconds,
        "retryMaxBackoffDurationSeconds": profile.retry_max_backoff_seconds,
        "retryOnUpdateConflict": False,
        "destroyOnFinalize": False,
        "workspaceReclaimPolicy": "Delete",
    }
    if profile.environments:
        spec["environment"] = list(profile.environments)
    return {
        "apiVersion": API_VERSION,
        "kind": "Stack",
        "metadata": {
            "name": stack,
            "namespace": profile.namespace,
            "labels": {
                **profile.labels,
                "app.kubernetes.io/managed-by": "tenancy",
                "tenancy.codexos.io/tenant-id": str(tenant.id),
                "tenancy.codexos.io/plan": tenant.plan,
            },
        },
        "spec": spec,
    }


def stack_resources(
    tenants: Iterable[Tenant],
    profile: OperatorProfile,
    now: datetime | None = None,
    domains: Mapping[uuid.UUID, Sequence[str]] | None = None,
) -> list[dict[str, Any]]:
    """A `Stack` per tenant that has infrastructure (every one but the purged), by name."""
    now = now or datetime.now(UTC)
    chosen = [t for t in tenants if has_infrastructure(t, now)]
    served = domains or {}
    return [
        stack_resource(t, profile, served.get(t.id, ()))
        for t in sorted(chosen, key=lambda t: t.slug)
    ]
