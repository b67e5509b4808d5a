"""The GPU guards of examples/gpu-guards against a real Prometheus scraping real model servers.

The example model server exports the DCGM exporter's series (a stand-in) with the labels the
exporter gives, and no ``version``; Prometheus scrapes each server with the ``pod`` and
``namespace`` target labels Kubernetes service discovery would give it. The guards' joins must
then return the candidate's readings, not the baseline's, and a candidate that fell back to
the CPU — no GPU series at all — must breach the utilisation guard.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from analysis import AnalysisCriteria, GuardCriteria, NoData, ScalarObservation, Verdict, judge, start, update
from analysis.observations import Window
from analysis.providers.base import Versions
from analysis.providers.prometheus import PrometheusProvider, PrometheusSettings
from rollouts.api.resource import ModelRollout
from rollouts.controller.core.analysis_config import analysis_criteria
from rollouts.local.model_server import Device, ServerConfig, Switches
from rollouts.local.model_servers import ModelServers, RunningModelServer
from rollouts.local.prometheus import ScrapeTarget
from tests.support.controller import wait_for
from tests.support.prometheus import MakePrometheus

EXAMPLE = Path(__file__).parents[2] / "examples" / "gpu-guards" / "rollout.yaml"
ROLLOUT = ModelRollout.model_validate(yaml.safe_load(EXAMPLE.read_text()))
NAMESPACE = ROLLOUT.metadata.namespace or "ml"
VERSIONS = Versions(baseline=ROLLOUT.spec.baseline.version, candidate=ROLLOUT.spec.candidate.version)
BASELINE_GPU = Switches(gpu_util_percent=80.0, gpu_memory_mib=30000.0)
CANDIDATE_GPU = Switches(gpu_util_percent=45.0, gpu_memory_mib=41000.0)


def _config(version: str, pod: str, switches: Switches) -> ServerConfig:
    return ServerConfig(
        version=version,
        load_seconds=0.2,
        warmup_requests=5,
        enable_admin=True,
        switches=switches,
        pod=pod,
        namespace=NAMESPACE,
    )


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[ModelServers]:
    with ModelServers(tmp_path / "model-servers") as running:
        running.start(
            _config(VERSIONS.baseline, "fraud-scorer-v1-7d9f8-abcde", BASELINE_GPU),
            _config(VERSIONS.candidate, "fraud-scorer-v2-5c6b7-fghij", CANDIDATE_GPU),
        )
        yield running


@pytest.fixture
def provider(servers: ModelServers, prometheus_factory: MakePrometheus) -> PrometheusProvider:
    targets = [
        ScrapeTarget(server.address, labels={"pod": server.config.pod, "namespace": NAMESPACE})
        for server in (servers[VERSIONS.baseline], servers[VERSIONS.candidate])
    ]
    return PrometheusProvider(PrometheusSettings(prometheus_factory(targets=targets).url, timeout=10))


def _guards() -> AnalysisCriteria:
    criteria = analysis_criteria(ROLLOUT.spec.analysis)
    guards = tuple(metric for metric in criteria.metrics if isinstance(metric, GuardCriteria))
    return dataclasses.replace(criteria, metrics=guards)


def _readings(provider: PrometheusProvider) -> dict[str, Any]:
    """Each guard's answer now: its number, or the NoData reason."""
    now = datetime.now(UTC)
    window = Window(now - timedelta(minutes=1), now)
    found: dict[str, Any] = {}
    for metric in _guards().metrics:
        observation = provider.observe(metric, window, VERSIONS, {"namespace": NAMESPACE})
        found[metric.name] = observation.value if isinstance(observation, ScalarObservation) else observation
    return found


def test_the_guards_read_the_candidates_gpus_only(provider: PrometheusProvider) -> None:
    expected = {"gpu-utilisation": 45.0, "gpu-memory": 41000.0, "gpu-xid-errors": 0.0}
    wait_for(lambda: _readings(provider), lambda seen: seen == expected, 60, "the candidate's GPU readings")


def test_a_candidate_on_cpu_breaches_the_utilisation_guard(
    servers: ModelServers, provider: PrometheusProvider
) -> None:
    candidate: RunningModelServer = servers[VERSIONS.candidate]
    candidate.set_switches(dataclasses.replace(CANDIDATE_GPU, device=Device.CPU))
    seen = wait_for(
        lambda: _readings(provider),
        lambda seen: seen["gpu-utilisation"] == 0.0,
        60,
        "the CPU fallback's utilisation: 0, its pod holds no GPU",
    )
    assert isinstance(seen["gpu-memory"], NoData)  # no GPU: nothing to bound
    state = start(_guards())
    now = datetime.now(UTC)
    for look in range(2):  # consecutive: 2 (a guard reads the value at its window's end)
        end = now + timedelta(seconds=look)
        window = Window(end - timedelta(seconds=1), end)
        observations = {
            metric.name: provider.observe(metric, window, VERSIONS, {"namespace": NAMESPACE})
            for metric in _guards().metrics
        }
        state = update(state, observations)
    verdicts = {metric.name: metric.verdict for metric in judge(state).metrics}
    assert verdicts["gpu-utilisation"] is Verdict.FAIL
    assert verdicts["gpu-xid-errors"] is not Verdict.FAIL
