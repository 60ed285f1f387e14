"""Talking over the agent: which words are no interruption, and pausing the edge's audio.

`is_backchannel` is pure; `PipeAudioOutput`'s pause and resume are driven with a clock the
test moves, and what it sends to the edge is recorded message by message.
"""

from __future__ import annotations

import asyncio

import pytest
from livekit import rtc

from frontdesk.agent.backchannel import Transcribing, is_backchannel
from frontdesk.agent.ipc import Kind
from frontdesk.agent.worker_io import SAMPLE_RATE, PipeAudioOutput


@pytest.mark.parametrize(
    "text",
    ["Mm-hmm.", "mhm", "Uh-huh", "Yeah.", "okay, okay", "Yeah yeah.", "I see.", "", " ",
     "[coughs]", "(sighs)", "*cough*", "...", "Right.", "Sì, sì.", "Va bene.",
     "Up.", "Pizza."],  # a lone word that stops no one: most often a misheard "yeah"
)  # fmt: skip
def test_acknowledgements_and_sounds_are_backchannels(text: str) -> None:
    assert is_backchannel(text)


@pytest.mark.parametrize(
    "text",
    ["Wait, stop.", "Stop.", "No.", "Okay, but what time?", "Yes please, two pizzas.",
     "Sorry, can I ask something?", "wait", "Hello?", "Aspetta.", "Scusi, una domanda.",
     "Two pizzas."],
)  # fmt: skip
def test_anything_else_interrupts(text: str) -> None:
    assert not is_backchannel(text)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def frame(seconds: float, value: int) -> rtc.AudioFrame:
    samples = round(seconds * SAMPLE_RATE)
    return rtc.AudioFrame(
        value.to_bytes(2, "little", signed=True) * samples, SAMPLE_RATE, 1, samples
    )


async def test_pause_drops_the_edge_queue_and_resume_sends_only_what_was_not_heard() -> None:
    sent: list[tuple[Kind, bytes]] = []
    clock = Clock()
    output = PipeAudioOutput(lambda kind, data: sent.append((kind, data)), clock=clock)
    finished: list[tuple[float, bool]] = []
    output.on(
        "playback_finished",
        lambda ev: finished.append((round(ev.playback_position, 3), ev.interrupted)),
    )
    await output.capture_frame(frame(1.0, 1))  # one second, then two more
    await output.capture_frame(frame(2.0, 2))
    output.flush()
    assert [kind for kind, _ in sent] == [Kind.AUDIO_OUT, Kind.AUDIO_OUT]
    sent.clear()

    clock.now += 1.5  # the caller heard 1.5 s, then spoke over it
    output.pause()
    assert output.paused and sent == [(Kind.CLEAR, b"")]
    await output.capture_frame(frame(0.5, 3))  # a late frame waits too
    assert len(sent) == 1
    sent.clear()

    clock.now += 2.0  # "mm-hmm" and the resume timeout later
    output.resume()
    assert not output.paused
    again = b"".join(data for kind, data in sent if kind is Kind.AUDIO_OUT)
    # the unheard 1.5 s of the second frame, then the late frame: nothing heard twice
    expected = (2).to_bytes(2, "little", signed=True) * round(1.5 * SAMPLE_RATE)
    assert again[: len(expected)] == expected
    assert len(again) == 2 * round(2.0 * SAMPLE_RATE)
    assert output.playing_until == pytest.approx(clock.now + 2.0)
    assert finished == []


async def test_an_interruption_while_paused_reports_what_was_heard_and_unpauses() -> None:
    sent: list[tuple[Kind, bytes]] = []
    clock = Clock()
    output = PipeAudioOutput(lambda kind, data: sent.append((kind, data)), clock=clock)
    finished: list[tuple[float, bool]] = []
    output.on(
        "playback_finished",
        lambda ev: finished.append((round(ev.playback_position, 3), ev.interrupted)),
    )
    await output.capture_frame(frame(3.0, 1))
    output.flush()
    clock.now += 0.8
    output.pause()
    clock.now += 1.0  # "wait, stop": the words arrive, the framework interrupts
    output.clear_buffer()
    assert finished == [(0.8, True)]  # heard up to the pause, not up to now
    assert not output.paused
    sent.clear()
    await output.capture_frame(frame(0.2, 5))  # the next reply plays at once
    assert [kind for kind, _ in sent] == [Kind.AUDIO_OUT]


async def test_a_resume_waits_for_the_words_and_real_words_cancel_it() -> None:
    sent: list[tuple[Kind, bytes]] = []
    clock = Clock()
    transcribing = Transcribing()
    output = PipeAudioOutput(
        lambda kind, data: sent.append((kind, data)), clock=clock, transcribing=transcribing
    )
    await output.capture_frame(frame(3.0, 1))
    output.flush()
    transcribing.started()  # the caller speaks over the agent
    clock.now += 0.5
    output.pause()
    sent.clear()
    output.resume()  # the framework's timer: the words are not known yet
    assert output.paused and sent == []
    transcribing.finished()  # an "uh-huh", dropped: play on
    assert not output.paused and sum(len(d) for _, d in sent) == 2 * round(2.5 * SAMPLE_RATE)

    transcribing.started()
    output.pause()
    output.resume()
    sent.clear()
    output.pause()  # "wait, stop": the words arrive and the session pauses again...
    output.clear_buffer()  # ...then interrupts
    transcribing.finished()
    assert [kind for kind, _ in sent] == [Kind.CLEAR]  # no audio came back


async def test_a_resume_is_held_no_longer_than_its_limit() -> None:
    sent: list[tuple[Kind, bytes]] = []
    transcribing = Transcribing()
    output = PipeAudioOutput(
        lambda kind, data: sent.append((kind, data)), transcribing=transcribing, max_hold_s=0.05
    )
    await output.capture_frame(frame(1.0, 1))
    output.flush()
    transcribing.started()  # whisper found no words in a cough: no transcript comes
    output.pause()
    output.resume()
    assert output.paused
    await asyncio.sleep(0.1)
    assert not output.paused
    output.close()
