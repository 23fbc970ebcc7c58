"""Offline validation of `pulumi.com/v1` `Stack` objects against the operator's own CRD schema.

The schema is vendored (infra/schemas/, see its README for the source release). It is checked
the way the API server checks it with strict field validation (`kubectl apply
--validate=strict`): a field the schema does not declare is an error, not silently pruned, so a
misspelt setting such as `resyncFrequency` fails here instead of being dropped by the cluster.
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path
from typing import Any

import jsonschema

SCHEMA_FILE = Path(__file__).resolve().parent / "schemas" / "pulumi.com_stacks.v1.json"
DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
LABEL_VALUE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?")


def _strict(node: Any) -> Any:
    """Unknown fields become errors wherever the schema lists the fields and keeps no others."""
    if isinstance(node, list):
        return [_strict(item) for item in node]
    if not isinstance(node, dict):
        return node
    strict = {key: _strict(value) for key, value in node.items()}
    if (
        "properties" in strict
        and "additionalProperties" not in strict
        and not strict.get("x-kubernetes-preserve-unknown-fields")
    ):
        strict["additionalProperties"] = False
    return strict


@functools.cache
def validator() -> jsonschema.protocols.Validator:
    schema = _strict(json.loads(SCHEMA_FILE.read_text()))
    return jsonschema.validators.Draft7Validator(schema)


def _metadata_errors(metadata: Any) -> list[str]:
    if not isinstance(metadata, dict):
        return ["metadata: expected a mapping"]
    errors = []
    name = metadata.get("name")
    if not isinstance(name, str) or len(name) > 253 or not DNS_SUBDOMAIN.fullmatch(name):
        errors.append(f"metadata.name: {name!r} is not a DNS subdomain name")
    for key, value in (metadata.get("labels") or {}).items():
        if not isinstance(value, str) or len(value) > 63 or not LABEL_VALUE.fullmatch(value):
            errors.append(f"metadata.labels.{key}: {value!r} is not a label value")
    return errors


def stack_errors(manifest: dict[str, Any]) -> list[str]:
    """Every violation of the `Stack` CRD schema (strict), plus the object metadata's rules."""
    errors = []
    if (manifest.get("apiVersion"), manifest.get("kind")) != ("pulumi.com/v1", "Stack"):
        errors.append(
            f"{manifest.get('apiVersion')} {manifest.get('kind')}: expected pulumi.com/v1 Stack"
        )
    errors += _metadata_errors(manifest.get("metadata"))
    errors += [
        f"{error.message} at {'.'.join(str(p) for p in error.absolute_path) or '(root)'}"
        for error in sorted(
            validator().iter_errors(manifest), key=lambda e: list(map(str, e.absolute_path))
        )
    ]
    return errors
