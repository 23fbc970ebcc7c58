"""Custom domain names, normalised once so every comparison sees one spelling.

IDNA 2008 with UTS #46 mapping (the `idna` package; Python's built-in codec is IDNA 2003,
which maps `ß` to `ss` and so gives two names one spelling), lower case, no trailing dot.
Wildcards and the platform's own domains (and names under them) are refused.
"""

from __future__ import annotations

from collections.abc import Iterable

import idna

from tenancy.errors import InvalidInputError
from tenancy.validation import validate_domain

CHALLENGE_LABEL = "_codexos-challenge"


def normalise_domain(value: object, field: str = "domain") -> str:
    """The A-label form of `value` (`Bücher.Example.` -> `xn--bcher-kva.example`)."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidInputError(field, value, "a host name such as app.example.com")
    text = value.strip()
    if "*" in text:
        raise InvalidInputError(field, value, "a single host name, not a wildcard")
    if text.endswith("."):
        text = text[:-1]
    try:
        ascii_name = idna.encode(text, uts46=True, transitional=False).decode("ascii")
    except idna.IDNAError as exc:
        raise InvalidInputError(field, value, f"an internationalised host name ({exc})") from None
    return validate_domain(ascii_name.lower(), field)


def display_name(domain: str) -> str:
    """The Unicode form, for people (`xn--bcher-kva.example` -> `bücher.example`)."""
    try:
        return str(idna.decode(domain))
    except idna.IDNAError:
        return domain


def challenge_name(domain: str) -> str:
    """Where the owner publishes the token."""
    return f"{CHALLENGE_LABEL}.{domain}"


def refuse_platform_domain(domain: str, platform_domains: Iterable[str]) -> None:
    """A platform domain, or any name under one, belongs to the platform, never a tenant."""
    for platform in platform_domains:
        if domain == platform or domain.endswith(f".{platform}"):
            raise InvalidInputError(
                "domain", domain, f"a domain outside the platform's own ({platform})"
            )
