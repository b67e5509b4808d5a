"""Pytest plugin: real Prometheus servers as fixtures.

Fixtures:

- ``prometheus_installed`` (session): skips locally, fails under ``CI=true``, when the Debian
  ``prometheus`` package (prometheus and promtool) is missing;
- ``prometheus_factory`` (per test): ``make(backfill=None, targets=())`` returns a started
  :class:`~rollouts.local.prometheus.PrometheusServer` in the test's tmp_path, optionally
  backfilled from OpenMetrics text first; every server it made is stopped after the test;
- ``prometheus`` (per test): one started, empty server with a 1-second scrape interval.

Tests using any of them get the ``prometheus`` marker, so ``-m "not prometheus"`` leaves them out.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest

from rollouts.local.prometheus import PrometheusServer, ScrapeTarget, available
from tests.support.need import need

PROMETHEUS_FIXTURES = frozenset({"prometheus_installed", "prometheus_factory", "prometheus"})

MakePrometheus = Callable[..., PrometheusServer]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if PROMETHEUS_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.prometheus)


@pytest.fixture(scope="session")
def prometheus_installed() -> None:
    need(available(), "Prometheus", "install the Debian package: apt-get install prometheus")


@pytest.fixture
def prometheus_factory(prometheus_installed: None, tmp_path: Path) -> Iterator[MakePrometheus]:
    servers: list[PrometheusServer] = []

    def make(backfill: str | None = None, targets: Sequence[ScrapeTarget] = ()) -> PrometheusServer:
        server = PrometheusServer(
            tmp_path / f"prometheus-{len(servers)}", scrape_interval=1.0, targets=targets
        )
        servers.append(server)
        if backfill is not None:
            server.backfill_openmetrics(backfill)
        return server.start()

    yield make
    for server in servers:
        server.stop()


@pytest.fixture
def prometheus(prometheus_factory: MakePrometheus) -> PrometheusServer:
    return prometheus_factory()
