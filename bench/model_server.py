"""How fast the example model server is on each device, and how much load it takes.

Measures, on real server processes over loopback HTTP:

1. latency per request on the gpu (fast) and cpu (fallback) paths, one client in sequence —
   as the server's own histogram sees it (mean of ``model_request_duration_seconds``), as the
   client sees it (wall-clock percentiles), and in server CPU seconds per request;
2. the forward pass alone on each device, in CPU time, without HTTP;
3. maximum throughput with several closed-loop clients on each path;
4. whether the load generator holds 50 requests/s split 50/50 over two servers.

Writes ``bench/results/model_server.md``. Run: ``.venv/bin/python bench/model_server.py``.
"""

from __future__ import annotations

import datetime
import os
import platform
import random
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import requests
from prometheus_client.parser import text_string_to_metric_families

from rollouts.local.loadgen import DROPPED, ERROR, LoadGenerator, Target
from rollouts.local.model_server import Device, ServerConfig, Switches
from rollouts.local.model_server.model import FraudScorer, sample_features
from rollouts.local.model_servers import SERVER_ENVIRONMENT, ModelServers, RunningModelServer
from rollouts.traffic.base import Routing

RESULTS = Path(__file__).parent / "results" / "model_server.md"
SEQUENTIAL_REQUESTS = {Device.GPU: 2000, Device.CPU: 200}
THROUGHPUT_CLIENTS = 4
THROUGHPUT_SECONDS = 5.0
FORWARD_PASSES = 200
LOADGEN_RATE = 50.0
LOADGEN_SECONDS = 10.0
HEADER = (
    "| device | requests | server p50 (ms) | server p99 (ms) | client p50 (ms) "
    "| server CPU per request (ms) | max throughput (req/s, {clients} clients) |"
)


@dataclass(frozen=True)
class Latency:
    """Sequential requests on one device: server-side and client-side percentiles, CPU cost."""

    device: Device
    requests: int
    server_p50: float
    server_p99: float
    client_p50: float
    cpu_per_request: float


def cpu_seconds(server: RunningModelServer) -> float:
    """CPU seconds the server process has used, from its own /metrics."""
    text = requests.get(f"{server.url}/metrics", timeout=10).text
    samples = (sample for family in text_string_to_metric_families(text) for sample in family.samples)
    return next(sample.value for sample in samples if sample.name == "process_cpu_seconds_total")


def measure_latency(server: RunningModelServer, device: Device) -> Latency:
    """Sequential requests; the server's durations come from its Server-Timing header."""
    server.set_switches(Switches(device=device))
    draws = random.Random(1)
    count = SEQUENTIAL_REQUESTS[device]
    server_seconds, client_seconds = [], []
    with requests.Session() as session:
        cpu_before = cpu_seconds(server)
        for _ in range(count):
            body = {"features": sample_features(draws)}
            started = time.perf_counter()
            response = session.post(f"{server.url}/predict", json=body, timeout=30)
            client_seconds.append(time.perf_counter() - started)
            response.raise_for_status()
            server_seconds.append(float(response.headers["Server-Timing"].split("dur=")[1]) / 1e3)
        cpu_used = cpu_seconds(server) - cpu_before
    server_cuts = statistics.quantiles(server_seconds, n=100)
    return Latency(
        device=device,
        requests=count,
        server_p50=server_cuts[49],
        server_p99=server_cuts[98],
        client_p50=statistics.median(client_seconds),
        cpu_per_request=cpu_used / count,
    )


def measure_throughput(server: RunningModelServer, device: Device) -> float:
    """Requests per second answered with THROUGHPUT_CLIENTS clients sending back to back."""
    server.set_switches(Switches(device=device))
    answered = [0] * THROUGHPUT_CLIENTS
    deadline = time.monotonic() + THROUGHPUT_SECONDS

    def client(index: int) -> None:
        draws = random.Random(index)
        with requests.Session() as session:
            while time.monotonic() < deadline:
                session.post(f"{server.url}/predict", json={"features": sample_features(draws)}, timeout=30)
                answered[index] += 1

    started = time.monotonic()
    threads = [threading.Thread(target=client, args=(index,)) for index in range(THROUGHPUT_CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(answered) / (time.monotonic() - started)


def run_loadgen(baseline: RunningModelServer, candidate: RunningModelServer) -> str:
    for server in (baseline, candidate):
        server.set_switches(Switches())
    generator = LoadGenerator(
        Target(baseline.version, baseline.url),
        Target(candidate.version, candidate.url),
        lambda: Routing(share=0.5),
        rate=LOADGEN_RATE,
        duration_seconds=LOADGEN_SECONDS,
    )
    started = time.monotonic()
    with generator:
        generator.wait()
    elapsed = time.monotonic() - started
    counts = generator.counts()
    sent = sum(counts.sent.values())
    dropped = sum(counts.outcome(version, DROPPED) for version in counts.sent)
    errors = sum(counts.outcome(version, ERROR) for version in counts.sent)
    return (
        f"{sent} requests in {elapsed:.1f} s ({sent / elapsed:.1f}/s asked {LOADGEN_RATE:.0f}/s), "
        f"{counts.answered} answered, {dropped} dropped, {errors} errors; "
        f"split {counts.sent.get(baseline.version, 0)} / {counts.sent.get(candidate.version, 0)}"
    )


def machine() -> str:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if "model name" in line
        ),
        platform.processor(),
    )
    return f"{os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, {platform.system()}"


