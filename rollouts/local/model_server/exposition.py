"""Prometheus' protobuf exposition, by hand: the one format that carries native histograms.

Why by hand: prometheus_client writes the text formats only, and Prometheus scrapes native
histograms only as protobuf (``application/vnd.google.protobuf;
proto=io.prometheus.client.MetricFamily; encoding=delimited``); the ``protobuf`` package is not a
dependency, and the subset needed is small: varints, zig-zag, doubles and length-delimited
messages. Field numbers are those of ``io/prometheus/client/metrics.proto`` (client_model
v0.6.2): MetricFamily name 1, help 2, type 3, metric 4; Metric label 1, gauge 2, counter 3,
untyped 5, histogram 7; Histogram sample_count 1, sample_sum 2, bucket 3, schema 5 (sint32),
zero_threshold 6, zero_count 7, positive_span 12, positive_delta 13 (sint64); Bucket
cumulative_count 1, upper_bound 2; BucketSpan offset 1 (sint32), length 2. The body is each
MetricFamily prefixed by its length as a varint.

**Decision: one family carries both histograms.** The latency family keeps its classic buckets
and gains native parts, so a Prometheus with ``scrape_native_histograms`` and
``always_scrape_classic_histograms`` stores ``model_request_duration_seconds`` (native) and
``model_request_duration_seconds_bucket`` (classic) from the same requests, and a Prometheus
without them (or a scraper asking for text) sees the classic histogram as before.

**Content negotiation** (:func:`wants_protobuf`): protobuf only when the Accept header asks for
that exact media type; text otherwise, so curl and older scrapers are unchanged.
"""

from __future__ import annotations

import itertools
import math
import struct
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry
from prometheus_client.metrics_core import Metric

PROTOBUF_CONTENT_TYPE = (
    "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited"
)
NATIVE_SCHEMA = 3
"""Buckets grow by 2^(2^-3) = 1.0905: 9% wide, against 2.5x for the default classic buckets."""
ZERO_THRESHOLD = 2.0**-128
"""client_golang's default: only (almost) exact zeros fall in the zero bucket."""

_VARINT, _FIXED64, _DELIMITED = 0, 1, 2
_TYPES = {"counter": 0, "gauge": 1, "untyped": 3, "unknown": 3, "histogram": 4}
"""The MetricType of each family type encoded: what the model server's registry holds (summaries,
info and state sets would need their own messages and are left out)."""


def varint(value: int) -> bytes:
    """Unsigned LEB128, as protobuf writes uint64 (negative int64 as its two's complement).

    >>> varint(1).hex(), varint(300).hex()
    ('01', 'ac02')
    """
    value &= (1 << 64) - 1
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def zigzag(value: int) -> int:
    """sint32/sint64 mapping: 0, -1, 1, -2 ... to 0, 1, 2, 3 ...

    >>> [zigzag(v) for v in (0, -1, 1, -2)]
    [0, 1, 2, 3]
    """
    return (value << 1) ^ (value >> 63)


def _key(number: int, wire: int) -> bytes:
    return varint(number << 3 | wire)


def _uint(number: int, value: int) -> bytes:
    return _key(number, _VARINT) + varint(value)


def _double(number: int, value: float) -> bytes:
    return _key(number, _FIXED64) + struct.pack("<d", value)


def _bytes(number: int, payload: bytes) -> bytes:
    return _key(number, _DELIMITED) + varint(len(payload)) + payload


def _text(number: int, value: str) -> bytes:
    return _bytes(number, value.encode())


