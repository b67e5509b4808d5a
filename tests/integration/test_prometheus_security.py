"""The provider's TLS and basic-auth options against a real Prometheus serving HTTPS with auth.

The server certificate (from the test bed's CA) names only ``prometheus.test``, so reaching
127.0.0.1 verifies only with ``server_name``; a wrong password, an unknown CA or a host-name
mismatch must be ERROR.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest

from analysis import QueryFailed, ScalarObservation
from analysis.providers.prometheus import PrometheusProvider, PrometheusSettings
from rollouts.local.prometheus import PrometheusServer, WebSecurity
from rollouts.testbed.pki import CertificateAuthority

USER = "analysis"
PASSWORD = "rollouts-test-password"
PASSWORD_BCRYPT = "$2b$04$Bt8NlnAXiGTB6DcM8ZR.P.iasABfJNTONQOW40eBLYJ6aC3eCeata"  # bcrypt(PASSWORD), cost 4
SERVER_NAME = "prometheus.test"
NOW = dt.datetime.now(dt.UTC)


@pytest.fixture
def secured(prometheus_installed: None, tmp_path: Path) -> Iterator[tuple[PrometheusServer, Path]]:
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
    server = PrometheusServer(tmp_path / "prometheus", security=security).start()
    yield server, ca
    server.stop()


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
        server.url, timeout=5, basic_auth=(USER, PASSWORD), ca_file=str(ca), server_name=SERVER_NAME
    )
    assert ask(settings) == ScalarObservation(2.0)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"basic_auth": (USER, "wrong")}, "HTTP 401"),
        ({"ca_file": None}, "unable to get local issuer certificate"),
        ({"server_name": None}, "match"),
    ],
)
def test_wrong_credentials_or_certificates_are_errors(
    secured: tuple[PrometheusServer, Path], change: dict[str, object], message: str
) -> None:
    server, ca = secured
    options: dict[str, object] = {
        "basic_auth": (USER, PASSWORD),
        "ca_file": str(ca),
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
