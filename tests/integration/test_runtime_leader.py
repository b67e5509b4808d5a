"""Leader election on a real Lease: one leader, hand-over on release, take-over after a crash.

Where the rule is about time (a take-over only after a whole lease, a leader that cannot renew
gives up at the renew deadline), the elector under test runs on a ManualClock: the test moves
its time one retry at a time and waits until the elector has tried, so every assertion is
about an exact instant and none about how fast anything ran.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from rollouts.runtime.clock import ManualClock
from rollouts.runtime.kube import LEASES, Kube, PatchType
from rollouts.runtime.leader import JITTER, LeaderElector, LeaderRecord, LeaseTiming

pytestmark = pytest.mark.cluster

WAIT = 30.0  # seconds before calling a wait hung; never a speed assertion
FAST = LeaseTiming(lease_duration=3, renew_deadline=2, retry_period=0.4)  # for the real-time tests
DEFAULT = LeaseTiming()  # 15 s / 10 s / 2 s, for the manual-clock tests
STEP = DEFAULT.retry_period * JITTER  # one advance ends any retry wait, jittered or not


@pytest.fixture
def elector(kube: Kube, namespace: str) -> Iterator[Callable[..., LeaderElector]]:
    made: list[LeaderElector] = []

    def make(identity: str, **options: Any) -> LeaderElector:
        candidate = LeaderElector(kube, namespace, "controller", identity, **options)
        made.append(candidate)
        candidate.start()
        return candidate

    yield make
    for candidate in made:
        candidate.stop()


def holder(kube: Kube, namespace: str) -> dict[str, Any]:
    spec: dict[str, Any] = kube.get(LEASES, "controller", namespace)["spec"]
    return spec


def wait_for_renewals(kube: Kube, namespace: str, count: int) -> None:
    """Return after the Lease's renewTime changed ``count`` times (each is a retry period or more)."""
    seen = holder(kube, namespace)["renewTime"]
    deadline = time.monotonic() + WAIT
    while count and time.monotonic() < deadline:
        renewed = holder(kube, namespace)["renewTime"]
        if renewed != seen:
            seen, count = renewed, count - 1
        time.sleep(0.05)
    assert count == 0, "the leader stopped renewing"


def test_of_two_candidates_exactly_one_leads_and_the_other_follows_on_release(
    kube: Kube, namespace: str, elector: Callable[..., LeaderElector]
) -> None:
    first, second = elector("first", timing=FAST), elector("second", timing=FAST)
    deadline = time.monotonic() + WAIT
    while not (first.is_leader or second.is_leader) and time.monotonic() < deadline:
        time.sleep(0.05)
    leader, follower = (first, second) if first.is_leader else (second, first)
    wait_for_renewals(kube, namespace, 3)  # the follower has tried several times meanwhile
    assert [leader.is_leader, follower.is_leader] == [True, False]
    assert leader.still_leader()
    assert not follower.still_leader()
    assert holder(kube, namespace)["holderIdentity"] == leader.identity

    leader.stop()
    assert not leader.still_leader()
    assert follower.wait_until_leading(WAIT)
    lease = holder(kube, namespace)
    assert (lease["holderIdentity"], lease["leaseTransitions"]) == (follower.identity, 1)


def test_a_released_lease_is_taken_at_the_next_try_not_after_a_lease(
    kube: Kube, namespace: str, elector: Callable[..., LeaderElector]
) -> None:
    first = elector("first", timing=DEFAULT)
    assert first.wait_until_leading(WAIT)
    clock = ManualClock()
    second = elector("second", timing=DEFAULT, clock=clock)
    assert clock.wait_for_waits(1)  # tried at t=0: held by first
    assert not second.is_leader
    first.stop()
    assert holder(kube, namespace)["holderIdentity"] == ""
    clock.advance(STEP)  # t = 2.4 s, far from the 15 s lease
    assert clock.wait_for_waits(2)
    assert second.is_leader


def test_a_candidate_told_of_a_release_takes_the_lease_at_once_not_at_its_next_try(
    kube: Kube, namespace: str, elector: Callable[..., LeaderElector]
) -> None:
    first = elector("first", timing=DEFAULT)
    assert first.wait_until_leading(WAIT)
    clock = ManualClock()  # never advanced: the 2-2.4 s retry pause never ends by itself
    took_over = threading.Event()
    second = elector("second", timing=DEFAULT, clock=clock, on_started_leading=took_over.set)
    assert clock.wait_for_waits(1)  # tried at t=0: held by first
    second.lease_changed(LeaderRecord.from_lease(kube.get(LEASES, "controller", namespace)))
    assert not second.is_leader  # a change that is not a release wakes nothing
    first.stop()
    lease = kube.get(LEASES, "controller", namespace)
    assert lease["spec"]["holderIdentity"] == ""
    second.lease_changed(LeaderRecord.from_lease(lease))  # what the manager's Lease watch does
    assert took_over.wait(WAIT)
    assert clock.now() == 0.0
    assert holder(kube, namespace)["holderIdentity"] == "second"


def test_after_a_crash_the_lease_is_taken_over_only_once_a_whole_lease_passed(
    kube: Kube, namespace: str, elector: Callable[..., LeaderElector]
) -> None:
    first = elector("first", timing=DEFAULT)
    assert first.wait_until_leading(WAIT)
    first.stop(release_lease=False)  # as if the process died: the Lease still names it
    assert holder(kube, namespace)["holderIdentity"] == "first"

    clock = ManualClock()
    second = elector("second", timing=DEFAULT, clock=clock)
    tries = 1
    assert clock.wait_for_waits(tries)  # first observation of the record, at t=0
    while clock.now() + STEP < DEFAULT.lease_duration:
        clock.advance(STEP)
        tries += 1
        assert clock.wait_for_waits(tries)
        assert not second.is_leader, (
            f"took over at t={clock.now()} s, before the {DEFAULT.lease_duration} s lease"
        )
    clock.advance(STEP)  # now past the lease since the record was first seen unchanged
    assert clock.wait_for_waits(tries + 1)
    assert second.is_leader
    lease = holder(kube, namespace)
    assert (lease["holderIdentity"], lease["leaseTransitions"]) == ("second", 1)


def test_a_leader_that_cannot_renew_stops_leading_at_the_renew_deadline(
    kube: Kube, namespace: str, elector: Callable[..., LeaderElector]
) -> None:
    stopped = threading.Event()
    clock = ManualClock()
    leader = elector("leader", timing=DEFAULT, clock=clock, on_stopped_leading=stopped.set)
    assert clock.wait_for_waits(1)  # acquired at t=0, waiting to renew
    assert leader.is_leader
    intruder = {"spec": {"holderIdentity": "intruder"}}  # someone else writes the Lease
    kube.patch(LEASES, "controller", intruder, PatchType.MERGE, namespace)

    tries = 1
    for _ in range(4):  # renew tries at t = 2, 4, 6, 8 fail: the Lease is held by another
        clock.advance(DEFAULT.retry_period)
        tries += 1
        assert clock.wait_for_waits(tries)
        assert leader.still_leader(), f"gave up at t={clock.now()} s, before the renew deadline"
    clock.advance(DEFAULT.retry_period)  # t = 10 s: the renew deadline since the last renew began
    assert stopped.wait(WAIT)
    assert not leader.still_leader()
    assert not leader.is_leader
    assert holder(kube, namespace)["holderIdentity"] == "intruder"  # it did not release another's Lease
