"""The SIP edge under load, next to Kamailio's stateless 486 in the same run.

    python -m bench.edge_bench [--quick] [--sizes 100,250,500] [--g722 100,250,500]
                               [--concurrent-only] [--media-workers N]

The edge runs in this process (uvloop, logging at WARNING), its calls' RTP in its media
worker processes (`--media-workers`, default: the node's default); sipp runs as its own
process and drives it over loopback. Figures:

1. Kamailio stateless 486 (native C reference): calls/s.
2. frontdesk 486 refusals/s (a decider that refuses every call, as admission will).
3. Answered calls/s (INVITE → 100 → 200 → ACK → BYE → 200, no RTP) at a target rate,
   with the failed-call count.
   Past the ceiling (1,500/s offered) the figure shows overload behaviour: the node sheds
   new calls with 503 (sipp counts those as failed calls).
4. INVITE → 200 latency p50/p99 at 200 calls/s, from tcpdump timestamps on `lo`
   (sipp's own response-time clock moves in ~4 ms steps here).
5. Concurrent calls with RTP both ways, at each of `--sizes` (sipp replays 20 ms PCMU;
   the edge sends greeting + echo + silence): packets lost, our send-interval jitter p99
   from a capture of a sample of streams, memory per live call (RSS of the edge and its
   media workers), CPU of the edge and of its media workers.
5b. INVITE → 200 latency at 200 calls/s while 250 calls carry RTP both ways (a second
   sipp starts the new calls once the 250 are up; tcpdump on the SIP port).
6. With `--g722 N,...`: the same with every call in G.722 (sipp offers `9 0 8` and
   replays 20 ms G.722; our encoder and decoder run per packet, ~27 µs each way).
`--concurrent-only` skips 1-4.

Prints a Markdown block for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import platform
import resource
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import uvloop
from tests.support.messages import rtp_range_avoiding
from tests.support.sipp import (
    SippResult,
    free_sip_port,
    percentile,
    run_sipp,
    write_rtp_pcap,
)

from bench import kamailio_ref
from bench.wire import capture, invite_to_answer_ms, send_intervals_ms
from frontdesk.calls.decision import AcceptAll, Decision, InviteFacts, RefusalReason, Refused
from frontdesk.config import Settings, load_settings
from frontdesk.edge.server import EdgeServer
from frontdesk.media.g722 import G722_PT, G722Codec

ROOT = Path(__file__).resolve().parents[1]
SIPP = ROOT / "tests" / "data" / "sipp"


class RejectAll:
    """Refuses every call as the number limit would."""

    async def decide(self, facts: InviteFacts) -> Decision:
        return Refused(RefusalReason.LIMIT_NUMBER)

    async def release(self, facts: InviteFacts, reason: str, record: object = None) -> None:
        return None


@dataclass
class Figure:
    name: str
    value: str
    target: str
    command: str


def rss_kib(pid: int | str = "self") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU of a live process, from /proc/PID/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def worker_pids(edge: EdgeServer) -> list[int]:
    """The edge's media worker processes (none for an edge from before they existed, so
    this bench also runs against an older checkout: an A/B in the same session)."""
    media = getattr(edge, "media", None)
    return [] if media is None else [w.pid for w in media.workers if w.alive]


def edge_rss_kib(edge: EdgeServer) -> int:
    """The edge's memory: this process and its media workers."""
    return rss_kib() + sum(rss_kib(pid) for pid in worker_pids(edge))


def bench_settings(**overrides: object) -> Settings:
    """A node on loopback with free ports, room for 2,000 calls, quiet logs."""
    sip_port = free_sip_port()
    values: dict[str, object] = {
        "sip_host": "127.0.0.1",
        "sip_port": sip_port,
        "pbx_addresses": ["127.0.0.1"],
        "public_ip": "127.0.0.1",
        "rtp_ports": rtp_range_avoiding(sip_port, 4000),
        "node_max_calls": 2000,
        "log_level": "WARNING",
    }
    values.update(overrides)
    return load_settings(None, **values)


