"""The load generator's pure parts: the share a route or replica count implies, and seeded routing."""

from __future__ import annotations

import math
from typing import Any

import pytest

from rollouts.local.loadgen import CohortPicker, LoadGenerator, Target
from rollouts.traffic.gateway_api import backend_share as httproute_share

BASELINE = Target(version="v1", url="http://127.0.0.1:9001")
CANDIDATE = Target(version="v2", url="http://127.0.0.1:9002")


def route(*rules: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": "fraud-scorer", "namespace": "ml"},
        "spec": {"rules": [{"backendRefs": refs} for refs in rules]},
    }


@pytest.mark.parametrize(
    ("refs", "share"),
    [
        ([{"name": "v1", "port": 80, "weight": 95}, {"name": "v2", "port": 80, "weight": 5}], 0.05),
        ([{"name": "v1", "weight": 100}, {"name": "v2", "weight": 0}], 0.0),
        ([{"name": "v1", "weight": 0}, {"name": "v2", "weight": 100}], 1.0),
        ([{"name": "v1"}, {"name": "v2"}], 0.5),  # the Gateway API default weight is 1
        ([{"name": "v1", "weight": 3}, {"name": "other", "weight": 50}, {"name": "v2", "weight": 1}], 1 / 54),
        ([{"name": "v1", "weight": 2}, {"name": "v2", "weight": 1}, {"name": "v1", "weight": 1}], 0.25),
    ],
    ids=["5%", "0%", "100%", "default-weights", "other-backend-counts", "repeated-backend-summed"],
)
def test_httproute_share_is_candidate_weight_over_both(refs: list[dict[str, Any]], share: float) -> None:
    assert httproute_share(route(refs), 0, "v1", "v2") == pytest.approx(share)


def test_httproute_share_reads_the_named_rule() -> None:
    first = [{"name": "v1", "weight": 1}, {"name": "v2", "weight": 0}]
    second = [{"name": "v1", "weight": 1}, {"name": "v2", "weight": 3}]
    assert httproute_share(route(first, second), 1, "v1", "v2") == pytest.approx(0.75)


@pytest.mark.parametrize(
    ("rule_index", "refs", "message"),
    [
        (1, [{"name": "v1"}, {"name": "v2"}], "there is no rule 1"),
        (-1, [{"name": "v1"}, {"name": "v2"}], "there is no rule -1"),
        (0, [{"name": "v1"}], "no backendRef named v2"),
        (0, [], "no backendRef named v1, v2"),
        (0, [{"name": "v1", "weight": 0}, {"name": "v2", "weight": 0}], "weighs every backend 0"),
    ],
    ids=["rule-out-of-range", "negative-rule", "candidate-missing", "no-backends", "all-zero"],
)
def test_httproute_share_rejects_routes_without_a_share(
    rule_index: int, refs: list[dict[str, Any]], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        httproute_share(route(refs), rule_index, "v1", "v2")


def test_httproute_share_rejects_one_backend_for_both_cohorts() -> None:
    with pytest.raises(ValueError, match="same backend"):
        httproute_share(route([{"name": "v1"}]), 0, "v1", "v1")


@pytest.mark.parametrize("share", [0.05, 0.25, 0.5, 0.9])
def test_picker_sends_the_share_to_the_candidate(share: float) -> None:
    draws = 20_000
    picker = CohortPicker(seed=11)
    candidates = sum(picker.pick_candidate(share) for _ in range(draws))
    six_sigma = 6 * math.sqrt(draws * share * (1 - share))
    assert abs(candidates - draws * share) < six_sigma


@pytest.mark.parametrize(("share", "expected"), [(0.0, False), (1.0, True)])
def test_picker_extremes_are_absolute(share: float, expected: bool) -> None:
    picker = CohortPicker(seed=3)
    assert {picker.pick_candidate(share) for _ in range(5_000)} == {expected}


def test_picker_is_reproducible_from_its_seed() -> None:
    def picks(seed: int) -> list[bool]:
        picker = CohortPicker(seed)
        return [picker.pick_candidate(0.3) for _ in range(500)]

    assert picks(5) == picks(5)
    assert picks(5) != picks(6)


@pytest.mark.parametrize(
    "url",
    ["http://10.0.0.7:8080", "http://example.com", "http://0.0.0.0:80", "not a url"],
)
def test_targets_must_be_loopback(url: str) -> None:
    with pytest.raises(ValueError, match="loopback"):
        Target(version="v1", url=url)


@pytest.mark.parametrize("url", ["http://127.0.0.1:8080", "http://localhost:1", "http://[::1]:8080"])
def test_loopback_targets_are_accepted(url: str) -> None:
    assert Target(version="v1", url=url).url == url


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"rate": 0.0}, "rate"),
        ({"rate": math.inf}, "rate"),
        ({"max_requests": 0}, "max_requests"),
        ({"max_in_flight": 0}, "max_in_flight"),
    ],
)
def test_load_generator_rejects_unbounded_or_empty_runs(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        LoadGenerator(BASELINE, CANDIDATE, lambda: 0.5, **options)


def test_load_generator_needs_two_versions() -> None:
    with pytest.raises(ValueError, match="same version"):
        LoadGenerator(BASELINE, Target(version="v1", url="http://127.0.0.1:9002"), lambda: 0.5)


def test_stopping_a_generator_that_never_started_reports_nothing_sent() -> None:
    counts = LoadGenerator(BASELINE, CANDIDATE, lambda: 0.5).stop()
    assert counts.sent == {}
    assert counts.answered == 0
