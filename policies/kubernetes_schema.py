"""Validate rendered Kubernetes objects against the OpenAPI schemas kubernetes-validate ships.

`kubernetes_validate.validate` re-reads and re-parses the multi-megabyte definitions file on
every call (about 7 ms each, so most of a thousand-tenant check). This keeps one validator per
(apiVersion, kind) for the process, built the same way from the same bundled schema files.
"""

from __future__ import annotations

import functools
import json
import re
from importlib import resources
from typing import Any

import jsonschema
from referencing import Registry, Resource

KUBERNETES_VERSION = "1.37.0"
_SCHEMA_DIR = f"kubernetes-json-schema/v{KUBERNETES_VERSION}-local-strict"


class SchemaNotFound(LookupError):
    """No bundled schema for this apiVersion and kind."""


def _read(name: str) -> Any:
    return json.loads(
        resources.files("kubernetes_validate").joinpath(f"{_SCHEMA_DIR}/{name}").read_text()
    )


@functools.cache
def _definitions() -> Resource[Any]:
    return Resource.from_contents(_read("_definitions.json"))


@functools.cache
def validator(api_version: str, kind: str) -> jsonschema.protocols.Validator:
    # rbac.authorization.k8s.io/v1 -> rbac-v1, v1 -> v1 (the bundled files' naming)
    group_version = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    try:
        schema = _read(f"{kind.lower()}-{group_version}.json")
    except FileNotFoundError:
        raise SchemaNotFound(
            f"no Kubernetes {KUBERNETES_VERSION} schema for {api_version} {kind}"
        ) from None
    registry: Registry[Any] = Resource.from_contents(schema) @ (_definitions() @ Registry())
    return jsonschema.validators.Draft202012Validator(_inline(schema), registry=registry)


def _inline(node: Any, seen: tuple[str, ...] = ()) -> Any:
    """The schema with its definition references copied in (recursive ones stay references):
    resolving a `$ref` on every object of every manifest is most of the validation time."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and "#/$defs/" in ref:
            name = ref.rsplit("/", 1)[1]
            if name in seen:
                return node
            target = _inline(_definitions().contents["$defs"][name], (*seen, name))
            rest = {k: _inline(v, seen) for k, v in node.items() if k != "$ref"}
            return {**target, **rest}
        return {k: _inline(v, seen) for k, v in node.items()}
    if isinstance(node, list):
        return [_inline(v, seen) for v in node]
    return node


def schema_errors(manifest: dict[str, Any]) -> list[str]:
    """Every schema violation of `manifest` (strict: unknown fields are errors)."""
    try:
        check = validator(str(manifest.get("apiVersion")), str(manifest.get("kind")))
    except SchemaNotFound as exc:
        return [str(exc)]
    return [
        f"{error.message} at {'.'.join(str(p) for p in error.absolute_path) or '(root)'}"
        for error in sorted(
            check.iter_errors(manifest), key=lambda e: list(map(str, e.absolute_path))
        )
    ]
