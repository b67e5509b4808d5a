"""The example model server as real processes over real HTTP, with its launcher and load generator.

Nothing here asserts a wall-clock time. Work is compared in CPU seconds the server itself
reports, shares of requests with bounds six binomial standard deviations wide, and orderings
that hold request by request.
"""

from __future__ import annotations

import math
import os
import random
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from rollouts.local.loadgen import DROPPED, ERROR, LoadGenerator, Target
from rollouts.local.model_server import CRASH_EXIT_CODE, Device, ServerConfig, Switches
from rollouts.local.model_server.metrics import (
    DCGM_FB_USED,
    DCGM_GPU_UTIL,
    DCGM_LABELS,
    DCGM_XID_ERRORS,
    LATENCY_BUCKETS,
    SCORE_BUCKETS,
)
from rollouts.local.model_server.model import FEATURE_COUNT, sample_features
from rollouts.local.model_servers import ModelServerError, ModelServers, RunningModelServer
from rollouts.traffic.base import Routing


def fast_start(version: str) -> ServerConfig:
    return ServerConfig(version=version, load_seconds=0.2, warmup_requests=5, enable_admin=True)


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModelServers]:
    with ModelServers(tmp_path_factory.mktemp("model-servers")) as running:
        running.start(fast_start("v1"), fast_start("v2"))
        yield running


@pytest.fixture
def baseline(servers: ModelServers) -> RunningModelServer:
    return servers["v1"]


@pytest.fixture
def candidate(servers: ModelServers) -> Iterator[RunningModelServer]:
    """The second server, with healthy switches again after each test."""
    yield servers["v2"]
    servers["v2"].set_switches(Switches())


@pytest.fixture
def session() -> Iterator[requests.Session]:
    with requests.Session() as client:
        yield client


def features(count: int, seed: int = 0) -> list[list[float]]:
    draws = random.Random(seed)
    return [sample_features(draws) for _ in range(count)]


def predict_all(
    session: requests.Session, server: RunningModelServer, inputs: list[list[float]]
) -> list[requests.Response]:
    return [session.post(f"{server.url}/predict", json={"features": row}, timeout=10) for row in inputs]


def scrape(server: RunningModelServer) -> list[Sample]:
    text = requests.get(f"{server.url}/metrics", timeout=10).text
    return [sample for family in text_string_to_metric_families(text) for sample in family.samples]


def value(samples: list[Sample], name: str, **labels: str) -> float:
    matching = [
        s.value for s in samples if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
    ]
    assert len(matching) == 1, f"{name}{labels}: {len(matching)} series"
    return matching[0]


def buckets(samples: list[Sample], name: str) -> dict[float, float]:
    return {float(s.labels["le"]): s.value for s in samples if s.name == f"{name}_bucket"}


def six_sigma_bounds(trials: int, share: float) -> tuple[float, float]:
    spread = 6 * math.sqrt(trials * share * (1 - share))
    return trials * share - spread, trials * share + spread


def test_ready_only_after_the_model_is_loaded_and_warmed_up(
    tmp_path: Path, session: requests.Session
) -> None:
    slow_start = ServerConfig(
        version="v9", load_seconds=2.0, warmup_requests=100, switches=Switches(device=Device.CPU)
    )
    with ModelServers(tmp_path) as servers:
        (server,) = servers.start(slow_start, wait_ready=False)
        stages: list[str] = []
        early_predict = session.post(f"{server.url}/predict", json={"features": features(1)[0]}, timeout=10)
        while not stages or stages[-1] != "ready":
            assert server.exit_code() is None, server.log_tail()
            time.sleep(0.02)
            readyz = session.get(f"{server.url}/readyz", timeout=10)
            stage = readyz.text.strip()
            assert (readyz.status_code == 200) == (stage == "ready")
            if not stages or stages[-1] != stage:
                stages.append(stage)
        alive = session.get(f"{server.url}/healthz", timeout=10)
        log = server.log_tail()

    assert early_predict.status_code == 503
    assert stages[0] == "loading model"
    assert stages in (["loading model", "warming up", "ready"], ["loading model", "ready"])
    assert alive.status_code == 200
    assert log.index("model loaded") < log.index("ready after 100 warm-up predictions")


