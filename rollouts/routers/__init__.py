"""Traffic routers: the effectful half of a router kind — read and write the data plane.

Each router kind of ``spec.traffic`` has a pure traffic model in :mod:`rollouts.traffic` (what a
weight means for shares and replicas) and a router here of the same name (set the candidate's
weight, read the share the data plane gives it, send everything back to the baseline).
:mod:`rollouts.routers.registry` picks the router by the key that is set; an unknown key is a
spec error, never a silent fallback. The Protocol and the target a router acts on are in
:mod:`rollouts.routers.base`.
"""
