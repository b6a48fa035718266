"""The outbox (proxy.outbox): writes held to the end of the loop's pass, one callback per
pass, flushed in order, closing transports skipped, re-entrant flushes, the HELD_MAX and
HELD_BYTES caps."""

from __future__ import annotations

from collections.abc import Callable

from hypothesis import given, settings
from hypothesis import strategies as st

from l7lb.proxy.outbox import HELD_BYTES, HELD_MAX, Outbox


class Loop:
    """The loop's call_soon, run by hand."""

    def __init__(self) -> None:
        self.ready: list[Callable[[], None]] = []

    def call_soon(self, callback: Callable[[], None]) -> None:
        self.ready.append(callback)

    def run_pass(self) -> None:
        ready, self.ready = self.ready, []
        for callback in ready:
            callback()


class Sink:
    def __init__(self, name: str, log: list[tuple[str, bytes]]) -> None:
        self.name = name
        self.log = log
        self.closing = False
        self.on_write: Callable[[bytes], None] | None = None

    def write(self, data: bytes) -> None:
        assert not self.closing, "written after it closed"
        self.log.append((self.name, data))
        if self.on_write is not None:
            self.on_write(data)

    def is_closing(self) -> bool:
        return self.closing


def test_nothing_leaves_before_the_end_of_the_pass_and_one_callback_is_asked() -> None:
    loop, log = Loop(), []
    box = Outbox(loop.call_soon)
    a, b = Sink("a", log), Sink("b", log)
    box.send(a, b"1")
    box.send(b, b"2")
    box.send(a, b"3")
    assert log == []
    assert len(loop.ready) == 1
    loop.run_pass()
    assert log == [("a", b"1"), ("b", b"2"), ("a", b"3")]
    # the next pass asks again, once
    box.send(b, b"4")
    assert len(loop.ready) == 1
    loop.run_pass()
    assert log[-1] == ("b", b"4")
    loop.run_pass()  # nothing asked: nothing runs twice
    assert len(log) == 4


def test_a_flush_before_a_close_takes_the_queue_and_the_pass_callback_finds_it_empty() -> None:
    loop, log = Loop(), []
    box = Outbox(loop.call_soon)
    a = Sink("a", log)
    box.send(a, b"response")
    box.flush()  # the connection is about to close its transport
    a.closing = True
    assert log == [("a", b"response")]
    loop.run_pass()
    assert log == [("a", b"response")]
    box.send(a, b"late")  # queued for a transport that closes before the pass ends
    loop.run_pass()
    assert log == [("a", b"response")]


def test_a_transport_closed_before_the_flush_is_skipped_and_the_others_are_written() -> None:
    loop, log = Loop(), []
    box = Outbox(loop.call_soon)
    a, b = Sink("a", log), Sink("b", log)
    box.send(a, b"x")
    box.send(b, b"y")
    a.closing = True  # its peer went away in the same pass
    loop.run_pass()
    assert log == [("b", b"y")]


def test_a_flush_made_inside_a_write_goes_on_from_the_same_cursor() -> None:
    """A write makes the transport call pause_writing; the engine then closes another
    connection, which flushes: nothing is written twice, nothing out of order."""
    loop, log = Loop(), []
    box = Outbox(loop.call_soon)
    a, b, c = Sink("a", log), Sink("b", log), Sink("c", log)

    def provoke(_: bytes) -> None:
        a.on_write = None
        box.send(a, b"a2")  # queued by the callback, after everything before it
        box.flush()

    a.on_write = provoke
    box.send(a, b"a1")
    box.send(b, b"b1")
    box.send(c, b"c1")
    box.send(a, b"a3")
    loop.run_pass()
    assert log == [("a", b"a1"), ("b", b"b1"), ("c", b"c1"), ("a", b"a3"), ("a", b"a2")]
    # the lists start again: the next pass writes only what it queued
    box.send(b, b"b2")
    loop.run_pass()
    assert log[-1] == ("b", b"b2") and len(log) == 6


def test_at_held_max_queued_writes_the_outbox_flushes_at_once() -> None:
    loop, log = Loop(), []
    box = Outbox(loop.call_soon)
    a = Sink("a", log)
    for i in range(HELD_MAX - 1):
        box.send(a, b"%d" % i)
    assert log == []
    box.send(a, b"last")
    assert len(log) == HELD_MAX and log[-1] == ("a", b"last")
    box.send(a, b"next")  # the pass's callback is still asked for: it takes the rest
    assert len(log) == HELD_MAX
    loop.run_pass()
    assert log[-1] == ("a", b"next") and len(log) == HELD_MAX + 1


def test_a_large_write_leaves_at_once_after_what_was_queued_before_it() -> None:
    """A 1 MiB body's 256 KiB reads must not wait for the end of the pass: the client's
    transport has to push back (pause_writing) before the backend is read again."""
    loop, log = Loop(), []
    box = Outbox(loop.call_soon)
    a, b = Sink("a", log), Sink("b", log)
    box.send(b, b"small")
    assert log == []
    big = b"x" * HELD_BYTES
    box.send(a, big)
    assert log == [("b", b"small"), ("a", big)]


def test_small_writes_leave_once_they_add_up_to_held_bytes() -> None:
    loop, log = Loop(), []
    box = Outbox(loop.call_soon)
    a = Sink("a", log)
    chunk = b"y" * (HELD_BYTES // 4)
    for _ in range(3):
        box.send(a, chunk)
    assert log == []
    box.send(a, chunk)
    assert len(log) == 4
    box.send(a, chunk)  # counted afresh after the flush
    assert len(log) == 4
    loop.run_pass()
    assert len(log) == 5


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.tuples(st.just("send"), st.integers(0, 3)),
            st.tuples(st.just("flush"), st.just(0)),
            st.tuples(st.just("pass"), st.just(0)),
            st.tuples(st.just("close"), st.integers(0, 3)),
        ),
        max_size=200,
    )
)
def test_each_transport_gets_what_was_queued_for_it_in_order_until_it_closes(
    steps: list[tuple[str, int]],
) -> None:
    loop, log = Loop(), []
    box = Outbox(loop.call_soon)
    sinks = [Sink(str(i), log) for i in range(4)]
    queued: list[list[bytes]] = [[] for _ in sinks]
    closed_at: list[int | None] = [None] * 4  # how many were queued when it closed
    n = 0
    for op, i in steps:
        if op == "send":
            n += 1
            data = b"%d" % n
            box.send(sinks[i], data)
            if closed_at[i] is None:
                queued[i].append(data)
        elif op == "flush":
            box.flush()
        elif op == "pass":
            loop.run_pass()
        elif closed_at[i] is None:
            box.flush()  # as the connection does before it closes
            sinks[i].closing = True
            closed_at[i] = len(queued[i])
    loop.run_pass()
    for i, sink in enumerate(sinks):
        got = [d for name, d in log if name == sink.name]
        assert got == queued[i]