def test_metrics_parse_and_every_model_series_carries_the_version(
    baseline: RunningModelServer, session: requests.Session
) -> None:
    before = scrape(baseline)
    responses = predict_all(session, baseline, features(40, seed=1))
    after = scrape(baseline)

    assert {response.status_code for response in responses} == {200}
    assert {response.json()["version"] for response in responses} == {"v1"}
    model_series = [sample for sample in after if sample.name.startswith("model_")]
    assert {sample.labels.get("version") for sample in model_series} == {"v1"}

    def grew(name: str, **labels: str) -> float:
        return value(after, name, version="v1", **labels) - value(before, name, version="v1", **labels)

    assert grew("model_requests_total", code="200") == 40
    assert grew("model_requests_total", code="500") == 0
    assert grew("model_request_duration_seconds_count") == 40
    assert grew("model_prediction_score_count") == 40
    assert (
        grew("model_predictions_total", **{"class": "legit"})
        + grew("model_predictions_total", **{"class": "fraud"})
        == 40
    )
    assert grew("model_invalid_predictions_total") == 0
    assert sorted(buckets(after, "model_request_duration_seconds")) == [*LATENCY_BUCKETS, math.inf]
    assert sorted(buckets(after, "model_prediction_score")) == [*SCORE_BUCKETS, math.inf]
    assert value(after, "model_device_info", version="v1", device="gpu") == 1
    assert value(after, "model_device_info", version="v1", device="cpu") == 0
    assert value(after, "model_gpu_memory_bytes", version="v1") == Switches().gpu_memory_mib * 2**20
    stand_in = [sample for sample in after if sample.name.startswith("DCGM_FI_DEV_")]
    assert {sample.name for sample in stand_in} == {DCGM_GPU_UTIL, DCGM_FB_USED, DCGM_XID_ERRORS}
    assert all(set(sample.labels) == set(DCGM_LABELS) for sample in stand_in), "the exporter's labels"
    assert value(after, DCGM_GPU_UTIL) == Switches().gpu_util_percent
    assert value(after, DCGM_FB_USED) == Switches().gpu_memory_mib


def test_bad_requests_are_answered_400_and_counted(
    baseline: RunningModelServer, session: requests.Session
) -> None:
    before = value(scrape(baseline), "model_requests_total", version="v1", code="400")
    bodies = [{"features": [1.0] * (FEATURE_COUNT - 1)}, {"features": ["x"] * FEATURE_COUNT}, {"rows": []}]
    answers = [session.post(f"{baseline.url}/predict", json=body, timeout=10) for body in bodies]
    answers.append(session.post(f"{baseline.url}/predict", data=b"{not json", timeout=10))

    assert [answer.status_code for answer in answers] == [400] * 4
    assert value(scrape(baseline), "model_requests_total", version="v1", code="400") - before == 4


def test_cpu_device_reports_itself_and_stays_ready(
    candidate: RunningModelServer, session: requests.Session
) -> None:
    inputs = features(10, seed=2)
    on_gpu = [r.json()["score"] for r in predict_all(session, candidate, inputs)]
    candidate.set_switches(Switches(device=Device.CPU))
    on_cpu = [r.json()["score"] for r in predict_all(session, candidate, inputs)]
    samples = scrape(candidate)

    assert candidate.switches().device is Device.CPU
    assert value(samples, "model_device_info", version="v2", device="cpu") == 1
    assert value(samples, "model_device_info", version="v2", device="gpu") == 0
    assert value(samples, "model_gpu_memory_bytes", version="v2") == 0
    assert not [sample for sample in samples if sample.name.startswith("DCGM_FI_DEV_")], "no GPU held"
    assert candidate.is_ready(), "the silent fallback: probes stay green on cpu"
    assert on_cpu == pytest.approx(on_gpu, rel=1e-9), "same model, same answers, on either device"


