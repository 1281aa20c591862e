"""How fast the person moves through the grid, and so when the work that follows a move may run.

A lone move (a decision, a click, one Page Down) has its side panel and thumbnails shown at once.
Moves in quick succession (a key held, Page Down after Page Down) defer that work until the view
has been still for SETTLE_S: long enough that a short stall of the GUI thread, which delays the
next key, is not taken for the end of the scroll. (It was: the panel's reads and a screen of
thumbnails then ran beside the next keys, on two cores, and held the event loop past 100 ms.)
No Qt here: the window and the thumbnails ask it, with their own clocks' readings."""
from __future__ import annotations

FAST_GAP_S = 0.25  # moves closer than this are one fast scroll (key repeat: ~30 ms; a wheel flick: ~16)
SETTLE_S = 0.15  # a fast scroll's work waits until the view has been still this long


class Pace:
    def __init__(self, lone_s: float, settle_s: float | None = None, gap_s: float | None = None):
        self.lone_s = lone_s
        self.settle_s = SETTLE_S if settle_s is None else settle_s
        self.gap_s = FAST_GAP_S if gap_s is None else gap_s
        self._last = float("-inf")
        self._fast = False  # the last move came within gap_s of the one before

    def moved(self, now: float) -> None:
        self._fast = now - self._last < self.gap_s
        self._last = now

    @property
    def fast(self) -> bool:
        return self._fast

    def wait_s(self, now: float) -> float:
        """How much longer the work after the last move should wait: 0 when it may run now."""
        delay = self.settle_s if self._fast else self.lone_s
        return max(0.0, self._last + delay - now)
