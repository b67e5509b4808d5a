"""End to end: real kube-apiserver + controllers + kwok, real Prometheus, real model servers, load.

The controller judges real metrics scraped from real model-server processes while the load
generator routes requests by the HTTPRoute's weights. Interval 10 s, warm-up 20 s, 30 req/s.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from rollouts.cli.main import app
from rollouts.controller.shell.resources import MODEL_ROLLOUTS
from rollouts.local.model_server.config import Device, Switches
from rollouts.local.stack import CANDIDATE, DEMO_QUERIES, ROUTE, LocalStack, demo_analysis, demo_rollout
from rollouts.runtime.kube import DEPLOYMENTS, Kube, KubeError, PatchType
from rollouts.testbed import LocalCluster
from tests.e2e.conftest import StackFactory, wait_for_share
from tests.support.controller import WeightRecorder, condition, phase, wait_for
from tests.support.slow_proxy import SlowProxy

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

NAME = "fraud-scorer"
IDENTICAL = Switches(error_rate=0.01)


def _status(stack: LocalStack) -> dict[str, Any]:
    return dict(stack.rollout().get("status") or {})


def _read(stack: LocalStack) -> Any:
    return stack.rollout


def _looks(rollout: dict[str, Any]) -> int:
    return int((rollout.get("status", {}).get("analysis") or {}).get("looks", 0))


def _wait_for_a_look(stack: LocalStack) -> None:
    wait_for(_read(stack), lambda o: _looks(o) >= 1, 120, "the first look")


def test_good_candidate_walks_the_weights_and_is_promoted(make_stack: StackFactory, kube: Kube) -> None:
    stack = make_stack(candidate=IDENTICAL)
    with WeightRecorder(kube, ROUTE, stack.namespace, CANDIDATE[0]) as recorder:
        stack.create_rollout(demo_rollout(demo_analysis(stack.prometheus_url)))
        done = wait_for(
            _read(stack), lambda o: phase(o) in ("Succeeded", "RolledBack", "Failed"), 300, "the end"
        )
        assert phase(done) == "Succeeded", done["status"].get("message")
        wait_for(
            lambda: kube.get(DEPLOYMENTS, "model-v1", stack.namespace),
            lambda d: d["spec"]["replicas"] == 0,
            60,
            "the baseline scaled down after scaleDown.delay",
        )
    assert recorder.weights == [0, 25, 50, 100]
    assert done["status"]["stableVersion"] == "v2"
    assert done["status"]["analysis"]["looks"] >= 5


def test_cpu_fallback_is_rolled_back_by_latency_within_three_looks(
    make_stack: StackFactory, tmp_path: Path
) -> None:
    stack = make_stack(candidate=Switches(device=Device.CPU, error_rate=0.01))
    stack.create_rollout(demo_rollout(demo_analysis(stack.prometheus_url, ready_query=False)))
    done = wait_for(_read(stack), lambda o: phase(o) in ("Succeeded", "RolledBack"), 240, "the end")
    status = done["status"]
    assert phase(done) == "RolledBack"
    assert status["weight"] == 0
    assert status["analysis"]["looks"] <= 3
    message = status["outcome"]["message"]
    assert "latency" in message
    assert "CLES" in message
    assert "bound" in message
    wait_for_share(stack, 0.0, "the route back at 0%")
    _replay_reaches_the_same_looks(stack, done, tmp_path)


def _replay_reaches_the_same_looks(stack: LocalStack, done: dict[str, Any], tmp_path: Path) -> None:
    """``rollouts analyze`` over the controller's windows, from the same Prometheus, reaches the
    controller's looks: the same count, tuning, per-metric samples and verdicts, the same end."""
    analysis = done["status"]["analysis"]
    spec = tmp_path / "rollout.yaml"
    spec.write_text(yaml.safe_dump({key: done[key] for key in ("apiVersion", "kind", "metadata", "spec")}))
    result = CliRunner().invoke(
        app,
        [
            *("analyze", str(spec), "--prometheus", stack.prometheus_url),
            *("--start", analysis["startedAt"], "--end", analysis["lastLookAt"], "-o", "json"),
        ],
    )
    report = json.loads(result.output)
    assert report["outcome"]["result"] == done["status"]["outcome"]["result"]
    assert report["outcome"]["reason"] == done["status"]["outcome"]["reason"]
    assert len(report["looks"]) == analysis["looks"]
    assert report["tuning"] == pytest.approx(analysis["tuning"])
    replayed = {metric["name"]: metric for metric in report["looks"][-1]["metrics"]}
    for metric in analysis["metrics"]:
        mine = replayed[metric["name"]]
        assert (mine["verdict"], mine["baselineSamples"], mine["candidateSamples"]) == (
            metric["verdict"],
            metric.get("baselineSamples"),
            metric.get("candidateSamples"),
        ), metric["name"]


