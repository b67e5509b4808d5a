"""How the controller sizes a baseline or candidate: one :class:`Scaler` per workload kind."""