async def start_edge(decider: object, **overrides: object) -> EdgeServer:
    edge = EdgeServer(bench_settings(**overrides), decider)  # type: ignore[arg-type]
    await edge.start()
    return edge


def target_of(edge: EdgeServer) -> str:
    assert edge.sip_address is not None
    return f"127.0.0.1:{edge.sip_address[1]}"


async def sipp(scenario: str | Path, target: str, **kwargs: object) -> SippResult:
    return await asyncio.to_thread(run_sipp, scenario, target, **kwargs)  # type: ignore[arg-type]


def rate_and_outcome(result: SippResult) -> str:
    ok, failed = result.successful_calls, result.failed_calls
    return f"{result.calls_per_second:,.0f}/s ({ok} ok, {failed} failed"


def command(result: SippResult) -> str:
    return " ".join(result.command)


async def bench_refusals(calls: int, rate: int) -> Figure:
    edge = await start_edge(RejectAll())
    try:
        result = await sipp(
            SIPP / "uac_busy.xml",
            target_of(edge),
            calls=calls,
            rate=rate,
            service="1000",
            timeout_s=120,
            extra_args=["-buff_size", "4194304"],
        )
    finally:
        await edge.stop(grace=0)
    return Figure(
        "frontdesk 486 refusals/s",
        rate_and_outcome(result) + ")",
        "≥ 2,000/s",
        command(result),
    )


async def bench_answered(calls: int, rate: int) -> Figure:
    edge = await start_edge(AcceptAll())
    cpu0 = cpu_seconds()
    try:
        result = await sipp(
            SIPP / "uac_rate.xml",
            target_of(edge),
            calls=calls,
            rate=rate,
            service="1000",
            timeout_s=180,
            extra_args=["-buff_size", "4194304"],
        )
    finally:
        await edge.stop(grace=0)
    cpu = cpu_seconds() - cpu0
    return Figure(
        f"answered calls/s (offered {rate}/s)",
        rate_and_outcome(result) + "; "
        f"edge CPU {cpu / max(result.elapsed_s, 0.001) * 100:.0f}% of a core)",
        "≥ 1,000/s, 0 failed",
        command(result),
    )


async def bench_latency(
    calls: int,
    rate: int,
    work: Path,
    decider: object | None = None,
    number: str = "1000",
    name: str = "INVITE→200 latency",
) -> Figure:
    edge = await start_edge(decider or AcceptAll())
    pcap = work / "latency.pcap"
    assert edge.sip_address is not None
    try:
        with capture(f"udp port {edge.sip_address[1]}", pcap):
            result = await sipp(
                SIPP / "uac_rate.xml",
                target_of(edge),
                calls=calls,
                rate=rate,
                service=number,
                timeout_s=120,
            )
    finally:
        await edge.stop(grace=0)
    samples = sorted(invite_to_answer_ms(pcap))
    return Figure(
        f"{name} at {rate} calls/s",
        f"p50 {percentile(samples, 50):.2f} ms, p99 {percentile(samples, 99):.2f} ms, "
        f"max {samples[-1]:.2f} ms "
        f"({len(samples)} calls, {result.failed_calls} failed)",
        "p50 ≤ 2 ms, p99 ≤ 10 ms",
        command(result),
    )


def make_speech(raw: Path, seconds: int) -> None:
    """`seconds` of spoken digits as raw 8 kHz mu-law (espeak-ng, sox)."""
    wav = raw.with_suffix(".wav")
    text = "One two three four five six seven eight nine ten. " * 2
    subprocess.run(["espeak-ng", "-w", str(wav), text], check=True)
    sox = ["sox", str(wav), "-t", "raw", "-e", "mu-law", "-r", "8000", "-c", "1", str(raw)]
    subprocess.run([*sox, "pad", "0", str(seconds), "trim", "0", str(seconds)], check=True)


