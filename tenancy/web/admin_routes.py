"""Tenant administration on the request path: members, invitations and settings endpoints
for an app behind `TenancyMiddleware` (the caller is the member the middleware admitted).

Every endpoint acts as that member, so the role rules apply; the library runs in the tenant's
own transaction. Refusals map to: not allowed 403, last owner 409, user limit 409 naming the
limit, bad input 422, unknown id (or another tenant's) 404, a used or expired invitation 410.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, HTTPException, Request

from tenancy import invitations
from tenancy.admin_errors import (
    InvitationError,
    LastOwnerError,
    PermissionDeniedError,
    UserLimitError,
)
from tenancy.db.session import Database
from tenancy.errors import InvalidInputError, NotFoundError
from tenancy.members import Actor, leave, list_members, remove_member, set_role
from tenancy.tenant import MemberRole, Tenant
from tenancy.tenant_settings import get_settings, update_settings
from tenancy.web.deps import current_tenant, current_user

router = APIRouter()
CurrentTenant = Annotated[Tenant, Depends(current_tenant)]
CurrentUser = Annotated[uuid.UUID, Depends(current_user)]

_STATUS: list[tuple[type[Exception], int]] = [
    (PermissionDeniedError, 403),
    (LastOwnerError, 409),
    (UserLimitError, 409),
    (InvitationError, 410),
    (NotFoundError, 404),
    (InvalidInputError, 422),
]


@contextmanager
def _answers() -> Iterator[None]:
    try:
        yield
    except tuple(cls for cls, _ in _STATUS) as exc:
        status = next(code for cls, code in _STATUS if isinstance(exc, cls))
        raise HTTPException(status, {"error": type(exc).__name__, "reason": str(exc)}) from None


def _db(request: Request) -> Database:
    db = getattr(request.app.state, "db", None)
    if not isinstance(db, Database):
        raise HTTPException(500, "app.state.db is not set")
    return db


def _call(fn: Callable[[], Any]) -> Any:
    with _answers():
        return fn()


@router.get("/members")
def members(request: Request, tenant: CurrentTenant, user: CurrentUser) -> list[dict[str, Any]]:
    found = _call(lambda: list_members(_db(request), tenant.id, Actor.member(user)))
    return [m.to_json() for m in found]


@router.put("/members/{member_id}/role")
def change_role(
    member_id: str,
    request: Request,
    tenant: CurrentTenant,
    user: CurrentUser,
    role: Annotated[MemberRole, Body(embed=True)],
) -> dict[str, str]:
    previous = _call(lambda: set_role(_db(request), tenant.id, Actor.member(user), member_id, role))
    return {"from": previous.value, "to": role.value}


@router.delete("/members/{member_id}")
def remove(
    member_id: str, request: Request, tenant: CurrentTenant, user: CurrentUser
) -> dict[str, str]:
    previous = _call(lambda: remove_member(_db(request), tenant.id, Actor.member(user), member_id))
    return {"removed": member_id, "role": previous.value}


@router.post("/members/leave")
def leave_tenant(request: Request, tenant: CurrentTenant, user: CurrentUser) -> dict[str, str]:
    previous = _call(lambda: leave(_db(request), tenant.id, user))
    return {"left": str(tenant.id), "role": previous.value}


@router.get("/invitations")
def pending(request: Request, tenant: CurrentTenant, user: CurrentUser) -> list[dict[str, Any]]:
    found = _call(lambda: invitations.list_pending(_db(request), tenant.id, Actor.member(user)))
    return [i.to_json() for i in found]


@router.post("/invitations", status_code=201)
def invite(
    request: Request,
    tenant: CurrentTenant,
    user: CurrentUser,
    email: Annotated[str, Body()],
    role: Annotated[MemberRole, Body()] = MemberRole.MEMBER,
) -> dict[str, Any]:
    issued = _call(
        lambda: invitations.invite(_db(request), tenant.id, Actor.member(user), email, role)
    )
    return dict(issued.invitation.to_json())  # the code goes by e-mail only


@router.post("/invitations/{invitation_id}/resend")
def resend(
    invitation_id: str, request: Request, tenant: CurrentTenant, user: CurrentUser
) -> dict[str, Any]:
    issued = _call(
        lambda: invitations.resend(_db(request), tenant.id, Actor.member(user), invitation_id)
    )
    return dict(issued.invitation.to_json())


@router.delete("/invitations/{invitation_id}")
def revoke(
    invitation_id: str, request: Request, tenant: CurrentTenant, user: CurrentUser
) -> dict[str, Any]:
    found = _call(
        lambda: invitations.revoke(_db(request), tenant.id, Actor.member(user), invitation_id)
    )
    return {**found.to_json(), "state": "revoked"}


@router.get("/settings")
def read_settings(request: Request, tenant: CurrentTenant, user: CurrentUser) -> dict[str, Any]:
    return dict(_call(lambda: get_settings(_db(request), tenant.id, Actor.member(user))))


@router.patch("/settings")
def change_settings(
    request: Request,
    tenant: CurrentTenant,
    user: CurrentUser,
    changes: Annotated[dict[str, Any], Body()],
) -> dict[str, Any]:
    """Body: dotted keys to values (`{"customizations.locale": "fr"}`); null removes a key."""
    stored = _call(lambda: update_settings(_db(request), tenant.id, Actor.member(user), changes))
    return dict(stored.to_data())
