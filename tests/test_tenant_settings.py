"""Tenant settings: the typed schema refuses bad values and unknown keys with the key, the
value and what was expected; nothing is stored on error; each write is audited."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from tenancy.admin_errors import PermissionDeniedError
from tenancy.db.session import Database
from tenancy.errors import InvalidInputError
from tenancy.feature_overrides import set_override
from tenancy.members import Actor
from tenancy.registry import add_member
from tenancy.settings_schema import apply_changes, parse_settings
from tenancy.tenant import MemberRole
from tenancy.tenant_settings import get_settings, update_settings
from tests.db.factories import make_tenant

KNOWN = frozenset({"agents", "documents", "integrations", "sso"})
ENTITLED = frozenset({"agents", "documents", "integrations"})


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (
            {"customizations": {"primary_color": "red"}},
            "settings `customizations.primary_color` is 'red'; expected a colour such as",
        ),
        (
            {"customizations": {"font": "Comic"}},
            "settings `customizations.font` is 'Comic'; expected no such key; known keys here: "
            "primary_color, logo_url, locale, timezone",
        ),
        ({"theme": {}}, "settings `theme` is {}; expected no such key; known keys here: features"),
        (
            {"customizations": {"timezone": "Mars/Olympus"}},
            "settings `customizations.timezone` is 'Mars/Olympus'; expected an IANA time zone",
        ),
        (
            {"customizations": {"logo_url": "http://x.example.com/l.png"}},
            "`customizations.logo_url` is 'http://x.example.com/l.png'; expected an https:// URL",
        ),
        (
            {"integrations": {"slack": {"channel": "#ops"}}},
            "settings `integrations.slack.webhook_url` is None; expected a value",
        ),
        (
            {"integrations": {"webhook": {"url": "https://h.example.com", "events": ["boom"]}}},
            "`integrations.webhook.events.0` is 'boom'; expected one of member.joined",
        ),
        ({"features": {"agents": "yes"}}, "`features.agents` is 'yes'; expected true or false"),
        ({"features": {"teleport": True}}, "`features.teleport` is True; expected a feature of"),
        (
            {"features": {"sso": True}},
            "`features.sso` is True; expected false: the tenant's plan does not include it",
        ),
    ],
)
def test_validation_names_key_value_and_expectation(document: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        parse_settings(document, known_features=KNOWN, entitled=ENTITLED)
    assert message in str(caught.value)


def test_a_valid_document_and_dotted_changes() -> None:
    doc = apply_changes(
        {"features": {}},
        {"customizations.locale": "en-US", "features.sso": False, "integrations.slack": None},
    )
    parsed = parse_settings(doc, known_features=KNOWN, entitled=ENTITLED)
    assert parsed.to_data() == {
        "features": {"sso": False},
        "integrations": {},
        "customizations": {"locale": "en-US"},
    }
    with pytest.raises(InvalidInputError, match="expected a dotted key"):
        apply_changes({}, {"customizations..locale": "en"})


def test_settings_are_stored_audited_and_rolled_back_on_error(
    db: Database, superuser: psycopg.Connection
) -> None:
    acme = make_tenant(db, "acme", plan="free")
    owner = Actor.member(acme.owner_id)
    update_settings(db, acme.tenant.id, owner, {"customizations.primary_color": "#112233"})
    with pytest.raises(InvalidInputError, match="integrations need the `integrations` feature"):
        update_settings(
            db, acme.tenant.id, owner, {"integrations.slack.webhook_url": "https://hooks.x.com/a"}
        )
    set_override(db, "acme", "integrations", True, reason="pilot")
    update_settings(
        db, acme.tenant.id, owner, {"integrations.slack.webhook_url": "https://hooks.x.com/a"}
    )
    stored = get_settings(db, acme.tenant.id, owner)
    assert stored["customizations"] == {"primary_color": "#112233"}
    assert stored["integrations"] == {"slack": {"webhook_url": "https://hooks.x.com/a"}}
    details = superuser.execute(
        "SELECT details FROM registry.audit_log WHERE tenant_id = %s AND action = "
        "'settings.update' ORDER BY seq",
        (acme.tenant.id,),
    ).fetchall()
    assert [d[0]["set"] for d in details] == [
        {"customizations.primary_color": "#112233"},
        {"integrations.slack.webhook_url": "(secret)"},
    ]


def test_members_read_settings_but_only_admins_write(db: Database) -> None:
    acme = make_tenant(db, "acme")
    viewer = Actor.member(add_member(db, acme.tenant.id, "v@acme.example.com", MemberRole.VIEWER))
    assert get_settings(db, acme.tenant.id, viewer)["features"] == {}
    with pytest.raises(PermissionDeniedError, match="viewer may not write settings"):
        update_settings(db, acme.tenant.id, viewer, {"customizations.locale": "fr"})
