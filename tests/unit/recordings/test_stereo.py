"""StereoAligner: two channels that arrive on their own end up side by side on one clock."""

from __future__ import annotations

import numpy as np

from frontdesk.recordings.stereo import AGENT, CALLER, StereoAligner

RATE = 16000
FRAME = 320  # 20 ms


def tone(value: int, samples: int = FRAME) -> bytes:
    return np.full(samples, value, dtype="<i2").tobytes()


def test_both_channels_in_step_come_out_as_stereo_frames() -> None:
    aligner = StereoAligner(RATE, start=0.0)
    for k in range(1, 11):
        now = k * 0.02
        aligner.feed(AGENT, now, tone(100))
        aligner.feed(CALLER, now, tone(-7))
    frames = aligner.take()
    assert frames.shape == (10 * FRAME, 2)
    assert (frames[:, CALLER] == -7).all() and (frames[:, AGENT] == 100).all()


def test_a_late_starting_channel_is_padded_to_where_the_clock_says() -> None:
    aligner = StereoAligner(RATE, start=0.0)
    for k in range(1, 51):  # one second of the agent
        aligner.feed(AGENT, k * 0.02, tone(100))
    for k in range(26, 51):  # the caller's RTP starts half a second in
        aligner.feed(CALLER, k * 0.02, tone(-7))
    frames = aligner.take(final=True)
    assert frames.shape == (RATE, 2)
    caller = frames[:, CALLER]
    assert (caller[: RATE // 2] == 0).all() and (caller[RATE // 2 :] == -7).all()
    assert aligner.padded_samples[CALLER] == RATE // 2


def test_a_silent_channel_does_not_hold_the_other_back_beyond_the_slack() -> None:
    aligner = StereoAligner(RATE, start=0.0, slack_s=0.1)
    for k in range(1, 101):  # two seconds of agent, no caller at all (on hold)
        aligner.feed(AGENT, k * 0.02, tone(100))
    frames = aligner.take()
    assert len(frames) >= round(1.9 * RATE)  # all but the slack is written already
    assert (frames[:, CALLER] == 0).all()


def test_a_gap_within_the_slack_is_not_padded() -> None:
    aligner = StereoAligner(RATE, start=0.0, slack_s=0.1)
    # the jitter buffer releases frames 40 ms late: that is no gap, nothing inserted
    for k in range(1, 11):
        aligner.feed(CALLER, k * 0.02 + 0.04, tone(5))
    assert aligner.padded_samples == [0, 0]