def test_doubled_error_rate_is_rolled_back(make_stack: StackFactory) -> None:
    stack = make_stack(candidate=Switches(error_rate=0.05), baseline=Switches(error_rate=0.025))
    analysis = demo_analysis(stack.prometheus_url, inconclusive="hold")
    steps = [{"setWeight": 50}, {"analyze": {"duration": "5m"}}, {"setWeight": 100}]
    stack.create_rollout(demo_rollout(analysis, steps=steps))
    done = wait_for(_read(stack), lambda o: phase(o) in ("Succeeded", "RolledBack"), 330, "the rollback")
    assert phase(done) == "RolledBack"
    assert done["status"]["outcome"]["reason"] == "AnalysisFailed"
    assert "errors" in done["status"]["outcome"]["message"]
    assert done["status"]["weight"] == 0


def test_identical_candidate_with_hold_is_held_not_promoted(make_stack: StackFactory) -> None:
    stack = make_stack(candidate=IDENTICAL)
    analysis = demo_analysis(stack.prometheus_url, inconclusive="hold")
    steps = [{"setWeight": 50}, {"analyze": {"duration": "60s"}}, {"setWeight": 100}]
    stack.create_rollout(demo_rollout(analysis, steps=steps))
    held = wait_for(_read(stack), lambda o: bool(o.get("status", {}).get("hold")), 180, "the hold")
    assert phase(held) == "Paused"
    assert held["status"]["weight"] == 50
    held_condition = condition(held, "Held")
    assert held_condition["status"] == "True"
    assert "without a PASS" in held_condition["message"]
    later = wait_for(_read(stack), lambda o: _looks(o) > _looks(held), 60, "a look after the hold")
    assert phase(later) == "Paused"  # the analysis goes on; the hold stays


def test_prometheus_outage_never_promotes(make_stack: StackFactory) -> None:
    stack = make_stack(candidate=IDENTICAL)
    analysis = demo_analysis(stack.prometheus_url, inconclusive="promote", errorBudget=2)
    steps = [{"setWeight": 50}, {"analyze": {"duration": "100s"}}, {"setWeight": 100}]
    stack.create_rollout(demo_rollout(analysis, steps=steps))
    _wait_for_a_look(stack)
    assert stack.prometheus is not None
    stack.prometheus.stop()
    held = wait_for(_read(stack), lambda o: bool(o.get("status", {}).get("hold")), 120, "the outage hold")
    assert "analysis unavailable" in held["status"]["hold"]
    assert held["status"]["analysis"]["verdict"] == "ERROR"
    deadline = time.monotonic() + 60  # past the end of the analyze step: promote must not happen
    while time.monotonic() < deadline:
        assert phase(stack.rollout()) != "Succeeded"
        time.sleep(3)
    assert stack.rollout()["status"]["weight"] == 50


@contextmanager
def _controller_process(kubeconfig: Path, namespace: str, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("ab") as sink:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "rollouts.cli.main",
                "controller",
                f"--kubeconfig={kubeconfig}",
                "-n",
                namespace,
                "--log-format=json",
            ],
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def _label_continuously(kube: Kube, namespace: str, stop: threading.Event) -> None:
    """Another writer bumping the rollout's resourceVersion, so the controller's writes may conflict.

    Whether one of them meets a 409 here depends on timing; the 409 itself and its handling are
    proven deterministically in tests/integration/test_reconciler_conflicts.py.
    """
    count = 0
    while not stop.is_set():
        count += 1
        with suppress(KubeError):
            kube.patch(
                MODEL_ROLLOUTS,
                NAME,
                {"metadata": {"labels": {"touched": str(count)}}},
                PatchType.MERGE,
                namespace,
            )
        stop.wait(0.3)


