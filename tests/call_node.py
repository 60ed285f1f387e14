"""A whole node for call tests: admission, session recorder, agent host and SIP edge on one
pool, started in the order a real node starts them and stopped in reverse, also when the
start fails half-way (a port taken, a worker that does not come up): nothing is left
running to disturb the tests after it.

Tests that need more (a routing watcher, the outbox dispatcher, a recording writer) pass
it in; everything they spawn belongs to the node's `TaskOwner`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any

from frontdesk.agent.host import AgentHost
from frontdesk.calls.record import CallRecord
from frontdesk.calls.routing import RoutingDecider, RoutingTable
from frontdesk.config import Settings
from frontdesk.edge.server import EdgeServer
from frontdesk.store.admission import Admission
from frontdesk.store.engine import Pool
from frontdesk.store.routing import RoutingWatcher, load_routing_table
from frontdesk.store.sessions import SessionRecorder
from frontdesk.tasks import TaskOwner


@dataclass
class CallNode:
    settings: Settings
    pool: Pool
    routing: RoutingDecider
    admission: Admission
    recorder: SessionRecorder
    host: AgentHost
    edge: EdgeServer
    tasks: TaskOwner
    watcher: RoutingWatcher | None = None

    async def settle(self) -> None:
        """After a call: the edge takes what already arrived (the BYE), closes the ended
        calls' records (a round trip to the media worker) and the recorder writes them."""
        await asyncio.sleep(0.05)
        await self.edge.settled()
        await self.recorder.flush()


@asynccontextmanager
async def running_call_node(
    pool: Pool,
    settings: Settings,
    *,
    node_max_calls: int = 10,
    heartbeat: bool = False,
    watch_routing: bool = False,
    on_routing: Callable[[RoutingTable], None] | None = None,
    also_on_record: Callable[[CallRecord], None] | None = None,
    on_outbox: Callable[[], None] | None = None,
    recordings: bool = False,
    background: tuple[tuple[str, Coroutine[Any, Any, Any]], ...] = (),
) -> AsyncIterator[CallNode]:
    """The node, up; routing for "IT" (reloaded on NOTIFY when `watch_routing`)."""
    async with AsyncExitStack() as stack:
        tasks = TaskOwner("call-test-node")
        stack.push_async_callback(tasks.close)
        for name, coro in background:
            tasks.spawn(coro, name=name)
        routing = RoutingDecider(await load_routing_table(pool, "IT"))
        watcher: RoutingWatcher | None = None
        if watch_routing:

            def reloaded(table: RoutingTable) -> None:
                routing.swap(table)
                if on_routing is not None:
                    on_routing(table)

            watcher = RoutingWatcher(pool, "IT", reloaded)
            tasks.spawn(watcher.run(), name="routing-watcher")
        admission = Admission(
            pool, routing, node_id=settings.node_id, node_max_calls=node_max_calls, node_ttl=5
        )
        await admission.register()
        if heartbeat:
            tasks.spawn(admission.run_heartbeat(), name="heartbeat")
        recorder = SessionRecorder(pool, settings.node_id, retry_s=0.2)
        tasks.spawn(recorder.run(), name="recorder")
        stack.push_async_callback(recorder.flush)  # after the edge's last records

        def on_record(record: CallRecord) -> None:
            recorder.submit(record)
            if also_on_record is not None:
                also_on_record(record)

        host = AgentHost(settings, pool)
        if on_outbox is not None:
            host.on_outbox = on_outbox
        stack.push_async_callback(host.stop)
        await host.start()
        edge = EdgeServer(
            settings, admission, on_record=on_record, responder=host.run_call, recordings=recordings
        )
        stack.push_async_callback(edge.stop, 0.5)
        await edge.start()
        if watcher is not None:
            await asyncio.wait_for(watcher.listening.wait(), 10)
        yield CallNode(settings, pool, routing, admission, recorder, host, edge, tasks, watcher)
