"""`frontdesk livekit worker`: frontdesk as a LiveKit Agents worker with explicit dispatch.

Owns: the `AgentServer` (agent name from the settings, so only our dispatch rule's rooms
reach it; every job request accepted at once), the per-job wiring of `CallJob` in the job
process (its own small pool, the routing snapshot, `Admission` with node = this worker,
`SessionRecorder`, `LiveKitControl`) and, in the worker's main process, this node's
registration and heartbeat (so `frontdesk_admit` counts the worker's calls against
`FRONTDESK_NODE_MAX_CALLS` and other nodes reap them if the worker dies) and the reconciler.

Job processes are fresh per job (livekit-agents 1.8.9 exits the process when the job
ends), so a job loads the routing snapshot once; `Admission.register` and the heartbeat
run only in the main process. Shutdown callbacks of a job run concurrently
(`asyncio.gather`), so the one that closes the job's pool waits for the release first.

Must not: start the voice agent itself (the injected `AgentStarter` does: issue 5's agent)
or read the environment (settings are handed to job processes through `setup_fnc`).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import importlib
import logging
import signal
from contextlib import AsyncExitStack
from typing import Any

from livekit.agents import AgentServer, JobContext, JobProcess, JobRequest

from frontdesk.agent.capacity import node_capacity
from frontdesk.calls.decision import Admitted
from frontdesk.calls.routing import RoutingDecider, RoutingTable
from frontdesk.config import Settings
from frontdesk.errors import ConfigError
from frontdesk.livekit.client import LiveKitCredentials, open_api
from frontdesk.livekit.job import AgentStarter, CallJob, LiveKitControl
from frontdesk.livekit.reconcile import Reconciler
from frontdesk.notify.dispatcher import OutboxDispatcher
from frontdesk.store.admission import Admission
from frontdesk.store.engine import Pool, open_database
from frontdesk.store.routing import load_routing_table
from frontdesk.store.sessions import SessionRecorder
from frontdesk.tasks import TaskOwner

log = logging.getLogger(__name__)

#: where the voice agent (issue 5) offers its LiveKit starter: "module:attribute"
STARTER = "frontdesk.agent.livekit:start_agent"
_RELEASE_WAIT_S = 5.0


def load_starter(spec: str = STARTER) -> AgentStarter:
    module_name, _, attribute = spec.partition(":")
    try:
        starter = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(
            f"the voice agent's LiveKit starter {spec} is not available: {exc}"
        ) from exc
    if not callable(starter):
        raise ConfigError(f"{spec} is not callable")
    return starter  # type: ignore[no-any-return]


def admission_for(pool: Pool, decider: RoutingDecider, settings: Settings) -> Admission:
    return Admission(
        pool,
        decider,
        node_id=settings.node_id,
        node_max_calls=node_capacity(settings.node_max_calls, decider.table.entries()),
        node_ttl=settings.node_ttl,
        db_timeout=settings.db_deadline,
    )


def _prewarm(settings: Settings, starter_spec: str, proc: JobProcess) -> None:
    proc.userdata["settings"] = settings
    proc.userdata["starter"] = load_starter(starter_spec)


async def accept_at_once(request: JobRequest) -> None:
    """Accept fast: the caller is ringing; deciding happens once the SIP participant is in."""
    await request.accept(identity=f"frontdesk-{request.id}", name="frontdesk")


async def entrypoint(ctx: JobContext) -> None:
    settings: Settings = ctx.proc.userdata["settings"]
    starter: AgentStarter = ctx.proc.userdata["starter"]
    stack = AsyncExitStack()
    result = None
    try:
        pool = await stack.enter_async_context(
            open_database(settings, run_migrations=False, max_size=2)
        )
        lkapi = await stack.enter_async_context(
            open_api(LiveKitCredentials.from_settings(settings))
        )
        decider = RoutingDecider(await load_routing_table(pool, settings.default_country))
        admission = admission_for(pool, decider, settings)
        stack.push_async_callback(admission.aclose)  # before the pool closes
        job = CallJob(
            pool=pool,
            admission=admission,
            recorder=SessionRecorder(pool, settings.node_id),
            control=LiveKitControl(lkapi),
            starter=starter,
            participant_timeout=settings.livekit_ringing_timeout,
        )
        result = await job.run(ctx)
    except Exception:
        log.exception("job %s failed before its call was set up", ctx.job.id)
        ctx.shutdown("setup-failed")
    finally:
        admitted = result is not None and isinstance(result.decision, Admitted)
        released = result.released if result is not None else None

        async def close_resources() -> None:
            if admitted and released is not None:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(released.wait(), _RELEASE_WAIT_S)
            await stack.aclose()

        ctx.add_shutdown_callback(close_resources)


def build_server(settings: Settings, starter_spec: str = STARTER) -> AgentServer:
    """The AgentServer for our explicit dispatch (agent name = FRONTDESK_LIVEKIT_AGENT_NAME)."""
    credentials = LiveKitCredentials.from_settings(settings)
    server = AgentServer(
        ws_url=credentials.url,
        api_key=credentials.api_key,
        api_secret=credentials.api_secret,
        setup_fnc=functools.partial(_prewarm, settings, starter_spec),
        host="127.0.0.1",
        port=0,
    )
    server.rtc_session(
        entrypoint, agent_name=settings.livekit_agent_name, on_request=accept_at_once
    )
    return server


async def serve_worker(settings: Settings, starter_spec: str = STARTER) -> None:
    """The worker's main process: node row + heartbeat, reconciler, AgentServer, until SIGTERM."""
    load_starter(starter_spec)  # a missing agent is a start-up error, not a per-call one
    credentials = LiveKitCredentials.from_settings(settings)
    server = build_server(settings, starter_spec)
    background = TaskOwner("livekit worker")
    async with open_database(settings) as pool, open_api(credentials) as lkapi:
        # this process only registers and heartbeats: its routing table stays empty
        empty = RoutingDecider(RoutingTable((), settings.default_country))
        admission = admission_for(pool, empty, settings)
        await admission.register()
        background.spawn(admission.run_heartbeat(), name="heartbeat")
        reconciler = Reconciler(
            pool,
            lkapi,
            node_ids=[settings.node_id],
            prefix=settings.livekit_room_prefix,
            grace=settings.livekit_reconcile_grace,
        )
        background.spawn(reconciler.run(settings.livekit_reconcile_interval), name="reconcile")
        # the jobs write tickets and summaries with their events; this process sends them
        # (as every `frontdesk run` node does: any node may send any event)
        background.spawn(OutboxDispatcher(pool, settings, lanes=2).run(), name="outbox")
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        runner = background.spawn(server.run(), name="agent server")
        stopper = background.spawn(stop.wait(), name="stop")
        try:
            await asyncio.wait({runner, stopper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            await server.drain(timeout=int(settings.max_call_duration))
            await server.aclose()
            await background.close()


def run_worker(settings: Settings, **kwargs: Any) -> None:
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    asyncio.run(serve_worker(settings, **kwargs))
