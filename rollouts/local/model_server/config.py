"""What a model server is told at start, and the failure switches it can flip at runtime.

The switches are the failures a rollout must catch, each produced by real computation:

========================  ===========================================================
switch                    effect
========================  ===========================================================
``device``                ``gpu``: vectorised forward pass (BLAS). ``cpu``: the same
                          forward pass computed one multiply-add at a time in Python,
                          about 40x slower (see bench/results/model_server.md).
``error_rate``            that share of ``/predict`` requests answers HTTP 500.
``score_shift``           added to the model's logit before the sigmoid: a real shift of
                          the score distribution (+1 moves the mean score ~0.19 → ~0.34).
``nan_rate``              that share of forward passes runs on an input whose first
                          feature is NaN; the NaN propagates through every layer and
                          the prediction is counted invalid.
``crash_after``           the process exits (status 3) after that many more requests.
``gpu_memory_mib``        the simulated accelerator memory reading (0 while on cpu).
``gpu_util_percent``      the simulated GPU utilisation reading (none while on cpu).
========================  ===========================================================

:class:`ServerConfig.to_args` writes the command line that ``python -m
rollouts.local.model_server`` parses back (see ``__main__``), so the launcher and the
server share one definition of every flag.
"""

from __future__ import annotations

import dataclasses
import enum
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

CRASH_EXIT_CODE = 3
"""Exit status after ``crash_after`` requests: tells an injected crash from a real bug."""


class Device(enum.StrEnum):
    """Where the model runs. ``gpu`` stands for the accelerator; both are simulated on the CPU."""

    GPU = "gpu"
    CPU = "cpu"


@dataclass(frozen=True)
class Switches:
    """The runtime-changeable behaviour of one server; the defaults are a healthy model."""

    device: Device = Device.GPU
    error_rate: float = 0.0
    score_shift: float = 0.0
    nan_rate: float = 0.0
    crash_after: int | None = None
    gpu_memory_mib: float = 1024.0
    gpu_util_percent: float = 60.0

    def __post_init__(self) -> None:
        for name in ("error_rate", "nan_rate"):
            share = getattr(self, name)
            if not 0.0 <= share <= 1.0:
                raise ValueError(f"{name} must be a share in [0, 1], got {share}")
        if not math.isfinite(self.score_shift):
            raise ValueError(f"score_shift must be finite, got {self.score_shift}")
        if self.crash_after is not None and (type(self.crash_after) is not int or self.crash_after < 1):
            raise ValueError(
                f"crash_after must be a whole number of requests, at least 1, got {self.crash_after}"
            )
        if not 0.0 <= self.gpu_util_percent <= 100.0:
            raise ValueError(f"gpu_util_percent must be in [0, 100], got {self.gpu_util_percent}")
        if not 0.0 <= self.gpu_memory_mib < math.inf:
            raise ValueError(
                f"gpu_memory_mib must be a finite non-negative number, got {self.gpu_memory_mib}"
            )

    def to_json(self) -> dict[str, Any]:
        """The switches as the admin endpoint reads and writes them."""
        return {**dataclasses.asdict(self), "device": self.device.value}

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> Switches:
        """Parse the admin endpoint's body; unknown keys are errors, missing keys keep defaults."""
        unknown = set(document) - {switch.name for switch in dataclasses.fields(cls)}
        if unknown:
            raise ValueError(f"unknown switches: {', '.join(sorted(unknown))}")
        values = dict(document)
        if "device" in values:
            values["device"] = Device(values["device"])
        return cls(**values)

    def to_args(self) -> list[str]:
        """Command-line flags that reproduce these switches."""
        args = [
            f"--device={self.device.value}",
            f"--error-rate={self.error_rate!r}",
            f"--score-shift={self.score_shift!r}",
            f"--nan-rate={self.nan_rate!r}",
            f"--gpu-memory-mib={self.gpu_memory_mib!r}",
            f"--gpu-util-percent={self.gpu_util_percent!r}",
        ]
        if self.crash_after is not None:
            args.append(f"--crash-after={self.crash_after}")
        return args


@dataclass(frozen=True)
class ServerConfig:
    """Everything a server is started with. ``port=0`` lets the OS pick a free port."""

    version: str
    host: str = "127.0.0.1"
    port: int = 8080
    load_seconds: float = 1.5
    warmup_requests: int = 20
    seed: int = 0
    enable_admin: bool = False
    switches: Switches = field(default_factory=Switches)
    pod: str = ""
    """The pod name the GPU series carry, as the DCGM exporter labels them; "" reads the host
    name, which in Kubernetes is the pod's name."""
    namespace: str = "default"
    """The namespace the GPU series carry (set from the downward API in a Deployment)."""
    native_histograms: bool = False
    """Also expose request latency as a native histogram (protobuf scrapes only; ``exposition``)."""

    def __post_init__(self) -> None:
        if not self.version:
            raise ValueError("version must not be empty: it labels every metric")
        if self.load_seconds < 0 or self.warmup_requests < 0:
            raise ValueError("load_seconds and warmup_requests must not be negative")

    def to_args(self) -> list[str]:
        """Command-line flags that reproduce this configuration."""
        args = [
            f"--version={self.version}",
            f"--host={self.host}",
            f"--port={self.port}",
            f"--load-seconds={self.load_seconds!r}",
            f"--warmup-requests={self.warmup_requests}",
            f"--seed={self.seed}",
            f"--pod={self.pod}",
            f"--namespace={self.namespace}",
            *self.switches.to_args(),
        ]
        if self.enable_admin:
            args.append("--enable-admin")
        if self.native_histograms:
            args.append("--native-histograms")
        return args
