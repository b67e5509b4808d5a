"""The leader election's rules as pure functions: who may claim, what is written, who still leads."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from rollouts.runtime.leader import (
    LeaderRecord,
    LeaseTiming,
    claim,
    may_claim,
    micro_time,
    release,
    within_deadline,
)

TIMING = LeaseTiming()  # client-go's 15 s / 10 s / 2 s
HELD_BY_B = LeaderRecord("b", 15, "2026-11-28T06:00:00.000000Z", "2026-11-28T06:00:10.000000Z", 3)


def test_defaults_are_client_go_s() -> None:
    assert (TIMING.lease_duration, TIMING.renew_deadline, TIMING.retry_period) == (15, 10, 2)
    assert TIMING.lease_seconds == 15


@pytest.mark.parametrize(
    ("lease", "renew", "retry"),
    [(10, 10, 2), (10, 12, 2), (15, 2.3, 2), (15, 10, 0)],
    ids=["renew-equals-lease", "renew-beyond-lease", "retry-jitter-beyond-renew", "no-retry-period"],
)
def test_timings_that_cannot_work_are_refused(lease: float, renew: float, retry: float) -> None:
    with pytest.raises(ValueError, match="lease_duration > renew_deadline"):
        LeaseTiming(lease, renew, retry)


def test_a_fractional_lease_is_written_rounded_up() -> None:
    assert LeaseTiming(2.5, 2, 0.5).lease_seconds == 3


def test_record_reads_a_bare_lease_as_free() -> None:
    assert LeaderRecord.from_lease({"metadata": {"name": "x"}}) == LeaderRecord("", 0)


def test_record_round_trips_through_a_lease_spec() -> None:
    assert LeaderRecord.from_lease({"spec": HELD_BY_B.spec()}) == HELD_BY_B


@pytest.mark.parametrize(
    ("record", "observed_at", "now", "expected"),
    [
        (HELD_BY_B, 100.0, 114.9, False),  # seen unchanged for less than its lease
        (HELD_BY_B, 100.0, 115.0, True),  # seen unchanged for a whole lease: expired
        (LeaderRecord("a", 15), 100.0, 100.0, True),  # our own
        (LeaderRecord("", 1), 100.0, 100.0, True),  # released
        (LeaderRecord("b", 60), 100.0, 115.0, False),  # the holder's own lease length counts
    ],
    ids=["held", "expired", "own", "released", "holder-s-duration"],
)
def test_who_may_claim(record: LeaderRecord, observed_at: float, now: float, expected: bool) -> None:
    assert may_claim(record, "a", observed_at, now) is expected


def test_claiming_a_new_lease_starts_at_zero_transitions() -> None:
    assert claim(None, "a", "T1", TIMING) == LeaderRecord("a", 15, "T1", "T1", 0)


def test_taking_over_counts_a_transition_and_restarts_acquire_time() -> None:
    assert claim(HELD_BY_B, "a", "T1", TIMING) == LeaderRecord("a", 15, "T1", "T1", 4)


def test_renewing_keeps_acquire_time_and_transitions() -> None:
    held = LeaderRecord("a", 15, "T0", "T0", 4)
    assert claim(held, "a", "T1", TIMING) == LeaderRecord("a", 15, "T0", "T1", 4)


def test_release_clears_the_holder_and_keeps_the_count() -> None:
    assert release(HELD_BY_B, "T2") == LeaderRecord("", 1, "T2", "T2", 3)


@pytest.mark.parametrize(
    ("last_renew_started", "now", "expected"),
    [(None, 0.0, False), (100.0, 100.0, True), (100.0, 109.999, True), (100.0, 110.0, False)],
)
def test_still_leader_until_renew_deadline_after_the_last_renew_began(
    last_renew_started: float | None, now: float, expected: bool
) -> None:
    assert within_deadline(last_renew_started, now, TIMING) is expected


def test_micro_time_is_utc_with_microseconds() -> None:
    moment = datetime(2026, 11, 28, 7, 24, 17, 123456, tzinfo=timezone(timedelta(hours=1)))
    assert micro_time(moment) == "2026-11-28T06:24:17.123456Z"
    assert micro_time(moment.astimezone(UTC)) == micro_time(moment)
