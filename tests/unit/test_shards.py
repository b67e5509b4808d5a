"""The pure rules of sharding and of a warm standby: who reconciles what, and when."""

from __future__ import annotations

import pytest

from rollouts.controller.core.shards import SHARD_LABEL, field_manager, in_shard, lease_name, validate_shard
from rollouts.runtime.manager import is_ready, may_reconcile


@pytest.mark.parametrize(
    ("labels", "shard", "mine"),
    [
        ({SHARD_LABEL: "b"}, "b", True),
        ({SHARD_LABEL: "b"}, "c", False),
        ({SHARD_LABEL: "b"}, None, False),  # the default controller leaves labelled rollouts alone
        ({}, None, True),
        (None, None, True),
        ({SHARD_LABEL: ""}, None, True),  # an empty value is no shard
        ({}, "b", False),  # a sharded controller never takes an unlabelled rollout
    ],
)
def test_every_rollout_belongs_to_exactly_one_shard(
    labels: dict[str, str] | None, shard: str | None, mine: bool
) -> None:
    assert in_shard(labels, shard) is mine


def test_each_shard_has_its_own_lease_and_field_manager() -> None:
    assert lease_name(None) == "model-rollouts-controller"
    assert lease_name("b") == "model-rollouts-controller-b"
    assert lease_name("b", base="mine") == "mine-b"
    assert field_manager("b") != field_manager(None)


@pytest.mark.parametrize("name", ["B", "b_c", "-b", "b-", "", "x" * 41])
def test_a_shard_name_must_fit_a_label_value_and_a_lease_name(name: str) -> None:
    with pytest.raises(ValueError, match="shard name"):
        validate_shard(name)


def test_workers_start_only_leading_with_synced_caches_in_either_order() -> None:
    assert may_reconcile(leading=True, synced=True)
    assert not may_reconcile(leading=True, synced=False)  # won the Lease before the caches filled
    assert not may_reconcile(leading=False, synced=True)  # a warm standby


def test_a_standby_is_ready_once_warm_and_a_leader_once_serving() -> None:
    assert not is_ready(ended=False, synced=False, leading=False, serving=False)
    assert is_ready(ended=False, synced=True, leading=False, serving=False)
    assert not is_ready(ended=False, synced=True, leading=True, serving=False)
    assert is_ready(ended=False, synced=True, leading=True, serving=True)
    assert not is_ready(ended=True, synced=True, leading=True, serving=True)
    # Synced but not warm (a rollout's pods not listed yet): not ready to take over; a leader
    # that serves is ready whatever its warm checks say (each rollout waits for its own pods).
    assert not is_ready(ended=False, synced=True, leading=False, serving=False, warm=False)
    assert is_ready(ended=False, synced=True, leading=True, serving=True, warm=False)
