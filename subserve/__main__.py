"""`python -m subserve`: the command line.

Runs in: the main interpreter.
"""

from subserve.cli import main

main()
