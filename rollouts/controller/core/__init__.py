"""The controller's pure core: every decision, as functions of spec, status and observations.

Nothing here does I/O, reads a clock or imports a Kubernetes or HTTP library (an import-linter
contract): ``now`` and what was fetched come in as arguments, so every rule is a table test.
"""
