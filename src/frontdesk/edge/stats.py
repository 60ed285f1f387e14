"""`EdgeStats`: the edge's own counters, read by the metrics collector at scrape time.

Owns: the counter fields only. The transport, call setup, media clock and teardown each
add to them; nothing here decides anything.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class EdgeStats:
    stranger_sip: int = 0
    stranger_rtp: int = 0
    internal_errors: int = 0
    answered: int = 0
    rejected: int = 0
    cancelled: int = 0
    media_timeouts: int = 0
    rtp_rejected: int = 0  # RTP from sources the call's latch refused (not its PBX peer)
    rtp_latched: int = 0  # calls whose SDP address was not the PBX's: RTP sent to its source
