"""The media engine of one call, sans-IO: RTP in and out, G.711/G.722, resampling, DTMF, timing.

Owns: for one call, everything between the datagrams of the RTP socket and 16 kHz PCM for
the agent. G.711 is 8 kHz audio, resampled to and from the agent's 16 kHz; G.722 is 16 kHz
audio, handed over as it is (no resampler at all), with RTP timestamps at 8000 Hz for both
(RFC 3551 §4.5.2). Inbound, `receive()` parses datagrams, hands telephone-events to the
`DtmfReceiver` and audio to the `JitterBuffer`, and `pull_audio()` plays the buffer out as
16 kHz frames. Outbound, `push_audio()` queues the agent's 16 kHz speech and `tick()`
returns the RTP packets due by an absolute schedule, speech or encoded silence, so the peer
always gets a continuous stream. Counters for the metrics and the RTP watchdog.

Must not: open sockets, read clocks (every method that cares about time takes `now`,
monotonic seconds), run timers, or decide anything about the call (hang-up on RTP timeout
belongs to `calls/`, which reads `last_rx_time`). Stray datagrams from other sources are
the edge's to filter (symmetric RTP latching); whatever reaches `receive()` is this call's.

Receiving: `pull_audio(now)` returns the frames the jitter buffer releases by `now`, one
per packet of the sender (its ptime, normally ours); a lost packet comes out as a frame
of silence in its place. Sequence numbers used by telephone-events or other payload
types are passed over without frames and without counting loss, so while a key is held
the agent gets no frames rather than invented silence.

Sending schedule: packet k is due at start + k·ptime, computed from k, never by adding
ptime to the previous send time, so the stream cannot drift however the caller's timer
jitters. A caller late by more than `max_catch_up` packets does not get a burst: the
overdue packets are skipped (the RTP timestamp still advances by their duration, queued
speech is kept for later, the next packet carries the marker bit) and `late_skips`
counts it.
"""

from __future__ import annotations

import math

from frontdesk.errors import MediaError, RtpParseError
from frontdesk.media import g711
from frontdesk.media.dtmf import DtmfDigit, DtmfReceiver
from frontdesk.media.g722 import G722Codec
from frontdesk.media.jitter import JitterBuffer, JitterStats, Missing
from frontdesk.media.prompt import Prompt
from frontdesk.media.resample import Resampler
from frontdesk.media.rtcp import parse_compound
from frontdesk.media.rtp import RtpPacket, RtpSequencer, is_rtcp

__all__ = ["AGENT_RATE", "MediaSession"]

AGENT_RATE = 16000  # the agent side speaks and listens at 16 kHz s16le mono
_EPSILON_S = 1e-6  # a tick this close before a deadline counts as on time
_COMPACT_AT = 1 << 16  # bytes consumed before the send queue is compacted
_RESAMPLE_BATCH = AGENT_RATE  # at most 0.5 s of 16 kHz s16le resampled at once


