"""The texts of the welcome message and of an invitation (queued in the notification outbox)."""

from __future__ import annotations

from datetime import datetime


def welcome_message(name: str, slug: str, plan: str) -> tuple[str, str]:
    """Subject and body of the message the owner gets when the tenant is created."""
    subject = f"Welcome to CodexOS: your workspace {slug} is ready"
    body = (
        f"Your workspace {name} ({slug}) is ready on the {plan} plan.\n"
        "You are its owner: invite your team with `tenancy members invite`, or from the "
        "workspace's members page.\n"
    )
    return subject, body


def invitation_message(
    name: str, slug: str, role: str, token: str, expires_at: datetime
) -> tuple[str, str]:
    """Subject and body of an invitation; the body carries the only copy of the token."""
    subject = f"You are invited to the CodexOS workspace {slug}"
    body = (
        f"You are invited to join {name} ({slug}) on CodexOS as {role}.\n\n"
        f"Your invitation code: {token}\n\n"
        "Accept it from the invitation page, or with `tenancy members accept <code>`; decline "
        f"it the same way. It works once and expires at {expires_at.isoformat()}.\n"
    )
    return subject, body
