"""The test bed's certificates and kubeconfigs: one CA signs every server and client identity.

Why client certificates: the API server maps a certificate's CN to the user and its O entries
to groups, so RBAC can be tested with real identities (``kubeconfig_for("alice", ["oncall"])``)
without any authentication webhook. Keys are ECDSA P-256: generating them takes milliseconds,
which matters for a test bed that starts in seconds.
"""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

_VALIDITY = datetime.timedelta(days=365)


def _private_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _write(path: Path, data: bytes, private: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    if private:
        path.chmod(0o600)
    return path


@dataclass(frozen=True)
class KeyPair:
    """A certificate and its private key, both as PEM files."""

    cert: Path
    key: Path


class CertificateAuthority:
    """A self-signed CA kept in a folder; it issues serving and client certificates."""

    def __init__(self, directory: Path) -> None:
        self._dir = directory
        key_path = directory / "ca.key"
        cert_path = directory / "ca.crt"
        if cert_path.is_file():
            loaded = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
            if not isinstance(loaded, ec.EllipticCurvePrivateKey):
                raise TypeError(f"{key_path} is not an EC private key")
            self._key = loaded
            self._cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        else:
            self._key = ec.generate_private_key(ec.SECP256R1())
            name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "model-rollouts-testbed-ca")])
            now = datetime.datetime.now(datetime.UTC)
            self._cert = (
                x509.CertificateBuilder()
                .subject_name(name)
                .issuer_name(name)
                .public_key(self._key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(minutes=5))
                .not_valid_after(now + _VALIDITY)
                .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                .add_extension(
                    x509.KeyUsage(
                        digital_signature=True,
                        key_cert_sign=True,
                        crl_sign=True,
                        content_commitment=False,
                        key_encipherment=False,
                        data_encipherment=False,
                        key_agreement=False,
                        encipher_only=False,
                        decipher_only=False,
                    ),
                    critical=True,
                )
                .sign(self._key, hashes.SHA256())
            )
            _write(key_path, _private_pem(self._key), private=True)
            _write(cert_path, self._cert.public_bytes(serialization.Encoding.PEM))
        self.pair = KeyPair(cert=cert_path, key=key_path)

    def _issue(
        self,
        stem: str,
        subject: x509.Name,
        usage: x509.ObjectIdentifier,
        sans: list[x509.GeneralName] | None = None,
    ) -> KeyPair:
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(self._cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + _VALIDITY)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        )
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        cert = builder.sign(self._key, hashes.SHA256())
        return KeyPair(
            cert=_write(self._dir / f"{stem}.crt", cert.public_bytes(serialization.Encoding.PEM)),
            key=_write(self._dir / f"{stem}.key", _private_pem(key), private=True),
        )

    def serving(self, stem: str, hosts: list[str], ips: list[str]) -> KeyPair:
        """A TLS server certificate for the given DNS names and IP addresses."""
        sans: list[x509.GeneralName] = [x509.DNSName(host) for host in hosts]
        sans += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips]
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])])
        return self._issue(stem, subject, ExtendedKeyUsageOID.SERVER_AUTH, sans)

    def client(self, stem: str, user: str, groups: list[str]) -> KeyPair:
        """A client certificate: the API server reads CN as the user name and O as the groups."""
        attributes = [x509.NameAttribute(NameOID.COMMON_NAME, user)]
        attributes += [x509.NameAttribute(NameOID.ORGANIZATION_NAME, group) for group in groups]
        return self._issue(stem, x509.Name(attributes), ExtendedKeyUsageOID.CLIENT_AUTH)


def service_account_keys(directory: Path) -> KeyPair:
    """The key pair that signs service-account tokens (``cert`` holds the public key)."""
    key = ec.generate_private_key(ec.SECP256R1())
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return KeyPair(
        cert=_write(directory / "sa.pub", public),
        key=_write(directory / "sa.key", _private_pem(key), private=True),
    )


def write_kubeconfig(path: Path, server: str, ca: Path, client: KeyPair, user: str) -> Path:
    """A kubeconfig with one cluster, one user and one context, all named after the test bed."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "testbed", "cluster": {"server": server, "certificate-authority": str(ca)}}],
        "users": [
            {"name": user, "user": {"client-certificate": str(client.cert), "client-key": str(client.key)}}
        ],
        "contexts": [{"name": "testbed", "context": {"cluster": "testbed", "user": user}}],
        "current-context": "testbed",
    }
    _write(path, yaml.safe_dump(config, sort_keys=False).encode(), private=True)
    return path
