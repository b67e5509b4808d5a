"""The provider's TLS and basic-auth options against a real Prometheus serving HTTPS with auth.

The server certificate (from the test bed's CA) names only ``prometheus.test``, so reaching
127.0.0.1 verifies only with ``server_name``; a wrong password, an unknown CA or a host-name
mismatch must be ERROR. The CA is PEM text held in memory: verifying with it writes no file
(issue 10 item 20: the controller has a read-only root file system and no writable /tmp).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from analysis import QueryFailed, ScalarObservation
from analysis.providers.prometheus import PrometheusProvider, PrometheusSettings
from rollouts.local.prometheus import PrometheusServer
from tests.support.audit import no_file_written
from tests.support.prometheus import PASSWORD, SERVER_NAME, USER, Secured

# Against Debian's Prometheus 2.x and the test bed's 3.x build (tests/support/prometheus.py).
pytestmark = pytest.mark.prometheus_majors("2", "3")

NOW = dt.datetime.now(dt.UTC)


@pytest.fixture
def secured(secured_prometheus: Secured) -> tuple[PrometheusServer, Path]:
    return secured_prometheus.server, secured_prometheus.ca


def ask(settings: PrometheusSettings) -> object:
    provider = PrometheusProvider(settings)
    try:
        return provider.scalar("1 + 1", NOW, {})
    finally:
        provider.close()


def test_tls_with_server_name_and_basic_auth(secured: tuple[PrometheusServer, Path]) -> None:
    server, ca = secured
    assert server.url.startswith("https://")
    settings = PrometheusSettings(
        server.url, timeout=5, basic_auth=(USER, PASSWORD), ca_pem=ca.read_text(), server_name=SERVER_NAME
    )
    assert ask(settings) == ScalarObservation(2.0)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"basic_auth": (USER, "wrong")}, "HTTP 401"),
        ({"ca_pem": None}, "unable to get local issuer certificate"),
        ({"server_name": None}, "match"),
    ],
)
def test_wrong_credentials_or_certificates_are_errors(
    secured: tuple[PrometheusServer, Path], change: dict[str, object], message: str
) -> None:
    server, ca = secured
    options: dict[str, object] = {
        "basic_auth": (USER, PASSWORD),
        "ca_pem": ca.read_text(),
        "server_name": SERVER_NAME,
        **change,
    }
    got = ask(PrometheusSettings(server.url, timeout=5, **options))  # type: ignore[arg-type]
    assert isinstance(got, QueryFailed)
    assert message in got.message


def test_insecure_skip_verify_reaches_the_server_without_warnings(
    secured: tuple[PrometheusServer, Path],
) -> None:
    server, _ = secured
    settings = PrometheusSettings(
        server.url, timeout=5, basic_auth=(USER, PASSWORD), insecure_skip_verify=True
    )
    assert ask(settings) == ScalarObservation(2.0)


def test_a_ca_bundle_verifies_from_memory_without_writing_a_file(
    secured: tuple[PrometheusServer, Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    server, ca = secured
    pem = ca.read_text()
    with no_file_written(monkeypatch, tmp_path) as written:
        settings = PrometheusSettings(
            server.url, timeout=5, basic_auth=(USER, PASSWORD), ca_pem=pem, server_name=SERVER_NAME
        )
        got = ask(settings)
    assert got == ScalarObservation(2.0)
    assert written == []
