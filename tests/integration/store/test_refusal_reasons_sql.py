"""The reasons the database's admission function returns are `RefusalReason` names.

Read back from the database itself (`pg_proc`), not from a migration file, so this holds
whatever migration defines the function now: every name the function can return besides
'admitted' is exactly the set the store maps (`ADMISSION_VERDICTS`), and each is a value
of the one enum.
"""

from __future__ import annotations

import re

import pytest

from frontdesk.calls.decision import RefusalReason
from frontdesk.store.admission import ADMISSION_VERDICTS
from frontdesk.store.engine import Pool
from frontdesk.store.tx import operator_tx

pytestmark = pytest.mark.integration

# a verdict is a quoted kebab-case word: 'limit-number', 'admitted' (not 'in-progress',
# which the function writes as a session outcome, and not SQL text)
_LITERAL = re.compile(r"'([a-z]+(?:-[a-z]+)*)'")
_NOT_VERDICTS = {"in-progress"}


async def _admission_source(pool: Pool) -> str:
    async with operator_tx(pool) as conn:
        cursor = await conn.execute(
            b"SELECT string_agg(prosrc, E'\\n') FROM pg_proc WHERE proname LIKE 'frontdesk_admit%'"
        )
        row = await cursor.fetchone()
    assert row is not None and row[0], "no frontdesk_admit function in the database"
    return str(row[0])


def sql_verdicts(source: str) -> set[str]:
    # comments mention reasons in prose; only code counts
    code = "\n".join(line.split("--", 1)[0] for line in source.splitlines())
    return set(_LITERAL.findall(code)) - _NOT_VERDICTS - {"admitted"}


async def test_sql_reasons_equal_the_enum_names_the_store_maps(pool: Pool) -> None:
    verdicts = sql_verdicts(await _admission_source(pool))
    assert verdicts, "the admission function returns no refusal names"
    assert verdicts == set(ADMISSION_VERDICTS)
    assert verdicts <= {reason.value for reason in RefusalReason}


def test_the_reader_sees_a_name_that_is_not_in_the_enum() -> None:
    source = "BEGIN IF x THEN RETURN 'limit-galaxy'; END IF; RETURN 'admitted'; -- 'limit-org'"
    assert sql_verdicts(source) == {"limit-galaxy"}
