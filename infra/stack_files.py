"""Per-tenant stack config files, `infra/stacks/Pulumi.tenant-<slug>.yaml`, from the registry.

The generator owns only the keys it writes (`OWNED_KEYS`, plain non-secret tenant facts) and
keeps everything else in the file as it found it: `secure:` values and the `encryptionsalt` that
`pulumi config set --secret` adds, `secretsprovider`, an `environment:` list of Pulumi ESC
environments, other namespaces and other `tenancy:` keys. A file whose owned keys already match
is never rewritten, and no file is ever deleted unless the registry says its tenant is purged.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from infra.args import NAMESPACE
from infra.errors import InfraError
from tenancy.tenant import Tenant, TenantStatus

PROJECT_ROOT = Path(__file__).resolve().parent.parent
STACKS_DIR = PROJECT_ROOT / "infra" / "stacks"
PROJECT_FILE = PROJECT_ROOT / "Pulumi.yaml"
HEADER = (
    "# The tenancy:tenantId/slug/plan/status/domain keys are written by `tenancy stacks generate`\n"
    "# from the tenant registry, and tenancy:verifiedDomains when the tenant serves any;\n"
    "# everything else here (secure values, encryptionsalt, environment, other keys) is kept.\n"
)
#: The only keys the generator writes, compares and removes.
OWNED_KEYS = tuple(
    f"{NAMESPACE}:{k}" for k in ("domain", "plan", "slug", "status", "tenantId", "verifiedDomains")
)


class StackFileError(InfraError):
    """A stack file the generator would have to change is not a Pulumi stack file."""

    def __init__(self, path: Path, problem: str) -> None:
        self.path = path
        self.problem = problem
        super().__init__(
            f"{path}: {problem}; expected a Pulumi stack file (a mapping with `config:`)"
        )


def stack_file(slug: str, directory: Path = STACKS_DIR) -> Path:
    return directory / f"Pulumi.tenant-{slug}.yaml"


def has_infrastructure(tenant: Tenant, now: datetime) -> bool:
    """A deleted tenant keeps its stack (scaled down, as suspended) until the registry says it
    was purged, however long that takes (a legal hold can keep it for years)."""
    return tenant.status is not TenantStatus.PURGED


def stack_values(tenant: Tenant, domains: Sequence[str] = ()) -> dict[str, Any]:
    status = TenantStatus.SUSPENDED if tenant.status is TenantStatus.DELETED else tenant.status
    values: dict[str, Any] = {
        "tenantId": str(tenant.id),
        "slug": tenant.slug,
        "plan": tenant.plan,
        "status": status.value,
    }
    if tenant.domain:
        values["domain"] = tenant.domain
    if domains and tenant.status in (TenantStatus.ACTIVE, TenantStatus.SUSPENDED):
        values["verifiedDomains"] = sorted(domains)  # a deleted tenant serves none
    return values


def owned_config(tenant: Tenant, domains: Sequence[str] = ()) -> dict[str, Any]:
    return {f"{NAMESPACE}:{k}": v for k, v in sorted(stack_values(tenant, domains).items())}


def read_document(path: Path) -> dict[str, Any]:
    """A stack file's document; an empty or missing file is an empty document."""
    if not path.exists():
        return {}
    try:
        document = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise StackFileError(path, f"is not valid YAML ({exc})") from exc
    if document is None:
        return {}
    if not isinstance(document, dict):
        raise StackFileError(path, f"holds a {type(document).__name__}")
    if not isinstance(document.get("config") or {}, dict):
        raise StackFileError(path, "`config` is not a mapping")
    return document


def merge(document: Mapping[str, Any], owned: Mapping[str, Any]) -> dict[str, Any]:
    """The document with its owned keys replaced by `owned`; every other key kept."""
    merged = dict(document)
    config = {k: v for k, v in (document.get("config") or {}).items() if k not in OWNED_KEYS}
    config.update(owned)
    merged["config"] = dict(sorted(config.items()))
    return merged


def owned_part(document: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in (document.get("config") or {}).items() if k in OWNED_KEYS}


