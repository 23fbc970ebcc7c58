"""Deliver the notification outbox by SMTP: retried until the server takes it, once per row.

A sender claims due rows (`FOR UPDATE SKIP LOCKED`, then a lease in `claimed_until`) and
commits the claim before it talks to the mail server, so two senders never hold the same row.
A row is marked `sent` as soon as the server accepts it; a refusal for good (5xx) marks it
`failed` with the server's answer; anything else (server down, timeout, 4xx) puts it back
with a growing delay. Nothing is dropped: a `failed` row stays for an operator to see.

The one window left is a crash after the server accepted a message and before `sent` was
written: the lease then runs out and the row is sent again, with the same `Message-ID`, which
mail systems use to drop the copy.
"""

from __future__ import annotations

import os
import smtplib
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any

from tenancy.db.session import Database
from tenancy.errors import ConfigurationError
from tenancy.validation import validate_email_address

BACKOFF_BASE = timedelta(seconds=30)
BACKOFF_MAX = timedelta(hours=1)
LEASE = timedelta(minutes=5)


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    sender: str
    username: str | None = None
    password: str | None = None
    starttls: bool = False
    timeout_seconds: float = 10.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> SmtpSettings:
        """`TENANCY_SMTP_*`; host and sender are required (no silent local fallback)."""
        env = os.environ if environ is None else environ
        missing = [v for v in ("TENANCY_SMTP_HOST", "TENANCY_SMTP_FROM") if not env.get(v)]
        if missing:
            raise ConfigurationError(
                f"{', '.join(missing)} not set; the sender needs a mail server"
            )
        port = env.get("TENANCY_SMTP_PORT") or "587"
        if not port.isdigit() or not 0 < int(port) < 65536:
            raise ConfigurationError(f"TENANCY_SMTP_PORT is {port!r}; expected a TCP port")
        return cls(
            host=env["TENANCY_SMTP_HOST"],
            port=int(port),
            sender=validate_email_address(env["TENANCY_SMTP_FROM"], field="TENANCY_SMTP_FROM"),
            username=env.get("TENANCY_SMTP_USERNAME") or None,
            password=env.get("TENANCY_SMTP_PASSWORD") or None,
            starttls=(env.get("TENANCY_SMTP_STARTTLS") or "true").lower() != "false",
        )


@dataclass
class SendReport:
    sent: list[int] = field(default_factory=list)
    retried: dict[int, str] = field(default_factory=dict)
    failed: dict[int, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"sent": self.sent, "retried": self.retried, "failed": self.failed}


class _Permanent(Exception):
    """The server refused the message for good."""


def backoff(attempts: int) -> timedelta:
    """30 s, 1 min, 2 min, ... capped at an hour."""
    delay: timedelta = BACKOFF_BASE * 2 ** max(attempts - 1, 0)
    return min(delay, BACKOFF_MAX)


class OutboxSender:
    """Send what is due in the outbox; `now` is injectable so tests control the clock."""

    def __init__(self, db: Database, smtp: SmtpSettings) -> None:
        self._db = db
        self._smtp = smtp

    def _claim(self, token: uuid.UUID, now: datetime, limit: int) -> list[dict[str, Any]]:
        with self._db.platform() as conn:
            return conn.execute(
                "UPDATE registry.notification_outbox SET claimed_until = %s, claim_token = %s, "
                "attempts = attempts + 1 WHERE id IN (SELECT id FROM registry.notification_outbox "
                "  WHERE state = 'pending' AND next_attempt_at <= %s "
                "  AND (claimed_until IS NULL OR claimed_until <= %s) "
                "  ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED) "
                "RETURNING id, recipient, subject, body, message_id, created_at, attempts",
                (now + LEASE, token, now, now, limit),
            ).fetchall()

    def _finish(
        self, token: uuid.UUID, row: dict[str, Any], state: str, now: datetime, error: str | None
    ) -> None:
        """Record the outcome, unless the lease ran out and another sender claimed the row."""
        with self._db.platform() as conn:
            conn.execute(
                "UPDATE registry.notification_outbox SET state = %s, claimed_until = NULL, "
                "claim_token = NULL, sent_at = CASE WHEN %s = 'sent' THEN %s::timestamptz END, "
                "last_error = %s, next_attempt_at = %s WHERE id = %s AND claim_token = %s",
                (state, state, now, error, now + backoff(int(row["attempts"])), row["id"], token),
            )

    def _message(self, row: dict[str, Any]) -> EmailMessage:
        message = EmailMessage()
        message["From"] = self._smtp.sender
        message["To"] = str(row["recipient"])
        message["Subject"] = str(row["subject"])
        message["Message-ID"] = str(row["message_id"])
        message["Date"] = format_datetime(row["created_at"])
        message.set_content(str(row["body"]))
        return message

    def _connect(self) -> smtplib.SMTP:
        client = smtplib.SMTP(self._smtp.host, self._smtp.port, timeout=self._smtp.timeout_seconds)
        if self._smtp.starttls:
            client.starttls()
        if self._smtp.username and self._smtp.password:
            client.login(self._smtp.username, self._smtp.password)
        return client

    def send_due(self, now: datetime | None = None, limit: int = 100) -> SendReport:
        """Claim up to `limit` due rows and deliver them over one SMTP connection."""
        at = now or datetime.now(UTC)
        report = SendReport()
        token = uuid.uuid4()
        rows = self._claim(token, at, limit)
        if not rows:
            return report
        try:
            client = self._connect()
        except (OSError, smtplib.SMTPException) as exc:  # down: everything waits for the next run
            for row in rows:
                error = f"connecting to {self._smtp.host}:{self._smtp.port}: {exc!r}"
                self._finish(token, row, "pending", at, error)
                report.retried[int(row["id"])] = error
            return report
        try:
            for row in rows:
                row_id = int(row["id"])
                try:
                    _deliver(client, self._message(row))
                except _Permanent as exc:
                    self._finish(token, row, "failed", at, str(exc))
                    report.failed[row_id] = str(exc)
                except (OSError, smtplib.SMTPException) as exc:
                    self._finish(token, row, "pending", at, repr(exc))
                    report.retried[row_id] = repr(exc)
                else:
                    self._finish(token, row, "sent", at, None)
                    report.sent.append(row_id)
        finally:
            try:
                client.quit()
            except (OSError, smtplib.SMTPException):
                client.close()
        return report


def _deliver(client: smtplib.SMTP, message: EmailMessage) -> None:
    """Send one message; a 5xx answer is permanent, everything else may pass on a retry."""
    try:
        client.send_message(message)
    except smtplib.SMTPRecipientsRefused as exc:
        codes = [code for code, _ in exc.recipients.values()]
        if all(code >= 500 for code in codes):
            raise _Permanent(f"recipient refused: {exc.recipients}") from None
        raise
    except smtplib.SMTPResponseException as exc:
        if exc.smtp_code >= 500:
            raise _Permanent(f"refused with {exc.smtp_code}: {exc.smtp_error!r}") from None
        raise