class NativeHistogram:
    """Counts of a native histogram at :data:`NATIVE_SCHEMA` (positive observations only).

    Bucket index i holds (2^((i-1)/8), 2^(i/8)]; observations at or below
    :data:`ZERO_THRESHOLD` count in the zero bucket. Thread-safe: request threads observe while a
    scrape encodes.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._buckets: dict[int, int] = {}
        self._zero = 0

    @staticmethod
    def index(value: float) -> int:
        """The bucket of ``value`` > 0: the least i with value <= 2^(i / 2^schema).

        >>> [NativeHistogram.index(v) for v in (1.0, 1.05, 2.0, 0.5)]
        [0, 1, 8, -8]
        """
        scale = 1 << NATIVE_SCHEMA
        guess = math.ceil(math.log2(value) * scale)
        while value <= 2.0 ** ((guess - 1) / scale):
            guess -= 1
        while value > 2.0 ** (guess / scale):
            guess += 1
        return guess

    def observe(self, value: float) -> None:
        """Count one observation (latencies are never negative; NaN is ignored)."""
        if math.isnan(value):
            return
        with self._lock:
            if value <= ZERO_THRESHOLD:
                self._zero += 1
            else:
                key = self.index(value)
                self._buckets[key] = self._buckets.get(key, 0) + 1

    def encoded_fields(self) -> bytes:
        """Histogram fields 5-7, 12 and 13: schema, zero bucket, spans and deltas."""
        with self._lock:
            zero = self._zero
            indices = sorted(self._buckets)
            counts = [self._buckets[index] for index in indices]
        out = _key(5, _VARINT) + varint(zigzag(NATIVE_SCHEMA))
        out += _double(6, ZERO_THRESHOLD) + _uint(7, zero)
        spans: list[tuple[int, int]] = []
        previous_end = 0
        for index in indices:
            if spans and index == previous_end:
                spans[-1] = (spans[-1][0], spans[-1][1] + 1)
            else:
                spans.append((index - previous_end, 1))
            previous_end = index + 1
        for offset, length in spans or [(0, 0)]:  # a no-op span marks an empty histogram as native
            out += _bytes(12, _key(1, _VARINT) + varint(zigzag(offset)) + _uint(2, length))
        deltas = b"".join(
            varint(zigzag(count - before)) for before, count in itertools.pairwise([0, *counts])
        )
        if deltas:
            out += _bytes(13, deltas)
        return out


def wants_protobuf(accept: str | None) -> bool:
    """True when an Accept header asks for delimited MetricFamily protobuf.

    >>> wants_protobuf("application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;"
    ...                "encoding=delimited;q=0.5,text/plain;version=0.0.4;q=0.4")
    True
    >>> wants_protobuf("text/plain;version=0.0.4"), wants_protobuf(None)
    (False, False)
    """
    for item in (accept or "").split(","):
        media, *parameters = (part.strip() for part in item.split(";"))
        named = {
            name.strip().lower(): value.strip() for name, _, value in (p.partition("=") for p in parameters)
        }
        if (
            media.lower() == "application/vnd.google.protobuf"
            and named.get("proto") == "io.prometheus.client.MetricFamily"
            and named.get("encoding") == "delimited"
            and named.get("q") != "0"
        ):
            return True
    return False


def _labels(labels: Mapping[str, str]) -> bytes:
    return b"".join(_bytes(1, _text(1, name) + _text(2, value)) for name, value in labels.items())


@dataclass
class _Series:
    """The samples of one label set of a histogram family."""

    buckets: list[tuple[float, float]] = field(default_factory=list)
    count: float = 0.0
    total: float = 0.0


def _histograms(family: Metric, native: NativeHistogram | None) -> Iterable[bytes]:
    """One Metric message per label set of a histogram family (its samples grouped by labels)."""
    series: dict[tuple[tuple[str, str], ...], _Series] = {}
    for sample in family.samples:
        labels = tuple((k, v) for k, v in sample.labels.items() if k != "le")
        entry = series.setdefault(labels, _Series())
        suffix = sample.name[len(family.name) :]
        if suffix == "_bucket":
            entry.buckets.append((float(sample.labels["le"]), sample.value))
        elif suffix == "_count":
            entry.count = sample.value
        elif suffix == "_sum":
            entry.total = sample.value
    for labels, entry in series.items():
        body = _uint(1, round(entry.count)) + _double(2, entry.total)
        for upper, cumulative in entry.buckets:
            if not math.isinf(upper):  # the +Inf bucket is optional: it is the count
                body += _bytes(3, _uint(1, round(cumulative)) + _double(2, upper))
        if native is not None:
            body += native.encoded_fields()
        yield _labels(dict(labels)) + _bytes(7, body)


def _family(family: Metric, native: NativeHistogram | None) -> bytes:
    kind = _TYPES[family.type]
    if family.type == "histogram":
        name, metrics = family.name, list(_histograms(family, native))
    else:
        # counters are named with their _total sample; _created samples are left out.
        samples = [s for s in family.samples if not s.name.endswith("_created")]
        name = samples[0].name if samples else family.name
        value_field = {0: 3, 1: 2}.get(kind, 5)
        metrics = [_labels(s.labels) + _bytes(value_field, _double(1, s.value)) for s in samples]
    body = _text(1, name) + _text(2, family.documentation) + _uint(3, kind)
    body += b"".join(_bytes(4, metric) for metric in metrics)
    return varint(len(body)) + body


def encode(registry: CollectorRegistry, natives: Mapping[str, NativeHistogram]) -> bytes:
    """The registry as delimited MetricFamily messages; ``natives`` adds native parts by family.

    A family named in ``natives`` must have one label set (the model server's are per version).
    """
    return b"".join(
        _family(family, natives.get(family.name))
        for family in registry.collect()
        if family.samples and family.type in _TYPES
    )
