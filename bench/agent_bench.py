"""The voice agent on the wire: voice-to-voice latency, and RTP jitter while agents run.

    python -m bench.agent_bench [--quick]

A node (a real `EdgeServer` with a greeting, and an `AgentHost` with its worker
processes) runs in a child process (`--serve`), so its CPU and its event loop are its
own. This process is the PBX: a small Python caller that speaks SIP over UDP and sends
20 ms PCMU packets on the wall clock (piper speech, then silence), and timestamps the
RTP it receives.

1. Voice-to-voice latency: end of caller speech (the last loud packet sent) → the first
   loud packet of the agent's reply received, per turn, for the fake providers of fixed
   latency (`tests.support.agent_fakes:fixed_latency_providers`: STT 150 ms, LLM
   first token 250 ms, TTS first audio 100 ms) and for the offline set (the default
   factory: whisper tiny.en, knowledge-base responder, piper). With the fakes, our own
   overhead = latency − STT pause − 500 ms: the numbers' default turn detection is the
   model, whose turn-end wait (`agent_turn_model_silence`, 0.3 s) overlaps the reply's
   preemptive generation, which starts when the caller's words are transcribed, after
   the STT's pause (`agent_stt_pause`, 0.2 s) and the 150 ms fake STT. (Before
   2026-12-03 this subtracted the VAD mode's 0.45 s, which the bench's calls do not use:
   the overhead it printed, ~55 ms, was ~150 ms too low.)
2. Concurrent calls with the fakes (10, 25, 50): every call talks (a sentence, the agent's
   reply, again); the edge's RTP send-interval jitter |Δt − 20 ms| from a tcpdump capture
   of loopback (µs kernel stamps, so this process's own scheduling does not enter), and
   CPU of the edge process vs its agent workers.
3. Offline calls asking at once (`--at-once` runs only this; `--quick` skips it): one node
   with the offline set and the default worker count (one per core), N concurrent calls
   for N = 1 and N = the node's advertised offline capacity on this machine
   (`default_node_capacity`), and 2, 3, capacity / 2, capacity − 2, capacity − 1 between
   (`--sizes` to choose).
   Every caller hears the greeting; then, for each of 3 rounds, all callers start the same
   question at the same instant, and each reply's voice-to-voice latency (as in 1.) is
   held against 1.5 s. The largest N whose every reply started within it is the capacity
   the figure allows.

Prints a Markdown block for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tests.support.messages import invite, request, rtp_range_avoiding, sdp_offer
from tests.support.pcap import read_udp
from tests.support.sipp import free_port, free_sip_port, percentile
from tests.support.speech import speech_pcm

from bench.wire import capture
from frontdesk.agent.capacity import default_node_capacity
from frontdesk.calls.decision import Admitted, Decision, InviteFacts
from frontdesk.media import g711
from frontdesk.media.rtp import RtpPacket

FAKES = "tests.support.agent_fakes:fixed_latency_providers"
OFFLINE = "frontdesk.agent.call_providers:providers_for_call"
GREETING = "Thanks for calling, how can I help?"
SENTENCE = "I would like to know when you are open."
PROVIDER_S = 0.150 + 0.250 + 0.100  # the fakes' fixed latencies
PACKET = 160  # samples of 8 kHz per 20 ms
LOUD_RMS = 100.0  # piper's and our silence are far below; speech and the fake tone far above
# one per round of the at-once figure, every caller asking the round's question: questions
# the responder answers (no ticket: the bench's node has no database to file one in)
QUESTIONS = (
    SENTENCE,
    "Where is your office, and is there parking nearby?",
    "Do you take credit cards, or only cash?",
)
AT_ONCE_TARGET_S = 1.5


# ---------------------------------------------------------------------- the node (child)
class Greeter:
    """Answers every call with a greeting (no tenancy: the bench measures the agent)."""

    async def decide(self, facts: InviteFacts) -> Decision:
        return Admitted(greeting=GREETING)

    async def release(self, facts: InviteFacts, reason: str, record: object = None) -> None:
        return None


async def serve(factory: str, workers: int) -> None:
    from frontdesk.agent.host import AgentHost
    from frontdesk.config import load_settings
    from frontdesk.edge.server import EdgeServer

    logging.basicConfig(level=logging.WARNING)
    sip_port = free_sip_port()
    settings = load_settings(
        None,
        sip_host="127.0.0.1",
        sip_port=sip_port,
        pbx_addresses=["127.0.0.1"],
        public_ip="127.0.0.1",
        rtp_ports=rtp_range_avoiding(sip_port, 400),
        media_timeout=30.0,
        node_max_calls=200,
        log_level="WARNING",
        agent_workers=workers,
        agent_provider_factory=factory,
    )
    host = AgentHost(settings)
    await host.start()
    edge = EdgeServer(settings, Greeter(), responder=host.run_call)
    await edge.start()
    low, high = settings.rtp_port_range
    facts = {
        "sip_port": sip_port,
        "rtp": [low, high],
        "workers": [w.pid for w in host.workers],
        # the edge's media workers (none in a checkout from before they existed)
        "media": [w.pid for w in getattr(getattr(edge, "media", None), "workers", [])],
        "stt_pause": settings.agent_stt_pause,
    }
    print(json.dumps(facts), flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)  # until EOF
    await edge.stop(grace=0.2)
    await host.stop()


@contextlib.contextmanager
def node(factory: str, workers: int) -> Iterator[dict[str, object]]:
    argv = [sys.executable, "-m", "bench.agent_bench", "--serve", factory]
    argv += ["--workers", str(workers)]
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdin is not None
    try:
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError("the node did not start")
        facts: dict[str, object] = json.loads(line)
        facts["pid"] = proc.pid
        yield facts
    finally:
        proc.stdin.close()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# ---------------------------------------------------------------------- the caller (PBX)
def loud(pcm: bytes) -> bool:
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
    return bool(samples.size) and float(np.sqrt(np.mean(samples**2))) > LOUD_RMS


def header(message: bytes, name: bytes) -> bytes:
    for line in message.split(b"\r\n\r\n", 1)[0].split(b"\r\n")[1:]:
        key, _, value = line.partition(b":")
        if key.strip().lower() == name:
            return value.strip()
    return b""


class Sip(asyncio.DatagramProtocol):
    """The PBX's SIP socket: responses by Call-ID; requests from the node answered 200."""

    def __init__(self) -> None:
        self.transport: asyncio.DatagramTransport | None = None
        self.waiting: dict[str, asyncio.Queue[bytes]] = {}

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if data.startswith(b"SIP/2.0"):
            queue = self.waiting.get(header(data, b"call-id").decode())
            if queue is not None:
                queue.put_nowait(data)
            return
        if self.transport is not None and data[:3] != b"ACK":  # a BYE: 200 OK
            lines = [b"SIP/2.0 200 OK"]
            for name in (b"via", b"from", b"to", b"call-id", b"cseq"):
                lines.append(name + b": " + header(data, name))
            self.transport.sendto(b"\r\n".join([*lines, b"Content-Length: 0", b"", b""]), addr)


