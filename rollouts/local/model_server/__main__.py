"""``python -m rollouts.local.model_server``: run one model server version.

Every flag can also come from an environment variable (``--error-rate`` ↔ ``MODEL_ERROR_RATE``),
the usual way to configure a container; a flag given on the command line wins. SIGTERM stops
the server cleanly, as a Kubernetes pod deletion would.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import logging
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import Any

from prometheus_client import disable_created_metrics

from rollouts.local.model_server.config import Device, ServerConfig, Switches
from rollouts.local.model_server.server import serve

_CONFIG_DEFAULTS = {field.name: field.default for field in dataclasses.fields(ServerConfig)}
_SWITCH_DEFAULTS = Switches()


def _truthy(text: str) -> bool:
    return text.lower() in ("1", "true", "yes", "on")


def _optional_int(text: str) -> int | None:
    return int(text) if text else None


def _optional_path(text: str) -> Path | None:
    return Path(text) if text else None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m rollouts.local.model_server",
        description="Serve the example fraud-scoring model with Prometheus metrics and failure switches.",
    )

    def option(flag: str, default: Any, help_text: str, **kwargs: Any) -> None:
        env = "MODEL_" + flag.upper().replace("-", "_")
        value = os.environ.get(env, default)
        if kwargs.get("action") == "store_true":
            value = _truthy(str(value))
        # argparse converts a string default with `type`, so an environment value is parsed like a flag.
        parser.add_argument(f"--{flag}", default=value, help=f"{help_text} [${env}]", **kwargs)

    option("version", None, "model version; labels every metric (required)")
    option("host", _CONFIG_DEFAULTS["host"], "address to listen on")
    option("port", _CONFIG_DEFAULTS["port"], "port to listen on; 0 picks a free one", type=int)
    option("load-seconds", _CONFIG_DEFAULTS["load_seconds"], "simulated model load time", type=float)
    option("warmup-requests", _CONFIG_DEFAULTS["warmup_requests"], "predictions run before ready", type=int)
    option("seed", _CONFIG_DEFAULTS["seed"], "seed of the model weights and the fault draws", type=int)
    option(
        "enable-admin", "false", "serve /admin/switches to change switches at runtime", action="store_true"
    )
    option(
        "device", _SWITCH_DEFAULTS.device.value, "gpu (fast path) or cpu (~40x slower)", choices=list(Device)
    )
    option("error-rate", _SWITCH_DEFAULTS.error_rate, "share of predict requests that answer 500", type=float)
    option("score-shift", _SWITCH_DEFAULTS.score_shift, "added to the model's logit", type=float)
    option("nan-rate", _SWITCH_DEFAULTS.nan_rate, "share of predictions computed as NaN", type=float)
    option("crash-after", "", "exit with status 3 after this many predict requests", type=_optional_int)
    option("gpu-memory-mib", _SWITCH_DEFAULTS.gpu_memory_mib, "simulated accelerator memory", type=float)
    option("gpu-util-percent", _SWITCH_DEFAULTS.gpu_util_percent, "simulated GPU utilisation", type=float)
    option(
        "native-histograms",
        "false",
        "also expose request latency as a native histogram (to protobuf scrapes)",
        action="store_true",
    )
    option("pod", _CONFIG_DEFAULTS["pod"], "pod label of the GPU series; empty: the host name")
    option("namespace", _CONFIG_DEFAULTS["namespace"], "namespace label of the GPU series")
    option("address-file", "", "write host:port here once listening", type=_optional_path)
    option("log-level", "INFO", "DEBUG logs every request")
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    """Parse the flags and serve until SIGTERM or Ctrl-C."""
    parser = _parser()
    args = parser.parse_args(argv)
    if not args.version:
        parser.error("--version (or $MODEL_VERSION) is required")
    try:
        switches = Switches(
            device=Device(args.device),
            error_rate=args.error_rate,
            score_shift=args.score_shift,
            nan_rate=args.nan_rate,
            crash_after=args.crash_after,
            gpu_memory_mib=args.gpu_memory_mib,
            gpu_util_percent=args.gpu_util_percent,
        )
        config = ServerConfig(
            version=args.version,
            host=args.host,
            port=args.port,
            load_seconds=args.load_seconds,
            warmup_requests=args.warmup_requests,
            seed=args.seed,
            enable_admin=args.enable_admin,
            native_histograms=args.native_histograms,
            switches=switches,
            pod=args.pod,
            namespace=args.namespace,
        )
    except ValueError as error:
        parser.error(str(error))
    logging.basicConfig(
        level=args.log_level.upper(),
        format=f"%(asctime)s %(levelname)s model-server[{config.version}] %(message)s",
    )

    def stop(signum: int, frame: FrameType | None) -> None:
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    # Prometheus reads start times from the samples; *_created series would only double the output.
    disable_created_metrics()  # type: ignore[no-untyped-call]  # untyped in prometheus_client
    with contextlib.suppress(KeyboardInterrupt):
        serve(config, args.address_file)


if __name__ == "__main__":
    main()
