"""Polling for a condition in the scraper tests (a deadline for a hung test, not a timing assertion)."""
from __future__ import annotations

import time


def wait_for(condition, what: str, seconds: float = 60) -> None:
    """Poll a condition until it holds; fail the test after `seconds`."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.02)
