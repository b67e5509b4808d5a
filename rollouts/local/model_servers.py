"""Start model-server processes on loopback ports, wait until they are ready, and stop them.

End-to-end tests and ``rollouts demo`` run one real server process per model version. This
module owns their lifecycle with the test bed's hygiene rules: every server listens on
127.0.0.1 on a port the OS picks (the server writes it to a file once bound, so there is no
race for a "free" port), runs in its own process session, logs to a file that outlives it, and
is stopped by its recorded PID — SIGTERM to its process group, SIGKILL after a grace period —
never by name. Processes are started and stopped by rollouts.testbed.process, so they die with
the process that started them and a shutdown signal never leaves one behind. ::

    with ModelServers(log_dir) as servers:
        baseline, candidate = servers.start(
            ServerConfig(version="v1", enable_admin=True),
            ServerConfig(version="v2", enable_admin=True),
        )
        candidate.set_switches(Switches(device=Device.CPU))  # the silent CPU fallback
        scrape_targets = [server.address for server in servers]
"""

from __future__ import annotations

import dataclasses
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import requests

from rollouts.local.model_server.config import ServerConfig, Switches
from rollouts.testbed.process import deferred_signals, start_process, stop_process

LOOPBACK = "127.0.0.1"
_POLL_SECONDS = 0.05
_LOG_TAIL_LINES = 20
SERVER_ENVIRONMENT = {
    # One BLAS thread per server: several servers share two cores, and a request is one vector.
    "OPENBLAS_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "PYTHONUNBUFFERED": "1",
}
"""Environment variables every server process gets on top of the caller's (less any ``MODEL_*``)."""


class ModelServerError(RuntimeError):
    """A server exited or did not turn ready in time; the message ends with its last log lines."""


@dataclass(frozen=True)
class RunningModelServer:
    """One started server process: where it listens, its PID and its log."""

    config: ServerConfig
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def version(self) -> str:
        """The model version the server labels its metrics with."""
        return self.config.version

    @property
    def pid(self) -> int:
        """The process ID, which is also its process group ID (it leads its own session)."""
        return self.process.pid

    @property
    def address(self) -> str:
        """``host:port``, the form a Prometheus scrape target takes."""
        return self.url.removeprefix("http://")

    def exit_code(self) -> int | None:
        """The exit status once the process has ended, else ``None``."""
        return self.process.poll()

    def is_ready(self) -> bool:
        """Whether ``/readyz`` answers 200 now."""
        try:
            return requests.get(f"{self.url}/readyz", timeout=1.0).status_code == 200
        except requests.RequestException:
            return False

    def switches(self) -> Switches:
        """The switches in force, read from the admin endpoint (needs ``enable_admin``)."""
        response = requests.get(f"{self.url}/admin/switches", timeout=5.0)
        response.raise_for_status()
        return Switches.from_json(response.json())

    def set_switches(self, switches: Switches) -> Switches:
        """Replace every switch at runtime (needs ``enable_admin``); returns what the server applied."""
        response = requests.post(f"{self.url}/admin/switches", json=switches.to_json(), timeout=5.0)
        response.raise_for_status()
        return Switches.from_json(response.json())

    def wait_ready(self, timeout: float) -> None:
        """Return once ``/readyz`` answers 200; :class:`ModelServerError` if it exits or time runs out."""
        deadline = time.monotonic() + timeout
        _poll_until(
            self.is_ready,
            "ready",
            version=self.version,
            process=self.process,
            log_path=self.log_path,
            deadline=deadline,
        )

    def log_tail(self, lines: int = _LOG_TAIL_LINES) -> str:
        """The last lines of the server's log."""
        return _tail(self.log_path, lines)


