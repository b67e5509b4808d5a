"""Metrics providers for rollouts: spec.analysis.prometheus plus its Secrets, cached per source.

Credentials are never in the spec, only Secret references; they are read at each reconcile
(a rotated token takes effect at the next look) and a provider is rebuilt only when the
resulting settings change, so connections are reused across looks.

Rules that keep the controller from being anyone's deputy or crash loop:

- **Secrets come from the rollout's own namespace only.** ``SecretKeyRef`` has no namespace
  field (the schema refuses one); should a reference ever carry one naming another namespace,
  it is refused here with a :class:`SourceError` naming the field, and nothing is read. Whoever
  may create a rollout in a namespace can then point it only at Secrets of that namespace.
- **Bad Secret data is a SourceError, never an exception from deeper down**: a missing Secret,
  a missing key, a value that is not UTF-8, a token an HTTP header cannot carry, a CA bundle
  with no certificate. The message names the field (``spec.analysis.prometheus.
  bearerTokenSecret.key``) and the problem, never the value; the reconciler turns it into a
  status condition instead of failing the reconcile again and again.
- **Values stay wrapped**: tokens and passwords become
  :class:`~analysis.providers.prometheus.Credential` at once, every token and password is registered
  with :func:`rollouts.runtime.logs.register_secret` (masked in any log line), and the CA bundle
  stays in memory (no file: the controller's root file system is read-only and it has no
  writable ``/tmp``).
"""

from __future__ import annotations

import base64
import binascii
import re
import ssl
import threading
from collections import OrderedDict

from analysis.providers.prometheus import (
    Credential,
    PrometheusProvider,
    PrometheusSettings,
    QueryObserver,
    ssl_context,
)
from rollouts.api.spec import PrometheusSource, SecretKeyRef
from rollouts.runtime.kube import Kube, NotFound, Resource
from rollouts.runtime.logs import register_secret

SECRETS = Resource("", "v1", "secrets", "Secret", namespaced=True)
FIELD = "spec.analysis.prometheus"
MAX_SOURCES = 256
"""Providers kept at most (one per distinct source): each holds a connection pool."""
_VISIBLE_ASCII = re.compile(r"^[\x21-\x7e]+$")


class SourceError(Exception):
    """spec.analysis.prometheus cannot be used: a Secret or key is missing or its value unusable.

    The message names the field and the problem, never a Secret's value.
    """


