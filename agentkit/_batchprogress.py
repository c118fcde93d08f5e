"""What a running batch shows: its counts, as a live line on a terminal or a periodic line.

On a terminal the progress line is redrawn in place, without a newline; anything else
written to standard error meanwhile (a retry warning) must not be glued to its end.
`StatusLine` is the stream the command's logger writes to: it clears the live line, writes
the log line, and draws the progress line again below it.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import IO

__all__ = ["Progress", "StatusLine"]

_CLEAR = "\r\x1b[2K"  # to the start of the line, and erase it


@dataclass
class Progress:
    """Counts of a running batch."""

    skipped: int = 0
    """Items answered before this run."""

    failed_before: int = 0
    """Items that failed before this run and are not run again."""

    done: int = 0
    failed: int = 0
    in_flight: int = 0
    tokens: int = 0
    unreported: int = 0
    counted: int = 0  # requests whose tokens agentkit counted: the tokens and cost are estimates
    cost: float = 0.0
    unpriced: int = 0  # results whose cost is unknown (no token counts, or no prices)
    to_run: int | None = None  # items this run is to do, when known (for the ETA)
    started: float = field(default_factory=time.monotonic)

    def line(self) -> str:
        """The progress line: counts, rate, tokens, cost, time and time left."""
        elapsed = max(time.monotonic() - self.started, 1e-9)
        rate = (self.done + self.failed) / elapsed
        unknown = f" (+{self.unreported} requests unreported)" if self.unreported else ""
        if not self.unpriced:
            money = f"${self.cost:.4f}"
        else:
            money = f"at least ${self.cost:.4f}" if self.cost else "cost unknown"
        if self.counted and money != "cost unknown":
            money += " (estimated)"
        finished = self.done + self.failed
        eta = ""
        if self.to_run is not None and finished < self.to_run and rate > 0:
            eta = f"  ETA {_duration((self.to_run - finished) / rate)}"
        return (
            f"done {self.done}  failed {self.failed}  in flight {self.in_flight}  "
            f"{rate:.1f}/s  tokens {self.tokens:,}{unknown}  {money}  "
            f"{_duration(elapsed)}{eta}"
        )


def _duration(seconds: float) -> str:
    """A short duration: `42s`, `3m05s`, `2h07m`.

    Examples:
        >>> _duration(42.4), _duration(185), _duration(7630)
        ('42s', '3m05s', '2h07m')
    """
    whole = round(seconds)
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    return f"{whole // 3600}h{whole % 3600 // 60:02d}m"


class StatusLine:
    r"""Standard error with a progress line that other writes never glue onto.

    Live (on a terminal), `show()` redraws the line in place and `write()` (what a logger
    calls) clears it, writes whole lines above it, and draws it again. Otherwise `show()`
    prints a line of its own (prefixed `agentkit batch: `) and `write()` passes through.

    Examples:
        >>> import io
        >>> out = io.StringIO()
        >>> status = StatusLine(out, live=True)
        >>> status.show("done 1")
        >>> print("agentkit.retry attempt=1", file=status)
        >>> out.getvalue().split("\r\x1b[2K")
        ['', 'done 1', 'agentkit.retry attempt=1\ndone 1']
    """

    def __init__(self, stream: IO[str], *, live: bool | None = None) -> None:
        self.stream = stream
        self.live = stream.isatty() if live is None else live
        self._shown = ""
        self._partial = ""
        self._lock = threading.RLock()  # a Ctrl-C handler may write while a write is on

    def show(self, line: str) -> None:
        """Draw the progress line (live: in place; else: as a line of its own)."""
        with self._lock:
            if self.live:
                self._shown = line
                self.stream.write(_CLEAR + line)
            else:
                self.stream.write(f"agentkit batch: {line}\n")
            self.stream.flush()

    def write(self, text: str) -> int:
        """Write `text`; whole lines go above the live progress line."""
        with self._lock:
            if not self.live:
                return self.stream.write(text)
            self._partial += text
            if "\n" in self._partial:
                whole, _, self._partial = self._partial.rpartition("\n")
                clear = _CLEAR if self._shown else ""
                self.stream.write(f"{clear}{whole}\n{self._shown}")
                self.stream.flush()
            return len(text)

    def flush(self) -> None:
        """Flush the stream."""
        self.stream.flush()

    def end(self) -> None:
        """Leave the live line where it is and go on below it."""
        with self._lock:
            if self.live and self._shown:
                self.stream.write("\n")
                self.stream.flush()
            self._shown = ""