@dataclass(eq=False)
class Leg(asyncio.DatagramProtocol):
    """One call's RTP: sends the tape (or silence) every 20 ms, stamps what arrives."""

    transport: asyncio.DatagramTransport | None = None
    remote: tuple[str, int] = ("127.0.0.1", 0)
    tape: bytearray = field(default_factory=bytearray)
    loud_rx: list[float] = field(default_factory=list)
    last_loud_tx: float = 0.0
    sending: bool = True

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        at = time.perf_counter()
        packet = RtpPacket.parse(data)
        if packet.payload_type == 0 and loud(g711.decode("PCMU", packet.payload)):
            self.loud_rx.append(at)

    async def send(self) -> None:
        ssrc = random.getrandbits(32)
        silence = bytes(2 * PACKET)
        next_at = time.perf_counter()
        for seq in range(1 << 30):
            if not self.sending:
                return
            pcm = bytes(self.tape[: 2 * PACKET]) or silence
            del self.tape[: 2 * PACKET]
            pcm += bytes(2 * PACKET - len(pcm))
            now = time.perf_counter()
            if loud(pcm):
                self.last_loud_tx = now
            packet = RtpPacket(0, seq & 0xFFFF, (seq * PACKET) & 0xFFFFFFFF, ssrc)
            payload = g711.encode("PCMU", pcm)
            assert self.transport is not None
            self.transport.sendto(bytes(packet) + payload, self.remote)
            next_at += 0.020
            await asyncio.sleep(max(0.0, next_at - time.perf_counter()))

    async def quiet(self, seconds: float, within_s: float) -> bool:
        """Wait until the agent has spoken and then been silent for `seconds`."""
        deadline = time.perf_counter() + within_s
        while time.perf_counter() < deadline:
            if self.loud_rx and time.perf_counter() - self.loud_rx[-1] >= seconds:
                return True
            await asyncio.sleep(0.05)
        return False

    async def turn(self, speech: bytes, within_s: float = 10.0) -> float | None:
        """Speak; seconds from the last loud packet sent to the reply's first loud one."""
        self.tape += speech
        while self.tape:  # noqa: ASYNC110 (the sender drains it on the wall clock)
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.04)
        end = self.last_loud_tx
        deadline = end + within_s
        while time.perf_counter() < deadline:
            reply = [t for t in self.loud_rx if t > end]
            if reply:
                return reply[0] - end
            await asyncio.sleep(0.02)
        return None


