"""The voice-activity detector: Silero over onnxruntime (livekit-plugins-silero), no torch.

Owns: loading the Silero ONNX model that the plugin ships once per process, with the
settings chosen for telephone audio:
- `sample_rate=8000`: the caller's audio is G.711, band-limited to 4 kHz, so inference at
  8 kHz loses nothing and costs half the 16 kHz work (Silero has a native 8 kHz model);
- `min_silence_duration` from settings (default 0.45 s): the silence that ends a turn,
  shorter than the plugin's 0.55 s to answer sooner, long enough for a breath mid-sentence;
- `min_speech_duration=0.1`: line clicks and G.711 noise bursts do not start a turn, and
  barge-in still fires within ~100 ms of speech onset;
- `prefix_padding_duration=0.3`: the start of a word before the detector fired is kept.
The `VAD` object is shared by every session in the process; each stream keeps its own state.

Must not: import torch (the `silero-vad` pip package would pull it), or run per frame on the
edge's event loop (it runs in the agent worker processes).
"""

from __future__ import annotations

import functools
import threading

from livekit.agents import vad
from livekit.plugins import silero

__all__ = ["load_vad"]

_lock = threading.Lock()


@functools.cache
def _load(min_silence: float) -> vad.VAD:
    return silero.VAD.load(
        min_speech_duration=0.1,
        min_silence_duration=min_silence,
        prefix_padding_duration=0.3,
        activation_threshold=0.5,
        sample_rate=8000,
        force_cpu=True,
    )


def load_vad(min_silence: float = 0.45) -> vad.VAD:
    """The process's Silero VAD for telephone audio (loaded once per setting)."""
    with _lock:
        return _load(min_silence)
