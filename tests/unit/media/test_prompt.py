"""Prompts: encoded once per (codec, ptime), played by a session as ready payloads."""

from __future__ import annotations

import math

import numpy as np

from frontdesk.media import g711
from frontdesk.media.prompt import Prompt
from frontdesk.media.rtp import RtpPacket
from frontdesk.media.session import MediaSession


def tone_16k(ms: int, freq: float = 440.0) -> bytes:
    t = np.arange(16 * ms) / 16000
    return (np.sin(2 * math.pi * freq * t) * 8000).astype("<i2").tobytes()


def test_payloads_are_cached_and_cover_the_audio() -> None:
    prompt = Prompt(tone_16k(1010))
    first = prompt.payloads("PCMU", 20)
    assert first is prompt.payloads("PCMU", 20)  # prepared once
    assert len(first) == 51  # 1010 ms in 20 ms packets, the last one padded
    assert all(len(p) == 160 for p in first)
    assert len(prompt.payloads("PCMA", 30)) == 34
    assert prompt.duration_ms == 1010


def test_session_plays_prompt_then_speech_then_silence() -> None:
    session = MediaSession(codec="PCMU", payload_type=0, telephone_event_pt=None, now=0.0)
    prompt = Prompt(tone_16k(100))
    session.play_prompt(prompt)
    session.push_audio(tone_16k(40, 1000))
    ready = prompt.payloads("PCMU", 20)
    n = len(ready)  # 100 ms plus the resampler's 1.25 ms tail: 6 packets
    assert n == 6
    assert session.pending_audio_ms == n * 20 + 40
    packets = [RtpPacket.parse(p) for k in range(1, 12) for p in session.tick(k * 0.02 - 0.019)]
    payloads = [p.payload for p in packets]
    assert payloads[:n] == list(ready)
    assert packets[0].marker
    silence = g711.silence_payload("PCMU", 160)
    assert all(p != silence for p in payloads[n : n + 2])  # the pushed speech follows
    assert payloads[n + 2 :] == [silence] * 3


def test_clear_audio_stops_a_prompt_at_once() -> None:
    session = MediaSession(codec="PCMA", payload_type=8, telephone_event_pt=None, now=0.0)
    session.play_prompt(Prompt(tone_16k(1000)))
    session.tick(0.001)
    session.clear_audio()
    assert session.pending_audio_ms == 0
    (packet,) = session.tick(0.021)
    assert RtpPacket.parse(packet).payload == g711.silence_payload("PCMA", 160)