async def place_call(sip: Sip, sip_port: int, number: int) -> tuple[Leg, str, bytes]:
    loop = asyncio.get_running_loop()
    rtp_port = free_port()
    rtp_port -= rtp_port % 2
    transport, leg = await loop.create_datagram_endpoint(Leg, local_addr=("127.0.0.1", rtp_port))
    leg.transport = transport
    assert sip.transport is not None
    own_port = sip.transport.get_extra_info("sockname")[1]
    call_id = f"bench-{number}-{random.getrandbits(48):x}"
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    sip.waiting[call_id] = queue
    target = ("127.0.0.1", sip_port)
    common = {"call_id": call_id, "port": own_port, "user": "1000", "from_tag": f"t{number}"}
    sip.transport.sendto(
        invite(branch=f"z9hG4bK-{call_id}", body=sdp_offer(port=rtp_port), **common), target
    )
    async with asyncio.timeout(10):
        while not (answer := await queue.get()).startswith(b"SIP/2.0 200"):
            if not answer.startswith(b"SIP/2.0 1"):
                raise RuntimeError(answer.split(b"\r\n", 1)[0].decode())
    to_tag = header(answer, b"to").split(b"tag=")[1].split(b";")[0].decode()
    body = answer.split(b"\r\n\r\n", 1)[1].decode()
    media = next(line for line in body.split("\r\n") if line.startswith("m=audio"))
    leg.remote = ("127.0.0.1", int(media.split()[1]))
    ack = request("ACK", branch=f"z9hG4bK-ack-{call_id}", to_tag=to_tag, **common)
    sip.transport.sendto(ack, target)
    bye = request("BYE", branch=f"z9hG4bK-bye-{call_id}", to_tag=to_tag, cseq=2, **common)
    return leg, call_id, bye


async def converse(sip: Sip, sip_port: int, number: int, turns: int, speech: bytes) -> list[float]:
    """One call: hear the greeting, then `turns` times speak and wait for the reply."""
    leg, _, bye = await place_call(sip, sip_port, number)
    sender = asyncio.create_task(leg.send())
    latencies: list[float] = []
    try:
        if await leg.quiet(0.7, within_s=30):  # the greeting has played
            for _ in range(turns):
                latency = await leg.turn(speech)
                if latency is None:
                    break
                latencies.append(latency)
                await leg.quiet(0.8, within_s=30)  # the reply has played
    finally:
        await hang_up(sip, sip_port, leg, sender, bye)
    return latencies


