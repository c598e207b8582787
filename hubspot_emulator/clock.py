"""The emulator's time, which a test can move forward instead of waiting.

Everything time-dependent in the emulator reads this clock: rate-limit windows, search's
per-second limit and its lagging index, OAuth token expiry, records' modification times
and the request log. It runs at real time, plus an offset that only grows: `advance()`
makes time pass for the emulator at once, so a test that needs "six seconds later" (the
index has caught up, a token has expired, a window has freed) says so instead of
sleeping and hoping a busy machine kept up.
"""

from __future__ import annotations

import threading
import time


class Clock:
    """Real time plus an offset that `advance()` grows; thread-safe."""

    def __init__(self, offset: float = 0.0) -> None:
        """`offset`: seconds HubSpot's clock is ahead of the machine's (behind when
        negative): a tap that trusts its own clock is that far off."""
        self._lock = threading.Lock()
        self._offset = offset

    def time(self) -> float:
        """Epoch seconds, as `time.time()` would say after the advances so far."""
        with self._lock:
            return time.time() + self._offset

    def time_ms(self) -> int:
        """Epoch milliseconds: HubSpot's unit for modification times."""
        return int(self.time() * 1000)

    def monotonic(self) -> float:
        """Seconds for measuring intervals, advanced along with `time()`."""
        with self._lock:
            return time.monotonic() + self._offset

    def advance(self, seconds: float) -> None:
        """Let `seconds` pass for the emulator at once (never backwards: windows and
        expiries only ever move forward)."""
        if seconds < 0:
            raise ValueError("the emulator's clock does not go back")
        with self._lock:
            self._offset += seconds
