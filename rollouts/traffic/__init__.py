"""Traffic models: what a router kind means for weights, shares and replicas — pure.

One module per router kind of ``spec.traffic`` (``gateway_api``, ``istio``, ``replicas``), each a
:class:`~rollouts.traffic.base.TrafficModel`, looked up in :mod:`rollouts.traffic.registry`. The
state machine asks the model, never the router kind: how many pods each version gets at a
weight, which share the data plane should report, whether pods are the traffic split, and
which objects the rollout acts on. The effectful half — reading and writing the data plane —
is the router of the same name in :mod:`rollouts.routers`. Adding a router kind means one
file here, one there, and a line in each registry; nothing in ``decide.py``.

Nothing here imports a Kubernetes or HTTP library (an import-linter contract).
"""
