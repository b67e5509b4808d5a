"""Structured logs: one JSON object per line in a cluster, readable console lines at a terminal.

Why structlog with context variables: a worker binds the rollout's ``key`` (``namespace/name``)
once per reconcile, and every line logged during that reconcile — by the controller, a router,
the analysis adapter — carries it without being passed along, so ``grep '"key": "ml/fraud"'``
finds a rollout's whole story. Log aggregators want JSON; people at a terminal do not, hence
``auto``: JSON unless the stream is a TTY.
"""

from __future__ import annotations

import sys
from typing import Literal, TextIO

import structlog

LogFormat = Literal["auto", "json", "console"]


def configure_logging(
    log_format: LogFormat = "auto", level: str = "info", stream: TextIO | None = None
) -> None:
    """Set up structlog for the whole process: format, minimum level, and where lines go."""
    stream = stream or sys.stderr
    as_json = log_format == "json" or (log_format == "auto" and not stream.isatty())
    renderer: list[structlog.typing.Processor] = (
        [structlog.processors.dict_tracebacks, structlog.processors.JSONRenderer()]
        if as_json
        else [structlog.dev.ConsoleRenderer()]
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            *renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(stream),
        cache_logger_on_first_use=False,
    )
