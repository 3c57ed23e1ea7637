"""The progress bar, as a terminal and as a log see it."""

import io

from harvester.executor import ScanStats
from harvester.progress import Progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


class TestProgress:
    def test_a_log_gets_one_line_per_batch_and_per_wait(self) -> None:
        stream = io.StringIO()
        progress = Progress(owners=4, stream=stream)
        progress.update([])
        progress.finish_batch(2, 30, ScanStats(requests=3, points=2))
        progress.on_wait(61.4, "every token's rate limit is spent")
        progress.finish_batch(2, 12, ScanStats(requests=1, points=1, waits=1, wait_s=61.4))
        lines = stream.getvalue().splitlines()
        assert len(lines) == 3
        assert lines[0].startswith("[############------------]  50%  2/4 owners, 30 repositories")
        assert "waiting 61 s: every token's rate limit is spent" in lines[1]
        assert lines[2].startswith("[########################] 100%  4/4 owners, 42 repositories")
        assert "4 requests, 3 points, 1 waits (61 s)" in lines[2]

    def test_a_terminal_gets_one_redrawn_line(self) -> None:
        stream = Terminal()
        progress = Progress(owners=1, stream=stream)
        progress.finish_batch(1, 5, ScanStats())
        progress.close()
        assert stream.getvalue().startswith("\r\033[K[")
        assert stream.getvalue().endswith("\n") and stream.getvalue().count("\n") == 1
