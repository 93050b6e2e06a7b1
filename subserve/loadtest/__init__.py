"""`subserve-load`: an HTTP load tester built on asyncio and httpx.

Runs in: the load-testing client process (never inside the server). Layout:
`cli` parses options into a `LoadPlan`; `runner` drives one httpx client per
connection; `checks` decides what counts as an error; `stats` records and
summarises; `report` renders the summary as text; `progress` draws the live
bar on stderr.
"""

from __future__ import annotations
