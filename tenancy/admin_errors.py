"""Errors of tenant administration (members, invitations, settings, entitlements)."""

from __future__ import annotations

from tenancy.errors import TenancyError


class PermissionDeniedError(TenancyError):
    """The actor's role does not allow the action (or the actor is not a member at all)."""

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


class LastOwnerError(TenancyError):
    """The change would leave the tenant without an owner."""

    def __init__(self, tenant: str, action: str) -> None:
        self.tenant = tenant
        self.action = action
        super().__init__(
            f"cannot {action}: it would leave tenant {tenant} without an owner; "
            "make another member an owner first"
        )


class UserLimitError(TenancyError):
    """Members plus pending invitations would exceed the plan's user limit."""

    def __init__(self, tenant: str, plan: str, limit: int, in_use: int) -> None:
        self.tenant = tenant
        self.plan = plan
        self.limit = limit
        self.in_use = in_use
        super().__init__(
            f"tenant {tenant} is at its user limit: `users` is {limit} on plan {plan} "
            f"(with overrides) and {in_use} are members or pending invitations"
        )


class InvitationError(TenancyError):
    """An invitation token that is unknown, wrong, expired or already used."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"invitation {reason}")


class FeatureNotAvailableError(TenancyError):
    """The tenant's plan does not include the feature and no override grants it."""

    def __init__(self, feature: str, plan: str, plans_with: list[str]) -> None:
        self.feature = feature
        self.plan = plan
        self.plans_with = plans_with
        where = ", ".join(plans_with) if plans_with else "no plan"
        super().__init__(
            f"feature `{feature}` is not available on plan {plan}; it is included in: {where}"
        )
