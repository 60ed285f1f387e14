"""`GET|PATCH /api/v1/organization`: an organization's receptionist settings, as JSON.

Owns: the request and response models of the organization settings (greeting, language,
voice, system prompt, transfer target, FAQ entries, knowledge text) and the two routes.
Tenants get their own organization (or `?org=SLUG` among theirs); operators must name one
with `?org=SLUG`. Members read; owners and operators change. A PATCH writes the fields it
names, all in one transaction, or none: 422 lists every wrong field in `errors`.

Must not: hold rules of its own beyond input shapes (org_settings.py validates and saves).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from frontdesk.web.auth import CurrentUser, PoolDep, csrf_protect
from frontdesk.web.org_settings import (
    OrgSettings,
    installed_voices,
    load_org_settings,
    save_org_settings,
)
from frontdesk.web.problems import PROBLEM_RESPONSES, problem
from frontdesk.web.service import FieldErrors

router = APIRouter(
    prefix="/api/v1",
    tags=["api"],
    dependencies=[Depends(csrf_protect)],
    responses=PROBLEM_RESPONSES,
)

OrgQuery = Annotated[
    str | None,
    Query(
        max_length=63,
        pattern=r"^[a-z0-9-]+$",
        description="organization slug (tenants: default yours; operators: required)",
    ),
]
_NoNul = r"^[^\x00]*$"


class FaqEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    question: str
    answer: str


class VoiceOut(BaseModel):
    value: str
    name: str


class OrganizationSettingsOut(BaseModel):
    organization: str
    name: str
    greeting: str
    language: str
    voice: str
    system_prompt: str
    #: whether the system prompt is used (False: the offline knowledge-base responder)
    system_prompt_used: bool
    transfer_target: str | None
    knowledge_base: list[FaqEntry]
    knowledge_text: str
    #: the voices this service has for the organization's TTS
    voices: list[VoiceOut]
    editable: bool


class OrganizationPatch(BaseModel):
    """Fields to change; absent fields stay. `knowledge_base` replaces the whole list."""

    model_config = ConfigDict(extra="forbid")

    greeting: Annotated[str, Field(max_length=1000, pattern=_NoNul)] | None = None
    language: Annotated[str, Field(max_length=20, pattern=_NoNul)] | None = None
    voice: Annotated[str, Field(max_length=200, pattern=_NoNul)] | None = None
    system_prompt: Annotated[str, Field(max_length=20_000, pattern=_NoNul)] | None = None
    transfer_target: Annotated[str, Field(max_length=200, pattern=_NoNul)] | None = None
    knowledge_base: Annotated[list[FaqEntry], Field(max_length=2000)] | None = None
    knowledge_text: Annotated[str, Field(max_length=200_000, pattern=_NoNul)] | None = None


def _out(settings: OrgSettings) -> OrganizationSettingsOut:
    config = settings.config
    return OrganizationSettingsOut(
        organization=settings.slug,
        name=settings.name,
        greeting=config.greeting,
        language=config.language,
        voice=config.voice,
        system_prompt=config.system_prompt,
        system_prompt_used=config.llm != "offline-kb",
        transfer_target=config.transfer_target,
        knowledge_base=[
            FaqEntry(question=e.question, answer=e.answer) for e in config.knowledge_base
        ],
        knowledge_text=config.knowledge_text,
        voices=[VoiceOut(value=v.value, name=v.name) for v in installed_voices(config.tts)],
        editable=settings.editable,
    )


@router.get("/organization")
async def organization_settings(
    user: CurrentUser, pool: PoolDep, org: OrgQuery = None
) -> OrganizationSettingsOut:
    """The receptionist settings of your organization (operators: `?org=SLUG`)."""
    return _out(await load_org_settings(pool, user, org))


@router.patch("/organization", response_model=OrganizationSettingsOut)
async def patch_organization_settings(
    request: Request,
    changes: OrganizationPatch,
    user: CurrentUser,
    pool: PoolDep,
    org: OrgQuery = None,
) -> Any:
    """Change the named fields together (owners and operators); 422 names each wrong one and
    nothing is saved. `transfer_target: null` removes the transfer target."""
    given: dict[str, Any] = {}
    for key in changes.model_fields_set:
        value = getattr(changes, key)
        if key == "knowledge_base" and value is not None:
            value = [entry.model_dump() for entry in value]
        given[key] = value
    try:
        saved = await save_org_settings(pool, user, org, given)
    except FieldErrors as exc:
        return problem(
            request,
            422,
            "nothing was saved: " + str(exc),
            errors=[{"field": k, "message": v} for k, v in exc.errors.items()],
        )
    return JSONResponse(_out(saved).model_dump(mode="json"))
