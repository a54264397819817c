"""`./pants run build-support:new-plugin`: turn the ParallelJob example into a plugin for your operator.

See docs/writing-a-plugin.md. The generator validates the names, plans every file it writes and
every marked region it edits, refuses (changing nothing) if anything clashes, then applies the plan.
"""
