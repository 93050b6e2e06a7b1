"""subserve: a WSGI server whose workers are OWN_GIL subinterpreters of one process.

Runs in: main and worker interpreters (imports nothing heavy).
"""

__version__ = "0.1.0"
