"""The lifecycle's rules, without a database: every transition from every state."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from tenancy.errors import InvalidInputError
from tenancy.lifecycle import (
    LEGAL_FROM,
    RESTORE_WINDOW,
    IllegalTransitionError,
    Outcome,
    Transition,
    plan_transition,
)
from tenancy.tenant import Tenant, TenantStatus

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)


def tenant(status: TenantStatus, **fields: object) -> Tenant:
    base = Tenant(
        id=uuid.uuid5(uuid.NAMESPACE_DNS, "acme"),
        slug="acme",
        name="Acme",
        domain="acme.example.com",
        status=status,
        plan="pro",
        limit_overrides={},
        settings={},
        created_at=NOW - timedelta(days=400),
        updated_at=NOW,
        status_changed_at=NOW,
        deleted_at=NOW - timedelta(days=1)
        if status in (TenantStatus.DELETED, TenantStatus.PURGED)
        else None,
        legal_hold=False,
        suspension_reason="unpaid" if status is TenantStatus.SUSPENDED else None,
        purged_at=NOW if status is TenantStatus.PURGED else None,
    )
    return dataclasses.replace(base, **fields)  # type: ignore[arg-type]


ARGS = {"reason": "because", "plan": "enterprise", "force": True}
EXPECTED_TO = {
    Transition.SUSPEND: TenantStatus.SUSPENDED,
    Transition.REACTIVATE: TenantStatus.ACTIVE,
    Transition.DELETE: TenantStatus.DELETED,
    Transition.PURGE: TenantStatus.PURGED,
}


@pytest.mark.parametrize("status", list(TenantStatus))
@pytest.mark.parametrize("transition", list(Transition))
def test_every_transition_from_every_state(status: TenantStatus, transition: Transition) -> None:
    subject = tenant(
        status,
        legal_hold=transition is Transition.RELEASE,
        legal_hold_reason="case 1" if transition is Transition.RELEASE else None,
    )
    if status not in LEGAL_FROM[transition]:
        with pytest.raises(IllegalTransitionError, match=f"it is {status.value}; expected") as info:
            plan_transition(subject, transition, NOW, **ARGS)  # type: ignore[arg-type]
        assert info.value.current == status.value
        return
    plan = plan_transition(subject, transition, NOW, **ARGS)  # type: ignore[arg-type]
    assert plan.from_status is status and plan.outcome is Outcome.APPLIED
    assert plan.to_status is EXPECTED_TO.get(transition, plan.to_status)
    if transition in (Transition.CHANGE_PLAN, Transition.HOLD, Transition.RELEASE):
        assert plan.to_status is status


def test_no_transition_leaves_purged() -> None:
    assert all(TenantStatus.PURGED not in states for states in LEGAL_FROM.values())


@pytest.mark.parametrize("transition", [Transition.SUSPEND, Transition.DELETE, Transition.HOLD])
@pytest.mark.parametrize("reason", [None, "", "   ", "x" * 501])
def test_a_reason_is_required(transition: Transition, reason: str | None) -> None:
    with pytest.raises(InvalidInputError, match=f"{transition} reason is"):
        plan_transition(tenant(TenantStatus.ACTIVE), transition, NOW, reason=reason)


def test_restore_returns_to_the_state_before_the_delete() -> None:
    was_suspended = tenant(TenantStatus.DELETED, suspension_reason="unpaid")
    assert (
        plan_transition(was_suspended, Transition.RESTORE, NOW).to_status is TenantStatus.SUSPENDED
    )
    assert plan_transition(tenant(TenantStatus.DELETED), Transition.RESTORE, NOW).to_status is (
        TenantStatus.ACTIVE
    )


def test_restore_window_to_the_second() -> None:
    deleted = tenant(TenantStatus.DELETED, deleted_at=NOW)
    plan_transition(deleted, Transition.RESTORE, NOW + RESTORE_WINDOW - SECOND)
    with pytest.raises(IllegalTransitionError, match=r"deleted since .*expected a restore before"):
        plan_transition(deleted, Transition.RESTORE, NOW + RESTORE_WINDOW)


def test_purge_waits_30_days_unless_forced_to_the_second() -> None:
    deleted = tenant(TenantStatus.DELETED, deleted_at=NOW)
    with pytest.raises(
        IllegalTransitionError, match=r"expected a purge from .* or the explicit force"
    ):
        plan_transition(deleted, Transition.PURGE, NOW + RESTORE_WINDOW - SECOND)
    on_time = plan_transition(deleted, Transition.PURGE, NOW + RESTORE_WINDOW)
    assert on_time.to_status is TenantStatus.PURGED and on_time.details["forced"] is False
    early = plan_transition(deleted, Transition.PURGE, NOW + SECOND, force=True)
    assert early.to_status is TenantStatus.PURGED and early.details["forced"] is True


@pytest.mark.parametrize("force", [False, True])
def test_legal_hold_blocks_a_purge_without_failing(force: bool) -> None:
    held = tenant(
        TenantStatus.DELETED,
        deleted_at=NOW - timedelta(days=400),
        legal_hold=True,
        legal_hold_reason="case 1",
    )
    plan = plan_transition(held, Transition.PURGE, NOW, force=force)
    assert plan.outcome is Outcome.BLOCKED_BY_HOLD and plan.to_status is TenantStatus.DELETED
    assert plan.changes == {}


def test_hold_and_release_name_the_current_hold() -> None:
    held = tenant(TenantStatus.ACTIVE, legal_hold=True, legal_hold_reason="case 1")
    with pytest.raises(IllegalTransitionError, match="it is already on legal hold"):
        plan_transition(held, Transition.HOLD, NOW, reason="again")
    with pytest.raises(IllegalTransitionError, match="it is not on legal hold"):
        plan_transition(tenant(TenantStatus.ACTIVE), Transition.RELEASE, NOW)


def test_change_plan_needs_another_plan() -> None:
    with pytest.raises(InvalidInputError, match="plan is 'pro'; expected a plan other than"):
        plan_transition(tenant(TenantStatus.ACTIVE), Transition.CHANGE_PLAN, NOW, plan="pro")
