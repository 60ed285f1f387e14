"""The LiveKit front's job logic: admission inside the job, and participant-joined → agent-start.

    python -m bench.livekit_bench [--calls N]

Each call is one real `CallJob.run` on livekit-agents' `fake_job_context` with a fake room
(tests/integration/livekit/fake_room.py), the fake LiveKit API on 127.0.0.1 (room tagging),
an embedded PostgreSQL 18 (routing snapshot + `frontdesk_admit`), and a fake agent starter
that returns a real, unstarted `AgentSession` (fake providers: no STT/LLM/TTS work). After
each call the caller leaves and the slot is freed before the next call. Figures:

1. admission decision time inside the job (Admission.decide: routing + one transaction)
2. SIP participant joined → agent starter returned (decision + starter + bookkeeping)
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

from livekit import rtc
from livekit.agents import AgentSession, JobContext
from livekit.agents.testing import fake_job_context
from livekit.protocol import models
from tests.integration.livekit.fake_livekit import API_KEY, API_SECRET, FakeLiveKit
from tests.integration.livekit.fake_room import SIP, FakeRoom, remote
from tests.support.sipp import percentile

from frontdesk.calls.decision import Admitted, InviteFacts
from frontdesk.calls.routing import RoutingDecider
from frontdesk.config import load_settings
from frontdesk.livekit.client import LiveKitCredentials, open_api
from frontdesk.livekit.job import CallJob, LiveKitControl
from frontdesk.store.admission import Admission
from frontdesk.store.engine import Pool, open_database
from frontdesk.store.numbers import add_number
from frontdesk.store.orgs import create_org
from frontdesk.store.routing import load_routing_table
from frontdesk.store.sessions import SessionRecorder
from frontdesk.store.tx import operator_tx

NUMBER = "+390551000000"


async def _starter(
    ctx: JobContext, p: rtc.RemoteParticipant, accept: Admitted, facts: InviteFacts, pool: Pool
) -> AgentSession[Any]:
    return AgentSession()


async def run(calls: int) -> tuple[list[float], list[float]]:
    decide: list[float] = []
    start: list[float] = []
    fake = FakeLiveKit()
    await fake.start()
    with tempfile.TemporaryDirectory(prefix="fd-livekit-") as tmp:
        settings = load_settings(None, data_dir=Path(tmp) / "data")
        async with open_database(settings, max_size=4) as pool:
            async with operator_tx(pool) as conn:
                await create_org(conn, "bench", "Bench")
                await add_number(conn, NUMBER, "bench", max_concurrent_calls=5,
                                 assigned_by="bench", default_country="IT")  # fmt: skip
            decider = RoutingDecider(await load_routing_table(pool, "IT"))
            admission = Admission(pool, decider, node_id="lk-bench", node_max_calls=100,
                                  node_ttl=15)  # fmt: skip
            await admission.register()
            creds = LiveKitCredentials(fake.url, API_KEY, API_SECRET)
            async with open_api(creds) as lkapi:
                job = CallJob(pool=pool, admission=admission,
                              recorder=SessionRecorder(pool, "lk-bench"),
                              control=LiveKitControl(lkapi), starter=_starter)  # fmt: skip
                for i in range(calls):
                    name = f"call-_{i}"
                    fake.add_room(name, [models.ParticipantInfo(kind=models.ParticipantInfo.SIP)])
                    room = FakeRoom(name, fake.events)
                    caller = remote(f"sip_{i}", SIP, {"sip.trunkPhoneNumber": NUMBER,
                                    "sip.phoneNumber": "+393330000000",
                                    "sip.callIDFull": f"bench-{i}@pbx"})  # fmt: skip
                    room.join(caller)  # already in: the job finds it at once
                    with fake_job_context(room=room) as ctx:
                        ctx._on_shutdown = lambda _reason: None
                        result = await job.run(ctx)
                        room.leave(caller.identity)
                        await asyncio.wait_for(result.released.wait(), 5)
                        ctx._tempdir.cleanup()
                    assert isinstance(result.decision, Admitted), result.decision
                    decide.append(result.decide_s * 1000)
                    start.append(result.joined_to_start_s * 1000)
    await fake.stop()
    return sorted(decide), sorted(start)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=300)
    args = parser.parse_args()
    decide, start = asyncio.run(run(args.calls))
    when = time.strftime("%Y-%m-%d %H:%M")
    print(f"# python -m bench.livekit_bench --calls {args.calls}   ({platform.node()}, {when})")
    for label, samples in (("admission decision in the job", decide),
                           ("participant joined -> agent start", start)):  # fmt: skip
        print(f"{label}: p50 {percentile(samples, 50):.2f} ms, p99 {percentile(samples, 99):.2f} ms"
              f" (n={len(samples)})")  # fmt: skip


if __name__ == "__main__":
    main()
