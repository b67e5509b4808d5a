"""Issue 10 item 9: nothing a metrics server sends reaches what the provider returns.

``spec.analysis.prometheus.address`` is chosen by whoever may create a rollout; what the
provider returns lands in status, Events and logs, which that person (and CI) can read. A real
HTTP server on 127.0.0.1 plays the hostile "Prometheus": every answer (error statuses, JSON
error bodies, non-JSON bodies, results with planted labels, a redirect, an invalid status line)
carries a planted marker, and the marker must appear in no message.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from analysis import (
    DriftCriteria,
    ErrorRateCriteria,
    GuardCriteria,
    LatencyCriteria,
    NoData,
    QueryFailed,
)
from analysis.criteria import HistogramKind, MetricCriteria
from analysis.observations import Window
from analysis.providers import prometheus as prometheus_module
from analysis.providers.base import ScalarResult, Versions
from analysis.providers.prometheus import PrometheusProvider, PrometheusSettings

MARKER = "PLANTED-7f3a9c-secret-from-the-server"
TOKEN = "controller-token-9b2e41"
END = datetime.now(UTC).replace(microsecond=0)
WINDOW = Window(END - timedelta(seconds=60), END)
VERSIONS = Versions(baseline="v1", candidate="v2")
METRICS: tuple[MetricCriteria, ...] = (
    ErrorRateCriteria("errors", 'e{version="{{version}}"}', 't{version="{{version}}"}'),
    LatencyCriteria("latency", 'b{version="{{version}}"}'),
    DriftCriteria("labels", 'p{version="{{version}}"}', by="label"),
    DriftCriteria("scores", 's{version="{{version}}"}', invalid_query='i{version="{{version}}"}'),
    GuardCriteria("gpu", 'g{version="{{version}}"}', max=1.0),
    LatencyCriteria("native", 'n{version="{{version}}"}', histogram=HistogramKind.NATIVE),
)


def _matrix(labels: dict[str, str], values: list[list[object]]) -> bytes:
    return json.dumps(
        {
            "status": "success",
            "data": {"resultType": "matrix", "result": [{"metric": labels, "values": values}]},
        }
    ).encode()


Answer = tuple[bytes, bytes]
"""The raw status line and headers, and the body."""


def _http(status: str, body: bytes, *headers: str) -> Answer:
    head = [f"HTTP/1.1 {status}", f"Content-Length: {len(body)}", "Connection: close", *headers]
    return ("\r\n".join(head) + "\r\n\r\n").encode(), body


SAMPLES_AT = END.timestamp() - 30
ANSWERS: dict[str, Answer] = {
    "400 json": _http(
        "400 Bad Request",
        json.dumps({"status": "error", "errorType": "bad_data", "error": MARKER}).encode(),
        "Content-Type: application/json",
    ),
    "500 json type": _http(
        "500 Internal Server Error",
        json.dumps({"status": "error", "errorType": MARKER, "error": MARKER}).encode(),
    ),
    "503 text": _http("503 Service Unavailable", f"upstream said {MARKER}".encode()),
    "401 text": _http(f"401 {MARKER}", MARKER.encode()),
    "200 not json": _http("200 OK", f"<html>{MARKER}</html>".encode()),
    "200 wrong shape": _http("200 OK", json.dumps({"status": "success", "data": MARKER}).encode()),
    "200 error status": _http("200 OK", json.dumps({"status": MARKER, "error": MARKER}).encode()),
    "200 planted labels": _http(
        "200 OK", _matrix({MARKER: MARKER, "le": MARKER}, [[SAMPLES_AT, "1"], [SAMPLES_AT + 1, "2"]])
    ),
    "200 planted values": _http("200 OK", _matrix({"label": "x"}, [[SAMPLES_AT, MARKER]])),
    "200 planted native histograms": _http(
        "200 OK",
        json.dumps(
            {
                "status": "success",
                "data": {
                    "resultType": "matrix",
                    "result": [
                        {
                            "metric": {MARKER: MARKER},
                            "histograms": [
                                [SAMPLES_AT, {"count": "2", "sum": MARKER, "buckets": [[0, "1", "2", "2"]]}],
                                [SAMPLES_AT + 1, {"count": MARKER, "buckets": [[0, MARKER, "2", "3"]]}],
                            ],
                        }
                    ],
                },
            }
        ).encode(),
    ),
    "200 planted vector": _http(
        "200 OK",
        json.dumps(
            {
                "status": "success",
                "data": {"resultType": "vector", "result": [{"metric": {}, "value": [1, MARKER]}]},
            }
        ).encode(),
    ),
    "302 redirect": _http("302 Found", b"", f"Location: http://127.0.0.1:9/{MARKER}"),
    "invalid status line": (f"HTTP/1.1 2OO {MARKER}\r\n\r\n".encode(), b""),
    "garbage": (f"{MARKER}\r\n\r\n".encode(), b""),
}


class HostileServer:
    """A loopback HTTP server answering every request with one chosen raw answer."""

    def __init__(self) -> None:
        self.answer: Answer = ANSWERS["400 json"]
        self.requests: list[dict[str, str]] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                owner.requests.append(dict(self.headers.items()))
                head, body = owner.answer
                self.wfile.write(head + body)
                self.wfile.flush()
                self.close_connection = True

            def log_message(self, format: str, *args: object) -> None:
                del format, args

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


@pytest.fixture
def hostile() -> Iterator[HostileServer]:
    server = HostileServer()
    yield server
    server.close()


def everything(provider: PrometheusProvider) -> list[object]:
    """Every kind of call the controller makes: each metric kind, a guard, a readyQuery."""
    results: list[object] = [provider.observe(metric, WINDOW, VERSIONS, {}) for metric in METRICS]
    results.append(provider.scalar('ready{version="v2"}', END, {}))
    return results


def text(result: object) -> str:
    if isinstance(result, QueryFailed):
        return result.message
    if isinstance(result, NoData):
        return result.reason
    return repr(result)


@pytest.mark.parametrize("answer", sorted(ANSWERS))
def test_no_answer_text_reaches_a_message(hostile: HostileServer, answer: str) -> None:
    hostile.answer = ANSWERS[answer]
    provider = PrometheusProvider(PrometheusSettings(hostile.url, timeout=5, bearer_token=TOKEN))
    try:
        results = everything(provider)
    finally:
        provider.close()
    assert hostile.requests, "the server was asked"
    for result in results:
        message = text(result)
        assert MARKER not in message, (answer, message)
        assert TOKEN not in message
    host = hostile.url.removeprefix("http://")
    status_line = ANSWERS[answer][0].decode().split("\r\n")[0].split(" ")
    code = status_line[1] if len(status_line) > 1 else ""
    if code.isdigit() and code != "200":  # the status and the host are named
        assert all(f"HTTP {code}" in text(result) and host in text(result) for result in results)


def ask_up(settings: PrometheusSettings) -> ScalarResult:
    """``up`` asked once of a fresh provider with ``settings``, its connections closed after."""
    provider = PrometheusProvider(settings)
    try:
        return provider.scalar("up", END, {})
    finally:
        provider.close()


def test_prometheus_error_types_are_kept_other_text_is_not(hostile: HostileServer) -> None:
    hostile.answer = ANSWERS["400 json"]
    got = ask_up(PrometheusSettings(hostile.url, timeout=5))
    assert isinstance(got, QueryFailed)
    host = hostile.url.removeprefix("http://")
    assert got.message == f"HTTP 400: bad_data from {host} (query up)"


def test_a_redirect_is_not_followed(hostile: HostileServer) -> None:
    target = HostileServer()
    try:
        hostile.answer = _http("307 Temporary Redirect", b"", f"Location: {target.url}/api/v1/query")
        got = ask_up(PrometheusSettings(hostile.url, timeout=5, bearer_token=TOKEN))
        assert isinstance(got, QueryFailed)
        assert "HTTP 307" in got.message
        assert len(hostile.requests) == 1
        assert target.requests == []  # neither the request nor the token went anywhere else
    finally:
        target.close()


def test_an_oversized_answer_is_refused_unread(
    hostile: HostileServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(prometheus_module, "MAX_ANSWER_BYTES", 1024)
    hostile.answer = _http("200 OK", MARKER.encode() * 200)
    got = ask_up(PrometheusSettings(hostile.url, timeout=5))
    assert isinstance(got, QueryFailed)
    assert "larger than" in got.message
    assert MARKER not in got.message


@pytest.mark.parametrize(
    "token",
    [f"{MARKER}\nX-Injected: 1", f"{MARKER} x", f"{MARKER}é"],
    ids=["header injection", "space", "non-ascii"],
)
def test_a_token_no_header_can_carry_is_never_sent_nor_quoted(hostile: HostileServer, token: str) -> None:
    got = ask_up(PrometheusSettings(hostile.url, timeout=5, bearer_token=token))
    assert isinstance(got, QueryFailed)
    assert "bearer token" in got.message
    assert MARKER not in got.message
    assert hostile.requests == []


def _series(labels: list[dict[str, str]]) -> bytes:
    """Each series for both cohorts (the one query for both splits them by ``version``)."""
    result: list[dict[str, object]] = [
        {"metric": {"version": version, **item}, "values": [[SAMPLES_AT, "1"], [SAMPLES_AT + 1, "2"]]}
        for item in labels
        for version in (VERSIONS.candidate, VERSIONS.baseline)
    ]
    return json.dumps({"status": "success", "data": {"resultType": "matrix", "result": result}}).encode()


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        ([{"label": f"class-{i}"} for i in range(300)], "more than 256 'label' classes"),
        ([{"label": f"\x1b[2J{MARKER}"}], "is not a printable name"),
        ([{"label": "x" * 129}], "is not a printable name"),
        (
            [{"label": "ok", "version": MARKER}],
            "'version' label is neither the candidate's nor the baseline's",
        ),
        (
            [{"label": "ok", "version": "v1.2"}],
            "'version' label is neither the candidate's nor the baseline's",
        ),
    ],
    ids=["too many", "control characters", "too long", "another version", "no such version"],
)
def test_class_names_kept_in_status_are_bounded(
    hostile: HostileServer, labels: list[dict[str, str]], message: str
) -> None:
    hostile.answer = _http("200 OK", _series(labels))
    provider = PrometheusProvider(PrometheusSettings(hostile.url, timeout=5))
    try:
        got = provider.observe(METRICS[2], WINDOW, VERSIONS, {})
    finally:
        provider.close()
    assert isinstance(got, QueryFailed)
    assert message in got.message
    assert MARKER not in got.message
