"""The typed schema of a tenant's settings: features, integrations, customizations.

Every write is validated as a whole document; an error names the key (dotted path), the value
and what was expected, and an unknown key is refused. Feature names come from the plan
catalog, and a feature can be switched on only when the tenant is entitled to it (plan or
override); integrations need the `integrations` feature.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal, get_args
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError
from pydantic_core import PydanticCustomError

from tenancy.errors import InvalidInputError

#: The feature a tenant needs before any integration can be configured.
INTEGRATIONS_FEATURE = "integrations"
WebhookEvent = Literal["member.joined", "member.left", "agent.failed", "quota.warning"]
WEBHOOK_EVENTS: tuple[WebhookEvent, ...] = get_args(WebhookEvent)


def _check(pattern: str, expected: str) -> Any:
    regex = re.compile(pattern)

    def check(raw: object) -> str:
        if not isinstance(raw, str) or not regex.fullmatch(raw):
            raise PydanticCustomError("format", expected)
        return raw

    return BeforeValidator(check)


def _https(raw: object) -> str:
    parts = urlsplit(raw) if isinstance(raw, str) else None
    if parts is None or parts.scheme != "https" or not parts.hostname or len(str(raw)) > 2000:
        raise PydanticCustomError("url", "an https:// URL")
    return str(raw)


def _timezone(raw: object) -> str:
    try:
        if not isinstance(raw, str) or not raw or raw.startswith(("/", ".")):
            raise ZoneInfoNotFoundError
        ZoneInfo(raw)
    except (ZoneInfoNotFoundError, ValueError):
        raise PydanticCustomError("timezone", 'an IANA time zone such as "Europe/Paris"') from None
    return raw


HttpsUrl = Annotated[str, BeforeValidator(_https)]
Color = Annotated[str, _check(r"#[0-9a-fA-F]{6}", 'a colour such as "#1a2b3c"')]
Locale = Annotated[str, _check(r"[a-z]{2,3}(-[A-Z]{2})?", 'a locale such as "en" or "en-US"')]
SlackChannel = Annotated[str, _check(r"#[a-z0-9_-]{1,80}", 'a channel such as "#alerts"')]
TimeZone = Annotated[str, BeforeValidator(_timezone)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class SlackIntegration(_Strict):
    webhook_url: HttpsUrl
    channel: SlackChannel | None = None


class WebhookIntegration(_Strict):
    url: HttpsUrl
    events: list[WebhookEvent] = Field(default_factory=lambda: list(WEBHOOK_EVENTS))


class Integrations(_Strict):
    slack: SlackIntegration | None = None
    webhook: WebhookIntegration | None = None


class Customizations(_Strict):
    primary_color: Color | None = None
    logo_url: HttpsUrl | None = None
    locale: Locale | None = None
    timezone: TimeZone | None = None


class TenantSettings(_Strict):
    """A tenant's settings document as stored in `registry.tenants.settings`."""

    features: dict[str, bool] = Field(default_factory=dict)
    integrations: Integrations = Field(default_factory=Integrations)
    customizations: Customizations = Field(default_factory=Customizations)

    def to_data(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True)


_EXPECTED = {
    "bool_type": "true or false",
    "string_type": "a string",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "list_type": "a list",
}


def _known(loc: tuple[Any, ...]) -> list[str]:
    model: Any = TenantSettings
    for part in loc:
        field = model.model_fields.get(part)
        annotation = getattr(field, "annotation", None)
        for candidate in getattr(annotation, "__args__", (annotation,)):
            if isinstance(candidate, type) and issubclass(candidate, BaseModel):
                model = candidate
                break
    return list(model.model_fields)


def _show(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value)


def parse_settings(
    raw: Mapping[str, Any],
    *,
    known_features: frozenset[str],
    entitled: frozenset[str],
) -> TenantSettings:
    """Validate a whole settings document; raises `InvalidInputError` for the first problem."""
    try:
        settings = TenantSettings.model_validate(dict(raw))
    except ValidationError as exc:
        error = exc.errors()[0]
        loc = tuple(error["loc"])
        path = ".".join(str(p) for p in loc)
        if error["type"] == "extra_forbidden":
            parent = tuple(str(p) for p in loc[:-1])
            raise InvalidInputError(
                f"settings `{path}`",
                error["input"],
                f"no such key; known keys here: {', '.join(_known(parent))}",
            ) from None
        if error["type"] == "missing":
            raise InvalidInputError(
                f"settings `{path}`", None, "a value (it is required)"
            ) from None
        if error["type"] == "literal_error":
            expected = f"one of {', '.join(WEBHOOK_EVENTS)}"
        else:
            expected = _EXPECTED.get(error["type"], str(error["msg"]))
        raise InvalidInputError(f"settings `{path}`", error["input"], expected) from None
    for feature, on in settings.features.items():
        if feature not in known_features:
            raise InvalidInputError(
                f"settings `features.{feature}`",
                on,
                f"a feature of the plan catalog: {', '.join(sorted(known_features))}",
            )
        if on and feature not in entitled:
            raise InvalidInputError(
                f"settings `features.{feature}`",
                True,
                "false: the tenant's plan does not include it and no override grants it",
            )
    configured = [k for k, v in settings.integrations if v is not None]
    if configured and INTEGRATIONS_FEATURE not in entitled:
        raise InvalidInputError(
            f"settings `integrations.{configured[0]}`",
            "(configured)",
            f"nothing: integrations need the `{INTEGRATIONS_FEATURE}` feature, which the "
            "tenant's plan does not include",
        )
    return settings


def apply_changes(document: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    """`document` with each dotted path in `changes` set (a value of None removes the key)."""
    result: dict[str, Any] = _copy(document)
    for path, value in changes.items():
        parts = path.split(".")
        if not path or any(not p for p in parts):
            raise InvalidInputError(
                "settings key", path, 'a dotted key such as "customizations.locale"'
            )
        node = result
        for part in parts[:-1]:
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                raise InvalidInputError(f"settings `{path}`", value, f"`{part}` to be a mapping")
            node = child
        if value is None:
            node.pop(parts[-1], None)
        else:
            node[parts[-1]] = value
    return result


def _copy(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value
