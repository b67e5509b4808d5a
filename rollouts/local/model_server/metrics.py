"""The model server's Prometheus metrics: the one place their names, labels and buckets are defined.

Every series carries ``version``, the label a ModelRollout's queries select cohorts by
(``{version="{{version}}"}``), so baseline and candidate are told apart by what they serve and
not by where they run.

=======================================  =========  =================  ===========================
metric                                   type       labels             meaning
=======================================  =========  =================  ===========================
``model_requests_total``                 counter    version, code      ``/predict`` requests by
                                                                       HTTP status
``model_request_duration_seconds``       histogram  version            time to answer ``/predict``
``model_predictions_total``              counter    version, class     valid predictions by class
                                                                       (``legit``, ``fraud``)
``model_prediction_score``               histogram  version            valid scores, 0.05 buckets
``model_invalid_predictions_total``      counter    version            NaN predictions
``model_device_info``                    gauge      version, device    1 for the device in use,
                                                                       0 for the other
``model_gpu_memory_bytes``               gauge      version            simulated accelerator
                                                                       memory; 0 on cpu
``DCGM_FI_DEV_GPU_UTIL``                 gauge      DCGM's (below)     GPU utilisation, percent;
                                                                       absent on cpu
``DCGM_FI_DEV_FB_USED``                  gauge      DCGM's (below)     framebuffer memory used,
                                                                       MiB; absent on cpu
``DCGM_FI_DEV_XID_ERRORS``               gauge      DCGM's (below)     last XID error; 0 (none)
=======================================  =========  =================  ===========================

With ``--native-histograms`` the latency histogram also has native (exponential, schema 3)
buckets, served when a scraper asks for protobuf (``exposition``); the classic buckets stay.

Counters and histograms are created at 0 for every label value ``/predict`` produces (codes
200, 400, 500 and 503, both classes) before the first request, so the first error is an
increase from 0 and not a new series whose first sample is lost to differencing.

``model_device_info`` exports both devices so ``min(model_device_info{device!="cpu"})`` — the
example ``readyQuery`` — is 0 rather than absent while a pod runs on cpu. The GPU memory gauge
is a number from the switches, not a measurement: there is no accelerator here.

The three ``DCGM_FI_DEV_*`` series are a stand-in for the NVIDIA DCGM exporter, so that the GPU
guards of examples/gpu-guards work end to end without a GPU: the same names, units and labels
as the exporter gives a GPU that a pod holds (``gpu``, ``UUID``, ``device``, ``modelName``,
``Hostname`` and, with its Kubernetes mapping, ``pod``, ``namespace``, ``container``) — and no
``version``, as the exporter has none. Their values come from the switches. While the model
runs on cpu they are absent, as the exporter attributes no GPU to a pod that did not get one.
"""

from __future__ import annotations

import socket
import threading
import uuid

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from rollouts.local.model_server.config import Device, Switches
from rollouts.local.model_server.exposition import NativeHistogram, encode
from rollouts.local.model_server.model import CLASSES, Prediction

REQUESTS_TOTAL = "model_requests_total"
REQUEST_DURATION_SECONDS = "model_request_duration_seconds"
PREDICTIONS_TOTAL = "model_predictions_total"
PREDICTION_SCORE = "model_prediction_score"
INVALID_PREDICTIONS_TOTAL = "model_invalid_predictions_total"
DEVICE_INFO = "model_device_info"
GPU_MEMORY_BYTES = "model_gpu_memory_bytes"
DCGM_GPU_UTIL = "DCGM_FI_DEV_GPU_UTIL"
DCGM_FB_USED = "DCGM_FI_DEV_FB_USED"
DCGM_XID_ERRORS = "DCGM_FI_DEV_XID_ERRORS"
DCGM_LABELS = ("gpu", "UUID", "device", "modelName", "Hostname", "pod", "namespace", "container")
"""The labels the DCGM exporter puts on a GPU's series when a pod holds it."""
CONTAINER = "server"
"""The model server's container name in the example Deployments."""

