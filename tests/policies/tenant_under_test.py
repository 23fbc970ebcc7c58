"""The tenant the guardrail cases are written for (its id, another tenant's id, its tags) and
the shape of a case table."""

from __future__ import annotations

from typing import Any

TENANT = "0b7e4c1a-5f0e-4d5e-9a53-6f1c2d3e4a01"
OTHER = "9f0e1d2c-3b4a-4c5d-8e6f-7a8b9c0d1e2f"
TAGS = {"tenant-id": TENANT, "plan": "pro", "managed-by": "codexos-tenancy"}

#: rule name -> (resource type, passing props, violating props, expected message fragment)
Cases = dict[str, tuple[str, dict[str, Any], dict[str, Any], str]]
