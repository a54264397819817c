"""Helpers for the tests of the SDK and of the tasks built on it (not shipped in the wheel)."""
