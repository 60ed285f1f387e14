"""The organization settings page (`/organization`): the agent, its voice, its knowledge base.

Owns: the page (members view it, owners and operators edit; operators name the
organization with `?org=SLUG`) and its forms, each a plain HTML form that works without
script and carries the CSRF token:
- the agent: greeting, language, voice (with a sample played by an <audio> element from
  `/organization/voice-sample`), system prompt (with the hint that the offline responder
  does not use it), transfer target;
- the knowledge base: every FAQ entry with its position (renumber to reorder), a delete
  box, one empty row to add an entry, and the free knowledge text; saved as a whole;
- import: a pasted text or an uploaded .txt/.md/.csv/.pdf is read (kb_import.py) and
  shown as a preview; only the preview's confirm button saves, appending its entries.
A wrong field re-renders the form with what was typed and the error next to the field;
nothing is saved (org_settings.py writes in one transaction).

Must not: write SQL or decide visibility (org_settings.py and RLS do), or show free text
from the query string (banners come from fixed keys, words.BANNERS).
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import FormData, UploadFile

from frontdesk.web.auth import CurrentUser, PoolDep, SettingsDep, csrf_protect
from frontdesk.web.kb_import import MAX_UPLOAD, ImportPreview, ImportProblem, read_text, read_upload
from frontdesk.web.org_settings import (
    TEXT_FIELDS,
    OrgSettings,
    append_knowledge,
    installed_voices,
    load_org_settings,
    save_org_settings,
)
from frontdesk.web.service import FieldErrors
from frontdesk.web.templating import render
from frontdesk.web.voice_sample import SampleUnavailable, voice_sample
from frontdesk.web.words import banner

router = APIRouter(include_in_schema=False, dependencies=[Depends(csrf_protect)])

OrgQuery = Annotated[str | None, Query(max_length=63, pattern=r"^[a-z0-9-]+$")]
FIELD_MAX = 210_000  # above the longest TenantConfig text (knowledge_text, 200,000)
_KB_ERROR = re.compile(r"^knowledge_base\.(\d+)\.(\w+)$")


def _here(settings: OrgSettings, user: CurrentUser, done: str) -> str:
    query = f"org={settings.slug}&" if user.is_operator else ""
    return f"/organization?{query}done={done}"


def _page(
    request: Request,
    settings: OrgSettings,
    *,
    values: dict[str, str] | None = None,
    rows: list[dict[str, str]] | None = None,
    errors: dict[str, str] | None = None,
    preview: ImportPreview | None = None,
    import_error: str | None = None,
    done: str | None = None,
    status_code: int = 200,
) -> Response:
    config = settings.config
    shown = values or {
        key: str(getattr(config, key) or "") for key in (*TEXT_FIELDS, "knowledge_text")
    }
    entries = rows
    if entries is None:
        entries = [
            {"position": str(i + 1), "question": e.question, "answer": e.answer, "error": ""}
            for i, e in enumerate(config.knowledge_base)
        ]
    return render(
        request,
        "organization/settings.html",
        {
            "org": settings,
            "org_query": f"?org={settings.slug}",
            "values": shown,
            "rows": entries,
            "errors": errors or {},
            "voices": installed_voices(config.tts),
            "cloud_voice": "" if config.tts == "offline" else config.tts,
            "preview": preview,
            "import_error": import_error,
            "banner": banner(done),
        },
        status_code=status_code,
    )


@router.get("/organization")
async def org_page(
    request: Request,
    user: CurrentUser,
    pool: PoolDep,
    org: OrgQuery = None,
    done: Annotated[str | None, Query(max_length=40)] = None,
) -> Response:
    return _page(request, await load_org_settings(pool, user, org), done=done)


@router.post("/organization")
async def org_save(
    request: Request,
    user: CurrentUser,
    pool: PoolDep,
    org: OrgQuery = None,
    greeting: Annotated[str, Form(max_length=FIELD_MAX)] = "",
    language: Annotated[str, Form(max_length=FIELD_MAX)] = "",
    voice: Annotated[str, Form(max_length=FIELD_MAX)] = "",
    system_prompt: Annotated[str, Form(max_length=FIELD_MAX)] = "",
    transfer_target: Annotated[str, Form(max_length=FIELD_MAX)] = "",
) -> Response:
    """Save the agent's fields together; an empty transfer target means none."""
    typed = {
        "greeting": greeting.strip(),
        "language": language.strip(),
        "voice": voice.strip(),
        "system_prompt": system_prompt.strip(),
        "transfer_target": transfer_target.strip(),
    }
    changes: dict[str, Any] = {**typed, "transfer_target": typed["transfer_target"] or None}
    try:
        saved = await save_org_settings(pool, user, org, changes)
    except FieldErrors as exc:
        current = await load_org_settings(pool, user, org)
        values = {**typed, "knowledge_text": current.config.knowledge_text}
        return _page(request, current, values=values, errors=exc.errors, status_code=422)
    return RedirectResponse(_here(saved, user, "settings-saved"), status_code=303)


