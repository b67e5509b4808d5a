"""The provider's TLS and basic-auth options against a real Prometheus serving HTTPS with auth.

The server certificate names only ``prometheus.test``, so reaching 127.0.0.1 verifies only with
``server_name``; a wrong password, an unknown CA or a host-name mismatch must be ERROR.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from analysis import QueryFailed, ScalarObservation
from analysis.providers.prometheus import PrometheusProvider, PrometheusSettings
from rollouts.local.prometheus import PrometheusServer, WebSecurity

USER = "analysis"
PASSWORD = "rollouts-test-password"
PASSWORD_BCRYPT = "$2b$04$Bt8NlnAXiGTB6DcM8ZR.P.iasABfJNTONQOW40eBLYJ6aC3eCeata"  # bcrypt(PASSWORD), cost 4
SERVER_NAME = "prometheus.test"
NOW = dt.datetime.now(dt.UTC)


def _write_pem(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def certificates(directory: Path) -> tuple[Path, Path, Path]:
    """A CA and a server certificate for SERVER_NAME signed by it: (ca, cert, key)."""
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "rollouts test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - dt.timedelta(hours=1))
        .not_valid_after(NOW + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                key_encipherment=False, data_encipherment=False, key_agreement=False,
                encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, SERVER_NAME)]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - dt.timedelta(hours=1))
        .not_valid_after(NOW + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(SERVER_NAME)]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    return (
        _write_pem(directory / "ca.crt", ca.public_bytes(pem)),
        _write_pem(directory / "server.crt", cert.public_bytes(pem)),
        _write_pem(
            directory / "server.key",
            key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
        ),
    )


@pytest.fixture
def secured(prometheus_installed: None, tmp_path: Path) -> Iterator[tuple[PrometheusServer, Path]]:
    ca, cert, key = certificates(tmp_path)
    security = WebSecurity(
        cert_file=cert,
        key_file=key,
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