def test_controller_killed_mid_step_resumes_at_the_same_step(
    make_stack: StackFactory, kube: Kube, testbed: LocalCluster, tmp_path: Path
) -> None:
    stack = make_stack(candidate=IDENTICAL, run_controller=False)
    stop_writer = threading.Event()
    writer = threading.Thread(
        target=_label_continuously, args=(kube, stack.namespace, stop_writer), daemon=True
    )
    log = tmp_path / "controller.log"
    with WeightRecorder(kube, ROUTE, stack.namespace, CANDIDATE[0]) as recorder:
        with _controller_process(testbed.kubeconfig, stack.namespace, log) as first:
            stack.create_rollout(demo_rollout(demo_analysis(stack.prometheus_url)))
            writer.start()
            before = wait_for(
                _read(stack),
                lambda o: o.get("status", {}).get("currentStep") == 1 and _looks(o) >= 2,
                180,
                "the middle of the first analyze step",
            )
            os.killpg(first.pid, signal.SIGKILL)  # no clean shutdown, no status flush
            first.wait(timeout=10)
        killed_at = stack.rollout()["status"]
        assert killed_at["currentStep"] == before["status"]["currentStep"]
        with _controller_process(testbed.kubeconfig, stack.namespace, log):
            resumed = wait_for(
                _read(stack),
                lambda o: _looks(o) > killed_at["analysis"]["looks"],
                60,
                "a look by the restarted controller",
            )
            assert resumed["status"]["startedAt"] == killed_at["startedAt"]
            assert resumed["status"]["analysis"]["startedAt"] == killed_at["analysis"]["startedAt"]
            assert resumed["status"]["currentStep"] >= killed_at["currentStep"]
            done = wait_for(_read(stack), lambda o: phase(o) in ("Succeeded", "RolledBack"), 300, "the end")
            wait_for_share(stack, 1.0 if phase(done) == "Succeeded" else 0.0, "the route to follow status")
        stop_writer.set()
        writer.join(timeout=5)
    assert phase(done) == "Succeeded", done["status"]["outcome"]
    assert recorder.weights == [0, 25, 50, 100]


def test_abort_while_prometheus_is_slow_acts_within_one_reconcile(
    make_stack: StackFactory, kube: Kube
) -> None:
    stack = make_stack(candidate=IDENTICAL)
    with SlowProxy(stack.prometheus_url) as proxy:
        analysis = demo_analysis(proxy.url, ready_query=False)
        steps = [{"setWeight": 50}, {"analyze": {"duration": "5m"}}, {"setWeight": 100}]
        stack.create_rollout(demo_rollout(analysis, steps=steps))
        _wait_for_a_look(stack)
        held = proxy.held_requests
        proxy.delay = 60.0  # every query now hangs until its 5 s timeout
        assert proxy.wait_until_held(held + 1, 60), "no query reached the slow Prometheus"
        # the next look is due: the controller is waiting on Prometheus now
        abort = {"spec": {"abort": {"reason": "on-call: pager", "requestedBy": "oncall", "version": "v2"}}}
        asked = time.monotonic()
        kube.patch(MODEL_ROLLOUTS, NAME, abort, PatchType.MERGE, stack.namespace)
        wait_for_share(stack, 0.0, "0%")
        took = time.monotonic() - asked
        aborted = wait_for(_read(stack), lambda o: phase(o) == "Aborted", 20, "the Aborted phase")
    assert took < 15, f"the route reached 0% {took:.1f}s after the abort (one query timeout is 5s)"
    assert aborted["status"]["outcome"]["message"].endswith("on-call: pager")


def test_a_misspelt_errors_query_never_lets_a_failing_candidate_through(make_stack: StackFactory) -> None:
    """Issue 10 item 14: an errors query that matches no series used to count 0 errors, so a
    typo in the metric name let a 10%-error candidate PASS. Now the metric is NO_DATA, which
    never promotes — not even under ``inconclusive: promote`` — and says which query is wrong."""
    stack = make_stack(candidate=Switches(error_rate=0.10))
    typo = 'model_requets_total{version="{{version}}", code=~"5.."}'
    errors_only = [{"name": "errors", "errorRate": {"errors": typo, "total": DEMO_QUERIES["total"]}}]
    analysis = demo_analysis(stack.prometheus_url, ready_query=False, metrics=errors_only)
    steps = [{"setWeight": 50}, {"analyze": {"duration": "40s"}}, {"setWeight": 100}]
    stack.create_rollout(demo_rollout(analysis, steps=steps))
    held = wait_for(
        _read(stack), lambda o: bool(o.get("status", {}).get("hold")), 180, "the hold at the step end"
    )
    status = held["status"]
    assert phase(held) == "Paused"
    assert status["weight"] == 50
    errors = next(metric for metric in status["analysis"]["metrics"] if metric["name"] == "errors")
    assert errors["verdict"] == "NO_DATA"
    assert "model_requets_total" in errors["reason"]
