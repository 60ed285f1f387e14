"""The agent's tools, one implementation for every front: ticket, transfer, end call.

Owns: `CallTools`, the receptionist's `CallActions` for any call, whichever front carries
it. It sees the call only through its `CallHandle` (frontdesk.calls.handle):
- a ticket is a `tickets` row linked to the call's session and matched customer
  (store.agent_records), in the call's organization;
- a transfer goes to the number's configured `transfer_target` through the handle (SIP
  REFER at the edge, LiveKit's TransferSIPParticipant on LiveKit), and gives up with 408
  when no final status comes within `transfer_timeout_s`;
- ending the call asks the handle to hang up.

Must not: know which front carries the call, or run in a worker process (the worker's
tools are round trips to the host, which runs these).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from uuid import UUID

from frontdesk.agent.spec import CallSpec
from frontdesk.calls.handle import CallHandle
from frontdesk.store import agent_records
from frontdesk.store.engine import Pool

TRANSFER_TIMEOUT_S = 45.0
TRANSFER_TIMED_OUT = 408


class CallTools:
    def __init__(
        self,
        call: CallHandle,
        spec: CallSpec,
        pool: Pool | None,
        *,
        transfer_timeout_s: float = TRANSFER_TIMEOUT_S,
        on_outbox: Callable[[], None] | None = None,
    ) -> None:
        self.call = call
        self.spec = spec
        self._pool = pool
        self._transfer_timeout_s = transfer_timeout_s
        #: told after a ticket (and its `ticket.created` event) committed: wakes the dispatcher
        self._on_outbox = on_outbox

    async def create_ticket(self, kind: str, summary: str, details: str) -> str:
        spec = self.spec
        if self._pool is None or spec.org_id is None:
            raise RuntimeError("tickets need an organization and a database")
        ticket_id = await agent_records.create_ticket(
            self._pool,
            UUID(spec.org_id),
            kind=kind or "other",
            subject=summary or details,
            body=details,
            session_id=UUID(spec.session_id) if spec.session_id else None,
            customer_id=UUID(spec.customer.id) if spec.customer else None,
            call=agent_records.TicketCall(
                spec.call_id,
                spec.caller,
                spec.called,
                UUID(spec.number_id) if spec.number_id else None,
            ),
        )
        if self._on_outbox is not None:
            self._on_outbox()
        return str(ticket_id)

    async def transfer(self) -> int:
        target = self.spec.config.transfer_target
        if not target:
            raise RuntimeError("no transfer target is configured for this number")
        try:
            return await asyncio.wait_for(self.call.transfer(target), self._transfer_timeout_s)
        except TimeoutError:
            return TRANSFER_TIMED_OUT

    async def hang_up(self, reason: str) -> None:
        self.call.hangup(reason)
