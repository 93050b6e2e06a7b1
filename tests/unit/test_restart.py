"""The hand-over of a configuration to the fresh image that auto's fallback execs."""

import dataclasses

from subserve.config import Config
from subserve.supervisor.restart import handover, taken_over


def test_handover_keeps_every_setting_and_swaps_binds_for_the_inherited_fds():
    config = Config(app="main:app", binds=("127.0.0.1:9000", "unix:/tmp/s.sock"), workers=3,
                    threads=4, keepalive=2.5, access_log=False, root_path="/api",
                    worker_kind="auto", ws_per_message_deflate=False)
    fresh = taken_over(handover(config, "process", [5, 6]))
    assert fresh == dataclasses.replace(config, worker_kind="process", binds=(), fds=(5, 6))
    assert isinstance(fresh.fds, tuple) and isinstance(fresh.binds, tuple)
