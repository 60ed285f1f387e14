"""Turn taking on the wire: false cut-offs at mid-sentence pauses, and the wait after a turn.

    python -m bench.turn_bench [--calls N]

Two nodes run side by side in child processes (`--serve MODE`), each a real `EdgeServer`
and an `AgentHost` with the offline set (silero VAD, whisper tiny.en, the knowledge-base
responder, piper): one takes turns with `turn_detection: model` (SmartTurn and the words
before the pause), the other with `vad` (a fixed silence). This process is the PBX (the
SIP and 20 ms PCMU caller of `bench.agent_bench`), and speaks to both the same 60
utterances, made with piper in two voices (`tests.support.speech.VOICES`):
- 30 complete sentences;
- 30 sentences with a pause of 0.6-1.5 s inserted at a natural break (after "for", "to",
  "and", "I'd like to book", a name, ...), at the word boundary of the sentence spoken
  whole, so the words before it keep the prosody of a sentence that goes on.

Per utterance: a false cut-off is agent audio that starts before the caller's last word
(the agent took the pause for the end of the turn); for complete sentences, the end of
speech (last loud packet sent) → the first loud packet of the reply. Calls carry several
utterances each (the agent's reply plays out, then 0.8 s of quiet, then the next one).

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
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import numpy as np
import soxr
from tests.support.messages import rtp_range_avoiding
from tests.support.sipp import free_sip_port
from tests.support.speech import VOICES, paused_speech_pcm, speech_pcm

from bench.agent_bench import GREETING, Greeter, Leg, Sip, ms, open_sip, place_call

OFFLINE = "frontdesk.agent.call_providers:providers_for_call"
MODES = ("model", "vad")

#: complete sentences a caller says to a restaurant, a clinic or a law office
COMPLETE = [
    "When are you open on Sunday?",
    "Do you deliver to the city centre?",
    "I would like to book a table for four people tonight.",
    "Can I speak to someone about my invoice?",
    "How much is a first meeting with a lawyer?",
    "Please ask the doctor to call me back this afternoon.",
    "Where is your office?",
    "I want to order two pizzas for delivery.",
    "Is there parking near the restaurant?",
    "Can I change my appointment to Friday morning?",
    "Do you handle divorce cases?",
    "I need a table for two at eight o'clock.",
    "What is your address?",
    "Could you send me the menu by email?",
    "My name is Anna Rossi and I have an appointment tomorrow.",
]

#: (words before the pause, words after it): pauses where callers pause
PAUSED = [
    ("I would like to order", "two margherita pizzas for delivery, please."),
    ("I'd like to book a table for", "four people on Friday evening."),
    ("My name is Anna", "and I need to change my appointment."),
    ("Could you ask the doctor to", "call me back this afternoon?"),
    ("We are looking for a lawyer who", "handles divorce cases."),
    ("Do you have a table for", "six people tomorrow night?"),
    ("I need to speak with", "someone about my last invoice."),
    ("Can I book an appointment for", "next Tuesday morning?"),
    ("I wanted to ask about", "the price of a first meeting."),
    ("The address is", "twelve Via Roma in Florence."),
    ("I'm calling because", "my order has not arrived yet."),
    ("Could you tell me", "when you close on Saturday?"),
    ("I would like to leave a message for", "the doctor, please."),
    ("We need a lawyer and", "we would like to meet this week."),
    ("Is it possible to", "bring a dog to the restaurant?"),
]


@dataclass
class Utterance:
    pcm: bytes
    paused: bool
    pause_s: float
    voice: str
    pause_at: float = 0.0  # seconds into `pcm` where the pause starts


def utterances() -> list[Utterance]:
    made: list[Utterance] = []
    for voice_index, voice in enumerate(VOICES):
        for text in COMPLETE:
            made.append(Utterance(speech_pcm(text, 8000, voice), False, 0.0, voice))
        for index, (before, after) in enumerate(PAUSED):
            pause = 0.6 + 0.9 * ((index * 7 + voice_index * 3) % 15) / 14  # 0.6..1.5 s
            pcm, at = paused_speech_pcm(before, after, pause, 8000, voice)
            made.append(Utterance(pcm, True, round(pause, 2), voice, at))
    return made


# ---------------------------------------------------------------------- the nodes (children)
async def serve(mode: str, workers: int) -> None:
    from frontdesk.agent import host as agent_host
    from frontdesk.agent.host import AgentHost
    from frontdesk.config import load_settings
    from frontdesk.edge.server import EdgeServer

    logging.basicConfig(level=logging.WARNING)
    spec_for_call = agent_host.spec_for_call

    async def spec_with_mode(call, pool):  # type: ignore[no-untyped-def]
        """The bench's node has no tenancy: every call gets the mode under test."""
        spec = await spec_for_call(call, pool)
        config = spec.config.model_copy(update={"turn_detection": mode})
        return spec.model_copy(update={"config": config})

    agent_host.spec_for_call = spec_with_mode  # type: ignore[assignment]

    sip_port = free_sip_port()
    settings = load_settings(
        None,
        sip_host="127.0.0.1",
        sip_port=sip_port,
        pbx_addresses=["127.0.0.1"],
        public_ip="127.0.0.1",
        rtp_ports=rtp_range_avoiding(sip_port, 100),
        media_timeout=60.0,
        log_level="WARNING",
        agent_workers=workers,
        agent_provider_factory=OFFLINE,
    )
    host = AgentHost(settings)
    await host.start()
    edge = EdgeServer(settings, Greeter(), responder=host.run_call)
    await edge.start()
    facts = {
        "sip_port": sip_port,
        "model_silence": settings.agent_turn_model_silence,
        "max_silence": settings.agent_turn_max_silence,
        "vad_silence": settings.agent_vad_min_silence,
    }
    print(json.dumps(facts), flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)  # until EOF
    await edge.stop(grace=0.2)
    await host.stop()