LATENCY_BUCKETS = (0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
"""Seconds. A fast-path request lands below 0.5 ms, a cpu-path one in the 5–25 ms buckets."""

SCORE_BUCKETS = tuple(round(0.05 * step, 2) for step in range(1, 21))
"""0.05, 0.10, …, 1.0 (and +Inf, added by the client library)."""

_PRESET_CODES = ("200", "400", "500", "503")
"""The codes ``/predict`` answers with (411 and 413 for broken clients aside)."""


class ModelMetrics:
    """The metrics of one server process, in their own registry, every series labelled ``version``."""

    def __init__(
        self, version: str, pod: str = "", namespace: str = "default", *, native_histograms: bool = False
    ) -> None:
        self.registry = CollectorRegistry()
        self.natives: dict[str, NativeHistogram] = (
            {REQUEST_DURATION_SECONDS: NativeHistogram()} if native_histograms else {}
        )
        """Native parts of histogram families, served in the protobuf exposition only."""
        self._exposing = threading.Lock()
        """Held while a request is counted in both histograms and while protobuf is encoded:
        Prometheus refuses a native sample whose buckets do not add up to its count."""
        self._version = version
        hostname = socket.gethostname()
        pod = pod or hostname
        self._gpu_labels = {
            "gpu": "0",
            "UUID": f"GPU-{uuid.uuid5(uuid.NAMESPACE_DNS, f'{namespace}/{pod}')}",
            "device": "nvidia0",
            "modelName": "simulated",
            "Hostname": hostname,
            "pod": pod,
            "namespace": namespace,
            "container": CONTAINER,
        }
        self._dcgm = {
            name: Gauge(name, text, DCGM_LABELS, registry=self.registry)
            for name, text in (
                (DCGM_GPU_UTIL, "GPU utilization (in %) — a stand-in for the DCGM exporter's."),
                (DCGM_FB_USED, "Framebuffer memory used (in MiB) — a stand-in for the DCGM exporter's."),
                (DCGM_XID_ERRORS, "Value of the last XID error encountered — a stand-in, always 0."),
            )
        }
        self._requests = Counter(
            REQUESTS_TOTAL,
            "Predict requests by HTTP status code.",
            ["version", "code"],
            registry=self.registry,
        )
        self._duration = Histogram(
            REQUEST_DURATION_SECONDS,
            "Time to answer a predict request, from its body read to its response written.",
            ["version"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self._predictions = Counter(
            PREDICTIONS_TOTAL, "Valid predictions by class.", ["version", "class"], registry=self.registry
        )
        self._scores = Histogram(
            PREDICTION_SCORE,
            "Scores of valid predictions.",
            ["version"],
            buckets=SCORE_BUCKETS,
            registry=self.registry,
        )
        self._invalid = Counter(
            INVALID_PREDICTIONS_TOTAL, "Predictions that were NaN.", ["version"], registry=self.registry
        )
        self._device = Gauge(
            DEVICE_INFO,
            "1 for the device the model runs on, 0 for the others.",
            ["version", "device"],
            registry=self.registry,
        )
        self._gpu_memory = Gauge(
            GPU_MEMORY_BYTES,
            "Simulated accelerator memory in use (a switch, not a measurement).",
            ["version"],
            registry=self.registry,
        )
        for code in _PRESET_CODES:
            self._requests.labels(version, code)
        for label in CLASSES:
            self._predictions.labels(version, label)
        for per_version in (self._duration, self._scores, self._invalid):
            per_version.labels(version)

    def observe_request(self, code: int, seconds: float) -> None:
        """Count one ``/predict`` answer and its duration."""
        self._requests.labels(self._version, str(code)).inc()
        with self._exposing:
            self._duration.labels(self._version).observe(seconds)
            for native in self.natives.values():
                native.observe(seconds)

    def protobuf(self) -> bytes:
        """The registry in the protobuf exposition, native parts included (``exposition``)."""
        with self._exposing:
            return encode(self.registry, self.natives)

    def observe_prediction(self, prediction: Prediction) -> None:
        """Count a prediction: valid ones by class and score, NaN ones as invalid."""
        if not prediction.valid:
            self._invalid.labels(self._version).inc()
            return
        self._predictions.labels(self._version, prediction.label).inc()
        self._scores.labels(self._version).observe(prediction.score)

    def set_device(self, switches: Switches) -> None:
        """Publish where the model runs and the simulated GPU readings there (none on cpu)."""
        device = switches.device
        for candidate in Device:
            self._device.labels(self._version, candidate.value).set(1.0 if candidate is device else 0.0)
        on_gpu = device is Device.GPU
        self._gpu_memory.labels(self._version).set(switches.gpu_memory_mib * 2**20 if on_gpu else 0.0)
        readings = {
            DCGM_GPU_UTIL: switches.gpu_util_percent,
            DCGM_FB_USED: switches.gpu_memory_mib,
            DCGM_XID_ERRORS: 0.0,
        }
        for name, gauge in self._dcgm.items():
            if on_gpu:
                gauge.labels(**self._gpu_labels).set(readings[name])
            else:
                gauge.clear()
