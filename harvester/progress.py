"""The progress bar of `starledger scan`: owners done of planned, repositories, points,
waits. On a terminal one line is redrawn; elsewhere (logs, CI) a line per batch."""

import sys
import time
from collections.abc import Sequence
from typing import TextIO

from harvester.executor import ScanStats
from harvester.scan import OwnerOutcome

__all__ = ["Progress"]

BAR_WIDTH = 24


class Progress:
    def __init__(self, *, owners: int, stream: TextIO = sys.stderr) -> None:
        self._planned = owners
        self._stream = stream
        self._tty = stream.isatty()
        self._owners = 0
        self._repos = 0
        self._stats = ScanStats()
        self._waiting = ""
        self._started = time.monotonic()

    def line(self, owners: int, repos: int) -> str:
        """`[#####-------]  40%  2/5 owners, 250 repositories, …`"""
        share = min(1.0, owners / self._planned) if self._planned else 1.0
        filled = round(share * BAR_WIDTH)
        stats = self._stats
        waiting = f" | {self._waiting}" if self._waiting else ""
        return (
            f"[{'#' * filled}{'-' * (BAR_WIDTH - filled)}] {share:4.0%}  "
            f"{owners}/{self._planned} owners, {repos} repositories, {stats.requests} requests, "
            f"{stats.points} points, {stats.waits} waits ({stats.wait_s:.0f} s), "
            f"{time.monotonic() - self._started:.0f} s{waiting}"
        )

    def _show(self, line: str, *, always: bool) -> None:
        if self._tty:
            self._stream.write("\r\033[K" + line)
            self._stream.flush()
        elif always:
            print(line, file=self._stream, flush=True)

    def update(self, outcomes: Sequence[OwnerOutcome]) -> None:
        """Within a batch, after each round of queries."""
        self._waiting = ""
        done = sum(1 for o in outcomes if o.complete or o.missing or o.error)
        repos = sum(len(o.repos) for o in outcomes)
        self._show(self.line(self._owners + done, self._repos + repos), always=False)

    def on_wait(self, seconds: float, reason: str) -> None:
        self._waiting = f"waiting {seconds:.0f} s: {reason}"
        self._show(self.line(self._owners, self._repos), always=True)

    def finish_batch(self, owners: int, repos: int, stats: ScanStats) -> None:
        self._owners += owners
        self._repos += repos
        for key in ("requests", "points", "waits", "errors"):
            setattr(self._stats, key, getattr(self._stats, key) + getattr(stats, key))
        self._stats.wait_s += stats.wait_s
        self._waiting = ""
        self._show(self.line(self._owners, self._repos), always=True)

    def close(self) -> None:
        if self._tty:
            self._stream.write("\n")
            self._stream.flush()
