"""Media for calls: RTP/RTCP, G.711, G.722, resampling, jitter buffering, DTMF, the call's engine.

Everything here is sans-IO: bytes and `now` (monotonic seconds) go in, bytes, frames and
events come out. No sockets, no clocks, no asyncio; the edge drives it. One module per
protocol layer:

    rtp        RtpPacket (RFC 3550 §5.1), is_rtcp (RFC 5761), RtpSequencer
    rtcp       compound RTCP reading, SR/RR/BYE building (RFC 3550 §6)
    g711       PCMU/PCMA <-> 16-bit PCM
    g722       G.722 (HD voice, 16 kHz) <-> 16-bit PCM, per-call ADPCM state
    resample   streaming low-delay 8 kHz <-> 16 kHz
    jitter     JitterBuffer: order, timing, loss
    dtmf       RFC 4733 telephone-events: payload, receiver, sender payloads
    session    MediaSession: one call's media engine

Imports only the standard library, numpy, soxr, G722 (the codec's C extension) and
`frontdesk.errors`.
"""