def test_cpu_path_does_far_more_work(candidate: RunningModelServer, session: requests.Session) -> None:
    def cpu_seconds_and_latency(device: Device) -> tuple[float, dict[float, float]]:
        candidate.set_switches(Switches(device=device))
        before = scrape(candidate)
        predict_all(session, candidate, features(60, seed=3))
        after = scrape(candidate)
        spent = value(after, "process_cpu_seconds_total") - value(before, "process_cpu_seconds_total")
        latency_before = buckets(before, "model_request_duration_seconds")
        latency = {
            le: count - latency_before[le]
            for le, count in buckets(after, "model_request_duration_seconds").items()
        }
        return spent, latency

    def median_bucket(cumulative: dict[float, float]) -> float:
        total = cumulative[math.inf]
        return min(le for le, count in cumulative.items() if count >= total / 2)

    gpu_cpu_seconds, gpu_latency = cpu_seconds_and_latency(Device.GPU)
    cpu_cpu_seconds, cpu_latency = cpu_seconds_and_latency(Device.CPU)

    # Measured ratio ~40x (bench/results/model_server.md); 5x leaves room for tick-sized CPU clocks.
    assert cpu_cpu_seconds > 5 * max(gpu_cpu_seconds, 0.01)
    assert median_bucket(cpu_latency) > median_bucket(gpu_latency)


def test_error_rate_fails_that_share_of_requests(
    candidate: RunningModelServer, session: requests.Session
) -> None:
    candidate.set_switches(Switches(error_rate=0.3))
    before = scrape(candidate)
    codes = [r.status_code for r in predict_all(session, candidate, features(400, seed=4))]
    after = scrape(candidate)

    low, high = six_sigma_bounds(400, 0.3)
    assert set(codes) == {200, 500}
    assert low < codes.count(500) < high
    served = value(after, "model_requests_total", version="v2", code="500") - value(
        before, "model_requests_total", version="v2", code="500"
    )
    assert served == codes.count(500)


def test_score_shift_moves_every_score_up(candidate: RunningModelServer, session: requests.Session) -> None:
    inputs = features(100, seed=5)
    plain = [r.json() for r in predict_all(session, candidate, inputs)]
    candidate.set_switches(Switches(score_shift=1.0))
    shifted = [r.json() for r in predict_all(session, candidate, inputs)]

    assert all(s["score"] > p["score"] for s, p in zip(shifted, plain, strict=True))
    assert [s["class"] for s in shifted].count("fraud") > [p["class"] for p in plain].count("fraud")
    assert all(0.0 <= s["score"] <= 1.0 for s in shifted)


def test_nan_rate_gives_invalid_predictions(candidate: RunningModelServer, session: requests.Session) -> None:
    candidate.set_switches(Switches(nan_rate=0.25))
    before = scrape(candidate)
    answers = [r.json() for r in predict_all(session, candidate, features(300, seed=6))]
    after = scrape(candidate)

    invalid = [a for a in answers if a["score"] is None]
    low, high = six_sigma_bounds(300, 0.25)
    assert low < len(invalid) < high
    assert {a["class"] for a in invalid} == {"invalid"}
    counted = value(after, "model_invalid_predictions_total", version="v2") - value(
        before, "model_invalid_predictions_total", version="v2"
    )
    scored = value(after, "model_prediction_score_count", version="v2") - value(
        before, "model_prediction_score_count", version="v2"
    )
    assert counted == len(invalid)
    assert scored == 300 - len(invalid)


def test_admin_rejects_unknown_or_invalid_switches(candidate: RunningModelServer) -> None:
    for body in (
        {"turbo": True},
        {"error_rate": 2.0},
        {"device": "tpu"},
        {"crash_after": 2.5},
        {"score_shift": "up"},
    ):
        answer = requests.post(f"{candidate.url}/admin/switches", json=body, timeout=10)
        assert answer.status_code == 400, body
    assert candidate.switches() == Switches()


def test_admin_is_off_unless_enabled(tmp_path: Path) -> None:
    with ModelServers(tmp_path) as servers:
        (server,) = servers.start(ServerConfig(version="v3", load_seconds=0.0, warmup_requests=0))
        answer = requests.post(f"{server.url}/admin/switches", json={"device": "cpu"}, timeout=10)
    assert answer.status_code == 404


