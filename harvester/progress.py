"""The progress line of `starledger scan`: owners, repositories, points, waits."""

import sys
import time
from collections.abc import Sequence
from typing import TextIO

from harvester.executor import ScanStats
from harvester.scan import OwnerOutcome

__all__ = ["Progress"]


class Progress:
    """Redraws one line on a terminal; prints a line per batch elsewhere (logs, CI)."""

    def __init__(self, *, stream: TextIO = sys.stderr) -> None:
        self._stream = stream
        self._tty = stream.isatty()
        self._owners = 0
        self._repos = 0
        self._stats = ScanStats()
        self._batch_owners = 0
        self._batch_repos = 0
        self._waiting = ""
        self._started = time.monotonic()

    def _line(self, owners: int, repos: int, stats: ScanStats) -> str:
        elapsed = time.monotonic() - self._started
        waiting = f" | {self._waiting}" if self._waiting else ""
        return (
            f"scan: {owners} owners, {repos} repositories, {stats.requests} requests, "
            f"{stats.points} points, {stats.waits} waits ({stats.wait_s:.0f} s), "
            f"{elapsed:.0f} s{waiting}"
        )

    def _draw(self, line: str) -> None:
        if self._tty:
            self._stream.write("\r\033[K" + line)
            self._stream.flush()

    def update(self, outcomes: Sequence[OwnerOutcome], stats: ScanStats) -> None:
        self._waiting = ""
        self._batch_owners = sum(1 for o in outcomes if o.complete)
        self._batch_repos = sum(len(o.repos) for o in outcomes)
        self._draw(
            self._line(
                self._owners + self._batch_owners, self._repos + self._batch_repos, self._stats
            )
        )

    def on_wait(self, seconds: float, reason: str) -> None:
        self._waiting = f"waiting {seconds:.0f} s: {reason}"
        line = self._line(self._owners, self._repos, self._stats)
        if self._tty:
            self._draw(line)
        else:
            print(line, file=self._stream, flush=True)

    def finish_batch(self, owners: int, repos: int, stats: ScanStats) -> None:
        self._owners += owners
        self._repos += repos
        for key in ("requests", "points", "waits", "errors"):
            setattr(self._stats, key, getattr(self._stats, key) + getattr(stats, key))
        self._stats.wait_s += stats.wait_s
        line = self._line(self._owners, self._repos, self._stats)
        if self._tty:
            self._draw(line)
        else:
            print(line, file=self._stream, flush=True)

    def close(self) -> None:
        if self._tty:
            self._stream.write("\n")
            self._stream.flush()
