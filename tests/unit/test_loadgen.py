"""The load generator: the share a route implies, seeded routing, and mirror and header-route semantics."""

from __future__ import annotations

import http.server
import math
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from rollouts.api.spec import HeaderMatch, HeaderMatchType
from rollouts.local.loadgen import (
    DROPPED,
    CohortPicker,
    HeaderClient,
    LoadCounts,
    LoadGenerator,
    Target,
    headers_match,
)
from rollouts.traffic.base import Routing
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
        LoadGenerator(BASELINE, CANDIDATE, lambda: Routing(share=0.5), **options)


def test_load_generator_needs_two_versions() -> None:
    with pytest.raises(ValueError, match="same version"):
        LoadGenerator(BASELINE, Target(version="v1", url="http://127.0.0.1:9002"), lambda: Routing(share=0.5))


def test_stopping_a_generator_that_never_started_reports_nothing_sent() -> None:
    counts = LoadGenerator(BASELINE, CANDIDATE, lambda: Routing(share=0.5)).stop()
    assert counts.sent == {}
    assert counts.answered == 0


# --- mirror and header route: what the load generator does with a Routing ----------------------


class _Recorder(http.server.BaseHTTPRequestHandler):
    """Answers ``/predict`` with the server's code and records each request's headers."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        server: _RecordingServer = self.server  # type: ignore[assignment]
        with server.lock:
            server.seen.append({name.lower(): value for name, value in self.headers.items()})
        self.send_response(server.code)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, format: str, *args: Any) -> None:
        del format, args


class _RecordingServer(http.server.ThreadingHTTPServer):
    def __init__(self, code: int) -> None:
        super().__init__(("127.0.0.1", 0), _Recorder)
        self.code = code
        self.seen: list[dict[str, str]] = []
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


@pytest.fixture
def servers() -> Iterator[tuple[_RecordingServer, _RecordingServer]]:
    """A baseline answering 200 and a candidate answering 500, each on its own thread."""
    pair = (_RecordingServer(200), _RecordingServer(500))
    threads = [threading.Thread(target=server.serve_forever, daemon=True) for server in pair]
    for thread in threads:
        thread.start()
    yield pair
    for server in pair:
        server.shutdown()
        server.server_close()


def run(
    servers: tuple[_RecordingServer, _RecordingServer], routing: Routing, client: HeaderClient | None = None
) -> LoadCounts:
    baseline, candidate = servers
    generator = LoadGenerator(
        Target("v1", baseline.url),
        Target("v2", candidate.url),
        lambda: routing,
        header_client=client,
        rate=200.0,
        max_requests=40,
        max_in_flight=8,
    )
    with generator:
        assert generator.wait(timeout=60)
    return generator.counts()


def test_a_mirrored_request_goes_to_both_and_only_the_baseline_answer_counts(
    servers: tuple[_RecordingServer, _RecordingServer],
) -> None:
    counts = run(servers, Routing(share=0.0, mirror=1.0))
    baseline, candidate = servers
    assert counts.sent == {"v1": 40}
    assert counts.outcome("v1", "200") + counts.outcome("v1", DROPPED) == 40
    assert counts.outcome("v2", "500") == 0  # the candidate's 500s are not the requests' outcomes
    assert counts.mirrored.get("500", 0) == len(candidate.seen)
    assert sum(counts.mirrored.values()) == 40  # every request mirrored (answered or dropped)
    assert counts.mirrored.get("500", 0) + counts.mirrored.get(DROPPED, 0) == 40
    assert all(seen.get("x-mirrored") == "true" for seen in candidate.seen)
    assert not any("x-mirrored" in seen for seen in baseline.seen)


def test_without_a_mirror_nothing_is_copied(servers: tuple[_RecordingServer, _RecordingServer]) -> None:
    counts = run(servers, Routing(share=0.0))
    assert counts.mirrored == {}
    assert servers[1].seen == []


def test_requests_matching_the_header_route_go_to_the_candidate(
    servers: tuple[_RecordingServer, _RecordingServer],
) -> None:
    canary = HeaderMatch(name="X-Canary", value="internal")
    routing = Routing(share=0.0, header_match=(canary,))
    counts = run(servers, routing, HeaderClient(headers={"x-canary": "internal"}, fraction=0.5))
    assert counts.header_routed == counts.sent.get("v2", 0)
    assert 0 < counts.header_routed < 40
    assert all(seen.get("x-canary") == "internal" for seen in servers[1].seen)
    assert not any("x-canary" in seen for seen in servers[0].seen)


def test_a_header_route_for_another_value_routes_nothing(
    servers: tuple[_RecordingServer, _RecordingServer],
) -> None:
    other = HeaderMatch(name="x-canary", value="^ext-.*$", type=HeaderMatchType.REGULAR_EXPRESSION)
    counts = run(
        servers, Routing(share=0.0, header_match=(other,)), HeaderClient({"x-canary": "internal"}, 1.0)
    )
    assert counts.sent == {"v1": 40}
    assert counts.header_routed == 0


@pytest.mark.parametrize(
    ("headers", "match", "expected"),
    [
        ({"X-Canary": "internal"}, (HeaderMatch(name="x-canary", value="internal"),), True),
        ({"x-canary": "internal"}, (HeaderMatch(name="x-canary", value="intern"),), False),
        ({}, (HeaderMatch(name="x-canary", value="internal"),), False),
        ({"x-canary": "internal"}, (), False),
        (
            {"x-team": "ml-serving"},
            (HeaderMatch(name="x-team", value="ml-.*", type=HeaderMatchType.REGULAR_EXPRESSION),),
            True,
        ),
        (
            {"x-team": "not-ml-serving"},
            (HeaderMatch(name="x-team", value="ml-.*", type=HeaderMatchType.REGULAR_EXPRESSION),),
            False,
        ),
        (
            {"x-canary": "internal"},
            (HeaderMatch(name="x-canary", value="internal"), HeaderMatch(name="x-team", value="ml")),
            False,
        ),
    ],
)
def test_headers_match_needs_every_entry(
    headers: dict[str, str], match: tuple[HeaderMatch, ...], expected: bool
) -> None:
    assert headers_match(headers, match) is expected
