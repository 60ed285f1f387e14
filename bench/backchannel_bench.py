"""Talking over the agent: false interruptions on a backchannel set, and barge-in time.

    python -m bench.backchannel_bench [--quick]

A node (a real `EdgeServer` whose greeting is long, an `AgentHost` with the offline set
in its worker process) runs in this process; a Python caller (the PBX side of
`bench.agent_bench`: SIP over UDP, 20 ms PCMU packets on the wall clock) waits until the
greeting is heard, lets it play 2 s, then speaks over it once per call:
- the backchannel set: "uh-huh", "yeah", "okay", "right", "I see", "yeah, yeah" (piper)
  and three cough-like bursts (shaped noise). A false interruption = the greeting's
  transcript entry is marked interrupted (it did not play to its end);
- the interruption set: "wait, stop", "sorry, wait", "hold on, please", "no, stop".
  Missed = the greeting played to its end; barge-in = the caller's first loud packet sent
  → the last loud packet of the greeting received before 300 ms of silence.

Prints a Markdown block for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import platform
import statistics
import time

import numpy as np
from tests.support.messages import rtp_range_avoiding
from tests.support.sipp import free_sip_port
from tests.support.speech import speech_pcm

from bench.agent_bench import Sip, loud, open_sip, place_call
from frontdesk.calls.decision import Admitted, Decision, InviteFacts
from frontdesk.calls.record import CallRecord

GREETING = (
    "Thank you for calling Pizzeria Da Mario, the oldest pizzeria in Florence. "
    "Tonight we have a special menu with fresh truffles, and every pizza comes "
    "out of our wood oven in three minutes."
)
BACKCHANNELS = ["Uh-huh.", "Yeah.", "Okay.", "Right.", "I see.", "Yeah, yeah."]
INTERRUPTIONS = ["Wait, stop.", "Sorry, wait.", "Hold on, please.", "No, stop."]
RATE = 8000
PACKET_BYTES = 320  # 20 ms of 8 kHz 16-bit PCM


class LongGreeter:
    async def decide(self, facts: InviteFacts) -> Decision:
        return Admitted(greeting=GREETING)

    async def release(self, facts: InviteFacts, reason: str, record: object = None) -> None:
        return None


def cough(seed: int, seconds: float = 0.35) -> bytes:
    """A cough-like burst: broadband noise, sharp onset, fast decay, loud as speech."""
    rng = np.random.default_rng(seed)
    n = round(seconds * RATE)
    noise = np.convolve(rng.standard_normal(n), np.ones(4) / 4, mode="same")
    envelope = np.minimum(np.arange(n) / (0.015 * RATE), 1.0) * np.exp(-np.arange(n) / (0.1 * RATE))
    burst = noise / np.abs(noise).max() * envelope * 12000
    return np.asarray(burst, dtype="<i2").tobytes()


def first_loud_offset(pcm: bytes) -> float:
    for offset in range(0, len(pcm), PACKET_BYTES):
        if loud(pcm[offset : offset + PACKET_BYTES].ljust(PACKET_BYTES, b"\0")):
            return offset / 2 / RATE
    return 0.0


async def one_call(
    sip: Sip, sip_port: int, number: int, pcm: bytes, records: dict[str, CallRecord]
) -> tuple[bool, float | None]:
    """(the greeting was interrupted, seconds from onset to the agent's audio stopping)."""
    leg, call_id, bye = await place_call(sip, sip_port, number)
    sender = asyncio.create_task(leg.send())
    try:
        deadline = time.perf_counter() + 30
        while not leg.loud_rx and time.perf_counter() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.02)
        await asyncio.sleep(2.0)  # the greeting is playing
        onset = time.perf_counter() + first_loud_offset(pcm)
        leg.tape += pcm
        await leg.quiet(8.0, within_s=60)  # a pause lasts until the words are known
    finally:
        leg.sending = False
        await sender
        assert sip.transport is not None and leg.transport is not None
        sip.transport.sendto(bye, ("127.0.0.1", sip_port))
        leg.transport.close()
    for _ in range(100):
        if call_id in records:
            break
        await asyncio.sleep(0.05)
    record = records[call_id]
    agent = [line for line in record.transcript if line.role == "agent"]
    if not agent:  # the greeting never finished: still paused 8 s after the caller spoke
        return True, None
    greeting = agent[0]
    heard = [t for t in leg.loud_rx if t >= onset]
    stop = None
    previous = onset
    for t in heard:
        if t - previous >= 0.300:
            stop = previous - onset
            break
        previous = t
    return bool(greeting.interrupted), stop


