"""Every panel of the Grafana dashboard, evaluated by a real Prometheus after a real rollout.

The stack of rollouts.local.stack: real model servers under load, a real Prometheus scraping
them and the controller's /metrics every second, the controller. A rollout walks 25% → analyze
→ approve → 100% and is promoted; the test approves the gate once Prometheus has seen it wait
for several scrapes.
Then each panel's queries, with the template variables resolved as Grafana resolves them
(``label_values`` against the same Prometheus), run as range queries over the rollout: none may
fail, and every query of every panel but those in :data:`NO_DATA_EXPECTED` must return data.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import pytest
import requests

from rollouts.api.timestamps import format_timestamp
from rollouts.controller.shell.resources import MODEL_ROLLOUTS
from rollouts.local.stack import CANDIDATE, LocalStack, demo_analysis, demo_rollout
from rollouts.runtime.kube import PatchType
from tests.e2e.conftest import StackFactory
from tests.support import dashboard as board
from tests.support.controller import phase, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

NAME = "fraud-scorer"
STEPS = [{"setWeight": 25}, {"analyze": {"duration": "40s"}}, {"approve": {}}, {"setWeight": 100}]
APPROVE_STEP = 2
NO_DATA_EXPECTED = {
    "Leader": "the stack's controller runs without leader election",
    "API server errors": "nothing answers the controller with an error here",
}
RATE_INTERVAL = "15s"  # Grafana: max(4 x scrape interval, step + scrape interval)
STEP = 2.0


def prometheus_get(stack: LocalStack, path: str, **params: Any) -> Any:
    """An API answer's ``data``; AssertionError with Prometheus' error otherwise."""
    answer = requests.get(f"{stack.prometheus_url}{path}", params=params, timeout=30).json()
    assert answer["status"] == "success", f"{params}: {answer.get('error')}"
    return answer["data"]


def instant(stack: LocalStack, query: str) -> list[dict[str, Any]]:
    return list(prometheus_get(stack, "/api/v1/query", query=query)["result"])


def test_every_panel_evaluates_and_shows_the_rollout(make_stack: StackFactory) -> None:
    stack = make_stack()
    started = time.time()
    stack.create_rollout(demo_rollout(demo_analysis(stack.prometheus_url), name=NAME, steps=STEPS))
    # Five scrapes at the gate (the values are 0 or 1, so the sum counts them): the wait spans
    # more than one step of the range queries below, whichever instants they fall on.
    selector = f'{{namespace="{stack.namespace}", name="{NAME}"}}'
    waiting = f"sum_over_time(modelrollout_waiting_for_approval{selector}[10s]) >= 5"
    wait_for(
        lambda: {"seen": instant(stack, waiting)},
        lambda o: bool(o["seen"]),
        240,
        "Prometheus to see the gate",
    )
    approval = {
        "step": APPROVE_STEP,
        "version": CANDIDATE[1],
        "requestedAt": format_timestamp(datetime.now(UTC)),
    }
    stack.kube.patch(
        MODEL_ROLLOUTS, NAME, {"spec": {"approvals": [approval]}}, PatchType.MERGE, stack.namespace
    )
    done = wait_for(
        stack.rollout, lambda o: phase(o) in ("Succeeded", "RolledBack", "Failed"), 120, "the end"
    )
    assert phase(done) == "Succeeded", done["status"].get("message")
    promoted = f"modelrollout_promotions_total{selector} == 1"
    wait_for(
        lambda: {"seen": instant(stack, promoted)}, lambda o: bool(o["seen"]), 60, "Prometheus to see the end"
    )
    ended = time.time()

    dashboard = board.load()

    def label_values(selector: str, label: str) -> list[str]:
        series = prometheus_get(
            stack, "/api/v1/series", **{"match[]": selector, "start": started, "end": ended}
        )
        return sorted({item[label] for item in series if label in item})

    values = board.resolve(dashboard, label_values, {"namespace": stack.namespace, "rollout": NAME})
    assert (values["baseline"], values["candidate"]) == ("v1", "v2")
    values |= {
        "__rate_interval": RATE_INTERVAL,
        "__interval": f"{STEP:g}s",
        "__range": f"{round(ended - started)}s",
    }
    without_data: dict[str, list[str]] = {}
    for query in board.queries(dashboard):
        expr = board.substitute(query.expr, values)
        result = prometheus_get(stack, "/api/v1/query_range", query=expr, start=started, end=ended, step=STEP)
        if not result["result"]:
            without_data.setdefault(query.panel, []).append(query.ref_id)
    assert set(without_data) <= set(NO_DATA_EXPECTED), without_data
