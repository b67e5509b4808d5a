"""The fetch step's windows and the abort signal that cuts it short (rollouts.controller.shell).

Real providers only: the sample observations file behind the Prometheus-free provider, and a
provider of our own Protocol that counts its queries and raises the abort signal mid-look, as
the informer would when an abort arrives while Prometheus is slow.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from datetime import datetime, timedelta
from pathlib import Path

from analysis import MetricCriteria
from analysis.observations import Observation, Window
from analysis.providers.base import ScalarResult, Versions
from analysis.providers.observations_file import ObservationsFileProvider
from rollouts.api.resource import ModelRollout
from rollouts.api.status import ModelRolloutStatus
from rollouts.cli.analyze_cmd import read_rollout
from rollouts.controller.core.evidence import begin
from rollouts.controller.core.schedule import LOOK_DELAY
from rollouts.controller.shell.fetch import MetricsSource, fetch_windows
from rollouts.controller.shell.reconciler import AbortSignals
from rollouts.runtime.informer import Change

EXAMPLES = Path(__file__).parents[2] / "examples" / "observations"


def sample() -> tuple[ModelRollout, ObservationsFileProvider]:
    return read_rollout(EXAMPLES / "rollout.yaml", None), ObservationsFileProvider.from_path(
        EXAMPLES / "healthy.json"
    )


class AbortMidLook:
    """Answers from the file, and sets ``cancel`` when query number ``after`` arrives."""

    def __init__(self, inner: ObservationsFileProvider, cancel: threading.Event, after: int) -> None:
        self.inner, self.cancel, self.after, self.queries = inner, cancel, after, 0
        self._lock = threading.Lock()

    def observe(
        self, metric: MetricCriteria, window: Window, versions: Versions, variables: Mapping[str, str]
    ) -> Observation:
        with self._lock:
            self.queries += 1
            if self.queries == self.after:
                self.cancel.set()
        return self.inner.observe(metric, window, versions, variables)

    def scalar(self, query: str, at: datetime, variables: Mapping[str, str]) -> ScalarResult:
        return self.inner.scalar(query, at, variables)


class AllAtOnce:
    """Answers a query only once every metric of its window has been asked (a barrier).

    Queried one after another, the first query would wait for the others forever: the barrier
    breaks after ``patience`` seconds and the fetch fails, so the test fails.
    """

    def __init__(self, inner: ObservationsFileProvider, metrics: int, patience: float = 30.0) -> None:
        self.inner = inner
        self.barrier = threading.Barrier(metrics, timeout=patience)
        self.threads: set[str] = set()

    def observe(
        self, metric: MetricCriteria, window: Window, versions: Versions, variables: Mapping[str, str]
    ) -> Observation:
        self.threads.add(threading.current_thread().name)
        self.barrier.wait()
        return self.inner.observe(metric, window, versions, variables)

    def scalar(self, query: str, at: datetime, variables: Mapping[str, str]) -> ScalarResult:
        return self.inner.scalar(query, at, variables)


def test_every_due_window_is_fetched_complete_and_in_order() -> None:
    rollout, provider = sample()
    start = provider.intervals[0].window.start
    status = ModelRolloutStatus(analysis=begin(start))
    now = start + timedelta(minutes=3) + LOOK_DELAY
    fetched = fetch_windows(rollout.spec, status, MetricsSource(provider, {}), now)
    assert [item.window for item in fetched] == [interval.window for interval in provider.intervals[:3]]
    assert all(set(item.observations) == {"errors", "latency", "scores"} for item in fetched)


def test_a_windows_metrics_are_queried_at_once_and_each_answer_lands_under_its_metric() -> None:
    rollout, provider = sample()
    start = provider.intervals[0].window.start
    status = ModelRolloutStatus(analysis=begin(start))
    together = AllAtOnce(provider, metrics=3)
    now = start + timedelta(minutes=2) + LOOK_DELAY
    fetched = fetch_windows(rollout.spec, status, MetricsSource(together, {}), now)
    expected = [interval.observations for interval in provider.intervals[:2]]
    assert [dict(item.observations) for item in fetched] == [dict(item) for item in expected]
    assert len(together.threads) == 3  # one thread per metric, all waiting at the barrier at once


def test_an_abort_stops_fetching_before_the_next_window_and_keeps_only_complete_windows() -> None:
    rollout, provider = sample()
    start = provider.intervals[0].window.start
    status = ModelRolloutStatus(analysis=begin(start))
    cancel = threading.Event()
    slow = AbortMidLook(provider, cancel, after=2)  # while the first window's queries are out
    fetched = fetch_windows(
        rollout.spec, status, MetricsSource(slow, {}, cancel), start + timedelta(minutes=3) + LOOK_DELAY
    )
    assert [item.window for item in fetched] == [provider.intervals[0].window]
    assert set(fetched[0].observations) == {"errors", "latency", "scores"}
    assert slow.queries == 3  # the first window's three; nothing of the second


def test_the_informer_sets_the_cancel_signal_only_for_an_abort_that_applies() -> None:
    rollout, _ = sample()
    signals = AbortSignals()
    key = "ml/fraud-scorer"
    cancel = signals.begin(key)
    wire = {**rollout.to_wire(), "metadata": {"name": "fraud-scorer", "namespace": "ml"}}
    signals.rollout_changed(Change("updated", wire))
    assert not cancel.is_set()
    other = {**wire, "spec": {**wire["spec"], "abort": {"reason": "stale", "version": "not-this-one"}}}
    signals.rollout_changed(Change("updated", other))
    assert not cancel.is_set()
    candidate = wire["spec"]["candidate"]["version"]
    aborted = {**wire, "spec": {**wire["spec"], "abort": {"reason": "pager", "version": candidate}}}
    signals.rollout_changed(Change("updated", aborted))
    assert cancel.is_set()
    signals.end(key)
    signals.rollout_changed(Change("updated", aborted))  # no reconcile running: nothing to cancel
