"""`CallSpec`: everything an agent session is built from, as one serialisable value.

Owns: the facts of one answered call that the agent needs (who called which number of
which organization, the merged `TenantConfig`, the matched customer record) and their
JSON form, which crosses the process boundary to an agent worker and is the same for
both fronts (the built-in edge and the LiveKit worker).
`call_spec` builds it the same way on both fronts, looking up the customer record;
`spec_for_call` builds it from any front's `CallHandle`.
Must not: hold live objects (sockets, pools, sessions): a spec is data only.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from frontdesk.calls.handle import CallHandle, RecordedCall
from frontdesk.calls.routing import Route
from frontdesk.store import agent_records
from frontdesk.store.engine import Pool
from frontdesk.tenancy.config import KnowledgeEntry, TenantConfig, config_for_status
from frontdesk.tenancy.hours import (
    LEAVE_A_MESSAGE,
    WhenClosed,
    hours_status,
    spoken_status,
    weekly_text,
)

log = logging.getLogger(__name__)


class CustomerFacts(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    name: str = ""
    notes: str = ""


class HoursFacts(BaseModel):
    """Whether the business was open when the call was answered, in words for the agent."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    open: bool
    said: str  # "We're open now, until 7 p.m." / "We're closed now. We open again …"
    schedule: str  # the week, one line a day
    when_closed: WhenClosed


#: the question the hours answer is filed under, so "are you open?" finds it
HOURS_QUESTION = "Are you open now? What are your opening hours, when do you open and close?"


def answer_with_hours(config: TenantConfig, at: datetime) -> tuple[TenantConfig, HoursFacts | None]:
    """The config a call at instant `at` is answered with, and the hours facts (pure).

    While closed, `when_closed` applies (`config_for_status`) and the spoken greeting says
    when the business opens again (and asks for the message, when one is taken). Open or
    closed, the knowledge base gains an entry answering "are you open?" for this instant.
    """
    hours = config.business_hours
    status = hours_status(hours, at)
    if hours is None or status is None:
        return config, None
    facts = HoursFacts(
        open=status.open,
        said=spoken_status(status, at),
        schedule=weekly_text(hours),
        when_closed=hours.when_closed,
    )
    answered = config_for_status(config, status)
    update: dict[str, object] = {
        "knowledge_base": (
            KnowledgeEntry(question=HOURS_QUESTION, answer=facts.said),
            *answered.knowledge_base,
        )
    }
    if not status.open:
        reopens = facts.said.removeprefix("We're closed now.").strip()
        greeting = f"{hours.closed_greeting.strip()} {reopens}".strip()
        if hours.when_closed == "message":
            greeting = f"{greeting} {LEAVE_A_MESSAGE}"
        update["greeting"] = greeting
    return answered.model_copy(update=update), facts


class CallSpec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    call_id: str
    session_id: str | None = None
    org_id: str | None = None
    org_slug: str = ""
    number_id: str | None = None
    called: str
    caller: str = ""
    config: TenantConfig = Field(default_factory=TenantConfig)
    customer: CustomerFacts | None = None
    recorded: bool = False  # the front records this call: the notice comes before the greeting
    hours: HoursFacts | None = None  # None: the business set no schedule

    @classmethod
    def for_route(
        cls,
        call_id: str,
        route: Route,
        session_id: str | None = None,
        customer: CustomerFacts | None = None,
        at: datetime | None = None,
    ) -> CallSpec:
        """The spec of a call routed by `route`, answered at instant `at` (default: now)."""
        config, hours = answer_with_hours(route.config, at or datetime.now(UTC))
        return cls(
            call_id=call_id,
            session_id=session_id,
            org_id=route.entry.org_id,
            org_slug=route.entry.org_slug,
            number_id=route.entry.number_id,
            called=route.called,
            caller=route.caller,
            config=config,
            customer=customer,
            hours=hours,
        )


async def call_spec(call_id: str, route: Route, session_id: object, pool: Pool | None) -> CallSpec:
    """The spec of an admitted call; the customer record is matched by the caller's number.

    A failed lookup costs the agent the customer's name, never the call.
    """
    customer = None
    if pool is not None and route.caller.startswith("+"):
        try:
            found = await agent_records.find_customer(pool, UUID(route.entry.org_id), route.caller)
        except Exception:
            log.warning("customer lookup for call %s failed", call_id, exc_info=True)
            found = None
        if found is not None:
            customer = CustomerFacts(id=str(found.id), name=found.name, notes=found.notes)
    return CallSpec.for_route(
        call_id,
        route,
        session_id=str(session_id) if session_id is not None else None,
        customer=customer,
    )


async def spec_for_call(call: CallHandle, pool: Pool | None) -> CallSpec:
    """The spec of a live call, from what its front's handle carries.

    A call admitted without routing (a node without tenancy: edge tests, `AcceptAll`)
    gets the default config with the decision's greeting, if any.
    """
    admitted = call.admitted
    route = admitted.route
    if route is None:
        spec = CallSpec(call_id=call.call_id, called=call.facts.called, caller=call.facts.caller)
        if admitted.greeting:
            config = spec.config.model_copy(update={"greeting": admitted.greeting})
            spec = spec.model_copy(update={"config": config})
        return spec
    spec = await call_spec(call.call_id, route, admitted.session_id, pool)
    if isinstance(call, RecordedCall) and call.recorded:
        spec = spec.model_copy(update={"recorded": True})
    return spec
