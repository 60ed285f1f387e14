"""`frontdesk run --demo`: two demo businesses with numbers, overrides and logins.

Owns: the demo data and the text that tells a newcomer what to call and how to log in.
Seeding is idempotent (a second `--demo` start changes nothing) and goes through the same
operator transaction as every other write.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from frontdesk.config import Settings
from frontdesk.errors import NotFound
from frontdesk.store.engine import Pool
from frontdesk.store.numbers import add_number, update_number
from frontdesk.store.orgs import create_org, get_org, set_org_config
from frontdesk.store.tx import operator_tx
from frontdesk.store.users import add_user, generate_password
from frontdesk.tenancy.config import KnowledgeEntry, TenantConfig

OPERATOR = "operator@frontdesk.example"


@dataclass(frozen=True)
class DemoNumber:
    number: str
    label: str
    override: dict[str, Any] = field(default_factory=dict)
    max_calls: int = 2


@dataclass(frozen=True)
class DemoOrg:
    slug: str
    name: str
    config: TenantConfig
    numbers: tuple[DemoNumber, ...]
    owner: str
    max_calls: int | None = None


DEMO_ORGS = (
    DemoOrg(
        "pizzeria",
        "Pizzeria Da Mario",
        TenantConfig(
            greeting="Pizzeria Da Mario, good evening!",
            language="en",
            knowledge_base=(
                KnowledgeEntry(
                    question="When are you open?", answer="Every day from 6 pm to 11 pm."
                ),
                KnowledgeEntry(question="Do you deliver?", answer="Yes, within 5 km, for 2 euros."),
            ),
            knowledge_text=(
                "We are in Via Roma 12, two minutes from the train station. "
                "Parking is free in the courtyard behind the restaurant. "
                "We accept cards and cash.\n\n"
                "Gluten-free bases are available on request, for 2 euros more."
            ),
            transfer_target="200",
        ),
        (
            DemoNumber("+390551234567", "Orders", {"greeting": "Ready to take your order"}),
            DemoNumber("+390551234568", "Info", {"greeting": "How can I help?"}),
            DemoNumber("1000", "Extension for tests", {}),
        ),
        owner="owner@pizzeria.example",
        max_calls=5,
    ),
    DemoOrg(
        "studio-rossi",
        "Studio Legale Rossi",
        TenantConfig(
            greeting="Studio Rossi, good morning.",
            language="en",
            knowledge_base=(
                KnowledgeEntry(
                    question="When is the office open?",
                    answer="Monday to Friday, from 9 am to 1 pm and from 3 pm to 6 pm.",
                ),
                KnowledgeEntry(
                    question="Where is the office?",
                    answer="Via dei Servi 21, in the centre of Florence, on the second floor.",
                ),
                KnowledgeEntry(
                    question="How much does a first consultation cost?",
                    answer="The first consultation costs 80 euros and lasts about half an hour.",
                ),
                KnowledgeEntry(
                    question="What kind of cases do you handle?",
                    answer="Family law, employment law and property disputes.",
                ),
            ),
            knowledge_text=(
                "The lawyers of the studio are Marco Rossi and Giulia Bianchi. "
                "We speak Italian, English and French.\n\n"
                "The nearest car park is Parcheggio Sant'Ambrogio, a five-minute walk away."
            ),
        ),
        (DemoNumber("+390557654321", "Front office", {}),),
        owner="owner@studio-rossi.example",
    ),
)


async def seed_demo(pool: Pool, settings: Settings) -> str:
    """Create the demo businesses, numbers and logins when missing; say what to call.

    Passwords are generated on the first seed and kept (readable by the owner only) in
    `<data_dir>/demo-logins.txt`, so every `--demo` start can show them again.
    """
    country = settings.default_country
    logins: list[tuple[str, str]] = []
    async with operator_tx(pool, actor="demo") as conn:
        for org in DEMO_ORGS:
            try:
                await get_org(conn, org.slug)
                continue  # seeded before: leave whatever the user changed since
            except NotFound:
                pass
            await create_org(conn, org.slug, org.name, org.max_calls)
            await set_org_config(conn, org.slug, org.config.model_dump(mode="json"))
            for number in org.numbers:
                await add_number(
                    conn,
                    number.number,
                    org.slug,
                    label=number.label,
                    max_concurrent_calls=number.max_calls,
                    assigned_by="demo",
                    default_country=country,
                )
                if number.override:
                    await update_number(
                        conn, number.number, default_country=country,
                        override_changes=number.override,
                    )  # fmt: skip
            password = generate_password()
            await add_user(conn, org.owner, password, org_slug=org.slug, role="owner")
            logins.append((org.owner, password))
        if logins:  # the first seed: the operator too
            password = generate_password()
            await add_user(conn, OPERATOR, password, operator=True)
            logins.append((OPERATOR, password))
    if logins:
        _save_logins(settings.data_dir, logins)
    return demo_text(settings)


def _logins_file(data_dir: Path) -> Path:
    return data_dir / "demo-logins.txt"


def _save_logins(data_dir: Path, logins: list[tuple[str, str]]) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    path = _logins_file(data_dir)
    with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), "a") as out:
        out.writelines(f"{email} {password}\n" for email, password in logins)


def demo_text(settings: Settings) -> str:
    target = f"{settings.advertised_ip}:{settings.sip_port}"
    lines = ["", "demo data:"]
    for org in DEMO_ORGS:
        lines.append(f"  {org.name} ({org.slug})")
        for number in org.numbers:
            greeting = number.override.get("greeting", org.config.greeting)
            lines.append(f"    {number.number:<15} {number.label:<20} greeting: {greeting}")
    web = f"http://{settings.http_host}:{settings.http_port}/login"
    lines.append(f"  logins (web app: {web}):")
    path = _logins_file(settings.data_dir)
    if path.is_file():
        lines += [f"    {line}" for line in path.read_text().splitlines()]
    else:
        lines.append(f"    {path} is missing: add a user with `frontdesk user add`")
    first = DEMO_ORGS[0].numbers[0].number
    lines += [
        "  call one:",
        f"    sipp -sn uac -i 127.0.0.1 -p 5070 -m 1 -s {first} {target}",
        f"    baresip: /dial sip:{first}@{target}",
    ]
    return "\n".join(lines)
