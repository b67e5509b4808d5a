"""Metrics providers for rollouts: spec.analysis.prometheus plus its Secrets, cached per source.

Credentials are never in the spec, only Secret references; they are read at each reconcile
(a rotated token takes effect at the next look) and a provider is rebuilt only when the
resulting settings change, so connections are reused across looks.
"""

from __future__ import annotations

import base64
import hashlib
import tempfile
import threading
from pathlib import Path

from analysis.providers.prometheus import PrometheusProvider, PrometheusSettings
from rollouts.api.durations import seconds
from rollouts.api.spec import PrometheusSource, SecretKeyRef
from rollouts.runtime.kube import Kube, NotFound, Resource

SECRETS = Resource("", "v1", "secrets", "Secret", namespaced=True)


class SourceError(Exception):
    """A Secret named by spec.analysis.prometheus is missing or lacks the key."""


class PrometheusProviders:
    """One PrometheusProvider per distinct settings, built from specs and Secrets."""

    def __init__(self, kube: Kube, ca_dir: Path | None = None) -> None:
        self._kube = kube
        self._ca_dir = ca_dir
        """Where CA bundles from Secrets are written; a temporary folder made on first use."""
        self._providers: dict[PrometheusSettings, PrometheusProvider] = {}
        self._lock = threading.Lock()

    def provider(self, namespace: str, source: PrometheusSource) -> PrometheusProvider:
        """The provider for ``source`` in ``namespace`` (Secrets read now)."""
        settings = self.settings(namespace, source)
        with self._lock:
            provider = self._providers.get(settings)
            if provider is None:
                provider = self._providers[settings] = PrometheusProvider(settings)
            return provider

    def settings(self, namespace: str, source: PrometheusSource) -> PrometheusSettings:
        """Resolve the Secrets of ``source`` into provider settings."""
        bearer = self._secret(namespace, source.bearer_token_secret) if source.bearer_token_secret else None
        basic = None
        if source.basic_auth_secret is not None:
            name = source.basic_auth_secret.name
            basic = (
                self._secret(namespace, SecretKeyRef(name=name, key="username")),
                self._secret(namespace, SecretKeyRef(name=name, key="password")),
            )
        tls = source.tls
        ca_file = None
        if tls is not None and tls.ca_secret is not None:
            ca_file = self._ca_file(self._secret(namespace, tls.ca_secret))
        return PrometheusSettings(
            url=source.address,
            timeout=seconds(source.timeout),
            bearer_token=bearer.strip() if bearer else None,
            basic_auth=basic,
            ca_file=ca_file,
            server_name=tls.server_name if tls else None,
            insecure_skip_verify=tls.insecure_skip_verify if tls else False,
        )

    def close(self) -> None:
        """Close every provider's connections."""
        with self._lock:
            for provider in self._providers.values():
                provider.close()
            self._providers.clear()

    def _secret(self, namespace: str, ref: SecretKeyRef) -> str:
        try:
            secret = self._kube.get(SECRETS, ref.name, namespace)
        except NotFound as missing:
            raise SourceError(
                f"Secret {namespace}/{ref.name} (spec.analysis.prometheus) not found"
            ) from missing
        data = secret.get("data") or {}
        if ref.key not in data:
            raise SourceError(f"Secret {namespace}/{ref.name} has no key {ref.key!r}")
        return base64.b64decode(data[ref.key]).decode()

    def _ca_file(self, pem: str) -> str:
        if self._ca_dir is None:
            self._ca_dir = Path(tempfile.mkdtemp(prefix="model-rollouts-ca-"))
        self._ca_dir.mkdir(parents=True, exist_ok=True)
        path = self._ca_dir / f"ca-{hashlib.sha256(pem.encode()).hexdigest()[:16]}.pem"
        if not path.exists():
            path.write_text(pem)
        return str(path)