def test_crash_after_exits_after_that_many_requests(tmp_path: Path, session: requests.Session) -> None:
    crashing = ServerConfig(
        version="v4", load_seconds=0.0, warmup_requests=0, switches=Switches(crash_after=5)
    )
    with ModelServers(tmp_path) as servers:
        (server,) = servers.start(crashing)
        codes = [r.status_code for r in predict_all(session, server, features(5, seed=7))]
        exit_code = server.process.wait(timeout=30)
        with pytest.raises(requests.ConnectionError):
            session.post(f"{server.url}/predict", json={"features": features(1)[0]}, timeout=10)

    assert codes == [200] * 5
    assert exit_code == CRASH_EXIT_CODE
    assert "crash_after reached" in server.log_tail()


def test_launcher_stops_every_process_it_started(tmp_path: Path) -> None:
    with ModelServers(tmp_path) as servers:
        started = servers.start(
            *(ServerConfig(version=v, load_seconds=0.0, warmup_requests=0) for v in ("a", "b"))
        )
        pids = [server.pid for server in started]
        assert all(server.address.startswith("127.0.0.1:") for server in started)
        assert len({server.address for server in started}) == 2

    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.killpg(pid, 0)
    assert sorted(path.name for path in tmp_path.glob("*.log")) == [
        "model-server-a.log",
        "model-server-b.log",
    ]


def test_launcher_reports_a_server_that_cannot_start(tmp_path: Path) -> None:
    with (
        ModelServers(tmp_path, python="/bin/false") as servers,
        pytest.raises(ModelServerError, match="exited with status 1"),
    ):
        servers.start(ServerConfig(version="v5"))


def test_launcher_refuses_two_servers_for_one_version(servers: ModelServers) -> None:
    with pytest.raises(ValueError, match="one server per version"):
        servers.start(ServerConfig(version="v1"))


def test_load_generator_splits_traffic_by_share(
    baseline: RunningModelServer, candidate: RunningModelServer
) -> None:
    before = {server.version: scrape(server) for server in (baseline, candidate)}
    generator = LoadGenerator(
        Target(baseline.version, baseline.url),
        Target(candidate.version, candidate.url),
        lambda: Routing(share=0.25),
        rate=200.0,
        max_requests=400,
        seed=8,
    )
    with generator:
        assert generator.wait(timeout=60)
    counts = generator.counts()

    low, high = six_sigma_bounds(400, 0.25)
    assert counts.sent["v1"] + counts.sent["v2"] == 400
    assert low < counts.sent["v2"] < high
    assert counts.share == 0.25
    for server in (baseline, candidate):
        version = server.version
        answered_ok = value(scrape(server), "model_requests_total", version=version, code="200") - value(
            before[version], "model_requests_total", version=version, code="200"
        )
        assert answered_ok == counts.outcome(version, "200")
        assert counts.outcome(version, ERROR) == 0
        assert counts.outcome(version, "200") + counts.outcome(version, DROPPED) == counts.sent[version]


def test_load_generator_keeps_the_last_share_when_the_source_fails(
    baseline: RunningModelServer, candidate: RunningModelServer
) -> None:
    def unreadable_route() -> Routing:
        raise ValueError("HTTPRoute fraud-scorer not found")

    generator = LoadGenerator(
        Target(baseline.version, baseline.url),
        Target(candidate.version, candidate.url),
        unreadable_route,
        rate=100.0,
        max_requests=50,
        share_refresh_seconds=0.1,
    )
    with generator:
        assert generator.wait(timeout=60)
    counts = generator.counts()

    assert counts.sent == {"v1": 50}
    assert counts.share_errors >= 1
    assert counts.last_share_error == "ValueError: HTTPRoute fraud-scorer not found"


def test_load_generator_stops_on_request(baseline: RunningModelServer, candidate: RunningModelServer) -> None:
    generator = LoadGenerator(
        Target(baseline.version, baseline.url),
        Target(candidate.version, candidate.url),
        lambda: Routing(share=0.5),
        rate=50.0,
    ).start()
    assert not generator.wait(timeout=0.5), "an unbounded run goes on until stopped"
    counts = generator.stop()
    assert generator.wait(timeout=0)
    assert 0 < sum(counts.sent.values()) < 100_000