def render(
    tenant: Tenant, document: Mapping[str, Any] | None = None, domains: Sequence[str] = ()
) -> str:
    """The stack file for `tenant` serving the verified `domains`, keeping what `document` (the
    current file) holds."""
    merged = merge(document or {}, owned_config(tenant, domains))
    return HEADER + yaml.safe_dump(merged, sort_keys=False, default_flow_style=False)


@dataclass
class GenerateReport:
    written: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    #: Files whose tenant the registry does not know: kept, never deleted by the generator.
    unknown: list[str] = field(default_factory=list)

    @property
    def out_of_date(self) -> list[str]:
        return sorted(self.written + self.removed)


def generate(
    tenants: Iterable[Tenant],
    directory: Path = STACKS_DIR,
    *,
    check: bool = False,
    now: datetime | None = None,
    domains: Mapping[uuid.UUID, Sequence[str]] | None = None,
) -> GenerateReport:
    """Bring the owned keys of each tenant's file in line with the registry.

    A purged tenant's file is removed (its stack is destroyed deliberately, see the deploy
    driver); a file for a slug the registry does not know is kept and reported in `unknown`.
    With `check`, nothing is written: the report says which stacks are out of date.
    """
    now = now or datetime.now(UTC)
    report = GenerateReport()
    wanted: dict[str, tuple[Tenant, tuple[str, ...]]] = {}
    purged: set[str] = set()
    for tenant in tenants:
        stack = f"tenant-{tenant.slug}"
        if has_infrastructure(tenant, now):
            wanted[stack] = (tenant, tuple((domains or {}).get(tenant.id, ())))
        else:
            purged.add(stack)
    if not check:
        directory.mkdir(parents=True, exist_ok=True)
    for stack, (tenant, served) in sorted(wanted.items()):
        path = directory / f"Pulumi.{stack}.yaml"
        document = read_document(path)
        if path.exists() and owned_part(document) == owned_config(tenant, served):
            report.unchanged.append(stack)
            continue
        report.written.append(stack)
        if not check:
            _write_atomically(path, render(tenant, document, served))
    for path in sorted(directory.glob("Pulumi.tenant-*.yaml")):
        stack = path.name.removeprefix("Pulumi.").removesuffix(".yaml")
        if stack in wanted:
            continue
        if stack in purged:
            report.removed.append(stack)
            if not check:
                path.unlink()
        else:
            report.unknown.append(stack)
    return report


def _write_atomically(path: Path, text: str) -> None:
    """Replace in one step, so a crash never leaves a half-written file (and lost secrets)."""
    scratch = path.with_name(f".{path.name}.tmp")
    scratch.write_text(text)
    scratch.replace(path)


def _plain(value: Any) -> Any:
    """Project config entries may be `{value: x}` / `{default: x}` or a bare value."""
    if isinstance(value, Mapping) and ("value" in value or "default" in value):
        return value.get("value", value.get("default"))
    return value


def load_stack_config(
    stack: str, directory: Path = STACKS_DIR, project_file: Path = PROJECT_FILE
) -> dict[str, Any]:
    """The effective config of a stack: project-level values overlaid by the stack file."""
    project = yaml.safe_load(project_file.read_text()) or {}
    merged = {key: _plain(v) for key, v in (project.get("config") or {}).items()}
    path = directory / f"Pulumi.{stack}.yaml"
    if not path.exists():
        raise FileNotFoundError(f"{path}: no stack file for {stack}; run `tenancy stacks generate`")
    merged.update((yaml.safe_load(path.read_text()) or {}).get("config") or {})
    return merged


def tenant_values(config: Mapping[str, Any]) -> dict[str, Any]:
    prefix = f"{NAMESPACE}:"
    return {k.removeprefix(prefix): v for k, v in config.items() if k.startswith(prefix)}


def list_stacks(directory: Path = STACKS_DIR) -> list[str]:
    return sorted(
        p.name.removeprefix("Pulumi.").removesuffix(".yaml")
        for p in directory.glob("Pulumi.tenant-*.yaml")
    )
