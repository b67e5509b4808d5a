"""spec.analysis.prometheus with real Secrets on the test bed's API server and a real Prometheus.

Issue 10:

- item 9: Secrets are read from the rollout's own namespace only; a same-named Secret in another
  namespace is never read, and a reference naming another namespace is refused by field;
- item 18: a missing Secret, a missing key, a value that is not UTF-8 (or no bearer token, or
  no certificate) is a SourceError naming the field, never the value, never another exception;
- item 20: a CA bundle from ``tls.caSecret`` verifies the server from memory: no file is
  written and no temporary directory made (the controller has a read-only root and no /tmp),
  checked with a Python audit hook while TMPDIR points at a directory that does not exist.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from analysis import ScalarObservation
from rollouts.api.spec import PrometheusSource, SecretKeyRef
from rollouts.controller.shell.prometheus_source import SECRETS, PrometheusProviders, SourceError
from rollouts.runtime.kube import NAMESPACES, Kube, PatchType
from rollouts.testbed.pki import CertificateAuthority
from tests.support.audit import no_file_written
from tests.support.prometheus import PASSWORD, SERVER_NAME, USER, Secured

MARKER = "PLANTED-secret-value-5d1c"


def put_secret(kube: Kube, namespace: str, name: str, data: dict[str, bytes]) -> None:
    body = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace},
        "data": {key: base64.b64encode(value).decode() for key, value in data.items()},
    }
    kube.create(SECRETS, body, namespace)


def source(address: str, **wire: object) -> PrometheusSource:
    return PrometheusSource.model_validate({"address": address, **wire})


@pytest.fixture
def providers(kube: Kube) -> Iterator[PrometheusProviders]:
    made = PrometheusProviders(kube)
    yield made
    made.close()


def test_ca_and_basic_auth_from_secrets_verify_from_memory(
    kube: Kube,
    namespace: str,
    providers: PrometheusProviders,
    secured_prometheus: Secured,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    put_secret(kube, namespace, "prom-ca", {"ca.crt": secured_prometheus.ca.read_bytes()})
    put_secret(kube, namespace, "prom-auth", {"username": USER.encode(), "password": PASSWORD.encode()})
    spec = source(
        secured_prometheus.server.url,
        timeout="5s",
        basicAuthSecret={"name": "prom-auth"},
        tls={"caSecret": {"name": "prom-ca", "key": "ca.crt"}, "serverName": SERVER_NAME},
    )
    with no_file_written(monkeypatch, tmp_path) as written:
        provider = providers.provider(namespace, spec)
        got = provider.scalar("1 + 1", datetime.now(UTC), {})
    assert got == ScalarObservation(2.0)
    assert written == []
    settings = providers.settings(namespace, spec)
    assert PASSWORD not in repr(settings)


def test_the_ca_from_the_secret_is_the_only_one_trusted(
    kube: Kube, namespace: str, providers: PrometheusProviders, secured_prometheus: Secured, tmp_path: Path
) -> None:
    CertificateAuthority(tmp_path / "other-pki").serving("other", hosts=["other.test"], ips=[])
    put_secret(kube, namespace, "other-ca", {"ca.crt": (tmp_path / "other-pki" / "ca.crt").read_bytes()})
    put_secret(kube, namespace, "prom-auth", {"username": USER.encode(), "password": PASSWORD.encode()})
    spec = source(
        secured_prometheus.server.url,
        timeout="5s",
        basicAuthSecret={"name": "prom-auth"},
        tls={"caSecret": {"name": "other-ca", "key": "ca.crt"}, "serverName": SERVER_NAME},
    )
    got = providers.provider(namespace, spec).scalar("1 + 1", datetime.now(UTC), {})
    assert not isinstance(got, ScalarObservation)
    assert "certificate verify failed" in str(got)


@pytest.mark.parametrize(
    ("data", "wire", "field", "problem"),
    [
        (
            {"token": b"\xff\xfe" + MARKER.encode()},
            {"bearerTokenSecret": {"name": "s", "key": "token"}},
            "spec.analysis.prometheus.bearerTokenSecret.key",
            "is not UTF-8 text",
        ),
        (
            {"token": f"{MARKER}\nX-Injected: yes".encode()},
            {"bearerTokenSecret": {"name": "s", "key": "token"}},
            "spec.analysis.prometheus.bearerTokenSecret.key",
            "is not a bearer token",
        ),
        (
            {"other": MARKER.encode()},
            {"bearerTokenSecret": {"name": "s", "key": "token"}},
            "spec.analysis.prometheus.bearerTokenSecret.key",
            "has no key 'token'",
        ),
        (
            {"token": MARKER.encode()},
            {"bearerTokenSecret": {"name": "missing", "key": "token"}},
            "spec.analysis.prometheus.bearerTokenSecret.name",
            "not found",
        ),
        (
            {"username": b"me", "password": b"\xc3\x28" + MARKER.encode()},
            {"basicAuthSecret": {"name": "s"}},
            "spec.analysis.prometheus.basicAuthSecret",
            "key 'password' in Secret",
        ),
        (
            {"username": f"a:{MARKER}".encode(), "password": b"pw"},
            {"basicAuthSecret": {"name": "s"}},
            "spec.analysis.prometheus.basicAuthSecret",
            "has a colon",
        ),
        (
            {"ca.crt": MARKER.encode()},
            {"tls": {"caSecret": {"name": "s", "key": "ca.crt"}}},
            "spec.analysis.prometheus.tls.caSecret.key",
            "holds no PEM certificate",
        ),
    ],
    ids=[
        "token not utf-8",
        "token not a header",
        "no key",
        "no secret",
        "password not utf-8",
        "colon",
        "no pem",
    ],
)
def test_unusable_secrets_are_source_errors_naming_the_field(
    kube: Kube,
    namespace: str,
    providers: PrometheusProviders,
    data: dict[str, bytes],
    wire: dict[str, object],
    field: str,
    problem: str,
) -> None:
    put_secret(kube, namespace, "s", data)
    with pytest.raises(SourceError) as raised:
        providers.provider(namespace, source("http://127.0.0.1:9", **wire))
    message = str(raised.value)
    assert message.startswith(field), message
    assert problem in message
    assert MARKER not in message
    # Nothing chained: the decoding error (and its frames) held the value.
    assert raised.value.__cause__ is None
    assert raised.value.__context__ is None or raised.value.__suppress_context__


@pytest.fixture
def other_namespace(kube: Kube) -> Iterator[str]:
    name = f"other-{secrets.token_hex(3)}"
    kube.create(NAMESPACES, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    yield name
    kube.delete(NAMESPACES, name)


class NamespacedRef(SecretKeyRef):
    """A reference that names a namespace (the schema has no such field; the source refuses it)."""

    namespace: str


def test_secrets_are_read_from_the_rollouts_namespace_only(
    kube: Kube, namespace: str, other_namespace: str, providers: PrometheusProviders
) -> None:
    put_secret(kube, other_namespace, "prom-token", {"token": MARKER.encode()})
    with pytest.raises(SourceError, match=r"bearerTokenSecret\.name: Secret .* not found") as raised:
        providers.settings(
            namespace, source("http://127.0.0.1:9", bearerTokenSecret={"name": "prom-token", "key": "token"})
        )
    assert other_namespace not in str(raised.value)

    elsewhere = PrometheusSource(
        address="http://127.0.0.1:9",
        bearer_token_secret=NamespacedRef(name="prom-token", key="token", namespace=other_namespace),
    )
    with pytest.raises(SourceError) as refused:
        providers.settings(namespace, elsewhere)
    assert str(refused.value).startswith("spec.analysis.prometheus.bearerTokenSecret.namespace:")
    assert "own namespace" in str(refused.value)

    put_secret(kube, namespace, "prom-token", {"token": b"own-token"})
    same = PrometheusSource(
        address="http://127.0.0.1:9",
        bearer_token_secret=NamespacedRef(name="prom-token", key="token", namespace=namespace),
    )
    settings = providers.settings(namespace, same)
    assert settings.bearer_token is not None and "own-token" not in repr(settings)


def test_a_rotated_token_replaces_the_provider_and_closes_the_old_one(
    kube: Kube, namespace: str, providers: PrometheusProviders
) -> None:
    """Issue 11: providers were rebuilt on every settings change but never closed or evicted."""
    put_secret(kube, namespace, "prom-token", {"token": b"first-token"})
    spec = source("http://127.0.0.1:9", bearerTokenSecret={"name": "prom-token", "key": "token"})
    first = providers.provider(namespace, spec)
    assert providers.provider(namespace, spec) is first  # same settings: reused
    rotated = base64.b64encode(b"second-token").decode()
    kube.patch(SECRETS, "prom-token", {"data": {"token": rotated}}, PatchType.MERGE, namespace)
    second = providers.provider(namespace, spec)
    assert second is not first
    assert first.closed and not second.closed
    assert len(providers) == 1


def test_at_most_max_sources_providers_are_kept_the_least_recently_used_closed(kube: Kube) -> None:
    bounded = PrometheusProviders(kube, max_sources=2)
    made = [bounded.provider("ml", source(f"http://127.0.0.{i}:9090")) for i in (1, 2, 3)]
    assert len(bounded) == 2
    assert [provider.closed for provider in made] == [True, False, False]
    bounded.close()
    assert all(provider.closed for provider in made)
