"""The plain data that crosses from the main interpreter to the workers.

Runs in: main and worker interpreters. The only modules imported on both
sides: they hold integers, bytes and frozen records of primitives, and the
helpers that make and read them (docs/internals.md, as code). They import
nothing but the stdlib and ``subserve._engine``.
"""