async def hang_up(
    sip: Sip, sip_port: int, leg: Leg, sender: asyncio.Task[None], bye: bytes
) -> None:
    leg.sending = False
    await sender
    assert sip.transport is not None and leg.transport is not None
    sip.transport.sendto(bye, ("127.0.0.1", sip_port))
    leg.transport.close()


async def open_sip() -> Sip:
    transport, sip = await asyncio.get_running_loop().create_datagram_endpoint(
        Sip, local_addr=("127.0.0.1", free_port())
    )
    sip.transport = transport
    return sip


# ---------------------------------------------------------------------- figures
def ms(values: list[float]) -> str:
    ordered = sorted(v * 1000 for v in values)
    if not ordered:
        return "no replies"
    return (
        f"median {statistics.median(ordered):.0f} ms, p90 {percentile(ordered, 90):.0f} ms "
        f"(min {ordered[0]:.0f}, max {ordered[-1]:.0f}; {len(ordered)} turns)"
    )


async def latency(factory: str, calls: int, turns: int) -> tuple[list[float], dict[str, object]]:
    speech = speech_pcm(SENTENCE, 8000)
    with node(factory, workers=1) as facts:
        sip = await open_sip()
        sip_port = int(str(facts["sip_port"]))
        results: list[float] = []
        for number in range(calls):
            results += await converse(sip, sip_port, number, turns, speech)
        assert sip.transport is not None
        sip.transport.close()
    return results, facts


def cpu_of(pids: list[int]) -> float:
    """CPU seconds (user + system) the processes have used so far."""
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / os.sysconf("SC_CLK_TCK")


async def concurrent(calls: int, window_s: float, work: Path) -> list[str]:
    speech = speech_pcm(SENTENCE, 8000)
    with node(FAKES, workers=2) as facts:
        sip = await open_sip()
        sip_port = int(str(facts["sip_port"]))
        low, high = (int(p) for p in facts["rtp"])  # type: ignore[attr-defined]
        edge_pid = int(str(facts["pid"]))
        workers = [int(p) for p in facts["workers"]]  # type: ignore[attr-defined]
        media = [int(p) for p in facts.get("media", [])]  # type: ignore[attr-defined]
        turns = 3  # enough to keep every call talking through the window
        tasks = []
        for number in range(calls):
            tasks.append(asyncio.create_task(converse(sip, sip_port, number, turns, speech)))
            await asyncio.sleep(0.05)  # 20 calls/s
        await asyncio.sleep(3.0)  # greetings heard, conversations under way
        pcap = work / f"rtp_{calls}.pcap"
        edge0, workers0, t0 = cpu_of([edge_pid]), cpu_of(workers), time.perf_counter()
        media0 = cpu_of(media)
        with capture(f"udp and src portrange {low}-{high}", pcap):
            await asyncio.sleep(window_s)
        elapsed = time.perf_counter() - t0
        edge_cpu = (cpu_of([edge_pid]) - edge0) / elapsed * 100
        worker_cpu = (cpu_of(workers) - workers0) / elapsed * 100
        media_cpu = (cpu_of(media) - media0) / elapsed * 100
        results = await asyncio.gather(*tasks)
        assert sip.transport is not None
        sip.transport.close()
    last: dict[int, float] = {}
    jitter: list[float] = []
    for datagram in read_udp(pcap):
        port = datagram.src[1]
        if port % 2 or len(datagram.payload) < 12 or datagram.payload[1] & 0x7F != 0:
            continue  # RTCP (odd ports) and anything not PCMU
        if port in last:
            jitter.append(abs((datagram.time - last[port]) * 1000 - 20.0))
        last[port] = datagram.time
    jitter.sort()
    replies = [latency for call in results for latency in call]
    return [
        f"| {calls} concurrent calls, fake providers, every call talking | "
        f"RTP send jitter p50 {percentile(jitter, 50):.2f} ms, "
        f"p99 {percentile(jitter, 99):.2f} ms, "
        f"max {jitter[-1] if jitter else 0:.1f} ms ({len(jitter)} intervals, {len(last)} streams, "
        f"{window_s:.0f} s); CPU: edge {edge_cpu:.0f}% of a core, {len(media)} media "
        f"worker(s) {media_cpu:.0f}%, {len(workers)} agent workers "
        f"{worker_cpu:.0f}%; voice-to-voice {ms(replies)} | p99 ≤ 5 ms |"
    ]


