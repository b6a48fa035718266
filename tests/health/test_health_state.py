"""The rise/fall state machine and the passive tracker, as plain data."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from l7lb.config.model import Address
from l7lb.health.passive import PassiveTracker
from l7lb.health.state import HealthState
from l7lb.health.target import CheckTarget, InitialState, StatusRanges


def test_first_check_decides_at_once() -> None:
    s = HealthState(rise=3, fall=3, initial=InitialState.FIRST_CHECK)
    assert s.pending and not s.up
    assert s.record(True) is True
    assert s.up and not s.pending
    s = HealthState(rise=3, fall=3, initial=InitialState.FIRST_CHECK)
    assert s.record(False) is False
    assert not s.up and not s.pending


def test_up_goes_down_after_fall_and_back_after_rise() -> None:
    s = HealthState(rise=2, fall=3, initial=InitialState.UP)
    assert [s.record(False), s.record(False), s.record(False)] == [None, None, False]
    assert [s.record(True), s.record(True)] == [None, True]


def test_agreeing_result_resets_streak() -> None:
    s = HealthState(rise=2, fall=2, initial=InitialState.UP)
    assert [s.record(False), s.record(True), s.record(False), s.record(True)] == [None] * 4
    assert s.up


def test_initial_down_needs_rise() -> None:
    s = HealthState(rise=2, fall=1, initial=InitialState.DOWN)
    assert not s.pending and not s.up
    assert [s.record(True), s.record(True)] == [None, True]
    assert s.record(False) is False  # fall = 1


@settings(max_examples=200)
@given(
    results=st.lists(st.booleans(), max_size=60),
    rise=st.integers(1, 4),
    fall=st.integers(1, 4),
    initial=st.sampled_from(list(InitialState)),
)
def test_state_matches_definition(
    results: list[bool], rise: int, fall: int, initial: InitialState
) -> None:
    # Definition: after the initial decision, the state flips exactly when the
    # last `rise` (or `fall`) results since the last flip all disagree with it.
    s = HealthState(rise, fall, initial)
    up = initial is InitialState.UP
    pending = initial is InitialState.FIRST_CHECK
    since_flip: list[bool] = []
    for ok in results:
        changed = s.record(ok)
        if pending:
            pending, up, since_flip = False, ok, []
            assert changed is ok
            continue
        since_flip.append(ok)
        need = rise if not up else fall
        tail = since_flip[-need:]
        if len(tail) == need and all(r != up for r in tail):
            up, since_flip = not up, []
            assert changed is up
        else:
            assert changed is None
        assert s.up == up


def test_status_ranges() -> None:
    r = StatusRanges("200-399")
    assert 200 in r and 399 in r and 400 not in r and 199 not in r
    assert str(r) == "200-399"
    multi = StatusRanges(" 200 , 204, 300-302")
    assert [c in multi for c in (200, 201, 204, 301, 303)] == [True, False, True, True, False]
    assert str(multi) == "200,204,300-302"
    for bad in ("", "abc", "399-200", "200-", "99", "200-600"):
        with pytest.raises(ValueError):
            StatusRanges(bad)


def test_target_validation_and_check_port() -> None:
    t = CheckTarget("web", "s1", Address("10.0.0.1", 80), port=8081)
    assert t.kind == "tcp" and t.check_address == Address("10.0.0.1", 8081)
    with pytest.raises(ValueError):
        CheckTarget("web", "s1", Address("10.0.0.1", 80), rise=0)
    with pytest.raises(ValueError):
        CheckTarget("web", "s1", Address("10.0.0.1", 80), interval=0)


def test_passive_marks_down_after_threshold() -> None:
    p = PassiveTracker(threshold=3, backoff=10)
    assert [p.record_failure(0), p.record_failure(1), p.record_failure(2)] == [False, False, True]
    assert p.is_down(5) and p.down_until == 12
    assert p.record_failure(6) is False  # already down
    assert not p.is_down(12)


def test_passive_success_resets_streak() -> None:
    p = PassiveTracker(threshold=2, backoff=10)
    assert p.record_failure(0) is False
    p.record_success()
    assert p.record_failure(1) is False
    assert p.record_failure(2) is True


def test_passive_trial_after_backoff() -> None:
    p = PassiveTracker(threshold=3, backoff=10)
    for t in range(3):
        p.record_failure(t)
    # back-off over: one failure is enough to go down again
    assert p.record_failure(13) is True
    assert p.is_down(14) and p.down_until == 23
    # a success after the next back-off clears it for good
    p.record_success()
    assert not p.is_down(24)
    assert [p.record_failure(30), p.record_failure(31)] == [False, False]


def test_passive_bad_arguments() -> None:
    with pytest.raises(ValueError):
        PassiveTracker(0, 1)
    with pytest.raises(ValueError):
        PassiveTracker(1, 0)
