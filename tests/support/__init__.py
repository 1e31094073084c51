"""Helpers shared by the test suites and `make demo`."""
