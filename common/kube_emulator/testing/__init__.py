"""Helpers for the emulator's tests (not imported by the emulator itself)."""