async def asking_at_once(
    sip: Sip, sip_port: int, calls: int, first: int, questions: list[bytes]
) -> list[float | None]:
    """`calls` calls; after every greeting, all ask each question at the same instant.

    Returns one latency per call and round (None: no reply within 15 s)."""
    placed = await asyncio.gather(*(place_call(sip, sip_port, first + i) for i in range(calls)))
    legs = [leg for leg, _, _ in placed]
    senders = [asyncio.create_task(leg.send()) for leg in legs]
    latencies: list[float | None] = []
    try:
        greeted = await asyncio.gather(*(leg.quiet(0.7, within_s=60) for leg in legs))
        if not all(greeted):
            raise RuntimeError(f"{greeted.count(False)} of {calls} calls heard no greeting")
        for question in questions:
            # the same tape given to every sender at once: each starts it on its next
            # 20 ms tick, so the questions start (and end) within 20 ms of each other
            latencies += await asyncio.gather(*(leg.turn(question, 15.0) for leg in legs))
            # every reply played out (a pause inside a reply on a busy node is < 1.2 s)
            await asyncio.gather(*(leg.quiet(1.2, within_s=60) for leg in legs))
    finally:
        for leg, (_, _, bye), sender in zip(legs, placed, senders, strict=True):
            await hang_up(sip, sip_port, leg, sender, bye)
    return latencies


async def at_once(sizes: list[int], capacity: int) -> list[str]:
    """The offline node, default worker count, N calls asking at once for each N."""
    questions = [speech_pcm(text, 8000) for text in QUESTIONS]
    rows: list[str] = []
    allowed, failed = 0, False  # the largest N with this N and every smaller one all within
    with node(OFFLINE, workers=0) as facts:  # 0: the node's default, one per core
        sip = await open_sip()
        sip_port = int(str(facts["sip_port"]))
        workers = [int(p) for p in facts["workers"]]  # type: ignore[attr-defined]
        pids = [int(str(facts["pid"])), *workers, *[int(p) for p in facts.get("media", [])]]  # type: ignore[attr-defined]
        first = 0
        for calls in sorted(sizes):
            load = os.getloadavg()[0]
            cpu0, t0 = cpu_of(pids), time.perf_counter()
            results = await asking_at_once(sip, sip_port, calls, first, questions)
            cpu = (cpu_of(pids) - cpu0) / (time.perf_counter() - t0) * 100
            first += calls
            replies = [v for v in results if v is not None]
            within = sum(v <= AT_ONCE_TARGET_S for v in replies)
            failed = failed or within < len(results)
            allowed = allowed if failed else calls
            missed = len(results) - len(replies)
            rounds = [  # the median of each round (question), all its calls
                statistics.median(
                    [v for v in results[r * calls : (r + 1) * calls] if v is not None] or [0.0]
                )
                for r in range(len(questions))
            ]
            rows.append(
                f"| {calls} offline call{'s' if calls > 1 else ''} asking at once "
                f"({len(pids) - 1} workers; advertised capacity {capacity}) | {ms(replies)}; "
                f"**{within}/{len(results)} within {AT_ONCE_TARGET_S} s**"
                + (f", {missed} unanswered" if missed else "")
                + f"; per round median {' / '.join(f'{v * 1000:.0f}' for v in rounds)} ms"
                + f"; node + workers CPU {cpu:.0f}% of a core; load avg {load:.2f} | "
                f"every reply ≤ {AT_ONCE_TARGET_S * 1000:.0f} ms |"
            )
            await asyncio.sleep(2.0)  # the calls torn down before the next size
        assert sip.transport is not None
        sip.transport.close()
    rows.append(
        f"| offline capacity the {AT_ONCE_TARGET_S} s figure allows (N measured: "
        f"{', '.join(map(str, sorted(sizes)))}) | {allowed} (advertised: {capacity}) "
        f"| ≥ {capacity} |"
    )
    return rows


