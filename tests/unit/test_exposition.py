"""The model server's protobuf exposition, read back by a small decoder written here.

The decoder knows only the wire format (varints, fixed64, length-delimited); what each field
number means is asserted against metrics.proto's numbering, so an encoder that put a value in
the wrong field fails here and not only when Prometheus ignores it.
"""

from __future__ import annotations

import math
import struct
from collections import defaultdict

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from rollouts.local.model_server.exposition import (
    NATIVE_SCHEMA,
    ZERO_THRESHOLD,
    NativeHistogram,
    encode,
    varint,
    zigzag,
)
from rollouts.local.model_server.metrics import REQUEST_DURATION_SECONDS, ModelMetrics

Fields = dict[int, list[int | bytes]]


def read_varint(data: bytes, at: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        byte = data[at]
        value |= (byte & 0x7F) << shift
        at, shift = at + 1, shift + 7
        if not byte & 0x80:
            return value, at


def fields(data: bytes) -> Fields:
    """Field number -> values: ints for varints and fixed64 (raw bits), bytes for the rest."""
    found: Fields = defaultdict(list)
    at = 0
    while at < len(data):
        key, at = read_varint(data, at)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, at = read_varint(data, at)
            found[number].append(value)
        elif wire == 1:
            found[number].append(int.from_bytes(data[at : at + 8], "little"))
            at += 8
        elif wire == 2:
            size, at = read_varint(data, at)
            found[number].append(data[at : at + size])
            at += size
        else:
            raise AssertionError(f"wire type {wire} is not written by the encoder")
    return found


def double(bits: int | bytes) -> float:
    assert isinstance(bits, int)
    return float(struct.unpack("<d", bits.to_bytes(8, "little"))[0])


def unzigzag(value: int | bytes) -> int:
    assert isinstance(value, int)
    return (value >> 1) ^ -(value & 1)


def families(body: bytes) -> dict[str, Fields]:
    """Delimited MetricFamily messages by name."""
    out: dict[str, Fields] = {}
    at = 0
    while at < len(body):
        size, at = read_varint(body, at)
        family = fields(body[at : at + size])
        at += size
        name = family[1][0]
        assert isinstance(name, bytes)
        out[name.decode()] = family
    return out


def message(value: int | bytes) -> Fields:
    assert isinstance(value, bytes)
    return fields(value)


def test_wire_primitives_match_the_protobuf_spec() -> None:
    # The protobuf encoding guide's own examples: 150 -> 96 01; sint32 -2 -> 3.
    assert varint(150) == bytes([0x96, 0x01])
    assert [zigzag(v) for v in (0, -1, 1, -2, 2147483647, -2147483648)] == [
        0,
        1,
        2,
        3,
        4294967294,
        4294967295,
    ]
    assert varint(-1) == b"\xff" * 9 + b"\x01"  # int64 -1 takes ten bytes


def native_buckets(histogram: Fields) -> dict[int, int]:
    """Bucket index -> count from spans (field 12) and deltas (field 13)."""
    deltas: list[int] = []
    for packed in histogram.get(13, []):
        assert isinstance(packed, bytes)
        at = 0
        while at < len(packed):
            value, at = read_varint(packed, at)
            deltas.append(unzigzag(value))
    counts, running = {}, 0
    index, position = 0, 0
    for span in histogram[12]:
        parts = message(span)
        index += unzigzag(parts.get(1, [0])[0])
        length = parts.get(2, [0])[0]
        assert isinstance(length, int)
        for _ in range(length):
            running += deltas[position]
            counts[index] = running
            index, position = index + 1, position + 1
    assert position == len(deltas)
    return counts


@given(st.lists(st.floats(min_value=1e-6, max_value=100.0), max_size=200))
@settings(max_examples=100, deadline=None)
def test_native_buckets_round_trip(values: list[float]) -> None:
    native = NativeHistogram()
    for value in values:
        native.observe(value)
    histogram = fields(native.encoded_fields())
    assert unzigzag(histogram[5][0]) == NATIVE_SCHEMA
    assert double(histogram[6][0]) == ZERO_THRESHOLD
    counts = native_buckets(histogram)
    assert sum(counts.values()) == len(values)
    scale = 2**NATIVE_SCHEMA
    for value in values:
        index = NativeHistogram.index(value)
        assert 2 ** ((index - 1) / scale) < value <= 2 ** (index / scale)
        assert counts[index] > 0


def test_an_empty_native_histogram_has_a_no_op_span() -> None:
    histogram = fields(NativeHistogram().encoded_fields())
    assert [message(span) for span in histogram[12]] == [{1: [0], 2: [0]}]
    assert 13 not in histogram


def test_a_registry_encodes_counters_gauges_and_both_histograms() -> None:
    registry = CollectorRegistry()
    Counter("jobs", "Jobs done.", ["kind"], registry=registry).labels("a").inc(3)
    Gauge("temperature", "Degrees.", registry=registry).set(21.5)
    latency = Histogram("latency_seconds", "Latency.", ["version"], buckets=(0.1, 1.0), registry=registry)
    native = NativeHistogram()
    for seconds in (0.05, 0.5, 0.5, 3.0):
        latency.labels("v1").observe(seconds)
        native.observe(seconds)
    decoded = families(encode(registry, {"latency_seconds": native}))

    jobs = decoded["jobs_total"]
    assert jobs[3] == [0]  # COUNTER
    metric = message(jobs[4][0])
    assert [(message(p)[1][0], message(p)[2][0]) for p in metric[1]] == [(b"kind", b"a")]
    assert double(message(metric[3][0])[1][0]) == 3.0
    assert double(message(message(decoded["temperature"][4][0])[2][0])[1][0]) == 21.5

    family = decoded["latency_seconds"]
    assert family[3] == [4]  # HISTOGRAM
    histogram = message(message(family[4][0])[7][0])
    assert histogram[1] == [4]
    assert double(histogram[2][0]) == pytest.approx(4.05)
    classic = [message(bucket) for bucket in histogram[3]]
    assert [(b[1][0], double(b[2][0])) for b in classic] == [(1, 0.1), (3, 1.0)]  # no +Inf bucket
    native_counts = native_buckets(histogram)
    assert native_counts == {
        NativeHistogram.index(0.05): 1,
        NativeHistogram.index(0.5): 2,
        NativeHistogram.index(3.0): 1,
    }
    assert NativeHistogram.index(0.5) == -8  # 0.5 = 2^(-8/8) is an upper bound


def test_the_model_servers_latency_family_is_native_only_when_asked() -> None:
    plain, with_native = ModelMetrics("v1"), ModelMetrics("v1", native_histograms=True)
    for metrics in (plain, with_native):
        metrics.observe_request(200, 0.003)
    assert not plain.natives
    family = families(with_native.protobuf())[REQUEST_DURATION_SECONDS]
    histogram = message(message(family[4][0])[7][0])
    assert native_buckets(histogram) == {NativeHistogram.index(0.003): 1}
    assert math.isclose(2 ** (NativeHistogram.index(0.003) / 8) / 0.003, 1.0, rel_tol=0.1)
