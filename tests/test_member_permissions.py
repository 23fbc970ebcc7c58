"""The role rules as a table: every actor role x action x target role, written out by hand.

`EXPECTED` is the product rule restated independently of `tenancy.member_permissions`: owners
manage everyone, admins manage members and viewers, members and viewers manage nobody; all
members read the member list and settings, owners and admins see invitations and write
settings. Any change to the rules must change this table too.
"""

from __future__ import annotations

import itertools

import pytest

from tenancy.member_permissions import Action, allowed, refusal
from tenancy.tenant import MemberRole

OW, A, M, V = "owner", "admin", "member", "viewer"
TARGETED = ["invite", "revoke_invitation", "resend_invitation", "set_role", "remove_member"]
MANAGED = {OW: {OW, A, M, V}, A: {M, V}, M: set(), V: set()}

#: (actor, action, target) -> allowed, for targeted actions: 4 x 5 x 4 = 80 rows.
EXPECTED_TARGETED: dict[tuple[str, str, str], bool] = {
    # owner: everyone
    **{(OW, act, t): True for act in TARGETED for t in (OW, A, M, V)},
    # admin: members and viewers only
    **{(A, act, OW): False for act in TARGETED},
    **{(A, act, A): False for act in TARGETED},
    **{(A, act, M): True for act in TARGETED},
    **{(A, act, V): True for act in TARGETED},
    # member and viewer: nobody
    **{(M, act, t): False for act in TARGETED for t in (OW, A, M, V)},
    **{(V, act, t): False for act in TARGETED for t in (OW, A, M, V)},
}
EXPECTED_UNTARGETED: dict[tuple[str, str], bool] = {
    (OW, "list_members"): True,
    (A, "list_members"): True,
    (M, "list_members"): True,
    (V, "list_members"): True,
    (OW, "read_settings"): True,
    (A, "read_settings"): True,
    (M, "read_settings"): True,
    (V, "read_settings"): True,
    (OW, "list_invitations"): True,
    (A, "list_invitations"): True,
    (M, "list_invitations"): False,
    (V, "list_invitations"): False,
    (OW, "write_settings"): True,
    (A, "write_settings"): True,
    (M, "write_settings"): False,
    (V, "write_settings"): False,
}


def test_the_table_covers_every_combination() -> None:
    roles = [r.value for r in MemberRole]
    targeted = {(a, act, t) for a, act, t in itertools.product(roles, TARGETED, roles)}
    untargeted = {(a, act.value) for a in roles for act in Action if act.value not in TARGETED}
    assert set(EXPECTED_TARGETED) == targeted and len(targeted) == 80
    assert set(EXPECTED_UNTARGETED) == untargeted
    assert {a.value for a in Action} == set(TARGETED) | {act for _, act in untargeted}


@pytest.mark.parametrize(("actor", "action", "target"), sorted(EXPECTED_TARGETED))
def test_targeted_action(actor: str, action: str, target: str) -> None:
    expected = EXPECTED_TARGETED[(actor, action, target)]
    assert allowed(MemberRole(actor), Action(action), MemberRole(target)) is expected
    assert expected is (target in MANAGED[actor])


@pytest.mark.parametrize(("actor", "action"), sorted(EXPECTED_UNTARGETED))
def test_untargeted_action(actor: str, action: str) -> None:
    assert allowed(MemberRole(actor), Action(action)) is EXPECTED_UNTARGETED[(actor, action)]


def test_a_targeted_action_without_a_target_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="needs a target role"):
        allowed(MemberRole.OWNER, Action.SET_ROLE)
    with pytest.raises(ValueError, match="takes no target role"):
        allowed(MemberRole.OWNER, Action.LIST_MEMBERS, MemberRole.ADMIN)


def test_a_refusal_names_the_role_and_what_it_manages() -> None:
    assert refusal(MemberRole.ADMIN, Action.SET_ROLE, MemberRole.OWNER) == (
        "a tenant admin may not set role for role owner; role admin manages: member, viewer"
    )
    assert refusal(MemberRole.VIEWER, Action.INVITE, MemberRole.VIEWER).endswith("manages: nobody")
