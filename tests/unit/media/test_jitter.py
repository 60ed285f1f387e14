"""The jitter buffer on scripted timelines: order, timing, loss, wrap, restarts, drift."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from frontdesk.media.jitter import JitterBuffer, Missing
from frontdesk.media.rtp import RtpPacket

PTIME = 0.02
SAMPLES = 160


def packet(
    k: int, *, seq0: int = 1000, ts0: int = 50_000, ssrc: int = 1, samples: int = SAMPLES
) -> RtpPacket:
    """The k-th packet of a stream (sequence and timestamp wrap like the wire's)."""
    return RtpPacket(
        0, (seq0 + k) & 0xFFFF, (ts0 + k * samples) & 0xFFFFFFFF, ssrc, bytes([k & 0xFF])
    )


def drain(jitter: JitterBuffer, now: float) -> list[RtpPacket | Missing]:
    out: list[RtpPacket | Missing] = []
    while (item := jitter.pop(now)) is not None:
        out.append(item)
    return out


def run(
    jitter: JitterBuffer,
    arrivals: list[tuple[float, RtpPacket]],
    *,
    until: float,
    step: float = 0.005,
) -> list[tuple[float, RtpPacket | Missing]]:
    """Push packets at their arrival times and pop every `step`, like an edge's tick."""
    arrivals = sorted(arrivals, key=lambda a: a[0])
    out: list[tuple[float, RtpPacket | Missing]] = []
    i = 0
    now = 0.0
    while now <= until:
        while i < len(arrivals) and arrivals[i][0] <= now:
            jitter.push(arrivals[i][1], arrivals[i][0])
            i += 1
        out += [(now, item) for item in drain(jitter, now)]
        now = round(now + step, 9)
    return out


def sequences(items: list[tuple[float, RtpPacket | Missing]]) -> list[int]:
    return [item.sequence for _, item in items]


def test_in_order_stream_plays_after_the_depth() -> None:
    jitter = JitterBuffer(depth_ms=40)
    arrivals = [(k * PTIME, packet(k)) for k in range(50)]
    out = run(jitter, arrivals, until=1.2)
    assert sequences(out) == [1000 + k for k in range(50)]
    for k, (time, item) in enumerate(out):
        assert isinstance(item, RtpPacket)
        assert abs(time - (0.04 + k * PTIME)) < 0.0051  # on time, to the pop step
    assert jitter.stats.played == 50
    assert len(jitter) == 0


def test_nothing_before_the_first_packet_or_its_playout() -> None:
    jitter = JitterBuffer(depth_ms=40)
    assert jitter.pop(0.0) is None
    assert jitter.next_due() is None
    jitter.push(packet(0), 1.0)
    assert jitter.pop(1.039) is None
    assert jitter.next_due() == 1.04
    assert jitter.pop(1.04) == packet(0)


def test_reordered_packets_come_out_in_order() -> None:
    jitter = JitterBuffer(depth_ms=60)
    order = [0, 2, 1, 3, 6, 4, 5, 7, 9, 8]
    arrivals = [(i * PTIME, packet(k)) for i, k in enumerate(order)]
    out = run(jitter, arrivals, until=1.0)
    assert sequences(out) == [1000 + k for k in range(10)]
    assert not any(isinstance(item, Missing) for _, item in out)


def test_duplicates_are_dropped() -> None:
    jitter = JitterBuffer()
    arrivals = [(k * PTIME, packet(k)) for k in range(5)] + [(0.03, packet(2))]
    out = run(jitter, arrivals, until=0.5)
    assert sequences(out) == [1000, 1001, 1002, 1003, 1004]
    assert jitter.stats.duplicates == 1
    jitter.push(packet(1), 0.6)  # already played: late
    assert jitter.stats.late == 1


def test_a_lost_packet_is_reported_missing_at_its_time() -> None:
    jitter = JitterBuffer(depth_ms=40)
    arrivals = [(k * PTIME, packet(k)) for k in range(10) if k != 4]
    out = run(jitter, arrivals, until=1.0)
    assert sequences(out) == [1000 + k for k in range(10)]
    time, item = out[4]
    assert item == Missing(1004, SAMPLES)
    assert abs(time - (0.04 + 4 * PTIME)) < 0.0051
    assert jitter.stats.lost == 1


def test_a_packet_later_than_its_slot_is_dropped_as_late() -> None:
    jitter = JitterBuffer(depth_ms=40)
    arrivals = [(k * PTIME, packet(k)) for k in range(10) if k != 3]
    arrivals.append((0.3, packet(3)))  # 200 ms late: its slot has passed
    out = run(jitter, arrivals, until=1.0)
    assert [type(item).__name__ for _, item in out].count("Missing") == 1
    assert jitter.stats.late == 1


def test_sequence_wrap() -> None:
    jitter = JitterBuffer()
    arrivals = [(k * PTIME, packet(k, seq0=65530, ts0=0xFFFFFE00)) for k in range(12)]
    arrivals[7], arrivals[8] = (arrivals[7][0], arrivals[8][1]), (arrivals[8][0], arrivals[7][1])
    out = run(jitter, arrivals, until=1.0)
    assert sequences(out) == [(65530 + k) & 0xFFFF for k in range(12)]
    assert all(isinstance(item, RtpPacket) for _, item in out)


def test_timestamp_drives_timing_for_30ms_packets_and_talkspurts() -> None:
    jitter = JitterBuffer(ptime_ms=20, depth_ms=40)
    # 30 ms packets (the buffer learns it), then 300 ms of silence suppression
    first = [(k * 0.03, packet(k, samples=240)) for k in range(5)]
    resumed = RtpPacket(0, 1005, 50_000 + 5 * 240 + 2400, 1, b"x", marker=True)
    out = run(jitter, [*first, (0.45, resumed)], until=1.0)
    assert sequences(out) == [1000, 1001, 1002, 1003, 1004, 1005]
    times = [time for time, _ in out]
    assert abs(times[4] - (0.04 + 0.12)) < 0.0051
    assert abs(times[5] - (0.04 + 0.45)) < 0.0051  # the gap is kept, not declared lost
    assert jitter.stats.lost == 0


def test_missing_frame_uses_the_learned_packet_duration() -> None:
    jitter = JitterBuffer(ptime_ms=20)
    arrivals = [(k * 0.03, packet(k, samples=240)) for k in range(8) if k != 5]
    out = run(jitter, arrivals, until=1.0)
    assert out[5][1] == Missing(1005, 240)


def test_ssrc_change_restarts_after_confirmation() -> None:
    jitter = JitterBuffer()
    out = run(jitter, [(k * PTIME, packet(k)) for k in range(5)], until=0.2)
    assert len(out) == 5
    other = [packet(k, seq0=7, ts0=9, ssrc=2) for k in range(3)]
    assert not jitter.push(other[0], 0.2)  # on probation
    assert jitter.push(other[1], 0.22)  # confirmed: a new stream
    assert jitter.push(other[2], 0.24)
    assert [p.sequence for p in drain(jitter, 1.0)] == [7, 8, 9]
    assert jitter.stats.resets == 1


def test_one_stray_packet_does_not_flush_the_buffer() -> None:
    jitter = JitterBuffer()
    arrivals = [(k * PTIME, packet(k)) for k in range(10)]
    arrivals.insert(5, (0.09, packet(0, seq0=40000, ts0=1, ssrc=1)))  # a wild jump
    arrivals.insert(6, (0.095, packet(0, ssrc=99)))  # another source
    out = run(jitter, arrivals, until=1.0)
    assert sequences(out) == [1000 + k for k in range(10)]
    assert jitter.stats.resets == 0
    assert jitter.stats.stray == 2


def test_big_sequence_jump_restarts() -> None:
    jitter = JitterBuffer()
    run(jitter, [(k * PTIME, packet(k)) for k in range(5)], until=0.2)
    jumped = [packet(k, seq0=30000) for k in range(5, 8)]
    for i, p in enumerate(jumped):
        jitter.push(p, 0.2 + i * PTIME)
    assert [p.sequence for p in drain(jitter, 1.0)] == [30005, 30006, 30007]
    assert jitter.stats.resets == 1


def test_timestamp_jump_restarts() -> None:
    jitter = JitterBuffer()
    run(jitter, [(k * PTIME, packet(k)) for k in range(5)], until=0.2)
    # the sender restarted its clock: the next timestamps are an hour away
    far = [packet(k, ts0=50_000 + 8000 * 3600) for k in range(5, 8)]
    for i, p in enumerate(far):
        jitter.push(p, 0.2 + i * PTIME)
    assert [p.sequence for p in drain(jitter, 1.0)] == [1005, 1006, 1007]
    assert jitter.stats.resets == 1


def test_skipped_sequence_numbers_are_not_lost() -> None:
    jitter = JitterBuffer()
    audio = [(k * PTIME, packet(k)) for k in range(10) if k not in (4, 5)]
    out: list[tuple[float, RtpPacket | Missing]] = []
    for time, p in audio:
        jitter.push(p, time)
        if p.sequence == 1003:  # a telephone-event used the next two sequence numbers
            jitter.skip(RtpPacket(101, 1004, 0, 1, b""))
            jitter.skip(RtpPacket(101, 1005, 0, 1, b""))
        out += [(time, item) for item in drain(jitter, time)]
    out += [(1.0, item) for item in drain(jitter, 1.0)]
    assert sequences(out) == [1000, 1001, 1002, 1003, 1006, 1007, 1008, 1009]
    assert jitter.stats.lost == 0


def test_overflow_when_nobody_pops() -> None:
    jitter = JitterBuffer(max_packets=10)
    for k in range(25):
        jitter.push(packet(k), k * PTIME)
    assert len(jitter) == 10
    assert jitter.stats.overflow == 15
    assert [p.sequence for p in drain(jitter, 10.0)] == [1000 + k for k in range(15, 25)]


def test_follows_a_sender_clock_running_fast() -> None:
    """A sender 0.5 % fast would fill the buffer by 18 s an hour; the anchor follows."""
    jitter = JitterBuffer(depth_ms=40)
    n = 3000  # a minute
    arrivals = [(k * PTIME * 0.995, packet(k)) for k in range(n)]
    out = run(jitter, arrivals, until=n * PTIME, step=0.01)
    assert sequences(out) == [1000 + k for k in range(len(out))]
    assert len(out) >= n - 5
    assert jitter.stats.lost == 0
    assert jitter.stats.adjustments > 0
    assert len(jitter) <= 4  # the latency stayed near 40 ms


def test_follows_a_sender_clock_running_slow_and_a_delay_step() -> None:
    jitter = JitterBuffer(depth_ms=40)
    n = 3000
    arrivals = [(k * PTIME * 1.005 + (0.2 if k > 1500 else 0.0), packet(k)) for k in range(n)]
    out = run(jitter, arrivals, until=n * PTIME * 1.01 + 0.5, step=0.01)
    assert sequences(out) == [1000 + k for k in range(n)]
    assert jitter.stats.lost == 0
    assert jitter.stats.adjustments > 0


@settings(max_examples=200, deadline=None)
@given(
    count=st.integers(1, 120),
    seq0=st.integers(0, 0xFFFF),
    data=st.data(),
)
def test_never_out_of_order_never_twice(count: int, seq0: int, data: st.DataObject) -> None:
    """Whatever the network does: strictly increasing sequence, each packet at most once."""
    jitter = JitterBuffer(depth_ms=data.draw(st.sampled_from([0, 20, 40, 100]), label="depth"))
    arrivals = []
    for k in range(count):
        if data.draw(st.integers(0, 9), label="drop") == 0:
            continue
        for _ in range(data.draw(st.integers(1, 2), label="copies")):
            delay = data.draw(st.floats(0, 0.15), label="delay")
            arrivals.append((k * PTIME + delay, packet(k, seq0=seq0)))
    out = run(jitter, arrivals, until=count * PTIME + 1.0, step=0.01)
    pushed = {p.sequence for _, p in arrivals}
    played = [item.sequence for _, item in out if isinstance(item, RtpPacket)]
    assert len(played) == len(set(played))
    assert set(played) <= pushed
    extended = [(item.sequence - seq0) & 0xFFFF for _, item in out]
    assert extended == sorted(set(extended))
    assert jitter.stats.played == len(played)


@settings(max_examples=100, deadline=None)
@given(
    count=st.integers(1, 200),
    seq0=st.integers(0, 0xFFFF),
    delays=st.lists(st.floats(0, 0.035), min_size=200, max_size=200),
)
def test_jitter_within_the_depth_loses_nothing(count: int, seq0: int, delays: list[float]) -> None:
    jitter = JitterBuffer(depth_ms=40)
    # the first packet has the least delay, as the anchor assumes
    arrivals = [(k * PTIME + (delays[k] if k else 0.0), packet(k, seq0=seq0)) for k in range(count)]
    out = run(jitter, arrivals, until=count * PTIME + 0.5, step=0.005)
    assert sequences(out) == [(seq0 + k) & 0xFFFF for k in range(count)]
    assert all(isinstance(item, RtpPacket) for _, item in out)
