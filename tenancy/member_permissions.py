"""Who may do what to whom inside a tenant: the one place the role rules live.

Owners manage everyone, owners included; admins manage members and viewers (and may invite,
promote or demote only into those roles); members and viewers manage nobody. Every member may
read the member list and the settings; only owners and admins see invitations and change
settings. The last-owner rule is not here: it depends on the data, see `tenancy.members`.
"""

from __future__ import annotations

from enum import StrEnum

from tenancy.tenant import MemberRole

OWNER, ADMIN, MEMBER, VIEWER = (
    MemberRole.OWNER,
    MemberRole.ADMIN,
    MemberRole.MEMBER,
    MemberRole.VIEWER,
)


class Action(StrEnum):
    """What an actor does; the ones marked "target" act on a member or invitation role."""

    INVITE = "invite"  # target: the role offered
    REVOKE_INVITATION = "revoke_invitation"  # target: the invitation's role
    RESEND_INVITATION = "resend_invitation"  # target: the invitation's role
    SET_ROLE = "set_role"  # target: the member's current role, and then the new one
    REMOVE_MEMBER = "remove_member"  # target: the member's role
    LIST_MEMBERS = "list_members"
    LIST_INVITATIONS = "list_invitations"
    READ_SETTINGS = "read_settings"
    WRITE_SETTINGS = "write_settings"


#: Roles each role manages (invite into, revoke, change the role of, remove).
MANAGES: dict[MemberRole, frozenset[MemberRole]] = {
    OWNER: frozenset({OWNER, ADMIN, MEMBER, VIEWER}),
    ADMIN: frozenset({MEMBER, VIEWER}),
    MEMBER: frozenset(),
    VIEWER: frozenset(),
}
TARGETED = frozenset(
    {
        Action.INVITE,
        Action.REVOKE_INVITATION,
        Action.RESEND_INVITATION,
        Action.SET_ROLE,
        Action.REMOVE_MEMBER,
    }
)
#: Untargeted actions and the roles allowed them.
UNTARGETED: dict[Action, frozenset[MemberRole]] = {
    Action.LIST_MEMBERS: frozenset({OWNER, ADMIN, MEMBER, VIEWER}),
    Action.READ_SETTINGS: frozenset({OWNER, ADMIN, MEMBER, VIEWER}),
    Action.LIST_INVITATIONS: frozenset({OWNER, ADMIN}),
    Action.WRITE_SETTINGS: frozenset({OWNER, ADMIN}),
}


def allowed(actor: MemberRole, action: Action, target: MemberRole | None = None) -> bool:
    """True when a member in role `actor` may perform `action` on a `target` role."""
    if action in TARGETED:
        if target is None:
            raise ValueError(f"action {action} needs a target role")
        return target in MANAGES[actor]
    if target is not None:
        raise ValueError(f"action {action} takes no target role; got {target}")
    return actor in UNTARGETED[action]


def refusal(actor: MemberRole, action: Action, target: MemberRole | None = None) -> str:
    """The message for a refused action, naming the role and what it may manage."""
    what = f"{action.value.replace('_', ' ')}" + (f" for role {target}" if target else "")
    managed = sorted(MANAGES[actor], key=list(MemberRole).index)
    scope = ", ".join(managed) if managed else "nobody"
    return f"a tenant {actor} may not {what}; role {actor} manages: {scope}"
