"""Ownership of Deployments and route rules between rollouts (rollouts.controller.core.claims)."""

from __future__ import annotations

from rollouts.controller.core.claims import Claimant, conflict, owned_elsewhere

SHARED = frozenset({"Deployment fraud-v1", "Deployment fraud-v2"})


def claimant(name: str, created: str, objects: frozenset[str] = SHARED, active: bool = True) -> Claimant:
    return Claimant(name=name, created=created, objects=objects, active=active)


def test_the_older_active_rollout_owns_shared_objects() -> None:
    first = claimant("a", "2026-11-28T06:00:00Z")
    second = claimant("b", "2026-11-28T06:05:00Z", frozenset({"Deployment fraud-v1", "Deployment other"}))
    assert conflict(first, [first, second]) is None
    message = conflict(second, [first, second])
    assert message is not None
    assert message.startswith("Deployment fraud-v1 belongs to ModelRollout a (created earlier)")


def test_the_same_second_is_broken_by_name_the_same_way_from_both_sides() -> None:
    a = claimant("a", "2026-11-28T06:00:00Z")
    b = claimant("b", "2026-11-28T06:00:00Z")
    assert conflict(a, [b]) is None
    assert conflict(b, [a]) is not None


def test_an_ended_rollout_yields_to_any_active_one_and_blocks_none() -> None:
    old_done = claimant("old", "2026-01-01T00:00:00Z", active=False)
    new = claimant("new", "2026-11-28T06:00:00Z")
    assert conflict(new, [old_done]) is None
    message = conflict(old_done, [new])
    assert message is not None and "which is active while this one has ended" in message


def test_disjoint_rollouts_do_not_conflict_and_route_rules_count() -> None:
    route = frozenset({"HTTPRoute r rule 0"})
    a = claimant("a", "2026-11-28T06:00:00Z", route | {"Deployment x"})
    b = claimant("b", "2026-11-28T06:01:00Z", route | {"Deployment y"})
    c = claimant("c", "2026-11-28T06:02:00Z", frozenset({"HTTPRoute r rule 1", "Deployment z"}))
    assert conflict(c, [a, b]) is None
    message = conflict(b, [a, c])
    assert message is not None and message.startswith("HTTPRoute r rule 0 belongs to ModelRollout a")


def test_a_replaced_candidate_named_by_another_active_rollout_is_left_alone() -> None:
    others = [claimant("a", "2026-11-28T06:00:00Z"), claimant("z", "2026-11-28T06:00:00Z", active=False)]
    assert owned_elsewhere("b", "fraud-v2", others)
    assert not owned_elsewhere("a", "fraud-v2", others)
    assert not owned_elsewhere("b", "fraud-v9", others)
