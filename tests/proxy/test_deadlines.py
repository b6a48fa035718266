"""The request body's minimum rate and total deadline (proxy.deadlines.BodyWatch), with
explicit times: the grace window, the sliding check, l7lb's own pauses, 100-continue."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from l7lb.config.model import Timeouts
from l7lb.proxy.deadlines import NEVER, SLOTS, BodyWatch, Deadline, Phase
from l7lb.proxy.flow import Pause

RATE = 1024  # bytes/s
W = 10.0  # the window
STEP = W / SLOTS


def test_the_first_window_is_grace_then_a_check_every_fifth() -> None:
    w = BodyWatch(RATE, W, 0.0, now=100.0)
    assert w.when == 100.0 + W  # nothing is checked before the first window has passed
    w.add(RATE * 10, 100.5)  # exactly one window's worth, early
    assert w.when == 110.0
    assert not w.expire(110.0)  # [100, 110): 10240 bytes, enough
    assert w.when == 110.0 + STEP  # the window slides by a fifth
    # [102, 112) holds nothing: those 10240 bytes came at 100.5
    assert w.expire(112.0)
    assert "0 bytes in 10s" in w.violation and "1024 bytes/s" in w.violation


def test_a_trickle_is_cut_one_window_after_the_head() -> None:
    """One byte every 5 s: the idle timeout never fires, the rate check does, at 10 s."""
    w = BodyWatch(RATE, W, 0.0, now=0.0)
    for t in (0.0, 5.0):
        w.add(1, t)
        assert not w.violation
    assert w.when == 10.0
    assert w.expire(10.0)
    assert "2 bytes in 10s" in w.violation


def test_the_window_slides_a_burst_then_silence_is_caught_a_window_later() -> None:
    w = BodyWatch(RATE, W, 0.0, now=0.0)
    w.add(20_000, 1.0)
    assert not w.expire(10.0)  # [0, 10): 20000
    for t in (2.0, 4.0, 6.0, 8.0):
        # [t, 10 + t) still holds the burst at 1.0? only while 1.0 >= t
        assert not w.expire(10.0 + t) if t <= 1.0 else w.expire(10.0 + t)
        if w.violation:
            break
    assert w.violation  # [2, 12) has nothing


def test_steady_senders_at_the_rate_pass_and_just_under_fail() -> None:
    """RATE bytes every second, checked over a minute: never too slow. 90 % of it: cut at
    the first check."""
    for share, cut in ((1.0, False), (0.9, True)):
        w = BodyWatch(RATE, W, 0.0, now=0.0)
        cut_at = None
        for second in range(60):
            t = second + 0.5
            while w.when <= t:
                if w.expire(w.when):
                    cut_at = w.when
                    break
            if cut_at is not None:
                break
            w.add(int(RATE * share), t)
        assert (cut_at is not None) is cut, (share, cut_at)
        if cut:
            assert cut_at == 10.0


def test_lazy_marks_are_exact_when_bytes_come_between_checks() -> None:
    """Bytes that come without a timer in between (during the grace) are put in the right
    step: 10240 bytes at 1.9 s count in [0, 10) but not in [2, 12)."""
    w = BodyWatch(RATE, W, 0.0, now=0.0)
    w.add(10_240, 1.9)
    w.add(5_000, 2.1)
    w.add(5_240, 9.0)
    assert not w.expire(10.0)  # 20480 in [0, 10)
    assert not w.expire(12.0)  # [2, 12): 5000 + 5240 = 10240, just enough
    w2 = BodyWatch(RATE, W, 0.0, now=0.0)
    w2.add(10_240, 1.9)
    w2.add(5_000, 2.1)
    w2.add(5_239, 9.0)
    assert not w2.expire(10.0)
    assert w2.expire(12.0)  # one byte short


def test_a_late_timer_still_judges_each_window_it_missed() -> None:
    w = BodyWatch(RATE, W, 0.0, now=0.0)
    w.add(11_000, 0.5)
    # the loop was busy: the timer for 10.0 fires at 13.0; [2, 12) already had nothing
    assert w.expire(13.0)


def test_bytes_after_a_missed_check_report_the_violation_at_once() -> None:
    w = BodyWatch(RATE, W, 0.0, now=0.0)
    w.add(100, 0.0)
    w.add(100, 10.5)  # the check at 10.0 has not run yet: the bytes find it
    assert w.violation and w.when == 10.5
    assert w.expire(10.5)


def test_l7lb_pausing_the_body_stops_the_clock_until_the_next_byte() -> None:
    w = BodyWatch(RATE, W, 0.0, now=0.0)
    w.add(50_000, 0.5)
    w.pause(Pause.BACKEND_FULL)  # the backend does not take the body
    assert w.when == NEVER
    w.pause(Pause.NO_BACKEND)
    w.resume(Pause.BACKEND_FULL)
    w.add(10, 40.0)  # still paused for NO_BACKEND: counted, no clock
    assert w.when == NEVER
    w.resume(Pause.NO_BACKEND)
    assert w.when == NEVER  # the clock waits for the client's next byte
    w.add(10, 60.0)
    assert w.when == 70.0  # a whole window of grace from there
    assert w.expire(70.0)  # and then the rule again: 10 bytes in [60, 70)


def test_the_same_pause_reason_twice_needs_one_resume() -> None:
    w = BodyWatch(RATE, W, 0.0, now=0.0)
    w.pause(Pause.NO_BACKEND)
    w.pause(Pause.NO_BACKEND)
    w.resume(Pause.NO_BACKEND)
    w.add(1, 5.0)
    assert w.when == 15.0


def test_expect_100_continue_starts_the_clock_at_the_first_byte() -> None:
    w = BodyWatch(RATE, W, 0.0, now=0.0, waiting=True)
    assert w.when == NEVER  # the client waits for the 100 before it sends
    w.add(20_000, 30.0)
    assert w.when == 40.0
    assert not w.expire(40.0)


def test_the_total_deadline_holds_whatever_the_rate() -> None:
    w = BodyWatch(RATE, W, 25.0, now=100.0)
    assert w.when == 110.0
    for t in range(100, 125):
        w.add(1_000_000, t + 0.1)
        while w.when <= t + 0.5:
            assert not w.expire(w.when)
    assert w.when == 125.0
    assert w.expire(125.0)
    assert "body_deadline (25s)" in w.violation


def test_the_total_deadline_alone_and_paused() -> None:
    w = BodyWatch(0, W, 5.0, now=0.0)
    assert w.when == 5.0
    w.pause(Pause.BACKEND_FULL)
    assert w.when == 5.0  # a pause stops the rate clock, not the total deadline
    assert w.expire(5.0)


def test_no_rate_and_no_deadline_never_expires() -> None:
    w = BodyWatch(0, W, 0.0, now=0.0)
    w.add(1, 1000.0)
    assert w.when == NEVER


# ---- the exchange's deadline with a body watch --------------------------------------------


def test_deadline_is_the_earlier_of_phase_and_body() -> None:
    d = Deadline(Timeouts(client_idle=60.0))
    d.watch_body(BodyWatch(RATE, W, 0.0, now=0.0))
    assert d.when == 10.0
    d.start(Phase.BODY, 0.0)
    assert d.when == 10.0  # the idle timeout (60 s) is later
    d.body_progress(20_000, 1.0)
    assert not d.due(10.0)  # the window was fine: the next check
    assert d.when == 12.0
    assert d.due(12.0)
    assert "too slow" in d.body_violation()


def test_deadline_phase_expiry_still_works_under_a_watch() -> None:
    d = Deadline(Timeouts(client_idle=5.0))
    d.watch_body(BodyWatch(RATE, W, 0.0, now=0.0))
    d.start(Phase.BODY, 0.0)
    assert d.when == 5.0
    assert d.due(5.0)  # idle: no progress at all
    assert d.body_violation() == ""


def test_deadline_body_done_drops_the_watch() -> None:
    d = Deadline(Timeouts(backend_response=60.0))
    d.watch_body(BodyWatch(RATE, W, 0.0, now=0.0))
    d.body_done()
    d.start(Phase.RESPONSE, 1.0)
    assert d.when == 61.0
    d.clear()
    assert d.when == NEVER


def test_deadline_clear_keeps_the_watch() -> None:
    """Leaving the queue clears the phase; the body is still watched."""
    d = Deadline(Timeouts())
    d.watch_body(BodyWatch(RATE, W, 0.0, now=0.0))
    d.until(Phase.QUEUE, 3.0)
    assert d.when == 3.0
    d.clear()
    assert d.when == 10.0


def test_deadline_pause_moves_when() -> None:
    d = Deadline(Timeouts())
    d.watch_body(BodyWatch(RATE, W, 0.0, now=0.0))
    d.pause_body(Pause.NO_BACKEND)
    assert d.when == NEVER
    d.resume_body(Pause.NO_BACKEND)
    d.body_progress(10, 3.0)
    assert d.when == 13.0


# ---- properties ----------------------------------------------------------------------------


def _exact_violation(arrivals: list[tuple[float, int]], horizon: float) -> float | None:
    """The first check time at which some window [t - W, t) had fewer than RATE * W bytes,
    by brute force over the arrival list."""
    k = SLOTS
    while k * STEP <= horizon:
        t = k * STEP
        got = sum(n for at, n in arrivals if t - W <= at < t)
        if got < RATE * W:
            return t
        k += 1
    return None


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(st.floats(0.0, 40.0), st.integers(1, 8000)), min_size=0, max_size=40).map(
        sorted
    )
)
def test_the_watch_agrees_with_brute_force(arrivals: list[tuple[float, int]]) -> None:
    """Bytes at arbitrary times, the timer firing at each ``when``: the watch cuts the body
    exactly at the first step whose window had too few bytes, never before, never after."""
    horizon = 45.0
    w = BodyWatch(RATE, W, 0.0, now=0.0)
    cut: float | None = None
    for at, n in [*arrivals, (horizon, 0)]:
        while w.when <= at and cut is None:
            if w.expire(w.when):
                cut = w.when
        if cut is not None:
            break
        if n:
            w.add(n, at)
            assert not w.violation  # the timer ran first
    expected = _exact_violation(arrivals, horizon)
    if expected is None:
        assert cut is None
    else:
        # the timer fires at every ``when`` before the next bytes: it finds it at the step
        assert cut == expected
        assert w.violation
        assert f"{int(sum(n for at, n in arrivals if expected - W <= at < expected))} bytes" in (
            w.violation
        )