class PrometheusProviders:
    """One PrometheusProvider per source, rebuilt when its settings change, bounded in number.

    A source is ``spec.analysis.prometheus`` as written (address, Secret references, TLS) in one
    namespace. Its settings — with the Secrets' current values — are resolved at every call; when
    they differ from the cached provider's (a rotated token, a new CA), the old provider is closed
    and replaced, so connections and credentials of the past are never kept. At most
    ``max_sources`` providers are kept; the least recently used is closed first. (Before this
    rule every rotation added a provider and none was ever closed.)

    Every query a provider sends is told to ``on_query`` (the controller counts them in
    ``modelrollouts_prometheus_queries_total``; None: not told). Each provider keeps up to
    ``connections`` connections open: the controller passes the most queries its workers can
    have in flight, so that every rollout of one namespace may share one source without a
    connection opened and closed per query.
    """

    def __init__(
        self,
        kube: Kube,
        max_sources: int = MAX_SOURCES,
        on_query: QueryObserver | None = None,
        connections: int = PrometheusSettings.connections,
    ) -> None:
        self._kube = kube
        self._max_sources = max_sources
        self._on_query = on_query
        self._connections = connections
        self._providers: OrderedDict[tuple[str, str], tuple[PrometheusSettings, PrometheusProvider]] = (
            OrderedDict()
        )
        self._lock = threading.Lock()

    def provider(self, namespace: str, source: PrometheusSource) -> PrometheusProvider:
        """The provider for ``source`` in ``namespace`` (Secrets read now)."""
        settings = self.settings(namespace, source)
        key = (namespace, source.model_dump_json())
        stale: list[PrometheusProvider] = []
        with self._lock:
            cached = self._providers.get(key)
            if cached is not None and cached[0] == settings:
                self._providers.move_to_end(key)
                return cached[1]
            if cached is not None:
                stale.append(cached[1])
            provider = PrometheusProvider(settings, self._on_query)
            self._providers[key] = (settings, provider)
            self._providers.move_to_end(key)
            while len(self._providers) > self._max_sources:
                stale.append(self._providers.popitem(last=False)[1][1])
        for old in stale:
            old.close()
        return provider

    def __len__(self) -> int:
        """How many providers are kept."""
        return len(self._providers)

    def settings(self, namespace: str, source: PrometheusSource) -> PrometheusSettings:
        """Resolve the Secrets of ``source`` into provider settings (SourceError when unusable)."""
        bearer = None
        if source.bearer_token_secret is not None:
            field = f"{FIELD}.bearerTokenSecret"
            token = self._secret(namespace, source.bearer_token_secret, field).strip()
            if not _VISIBLE_ASCII.match(token):
                raise SourceError(
                    f"{field}.key: the value of key {source.bearer_token_secret.key!r} in Secret "
                    f"{namespace}/{source.bearer_token_secret.name} is not a bearer token: it must be "
                    "visible ASCII characters without spaces"
                )
            register_secret(token)
            bearer = Credential(token)
        basic = None
        if source.basic_auth_secret is not None:
            field = f"{FIELD}.basicAuthSecret"
            name = source.basic_auth_secret.name
            _same_namespace(namespace, source.basic_auth_secret, field)
            username = self._secret(namespace, SecretKeyRef(name=name, key="username"), field, field)
            if ":" in username:
                raise SourceError(
                    f"{field}: the username in Secret {namespace}/{name} has a colon, "
                    "which basic auth cannot carry"
                )
            secret = self._secret(namespace, SecretKeyRef(name=name, key="password"), field, field)
            register_secret(secret)
            password = Credential(secret)
            basic = (username, password)
        tls = source.tls
        ca_pem = None
        if tls is not None and tls.ca_secret is not None:
            field = f"{FIELD}.tls.caSecret"
            ca_pem = self._secret(namespace, tls.ca_secret, field)
            try:
                ssl_context(ca_pem)
            except (ssl.SSLError, ValueError):
                raise SourceError(
                    f"{field}.key: key {tls.ca_secret.key!r} of Secret {namespace}/{tls.ca_secret.name} "
                    "holds no PEM certificate"
                ) from None
        return PrometheusSettings(
            url=source.address,
            timeout=source.timeout.seconds,
            bearer_token=bearer,
            basic_auth=basic,
            ca_pem=ca_pem,
            server_name=tls.server_name if tls else None,
            insecure_skip_verify=tls.insecure_skip_verify if tls else False,
            connections=self._connections,
        )

    def close(self) -> None:
        """Close every provider's connections."""
        with self._lock:
            for _, provider in self._providers.values():
                provider.close()
            self._providers.clear()

    def _secret(self, namespace: str, ref: SecretKeyRef, field: str, key_field: str | None = None) -> str:
        """The text of ``ref``'s key in a Secret of ``namespace``; SourceError naming ``field``.

        ``key_field`` names the field for problems with the key or its value (default
        ``<field>.key``; basic auth has fixed keys, so there it is the Secret's field itself).

        ``from None`` everywhere: the underlying exceptions (and their tracebacks' frames) hold
        the Secret's data, which must not travel further.
        """
        _same_namespace(namespace, ref, field)
        try:
            secret = self._kube.get(SECRETS, ref.name, namespace)
        except NotFound:
            raise SourceError(
                f"{field}.name: Secret {namespace}/{ref.name} not found "
                "(Secrets are read from the rollout's namespace only)"
            ) from None
        key_field = key_field or f"{field}.key"
        data = secret.get("data") or {}
        if ref.key not in data:
            raise SourceError(f"{key_field}: Secret {namespace}/{ref.name} has no key {ref.key!r}")
        try:
            value = base64.b64decode(data[ref.key], validate=True).decode("utf-8")
        except (binascii.Error, TypeError, ValueError):
            # UnicodeDecodeError is a ValueError; its text quotes the bytes, so it is dropped.
            raise SourceError(
                f"{key_field}: the value of key {ref.key!r} in Secret {namespace}/{ref.name} "
                "is not UTF-8 text"
            ) from None
        return value


def _same_namespace(namespace: str, ref: object, field: str) -> None:
    """Refuse a reference that names another namespace (the schema has no such field today)."""
    other = getattr(ref, "namespace", None)
    if other is not None and other != namespace:
        raise SourceError(
            f"{field}.namespace: Secrets are read from the rollout's own namespace {namespace!r} "
            f"only, not {other!r}"
        )
