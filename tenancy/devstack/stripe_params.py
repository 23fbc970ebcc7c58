"""Stripe's form encoding (`a[b][0][c]=v`) decoded into nested dicts and lists."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

_PART = re.compile(r"\[([^\]]*)\]")


def decode_params(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    root: dict[str, Any] = {}
    for name, value in pairs:
        head = name.split("[", 1)[0]
        parts = [head, *_PART.findall(name[len(head) :])]
        node = root
        for part in parts[:-1]:
            node = node.setdefault(part if part else str(len(node)), {})
        last = parts[-1] if parts[-1] else str(len(node))
        node[last] = value
    decoded: dict[str, Any] = _listify(root)
    return decoded


def _listify(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    items = {k: _listify(v) for k, v in node.items()}
    if items and all(k.isdigit() for k in items):
        return [items[k] for k in sorted(items, key=int)]
    return items
