"""When analysis starts and which intervals are due: the controller's clock arithmetic.

Looks are aligned to the moment analysis started, so window k is
``[start + (k−1)·interval, start + k·interval)`` and a restarted controller queries exactly the
windows its predecessor would have. A window is due ``LOOK_DELAY`` after it ends, giving the
last scrape inside it time to land in Prometheus. A controller that was down catches up with at
most ``MAX_WINDOWS_PER_RECONCILE`` windows per reconcile and requeues at once for the rest.

Example: interval 60s, analysis started 10:00:00 → window [10:00:00, 10:01:00) is queried at
10:01:05; after a restart at 10:07:30 the six windows up to 10:07:00 are queried in turn.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from analysis.observations import Window
from rollouts.api.spec import ModelRolloutSpec
from rollouts.api.status import ModelRolloutStatus
from rollouts.api.timestamps import parse_timestamp
from rollouts.controller.core.steps import candidate_gets_requests

LOOK_DELAY = timedelta(seconds=5)
MAX_WINDOWS_PER_RECONCILE = 10


def analysis_start_time(spec: ModelRolloutSpec, status: ModelRolloutStatus) -> datetime | None:
    """When analysis may start: candidate ready + warm-up, once it gets requests; else None.

    Requests: a non-zero weight, a mirror or a header route (rollouts.controller.core.steps).

    None too when there is nothing to analyse (no metrics): a time in the past would wake the
    rollout at once, again and again, while it waits at a gate.
    """
    if status.outcome is not None or status.analysis is not None or not spec.analysis.metrics:
        return None
    if status.candidate_ready_at is None or not candidate_gets_requests(status):
        return None
    return parse_timestamp(status.candidate_ready_at) + spec.analysis.warmup.delta


def due_windows(spec: ModelRolloutSpec, status: ModelRolloutStatus, now: datetime) -> list[Window]:
    """The intervals whose counts are due now, oldest first (at most MAX_WINDOWS_PER_RECONCILE)."""
    if status.outcome is not None or status.analysis is None or status.analysis.last_look_at is None:
        return []
    interval = spec.analysis.interval.delta
    start = parse_timestamp(status.analysis.last_look_at)
    windows: list[Window] = []
    while start + interval + LOOK_DELAY <= now and len(windows) < MAX_WINDOWS_PER_RECONCILE:
        windows.append(Window(start, start + interval))
        start += interval
    return windows


def next_look_at(spec: ModelRolloutSpec, status: ModelRolloutStatus) -> datetime | None:
    """When the next window becomes due (None when analysis is not running)."""
    if status.outcome is not None or status.analysis is None or status.analysis.last_look_at is None:
        return None
    interval = spec.analysis.interval.delta
    return parse_timestamp(status.analysis.last_look_at) + interval + LOOK_DELAY
