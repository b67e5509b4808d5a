"""The controller: the pure state machine, the reconciler and the routers."""
