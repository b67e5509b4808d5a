"""ML guardrails: what must hold before and while a candidate model receives traffic.

A model server can be "Running" and Ready while it is useless: loaded on CPU instead of the
GPU, not yet loaded, unschedulable for want of an accelerator, or crash-looping. These modules
decide, from plain Kubernetes objects and without any I/O or clock, whether that is the case,
and say which field or pod is wrong and how to fix it:

- :mod:`~rollouts.guardrails.preflight`: the candidate Deployment against the baseline's,
  before any traffic moves;
- :mod:`~rollouts.guardrails.readiness`: whether the candidate is up, on its accelerators;
- :mod:`~rollouts.guardrails.pod_health`: restarts, OOM kills and crash loops that roll back;
- :mod:`~rollouts.guardrails.accelerators` and :mod:`~rollouts.guardrails.quantities`: which
  resources are accelerators, and exact resource arithmetic.
"""
