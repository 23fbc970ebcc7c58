"""Look-ups over a rendered inventory that fail with the resource's name in the message."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from infra.args import TenantStackArgs
from infra.render import RenderedResource, render_tenant


@dataclass
class Inventory:
    args: TenantStackArgs
    resources: list[RenderedResource]

    @classmethod
    def of(cls, args: TenantStackArgs) -> Inventory:
        return cls(args, render_tenant(args))

    def all(self, type_: str) -> list[RenderedResource]:
        return [r for r in self.resources if r.type == type_]

    def one(self, type_: str) -> RenderedResource:
        found = self.all(type_)
        assert len(found) == 1, f"expected one {type_}, found {[r.name for r in found]}"
        return found[0]

    def named(self, name: str) -> RenderedResource:
        found = [r for r in self.resources if r.name == name]
        assert found, f"no resource named {name}; have {[r.name for r in self.resources]}"
        return found[0]


def statements(resource: RenderedResource, prop: str = "policy") -> dict[str, dict[str, Any]]:
    document = json.loads(resource.props[prop])
    return {s["Sid"]: s for s in document["Statement"]}