def measure_forward_pass() -> dict[Device, float]:
    """CPU seconds of one forward pass on each device, in this process, no HTTP."""
    model = FraudScorer(seed=0)
    inputs = [sample_features(random.Random(2)) for _ in range(FORWARD_PASSES)]
    seconds = {}
    for device in Device:
        started = time.process_time()
        for row in inputs:
            model.logit(row, device)
        seconds[device] = (time.process_time() - started) / FORWARD_PASSES
    return seconds


def report(
    latencies: list[Latency], forward: dict[Device, float], throughput: dict[Device, float], loadgen: str
) -> str:
    gpu, cpu = latencies
    rows = "\n".join(
        f"| {lat.device} | {lat.requests} | {lat.server_p50 * 1e3:.3f} | {lat.server_p99 * 1e3:.3f} | "
        f"{lat.client_p50 * 1e3:.3f} | {lat.cpu_per_request * 1e3:.3f} | {throughput[lat.device]:.0f} |"
        for lat in latencies
    )
    return f"""# Model server: fast (gpu) and fallback (cpu) paths

Produced by `bench/model_server.py` on {datetime.date.today().isoformat()}; machine: {machine()};
load average {os.getloadavg()[0]:.1f} when it started.
The machine was shared with other work, so absolute numbers move by tens of percent between
runs; the ratios are the point. BLAS runs one thread per server (the launcher sets it).

{HEADER.format(clients=THROUGHPUT_CLIENTS)}
|---|---|---|---|---|---|---|
{rows}

- **cpu / gpu ratio of median request durations, as the server measures them:
  {cpu.server_p50 / gpu.server_p50:.0f}x** (request line read → response ready, the span that
  `model_request_duration_seconds` counts and the rollout's latency analysis compares).
- The forward pass alone, in CPU time in one process: {forward[Device.GPU] * 1e3:.3f} ms on gpu,
  {forward[Device.CPU] * 1e3:.3f} ms on cpu, {forward[Device.CPU] / forward[Device.GPU]:.0f}x.
- cpu / gpu ratio in server CPU time per request: {cpu.cpu_per_request / gpu.cpu_per_request:.0f}x
  (this includes the HTTP handling common to both paths and the scrapes' own cost).
- The client-side median adds the `requests` library's own overhead in the benchmark process.
- Load generator, {LOADGEN_RATE:.0f} req/s for {LOADGEN_SECONDS:.0f} s over two gpu servers: {loadgen}.

Throughput is closed-loop: {THROUGHPUT_CLIENTS} client threads in this process send back to back,
so clients and server share the two cores and the number is a floor for the server alone.
The load generator's 20–50 req/s uses a few percent of one core on the gpu path.
"""


def main() -> None:
    if any(os.environ.get(name) != value for name, value in SERVER_ENVIRONMENT.items()):
        # numpy fixes its BLAS threads at import: rerun with the servers' settings, so the
        # in-process forward pass is measured the way a server runs it.
        os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, **SERVER_ENVIRONMENT})
    forward = measure_forward_pass()
    with tempfile.TemporaryDirectory() as logs, ModelServers(Path(logs)) as servers:
        baseline, candidate = servers.start(
            ServerConfig(version="bench-a", enable_admin=True),
            ServerConfig(version="bench-b", enable_admin=True),
        )
        latencies = [measure_latency(baseline, device) for device in (Device.GPU, Device.CPU)]
        throughput = {device: measure_throughput(baseline, device) for device in (Device.GPU, Device.CPU)}
        loadgen = run_loadgen(baseline, candidate)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(report(latencies, forward, throughput, loadgen), encoding="utf-8")
    print(RESULTS.read_text(encoding="utf-8"))


if __name__ == "__main__":
    main()
