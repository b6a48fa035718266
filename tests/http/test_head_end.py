"""Where a head ends: ``find_head_end`` and its shortcut ``whole_head_lines`` agree."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from l7lb.http.events import Limits, ProtocolError
from l7lb.http.framing import find_head_end, whole_head_lines

LIMITS = Limits()
HEAD = b"GET / HTTP/1.1\r\nHost: a\r\nAccept: */*\r\n\r\n"


def test_one_whole_head_is_split_once() -> None:
    assert whole_head_lines(HEAD, LIMITS) == HEAD.split(b"\r\n")
    assert find_head_end(HEAD, 0, LIMITS) == len(HEAD)


@pytest.mark.parametrize(
    "buf",
    [
        HEAD + HEAD,  # pipelined: the first blank line is not the last
        HEAD + b"body",  # a body follows
        HEAD[:-2],  # incomplete
        b"GET / HTTP/1.1\r\n\r\nHost: a\r\n\r\n",  # a blank line inside
    ],
)
def test_anything_else_is_left_to_the_search(buf: bytes) -> None:
    assert whole_head_lines(buf, LIMITS) is None


def test_a_head_over_the_limit_is_left_to_the_search_which_refuses_it() -> None:
    small = Limits(max_head_size=len(HEAD) - 1)
    assert whole_head_lines(HEAD, small) is None
    with pytest.raises(ProtocolError) as err:
        find_head_end(HEAD, 0, small)
    assert err.value.status == 431


@settings(max_examples=1500)
@given(st.lists(st.sampled_from([b"\r\n", b"\r", b"\n", b"a", b": ", b"\r\n\r\n"]), max_size=16))
def test_the_shortcut_only_answers_when_the_search_would_end_at_the_end(parts: list[bytes]) -> None:
    buf = b"".join(parts)
    lines = whole_head_lines(buf, LIMITS)
    end = find_head_end(buf, 0, LIMITS)
    if lines is not None:
        assert end == len(buf)
        assert lines == buf.split(b"\r\n")
    elif end == len(buf) and buf[:2] != b"\r\n":
        # the search ends at the end only when the shortcut had a reason to step aside:
        # a head starting with a blank line is the codec's to skip first
        pytest.fail(f"shortcut missed a whole head: {buf!r}")
