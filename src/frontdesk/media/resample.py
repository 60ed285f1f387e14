"""Streaming, low-delay resampling of 16-bit mono PCM between 8 kHz and 16 kHz.

Owns: `Resampler`, a stateful converter fed in arbitrary chunks (a 20 ms RTP frame, a TTS
chunk of any length, even an odd number of bytes) that keeps its filter state across
chunks, so a continuous signal stays continuous, and whose output length follows the
input length times the ratio chunk by chunk.

Must not: know about RTP, codecs or frames, read clocks, or hold more audio than its
filters need.

Choices, measured here with 20 ms chunks:

* soxr's qualities other than "QQ" process in large blocks and hold back 60 ms (LQ),
  26-115 ms (MQ), 66-114 ms (HQ) or 52-110 ms (VHQ) of audio before output appears;
  that would be added to every reply of the agent. "QQ" (cubic interpolation) holds back
  4 output samples when upsampling: 0.25 ms.
* 8 -> 16 kHz (the line to speech recognition) is `soxr.ResampleStream` at "QQ". Its
  images sit 47 dB down for 1 kHz content, 24 dB for 2 kHz and 11 dB for 3 kHz: good
  enough for a recogniser. The first output is primed with the 4 held-back samples as
  zeros, so every 20 ms in gives exactly 20 ms out. soxr dithers 16-bit output (±1 LSB
  TPDF noise, -96 dBFS), so results are reproducible to within 2 LSB, not bit for bit.
* 16 -> 8 kHz (agent speech to the line) is not soxr: "QQ" has no anti-alias filter (a
  6 kHz sibilant comes out at 2 kHz at full level) and every other soxr quality is too
  slow to answer. It is a 41-tap Kaiser-window half-band FIR evaluated only at the kept
  samples (polyphase: 21 multiplies per output sample): flat to 3.4 kHz (±0.01 dB),
  -6 dB at 4 kHz, ≤ -53 dB from 4.6 kHz, so whatever folds back lands above the
  telephone band.

Measured delay with an impulse (tests/unit/media/test_resample.py): 0.25 ms for
8 -> 16 kHz (4 samples at 16 kHz), 1.25 ms for 16 -> 8 kHz (10 samples at 8 kHz).
"""

from __future__ import annotations

import functools

import numpy as np
import numpy.typing as npt
import soxr

from frontdesk.errors import MediaError

__all__ = ["QUALITY", "Resampler"]

QUALITY = "QQ"  # the soxr quality used for upsampling (the only low-delay one)
_STOP_ATTENUATION_DB = 50.0

Int16Array = npt.NDArray[np.int16]
FloatArray = npt.NDArray[np.float64]


