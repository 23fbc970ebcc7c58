"""Validators reject what would corrupt the registry or escape a namespace, naming the value."""

from __future__ import annotations

import uuid

import pytest

from tenancy.errors import InvalidInputError
from tenancy.validation import (
    parse_tenant_id,
    slugify,
    validate_domain,
    validate_email_address,
    validate_slug,
)


@pytest.mark.parametrize(
    "domain", ["example.com", "a.b.example.co.uk", "x1-y2.example.io", "xn--bcher-kva.example"]
)
def test_valid_domains(domain: str) -> None:
    assert validate_domain(domain) == domain


@pytest.mark.parametrize(
    ("domain", "expected"),
    [
        ("Example.com", "lowercase letters only"),
        ("*.example.com", "a single host name, not a wildcard"),
        ("localhost", "a fully qualified name with at least two labels"),
        ("-bad.example.com", "labels of 1-63"),
        ("bad-.example.com", "labels of 1-63"),
        ("under_score.example.com", "labels of 1-63"),
        ("a..example.com", "labels of 1-63"),
        ("example.com.", "labels of 1-63"),
        ("a" * 64 + ".example.com", "labels of 1-63"),
        (".".join(["abcdefghij"] * 24) + ".com", "at most 253 characters"),
        ("10.0.0.1", "a host name, not an IP address"),
        ("exa mple.com", "labels of 1-63"),
        ("", "a host name such as"),
    ],
)
def test_invalid_domains_name_value_and_expectation(domain: str, expected: str) -> None:
    with pytest.raises(
        InvalidInputError, match=r"^domain is .*; expected " + expected.replace("*", r"\*")
    ):
        validate_domain(domain)


def test_email_is_normalized_and_bad_email_is_named() -> None:
    assert validate_email_address("Owner@Example.COM") == "owner@example.com"
    with pytest.raises(
        InvalidInputError, match=r"^email is 'not-an-email'; expected an email address"
    ):
        validate_email_address("not-an-email")


@pytest.mark.parametrize(
    "bad",
    [
        "1; DROP TABLE registry.tenants; --",
        "' OR '1'='1",
        "urn:uuid:12345678-1234-5678-1234-567812345678",
        "{12345678-1234-5678-1234-567812345678}",
        "12345678123456781234567812345678",
        "",
        None,
        7,
    ],
)
def test_tenant_id_must_be_canonical_uuid(bad: object) -> None:
    with pytest.raises(InvalidInputError, match=r"^tenant id is .*; expected a UUID"):
        parse_tenant_id(bad)


def test_tenant_id_accepts_uuid_and_canonical_text() -> None:
    value = uuid.uuid4()
    assert parse_tenant_id(value) == value
    assert parse_tenant_id(str(value).upper()) == value


def test_slugs() -> None:
    assert slugify("Ünïcode Corp, Inc.") == "unicode-corp-inc"
    assert validate_slug("acme-2") == "acme-2"
    for bad in ("ab", "-acme", "acme-", "Acme", "a" * 41, "ac me"):
        with pytest.raises(InvalidInputError, match="expected 3-40 lowercase letters"):
            validate_slug(bad)
    with pytest.raises(InvalidInputError, match="slug derived from name '!!' is ''"):
        slugify("!!")
