"""`CallSpec`: everything an agent session is built from, as one serialisable value.

Owns: the facts of one answered call that the agent needs (who called which number of
which organization, the merged `TenantConfig`, the matched customer record) and their
JSON form, which crosses the process boundary to an agent worker and is the same for
both fronts (the built-in edge and the LiveKit worker).
Must not: hold live objects (sockets, pools, sessions): it is data only.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from frontdesk.calls.routing import Route
from frontdesk.tenancy.config import TenantConfig


class CustomerFacts(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    name: str = ""
    notes: str = ""


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

    @classmethod
    def for_route(
        cls,
        call_id: str,
        route: Route,
        session_id: str | None = None,
        customer: CustomerFacts | None = None,
    ) -> CallSpec:
        return cls(
            call_id=call_id,
            session_id=session_id,
            org_id=route.entry.org_id,
            org_slug=route.entry.org_slug,
            number_id=route.entry.number_id,
            called=route.called,
            caller=route.caller,
            config=route.config,
            customer=customer,
        )
