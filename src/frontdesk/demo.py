"""`frontdesk run --demo`: two demo businesses with numbers, overrides and logins.

Owns: the demo data and the text that tells a newcomer what to call and how to log in.
Seeding is idempotent (a second `--demo` start changes nothing) and goes through the same
operator transaction as every other write.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from psycopg.types.json import Jsonb

from frontdesk.config import Settings
from frontdesk.store.engine import Pool
from frontdesk.store.tx import operator_tx
from frontdesk.tenancy.config import KnowledgeEntry, TenantConfig, validate_override


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
        TenantConfig(greeting="Studio Rossi, good morning.", language="en"),
        (DemoNumber("+390557654321", "Front office", {}),),
        owner="owner@studio-rossi.example",
    ),
)


async def seed_demo(pool: Pool, settings: Settings) -> str:
    """Create the demo organizations and numbers when missing; return what to tell the user."""
    async with operator_tx(pool, actor="demo") as conn:
        for org in DEMO_ORGS:
            cursor = await conn.execute(
                "INSERT INTO organizations (slug, name, max_concurrent_calls) VALUES (%s, %s, %s)"
                " ON CONFLICT (slug) DO NOTHING RETURNING id",
                (org.slug, org.name, org.max_calls),
            )
            created = await cursor.fetchone()
            if created is None:
                continue  # seeded before: leave whatever the user changed since
            org_id = created[0]
            await conn.execute(
                "INSERT INTO agent_instances (organization_id, config) VALUES (%s, %s)",
                (org_id, Jsonb(org.config.model_dump(mode="json"))),
            )
            for number in org.numbers:
                await conn.execute(
                    "INSERT INTO sip_numbers (phone_number, organization_id, label,"
                    " config_override, max_concurrent_calls, assigned_by)"
                    " VALUES (%s, %s, %s, %s, %s, 'demo') ON CONFLICT (phone_number) DO NOTHING",
                    (
                        number.number,
                        org_id,
                        number.label,
                        Jsonb(validate_override(number.override)),
                        number.max_calls,
                    ),
                )
    return demo_text(settings)


def demo_text(settings: Settings) -> str:
    target = f"{settings.advertised_ip}:{settings.sip_port}"
    lines = ["", "demo data:"]
    for org in DEMO_ORGS:
        lines.append(f"  {org.name} ({org.slug})")
        for number in org.numbers:
            greeting = number.override.get("greeting", org.config.greeting)
            lines.append(f"    {number.number:<15} {number.label:<20} greeting: {greeting}")
    first = DEMO_ORGS[0].numbers[0].number
    lines += [
        "  call one:",
        f"    sipp -sn uac -i 127.0.0.1 -p 5070 -m 1 -s {first} {target}",
        f"    baresip: /dial sip:{first}@{target}",
    ]
    return "\n".join(lines)
