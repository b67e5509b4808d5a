"""The rules that let a reconcile read its rollout from the cache (rollouts.controller.shell.freshness)."""

from __future__ import annotations

from rollouts.controller.shell.freshness import CacheFreshness
from rollouts.runtime.informer import Change

KEY = "ml/fraud"


def rollout(version: str) -> dict[str, object]:
    return {"metadata": {"namespace": "ml", "name": "fraud", "resourceVersion": version}}


def test_a_key_never_read_live_in_this_process_is_not_trusted() -> None:
    assert not CacheFreshness().trusted(KEY)


def test_a_live_read_that_matches_the_cache_trusts_it() -> None:
    freshness = CacheFreshness()
    freshness.read_live(KEY, "7", "7")
    assert freshness.trusted(KEY)


def test_a_cache_behind_a_live_read_is_trusted_once_the_feed_delivers_that_version() -> None:
    freshness = CacheFreshness()
    freshness.read_live(KEY, "9", "7")
    assert not freshness.trusted(KEY)
    freshness.rollout_changed(Change("updated", rollout("8")))
    assert not freshness.trusted(KEY), "a version between the cache's and the live one is still old"
    freshness.rollout_changed(Change("updated", rollout("9")))
    assert freshness.trusted(KEY)


def test_after_a_status_write_the_cache_is_not_trusted_until_it_shows_the_written_version() -> None:
    freshness = CacheFreshness()
    freshness.read_live(KEY, "7", "7")
    freshness.wrote(KEY, "8", "7")
    assert not freshness.trusted(KEY)
    freshness.rollout_changed(Change("updated", rollout("8")))
    assert freshness.trusted(KEY)


def test_a_write_whose_event_already_arrived_is_trusted_at_once() -> None:
    freshness = CacheFreshness()
    freshness.read_live(KEY, "7", "7")
    freshness.wrote(KEY, "8", "8")
    assert freshness.trusted(KEY)


def test_an_expectation_missed_by_the_feed_is_cleared_by_a_live_read_that_finds_the_cache_current() -> None:
    freshness = CacheFreshness()
    freshness.read_live(KEY, "7", "7")
    freshness.wrote(KEY, "8", "9")  # the feed delivered 8 and then 9 before the write returned
    assert not freshness.trusted(KEY)
    freshness.read_live(KEY, "9", "9")
    assert freshness.trusted(KEY)


def test_a_deleted_rollout_is_forgotten_so_a_new_one_of_the_same_name_is_read_live() -> None:
    freshness = CacheFreshness()
    freshness.read_live(KEY, "7", "7")
    freshness.rollout_changed(Change("deleted", rollout("7")))
    assert not freshness.trusted(KEY)
