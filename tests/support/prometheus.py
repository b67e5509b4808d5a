"""Pytest plugin: real Prometheus servers as fixtures.

Fixtures:

- ``prometheus_installed`` (session): skips locally, fails under ``CI=true``, when the Debian
  ``prometheus`` package (prometheus and promtool) is missing;
- ``prometheus_factory`` (per test): ``make(backfill=None, targets=(), native_histograms=False)``
  returns a started :class:`~rollouts.local.prometheus.PrometheusServer` in the test's tmp_path,
  optionally backfilled from OpenMetrics text first (native histograms: Prometheus 3 only);
  every server it made is stopped after the test;
- ``prometheus`` (per test): one started, empty server with a 1-second scrape interval;
- ``secured_prometheus`` (per test): a server on HTTPS with basic auth, its certificate from a
  fresh test CA naming only :data:`SERVER_NAME` (so 127.0.0.1 verifies only with that server
  name); a :class:`Secured` with the server and the CA's PEM path.

Tests using any of them get the ``prometheus`` marker, so ``-m "not prometheus"`` leaves them out.

Which Prometheus runs: the system's (Debian's 2.x) unless a test module is marked
``pytest.mark.prometheus_majors("2", "3")``; its tests then run once per major, the 3.x servers
from the test bed's build (``prometheus_release``; missing: skipped locally, failed in CI).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from rollouts.local.prometheus import (
    PrometheusRelease,
    PrometheusServer,
    ScrapeTarget,
    WebSecurity,
    available,
)
from rollouts.testbed.binaries import MissingBinariesError, find_prometheus3
from rollouts.testbed.pki import CertificateAuthority
from tests.support.need import need

PROMETHEUS_FIXTURES = frozenset(
    {"prometheus_installed", "prometheus_release", "prometheus_factory", "prometheus", "secured_prometheus"}
)
MAJORS_MARKER = "prometheus_majors"
USER = "analysis"
PASSWORD = "rollouts-test-password"
PASSWORD_BCRYPT = "$2b$04$Bt8NlnAXiGTB6DcM8ZR.P.iasABfJNTONQOW40eBLYJ6aC3eCeata"  # bcrypt(PASSWORD), cost 4
SERVER_NAME = "prometheus.test"

MakePrometheus = Callable[..., PrometheusServer]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if PROMETHEUS_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.prometheus)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", f"{MAJORS_MARKER}(*majors): run the module's Prometheus tests on each major ('2', '3')"
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    marker = metafunc.definition.get_closest_marker(MAJORS_MARKER)
    if marker is not None and "prometheus_release" in metafunc.fixturenames:
        metafunc.parametrize("prometheus_release", marker.args, indirect=True, ids=lambda m: f"prometheus{m}")


@pytest.fixture(scope="session")
def prometheus_installed() -> None:
    need(available(), "Prometheus", "install the Debian package: apt-get install prometheus")


@pytest.fixture
def prometheus_release(request: pytest.FixtureRequest) -> PrometheusRelease | None:
    """The Prometheus a test's servers run: None for the system's 2.x, or the test bed's 3.x."""
    major = getattr(request, "param", "2")
    if major == "2":
        return None
    assert major == "3", f"no Prometheus major {major!r} here"
    try:
        build = find_prometheus3()
    except MissingBinariesError as missing:
        need(False, "Prometheus 3", str(missing))
        raise
    return PrometheusRelease(f"3 ({build.version})", build.prometheus, build.promtool)


@pytest.fixture
def prometheus_factory(
    prometheus_installed: None, prometheus_release: PrometheusRelease | None, tmp_path: Path
) -> Iterator[MakePrometheus]:
    servers: list[PrometheusServer] = []

    def make(
        backfill: str | None = None, targets: Sequence[ScrapeTarget] = (), *, native_histograms: bool = False
    ) -> PrometheusServer:
        server = PrometheusServer(
            tmp_path / f"prometheus-{len(servers)}",
            scrape_interval=1.0,
            targets=targets,
            release=prometheus_release,
            native_histograms=native_histograms,
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


@dataclass(frozen=True)
class Secured:
    """A started HTTPS Prometheus with basic auth, and the PEM file of the CA that signed it."""

    server: PrometheusServer
    ca: Path


@pytest.fixture
def secured_prometheus(
    prometheus_installed: None, prometheus_release: PrometheusRelease | None, tmp_path: Path
) -> Iterator[Secured]:
    served = CertificateAuthority(tmp_path / "pki").serving("prometheus", hosts=[SERVER_NAME], ips=[])
    ca = tmp_path / "pki" / "ca.crt"
    security = WebSecurity(
        cert_file=served.cert,
        key_file=served.key,
        ca_file=ca,
        username=USER,
        password=PASSWORD,
        password_bcrypt=PASSWORD_BCRYPT,
    )
    server = PrometheusServer(tmp_path / "prometheus", security=security, release=prometheus_release).start()
    yield Secured(server, ca)
    server.stop()
