"""`frontdesk run`: wire one node together and run it until SIGINT/SIGTERM.

Owns: the process-level set-up (logging, the event loop, signal handling) and the
start-up banner that tells a newcomer how to place a test call.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket

import uvicorn

from frontdesk.agent.capacity import node_capacity
from frontdesk.agent.host import AgentHost
from frontdesk.agent.providers.keys import check_provider_keys
from frontdesk.agent.summary import PostCallSummaries
from frontdesk.calls.record import CallRecord
from frontdesk.calls.routing import NumberEntry, RoutingDecider
from frontdesk.config import Settings
from frontdesk.edge.server import EdgeServer
from frontdesk.errors import ConfigError
from frontdesk.metrics import NodeMetrics
from frontdesk.notify.dispatcher import OutboxDispatcher
from frontdesk.recordings.retention import run_retention
from frontdesk.store.admission import Admission
from frontdesk.store.engine import open_database, open_pool
from frontdesk.store.routing import RoutingWatcher, load_routing_table
from frontdesk.store.sessions import SessionRecorder
from frontdesk.tasks import TaskOwner
from frontdesk.tenancy.config import merge_keys
from frontdesk.web.app import create_app
from frontdesk.web.security import server_config
from frontdesk.webrtc.calls import BrowserCalls

log = logging.getLogger("frontdesk")

_NOTIFY_LANES = 4  # outbox dispatcher lanes (each sends one batch at a time)
_SUMMARY_WORKERS = 3  # post-call summaries made at once


def _http_socket(settings: Settings) -> socket.socket:
    host, port = settings.http_host, settings.http_port
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigError(
            f"HTTP port {port} on {host} is not free ({exc.strerror}): set FRONTDESK_HTTP_PORT"
        ) from exc
    sock.listen(128)
    sock.setblocking(False)
    return sock


class _WebServer(uvicorn.Server):
    """uvicorn without its own signal handling: the node owns SIGINT/SIGTERM."""

    def capture_signals(self) -> contextlib.AbstractContextManager[None]:  # type: ignore[override]
        return contextlib.nullcontext()


def _banner(settings: Settings, edge: EdgeServer, demo: bool) -> str:
    host, port = edge.sip_address or (settings.sip_host, settings.sip_port)
    target = settings.advertised_ip
    lines = [
        f"frontdesk node {settings.node_id} is up",
        f"  SIP (UDP, TCP) on {host}:{port}; RTP ports {settings.rtp_ports}",
        f"  web on http://{settings.http_host}:{settings.http_port} "
        "(/login, /numbers, /operations, /admin, /api/v1, /docs, /metrics)",
        f"  trusted PBX addresses: {', '.join(settings.pbx_addresses)}",
        "  place a test call:",
        f"    sipp -sn uac -i 127.0.0.1 -p 5070 -m 1 -s NUMBER {target}:{port}",
        f"    baresip: /dial sip:NUMBER@{target}:{port}",
    ]
    if demo:
        lines.append("  demo mode: only 127.0.0.1 and ::1 are trusted as the PBX")
    return "\n".join(lines)


_PROVIDER_KEYS = ("stt", "llm", "tts", "language")  # what check_provider_keys reads


def _check_provider_keys(settings: Settings, entries: list[NumberEntry]) -> None:
    """A provider without its key is a start-up error naming who uses it, not a failed call.

    Only what decides the providers is merged (not each number's whole config: merging
    10,000 configs up front is what the routing table avoids), once per distinct choice.
    """
    chosen: dict[tuple[str, tuple[tuple[str, object], ...]], list[NumberEntry]] = {}
    for e in entries:
        if e.number_active and e.org_active:
            picks = tuple((k, e.override[k]) for k in _PROVIDER_KEYS if k in e.override)
            chosen.setdefault((e.org_slug, picks), []).append(e)
    configs = []
    for (slug, picks), users in chosen.items():
        where = f"{slug} {', '.join(u.phone_number for u in users[:3])}"
        where += f" (+{len(users) - 3} more)" if len(users) > 3 else ""
        configs.append((where, merge_keys(users[0].org_config, dict(picks), _PROVIDER_KEYS)))
    problems = check_provider_keys(configs, settings)
    for problem in problems:
        if not problem.fatal:
            log.warning("%s", problem)
    fatal = [str(p) for p in problems if p.fatal]
    if fatal:
        raise ConfigError("agent providers are missing keys:\n  " + "\n  ".join(fatal))


async def serve(settings: Settings, demo: bool = False) -> None:
    # bound first, so a taken port is a clear start-up error before anything starts
    # (uvicorn would sys.exit)
    http_socket = _http_socket(settings)
    async with open_database(settings) as pool:
        if demo:
            from frontdesk.cli.demo import seed_demo

            demo_text = await seed_demo(pool, settings)
        table = await load_routing_table(pool, settings.default_country)
        decider = RoutingDecider(table)
        if settings.agent_enabled:
            _check_provider_keys(settings, table.entries())
        capacity = node_capacity(
            settings.node_max_calls, table.entries(), agent_enabled=settings.agent_enabled
        )
        log.info("node capacity: %d concurrent calls", capacity)
        background = TaskOwner("node")
        watcher = RoutingWatcher(pool, settings.default_country, decider.swap)
        background.spawn(watcher.run(), name="routing watcher")
        # an answered call's end is written by admission's release of its slot
        recorder = SessionRecorder(pool, settings.node_id, ends_written_by_release=True)
        background.spawn(recorder.run(), name="session recorder")
        # notifications get their own connections: a dispatcher lane holds one while it
        # sends (up to FRONTDESK_OUTBOX_SEND_TIMEOUT), which must never starve admission
        conninfo = pool.conninfo
        assert isinstance(conninfo, str)  # open_database opens its pool with a string
        notify_pool = await open_pool(conninfo, max_size=_NOTIFY_LANES + _SUMMARY_WORKERS + 1)
        dispatcher = OutboxDispatcher(notify_pool, settings, lanes=_NOTIFY_LANES)
        background.spawn(dispatcher.run(), name="outbox dispatcher")
        summaries = PostCallSummaries(
            notify_pool, settings, on_enqueued=dispatcher.wake, concurrency=_SUMMARY_WORKERS
        )
        background.spawn(summaries.run(), name="post-call summaries")

        def on_record(record: CallRecord) -> None:
            recorder.submit(record)
            if settings.summary_enabled:
                summaries.submit(record)

        admission = Admission(
            pool,
            decider,
            node_id=settings.node_id,
            node_max_calls=capacity,
            node_ttl=settings.node_ttl,
            db_timeout=settings.db_deadline,
        )
        await admission.register()
        background.spawn(admission.run_heartbeat(), name="heartbeat")
        metrics = NodeMetrics()
        background.spawn(
            run_retention(settings.recordings_path, settings.recording_retention_days),
            name="recording retention",
        )
        agents = AgentHost(settings, pool) if settings.agent_enabled else None
        if agents is not None:
            agents.on_outbox = dispatcher.wake
        edge = EdgeServer(
            settings,
            admission,
            on_record=on_record,
            on_setup=metrics.observe_setup,
            responder=agents.run_call if agents is not None else None,
            recordings=True,  # the media workers write them (recordings/writer.py)
        )
        browser_calls = BrowserCalls(
            admission,
            agents.run_call if agents is not None else None,
            on_record,
            settings.max_call_duration,
        )
        web: _WebServer | None = None
        web_task: asyncio.Task[None] | None = None
        try:
            if agents is not None:
                await agents.start()  # worker processes load their models
            await edge.start()
            metrics.watch(edge, admission)

            async def ready() -> dict[str, bool]:
                # a round trip on admission's own connection, within the call path's
                # deadline: a hung database makes the node not ready, it never hangs /readyz
                try:
                    database = await admission.database_ready()
                except Exception:  # any failure means not ready; the check must not raise
                    database = False
                return {"sip": edge.sip_address is not None, "database": database}

            app = create_app(
                settings=settings,
                pool=pool,
                registry=metrics.registry,
                ready=ready,
                tasks=background,
                browser_calls=browser_calls,
            )
            web = _WebServer(
                server_config(
                    app,
                    host=settings.http_host,
                    port=settings.http_port,
                    log_level="warning",
                    lifespan="off",
                )
            )
            web_task = background.spawn(web.serve(sockets=[http_socket]), name="web")
            while not web.started:
                if web_task.done():
                    raise ConfigError("the web server did not start (see the log above)")
                await asyncio.sleep(0.01)
            print(_banner(settings, edge, demo), flush=True)
            if demo:
                print(demo_text, flush=True)
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            await stop.wait()
        finally:
            log.info("stopping: ending calls")
            if web is not None and web_task is not None:
                web.should_exit = True
                await asyncio.wait({web_task}, timeout=5)
            await edge.stop()
            await browser_calls.close()
            await admission.aclose()
            if agents is not None:
                await agents.stop()
            await background.close()
            http_socket.close()
            try:  # the last calls' sessions
                await asyncio.wait_for(recorder.flush(), 5)
            except (ConnectionError, TimeoutError):
                log.error("%d session rows could not be written at shutdown", recorder.queued)
            if summaries.queued:  # their calls keep their sessions rows, without a summary
                log.warning("%d post-call summaries were not made at shutdown", summaries.queued)
            await notify_pool.close()


def run_node(settings: Settings, demo: bool = False) -> None:
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if settings.use_uvloop:
        try:
            import uvloop
        except ImportError:  # not on this platform: the stdlib loop works too
            asyncio.run(serve(settings, demo))
            return
        uvloop.run(serve(settings, demo))
    else:
        asyncio.run(serve(settings, demo))