async def main_async(quick: bool) -> list[str]:
    from frontdesk.agent.host import AgentHost
    from frontdesk.config import load_settings
    from frontdesk.edge.server import EdgeServer

    logging.basicConfig(level=logging.WARNING)
    # piper runs here, before the edge starts: a busy event loop makes the edge shed calls
    backchannels = [(text, speech_pcm(text, RATE)) for text in BACKCHANNELS]
    backchannels += [(f"cough {seed}", cough(seed)) for seed in (1, 2, 3)]
    interruptions = [(text, speech_pcm(text, RATE)) for text in INTERRUPTIONS]
    if quick:
        backchannels, interruptions = backchannels[:3], interruptions[:2]
    sip_port = free_sip_port()
    settings = load_settings(
        None,
        sip_host="127.0.0.1",
        sip_port=sip_port,
        pbx_addresses=["127.0.0.1"],
        public_ip="127.0.0.1",
        rtp_ports=rtp_range_avoiding(sip_port, 400),
        media_timeout=30.0,
        node_max_calls=10,
        log_level="WARNING",
        agent_workers=1,
    )
    records: dict[str, CallRecord] = {}
    host = AgentHost(settings)
    await host.start()
    edge = EdgeServer(
        settings,
        LongGreeter(),
        responder=host.run_call,
        on_record=lambda r: records.__setitem__(r.call_id, r),
    )
    await edge.start()
    sip = await open_sip()
    rows: list[str] = []
    false_interruptions = 0
    missed = 0
    stops: list[float] = []
    number = 0
    try:
        for text, pcm in backchannels:
            number += 1
            interrupted, _ = await one_call(sip, sip_port, number, pcm, records)
            false_interruptions += interrupted
            rows.append(
                f"| {text} | backchannel | {'interrupted' if interrupted else 'played on'} |"
            )
        for text, pcm in interruptions:
            number += 1
            interrupted, stop = await one_call(sip, sip_port, number, pcm, records)
            missed += not interrupted
            if interrupted and stop is not None:
                stops.append(stop)
            shown = f"stopped after {stop * 1000:.0f} ms" if stop is not None else "no stop seen"
            rows.append(f"| {text} | interruption | {shown if interrupted else 'missed'} |")
    finally:
        assert sip.transport is not None
        sip.transport.close()
        await edge.stop(grace=0.5)
        await host.stop()
    cpu = f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores"
    load = os.getloadavg()[0]
    lines = [
        f"Machine: {cpu}, load average {load:.1f} at the end; command: "
        f"`python -m bench.backchannel_bench{' --quick' if quick else ''}`; "
        f"{time.strftime('%Y-%m-%d')}.",
        "",
        f"- false interruptions on the backchannel set: {false_interruptions}/{len(backchannels)}"
        f" ({100 * false_interruptions / len(backchannels):.0f} %)",
        f"- missed interruptions: {missed}/{len(interruptions)}",
        "- barge-in (caller's first loud packet → agent audio stops): "
        + (
            f"median {statistics.median(stops) * 1000:.0f} ms, max {max(stops) * 1000:.0f} ms"
            if stops
            else "none measured"
        ),
        "",
        "| said over the greeting | kind | result |",
        "|---|---|---|",
        *rows,
    ]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 backchannels, 2 interruptions")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    print("\n".join(asyncio.run(main_async(args.quick))))


if __name__ == "__main__":
    main()
