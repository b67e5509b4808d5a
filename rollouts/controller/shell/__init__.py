"""The controller's effectful shell: read, fetch, (fold, decide in the core), write, apply.

The reconciler runs one rollout's pipeline — read it from the API server, fetch (caches,
router, Prometheus), fold the evidence and decide (pure, in :mod:`rollouts.controller.core`),
write status once, then apply effects and hand the notifications still to send to ``notifier``,
which delivers them on threads of its own; ``app`` wires informers, triggers and the manager;
``replay`` runs the same pipeline offline on a simulated clock for ``rollouts analyze``.
"""
