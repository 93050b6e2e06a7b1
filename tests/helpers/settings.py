"""Worker settings for tests: Config's own defaults, with overrides.

Runs in: the test process.
"""

from __future__ import annotations

from typing import Any

from subserve.config import Config
from subserve.handoff.settings import WorkerSettings


def worker_settings(queue_id: int = 0, engine_id: int = 0, **overrides: Any) -> WorkerSettings:
    """What a worker would receive from ``subserve test:app`` with ``overrides``
    set on the Config (its field names: ``threads``, ``root_path``...)."""
    return Config(**{"app": "test:app", **overrides}).worker_settings(queue_id, engine_id)


