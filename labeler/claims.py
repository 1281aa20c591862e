"""Claims on the unreviewed faces an app shows, so two people on one queue never get the same faces.

The app claims the faces on screen and the next ones after the current face (a page), renews the
claim while the person works, stops renewing after IDLE_S without a key or a click (the claims then
lapse after the catalog's CLAIM_TTL_S) and releases everything on close. The catalog keeps claimed
faces out of other apps' unreviewed queues; a claim never blocks a decision. No Qt here.
"""
from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Sequence

from db.review import CLAIM_TTL_S

LOOKAHEAD = 60  # faces claimed after the current one, beyond the screen
RENEW_S = 60.0  # how often claims are renewed while the person works
IDLE_S = 120.0  # after this long without input, claims are left to lapse (gone ~5 min after the last input)


def new_holder() -> str:
    """One running app's claim id."""
    return uuid.uuid4().hex


def claim_rows(first_visible: int, last_visible: int, current: int, count: int,
               lookahead: int = LOOKAHEAD) -> list[int]:
    """The rows to claim, in order: the rows on screen and the current one with `lookahead` after it.
    Nothing between the two when they lie apart: right after a re-list the view has not yet scrolled
    to a current face kept far down the new list, and the rows between (tens of thousands) are
    nobody's page."""
    if count <= 0:
        return []
    rows = set(range(max(0, first_visible), min(count, last_visible + 1)))
    if current >= 0:
        rows.update(range(current, min(count, current + lookahead + 1)))
    elif first_visible >= 0:
        rows.update(range(first_visible, min(count, first_visible + lookahead + 1)))
    return sorted(rows)


@dataclass
class ClaimKeeper:
    """When to claim, renew or let go; the window runs the catalog calls it asks for."""

    holder: str = field(default_factory=new_holder)
    ttl_s: float = CLAIM_TTL_S
    renew_s: float = RENEW_S
    idle_s: float = IDLE_S
    last_input: float = field(default_factory=time.monotonic)
    last_claim: float = float("-inf")
    granted: set[int] = field(default_factory=set)
    held_by_others: dict[int, str | None] = field(default_factory=dict)

    def touch(self, now: float | None = None) -> None:
        """The person pressed a key or clicked."""
        self.last_input = time.monotonic() if now is None else now

    def idle(self, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        return now - self.last_input >= self.idle_s

    def due(self, now: float | None = None) -> bool:
        """Time to renew: the last claim is renew_s old and the person is not idle."""
        now = time.monotonic() if now is None else now
        return not self.idle(now) and now - self.last_claim >= self.renew_s

    def claimed(self, granted: Sequence[int], held_by_others: dict[int, str | None],
                now: float | None = None) -> None:
        self.last_claim = time.monotonic() if now is None else now
        self.granted = set(granted)
        self.held_by_others = dict(held_by_others)
