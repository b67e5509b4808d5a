"""Issue 10 item 19: no secret value reaches a log line, whatever fails while holding one.

A reconcile that fails while a decoded bearer token and a Secret's whole ``data`` sit in its
frame's locals is logged the way the manager logs it (``log.exception`` inside the worker's
``except``); the captured output, JSON and console, must carry the traceback but neither value.
Then the second lines of defence: credential-named keys, credentials inside exception messages,
and registered values anywhere in a line.
"""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Callable, Iterator

import pytest
import structlog

from analysis.providers.prometheus import Credential, PrometheusSettings
from rollouts.runtime.logs import LogFormat, configure_logging, register_secret

TOKEN = "planted-token-0c4f2a91e7"
PASSWORD = "planted-password-77d1b3"
ENCODED = base64.b64encode(TOKEN.encode()).decode()


@pytest.fixture
def capture() -> Iterator[Callable[[LogFormat], io.StringIO]]:
    def configure(log_format: LogFormat) -> io.StringIO:
        stream = io.StringIO()
        configure_logging(log_format, "debug", stream)
        return stream

    yield configure
    structlog.reset_defaults()


def reconcile_that_fails(message: str) -> None:
    """Holds what the Prometheus source holds mid-reconcile, then fails unexpectedly."""
    secret = {"metadata": {"name": "prom"}, "data": {"token": ENCODED, "password": PASSWORD}}
    token = base64.b64decode(secret["data"]["token"]).decode()
    headers = {"Authorization": f"Bearer {token}"}
    assert headers
    raise RuntimeError(message)


def log_failure(message: str) -> None:
    log = structlog.get_logger("rollouts.runtime.manager")
    with structlog.contextvars.bound_contextvars(key="ml/fraud"):
        try:
            reconcile_that_fails(message)
        except Exception:
            log.exception("reconcile failed; retrying with back-off", failures=1)


def assert_clean(output: str) -> None:
    for planted in (TOKEN, ENCODED, PASSWORD):
        assert planted not in output, output


@pytest.mark.parametrize("log_format", ["json", "console"])
def test_a_failing_reconcile_logs_its_traceback_without_locals(
    capture: Callable[[LogFormat], io.StringIO], log_format: LogFormat
) -> None:
    stream = capture(log_format)
    log_failure("unexpected: the model server went away")
    output = stream.getvalue()
    assert_clean(output)
    assert "reconcile_that_fails" in output  # the traceback is still there
    assert "the model server went away" in output
    if log_format == "json":
        (line,) = [json.loads(text) for text in output.splitlines()]
        assert line["key"] == "ml/fraud"
        frames = line["exception"][0]["frames"]
        assert frames and all("locals" not in frame for frame in frames)


@pytest.mark.parametrize("log_format", ["json", "console"])
@pytest.mark.parametrize(
    "message",
    [
        f"bad header: 'Authorization: Bearer {TOKEN}'",
        f"Invalid header value 'Bearer {TOKEN}\\n'",
        f"login failed with password={PASSWORD}",
        f'{{"token": "{TOKEN}"}}',
        f"basic auth Basic {ENCODED}",
    ],
)
def test_credentials_inside_exception_messages_are_masked(
    capture: Callable[[LogFormat], io.StringIO], log_format: LogFormat, message: str
) -> None:
    stream = capture(log_format)
    log_failure(message)
    assert_clean(stream.getvalue())


def test_credential_named_keys_are_masked_at_any_depth(capture: Callable[[LogFormat], io.StringIO]) -> None:
    stream = capture("json")
    structlog.get_logger().info(
        "calling prometheus",
        token=TOKEN,
        request={"headers": {"Authorization": f"Bearer {TOKEN}"}, "url": "http://p:9090"},
        secret={"data": {"password": PASSWORD}},
        items=[{"api_key": TOKEN}],
    )
    line = json.loads(stream.getvalue())
    assert_clean(stream.getvalue())
    assert line["token"] == "***"
    assert line["request"]["url"] == "http://p:9090"


@pytest.mark.parametrize("log_format", ["json", "console"])
def test_registered_values_are_masked_wherever_they_appear(
    capture: Callable[[LogFormat], io.StringIO], log_format: LogFormat
) -> None:
    odd = 'pl"anted\\value-9a8b7c'
    register_secret(TOKEN)
    register_secret(odd)
    stream = capture(log_format)
    structlog.get_logger().warning(f"the server echoed {TOKEN} and {odd}", note=f"x{TOKEN}y")
    log_failure(f"no pattern would catch this: {TOKEN}")
    output = stream.getvalue()
    assert_clean(output)
    assert 'pl\\"anted' not in output and odd not in output


def test_settings_and_credentials_never_print_their_values(
    capture: Callable[[LogFormat], io.StringIO],
) -> None:
    settings = PrometheusSettings("http://p:9090", bearer_token=TOKEN, basic_auth=("me", PASSWORD))
    assert isinstance(settings.bearer_token, Credential)
    for text in (repr(settings), str(settings), f"{settings}", repr(settings.bearer_token)):
        assert_clean(text)
    assert settings.bearer_token.reveal() == TOKEN
    assert settings == PrometheusSettings("http://p:9090", bearer_token=TOKEN, basic_auth=("me", PASSWORD))
    assert settings != PrometheusSettings(
        "http://p:9090", bearer_token="rotated", basic_auth=("me", PASSWORD)
    )
    stream = capture("json")
    structlog.get_logger().info("provider built", settings=settings, extra=Credential(PASSWORD))
    assert_clean(stream.getvalue())
