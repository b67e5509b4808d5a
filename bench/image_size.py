"""The controller image: its size, what takes the space, and how long a build takes.

Builds the image with ``hack/image/build.sh`` (buildah; the local Debian base unless ``BASE`` is
set), then measures its files with ``du`` (``buildah mount``): the base, the program's virtual
environment and its largest packages. Writes ``bench/results/image.md``.
Run: ``.venv/bin/python -m bench.image_size``.
"""

from __future__ import annotations

import os
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

from bench.machine import cpu_model, memory_gib, revision

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results" / "image.md"
VENV = "/opt/model-rollouts"
SITE = "lib/python3.11/site-packages"


def run(*command: str) -> str:
    """A command's stdout; its failure raises with its stderr."""
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")
    return done.stdout


def megabytes(*paths: Path) -> list[tuple[Path, float]]:
    """``du`` of each path, in MB."""
    listing = run("du", "-sk", *map(str, paths))
    return [(Path(line.split("\t")[1]), int(line.split()[0]) / 1000) for line in listing.splitlines()]


def main() -> None:
    """Build, measure, write the table."""
    started = time.monotonic()
    image, size = run("bash", str(REPO / "hack" / "image" / "build.sh")).split(maxsplit=1)
    seconds = time.monotonic() - started
    container = run("buildah", "from", "--pull-never", image).strip()
    try:
        root = Path(run("buildah", "mount", container).strip())
        venv = root / VENV.lstrip("/")
        parts = sorted(megabytes(*(venv / SITE).iterdir()), key=lambda part: -part[1])[:8]
        # One du per path: du counts a file once across its arguments.
        [(_, venv_mb)], [(_, everything)] = megabytes(venv), megabytes(root)
    finally:
        subprocess.run(["buildah", "umount", container], capture_output=True, check=False)
        subprocess.run(["buildah", "rm", container], capture_output=True, check=False)
    base = os.environ.get("BASE", "local Debian bookworm minbase + python3 (mmdebstrap)")
    lines = [
        "# The controller image",
        "",
        "- command: `.venv/bin/python -m bench.image_size` (builds with `hack/image/build.sh`)",
        f"- run: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; commit {revision()}",
        f"- machine: {os.cpu_count()} CPUs, {cpu_model()}, {memory_gib():.0f} GiB",
        f"- base: {base}",
        "",
        "| measure | value |",
        "|---|---|",
        f"| image size (buildah, uncompressed) | {size.strip()} |",
        f"| files in the image (du) | {everything:.0f} MB |",
        f"| the program's virtual environment ({VENV}) | {venv_mb:.0f} MB |",
        f"| base and Python outside it | {everything - venv_mb:.0f} MB |",
        f"| build time, this run (local base already in buildah's storage or not) | {seconds:.0f} s |",
        "",
        "Largest installed packages:",
        "",
        "| package | MB |",
        "|---|---|",
        *(f"| {path.name} | {mb:.1f} |" for path, mb in parts),
        "",
    ]
    RESULTS.write_text("\n".join(lines))
    print(RESULTS.read_text())


if __name__ == "__main__":
    main()
