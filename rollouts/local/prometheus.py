"""A real Prometheus server on a loopback port, for integration tests, e2e tests and the demo.

Why a real one: the analysis trusts counts only when they come from raw counter samples the
way a production Prometheus stores them, resets and all; a fake would test our assumptions
against themselves. The Debian ``prometheus`` package provides ``prometheus`` and ``promtool``.

Two ways to give it data:

- **scrape**: pass :class:`ScrapeTarget` entries (or call :meth:`PrometheusServer.set_targets` at
  any time); they are written to a file_sd JSON file that Prometheus re-reads every second.
- **backfill**: :meth:`PrometheusServer.backfill_openmetrics` turns OpenMetrics text into TSDB
  blocks with ``promtool tsdb create-blocks-from openmetrics``, written into the data directory.
  Call it **before** :meth:`start`; called on a running server it restarts the server so the new
  blocks are loaded (same port, same data). Retention is 100 years so old timestamps survive.

With :class:`WebSecurity` the server serves HTTPS and/or asks for basic auth (Prometheus'
``--web.config.file``), so the provider's TLS and authentication options meet a real server.

The process runs in its own session (process group) and is stopped by its recorded PID; its
log stays in ``workdir/prometheus.log`` and is shown when start-up fails. It is started and
stopped by rollouts.testbed.process, so it dies with the process that started it.
"""

from __future__ import annotations

import base64
import json
import shutil
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from rollouts.testbed.process import deferred_signals, start_process, stop_process

READY_TIMEOUT = 30.0
STOP_GRACE = 10.0
LOG_TAIL_LINES = 40


class PrometheusError(RuntimeError):
    """Prometheus or promtool is missing, failed to start, or refused the data."""


@dataclass(frozen=True)
class ScrapeTarget:
    """An address Prometheus scrapes (``host:port``), with labels added to its series."""

    address: str
    labels: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class WebSecurity:
    """TLS and/or basic auth on Prometheus' listener; the readiness probe uses them too.

    Prometheus stores bcrypt hashes only, so a basic-auth user comes with both the password (for
    clients) and its bcrypt hash (for the server).
    """

    cert_file: Path | None = None
    key_file: Path | None = None
    ca_file: Path | None = None
    """CA that signed cert_file; the readiness probe verifies the chain (not the host name)."""
    username: str | None = None
    password: str | None = None
    password_bcrypt: str | None = None

    @property
    def tls(self) -> bool:
        """True when the server serves HTTPS."""
        return self.cert_file is not None

    def web_config(self) -> dict[str, object]:
        """Prometheus' web configuration (JSON is YAML)."""
        config: dict[str, object] = {}
        if self.tls:
            config["tls_server_config"] = {"cert_file": str(self.cert_file), "key_file": str(self.key_file)}
        if self.username is not None:
            config["basic_auth_users"] = {self.username: self.password_bcrypt}
        return config


def find_binary(name: str) -> Path | None:
    """The path of ``prometheus`` or ``promtool``, from PATH or /usr/bin."""
    found = shutil.which(name) or (f"/usr/bin/{name}" if Path(f"/usr/bin/{name}").exists() else None)
    return Path(found) if found else None


def available() -> bool:
    """True when both ``prometheus`` and ``promtool`` are installed."""
    return find_binary("prometheus") is not None and find_binary("promtool") is not None


@dataclass(frozen=True)
class PrometheusRelease:
    """One Prometheus installation: its server and the promtool that backfills its blocks.

    The default is the system's (Debian's 2.x package, on PATH); the test bed builds a 3.x
    release into its cache (:func:`rollouts.testbed.binaries.find_prometheus3`), so the provider
    is tested against both majors.
    """

    name: str
    prometheus: Path
    promtool: Path


def system_release() -> PrometheusRelease:
    """The ``prometheus`` and ``promtool`` on PATH (:class:`PrometheusError` when missing)."""
    prometheus, promtool = find_binary("prometheus"), find_binary("promtool")
    if prometheus is None or promtool is None:
        raise PrometheusError("prometheus is not installed (Debian: apt-get install prometheus)")
    return PrometheusRelease(name="system", prometheus=prometheus, promtool=promtool)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _duration(seconds: float) -> str:
    return f"{round(seconds * 1000)}ms"


