"""The controller runtime: API I/O, caches, work queue, leader election, and the loop tying them.

Why our own instead of kopf: DESIGN.md §2. Every part follows client-go's semantics, so the
behaviour under restarts, conflicts and lost leadership is the one Kubernetes operators know.
"""
