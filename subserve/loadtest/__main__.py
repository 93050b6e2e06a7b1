"""`python -m subserve.loadtest`: the same as `subserve-load`.

Runs in: the load-testing client process.
"""

from subserve.loadtest.cli import main

main()
