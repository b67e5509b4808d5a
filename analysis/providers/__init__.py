"""Metric providers: the only part of ``analysis`` that does I/O.

``base`` holds the small Protocol the controller and ``rollouts analyze`` call; ``prometheus``
reads raw counters from a Prometheus server; ``observations_file`` reads a documented JSON file
of per-interval counts (offline analysis, and the contract tests' second implementation).
"""
