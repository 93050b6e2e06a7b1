"""Shared test helpers: head records and queue items, servers, HTTP responses.

Runs in: the test process.
"""