@functools.cache
def _half_band_taps() -> FloatArray:
    """A Kaiser-window half-band low-pass at 16 kHz: keeps 0-3.4 kHz, stops 4.6-8 kHz.

    Cut at a quarter of the sampling rate, every other tap but the centre is zero; what
    folds back around 4 kHz after decimation lands at or above 3.4 kHz.
    """
    in_rate, pass_hz, stop_hz = 16000, 3400.0, 4600.0
    width = 2 * np.pi * (stop_hz - pass_hz) / in_rate
    taps = int(np.ceil((_STOP_ATTENUATION_DB - 8) / (2.285 * width))) + 1
    taps += 1 - taps % 2  # odd, so the group delay is a whole number of samples
    taps += 2 * ((taps - 1) // 2 % 2)  # centre on an even index: the zero taps are the even ones
    beta = 0.1102 * (_STOP_ATTENUATION_DB - 8.7)
    n = np.arange(taps) - (taps - 1) // 2
    window: FloatArray = np.kaiser(taps, beta)
    h: FloatArray = 0.5 * np.sinc(0.5 * n) * window
    h[::2] = 0.0
    h[(taps - 1) // 2] = 0.5
    h[1::2] *= 0.5 / h[1::2].sum()  # unity gain at DC
    return h


@functools.cache
def _hold_back(in_rate: int, out_rate: int) -> int:
    """How many output samples soxr keeps back once streaming (measured once per pair)."""
    stream = soxr.ResampleStream(in_rate, out_rate, 1, dtype="int16", quality=QUALITY)
    chunk = np.zeros(in_rate // 50, dtype=np.int16)
    produced = sum(len(stream.resample_chunk(chunk)) for _ in range(10))
    return 10 * len(chunk) * out_rate // in_rate - produced


class Resampler:
    """Resample 16-bit little-endian mono PCM between 8 and 16 kHz, streaming.

    `process(pcm)` takes any number of bytes and returns what is ready: exactly twice or
    half as many samples as it was given (for even chunks downsampling; an odd sample
    count alternates between rounding down and up). `flush()` ends the stream, returns the
    filters' tail and leaves the resampler ready for a new stream; `reset()` drops the
    state without output (barge-in).
    """

    __slots__ = (
        "_centre",
        "_hold",
        "_odd",
        "_odd_taps",
        "_parity",
        "_primed",
        "_stream",
        "_window",
        "in_rate",
        "out_rate",
    )

    def __init__(self, in_rate: int, out_rate: int) -> None:
        if (in_rate, out_rate) not in ((8000, 16000), (16000, 8000)):
            raise MediaError(f"cannot resample {in_rate} Hz to {out_rate} Hz")
        self.in_rate = in_rate
        self.out_rate = out_rate
        self._odd = b""
        self._primed = False
        self._stream: soxr.ResampleStream | None = None
        self._hold = 0
        if out_rate > in_rate:
            self._stream = soxr.ResampleStream(in_rate, out_rate, 1, dtype="int16", quality=QUALITY)
            self._hold = _hold_back(in_rate, out_rate)
        taps = _half_band_taps()
        self._centre = (len(taps) - 1) // 2
        self._odd_taps: FloatArray = 2 * taps[1::2]  # doubled: the sum is halved at the end
        self._window: FloatArray = np.zeros(len(taps) - 1, dtype=np.float64)
        self._parity = 0  # 1 when the next input sample has an odd index (not kept)

    @property
    def delay_samples(self) -> int:
        """The delay added to the signal, in output samples."""
        if self._stream is not None:
            return self._hold
        return self._centre // 2

    def process(self, pcm: bytes) -> bytes:
        """Resample a chunk; the output continues the previous chunks' seamlessly."""
        if self._odd:
            pcm = self._odd + pcm
            self._odd = b""
        if len(pcm) % 2:
            self._odd = pcm[-1:]
            pcm = pcm[:-1]
        if not pcm:
            return b""
        x: Int16Array = np.frombuffer(pcm, dtype="<i2")
        if self._stream is None:
            return self._decimate(x).tobytes()
        # 2-D (frames, channels) skips soxr's reshaping of 1-D input: ~1 µs a call
        y: Int16Array = self._stream.resample_chunk(x.reshape(-1, 1))
        if not self._primed:
            self._primed = True
            return bytes(2 * self._hold) + y.tobytes()
        return y.tobytes()

    def flush(self) -> bytes:
        """End the stream: return the filters' tail, then start afresh."""
        tail = b""
        if self._primed:
            if self._stream is None:
                tail = self.process(bytes(2 * self._centre))
            else:
                last: Int16Array = self._stream.resample_chunk(
                    np.zeros((0, 1), dtype=np.int16), last=True
                )
                tail = last.tobytes()
        self.reset()
        return tail

    def reset(self) -> None:
        """Forget all state; the next chunk starts a new stream."""
        if self._stream is not None:
            self._stream.clear()
        self._window[:] = 0
        self._odd = b""
        self._primed = False
        self._parity = 0

    def _decimate(self, x: Int16Array) -> Int16Array:
        """Half-band low-pass, evaluated only at the even-indexed input samples.

        With the window `w` (the last taps-1 inputs) before `x`, the filtered value at
        x[j] is 0.5·e[j+c] + Σ_m h[2m+1]·e[j+2c-1-2m] over e = w + x, c the centre tap.
        For the kept j = j0, j0+2, ... the odd-tap sum is a plain convolution of the
        samples e[j0+1], e[j0+3], ... with the odd taps.
        """
        self._primed = True
        window = self._window
        span = len(window)
        e: FloatArray = np.concatenate((window, x), dtype=np.float64)
        self._window = e[len(e) - span :]
        j0 = self._parity
        kept = (len(x) - j0 + 1) // 2
        self._parity = (j0 + len(x)) % 2
        if kept <= 0:
            return np.zeros(0, dtype=np.int16)
        centre = self._centre
        # the odd taps are symmetric, so correlate (a thinner wrapper) equals convolve
        y = np.correlate(e[j0 + 1 :: 2], self._odd_taps, mode="valid")[:kept]
        np.add(y, e[j0 + centre : j0 + centre + 2 * kept : 2], out=y)
        y *= 0.5
        np.rint(y, out=y)
        np.maximum(y, -32768.0, out=y)  # np.clip costs several µs more per call
        np.minimum(y, 32767.0, out=y)
        return y.astype(np.int16)
