"""The tenant lifecycle as rules: which transition is legal from which state, and its result.

Pure: no database, no clock of its own. `plan_transition` takes the tenant as the registry
holds it and the time, and either returns what the transition would change or raises an
error naming the tenant's current state and what the transition expects.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from tenancy.errors import InvalidInputError, TenancyError
from tenancy.tenant import Tenant, TenantStatus

#: A soft-deleted tenant can be restored for this long; after it, it can be purged.
RESTORE_WINDOW = timedelta(days=30)
MAX_REASON = 500


class Transition(StrEnum):
    SUSPEND = "suspend"
    REACTIVATE = "reactivate"
    DELETE = "delete"
    RESTORE = "restore"
    CHANGE_PLAN = "change-plan"
    PURGE = "purge"
    HOLD = "hold"
    RELEASE = "release"


_S = TenantStatus
#: The states each transition starts from.
LEGAL_FROM: dict[Transition, frozenset[TenantStatus]] = {
    Transition.SUSPEND: frozenset({_S.ACTIVE}),
    Transition.REACTIVATE: frozenset({_S.SUSPENDED}),
    Transition.DELETE: frozenset({_S.ACTIVE, _S.SUSPENDED}),
    Transition.RESTORE: frozenset({_S.DELETED}),
    Transition.CHANGE_PLAN: frozenset({_S.ACTIVE, _S.SUSPENDED}),
    Transition.PURGE: frozenset({_S.DELETED}),
    Transition.HOLD: frozenset({_S.ACTIVE, _S.SUSPENDED, _S.DELETED}),
    Transition.RELEASE: frozenset({_S.ACTIVE, _S.SUSPENDED, _S.DELETED}),
}
#: Transitions that lose data or access and ask for a confirmation on the command line.
DESTRUCTIVE = frozenset({Transition.DELETE, Transition.PURGE})


class LifecycleError(TenancyError):
    """A transition that the tenant's current state does not allow."""


class IllegalTransitionError(LifecycleError):
    """The transition does not start from the tenant's current state (or its hold flag)."""

    def __init__(self, slug: str, transition: Transition, current: str, expected: str) -> None:
        self.slug = slug
        self.transition = transition
        self.current = current
        self.expected = expected
        super().__init__(
            f"cannot {transition} tenant {slug!r}: it is {current}; expected {expected}"
        )


class Outcome(StrEnum):
    APPLIED = "applied"
    BLOCKED_BY_HOLD = "blocked_by_hold"


@dataclass(frozen=True)
class TransitionPlan:
    """What a transition does to the tenant row; `outcome` says whether it happens at all."""

    transition: Transition
    from_status: TenantStatus
    to_status: TenantStatus
    outcome: Outcome = Outcome.APPLIED
    changes: dict[str, Any] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "transition": self.transition.value,
            "from": self.from_status.value,
            "to": self.to_status.value,
            "outcome": self.outcome.value,
            "details": self.details,
        }


def _reason(value: str | None, transition: Transition) -> str:
    text = (value or "").strip()
    if not text or len(text) > MAX_REASON:
        raise InvalidInputError(
            f"{transition} reason", value, f"a non-empty text of at most {MAX_REASON} characters"
        )
    return text


def _states(states: frozenset[TenantStatus]) -> str:
    return " or ".join(sorted(s.value for s in states))


def plan_transition(
    tenant: Tenant,
    transition: Transition,
    now: datetime,
    *,
    reason: str | None = None,
    plan: str | None = None,
    force: bool = False,
) -> TransitionPlan:
    """Check `transition` against the tenant's state and say what it changes.

    Raises `IllegalTransitionError` naming the current state, or `InvalidInputError` for a
    missing reason or plan. A purge that meets a legal hold is not an error: it is planned
    with the outcome `blocked_by_hold` and changes nothing.
    """
    current = tenant.status
    if current not in LEGAL_FROM[transition]:
        raise IllegalTransitionError(
            tenant.slug, transition, current.value, _states(LEGAL_FROM[transition])
        )

    def planned(to: TenantStatus = current, **fields: Any) -> TransitionPlan:
        return TransitionPlan(transition, current, to, **fields)

    if transition is Transition.SUSPEND:
        why = _reason(reason, transition)
        return planned(
            _S.SUSPENDED,
            changes={"suspension_reason": why},
            details={"reason": why},
        )
    if transition is Transition.REACTIVATE:
        return planned(
            _S.ACTIVE,
            changes={"suspension_reason": None},
            details={"suspended_for": tenant.suspension_reason},
        )
    if transition is Transition.DELETE:
        why = _reason(reason, transition)
        return planned(
            _S.DELETED,
            changes={"deleted_at": now},
            details={"reason": why, "restorable_until": (now + RESTORE_WINDOW).isoformat()},
        )
    if transition is Transition.RESTORE:
        assert tenant.deleted_at is not None
        until = tenant.deleted_at + RESTORE_WINDOW
        if now >= until:
            raise IllegalTransitionError(
                tenant.slug,
                transition,
                f"deleted since {tenant.deleted_at.isoformat()}",
                f"a restore before {until.isoformat()} (the {RESTORE_WINDOW.days}-day window)",
            )
        back = _S.SUSPENDED if tenant.suspension_reason is not None else _S.ACTIVE
        return planned(back, changes={"deleted_at": None})
    if transition is Transition.CHANGE_PLAN:
        if plan is None or plan == tenant.plan:
            raise InvalidInputError("plan", plan, f"a plan other than the current {tenant.plan!r}")
        return planned(changes={"plan": plan}, details={"from_plan": tenant.plan, "to_plan": plan})
    if transition is Transition.HOLD:
        if tenant.legal_hold:
            raise IllegalTransitionError(
                tenant.slug, transition, "already on legal hold", "a tenant not on hold"
            )
        why = _reason(reason, transition)
        return planned(
            changes={"legal_hold": True, "legal_hold_reason": why},
            details={"reason": why},
        )
    if transition is Transition.RELEASE:
        if not tenant.legal_hold:
            raise IllegalTransitionError(
                tenant.slug, transition, "not on legal hold", "a tenant on legal hold"
            )
        return planned(
            changes={"legal_hold": False, "legal_hold_reason": None},
            details={"held_for": tenant.legal_hold_reason},
        )
    return _plan_purge(tenant, now, force)


def _plan_purge(tenant: Tenant, now: datetime, force: bool) -> TransitionPlan:
    assert tenant.deleted_at is not None
    due = tenant.deleted_at + RESTORE_WINDOW
    details: dict[str, Any] = {"deleted_at": tenant.deleted_at.isoformat(), "due": due.isoformat()}
    if tenant.legal_hold:
        return TransitionPlan(
            Transition.PURGE,
            _S.DELETED,
            _S.DELETED,
            Outcome.BLOCKED_BY_HOLD,
            details={**details, "hold_reason": tenant.legal_hold_reason},
        )
    if now < due and not force:
        raise IllegalTransitionError(
            tenant.slug,
            Transition.PURGE,
            f"deleted since {tenant.deleted_at.isoformat()}",
            f"a purge from {due.isoformat()} on, or the explicit force flag",
        )
    return TransitionPlan(
        Transition.PURGE,
        _S.DELETED,
        _S.PURGED,
        changes={"purged_at": now},
        details={**details, "forced": now < due},
    )
