"""Strict vendor simulators written from the vendors' pages, for tests, the demo and local runs."""