@contextlib.asynccontextmanager
async def node(mode: str, workers: int) -> AsyncIterator[dict[str, object]]:
    argv = ["-m", "bench.turn_bench", "--serve", mode, "--workers", str(workers)]
    proc = await asyncio.create_subprocess_exec(
        sys.executable, *argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    assert proc.stdout is not None and proc.stdin is not None
    try:
        line = await proc.stdout.readline()  # the other mode's node starts meanwhile
        if not line:
            raise RuntimeError("the node did not start")
        yield json.loads(line)
    finally:
        proc.stdin.close()
        try:
            await asyncio.wait_for(proc.wait(), 30)
        except TimeoutError:
            proc.kill()
            await proc.wait()


# ---------------------------------------------------------------------- the caller
@dataclass
class Outcome:
    utterance: Utterance
    cut_off: bool
    latency: float | None  # end of speech → first reply audio (None: no reply)


async def speak(leg: Leg, utterance: Utterance, within_s: float = 20.0) -> Outcome:
    started = time.perf_counter()
    leg.tape += utterance.pcm
    while leg.tape:  # noqa: ASYNC110 (the sender drains it on the wall clock)
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.04)
    end = leg.last_loud_tx
    deadline = end + within_s
    while time.perf_counter() < deadline:
        reply = [t for t in leg.loud_rx if t > started + 0.05]
        if reply:
            first = reply[0]
            if first < end:
                return Outcome(utterance, True, None)
            return Outcome(utterance, False, first - end)
        await asyncio.sleep(0.02)
    return Outcome(utterance, False, None)


async def one_call(sip: Sip, sip_port: int, number: int, batch: list[Utterance]) -> list[Outcome]:
    leg, _, bye = await place_call(sip, sip_port, number)
    sender = asyncio.create_task(leg.send())
    outcomes: list[Outcome] = []
    try:
        if await leg.quiet(0.7, within_s=30):  # the greeting has played
            for utterance in batch:
                outcome = await speak(leg, utterance)
                outcomes.append(outcome)
                if outcome.latency is None and not outcome.cut_off:
                    await asyncio.sleep(8.0)  # a late reply must not land on the next one
                await leg.quiet(0.8, within_s=30)  # the reply has played
    finally:
        leg.sending = False
        await sender
        assert sip.transport is not None and leg.transport is not None
        sip.transport.sendto(bye, ("127.0.0.1", sip_port))
        leg.transport.close()
    return outcomes


