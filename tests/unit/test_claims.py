"""ID-token claims -> the principal koe acts for (domain/claims.py): the groups in every shape
Cognito and API Gateway write them, the most powerful CX role, the scope each role needs, and that
no token ever makes an operations caller. Fictional users only."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.domain.claims import groups_of, id_token_claims, principal_from_claims, role_of
from chalicelib.domain.principal import Principal, Role

SUB = "3f1c9a52-7d0e-4b8e-9a11-0c5d2e7b6a01"


def claims(groups, **extra):
    return {"sub": SUB, "cognito:groups": groups, **extra}


@pytest.mark.parametrize("written, expected", [
    (["agent"], {"agent"}),                                   # the ID token itself: a JSON list
    ("cx_admin", {"cx_admin"}),                               # API Gateway REST: one group, a string
    ("agent,branch_manager", {"agent", "branch_manager"}),    # ... several: comma-separated
    ("[agent branch_manager]", {"agent", "branch_manager"}),  # ... or bracketed, space-separated
    ('["agent", "cx_admin"]', {"agent", "cx_admin"}),         # a JSON list in a string
    (" agent , cx_admin ", {"agent", "cx_admin"}),
    ("", set()), ("[]", set()), (None, set()), (42, set()), ({"agent": True}, set()), ([1, None], set()),
])
def test_groups_are_read_in_every_shape_they_arrive_in(written, expected):
    assert groups_of(written) == expected


def test_the_most_powerful_cx_group_wins_and_operations_is_never_a_role():
    assert role_of(frozenset({"agent", "branch_manager", "cx_admin"})) is Role.CX_ADMIN
    assert role_of(frozenset({"agent", "branch_manager"})) is Role.BRANCH_MANAGER
    assert role_of(frozenset({"agent", "operations"})) is Role.AGENT
    assert role_of(frozenset({"operations"})) is None
    assert role_of(frozenset({"Agent", "cx-admin", "admins"})) is None       # exact names only


def test_a_cx_admin_sees_everything_and_carries_no_scope():
    principal = principal_from_claims(claims("agent,cx_admin", **{"custom:branch": "tokyo-01"}))
    assert principal == Principal(subject=SUB, role=Role.CX_ADMIN)


def test_a_branch_manager_carries_their_branch_and_needs_one():
    assert principal_from_claims(claims(["branch_manager"], **{"custom:branch": "tokyo-01"})) == Principal(
        subject=SUB, role=Role.BRANCH_MANAGER, branch="tokyo-01")
    for missing in ({}, {"custom:branch": ""}, {"custom:branch": "  "}, {"custom:branch": 7}):
        assert principal_from_claims(claims(["branch_manager"], **missing)) is None


def test_an_agent_carries_their_agent_id_and_branch_and_needs_the_id():
    assert principal_from_claims(claims("[agent]", **{"custom:agent_id": "A-12", "custom:branch": "tokyo-01"})) == \
        Principal(subject=SUB, role=Role.AGENT, branch="tokyo-01", agent_id="A-12")
    assert principal_from_claims(claims("agent", **{"custom:agent_id": "A-12"})) == Principal(
        subject=SUB, role=Role.AGENT, agent_id="A-12")
    assert principal_from_claims(claims("agent", **{"custom:branch": "tokyo-01"})) is None


def test_a_branch_manager_without_a_branch_is_refused_not_demoted_to_agent():
    # Given a user in both groups whose branch was never set
    both = claims("agent,branch_manager", **{"custom:agent_id": "A-12"})
    # Then the set-up mistake shows: nobody, rather than the lesser role
    assert principal_from_claims(both) is None


@pytest.mark.parametrize("broken", [
    {"cognito:groups": "cx_admin"},                               # no sub
    claims("cx_admin", sub=""), claims("cx_admin", sub=12),
    claims("cx_admin", sub="hanako@example.jp"),                  # an email is never the subject
    claims("cx_admin", sub="x" * 129), claims("cx_admin", sub="a\nb"),
    claims("operations"), claims(["operations"]), claims(""), {"sub": SUB},
    claims("agent", **{"custom:agent_id": "A-12\u0000"}),         # control characters are not an id
])
def test_claims_that_name_nobody_give_no_principal(broken):
    assert principal_from_claims(broken) is None


def test_the_claims_of_a_token_round_trip_to_its_principal():
    for role, scope in ((Role.CX_ADMIN, {}), (Role.BRANCH_MANAGER, {"branch": "osaka-02"}),
                        (Role.AGENT, {"agent_id": "A-7", "branch": "osaka-02"})):
        principal = principal_from_claims(id_token_claims("local-user", role, **scope))
        assert principal is not None and principal.role is role


@pytest.mark.parametrize("role, scope", [(Role.OPERATIONS, {}), (Role.BRANCH_MANAGER, {}),
                                         (Role.AGENT, {"branch": "osaka-02"})])
def test_a_token_cannot_be_made_for_operations_or_without_its_scope(role, scope):
    with pytest.raises(ValueError):
        id_token_claims("local-user", role, **scope)


@given(st.dictionaries(st.sampled_from(["sub", "cognito:groups", "custom:branch", "custom:agent_id", "other"]),
                       st.none() | st.booleans() | st.integers() | st.text(max_size=40)
                       | st.lists(st.text(max_size=20), max_size=4)))
def test_any_claims_give_a_cx_principal_or_nobody_never_an_error(anything):
    principal = principal_from_claims(anything)
    assert principal is None or principal.role in (Role.CX_ADMIN, Role.BRANCH_MANAGER, Role.AGENT)
