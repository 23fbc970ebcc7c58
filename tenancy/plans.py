"""The plan catalog: one YAML file per plan under `plans/`, read only through `load_catalog`.

Nothing else in the code base copies a limit or a price; it asks the catalog.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError
from pydantic_core import PydanticCustomError

from tenancy.errors import InvalidInputError, PlanCatalogError, UnknownPlanError
from tenancy.limits import LIMIT_EXPECTED, LIMIT_KEYS, Limit, limit_overrides

#: Plans the registry accepts (its CHECK constraint); the catalog must define each of them.
REQUIRED_PLANS = ("free", "pro", "enterprise")
DEFAULT_PLANS_DIR = Path(__file__).resolve().parent.parent / "plans"
PLANS_DIR_ENV = "TENANCY_PLANS_DIR"


def _limit(raw: object) -> Limit:
    if isinstance(raw, Limit):
        return raw
    try:
        return Limit.parse(raw)
    except InvalidInputError:
        raise PydanticCustomError("limit", LIMIT_EXPECTED) from None


def _quantity(pattern: str, expected: str) -> Any:
    regex = re.compile(pattern)

    def check(raw: object) -> str:
        if not isinstance(raw, str) or not regex.fullmatch(raw):
            raise PydanticCustomError("quantity", expected)
        return raw

    return BeforeValidator(check)


PlanLimit = Annotated[Limit, BeforeValidator(_limit)]
CpuQuantity = Annotated[
    str, _quantity(r"[1-9]\d*(\.\d+)?|\d+m", 'a CPU quantity such as "2" or "500m"')
]
MemoryQuantity = Annotated[
    str, _quantity(r"[1-9]\d*(Ki|Mi|Gi|Ti)", 'a memory quantity such as "8Gi"')
]
NonNegative = Annotated[int, Field(strict=True, ge=0)]
Positive = Annotated[int, Field(strict=True, gt=0)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)


class PlanLimits(_Strict):
    users: PlanLimit
    agents: PlanLimit
    storage_gb: PlanLimit
    api_calls_per_month: PlanLimit

    def get(self, key: str) -> Limit:
        limit: Limit = getattr(self, key)
        return limit


class RateLimit(_Strict):
    requests_per_minute: Positive
    burst: NonNegative


class KubernetesQuota(_Strict):
    """The namespace's ResourceQuota (cpu, memory, pods) and its containers' default limits."""

    cpu: CpuQuantity
    memory: MemoryQuantity
    pods: NonNegative
    container_cpu: CpuQuantity
    container_memory: MemoryQuantity


class OveragePrice(_Strict):
    """`cents` charged for every started block of `per` units above the limit."""

    per: Positive
    cents: NonNegative


class Pricing(_Strict):
    currency: Literal["usd", "eur", "gbp"]
    base_monthly_cents: NonNegative
    #: Days a tenant stays past due after a failed payment before it may be suspended.
    payment_grace_days: NonNegative
    overage: dict[Literal["users", "agents", "storage_gb", "api_calls_per_month"], OveragePrice]


class Storage(_Strict):
    model: Literal["shared_prefix", "dedicated_bucket"]


class Plan(_Strict):
    """One plan of the catalog: limits, features, quotas and prices."""

    name: Annotated[str, Field(strict=True, pattern=r"^[a-z][a-z0-9-]{1,30}$")]
    display_name: Annotated[str, Field(strict=True, min_length=1)]
    limits: PlanLimits
    features: list[Annotated[str, Field(strict=True, pattern=r"^[a-z][a-z0-9_]*$")]]
    rate_limit: RateLimit
    kubernetes: KubernetesQuota
    pricing: Pricing
    storage: Storage

    def effective_limits(self, overrides: Mapping[str, Any] | None = None) -> dict[str, Limit]:
        """The plan's limits with a tenant's overrides applied (overrides are validated)."""
        merged = {key: self.limits.get(key) for key in LIMIT_KEYS}
        merged.update(limit_overrides(overrides))
        return merged


class PlanCatalog:
    """The validated set of plans, keyed by name."""

    def __init__(self, plans: Mapping[str, Plan], directory: Path) -> None:
        self._plans = dict(plans)
        self.directory = directory

    def get(self, name: str) -> Plan:
        try:
            return self._plans[name]
        except KeyError:
            raise UnknownPlanError(name, self.names) from None

    @property
    def names(self) -> list[str]:
        return list(self._plans)

    def __iter__(self) -> Iterator[Plan]:
        return iter(self._plans.values())

    def __len__(self) -> int:
        return len(self._plans)


class _UniqueKeyLoader(yaml.SafeLoader):
    """A safe loader that refuses a mapping with the same key twice (PyYAML keeps the last)."""


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        seen.add(key)
    return loader.construct_mapping(node)


_UniqueKeyLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    _construct_mapping,
)

_EXPECTED_BY_TYPE = {
    "int_type": "an integer",
    "int_parsing": "an integer",
    "int_from_float": "an integer",
    "string_type": "a string",
    "dict_type": "a mapping",
    "list_type": "a list",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
}


def _describe(error: Mapping[str, Any], plan_fields: list[str]) -> tuple[str, str]:
    """Turn one pydantic error into (`field` text, 'is X; expected Y' text)."""
    loc = ".".join(str(part) for part in error["loc"])
    kind = error["type"]
    ctx = error.get("ctx") or {}
    if kind == "missing":
        return loc, "is missing"
    if kind == "extra_forbidden":
        parent = error["loc"][:-1]
        return (
            loc,
            f"is an unknown key; expected one of: {', '.join(_known_keys(parent, plan_fields))}",
        )
    if kind in ("greater_than_equal", "greater_than"):
        op = ">=" if kind == "greater_than_equal" else ">"
        bound = ctx.get("ge", ctx.get("gt"))
        expected = f"an integer {op} {bound}"
    elif kind == "literal_error":
        expected = f"one of {ctx.get('expected')}"
    elif kind == "string_pattern_mismatch":
        expected = f"a string matching {ctx.get('pattern')}"
    elif kind in _EXPECTED_BY_TYPE:
        expected = _EXPECTED_BY_TYPE[kind]
    else:
        expected = str(error["msg"])
    return loc, f"is {_show(error.get('input'))}; expected {expected}"


def _known_keys(parent: tuple[Any, ...], plan_fields: list[str]) -> list[str]:
    model: Any = Plan
    for part in parent:
        field = model.model_fields.get(part) if isinstance(part, str) else None
        annotation = getattr(field, "annotation", None)
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return list(LIMIT_KEYS) if parent and parent[0] == "pricing" else plan_fields
        model = annotation
    return list(model.model_fields)


def _show(value: object) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value)


def _cross_checks(plan: Plan) -> list[tuple[str, str]]:
    """Rules that span fields: a price must never depend on an unlimited limit."""
    problems = []
    for metric in plan.pricing.overage:
        if plan.limits.get(metric).unlimited:
            problems.append(
                (
                    f"pricing.overage.{metric}",
                    f"prices usage above `limits.{metric}`, which is unlimited; "
                    f"expected a numeric limit or no overage price",
                )
            )
    return problems


def load_catalog(directory: str | os.PathLike[str] | None = None) -> PlanCatalog:
    """Load and validate every `*.yaml` plan in `directory` (default: the project's `plans/`).

    Raises `PlanCatalogError` listing every problem found, one line each.
    """
    root = Path(directory) if directory is not None else default_plans_dir()
    if not root.is_dir():
        raise PlanCatalogError(str(root), [f"{root}: not a directory; expected the plan catalog"])
    problems: list[str] = []
    plans: dict[str, Plan] = {}
    sources: dict[str, Path] = {}
    named: set[str] = set()  # names declared by any file, valid or not
    plan_fields = list(Plan.model_fields)
    for path in sorted([*root.glob("*.yaml"), *root.glob("*.yml")]):
        shown = _display(path)
        try:
            data = yaml.load(path.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader)  # noqa: S506
        except yaml.YAMLError as exc:
            problems.append(f"{shown}: not valid YAML: {' '.join(str(exc).split())}")
            continue
        if not isinstance(data, dict):
            problems.append(
                f"{shown}: top level is {_show(data)}; expected a mapping of plan fields"
            )
            continue
        raw_name = data.get("name")
        name = raw_name if isinstance(raw_name, str) else path.stem
        named.add(name)
        label = f"{shown}: plan `{name}`"
        try:
            plan = Plan.model_validate(data)
        except ValidationError as exc:
            for error in exc.errors():
                field, text = _describe(error, plan_fields)
                problems.append(f"{label}: `{field}` {text}")
            continue
        for field, text in _cross_checks(plan):
            problems.append(f"{label}: `{field}` {text}")
        if plan.name in plans:
            problems.append(
                f'{label}: `name` is "{plan.name}", already declared by '
                f"{_display(sources[plan.name])}; expected each plan name once"
            )
            continue
        plans[plan.name] = plan
        sources[plan.name] = path
    for required in REQUIRED_PLANS:
        if required not in named:
            problems.append(
                f"{_display(root)}: plan `{required}` is missing; "
                f"expected a file such as {required}.yaml declaring `name: {required}`"
            )
    if problems:
        raise PlanCatalogError(_display(root), problems)
    ordered = {name: plans[name] for name in REQUIRED_PLANS} | plans
    return PlanCatalog(ordered, root)


def default_plans_dir() -> Path:
    configured = os.environ.get(PLANS_DIR_ENV)
    return Path(configured) if configured else DEFAULT_PLANS_DIR


@functools.cache
def _cached(directory: Path) -> PlanCatalog:
    return load_catalog(directory)


def default_catalog() -> PlanCatalog:
    """The catalog at the configured directory, loaded once per process."""
    return _cached(default_plans_dir().resolve())


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)
