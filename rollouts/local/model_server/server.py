"""The HTTP side of the model server: probes, predictions, metrics and the admin switches.

===================  ======  ====================================================================
path                 method  answer
===================  ======  ====================================================================
``/predict``         POST    ``{"features": [32 numbers]}`` → ``{"version", "score", "class"}``
                             and a ``Server-Timing: predict;dur=<ms>`` header; 503 until
                             ready, 400 for a malformed body, 500 when injected
``/readyz``          GET     200 once the model is loaded *and* warmed up, else 503 and the stage
``/healthz``         GET     200 while the process serves (liveness; says nothing of the model)
``/metrics``         GET     Prometheus text format (see ``metrics``); protobuf with native
                             histograms when asked for it and ``--native-histograms`` is on
                             (``exposition``)
``/admin/switches``  GET     the current switches as JSON (only with ``--enable-admin``)
``/admin/switches``  POST    merge a JSON object into the switches, answer the result
===================  ======  ====================================================================

The listener opens at once and the model loads in a background thread, as in a real serving
container: a startup or readiness probe sees 503 for the load time. "Load" builds the model
for real and then waits out the rest of ``load_seconds``, which stands for fetching weights
from storage; warm-up then runs ``warmup_requests`` real predictions on the configured device.

The standard library's ``ThreadingHTTPServer`` speaks HTTP/1.1 with keep-alive here: a thread
per connection, no framework, and under a millisecond per request keeps well ahead of the
20–50 requests/s the load generator sends (bench/results/model_server.md).
"""

from __future__ import annotations

import enum
import functools
import json
import logging
import math
import os
import random
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, ProcessCollector, generate_latest

from rollouts.local.model_server.config import CRASH_EXIT_CODE, ServerConfig, Switches
from rollouts.local.model_server.exposition import PROTOBUF_CONTENT_TYPE, wants_protobuf
from rollouts.local.model_server.metrics import ModelMetrics
from rollouts.local.model_server.model import FEATURE_COUNT, FraudScorer, sample_features

log = logging.getLogger("model_server")

MAX_BODY_BYTES = 64 * 1024


class Stage(enum.StrEnum):
    """Where the server is on its way to ready; ``/readyz`` answers with it."""

    LOADING = "loading model"
    WARMING_UP = "warming up"
    READY = "ready"


class BadRequestError(ValueError):
    """A request body that is not ``{"features": [32 finite numbers]}``."""


def parse_features(body: bytes) -> list[float]:
    """The feature vector of a ``/predict`` body, or :class:`BadRequestError` saying what is wrong."""
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise BadRequestError(f"body is not JSON: {error}") from None
    features = document.get("features") if isinstance(document, dict) else None
    if not isinstance(features, list) or len(features) != FEATURE_COUNT:
        raise BadRequestError(f'expected {{"features": [{FEATURE_COUNT} numbers]}}')
    if not all(isinstance(value, int | float) and not isinstance(value, bool) for value in features):
        raise BadRequestError("every feature must be a number")
    values = [float(value) for value in features]
    if not all(math.isfinite(value) for value in values):
        raise BadRequestError("every feature must be finite")
    return values


