"""Operator plugins: one module per operator (see docs/writing-a-plugin.md)."""
