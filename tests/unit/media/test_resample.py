"""The streaming resampler: delay, continuity across chunks, length, anti-aliasing."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from frontdesk.errors import MediaError
from frontdesk.media.resample import Resampler

PAIRS = [(8000, 16000), (16000, 8000)]
# soxr dithers its 16-bit output (TPDF, ±1 LSB, its noise state survives reset), so
# upsampled results agree within this many LSB rather than bit for bit
DITHER_LSB = 2
# the delays the module docstring states, in output samples
DOCUMENTED_DELAY = {(8000, 16000): 4, (16000, 8000): 10}


def sine(freq: float, rate: int, seconds: float, amplitude: float = 10000.0) -> bytes:
    t = np.arange(int(rate * seconds)) / rate
    return np.rint(amplitude * np.sin(2 * np.pi * freq * t)).astype("<i2").tobytes()


def samples(pcm: bytes) -> npt.NDArray[np.float64]:
    return np.frombuffer(pcm, dtype="<i2").astype(np.float64)


def rms_db(x: npt.NDArray[np.float64], reference: float) -> float:
    return float(20 * np.log10(np.sqrt(np.mean(x**2)) / reference))


def chunked(resampler: Resampler, pcm: bytes, size: int) -> bytes:
    return b"".join(resampler.process(pcm[i : i + size]) for i in range(0, len(pcm), size))


@pytest.mark.parametrize(("in_rate", "out_rate"), PAIRS)
def test_impulse_delay_is_as_documented(in_rate: int, out_rate: int) -> None:
    resampler = Resampler(in_rate, out_rate)
    frame = in_rate // 50
    x = np.zeros(frame * 10, dtype="<i2")
    position = frame * 3 + 8
    x[position] = 20000
    y = samples(chunked(resampler, x.tobytes(), 2 * frame))
    measured = int(np.argmax(np.abs(y))) - position * out_rate // in_rate
    delay_ms = measured / out_rate * 1000
    print(f"{in_rate} -> {out_rate} Hz: impulse delay {measured} samples = {delay_ms} ms")
    assert measured == DOCUMENTED_DELAY[(in_rate, out_rate)] == resampler.delay_samples
    assert delay_ms <= 1.25


@pytest.mark.parametrize(("in_rate", "out_rate"), PAIRS)
def test_sine_in_20ms_chunks_equals_one_go(in_rate: int, out_rate: int) -> None:
    pcm = sine(440.0, in_rate, 2.0)
    one_go = samples(Resampler(in_rate, out_rate).process(pcm))
    in_chunks = samples(chunked(Resampler(in_rate, out_rate), pcm, 2 * in_rate // 50))
    assert len(in_chunks) == len(one_go) == len(pcm) // 2 * out_rate // in_rate
    assert np.max(np.abs(in_chunks - one_go)) <= DITHER_LSB


@pytest.mark.parametrize(("in_rate", "out_rate"), PAIRS)
def test_ragged_chunks_and_odd_bytes_equal_one_go(in_rate: int, out_rate: int) -> None:
    pcm = sine(1000.0, in_rate, 1.0)
    one_go = samples(Resampler(in_rate, out_rate).process(pcm))
    resampler = Resampler(in_rate, out_rate)
    rng = np.random.default_rng(7)
    out = []
    i = 0
    while i < len(pcm):
        size = int(rng.integers(1, 333))  # odd byte counts included
        out.append(resampler.process(pcm[i : i + size]))
        i += size
    ragged = samples(b"".join(out))
    assert len(ragged) == len(one_go)
    assert np.max(np.abs(ragged - one_go)) <= DITHER_LSB


@pytest.mark.parametrize(("in_rate", "out_rate"), PAIRS)
def test_output_tracks_input_length_chunk_by_chunk(in_rate: int, out_rate: int) -> None:
    resampler = Resampler(in_rate, out_rate)
    pcm = sine(300.0, in_rate, 1.0)
    total_in = total_out = 0
    for size in (2 * in_rate // 50, 2 * in_rate // 100 * 3):  # 20 ms, then 30 ms frames
        for i in range(0, len(pcm) - size + 1, size):
            out = resampler.process(pcm[i : i + size])
            assert len(out) == size * out_rate // in_rate  # every frame, exactly
            total_in += size
            total_out += len(out)
    assert total_out * in_rate == total_in * out_rate


@pytest.mark.parametrize(("in_rate", "out_rate"), PAIRS)
def test_continuous_sine_has_no_clicks(in_rate: int, out_rate: int) -> None:
    """Chunk boundaries leave no step: the output is the ideal sine, delayed."""
    pcm = sine(440.0, in_rate, 1.0)
    resampler = Resampler(in_rate, out_rate)
    y = samples(chunked(resampler, pcm, 2 * in_rate // 50))
    delay = resampler.delay_samples
    t = (np.arange(len(y)) - delay) / out_rate
    ideal = 10000 * np.sin(2 * np.pi * 440.0 * t)
    settled = slice(out_rate // 50, None)  # after the first 20 ms
    assert np.max(np.abs(y[settled] - ideal[settled])) < 10000 * 0.02


def test_downsampling_removes_what_would_alias() -> None:
    resampler = Resampler(16000, 8000)
    for freq in (4600.0, 5000.0, 6000.0, 7000.0):
        y = samples(resampler.process(sine(freq, 16000, 0.5)))
        level = rms_db(y[200:], 10000 / np.sqrt(2))
        assert level < -45, (freq, level)
        resampler.reset()
    for freq in (300.0, 1000.0, 3400.0):
        y = samples(resampler.process(sine(freq, 16000, 0.5)))
        level = rms_db(y[200:], 10000 / np.sqrt(2))
        assert abs(level) < 0.1, (freq, level)
        resampler.reset()


def test_upsampling_keeps_the_band() -> None:
    resampler = Resampler(8000, 16000)
    y = samples(resampler.process(sine(1000.0, 8000, 0.5)))
    assert abs(rms_db(y[400:], 10000 / np.sqrt(2))) < 0.2


@pytest.mark.parametrize(("in_rate", "out_rate"), PAIRS)
def test_flush_returns_the_tail_and_restarts(in_rate: int, out_rate: int) -> None:
    resampler = Resampler(in_rate, out_rate)
    pcm = sine(500.0, in_rate, 0.1)
    first = resampler.process(pcm) + resampler.flush()
    assert len(first) // 2 == len(pcm) // 2 * out_rate // in_rate + resampler.delay_samples
    again = resampler.process(pcm) + resampler.flush()
    assert np.max(np.abs(samples(again) - samples(first))) <= DITHER_LSB
    assert resampler.flush() == b""


@pytest.mark.parametrize(("in_rate", "out_rate"), PAIRS)
def test_reset_forgets_state(in_rate: int, out_rate: int) -> None:
    resampler = Resampler(in_rate, out_rate)
    pcm = sine(500.0, in_rate, 0.1)
    fresh = resampler.process(pcm)
    resampler.process(sine(3000.0, in_rate, 0.05) + b"\x01")  # and an odd byte left over
    resampler.reset()
    assert np.max(np.abs(samples(resampler.process(pcm)) - samples(fresh))) <= DITHER_LSB


def test_clipping_saturates_instead_of_wrapping() -> None:
    resampler = Resampler(16000, 8000)
    square = np.tile(np.array([32767] * 8 + [-32768] * 8, dtype="<i2"), 200)
    y = samples(resampler.process(square.tobytes()))
    assert y.max() <= 32767 and y.min() >= -32768
    assert y.max() > 30000  # the overshoot is clipped, not wrapped to negative


def test_empty_and_unsupported() -> None:
    assert Resampler(8000, 16000).process(b"") == b""
    assert Resampler(16000, 8000).process(b"\x01") == b""
    for rates in ((8000, 8000), (16000, 48000), (44100, 16000)):
        with pytest.raises(MediaError):
            Resampler(*rates)
