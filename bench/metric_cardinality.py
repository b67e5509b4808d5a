"""Series per rollout on the controller's /metrics, measured through a real rollout.

docs/operations.md gives the count by formula (26 + 7M + 3C for M metrics and C conditions);
this measures it. The demo's stack (rollouts.local.stack: a local test bed, real model servers,
Prometheus, load, the controller on a thread) runs the demo rollout — three metrics, the
`good` scenario — and the controller's /metrics is read every second until the rollout ends:
the per-rollout series (labelled with the rollout's ``name``) by family, at their largest, and the
controller's own series, which must not grow with rollouts. Writes
``bench/results/metric_cardinality.md``.

Usage: ``python bench/metric_cardinality.py``.
"""

from __future__ import annotations

import datetime
import os
import secrets
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from prometheus_client.parser import text_string_to_metric_families

from bench.machine import cpu_model, memory_gib, revision
from rollouts.cli.demo_cmd import DEMO_NODES
from rollouts.local.stack import LocalStack, demo_analysis, demo_rollout
from rollouts.runtime.kube import connect
from rollouts.testbed import ClusterConfig, LocalCluster, install_crds

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results" / "metric_cardinality.md"
TIMEOUT = 600.0


def scrape(port: int) -> tuple[Counter[str], int, int]:
    """Per-rollout series by family, their conditions, and the controller's own series."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    per_rollout: Counter[str] = Counter()
    conditions: set[str] = set()
    own = 0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if "name" in sample.labels and sample.name.startswith("modelrollout_"):
                per_rollout[family.name] += 1
                if family.name == "modelrollout_condition":
                    conditions.add(sample.labels["type"])
            else:
                own += 1
    return per_rollout, len(conditions), own


def main() -> None:
    """Run the demo rollout, read /metrics every second, write the table."""
    started = time.monotonic()
    most: Counter[str] = Counter()
    most_total = most_conditions = 0
    own_seen: list[int] = []
    phase = "unfinished"
    with tempfile.TemporaryDirectory(prefix="cardinality-") as folder:
        workdir = Path(folder)
        cluster = LocalCluster(ClusterConfig(nodes=DEMO_NODES, log_dir=workdir / "logs"))
        cluster.start()
        try:
            kube = connect(str(cluster.kubeconfig))
            install_crds(kube.api_client)
            namespace = f"cardinality-{secrets.token_hex(2)}"
            with LocalStack(kube, namespace, workdir) as stack:
                analysis = demo_analysis(stack.prometheus_url)
                metrics = len(analysis["metrics"])
                stack.create_rollout(demo_rollout(analysis))
                deadline = time.monotonic() + TIMEOUT
                while time.monotonic() < deadline:
                    manager = stack.manager
                    assert manager is not None
                    assert manager.metrics_server is not None
                    families, conditions, own = scrape(manager.metrics_server.port)
                    total = sum(families.values())
                    if total > most_total:
                        most, most_total, most_conditions = families, total, conditions
                    own_seen.append(own)
                    status = stack.rollout().get("status") or {}
                    if status.get("outcome"):
                        phase = status["outcome"]["result"]
                        break
                    time.sleep(1.0)
            kube.close()
        finally:
            cluster.stop()
    formula = 26 + 7 * metrics + 3 * most_conditions
    lines = [
        "# Series per rollout on the controller's /metrics",
        "",
        "- command: `.venv/bin/python bench/metric_cardinality.py`",
        f"- run: {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC, "
        f"{time.monotonic() - started:.0f} s; commit {revision()}",
        f"- machine: {os.cpu_count()} CPUs, {cpu_model()}, {memory_gib():.0f} GiB",
        f"- the demo rollout (`good` scenario, {metrics} metrics), read every second until it ended: {phase}",
        "",
        f"Largest count seen: **{most_total} series** for the rollout, with {most_conditions} "
        f"condition types set; docs/operations.md's formula 26 + 7M + 3C gives {formula} "
        f"(M = {metrics}; evidence and threshold series exist only for error-rate and latency "
        "metrics, so a drift metric has 2 fewer). The controller's own series (not per rollout): "
        f"{min(own_seen)} to {max(own_seen)} over the run.",
        "",
        "| family | series |",
        "|---|---|",
        *(f"| {name} | {count} |" for name, count in sorted(most.items())),
        "",
    ]
    RESULTS.write_text("\n".join(lines))
    print(RESULTS.read_text())


if __name__ == "__main__":
    main()
