"""model-rollouts: progressive delivery of ML models judged by sequential statistics."""
