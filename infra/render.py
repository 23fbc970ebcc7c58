"""Run the real program under `pulumi.runtime.set_mocks` and keep what it would create.

This is how the program is checked on machines without the Pulumi CLI or cloud credentials
(the way Pulumi documents unit testing): every resource registration lands in
`InventoryMocks`, with its inputs resolved, and nothing leaves the process.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import pulumi
from pulumi.runtime.mocks import MockMonitor

from infra.args import TenantStackArgs
from infra.platform_args import PlatformArgs
from infra.platform_reference import platform_outputs
from infra.platform_stack import ComponentBuilder, PlatformStack
from infra.providers import ClusterAccess, create_providers
from infra.tenant_stack import TenantStack

MOCK_REDIS_ADMIN_URL = "redis://mock-admin@redis.invalid:6379/0"
MOCK_PASSWORD = "mock-password-not-a-secret"  # noqa: S105 (what the mocks answer)
#: What the `platform` stack exports, as a tenant's stack reference reads it offline: the
#: shared bucket of the example config, S3's eu-west-1 ranges, the endpoint subnets.
MOCK_PLATFORM_OUTPUTS: dict[str, Any] = {
    "shared_bucket_name": "codexos-tenant-data",
    "shared_bucket_arn": "arn:aws:s3:::codexos-tenant-data",
    "s3_cidrs": ["52.218.0.0/17", "3.5.64.0/21", "3.5.72.0/23"],
    "aws_api_cidrs": ["10.40.20.0/24", "10.40.21.0/24"],
}
#: How the engine's wire format marks a secret value: {SIG_KEY: SECRET_SIG, "value": ...}.
SIG_KEY = "4dabf18193072939515e22adb298388d"
SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"  # noqa: S105 (a wire-format marker)
SECRET_PLACEHOLDER = "[secret]"  # noqa: S105
#: Types the inventory leaves out: they configure the engine, they create nothing.
_NOT_RESOURCES = ("pulumi:providers:", "pulumi:pulumi:StackReference")


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


def _redacted(value: Any, secret: bool = False) -> Any:
    """Secret leaves become the placeholder; the shape (keys, list lengths) stays, so schema
    checks still see a mapping where the manifest has one."""
    if isinstance(value, dict):
        if value.get(SIG_KEY) == SECRET_SIG:
            return _redacted(value.get("value"), secret=True)
        return {k: _redacted(v, secret) for k, v in value.items()}
    if isinstance(value, list):
        return [_redacted(v, secret) for v in value]
    return SECRET_PLACEHOLDER if secret else value


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

    def __init__(self, args: TenantStackArgs | PlatformArgs) -> None:
        self.args = args
        self.resources: list[RenderedResource] = []
        self.providers: list[RenderedResource] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        # A value the program marked secret is recorded as a placeholder: the inventory (and
        # `tenancy stacks render --json`) never holds one, the way state holds it encrypted.
        inputs = _redacted(dict(args.inputs))
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
        elif args.typ == "pulumi:pulumi:StackReference":
            resource_id = inputs.get("name", args.name)
            outputs |= {"outputs": MOCK_PLATFORM_OUTPUTS, "secretOutputNames": []}
        elif args.typ == "pulumi-python:dynamic:Resource" and "username" in inputs:
            outputs["password"] = MOCK_PASSWORD
        elif args.typ == "random:index/randomPassword:RandomPassword":
            outputs["result"] = MOCK_PASSWORD
        elif args.typ == "aws:elasticache/user:User":
            resource_id = inputs.get("userId", args.name)
        elif args.typ == "aws:ec2/vpcEndpoint:VpcEndpoint":
            outputs["cidrBlocks"] = (
                MOCK_PLATFORM_OUTPUTS["s3_cidrs"]
                if inputs.get("vpcEndpointType") == "Gateway"
                else []
            )
        rendered = RenderedResource(args.typ, args.name, inputs, provider=args.provider)
        if args.typ.startswith(_NOT_RESOURCES):
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
                platform_outputs(args.platform_stack),
                opts=providers.options(),
            )
        )
        return component[0].namespace

    build()
    return [_with_options(r, monitor.options.get(r.name)) for r in mocks.resources]


def render_platform(
    args: PlatformArgs, components: Sequence[ComponentBuilder] = ()
) -> list[RenderedResource]:
    """Every resource `PlatformStack` registers for `args`, in registration order."""
    mocks = InventoryMocks(args)
    monitor = _OptionsRecordingMonitor(mocks)
    pulumi.runtime.set_mocks(
        mocks, project="codexos-tenancy", stack="platform", preview=False, monitor=monitor
    )

    @pulumi.runtime.test  # type: ignore[untyped-decorator]
    def build() -> pulumi.Output[str]:
        providers = create_providers("platform", args.region, ClusterAccess())
        platform = PlatformStack("platform", args, components, opts=providers.options())
        return platform.shared_bucket_name

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