async def run_mode(mode: str, said: list[Utterance], calls: int) -> list[Outcome]:
    async with node(mode, workers=1) as facts:
        print(f"{mode} node: {facts}", file=sys.stderr, flush=True)
        sip = await open_sip()
        sip_port = int(str(facts["sip_port"]))
        batches = [said[i::calls] for i in range(calls)]
        results = await asyncio.gather(
            *(one_call(sip, sip_port, n, batch) for n, batch in enumerate(batches))
        )
        assert sip.transport is not None
        sip.transport.close()
    return [outcome for result in results for outcome in result]


def decisions(said: list[Utterance]) -> list[str]:
    """The detector's verdict alone, without the call path or this machine's load: at each
    pause (and at the end of each complete sentence) with 0.2 s of silence after the words,
    as the framework asks it, SmartTurn on the audio and the rule on whisper's words."""
    from frontdesk.agent.providers.offline_stt import WhisperSTT
    from frontdesk.agent.providers.turn_model import load_smart_turn, words_continue

    model, whisper = load_smart_turn(), WhisperSTT()
    verdicts: dict[bool, list[tuple[bool, bool]]] = {True: [], False: []}
    for utterance in said:
        audio = np.frombuffer(utterance.pcm, dtype="<i2")
        if utterance.paused:
            audio = audio[: round(utterance.pause_at * 8000)]
        audio = np.concatenate([audio, np.zeros(1600, dtype=np.int16)])
        complete_audio = model.probability(audio, 8000) >= 0.5
        words = whisper.transcribe(np.asarray(soxr_16k(audio), dtype=np.float32))
        verdicts[utterance.paused].append(
            (complete_audio, complete_audio and not words_continue(words))
        )
    rows = []
    for paused, label in (
        (True, "pauses judged complete (a cut-off)"),
        (False, "ends judged complete"),
    ):
        got = verdicts[paused]
        audio_only = sum(a for a, _ in got)
        both = sum(b for _, b in got)
        rows.append(
            f"| detector alone: {label} | audio only {audio_only}/{len(got)}; "
            f"audio and words {both}/{len(got)} |"
        )
    return rows


def soxr_16k(audio: object) -> object:
    import numpy as np

    samples = np.asarray(audio, dtype=np.float32) / 32768.0
    return soxr.resample(samples, 8000, 16000)


def rows_for(mode: str, outcomes: list[Outcome]) -> list[str]:
    paused = [o for o in outcomes if o.utterance.paused]
    complete = [o for o in outcomes if not o.utterance.paused]
    cut = sum(o.cut_off for o in paused)
    waits = [o.latency for o in complete if o.latency is not None]
    unanswered = sum(o.latency is None and not o.cut_off for o in outcomes)
    per_voice = ", ".join(
        f"{voice} {sum(o.cut_off for o in paused if o.utterance.voice == voice)}"
        f"/{sum(o.utterance.voice == voice for o in paused)}"
        for voice in VOICES
    )
    return [
        f"| `{mode}`: false cut-offs on the pause set | {cut}/{len(paused)} "
        f"({100 * cut / max(1, len(paused)):.0f} %; by voice {per_voice}) |",
        f"| `{mode}`: end of speech → first agent audio, complete sentences | {ms(waits)} |",
        f"| `{mode}`: utterances with no reply within 20 s | {unanswered}/{len(outcomes)} |",
    ]


async def main_async(calls: int) -> list[str]:
    said = await asyncio.to_thread(utterances)
    results = await asyncio.gather(*(run_mode(mode, said, calls) for mode in MODES))
    rows: list[str] = []
    for mode, outcomes in zip(MODES, results, strict=True):
        rows += rows_for(mode, outcomes)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1, help="concurrent calls per mode")
    parser.add_argument(
        "--decisions", action="store_true", help="only the detector's verdicts, no calls"
    )
    parser.add_argument("--serve", choices=MODES, help=argparse.SUPPRESS)
    parser.add_argument("--workers", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(serve(args.serve, args.workers))
        return
    started = time.strftime("%Y-%m-%d %H:%M")
    if args.decisions:
        for row in decisions(utterances()):
            print(row)
        return
    rows = asyncio.run(main_async(args.calls))
    print(
        f"\n### Turn taking — {started}, {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} cores, Python {platform.python_version()}"
    )
    print(f"Command: `python -m bench.turn_bench --calls {args.calls}` (greeting: {GREETING!r})\n")
    print("| figure | measured |")
    print("|---|---|")
    for row in rows:
        print(row)


if __name__ == "__main__":
    main()
