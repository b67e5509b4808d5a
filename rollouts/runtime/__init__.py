"""The controller runtime: API I/O, caches, work queue, leader election, and the loop tying them.

Why our own instead of kopf or the client's Watch: docs/runtime.md, "Why our own runtime".
Every part follows client-go's semantics, so the behaviour under restarts, conflicts and lost
leadership is the one Kubernetes operators know.
"""
