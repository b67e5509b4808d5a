"""Canary-versus-baseline statistics and metric providers.

This package knows nothing of rollouts/: it takes counts and criteria and returns verdicts.
"""
