"""Helpers for the tests of the connector and of what is built on it (not shipped in the wheel)."""