class ModelServer:
    """State shared by the request threads: the model, its stage, the switches and the metrics."""

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.metrics = ModelMetrics(
            config.version, config.pod, config.namespace, native_histograms=config.native_histograms
        )
        ProcessCollector(registry=self.metrics.registry)
        self._lock = threading.Lock()
        self._switches = config.switches
        self._requests_until_crash = config.switches.crash_after
        self._fault_draws = random.Random(config.seed)
        self._model: FraudScorer | None = None
        self._stage = Stage.LOADING

    @property
    def stage(self) -> Stage:
        """How far loading has come."""
        return self._stage

    @property
    def switches(self) -> Switches:
        """The switches in force now."""
        with self._lock:
            return self._switches

    def set_switches(self, switches: Switches) -> None:
        """Replace the switches; a new ``crash_after`` counts from now."""
        with self._lock:
            self._switches = switches
            self._requests_until_crash = switches.crash_after
            if self._model is not None:
                self.metrics.set_device(switches)
        log.info("switches set: %s", json.dumps(switches.to_json()))

    def load(self) -> None:
        """Build the model, wait out the simulated weight download, warm up, then turn ready."""
        started = time.monotonic()
        model = FraudScorer(self.config.seed)
        time.sleep(max(0.0, self.config.load_seconds - (time.monotonic() - started)))
        with self._lock:
            self._model = model
            self.metrics.set_device(self._switches)
            self._stage = Stage.WARMING_UP
        log.info("model loaded in %.2fs", time.monotonic() - started)
        warmup_inputs = random.Random(self.config.seed)
        for _ in range(self.config.warmup_requests):
            model.predict(sample_features(warmup_inputs), self.switches.device)
        self._stage = Stage.READY
        log.info("ready after %d warm-up predictions", self.config.warmup_requests)

    def predict(self, body: bytes) -> tuple[int, dict[str, Any], bool]:
        """Answer one ``/predict`` body: status, JSON document, and whether to crash after replying."""
        model = self._model
        if model is None or self._stage is not Stage.READY:
            return HTTPStatus.SERVICE_UNAVAILABLE, {"error": self._stage.value}, False
        with self._lock:
            switches = self._switches
            fail = self._fault_draws.random() < switches.error_rate
            corrupt = self._fault_draws.random() < switches.nan_rate
            crash = self._count_towards_crash()
        try:
            features = parse_features(body)
        except BadRequestError as error:
            return HTTPStatus.BAD_REQUEST, {"error": str(error)}, crash
        if fail:
            return HTTPStatus.INTERNAL_SERVER_ERROR, {"error": "injected failure (error_rate)"}, crash
        if corrupt:
            features[0] = math.nan
        prediction = model.predict(features, switches.device, switches.score_shift)
        self.metrics.observe_prediction(prediction)
        score = prediction.score if prediction.valid else None
        answer = {"version": self.config.version, "score": score, "class": prediction.label}
        return HTTPStatus.OK, answer, crash

    def _count_towards_crash(self) -> bool:
        if self._requests_until_crash is None:
            return False
        self._requests_until_crash -= 1
        return self._requests_until_crash <= 0


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 60
    # Headers and body go out in two writes; with Nagle on, the second waits ~40 ms for the
    # client's delayed ACK, which would swamp every latency this server reports.
    disable_nagle_algorithm = True

    def __init__(self, *args: Any, app: ModelServer, **kwargs: Any) -> None:
        self.app = app  # before the base class handles the request inside __init__
        super().__init__(*args, **kwargs)

    def parse_request(self) -> bool:
        # The request line is in; its headers, body and answer are what a request's duration covers.
        self.started = time.perf_counter()
        return super().parse_request()

    def do_GET(self) -> None:
        if self.path == "/healthz":
            self._reply(HTTPStatus.OK, b"ok\n", "text/plain")
        elif self.path == "/readyz":
            stage = self.app.stage
            code = HTTPStatus.OK if stage is Stage.READY else HTTPStatus.SERVICE_UNAVAILABLE
            self._reply(code, f"{stage.value}\n".encode(), "text/plain")
        elif self.path == "/metrics" and self.app.metrics.natives and wants_protobuf(self.headers["Accept"]):
            self._reply(HTTPStatus.OK, self.app.metrics.protobuf(), PROTOBUF_CONTENT_TYPE)
        elif self.path == "/metrics":
            self._reply(HTTPStatus.OK, generate_latest(self.app.metrics.registry), CONTENT_TYPE_LATEST)
        elif self.path == "/admin/switches" and self.app.config.enable_admin:
            self._reply_json(HTTPStatus.OK, self.app.switches.to_json())
        else:
            self._reply_json(HTTPStatus.NOT_FOUND, {"error": f"no such path: {self.path}"})

    def do_POST(self) -> None:
        body = self._read_body()
        if body is None:
            return
        if self.path == "/predict":
            code, answer, crash = self.app.predict(body)
            encoded = json.dumps(answer).encode()
            seconds = time.perf_counter() - self.started
            self.app.metrics.observe_request(code, seconds)
            # W3C Server-Timing: the duration the histogram just counted, for clients and benchmarks.
            self._reply(
                code, encoded, "application/json", {"Server-Timing": f"predict;dur={seconds * 1e3:.3f}"}
            )
            if crash:
                log.error("crash_after reached: exiting with status %d", CRASH_EXIT_CODE)
                logging.shutdown()
                os._exit(CRASH_EXIT_CODE)
        elif self.path == "/admin/switches" and self.app.config.enable_admin:
            self._update_switches(body)
        else:
            self._reply_json(HTTPStatus.NOT_FOUND, {"error": f"no such path: {self.path}"})

    def _update_switches(self, body: bytes) -> None:
        try:
            changes = json.loads(body)
            if not isinstance(changes, dict):
                raise ValueError("expected a JSON object of switches")
            switches = Switches.from_json({**self.app.switches.to_json(), **changes})
        except (ValueError, TypeError) as error:
            self._reply_json(HTTPStatus.BAD_REQUEST, {"error": str(error)})
            return
        self.app.set_switches(switches)
        self._reply_json(HTTPStatus.OK, switches.to_json())

    def _read_body(self) -> bytes | None:
        length = self.headers.get("Content-Length")
        if length is None or not length.isdigit():
            self._reply_json(HTTPStatus.LENGTH_REQUIRED, {"error": "Content-Length required"})
            self.close_connection = True
            return None
        if int(length) > MAX_BODY_BYTES:
            too_large = {"error": f"body over {MAX_BODY_BYTES} bytes"}
            self._reply_json(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, too_large)
            self.close_connection = True
            return None
        return self.rfile.read(int(length))

    def _reply_json(self, code: int, document: dict[str, Any]) -> None:
        self._reply(code, json.dumps(document).encode(), "application/json")

    def _reply(
        self, code: int, body: bytes, content_type: str, headers: dict[str, str] | None = None
    ) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, header in (headers or {}).items():
            self.send_header(name, header)
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()

    def log_message(self, format: str, *args: Any) -> None:
        # One line per request would drown the transitions; keep access lines at debug level.
        log.debug("%s %s", self.address_string(), format % args)


class _Listener(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # the default 5 drops connections under a burst of new clients


def make_http_server(app: ModelServer) -> ThreadingHTTPServer:
    """Bind the listener for ``app`` (port 0 picks a free one); serving starts with ``serve_forever``."""
    return _Listener((app.config.host, app.config.port), functools.partial(_Handler, app=app))


def serve(config: ServerConfig, address_file: Path | None = None) -> None:
    """Listen, load the model in the background, and serve until interrupted.

    ``address_file`` receives ``host:port`` once the socket is bound, written atomically, so a
    launcher that asked for port 0 learns the port without racing for it.
    """
    app = ModelServer(config)
    http_server = make_http_server(app)
    host, port = http_server.server_address[:2]
    if address_file is not None:
        partial = address_file.with_suffix(".partial")
        partial.write_text(f"{host!s}:{port}\n", encoding="utf-8")
        partial.replace(address_file)
    log.info("version %s listening on http://%s:%d", config.version, host, port)
    threading.Thread(target=app.load, name="load-model", daemon=True).start()
    try:
        http_server.serve_forever()
    finally:
        http_server.server_close()
