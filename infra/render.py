"""Run the real program under `pulumi.runtime.set_mocks` and keep what it would create.

This is how the program is checked on machines without the Pulumi CLI or cloud credentials
(the way Pulumi documents unit testing): every resource registration lands in
`InventoryMocks`, with its inputs resolved, and nothing leaves the process.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from typing import Any

import pulumi
from pulumi.runtime.mocks import MockMonitor

from infra.args import TenantStackArgs
from infra.providers import ClusterAccess, create_providers
from infra.tenant_stack import TenantStack

MOCK_REDIS_ADMIN_URL = "redis://mock-admin@redis.invalid:6379/0"


@dataclass(frozen=True)
class RenderedResource:
    """One resource the program registered: its type token, logical name and inputs."""

    type: str
    name: str
    props: dict[str, Any]
    parent_type: str | None = None
    protect: bool = False
    retain_on_delete: bool = False
    provider: str | None = None  # the provider reference (`<urn>::<id>`) the engine would use

    def key_properties(self) -> dict[str, Any]:
        """A few properties that identify the resource in a table."""
        keep = ("name", "bucket", "key", "enableKeyRotation", "metadata", "targetKeyId", "username")
        shown = {k: v for k, v in self.props.items() if k in keep}
        if isinstance(shown.get("metadata"), dict):
            shown["metadata"] = {k: shown["metadata"].get(k) for k in ("name", "namespace")}
        return shown


def _fake_id(*parts: str) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()[:32]


@dataclass(frozen=True)
class _Options:
    parent_type: str | None
    protect: bool
    retain_on_delete: bool


class _OptionsRecordingMonitor(MockMonitor):
    """The stock mock monitor, also noting each resource's parent type and the `protect` and
    `retain_on_delete` options the program asked for (Mocks never sees them)."""

    def __init__(self, mocks: InventoryMocks) -> None:
        super().__init__(mocks)
        self.options: dict[str, _Options] = {}

    def RegisterResource(self, request: Any) -> Any:
        parent = request.parent.split("::")[2].split("$")[-1] if request.parent else None
        self.options[request.name] = _Options(
            parent,
            request.HasField("protect") and request.protect,
            request.HasField("retainOnDelete") and request.retainOnDelete,
        )
        return super().RegisterResource(request)  # type: ignore[no-untyped-call]


class InventoryMocks(pulumi.runtime.Mocks):
    """Answers registrations with plausible computed outputs (ARNs, ids) and records them."""

    def __init__(self, args: TenantStackArgs) -> None:
        self.args = args
        self.resources: list[RenderedResource] = []
        self.providers: list[RenderedResource] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        inputs = dict(args.inputs)
        outputs = dict(inputs)
        account, region = self.args.account_id, self.args.region
        resource_id = f"{args.name}-id"
        if args.typ == "aws:kms/key:Key":
            resource_id = _fake_id("key", args.name)
            outputs |= {
                "keyId": resource_id,
                "arn": f"arn:aws:kms:{region}:{account}:key/{resource_id}",
            }
        elif args.typ == "aws:iam/role:Role":
            outputs["arn"] = f"arn:aws:iam::{account}:role/{inputs.get('name', args.name)}"
            resource_id = inputs.get("name", args.name)
        elif args.typ == "aws:s3/bucket:Bucket":
            resource_id = inputs.get("bucket", args.name)
            outputs |= {"bucket": resource_id, "arn": f"arn:aws:s3:::{resource_id}"}
        rendered = RenderedResource(args.typ, args.name, inputs, provider=args.provider)
        if args.typ.startswith("pulumi:providers:"):
            self.providers.append(rendered)
        else:
            self.resources.append(rendered)
        return resource_id, outputs

    def call(
        self, args: pulumi.runtime.MockCallArgs
    ) -> tuple[dict[Any, Any], list[tuple[str, str]] | None]:
        raise NotImplementedError(f"the program must not call provider functions ({args.token})")


def render_tenant(args: TenantStackArgs) -> list[RenderedResource]:
    """Every resource `TenantStack` registers for `args`, in registration order."""
    mocks = InventoryMocks(args)
    monitor = _OptionsRecordingMonitor(mocks)
    pulumi.runtime.set_mocks(
        mocks,
        project="codexos-tenancy",
        stack=f"tenant-{args.slug}",
        preview=False,
        monitor=monitor,
    )
    component: list[TenantStack] = []

    @pulumi.runtime.test  # type: ignore[untyped-decorator]
    def build() -> pulumi.Output[str]:
        providers = create_providers(args.namespace, args.region, ClusterAccess())
        component.append(
            TenantStack(
                args.namespace,
                args,
                pulumi.Output.secret(MOCK_REDIS_ADMIN_URL),
                opts=providers.options(),
            )
        )
        return component[0].namespace

    build()
    return [_with_options(r, monitor.options.get(r.name)) for r in mocks.resources]


def _with_options(resource: RenderedResource, options: _Options | None) -> RenderedResource:
    if options is None:
        return resource
    return replace(
        resource,
        parent_type=options.parent_type,
        protect=options.protect,
        retain_on_delete=options.retain_on_delete,
    )
