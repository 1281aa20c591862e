"""When the work after a move may run (labeler.pace): no Qt, no display."""
from __future__ import annotations

import pytest

from labeler.pace import Pace


def test_a_lone_move_waits_its_own_delay_then_runs():
    pace = Pace(lone_s=0.04, settle_s=0.15, gap_s=0.25)
    assert pace.wait_s(0.0) == 0.0  # never moved: nothing to wait for
    pace.moved(10.0)
    assert not pace.fast
    assert pace.wait_s(10.0) == pytest.approx(0.04)
    assert pace.wait_s(10.03) == pytest.approx(0.01)
    assert pace.wait_s(10.05) == 0.0


def test_quick_moves_wait_until_the_view_has_been_still_for_the_settle_time():
    pace = Pace(lone_s=0.04, settle_s=0.15, gap_s=0.25)
    pace.moved(10.0)
    pace.moved(10.03)  # key repeat
    assert pace.fast
    assert pace.wait_s(10.03) == pytest.approx(0.15)
    assert pace.wait_s(10.10) == pytest.approx(0.08)  # past a lone move's delay: still waiting
    assert pace.wait_s(10.18) == 0.0


def test_a_stall_between_quick_moves_does_not_end_the_scroll_but_a_pause_does():
    """A key delayed 120 ms by a busy GUI thread is still part of the scroll (with a 60 ms window it
    counted as a lone move, and its screen and panel loaded beside the next keys)."""
    pace = Pace(lone_s=0.04, settle_s=0.15, gap_s=0.25)
    pace.moved(10.0)
    pace.moved(10.02)
    pace.moved(10.14)  # 120 ms after the last
    assert pace.fast and pace.wait_s(10.14) == pytest.approx(0.15)
    pace.moved(11.0)  # a person's pause, then one key
    assert not pace.fast and pace.wait_s(11.0) == pytest.approx(0.04)


def test_the_defaults_are_read_when_a_pace_is_made(monkeypatch):
    import labeler.pace

    monkeypatch.setattr(labeler.pace, "SETTLE_S", 0.5)
    monkeypatch.setattr(labeler.pace, "FAST_GAP_S", 1.0)
    pace = Pace(lone_s=0.0)
    pace.moved(0.0)
    pace.moved(0.9)
    assert pace.fast and pace.wait_s(0.9) == pytest.approx(0.5)
