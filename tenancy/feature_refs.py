"""Find the feature names the code refers to, for `tenancy plans check`.

Parsed with `ast`, not matched with a regex, so a name in a comment or a string elsewhere does
not count. A reference is a string literal given as the feature of `requires_feature("x")`,
`is_entitled(plan, overrides, "x")` or `ensure_entitled(catalog, plan, overrides, "x")`, positional
or as `feature="x"`. A feature passed as a variable cannot be resolved here and is skipped.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

#: Functions taking a feature name, and the position of that argument.
FEATURE_ARGUMENT = {"requires_feature": 0, "is_entitled": 2, "ensure_entitled": 3}
#: Where the code that may call them lives (relative to the project root).
SCANNED = ("tenancy", "infra", "pipelines", "policies")


@dataclass(frozen=True)
class FeatureRef:
    feature: str
    path: str
    line: int


def _name(func: ast.expr) -> str | None:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return None


def refs_in_source(source: str, path: str) -> list[FeatureRef]:
    found = []
    for node in ast.walk(ast.parse(source, filename=path)):
        if not isinstance(node, ast.Call):
            continue
        name = _name(node.func)
        if name not in FEATURE_ARGUMENT:
            continue
        position = FEATURE_ARGUMENT[name]
        arg: ast.expr | None = node.args[position] if len(node.args) > position else None
        for keyword in node.keywords:
            if keyword.arg == "feature":
                arg = keyword.value
        if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
            found.append(FeatureRef(arg.value, path, node.lineno))
    return found


def feature_refs(root: Path, packages: Iterable[str] = SCANNED) -> list[FeatureRef]:
    """Every literal feature reference in the Python files under `root`/`packages`."""
    refs: list[FeatureRef] = []
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            shown = str(path.relative_to(root))
            refs.extend(refs_in_source(path.read_text(encoding="utf-8"), shown))
    return refs


def unknown_refs(refs: Iterable[FeatureRef], known: frozenset[str]) -> list[str]:
    """One problem line per reference to a feature no plan includes."""
    return [
        f"{r.path}:{r.line}: feature `{r.feature}` is in no plan; expected one of: "
        f"{', '.join(sorted(known))}"
        for r in refs
        if r.feature not in known
    ]