class MediaSession:
    """One call's media; see the module docstring. All methods are O(1) per packet."""

    __slots__ = (
        "_codec",
        "_dtmf",
        "_frame_bytes",
        "_g722",
        "_jitter",
        "_last_rx_time",
        "_marker_pending",
        "_max_catch_up",
        "_next_k",
        "_payload_type",
        "_pcm_rate",
        "_prompt",
        "_prompt_pos",
        "_ptime",
        "_rx_resampler",
        "_samples",
        "_sequencer",
        "_silence",
        "_silence_pcm",
        "_start",
        "_talking",
        "_telephone_event_pt",
        "_tx_input",
        "_tx_pos",
        "_tx_queue",
        "_tx_resampler",
        "late_skips",
        "malformed",
        "other_payload",
        "remote_bye",
        "rtcp_packets",
        "rx_bytes",
        "rx_packets",
        "skipped_packets",
        "tx_bytes",
        "tx_packets",
    )

    def __init__(
        self,
        *,
        codec: str,
        payload_type: int,
        telephone_event_pt: int | None,
        ptime_ms: int = 20,
        now: float,
        jitter_depth_ms: float = 40.0,
        ssrc: int | None = None,
        max_catch_up: int = 3,
        dtmf_timeout_s: float = 0.3,
    ) -> None:
        if ptime_ms not in (10, 20, 30, 40):
            raise MediaError(f"unsupported ptime {ptime_ms} ms")
        # G.722 carries the agent's own rate and keeps ADPCM state per call; G.711 is 8 kHz
        self._g722 = G722Codec() if codec.upper() == "G722" else None
        # the G.711 law (a placeholder for G.722 calls, whose payloads never come from it)
        self._codec: g711.Codec = "PCMU" if self._g722 is not None else g711.parse_codec(codec)
        self._pcm_rate = AGENT_RATE if self._g722 is not None else g711.CLOCK_RATE
        self._payload_type = payload_type
        self._telephone_event_pt = telephone_event_pt
        self._ptime = ptime_ms / 1000
        self._samples = g711.CLOCK_RATE * ptime_ms // 1000  # RTP timestamp units (8 kHz)
        self._frame_bytes = 2 * self._pcm_rate * ptime_ms // 1000  # one ptime of s16le PCM
        self._silence = g711.silence_payload(self._codec, self._samples)
        self._silence_pcm = bytes(self._frame_bytes)
        self._max_catch_up = max_catch_up
        self._start = now
        self._next_k = 0
        self._sequencer = RtpSequencer(payload_type, ssrc=ssrc)
        # resamplers are made on first use: a call that only hears a prompt needs neither
        self._tx_resampler: Resampler | None = None
        self._tx_input = bytearray()  # agent speech at 16 kHz, not resampled yet
        self._tx_queue = bytearray()  # at 8 kHz, s16le, sent from _tx_pos on
        self._tx_pos = 0
        self._talking = False
        self._marker_pending = True
        self._rx_resampler: Resampler | None = None
        self._prompt: tuple[bytes, ...] = ()  # ready payloads, played before queued speech
        self._prompt_pos = 0
        self._jitter = JitterBuffer(
            clock_rate=g711.CLOCK_RATE, ptime_ms=ptime_ms, depth_ms=jitter_depth_ms
        )
        self._dtmf = (
            DtmfReceiver(clock_rate=g711.CLOCK_RATE, timeout_s=dtmf_timeout_s)
            if telephone_event_pt is not None
            else None
        )
        self._last_rx_time = now
        self.rx_packets = 0  # valid RTP packets received, any payload type
        self.rx_bytes = 0  # their datagram sizes, headers included
        self.tx_packets = 0
        self.tx_bytes = 0
        self.malformed = 0  # datagrams that were neither valid RTP nor valid RTCP
        self.rtcp_packets = 0  # valid RTCP datagrams (compound counts once)
        self.other_payload = 0  # RTP of a payload type we did not negotiate (CN, ...)
        self.late_skips = 0  # times tick() was so late that it skipped ahead
        self.skipped_packets = 0  # packet slots skipped by those
        self.remote_bye = False  # the peer sent an RTCP BYE

    # -- inbound -----------------------------------------------------------------------

    @property
    def last_rx_time(self) -> float:
        """When the last valid RTP packet arrived (the start time until one has)."""
        return self._last_rx_time

    @property
    def lost(self) -> int:
        """Inbound packets declared lost by the jitter buffer."""
        return self._jitter.stats.lost

    @property
    def jitter_stats(self) -> JitterStats:
        return self._jitter.stats

    def receive(self, data: bytes, now: float) -> list[DtmfDigit]:
        """Take one datagram from the RTP socket; return DTMF digits it completed."""
        if is_rtcp(data):
            try:
                packets = parse_compound(data)
            except RtpParseError:
                self.malformed += 1
                return []
            self.rtcp_packets += 1
            if any(p.is_bye for p in packets):
                self.remote_bye = True
            return []
        try:
            packet = RtpPacket.parse(data)
        except RtpParseError:
            self.malformed += 1
            return []
        self.rx_packets += 1
        self.rx_bytes += len(data)
        self._last_rx_time = now
        pt = packet.payload_type
        dtmf = self._dtmf
        if pt == self._payload_type:
            self._jitter.push(packet, now)
            return [] if dtmf is None else dtmf.expire(now)
        self._jitter.skip(packet)  # its sequence number is not an audio loss
        if pt == self._telephone_event_pt and dtmf is not None:
            try:
                return dtmf.receive(packet, now)
            except RtpParseError:
                self.malformed += 1
                return []
        self.other_payload += 1
        return []

    def expire_dtmf(self, now: float) -> list[DtmfDigit]:
        """Digits whose end packets were all lost and that have gone quiet since."""
        return [] if self._dtmf is None else self._dtmf.expire(now)

    def pull_audio(self, now: float) -> list[bytes]:
        """Inbound audio due by `now`: one 16 kHz s16le frame per packet, in order.

        A frame is as long as the sender's packet (normally ptime). A lost packet comes
        out as a frame of silence, so the timeline has no hole.
        """
        frames: list[bytes] = []
        pop = self._jitter.pop
        codec = self._codec
        if self._g722 is not None:  # 16 kHz on the wire: no resampling
            decode = self._g722.decode
            while (item := pop(now)) is not None:
                if isinstance(item, Missing):
                    frames.append(bytes(4 * item.samples))  # 2 samples per RTP tick
                else:
                    frames.append(decode(item.payload))
            return frames
        if self._rx_resampler is None:
            if not len(self._jitter):
                return frames
            self._rx_resampler = Resampler(g711.CLOCK_RATE, AGENT_RATE)
        process = self._rx_resampler.process
        while (item := pop(now)) is not None:
            if isinstance(item, Missing):
                pcm = bytes(2 * item.samples)
            else:
                pcm = g711.decode(codec, item.payload)
            frames.append(process(pcm))
        return frames

    # -- outbound ----------------------------------------------------------------------

    def push_audio(self, pcm16k: bytes) -> None:
        """Queue agent speech: 16 kHz s16le mono, any length (even an odd byte count).

        It is resampled when `tick` needs it, in batches: a TTS that runs ahead of real
        time costs one resampler call per batch, not one per 20 ms.
        """
        self._tx_input += pcm16k

    def play_prompt(self, prompt: Prompt) -> None:
        """Queue a prepared prompt; it plays before any speech queued with push_audio."""
        ptime_ms = round(self._ptime * 1000)
        if self._g722 is not None:  # PCM frames: our encoder encodes them as they go
            payloads = prompt.pcm_frames(ptime_ms)
        else:
            payloads = prompt.payloads(self._codec, ptime_ms)
        if self._prompt_pos < len(self._prompt):
            self._prompt = self._prompt[self._prompt_pos :] + payloads
        else:
            self._prompt = payloads
        self._prompt_pos = 0

    def clear_audio(self) -> None:
        """Drop all queued speech at once (barge-in); the next packet is silence."""
        self._prompt = ()
        self._prompt_pos = 0
        self._tx_input.clear()
        self._tx_queue.clear()
        self._tx_pos = 0
        if self._tx_resampler is not None:
            self._tx_resampler.reset()

    @property
    def pending_audio_ms(self) -> float:
        """Queued speech not yet sent, in milliseconds."""
        queued = len(self._tx_queue) - self._tx_pos
        prompt_ms = (len(self._prompt) - self._prompt_pos) * self._ptime * 1000
        return (
            prompt_ms
            + queued / (2 * self._pcm_rate / 1000)
            + len(self._tx_input) / (2 * AGENT_RATE / 1000)
        )

    @property
    def ssrc(self) -> int:
        return self._sequencer.ssrc

    def next_deadline(self) -> float:
        """When the next packet is due to be sent."""
        return self._start + self._next_k * self._ptime

    def tick(self, now: float) -> list[bytes]:
        """The RTP packets due to be sent by `now` (usually one, none if called early)."""
        due = math.floor((now - self._start + _EPSILON_S) / self._ptime) + 1
        behind = due - self._next_k
        if behind <= 0:
            return []
        if behind - 1 > self._max_catch_up:
            skipped = behind - 1
            self._sequencer.skip(skipped * self._samples)
            self._next_k += skipped
            self._marker_pending = True
            self.late_skips += 1
            self.skipped_packets += skipped
            behind = 1
        packets = [self._next_packet() for _ in range(behind)]
        self._next_k += behind
        return packets

    def _refill(self) -> None:
        """Resample the next batch of agent speech onto the 8 kHz send queue."""
        pending = self._tx_input
        if self._g722 is not None:  # already at the wire's rate; keep an odd byte back
            whole = len(pending) & ~1
            self._tx_queue += pending[:whole]
            del pending[:whole]
            return
        if self._tx_resampler is None:
            self._tx_resampler = Resampler(AGENT_RATE, g711.CLOCK_RATE)
        if len(pending) <= _RESAMPLE_BATCH:
            self._tx_queue += self._tx_resampler.process(bytes(pending))
            pending.clear()
        else:
            self._tx_queue += self._tx_resampler.process(bytes(pending[:_RESAMPLE_BATCH]))
            del pending[:_RESAMPLE_BATCH]

    def _next_packet(self) -> bytes:
        if self._prompt_pos < len(self._prompt):
            payload = self._prompt[self._prompt_pos]
            self._prompt_pos += 1
            if self._g722 is not None:
                payload = self._g722.encode(payload)
            marker = self._marker_pending or not self._talking
            self._talking = True
            self._marker_pending = False
            return self._packet(payload, marker)
        queue = self._tx_queue
        if len(queue) - self._tx_pos < self._frame_bytes and self._tx_input:
            self._refill()
        pos = self._tx_pos
        available = len(queue) - pos
        marker = self._marker_pending
        if available > 0:
            size = self._frame_bytes
            if available >= size:
                pcm = bytes(queue[pos : pos + size])
                pos += size
            else:  # the tail of what was queued: pad it to a whole frame
                pcm = bytes(queue[pos:]) + bytes(size - available)
                pos += available
            g722 = self._g722
            payload = g711.encode(self._codec, pcm) if g722 is None else g722.encode(pcm)
            marker = marker or not self._talking
            self._talking = True
            if pos == len(queue):
                queue.clear()
                pos = 0
            elif pos >= _COMPACT_AT:
                del queue[:pos]
                pos = 0
            self._tx_pos = pos
        else:
            payload = self._silence if self._g722 is None else self._g722.encode(self._silence_pcm)
            self._talking = False
        self._marker_pending = False
        return self._packet(payload, marker)

    def _packet(self, payload: bytes, marker: bool) -> bytes:
        packet = self._sequencer.next_packet(payload, self._samples, marker=marker)
        self.tx_packets += 1
        self.tx_bytes += len(packet)
        return packet
