"""Validators for what callers hand us: tenant ids, domains, slugs, names and emails.

Each returns the normalized value or raises `InvalidInputError` naming the field and value.
"""

from __future__ import annotations

import re
import unicodedata
import uuid

from email_validator import EmailNotValidError, validate_email

from tenancy.errors import InvalidInputError

UUID_TEXT = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
)
_LABEL = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")
_SLUG = re.compile(r"[a-z0-9]([a-z0-9-]{1,38}[a-z0-9])")


def parse_tenant_id(value: object) -> uuid.UUID:
    """A tenant id as a UUID (see `parse_uuid`)."""
    return parse_uuid(value, "tenant id")


def parse_uuid(value: object, field: str) -> uuid.UUID:
    """An id as a UUID; only the canonical 8-4-4-4-12 form is accepted as text.

    `uuid.UUID()` alone would also take braces, `urn:uuid:` prefixes and bare hex, which
    gives one tenant several spellings in keys and logs.
    """
    if isinstance(value, uuid.UUID):
        return value
    if isinstance(value, str) and UUID_TEXT.fullmatch(value):
        return uuid.UUID(value)
    raise InvalidInputError(field, value, "a UUID such as 3f2b8c1e-0d4a-4b6f-9a51-2c7e8d9f0a1b")


def validate_domain(value: object, field: str = "domain") -> str:
    """An RFC 1123 host name: lowercase labels of 1-63 [a-z0-9-], no wildcard, <= 253 chars."""
    if not isinstance(value, str) or not value:
        raise InvalidInputError(field, value, "a host name such as app.example.com")
    if value != value.lower():
        raise InvalidInputError(field, value, "lowercase letters only")
    if "*" in value:
        raise InvalidInputError(field, value, "a single host name, not a wildcard")
    if len(value) > 253:
        raise InvalidInputError(field, value, "at most 253 characters")
    labels = value.split(".")
    if len(labels) < 2:
        raise InvalidInputError(field, value, "a fully qualified name with at least two labels")
    for label in labels:
        if not _LABEL.fullmatch(label):
            raise InvalidInputError(
                field,
                value,
                f"labels of 1-63 letters, digits or inner hyphens (label {label!r} is not)",
            )
    if labels[-1].isdigit():
        raise InvalidInputError(field, value, "a host name, not an IP address")
    return value


def validate_email_address(value: object, field: str = "email") -> str:
    """A syntactically valid address, lowercased; deliverability is not checked (no network)."""
    if not isinstance(value, str):
        raise InvalidInputError(field, value, "an email address such as owner@example.com")
    try:
        checked = validate_email(value, check_deliverability=False)
    except EmailNotValidError as exc:
        raise InvalidInputError(field, value, f"an email address ({exc})") from None
    return str(checked.normalized).lower()


def validate_slug(value: object, field: str = "slug") -> str:
    """3-40 chars of [a-z0-9-], not starting or ending with a hyphen (it names a Pulumi stack)."""
    if not isinstance(value, str) or not _SLUG.fullmatch(value):
        raise InvalidInputError(
            field, value, "3-40 lowercase letters, digits or inner hyphens, such as acme-corp"
        )
    if UUID_TEXT.fullmatch(value):  # it would read as some tenant's id wherever both are taken
        raise InvalidInputError(field, value, "a slug that is not shaped like a UUID")
    return value


def slugify(name: str) -> str:
    """A slug derived from a display name: ASCII-folded, lowercased, non-alphanumerics to '-'."""
    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", folded.lower()).strip("-")[:40].strip("-")
    return validate_slug(slug, field=f"slug derived from name {name!r}")


def validate_name(value: object, field: str = "name") -> str:
    if not isinstance(value, str) or not value.strip() or len(value.strip()) > 200:
        raise InvalidInputError(field, value, "a non-empty name of at most 200 characters")
    return value.strip()
