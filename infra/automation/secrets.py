"""Where a tenant stack's secrets come from when the deploy driver runs it.

No secret is ever written into a generated stack file. For each required secret the driver
takes, in this order:

1. the environment variable named below: set on the stack as a secret through the Automation
   API (`Stack.set_config(..., secret=True)`), in the stack's throwaway workspace copy only;
2. the stack's own value: a `secure:` entry in its stack file (`pulumi config set --secret`),
   kept there by `tenancy stacks generate`;
3. a Pulumi ESC environment listed under `environment:` in its stack file (resolved by Pulumi
   at run time; the driver cannot see inside it offline).

A stack with none of the three is refused before anything runs, naming the variable.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from infra.stack_files import STACKS_DIR, read_document


@dataclass(frozen=True)
class RequiredSecret:
    key: str
    variable: str


#: Every secret the program requires (`require_secret`) and the variable that can supply it.
REQUIRED_SECRETS = (RequiredSecret("tenancy:redisAdminUrl", "TENANCY_STACK_REDIS_ADMIN_URL"),)


def from_environment(
    environ: Mapping[str, str], required: Sequence[RequiredSecret] = REQUIRED_SECRETS
) -> dict[str, str]:
    """config key -> value for every required secret whose variable is set (and not empty)."""
    return {s.key: environ[s.variable] for s in required if environ.get(s.variable)}


def missing_secrets(
    stacks: Sequence[str],
    environ: Mapping[str, str],
    directory: Path = STACKS_DIR,
    required: Sequence[RequiredSecret] = REQUIRED_SECRETS,
) -> list[str]:
    """One message per stack and secret that nothing supplies."""
    problems = []
    for stack in stacks:
        path = directory / f"Pulumi.{stack}.yaml"
        document = read_document(path)
        config = document.get("config") or {}
        if document.get("environment"):
            continue
        for secret in required:
            if environ.get(secret.variable):
                continue
            value = config.get(secret.key)
            if isinstance(value, Mapping) and value.get("secure"):
                continue
            problems.append(
                f"{stack}: secret `{secret.key}` is not set; expected the environment variable "
                f"{secret.variable}, a `secure:` value in {path.name} "
                f"(`pulumi config set --secret {secret.key}`), or a Pulumi ESC environment "
                f"under `environment:` in {path.name}"
            )
    return problems