def at_once_sizes(capacity: int) -> list[int]:
    """1, 2, 3, around the capacity (one above it: what it is chosen against), and the
    issue's six."""
    return sorted(n for n in {1, 2, 3, capacity - 1, capacity, capacity + 1, 6} if n >= 1)


async def main_async(quick: bool, only_at_once: bool, sizes: list[int] | None) -> list[str]:
    capacity = default_node_capacity([], os.cpu_count() or 1)  # no sets: the offline one
    if only_at_once:
        return await at_once(sizes or at_once_sizes(capacity), capacity)
    rows: list[str] = []
    fake, facts = await latency(FAKES, calls=1 if quick else 2, turns=3)
    pause = float(str(facts["stt_pause"]))
    floor = pause + PROVIDER_S
    over = [v - floor for v in fake]
    rows.append(
        f"| voice-to-voice, fake providers (STT 150, LLM 250, TTS 100 ms) | {ms(fake)} | ≤ 600 ms |"
    )
    rows.append(
        f"| our overhead = latency − STT pause ({pause * 1000:.0f} ms) − 500 ms | "
        f"{ms(over)} | ≤ 50 ms |"
    )
    offline, _ = await latency(OFFLINE, calls=1, turns=2 if quick else 3)
    rows.append(f"| voice-to-voice, offline set (whisper, KB responder, piper) | {ms(offline)} | |")
    with tempfile.TemporaryDirectory(prefix="fd-agent-bench-") as tmp:
        for calls in (10,) if quick else (10, 25, 50):
            rows += await concurrent(calls, 8.0 if quick else 12.0, Path(tmp))
    if not quick:
        rows += await at_once(sizes or at_once_sizes(capacity), capacity)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer turns and calls")
    parser.add_argument(
        "--at-once", action="store_true", help="only the offline calls asking at once"
    )
    parser.add_argument(
        "--sizes",
        type=int,
        nargs="+",
        metavar="N",
        help="call counts of the at-once figure (default: 1, 2, 3, cap/2, cap-2..cap)",
    )
    parser.add_argument("--serve", metavar="FACTORY", help=argparse.SUPPRESS)
    parser.add_argument("--workers", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        import uvloop

        uvloop.run(serve(args.serve, args.workers))
        return
    started = time.strftime("%Y-%m-%d %H:%M")
    load = os.getloadavg()
    rows = asyncio.run(main_async(args.quick, args.at_once, args.sizes))
    after = os.getloadavg()
    print(
        f"\n### Voice agent — {started}, {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} cores, Python {platform.python_version()}"
    )
    flags = " --quick" * args.quick + " --at-once" * args.at_once
    flags += f" --sizes {' '.join(map(str, args.sizes))}" if args.sizes else ""
    print(f"Command: `python -m bench.agent_bench{flags}`")
    print(
        f"Load average (1, 5, 15 min): before {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}, "
        f"after {after[0]:.2f} {after[1]:.2f} {after[2]:.2f}\n"
    )
    print("| figure | measured | target |")
    print("|---|---|---|")
    for row in rows:
        print(row)


if __name__ == "__main__":
    main()