class ModelServers:
    """The server processes of one test or demo, one per version; a context manager that stops them."""

    def __init__(self, log_dir: Path, *, ready_timeout: float = 30.0, python: str = sys.executable) -> None:
        self.log_dir = log_dir
        self.ready_timeout = ready_timeout
        self._python = python
        self._servers: dict[str, RunningModelServer] = {}

    def __enter__(self) -> ModelServers:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()

    def __iter__(self) -> Iterator[RunningModelServer]:
        return iter(self._servers.values())

    def __getitem__(self, version: str) -> RunningModelServer:
        return self._servers[version]

    def start(self, *configs: ServerConfig, wait_ready: bool = True) -> list[RunningModelServer]:
        """Start one process per config, all loading at once; return them once all are ready.

        Each server listens on 127.0.0.1 on a port the OS picks: ``host`` and ``port`` in the
        configs are replaced. With ``wait_ready=False`` the servers are returned as soon as they
        listen, still loading (to watch a rollout wait for readiness). If a server exits or
        misses ``ready_timeout``, the servers of this call are stopped and
        :class:`ModelServerError` says which and why, with its last log lines.
        """
        versions = [config.version for config in configs]
        clashes = sorted(
            {version for version in versions if versions.count(version) > 1 or version in self._servers}
        )
        if clashes:
            raise ValueError(f"one server per version: already started or given twice: {', '.join(clashes)}")
        self.log_dir.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + self.ready_timeout
        launched: list[tuple[ServerConfig, subprocess.Popen[bytes], Path]] = []
        try:
            for config in configs:
                with deferred_signals():  # a server started is a server this call will stop
                    launched.append(self._launch(dataclasses.replace(config, host=LOOPBACK, port=0)))
            started = [_await_listening(*launch, deadline) for launch in launched]
            if wait_ready:
                for server in started:
                    server.wait_ready(max(0.0, deadline - time.monotonic()))
        except BaseException:
            for _, process, _ in launched:
                stop_process(process, grace=1.0)
            raise
        self._servers.update((server.version, server) for server in started)
        return started

    def stop(self, grace_seconds: float = 5.0) -> None:
        """Stop every server: SIGTERM to its process group, SIGKILL after ``grace_seconds``; reap it."""
        with deferred_signals():  # a shutdown signal must not stop the stopping halfway
            for server in self._servers.values():
                stop_process(server.process, grace_seconds)
            self._servers.clear()

    def _launch(self, config: ServerConfig) -> tuple[ServerConfig, subprocess.Popen[bytes], Path]:
        stem = re.sub(r"[^A-Za-z0-9._-]", "_", config.version)
        address_file = self.log_dir / f"model-server-{stem}.address"
        address_file.unlink(missing_ok=True)
        environment = {name: value for name, value in os.environ.items() if not name.startswith("MODEL_")}
        command = [
            self._python,
            "-m",
            "rollouts.local.model_server",
            *config.to_args(),
            f"--address-file={address_file}",
        ]
        process = start_process(
            command, address_file.with_suffix(".log"), env={**environment, **SERVER_ENVIRONMENT}
        )
        return config, process, address_file


def _await_listening(
    config: ServerConfig, process: subprocess.Popen[bytes], address_file: Path, deadline: float
) -> RunningModelServer:
    log_path = address_file.with_suffix(".log")
    _poll_until(
        address_file.exists,
        "listening",
        version=config.version,
        process=process,
        log_path=log_path,
        deadline=deadline,
    )
    url = f"http://{address_file.read_text(encoding='utf-8').strip()}"
    return RunningModelServer(config=config, url=url, process=process, log_path=log_path)


def _poll_until(
    condition: Callable[[], bool],
    awaited: str,
    *,
    version: str,
    process: subprocess.Popen[bytes],
    log_path: Path,
    deadline: float,
) -> None:
    """Return once ``condition()`` holds; ModelServerError when the process exits or time runs out."""
    while not condition():
        status = process.poll()
        if status is not None or time.monotonic() >= deadline:
            why = f"exited with status {status}" if status is not None else f"not {awaited} in time"
            raise ModelServerError(f"model server {version} {why}; last log lines:\n{_tail(log_path)}")
        time.sleep(_POLL_SECONDS)


def _tail(path: Path, lines: int = _LOG_TAIL_LINES) -> str:
    text = path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""
    return "\n".join(text.splitlines()[-lines:])
