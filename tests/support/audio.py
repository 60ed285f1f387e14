"""Small audio measurements for tests that check what a real call carried.

Owns: reading a 16-bit PCM WAV into a numpy array (`read_wav`), the RMS energy envelope
of a signal (`rms_envelope`), and the normalised cross-correlation of two envelopes
with the lag where they match best (`best_lag`). Envelopes instead of raw samples make
the comparison robust to what a telephone path does to a waveform (G.711, resampling,
a little phase shift) while still telling speech, silence and timing apart.
Must not: decide what is good enough; tests state their own thresholds.

Conventions: samples are float64 scaled to [-1, 1); a lag is counted in envelope steps
(hops) and is positive when `signal` is late with respect to `reference`, i.e.
`signal[t + lag]` lines up with `reference[t]`.
"""

from __future__ import annotations

import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

__all__ = ["Correlation", "Pcm", "best_lag", "read_wav", "rms_envelope"]

Signal = NDArray[np.float64]

_FULL_SCALE = 32768.0


@dataclass(frozen=True)
class Pcm:
    """Mono audio: samples in [-1, 1) at `rate` Hz."""

    samples: Signal
    rate: int

    @property
    def duration_s(self) -> float:
        return len(self.samples) / self.rate

    def between(self, start_s: float, end_s: float | None = None) -> Pcm:
        """The part from `start_s` to `end_s` seconds (to the end when None)."""
        first = max(0, round(start_s * self.rate))
        last = len(self.samples) if end_s is None else max(first, round(end_s * self.rate))
        return Pcm(self.samples[first:last], self.rate)


def read_wav(path: str | Path) -> Pcm:
    """A 16-bit PCM WAV file as mono float samples (channels are averaged)."""
    with wave.open(str(path), "rb") as wav:
        if wav.getsampwidth() != 2:
            raise ValueError(f"{path}: {8 * wav.getsampwidth()}-bit samples, expected 16-bit")
        channels = wav.getnchannels()
        rate = wav.getframerate()
        frames = wav.readframes(wav.getnframes())
    samples = np.frombuffer(frames, dtype="<i2").astype(np.float64) / _FULL_SCALE
    if channels > 1:
        samples = samples[: len(samples) // channels * channels]
        samples = samples.reshape(-1, channels).mean(axis=1)
    return Pcm(samples, rate)


def rms_envelope(
    samples: Signal, rate: int, window_s: float = 0.020, hop_s: float | None = None
) -> Signal:
    """RMS of each `window_s` window, one value every `hop_s` (default: the window).

    Only whole windows count: a signal shorter than one window has an empty envelope.
    """
    window = round(window_s * rate)
    hop = window if hop_s is None else round(hop_s * rate)
    if window <= 0 or hop <= 0:
        raise ValueError("window and hop must be at least one sample long")
    if len(samples) < window:
        return np.zeros(0, dtype=np.float64)
    squares = np.concatenate(([0.0], np.cumsum(np.square(samples, dtype=np.float64))))
    starts = np.arange(0, len(samples) - window + 1, hop)
    energy = (squares[starts + window] - squares[starts]) / window
    return np.sqrt(np.maximum(energy, 0.0))


@dataclass(frozen=True)
class Correlation:
    """The best match of two envelopes: Pearson coefficient at `lag` hops."""

    lag: int
    coefficient: float
    overlap: int  # how many envelope values took part at that lag

    def lag_s(self, hop_s: float) -> float:
        return self.lag * hop_s


def _pearson(a: Signal, b: Signal) -> float:
    a = a - a.mean()
    b = b - b.mean()
    norm = float(np.sqrt(np.dot(a, a) * np.dot(b, b)))
    if norm == 0.0:
        return 0.0
    return float(np.dot(a, b)) / norm


def best_lag(
    reference: Signal,
    signal: Signal,
    *,
    min_lag: int,
    max_lag: int,
    min_overlap: float = 0.8,
) -> Correlation:
    """The lag in `min_lag..max_lag` where `signal` best matches `reference`.

    For each lag, `reference[t]` is compared with `signal[t + lag]` over the part where
    both exist, by the Pearson coefficient (mean removed, so two envelopes that are
    merely both positive do not look alike). Lags where fewer than `min_overlap` of
    the reference's values take part are not considered, so a match on a sliver at the
    edge cannot win. A constant (e.g. silent) stretch correlates 0 with anything.
    """
    if min_lag > max_lag:
        raise ValueError("min_lag must not exceed max_lag")
    if len(reference) == 0:
        raise ValueError("the reference envelope is empty")
    needed = max(2, int(np.ceil(min_overlap * len(reference))))
    best: Correlation | None = None
    for lag in range(min_lag, max_lag + 1):
        first = max(0, -lag)
        last = min(len(reference), len(signal) - lag)
        if last - first < needed:
            continue
        coefficient = _pearson(reference[first:last], signal[first + lag : last + lag])
        if best is None or coefficient > best.coefficient:
            best = Correlation(lag, coefficient, last - first)
    if best is None:
        raise ValueError(
            f"no lag in {min_lag}..{max_lag} overlaps {needed} of the reference's "
            f"{len(reference)} values (signal has {len(signal)})"
        )
    return best
