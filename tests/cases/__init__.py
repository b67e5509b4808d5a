"""Shared test data: valid and malformed ModelRollouts used by the lint and API-server tests."""
