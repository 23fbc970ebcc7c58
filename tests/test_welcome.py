"""The owner's welcome message: queued with the tenant, delivered once even when the mail
server is down first."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import psycopg
import pytest

from tenancy.db.session import Database
from tenancy.errors import TenantExistsError
from tenancy.notification_sender import OutboxSender, backoff
from tests.db.factories import make_tenant
from tests.test_notifications import MailServer


@pytest.fixture
def mail() -> Iterator[MailServer]:
    server = MailServer()  # not started: the server is down until the test starts it
    yield server
    server.stop()


def welcome_rows(superuser: psycopg.Connection) -> list[tuple[object, ...]]:
    return superuser.execute(
        "SELECT recipient, state, attempts FROM registry.notification_outbox "
        "WHERE kind = 'welcome' ORDER BY id"
    ).fetchall()


def test_welcome_is_delivered_exactly_once_with_the_server_down_then_up(
    db: Database, superuser: psycopg.Connection, mail: MailServer
) -> None:
    acme = make_tenant(db, "acme").tenant
    assert welcome_rows(superuser) == [("owner@acme.example.com", "pending", 0)]
    sender = OutboxSender(db, mail.settings())
    now = acme.created_at

    down = sender.send_due(now=now)
    assert down.sent == [] and len(down.retried) == 1
    assert welcome_rows(superuser) == [("owner@acme.example.com", "pending", 1)]

    mail.start()
    up = sender.send_due(now=now + backoff(1))
    assert len(up.sent) == 1
    for later in (timedelta(hours=1), timedelta(days=2)):
        assert sender.send_due(now=now + later).sent == [], "never sent twice"
    assert welcome_rows(superuser) == [("owner@acme.example.com", "sent", 2)]
    assert [m["To"] for m in mail.inbox.messages] == ["owner@acme.example.com"]
    message = mail.inbox.messages[0]
    assert message["Subject"] == "Welcome to CodexOS: your workspace acme is ready"
    assert "on the pro plan" in message.get_payload(decode=True).decode()


def test_a_tenant_that_is_not_created_sends_no_welcome(
    db: Database, superuser: psycopg.Connection
) -> None:
    make_tenant(db, "acme")
    with pytest.raises(TenantExistsError):
        make_tenant(db, "acme")
    assert len(welcome_rows(superuser)) == 1
