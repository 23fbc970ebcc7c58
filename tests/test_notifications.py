"""The notification outbox delivered by SMTP to a real local mail server (aiosmtpd)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from typing import Any

import psycopg
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from typer.testing import CliRunner

from tenancy.cli.main import app
from tenancy.db.bootstrap import RegistryUrls
from tenancy.db.session import Database
from tenancy.devstack.ports import free_port
from tenancy.errors import ConfigurationError
from tenancy.lifecycle import Transition
from tenancy.notification_sender import OutboxSender, SmtpSettings, backoff
from tenancy.registry import add_member
from tenancy.tenant import MemberRole
from tenancy.transitions import apply_transition
from tests.db.factories import make_tenant

T0 = datetime(2026, 3, 1, tzinfo=UTC)


class Inbox:
    """An aiosmtpd handler keeping every message; `refuse` makes it answer 550 or 451."""

    def __init__(self) -> None:
        self.messages: list[Any] = []
        self.refuse: dict[str, str] = {}
        self._lock = threading.Lock()

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        with self._lock:
            self.messages.append(message_from_bytes(envelope.original_content or b""))
        return "250 Message accepted for delivery"


class MailServer:
    """A real SMTP server on a fixed free port, started and stopped at will."""

    def __init__(self) -> None:
        self.port = free_port()
        self.inbox = Inbox()
        self._controller: Controller | None = None

    def start(self) -> None:
        self._controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def settings(self) -> SmtpSettings:
        return SmtpSettings(host="127.0.0.1", port=self.port, sender="ops@codexos.example.com")


@pytest.fixture
def mail() -> Iterator[MailServer]:
    server = MailServer()
    yield server
    server.stop()


def outbox_rows(superuser: psycopg.Connection) -> list[tuple[Any, ...]]:
    return superuser.execute(
        "SELECT kind, recipient, state, attempts, last_error IS NOT NULL "
        "FROM registry.notification_outbox WHERE kind <> 'welcome' ORDER BY id"
    ).fetchall()


def test_the_outbox_is_written_with_the_state_change_or_not_at_all(
    db: Database, superuser: psycopg.Connection
) -> None:
    acme = make_tenant(db, "acme").tenant
    add_member(db, acme.id, "second-owner@acme.example.com", MemberRole.OWNER)
    add_member(db, acme.id, "member@acme.example.com", MemberRole.MEMBER)
    apply_transition(db, "acme", Transition.SUSPEND, reason="unpaid", dry_run=True)
    with pytest.raises(ValueError):
        apply_transition(db, "acme", Transition.SUSPEND, reason="")
    assert outbox_rows(superuser) == []
    apply_transition(db, "acme", Transition.SUSPEND, reason="unpaid")
    assert outbox_rows(superuser) == [
        ("suspended", "owner@acme.example.com", "pending", 0, False),
        ("suspended", "second-owner@acme.example.com", "pending", 0, False),
    ]


def test_delivered_once_with_the_server_down_then_up(
    db: Database, superuser: psycopg.Connection, mail: MailServer
) -> None:
    make_tenant(db, "acme")
    apply_transition(db, "acme", Transition.SUSPEND, reason="unpaid invoice", now=T0)
    sender = OutboxSender(db, mail.settings())

    down = sender.send_due(now=T0)
    assert down.sent == [] and len(down.retried) == 1
    assert "connecting to 127.0.0.1" in next(iter(down.retried.values()))
    assert outbox_rows(superuser) == [("suspended", "owner@acme.example.com", "pending", 1, True)]

    mail.start()
    early = sender.send_due(now=T0 + backoff(1) - timedelta(seconds=1))
    assert early.sent == [] and early.retried == {}, "not due before its backoff"
    up = sender.send_due(now=T0 + backoff(1))
    assert len(up.sent) == 1
    assert sender.send_due(now=T0 + timedelta(days=1)).sent == [], "never sent twice"
    assert outbox_rows(superuser) == [("suspended", "owner@acme.example.com", "sent", 2, False)]

    assert len(mail.inbox.messages) == 1
    message = mail.inbox.messages[0]
    assert message["To"] == "owner@acme.example.com"
    assert message["Subject"] == "Your CodexOS workspace acme is suspended"
    assert "Reason: unpaid invoice" in message.get_payload()
    assert message["Message-ID"].endswith("@notifications.codexos.invalid>")


def test_concurrent_senders_deliver_each_row_once(
    db: Database, superuser: psycopg.Connection, mail: MailServer
) -> None:
    mail.start()
    for i in range(6):
        make_tenant(db, f"tenant-{i}")
        apply_transition(db, f"tenant-{i}", Transition.SUSPEND, reason="unpaid", now=T0)
    reports = []

    def run() -> None:
        reports.append(OutboxSender(db, mail.settings()).send_due(now=T0, limit=4))

    threads = [threading.Thread(target=run) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    sent = [row_id for report in reports for row_id in report.sent]
    assert len(sent) == len(set(sent)) == 6
    recipients = sorted(m["To"] for m in mail.inbox.messages)
    assert recipients == sorted(f"owner@tenant-{i}.example.com" for i in range(6))


def test_temporary_and_permanent_refusals(
    db: Database, superuser: psycopg.Connection, mail: MailServer
) -> None:
    make_tenant(db, "acme")
    make_tenant(db, "globex")
    mail.inbox.refuse = {
        "owner@acme.example.com": "451 4.3.0 try again later",
        "owner@globex.example.com": "550 5.1.1 no such user",
    }
    mail.start()
    for slug in ("acme", "globex"):
        apply_transition(db, slug, Transition.SUSPEND, reason="unpaid", now=T0)
    report = OutboxSender(db, mail.settings()).send_due(now=T0)
    assert len(report.retried) == 1 and len(report.failed) == 1
    assert "550" in next(iter(report.failed.values()))
    assert [r[2] for r in outbox_rows(superuser)] == ["pending", "failed"]
    mail.inbox.refuse = {}
    again = OutboxSender(db, mail.settings()).send_due(now=T0 + timedelta(hours=2))
    assert len(again.sent) == 1 and again.failed == {}, "a failed row is left for an operator"
    assert [m["To"] for m in mail.inbox.messages] == ["owner@acme.example.com"]


def test_smtp_settings_name_what_is_missing() -> None:
    with pytest.raises(ConfigurationError, match="TENANCY_SMTP_HOST, TENANCY_SMTP_FROM not set"):
        SmtpSettings.from_env({})
    with pytest.raises(ConfigurationError, match="TENANCY_SMTP_PORT is 'x'; expected a TCP port"):
        SmtpSettings.from_env(
            {
                "TENANCY_SMTP_HOST": "mx",
                "TENANCY_SMTP_FROM": "a@b.example.com",
                "TENANCY_SMTP_PORT": "x",
            }
        )


def test_cli_send_and_list(
    cli_env: RegistryUrls, db: Database, mail: MailServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_tenant(db, "acme")
    apply_transition(db, "acme", Transition.SUSPEND, reason="unpaid")
    mail.start()
    monkeypatch.setenv("TENANCY_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("TENANCY_SMTP_PORT", str(mail.port))
    monkeypatch.setenv("TENANCY_SMTP_FROM", "ops@codexos.example.com")
    monkeypatch.setenv("TENANCY_SMTP_STARTTLS", "false")
    runner = CliRunner()
    sent = runner.invoke(app, ["notifications", "send"])
    # the tenant's welcome message and its suspension notice
    assert sent.exit_code == 0 and "sent 2, to retry 0, failed 0" in sent.output
    listed = runner.invoke(app, ["notifications", "list", "--state", "sent", "--json"])
    assert listed.exit_code == 0 and '"kind": "suspended"' in listed.output
    assert len(mail.inbox.messages) == 2