class PrometheusServer:
    """A Prometheus process with its config, data and log under ``workdir``."""

    def __init__(
        self,
        workdir: Path,
        scrape_interval: float = 1.0,
        targets: Sequence[ScrapeTarget] = (),
        extra_flags: Sequence[str] = (),
        *,
        security: WebSecurity | None = None,
        release: PrometheusRelease | None = None,
        native_histograms: bool = False,
    ) -> None:
        self.release = release
        self.native_histograms = native_histograms
        """Ingest native histograms (Prometheus 3 only): ``scrape_native_histograms`` (which
        puts the protobuf format first in ``scrape_protocols``) and
        ``always_scrape_classic_histograms``, so a histogram exposed both ways is stored both
        ways (Prometheus v3.16 config/config.go and docs/configuration/configuration.md)."""
        """Which Prometheus runs (None: the system's, looked up at start)."""
        self.workdir = Path(workdir)
        self.scrape_interval = scrape_interval
        self.extra_flags = tuple(extra_flags)
        self.security = security
        self._targets = tuple(targets)
        self._process: subprocess.Popen[bytes] | None = None
        self._port: int | None = None
        self._backfills = 0

    # --- paths and address -------------------------------------------------------------------

    @property
    def data_dir(self) -> Path:
        """The TSDB directory (backfilled blocks go here)."""
        return self.workdir / "data"

    @property
    def log_path(self) -> Path:
        """Prometheus' own log (stdout and stderr)."""
        return self.workdir / "prometheus.log"

    @property
    def pid_path(self) -> Path:
        """Where the running server's PID is recorded."""
        return self.workdir / "prometheus.pid"

    @property
    def url(self) -> str:
        """Base URL of the HTTP API, e.g. http://127.0.0.1:40123 (once started)."""
        if self._port is None:
            raise PrometheusError("the server has not been started")
        scheme = "https" if self.security and self.security.tls else "http"
        return f"{scheme}://127.0.0.1:{self._port}"

    @property
    def running(self) -> bool:
        """True while the process is alive."""
        return self._process is not None and self._process.poll() is None

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self) -> PrometheusServer:
        """Write the config, start Prometheus and wait until /-/ready answers."""
        if self.running:
            return self
        binary = (self.release or system_release()).prometheus
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.data_dir.mkdir(exist_ok=True)
        self._write_targets()
        self._write_config()
        self._port = self._port or free_port()
        security_flags = []
        if self.security is not None:
            (self.workdir / "web.yml").write_text(json.dumps(self.security.web_config(), indent=2))
            security_flags.append(f"--web.config.file={self.workdir / 'web.yml'}")
        argv = [
            str(binary),
            f"--config.file={self.workdir / 'prometheus.yml'}",
            f"--storage.tsdb.path={self.data_dir}",
            "--storage.tsdb.retention.time=100y",
            f"--web.listen-address=127.0.0.1:{self._port}",
            "--web.enable-lifecycle",
            *security_flags,
            *self.extra_flags,
        ]
        with deferred_signals():  # started means recorded: stop() finds it
            self._process = start_process(argv, self.log_path)
            self.pid_path.write_text(f"{self._process.pid}\n")
        self._wait_ready()
        return self

    def stop(self) -> None:
        """Stop the process (its whole session) by its recorded PID; idempotent."""
        with deferred_signals():  # a shutdown signal must not stop the stopping halfway
            process, self._process = self._process, None
            if process is None:
                return
            stop_process(process, STOP_GRACE)
            self.pid_path.unlink(missing_ok=True)

    def __enter__(self) -> PrometheusServer:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()

    # --- data --------------------------------------------------------------------------------

    def set_targets(self, targets: Sequence[ScrapeTarget]) -> None:
        """Replace the scrape targets; Prometheus picks them up within a second."""
        self._targets = tuple(targets)
        if self.workdir.exists():
            self._write_targets()

    def backfill_openmetrics(self, text: str) -> None:
        """Load OpenMetrics samples as TSDB blocks (before start; a running server restarts)."""
        promtool = (self.release or system_release()).promtool
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.data_dir.mkdir(exist_ok=True)
        self._backfills += 1
        source = self.workdir / f"backfill-{self._backfills}.om"
        source.write_text(text if text.rstrip().endswith("# EOF") else text.rstrip("\n") + "\n# EOF\n")
        result = subprocess.run(
            [str(promtool), "tsdb", "create-blocks-from", "openmetrics", str(source), str(self.data_dir)],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise PrometheusError(f"promtool refused {source}:\n{result.stdout}{result.stderr}")
        if self.running:
            self.stop()
            self.start()

    # --- internals ---------------------------------------------------------------------------

    def _write_config(self) -> None:
        interval = _duration(self.scrape_interval)
        config = {
            "global": {"scrape_interval": interval, "evaluation_interval": interval},
            "scrape_configs": [
                {
                    "job_name": "targets",
                    "scrape_interval": interval,
                    "scrape_timeout": _duration(min(self.scrape_interval, 10.0)),
                    "file_sd_configs": [
                        {"files": [str(self.workdir / "targets.json")], "refresh_interval": "1s"}
                    ],
                    **(
                        {"scrape_native_histograms": True, "always_scrape_classic_histograms": True}
                        if self.native_histograms
                        else {}
                    ),
                }
            ],
        }
        # JSON is YAML: no YAML dependency needed to write it.
        (self.workdir / "prometheus.yml").write_text(json.dumps(config, indent=2))

    def _write_targets(self) -> None:
        groups: list[Mapping[str, object]] = [
            {"targets": [target.address], "labels": dict(target.labels)} for target in self._targets
        ]
        staging = self.workdir / "targets.json.tmp"
        staging.write_text(json.dumps(groups))
        staging.replace(self.workdir / "targets.json")

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if self._process is None or self._process.poll() is not None:
                code = None if self._process is None else stop_process(self._process)  # reaped and forgotten
                self._process = None
                raise PrometheusError(f"prometheus exited with {code} during start-up:\n{self.log_tail()}")
            try:
                with self._open("/-/ready") as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.1)
        self.stop()
        raise PrometheusError(f"prometheus was not ready within {READY_TIMEOUT:g}s:\n{self.log_tail()}")

    def _open(self, path: str) -> Any:
        """GET ``path`` with the server's own TLS and credentials."""
        request = urllib.request.Request(f"{self.url}{path}")
        context = None
        security = self.security
        if security is not None and security.username is not None:
            token = base64.b64encode(f"{security.username}:{security.password}".encode()).decode()
            request.add_header("Authorization", f"Basic {token}")
        if security is not None and security.tls:
            context = ssl.create_default_context(cafile=str(security.ca_file) if security.ca_file else None)
            context.check_hostname = False  # 127.0.0.1 is not the certificate's name; the chain is checked
        return urllib.request.urlopen(request, timeout=1.0, context=context)

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        """The last lines of Prometheus' log."""
        if not self.log_path.exists():
            return "(no log)"
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
