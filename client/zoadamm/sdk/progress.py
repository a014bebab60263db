"""A one-line progress display on stderr (the SDK depends on numpy and httpx only, so no tqdm)."""

from __future__ import annotations

import sys
import time

LOG_EVERY_S = 10.0


class Progress:
    def __init__(self, total: int, desc: str = "", enabled: bool = True, stream=None) -> None:
        self.stream = stream or sys.stderr
        # no stderr at all (a program started with 2>&-, pythonw): nothing to draw on
        self.total, self.desc, self.enabled = total, desc, enabled and self.stream is not None
        self.done = 0
        self.started = self._drawn = time.monotonic()
        self.postfix = ""
        # A log file gets a line per tenth of the work instead of a redrawn bar, and one at least
        # every LOG_EVERY_S seconds: a slow f would otherwise keep a long run silent for minutes.
        self.interactive = hasattr(self.stream, "isatty") and self.stream.isatty()
        self._next_line = 0

    def update(self, n: int = 1, **postfix: float) -> None:
        self.done += n
        if postfix:
            self.postfix = "  ".join(f"{k}={v:.4g}" for k, v in postfix.items())
        now = time.monotonic()
        if not self.enabled:
            return
        if self.interactive and (now - self._drawn >= 0.2 or self.done >= self.total):
            self._drawn = now
            self._draw(now)
        elif not self.interactive and (self.done >= self._next_line or self.done - n < self.total <= self.done
                                       or now - self._drawn >= LOG_EVERY_S):
            self._drawn = now
            self._next_line = self.done + max(1, self.total // 10)
            self._draw(now, end="\n")

    def _draw(self, now: float, end: str = "") -> None:
        elapsed = now - self.started
        rate = self.done / elapsed if elapsed > 0 else 0.0
        eta = (self.total - self.done) / rate if rate > 0 else 0.0
        width = 24
        filled = int(width * self.done / max(self.total, 1))
        bar = "#" * filled + "-" * (width - filled)
        start = "\r\x1b[K" if self.interactive else ""  # to the line's start, cleared: a shorter line leaves no tail
        line = f"{start}{self.desc} [{bar}] {self.done}/{self.total} {rate:.1f}/s eta {eta:.0f}s {self.postfix}"
        self.stream.write(line + end)
        self.stream.flush()

    def close(self) -> None:
        if self.enabled and self.interactive:
            self._draw(time.monotonic(), end="\n")