def g722_speech(raw_ulaw: Path) -> bytes:
    """The same speech as G.722 payload bytes (decoded mu-law, upsampled by sox, encoded)."""
    pcm16k = raw_ulaw.with_suffix(".s16")
    subprocess.run(
        ["sox", "-t", "raw", "-e", "mu-law", "-r", "8000", "-c", "1", str(raw_ulaw),
         "-t", "raw", "-e", "signed-integer", "-b", "16", "-r", "16000", "-L", str(pcm16k)],
        check=True,
    )  # fmt: skip
    pcm = pcm16k.read_bytes()
    encoder = G722Codec()
    return b"".join(encoder.encode(pcm[i : i + 640]) for i in range(0, len(pcm) - 639, 640))


async def bench_concurrent(
    concurrent: int, work: Path, codec: str = "PCMU", setup_rate: int = 0
) -> list[Figure]:
    """`concurrent` calls with RTP both ways; with `setup_rate`, INVITE→200 meanwhile."""
    audio_s = 10 if not setup_rate else 20  # the calls keep talking through the setups
    raw = work / f"speech-{audio_s}.ulaw"
    make_speech(raw, audio_s)
    pcap_in = work / f"speech-{codec}-{audio_s}.pcap"
    if codec == "G722":
        scenario = SIPP / "uac_pcap_g722_20.xml"
        packets = write_rtp_pcap(pcap_in, g722_speech(raw), payload_type=G722_PT, ptime_ms=20)
    else:
        scenario = SIPP / "uac_pcap_pcmu_20.xml"
        packets = write_rtp_pcap(pcap_in, raw.read_bytes(), payload_type=0, ptime_ms=20)
    edge = await start_edge(AcceptAll(), media_timeout=30.0, **MEDIA_OVERRIDES)
    low, _ = edge.settings.rtp_port_range
    sample = range(low, low + 40)  # our first 20 calls' RTP (and RTCP) ports
    workers = worker_pids(edge)
    rss0 = edge_rss_kib(edge)
    peak = {"rss": rss0, "calls": 0}
    cpu0 = cpu_seconds()
    worker_cpu0 = sum(process_cpu_seconds(pid) for pid in workers)
    switches0 = resource.getrusage(resource.RUSAGE_SELF).ru_nivcsw
    t0 = time.monotonic()

    async def watch() -> None:
        while True:
            await asyncio.sleep(0.5)
            if len(edge.calls) >= peak["calls"]:
                peak["calls"] = len(edge.calls)
                peak["rss"] = max(peak["rss"], edge_rss_kib(edge))

    gc_pauses: list[float] = []
    gc_started = [0.0]

    def on_gc(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            gc_started[0] = time.perf_counter()
        elif info.get("generation") == 2:
            gc_pauses.append((time.perf_counter() - gc_started[0]) * 1000)

    gc.callbacks.append(on_gc)
    watcher = asyncio.create_task(watch())
    rate = 100
    hold_ms = (audio_s + 2) * 1000 + concurrent * 1000 // rate
    out = work / "rtp_out.pcap"
    setups: Figure | None = None
    try:
        with capture(f"udp and src portrange {sample.start}-{sample.stop - 1}", out):
            calls = asyncio.create_task(
                sipp(
                    scenario,
                    target_of(edge),
                    calls=concurrent,
                    rate=rate,
                    concurrent=concurrent,
                    service="1000",
                    keys={"pcap": str(pcap_in)},
                    extra_args=["-d", str(hold_ms), "-buff_size", "4194304"],
                    timeout_s=240,
                )
            )
            if setup_rate:
                while len(edge.calls) < concurrent and not calls.done():  # noqa: ASYNC110
                    await asyncio.sleep(0.1)
                await asyncio.sleep(1.0)  # every call's RTP is flowing both ways
                setups = await setups_under_load(edge, work, setup_rate, concurrent)
            result = await calls
        worker_cpu = sum(process_cpu_seconds(pid) for pid in workers) - worker_cpu0
    finally:
        watcher.cancel()
        gc.callbacks.remove(on_gc)
        elapsed = time.monotonic() - t0
        cpu = cpu_seconds() - cpu0
        switches = resource.getrusage(resource.RUSAGE_SELF).ru_nivcsw - switches0
        await edge.stop(grace=0)
    records = [r for r in edge.history if r.outcome == "answered"]
    lost = sum(r.media.lost for r in records if r.media is not None and r.called == "1000")
    short = sum(1 for r in records if r.rx_packets < packets and r.called == "1000")
    intervals = send_intervals_ms(out, sample)
    jitter = sorted(abs(i - 20.0) for i in intervals)
    per_call = (peak["rss"] - rss0) / max(peak["calls"], 1)
    late = sorted(edge.tick_late_ms)
    work_ms = sorted(edge.tick_work_ms)
    cmd = command(result)
    label = " (G.722)" if codec == "G722" else ""
    codecs = {r.media.codec for r in records if r.media is not None}
    figures = [
        Figure(
            f"{concurrent} concurrent calls with RTP both ways{label}",
            f"peak {peak['calls']} live; {result.successful_calls} ok, "
            f"{result.failed_calls} failed; {lost} packets lost in jitter buffers, "
            f"{short} calls received fewer than the {packets} sent; "
            f"SIP process CPU {cpu / elapsed * 100:.0f}% of a core, "
            f"{len(workers)} media worker(s) {worker_cpu / elapsed * 100:.0f}%; "
            f"codecs {sorted(map(str, codecs))}",
            "≥ 500 concurrent, 0 lost",
            cmd,
        ),
        Figure(
            f"our RTP send-interval jitter |Δt − 20 ms| at {concurrent} calls{label}",
            f"p50 {percentile(jitter, 50):.3f} ms, p99 {percentile(jitter, 99):.3f} ms, "
            f"max {jitter[-1]:.2f} ms ({len(intervals)} intervals, {len(sample) // 2} streams)"
            if jitter
            else "no packets captured",
            "p99 ≤ 2 ms at 500",
            cmd,
        ),
        Figure(
            f"media clocks (5 ms ticks, whole run, {concurrent} calls){label}",
            f"start lateness p50 {percentile(late, 50):.2f} ms, p99 {percentile(late, 99):.2f} ms, "
            f"max {late[-1]:.1f} ms; tick work p99 {percentile(work_ms, 99):.2f} ms; "
            f"SIP process: {len(gc_pauses)} full GC pauses, longest "
            f"{max(gc_pauses, default=0):.1f} ms, "
            f"{switches / elapsed:.0f} involuntary context switches/s"
            if late
            else "no ticks reported",
            "(diagnostic)",
            cmd,
        ),
        Figure(
            f"memory per live call ({concurrent} calls){label}",
            f"{per_call:.0f} KiB (RSS growth of the edge and its media workers / peak live calls)",
            "report",
            cmd,
        ),
    ]
    if setups is not None:
        figures.append(setups)
    return figures


async def setups_under_load(edge: EdgeServer, work: Path, rate: int, live: int) -> Figure:
    """INVITE → 200 of new calls at `rate`/s while `live` calls carry RTP."""
    pcap = work / "setups.pcap"
    assert edge.sip_address is not None
    calls = rate * 8
    with capture(f"udp port {edge.sip_address[1]}", pcap):
        result = await sipp(
            SIPP / "uac_rate.xml",
            target_of(edge),
            calls=calls,
            rate=rate,
            service="2000",
            timeout_s=120,
            extra_args=["-buff_size", "4194304"],
        )
    samples = sorted(invite_to_answer_ms(pcap))
    return Figure(
        f"INVITE→200 latency at {rate} calls/s while {live} calls carry RTP",
        f"p50 {percentile(samples, 50):.2f} ms, p99 {percentile(samples, 99):.2f} ms, "
        f"max {samples[-1]:.2f} ms ({len(samples)} calls, {result.failed_calls} failed)"
        if samples
        else "no answers captured",
        "p99 ≤ 10 ms",
        command(result),
    )


def bench_kamailio(calls: int, rate: int) -> Figure:
    with kamailio_ref.kamailio_486() as ref:
        result = kamailio_ref.measure(ref, calls=calls, rate=rate)
    return Figure(
        "Kamailio stateless 486 (reference)",
        rate_and_outcome(result) + ")",
        "reference",
        command(result),
    )


MEDIA_OVERRIDES: dict[str, object] = {}


async def main_async(
    quick: bool, sizes: list[int], g722: list[int], concurrent_only: bool
) -> list[Figure]:
    scale = 0.2 if quick else 1.0
    figures = [] if concurrent_only else [bench_kamailio(int(40_000 * scale), 20_000)]
    with tempfile.TemporaryDirectory(prefix="fd-bench-") as tmp:
        work = Path(tmp)
        concurrent: list[Figure] = []
        for count in sizes:
            concurrent.extend(await bench_concurrent(count, work))
        for count in g722:
            concurrent.extend(await bench_concurrent(count, work, codec="G722"))
        concurrent.extend(await bench_concurrent(50 if quick else 250, work, setup_rate=200))
        if concurrent_only:
            return concurrent
        figures.append(await bench_refusals(int(12_500 * scale), 2_500))
        figures.append(await bench_answered(int(10_000 * scale), 1_000))
        figures.append(await bench_answered(int(11_000 * scale), 1_100))
        figures.append(await bench_answered(int(15_000 * scale), 1_500))  # past the ceiling
        figures.append(await bench_latency(int(2_000 * scale), 200, work))
        figures.extend(concurrent)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller runs (a smoke test)")
    parser.add_argument(
        "--g722", default="", metavar="N,...", help="also N concurrent G.722 calls (each N)"
    )
    parser.add_argument(
        "--concurrent-only", action="store_true", help="only the concurrent-call figures"
    )
    parser.add_argument(
        "--sizes", default="", metavar="N,...", help="concurrent PCMU calls (100,250,500)"
    )
    parser.add_argument(
        "--media-workers", type=int, default=0, help="media worker processes (0: the default)"
    )
    parser.add_argument(
        "--no-realtime", action="store_true", help="media workers at normal priority"
    )
    args = parser.parse_args()
    g722 = [int(n) for n in args.g722.split(",") if n.strip()]
    default_sizes = "100" if args.quick else "100,250,500"
    sizes = [int(n) for n in (args.sizes or default_sizes).split(",") if n.strip()]
    if args.media_workers:
        MEDIA_OVERRIDES["media_workers"] = args.media_workers
    if args.no_realtime:
        MEDIA_OVERRIDES["media_realtime"] = False
    started = time.strftime("%Y-%m-%d %H:%M")
    figures = uvloop.run(main_async(args.quick, sizes, g722, args.concurrent_only))
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    print(
        f"\n### SIP edge — {started}, {cpu}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}"
    )
    flags = (" --quick" if args.quick else "") + (f" --g722 {args.g722}" if g722 else "")
    flags += f" --sizes {args.sizes}" if args.sizes else ""
    flags += f" --media-workers {args.media_workers}" if args.media_workers else ""
    flags += " --no-realtime" if args.no_realtime else ""
    flags += " --concurrent-only" if args.concurrent_only else ""
    print(f"Command: `python -m bench.edge_bench{flags}`\n")
    print("| figure | measured | target |")
    print("|---|---|---|")
    for figure in figures:
        print(f"| {figure.name} | {figure.value} | {figure.target} |")
    print("\nsipp commands:")
    for figure in figures:
        print(f"- {figure.name}: `{figure.command}`")


if __name__ == "__main__":
    main()
