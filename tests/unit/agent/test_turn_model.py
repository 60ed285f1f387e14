"""The SmartTurn end-of-turn model and its stream, on real piper speech (no fakes)."""

from __future__ import annotations

import asyncio
import hashlib

import numpy as np
import pytest
from livekit import rtc
from tests.support.speech import speech_pcm

from frontdesk.agent.providers.turn_model import (
    MODEL_SHA256,
    SmartTurnDetector,
    load_smart_turn,
    smart_turn_path,
    words_continue,
)
from frontdesk.agent.session import session_options, turn_vad
from frontdesk.config import load_settings
from frontdesk.tenancy.config import TenantConfig

RATE = 8000


def frames(pcm: bytes, rate: int = RATE) -> list[rtc.AudioFrame]:
    step = 2 * rate // 50  # 20 ms
    return [
        rtc.AudioFrame(pcm[i : i + step], rate, 1, len(pcm[i : i + step]) // 2)
        for i in range(0, len(pcm) - step + 1, step)
    ]


def test_the_weights_come_from_the_installed_wheel_with_the_checked_hash() -> None:
    path = smart_turn_path()
    assert "pipecat" in str(path)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == MODEL_SHA256


def test_features_equal_the_reference_implementation_shipped_with_the_model() -> None:
    from pipecat.audio.turn.smart_turn._whisper_features import (  # type: ignore[import-untyped]
        compute_whisper_log_mel_features,
    )

    audio = np.frombuffer(speech_pcm("Can I book a table for four?", 16000), dtype="<i2")
    audio = audio.astype(np.float32) / 32768.0
    reference = compute_whisper_log_mel_features(
        np.pad(audio, (128000 - audio.size, 0)), do_normalize=True
    )
    ours = load_smart_turn().features(audio)
    assert ours.shape == reference.shape == (80, 800)
    assert float(np.abs(ours - reference).max()) < 1e-4


def test_a_finished_question_scores_complete() -> None:
    pcm = speech_pcm("Can you tell me what time you open on Sunday?", RATE) + bytes(2 * 1600)
    probability = load_smart_turn().probability(np.frombuffer(pcm, dtype="<i2"), RATE)
    assert probability > 0.5


@pytest.mark.parametrize(
    ("words", "goes_on"),
    [
        ("I'd like to book a table for", True),
        ("I would like to order.", True),
        ("We want to speak", True),
        ("Could you ask the doctor to?", True),
        ("My name is Anna and", True),
        ("Well, um,", True),
        ("I'd like to book a table for four people.", False),
        ("What time do you open?", False),
        ("Two margherita pizzas for delivery, please.", False),
        ("", False),
    ],
)
def test_words_that_cannot_end_a_sentence(words: str, goes_on: bool) -> None:
    assert words_continue(words) is goes_on


async def test_the_stream_judges_the_audio_and_the_words_before_the_pause() -> None:
    detector = SmartTurnDetector()
    stream = detector.stream()
    pcm = speech_pcm("Can you tell me what time you open on Sunday?", RATE) + bytes(2 * 1600)
    for frame in frames(pcm):
        stream.push_audio(frame)
    prediction = stream.predict()
    detector.on_transcript("Can you tell me what time you open on Sunday?", is_final=True)
    complete = await asyncio.wait_for(prediction, stream.prediction_timeout)
    assert complete.end_of_turn_probability > 0.5
    assert await stream.unlikely_threshold(None) == 0.5

    # the same audio, but the words heard so far go on: incomplete
    prediction = stream.predict()
    detector.on_transcript("and I'd like to book a table for", is_final=True)
    incomplete = await asyncio.wait_for(prediction, stream.prediction_timeout)
    assert incomplete.end_of_turn_probability < 0.5

    # a committed turn starts afresh: no audio, no words → no opinion (complete)
    stream.flush("turn committed")
    assert stream.transcript == ""
    empty = await asyncio.wait_for(stream.predict(), 1.0)
    assert empty.end_of_turn_probability == 1.0
    await stream.aclose()


async def test_new_speech_supersedes_a_prediction_in_flight() -> None:
    stream = SmartTurnDetector().stream()
    for frame in frames(speech_pcm("I would like to", RATE)):
        stream.push_audio(frame)
    prediction = stream.predict()
    stream.cancel_inference()  # what the framework does when the caller speaks again
    superseded = await asyncio.wait_for(prediction, 1.0)
    assert superseded.end_of_turn_probability == 0.0
    await stream.aclose()


def test_the_window_keeps_the_last_eight_seconds() -> None:
    stream = SmartTurnDetector().stream()
    for frame in frames(bytes(2 * RATE * 12)):
        stream.push_audio(frame)
    assert 8 * RATE <= stream._samples < 8 * RATE + RATE // 50


def test_the_number_chooses_model_or_vad_turn_taking() -> None:
    settings = load_settings(None)
    model = session_options(TenantConfig(), settings)["turn_handling"]
    assert isinstance(model["turn_detection"], SmartTurnDetector)
    assert model["endpointing"]["max_delay"] == settings.agent_turn_max_silence
    vad = session_options(TenantConfig(turn_detection="vad"), settings)["turn_handling"]
    assert vad["turn_detection"] == "vad"
    assert vad["endpointing"]["min_delay"] == settings.agent_endpointing_delay
    chosen = object()
    assert turn_vad(TenantConfig(turn_detection="vad"), settings, chosen) is chosen  # type: ignore[arg-type]
    assert turn_vad(TenantConfig(), settings, chosen) is not chosen  # type: ignore[arg-type]
