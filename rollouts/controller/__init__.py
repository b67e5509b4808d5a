"""The controller: a pure core and the effectful shell around it.

- :mod:`rollouts.controller.core` — decisions, no I/O and no clock: the state machine
  (``decide``), the evidence fold, the window schedule, step arithmetic, ownership of objects,
  and the spec-to-criteria mapping of the analysis.
- :mod:`rollouts.controller.shell` — everything that talks to the world: the reconciler (read,
  fetch, fold, decide, write status, apply effects), the fetch step, the Prometheus sources,
  Events, the wiring of informers (``app``) and the offline replay used by ``rollouts analyze``.

import-linter contracts (pyproject.toml) keep the core pure and the shell above it. The routers
(the data plane's effectful half) live in :mod:`rollouts.routers`, their pure traffic models in
:mod:`rollouts.traffic`.
"""
