"""Test support shared by the suites: requirement checks, launchers' fixtures."""
