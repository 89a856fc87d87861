"""A progress display on stderr for long builds: one line per step, with what it has done so far.

On a terminal, a live rich display: the step, a bar, and the step's detail (bytes read of the
known size, the percentage, MB/s and the time left while reading; a running count otherwise).
When stderr is not a terminal (CI, a log file, Ray's logs), plain lines instead, without any
control character: one when a step starts, one every `interval` seconds while it runs, one when it
ends. Text from the data (site and file names) is shown as it is, never read as rich markup.
"""

import sys
import threading
import time
from typing import TextIO

LOG_INTERVAL = 10.0  # seconds between two plain lines of one step


def _printable(text: str) -> str:
    """`text` with any control character (escape, carriage return, newline...) replaced."""
    return "".join(c if c.isprintable() else "?" for c in str(text))


def _clock(seconds: float) -> str:
    seconds = int(max(0, seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def _megabytes(n: int) -> str:
    return f"{n / 1e6:,.1f} MB"


class _Step:
    """What one step has done so far, and how to say it."""

    def __init__(self, description: str, total_bytes: int | None):
        self.description = _printable(description)
        self.total = total_bytes if total_bytes and total_bytes > 0 else None
        self.started = time.monotonic()
        self.count = 0
        self.unit = "rows"
        self.bytes = 0

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def detail(self, final: bool = False) -> str:
        """e.g. `45.2 of 207.0 MB (22%), 3.1 MB/s, 12,345 rows, 0:00:15, about 0:00:52 left`."""
        elapsed = self.elapsed()
        parts = []
        if self.bytes or self.total:
            read = _megabytes(self.bytes)
            if self.total:
                read = f"{self.bytes / 1e6:,.1f} of {_megabytes(self.total)} ({min(100, 100 * self.bytes // self.total)}%)"
            parts.append(read)
            if elapsed > 0.5 and self.bytes:
                parts.append(f"{self.bytes / 1e6 / elapsed:,.1f} MB/s")
        if self.count:
            parts.append(f"{self.count:,} {self.unit}")
        parts.append(_clock(elapsed))
        if not final and self.total and self.bytes and elapsed > 0.5 and self.bytes < self.total:
            parts.append(f"about {_clock((self.total - self.bytes) * elapsed / self.bytes)} left")
        return ", ".join(parts)


class Progress:
    """`step(description, total_bytes)` starts a new step; `advance(n, unit, nbytes)` counts work done
    in the current one (`nbytes`: input bytes read, out of `total_bytes` when that is known).
    Disabled, it does nothing, so library callers, tests and `-q` stay quiet. `stream`: stderr
    unless given; `terminal`: whether to draw a live display, by default when `stream` is a terminal."""

    def __init__(self, enabled: bool, *, stream: TextIO | None = None, terminal: bool | None = None,
                 interval: float = LOG_INTERVAL):
        self.enabled = enabled
        self._stream = stream
        self._terminal = terminal
        self.interval = interval
        self._bar = None  # the rich display, on a terminal
        self._task = None
        self._step: _Step | None = None
        self._logged = 0.0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None

    @property
    def stream(self) -> TextIO:
        return self._stream or sys.stderr

    def __enter__(self) -> "Progress":
        if not self.enabled:
            return self
        terminal = self._terminal
        if terminal is None:
            try:
                terminal = self.stream.isatty()
            except (AttributeError, ValueError):
                terminal = False
        if terminal:
            from rich.console import Console
            from rich.progress import BarColumn, SpinnerColumn, TextColumn
            from rich.progress import Progress as RichProgress
            from rich.table import Column

            self._bar = RichProgress(
                SpinnerColumn(),
                TextColumn("{task.description}", markup=False,
                           table_column=Column(ratio=1, no_wrap=True, overflow="ellipsis")),
                BarColumn(bar_width=20),
                TextColumn("{task.fields[detail]}", markup=False, table_column=Column(no_wrap=True)),
                console=Console(file=self.stream, force_terminal=True), transient=False,
            )
            self._bar.__enter__()
        else:  # a step that advances seldom (one long bucket) still says it is alive
            self._ticker = threading.Thread(target=self._tick, name="stackpref-progress", daemon=True)
            self._ticker.start()
        return self

    def _tick(self) -> None:
        while not self._stop.wait(min(1.0, self.interval)):
            with self._lock:
                step = self._step
                if step is not None and time.monotonic() - self._logged >= self.interval:
                    self._logged = time.monotonic()
                    self._say(f"{step.description}: {step.detail()}")

    def __exit__(self, *exc) -> None:
        if not self.enabled:
            return
        self._stop.set()
        with self._lock:
            self._finish()
        if self._bar is not None:
            self._bar.__exit__(*exc)
            self._bar = None

    def _say(self, line: str) -> None:
        try:
            print(f"stackpref: {line}", file=self.stream, flush=True)
        except (OSError, ValueError):  # a closed or broken stderr must not stop the build
            pass

    def _finish(self) -> None:
        step, self._step = self._step, None
        if step is None:
            return
        if self._bar is not None:
            done = step.total if step.total and step.bytes >= step.total else max(1, step.bytes)
            self._bar.update(self._task, total=done, completed=done, detail=step.detail(final=True))
        else:
            self._say(f"{step.description}: done, {step.detail(final=True)}")

    def step(self, description: str, total_bytes: int | None = None) -> None:
        if not self.enabled:
            return
        with self._lock:
            self._start(description, total_bytes)

    def _start(self, description: str, total_bytes: int | None) -> None:
        self._finish()
        self._step = _Step(description, total_bytes)
        if self._bar is not None:
            self._task = self._bar.add_task(self._step.description, total=self._step.total,
                                            detail=self._step.detail())
        else:
            self._logged = time.monotonic()
            total = f" ({_megabytes(self._step.total)})" if self._step.total else ""
            self._say(f"{self._step.description}{total}")

    def advance(self, n: int, unit: str = "rows", nbytes: int = 0) -> None:
        step = self._step
        if not self.enabled or step is None:
            return
        with self._lock:
            self._advance(step, n, unit, nbytes)

    def _advance(self, step: _Step, n: int, unit: str, nbytes: int) -> None:
        step.count += n
        step.unit = unit
        step.bytes += nbytes
        if self._bar is not None:
            self._bar.update(self._task, completed=step.bytes if step.total else None, detail=step.detail())
        elif time.monotonic() - self._logged >= self.interval:
            self._logged = time.monotonic()
            self._say(f"{step.description}: {step.detail()}")
