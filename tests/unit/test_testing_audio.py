"""The audio measurement helpers of `tests.support.audio`, on synthetic signals."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import pytest
from tests.support.audio import Pcm, best_lag, read_wav, rms_envelope

RATE = 8000


def tone(seconds: float, freq: float = 440.0, amplitude: float = 0.5) -> np.ndarray:
    t = np.arange(round(seconds * RATE)) / RATE
    return amplitude * np.sin(2 * np.pi * freq * t)


def bursts(pattern: str, unit_s: float = 0.1) -> np.ndarray:
    """A test 'utterance': '#' is a tone burst of `unit_s`, '.' the same length of silence."""
    parts = [tone(unit_s) if c == "#" else np.zeros(round(unit_s * RATE)) for c in pattern]
    return np.concatenate(parts)


def write_wav(path: Path, samples: np.ndarray, rate: int = RATE, channels: int = 1) -> None:
    data = np.clip(np.round(samples * 32768), -32768, 32767).astype("<i2")
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(channels)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(data.tobytes())


def test_read_wav_round_trip_and_scaling(tmp_path: Path) -> None:
    samples = tone(0.5)
    write_wav(tmp_path / "a.wav", samples)
    pcm = read_wav(tmp_path / "a.wav")
    assert pcm.rate == RATE
    assert pcm.duration_s == pytest.approx(0.5)
    assert np.max(np.abs(pcm.samples - samples)) < 1 / 32768 + 1e-12


def test_read_wav_averages_channels(tmp_path: Path) -> None:
    left = np.full(800, 0.5)
    right = np.full(800, -0.25)
    interleaved = np.stack([left, right], axis=1).reshape(-1)
    write_wav(tmp_path / "s.wav", interleaved, channels=2)
    pcm = read_wav(tmp_path / "s.wav")
    assert len(pcm.samples) == 800
    assert np.allclose(pcm.samples, 0.125, atol=1e-4)


def test_read_wav_refuses_8_bit(tmp_path: Path) -> None:
    with wave.open(str(tmp_path / "u8.wav"), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(1)
        wav.setframerate(RATE)
        wav.writeframes(bytes(100))
    with pytest.raises(ValueError, match="16-bit"):
        read_wav(tmp_path / "u8.wav")


def test_between_cuts_by_seconds() -> None:
    pcm = Pcm(np.arange(RATE * 2, dtype=np.float64), RATE)
    part = pcm.between(0.5, 1.0)
    assert len(part.samples) == RATE // 2 and part.samples[0] == RATE // 2
    assert len(pcm.between(1.5).samples) == RATE // 2


def test_rms_envelope_of_sine_and_silence() -> None:
    signal = np.concatenate([tone(0.2, 400.0, 0.5), np.zeros(round(0.2 * RATE))])  # 8 periods
    env = rms_envelope(signal, RATE)
    assert len(env) == 20
    assert np.allclose(env[:10], 0.5 / np.sqrt(2), rtol=1e-3)
    assert np.allclose(env[10:], 0.0)


def test_rms_envelope_with_hop_and_short_input() -> None:
    env = rms_envelope(tone(1.0), RATE, window_s=0.02, hop_s=0.005)
    assert len(env) == (RATE - 160) // 40 + 1
    assert len(rms_envelope(np.zeros(100), RATE)) == 0
    with pytest.raises(ValueError):
        rms_envelope(np.zeros(100), RATE, window_s=0.0)


def test_best_lag_finds_a_known_delay() -> None:
    reference = bursts("##.#..###.#.##...#")
    delay = round(0.140 * RATE)  # 140 ms
    signal = np.concatenate([np.zeros(delay), reference, np.zeros(RATE)])
    signal = signal + np.random.default_rng(1).normal(0, 0.01, len(signal))
    hop = 0.005
    found = best_lag(
        rms_envelope(reference, RATE, hop_s=hop),
        rms_envelope(signal, RATE, hop_s=hop),
        min_lag=-20,
        max_lag=100,
    )
    assert found.lag_s(hop) == pytest.approx(0.140, abs=0.006)
    assert found.coefficient > 0.95


def test_best_lag_negative_lag_when_signal_is_early() -> None:
    reference = np.concatenate([np.zeros(RATE // 2), bursts("#.##.#")])
    signal = np.concatenate([bursts("#.##.#"), np.zeros(RATE)])
    found = best_lag(
        rms_envelope(reference, RATE),
        rms_envelope(signal, RATE),
        min_lag=-40,
        max_lag=40,
        min_overlap=0.5,  # only the burst part of the reference overlaps at -25
    )
    assert found.lag == -25  # 0.5 s early at 20 ms per step
    assert found.coefficient > 0.99


def test_unrelated_signals_correlate_poorly() -> None:
    reference = rms_envelope(bursts("#.#.#.#.#.#.#.#.#.#."), RATE)
    other = rms_envelope(bursts("#####.....#####....."), RATE)
    assert best_lag(reference, other, min_lag=0, max_lag=0).coefficient < 0.3
    silence = np.zeros(len(reference))
    assert best_lag(reference, silence, min_lag=-5, max_lag=5).coefficient == 0.0


def test_best_lag_needs_overlap() -> None:
    reference = rms_envelope(bursts("#.#.#.#.#."), RATE)
    with pytest.raises(ValueError, match="overlaps"):
        best_lag(reference, reference[:10], min_lag=0, max_lag=5)
    with pytest.raises(ValueError):
        best_lag(reference, reference, min_lag=3, max_lag=2)
    with pytest.raises(ValueError, match="empty"):
        best_lag(reference[:0], reference, min_lag=0, max_lag=1)
