"""The live progress bar, drawn on stderr only when stderr is a terminal.

Runs in: the load-testing client process, on the event loop (called from the
runner's ticker), so it must stay cheap: one short write per tick.
"""

from __future__ import annotations

import sys
from typing import TextIO

from subserve.loadtest.runner import LoadPlan
from subserve.loadtest.stats import Recorder

WIDTH = 30
CLEAR_LINE = "\r\x1b[K"


class ProgressBar:
    """`[#####.....]  42%  8400 done  2810 req/s  0 errors  3.0 s`, redrawn in place."""

    def __init__(self, plan: LoadPlan, recorder: Recorder, stream: TextIO) -> None:
        self.plan = plan
        self.recorder = recorder
        self.stream = stream
        self._last = (0.0, 0)  # (elapsed, finished) at the previous tick, for the current rate

    def fraction(self, elapsed: float) -> float:
        """How far along the run is, by whichever of -n and -d ends it first."""
        parts = [0.0]
        if self.plan.requests:
            parts.append(self.recorder.finished / self.plan.requests)
        if self.plan.duration:
            parts.append(elapsed / self.plan.duration)
        return min(1.0, max(parts))

    def update(self, elapsed: float) -> None:
        finished = self.recorder.finished
        last_elapsed, last_finished = self._last
        rate = (finished - last_finished) / (elapsed - last_elapsed) if elapsed > last_elapsed else 0.0
        self._last = (elapsed, finished)
        fraction = self.fraction(elapsed)
        bar = "#" * round(fraction * WIDTH)
        self.stream.write(f"{CLEAR_LINE}[{bar:.<{WIDTH}}] {fraction:4.0%}  {finished} done  "
                          f"{rate:.0f} req/s  {self.recorder.error_count} errors  {elapsed:.1f} s")
        self.stream.flush()

    def finish(self) -> None:
        self.stream.write(CLEAR_LINE)
        self.stream.flush()


def progress_bar(plan: LoadPlan, recorder: Recorder, stream: TextIO | None = None) -> ProgressBar | None:
    """A bar on `stream` (stderr by default) if it is a terminal, else None."""
    stream = stream or sys.stderr
    return ProgressBar(plan, recorder, stream) if stream.isatty() else None