def _knowledge_rows(form: FormData) -> tuple[list[dict[str, str]], dict[str, str]]:
    """The editor's rows as typed (blank and deleted rows dropped), and position errors."""
    questions = [str(v) for v in form.getlist("question")]
    answers = [str(v) for v in form.getlist("answer")]
    positions = [str(v) for v in form.getlist("position")]
    deleted = {str(v) for v in form.getlist("delete")}
    if not len(questions) == len(answers) == len(positions):
        raise HTTPException(400, "the knowledge base form is incomplete: reload the page")
    rows: list[dict[str, str]] = []
    errors: dict[str, str] = {}
    for index, (question, answer, position) in enumerate(
        zip(questions, answers, positions, strict=True)
    ):
        if str(index) in deleted or not (question.strip() or answer.strip()):
            continue
        row = {"position": position.strip(), "question": question.strip(), "answer": answer}
        row["answer"] = answer.strip()
        row["error"] = ""
        if row["position"] and not row["position"].isdigit():
            errors[f"row.{len(rows)}.position"] = "a position is a whole number"
        rows.append(row)
    return rows, errors


@router.post("/organization/knowledge")
async def knowledge_save(
    request: Request, user: CurrentUser, pool: PoolDep, org: OrgQuery = None
) -> Response:
    """Save the whole knowledge base: entries in position order, and the free text."""
    form = await request.form(max_part_size=FIELD_MAX)
    rows, errors = _knowledge_rows(form)
    text = str(form.get("knowledge_text", ""))
    if len(text) > FIELD_MAX:
        raise HTTPException(413, "the knowledge text is too long")
    # positions order the rows; a row without one keeps its place after the numbered ones
    order = sorted(
        range(len(rows)),
        key=lambda i: (int(rows[i]["position"]) if rows[i]["position"].isdigit() else 10**9, i),
    )
    entries = [{"question": rows[i]["question"], "answer": rows[i]["answer"]} for i in order]
    if not errors:
        try:
            saved = await save_org_settings(
                pool, user, org, {"knowledge_base": entries, "knowledge_text": text}
            )
        except FieldErrors as exc:
            for key, message in exc.errors.items():
                match = _KB_ERROR.match(key)
                if match:  # the sorted index back to the row as typed
                    errors[f"row.{order[int(match.group(1))]}.{match.group(2)}"] = message
                else:
                    errors[key] = message
        else:
            return RedirectResponse(_here(saved, user, "knowledge-saved"), status_code=303)
    for key, message in errors.items():
        if key.startswith("row."):
            _, index, field = key.split(".")
            rows[int(index)]["error"] += f"{field}: {message} "
    current = await load_org_settings(pool, user, org)
    values = {key: str(getattr(current.config, key) or "") for key in TEXT_FIELDS}
    return _page(
        request,
        current,
        values={**values, "knowledge_text": text},
        rows=rows,
        errors={"knowledge": "Nothing was saved: correct the entries marked below.", **errors},
        status_code=422,
    )


@router.post("/organization/knowledge/import")
async def knowledge_import_preview(
    request: Request, user: CurrentUser, pool: PoolDep, org: OrgQuery = None
) -> Response:
    """Read a pasted text or an uploaded file and show what would be added (saves nothing)."""
    current = await load_org_settings(pool, user, org)
    if not current.editable:
        raise HTTPException(403, "only an owner of the organization may change its settings")
    form = await request.form(max_part_size=MAX_UPLOAD + 1)
    upload = form.get("file")
    pasted = str(form.get("pasted", ""))
    try:
        if isinstance(upload, UploadFile) and upload.filename:
            preview = read_upload(upload.filename, await upload.read(MAX_UPLOAD + 1))
        elif pasted.strip():
            preview = read_text(pasted)
        else:
            raise ImportProblem("paste a text or choose a file")
    except ImportProblem as exc:
        return _page(request, current, import_error=str(exc), status_code=422)
    finally:
        await form.close()  # the upload's spooled temporary file
    return _page(request, current, preview=preview)


@router.post("/organization/knowledge/import/confirm")
async def knowledge_import_confirm(
    request: Request, user: CurrentUser, pool: PoolDep, org: OrgQuery = None
) -> Response:
    """Append the previewed entries (sent back as hidden fields) in one transaction."""
    form = await request.form(max_part_size=FIELD_MAX)
    questions = [str(v) for v in form.getlist("question")]
    answers = [str(v) for v in form.getlist("answer")]
    if len(questions) != len(answers):
        raise HTTPException(400, "the preview form is incomplete: import again")
    text = str(form.get("text", "")) if form.get("add_text") else ""
    try:
        saved = await append_knowledge(
            pool, user, org, list(zip(questions, answers, strict=True)), text
        )
    except FieldErrors as exc:
        current = await load_org_settings(pool, user, org)
        message = "; ".join(f"{k}: {v}" for k, v in exc.errors.items())
        return _page(
            request, current, import_error=f"nothing was added: {message}", status_code=422
        )
    return RedirectResponse(_here(saved, user, "knowledge-imported"), status_code=303)


@router.get("/organization/voice-sample")
async def org_voice_sample(
    user: CurrentUser, pool: PoolDep, node: SettingsDep, org: OrgQuery = None
) -> Response:
    """The saved greeting in the organization's voice (WAV), for the page's <audio>."""
    settings = await load_org_settings(pool, user, org)
    config = settings.config
    try:
        wav = await voice_sample(config.greeting, config, node)
    except SampleUnavailable as exc:
        raise HTTPException(409, str(exc)) from exc
    return Response(wav, media_type="audio/wav", headers={"Cache-Control": "no-store"})
