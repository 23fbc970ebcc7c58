"""What a tenant stack reads from the `platform` stack, through a `pulumi.StackReference`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi

#: The outputs the platform program exports and tenant stacks read.
OUTPUT_NAMES = ("shared_bucket_name", "shared_bucket_arn", "s3_cidrs", "aws_api_cidrs")


@dataclass(frozen=True)
class PlatformOutputs:
    shared_bucket_name: pulumi.Output[str]
    s3_cidrs: pulumi.Output[list[str]]
    aws_api_cidrs: pulumi.Output[list[str]]


def _required(reference: pulumi.StackReference, name: str) -> pulumi.Output[Any]:
    # `require_output` fails the tenant's `up` naming the missing output, instead of a None.
    return reference.require_output(name)


def platform_outputs(
    stack_name: str, opts: pulumi.ResourceOptions | None = None
) -> PlatformOutputs:
    """`stack_name` is `tenancy:platformStack` (`<org>/codexos-tenancy/platform`)."""
    reference = pulumi.StackReference(stack_name, opts=opts)
    return PlatformOutputs(
        shared_bucket_name=_required(reference, "shared_bucket_name"),
        s3_cidrs=_required(reference, "s3_cidrs"),
        aws_api_cidrs=_required(reference, "aws_api_cidrs"),
    )
