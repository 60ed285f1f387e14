"""The schedule decisions of frontdesk.tenancy.hours: open now, next opening, DST, overnight."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from frontdesk.agent.spec import answer_with_hours
from frontdesk.tenancy.config import TenantConfig
from frontdesk.tenancy.hours import (
    LEAVE_A_MESSAGE,
    BusinessHours,
    hours_status,
    parse_hours_text,
    spoken_status,
)

ROME = ZoneInfo("Europe/Rome")


def rome(*args: int) -> datetime:
    return datetime(*args, tzinfo=ROME)  # type: ignore[misc]


def hours(**weekly: list[str]) -> BusinessHours:
    return BusinessHours.model_validate(
        {
            "weekly": {
                day: [{"opens": r.split("-")[0], "closes": r.split("-")[1]} for r in ranges]
                for day, ranges in weekly.items()
            }
        }
    )


SHOP = hours(mon=["09:00-13:00", "15:00-19:00"], tue=["09:00-13:00"], sat=["10:00-14:00"])


def test_open_and_closed_within_a_day() -> None:
    monday = date(2026, 12, 7)
    assert monday.weekday() == 0
    status = hours_status(SHOP, rome(2026, 12, 7, 9, 0))
    assert status is not None and status.open and status.closes_at == rome(2026, 12, 7, 13, 0)
    lunch = hours_status(SHOP, rome(2026, 12, 7, 13, 0))  # closes at 13:00 sharp
    assert lunch is not None and not lunch.open
    assert lunch.next_opening == rome(2026, 12, 7, 15, 0)
    night = hours_status(SHOP, rome(2026, 12, 7, 23, 0))
    assert night is not None and night.next_opening == rome(2026, 12, 8, 9, 0)


def test_next_opening_skips_closed_days_and_dates() -> None:
    after_sat = hours_status(SHOP, rome(2026, 12, 12, 15, 0))  # Saturday afternoon
    assert after_sat is not None and after_sat.next_opening == rome(2026, 12, 14, 9, 0)
    holiday = SHOP.model_copy(update={"closed_dates": (date(2026, 12, 14),)})
    status = hours_status(holiday, rome(2026, 12, 12, 15, 0))
    assert status is not None and status.next_opening == rome(2026, 12, 15, 9, 0)
    closed_today = hours_status(holiday, rome(2026, 12, 14, 10, 0))
    assert closed_today is not None and not closed_today.open


def test_overnight_interval_runs_into_the_next_day() -> None:
    bar = hours(fri=["20:00-02:00"], sat=["20:00-00:00"])
    friday_late = hours_status(bar, rome(2026, 12, 11, 23, 30))
    assert friday_late is not None and friday_late.open
    assert friday_late.closes_at == rome(2026, 12, 12, 2, 0)
    saturday_early = hours_status(bar, rome(2026, 12, 12, 1, 59))
    assert saturday_early is not None and saturday_early.open
    saturday_after = hours_status(bar, rome(2026, 12, 12, 2, 0))
    assert saturday_after is not None and not saturday_after.open
    assert saturday_after.next_opening == rome(2026, 12, 12, 20, 0)
    # a closed Saturday cancels Saturday's opening, not the tail of Friday night
    holiday = bar.model_copy(update={"closed_dates": (date(2026, 12, 12),)})
    tail = hours_status(holiday, rome(2026, 12, 12, 1, 0))
    assert tail is not None and tail.open
    evening = hours_status(holiday, rome(2026, 12, 12, 21, 0))
    assert evening is not None and not evening.open


def test_dst_spring_forward_and_fall_back() -> None:
    # 29 March 2026: Rome jumps from 02:00 to 03:00 (CET +1 -> CEST +2); a Sunday
    night = hours(sat=["22:00-06:00"], sun=["09:00-12:00"])
    end = hours_status(night, rome(2026, 3, 29, 1, 0))
    assert end is not None and end.open
    assert end.closes_at is not None
    # 22:00 CET to 06:00 CEST is seven hours, not eight
    assert end.closes_at.astimezone(UTC) == datetime(2026, 3, 29, 4, 0, tzinfo=UTC)
    opening = hours_status(night, datetime(2026, 3, 29, 6, 30, tzinfo=UTC))  # 08:30 CEST
    assert opening is not None and not opening.open
    assert opening.next_opening is not None
    assert opening.next_opening.astimezone(UTC) == datetime(2026, 3, 29, 7, 0, tzinfo=UTC)
    # 25 October 2026: 03:00 CEST -> 02:00 CET; 22:00-06:00 is nine hours that night
    october = hours(sat=["22:00-06:00"])
    start = datetime(2026, 10, 24, 20, 0, tzinfo=UTC)  # 22:00 CEST
    status = hours_status(october, start)
    assert status is not None and status.open and status.closes_at is not None
    assert (status.closes_at.astimezone(UTC) - start).total_seconds() == 9 * 3600
    # a UTC instant inside the repeated hour is still open
    repeated = hours_status(october, datetime(2026, 10, 25, 1, 30, tzinfo=UTC))
    assert repeated is not None and repeated.open


def test_interval_ending_in_the_spring_gap() -> None:
    gap = hours(sun=["01:00-02:30"])  # 02:30 does not exist on 29 March 2026
    status = hours_status(gap, datetime(2026, 3, 29, 0, 45, tzinfo=UTC))  # 01:45 CET
    assert status is not None and status.open and status.closes_at is not None
    assert status.closes_at.astimezone(UTC) == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)


def test_no_schedule_means_no_decision() -> None:
    assert hours_status(None, rome(2026, 12, 7, 9, 0)) is None
    assert hours_status(BusinessHours(note="by appointment"), rome(2026, 12, 7, 9, 0)) is None
    with pytest.raises(ValueError, match="aware"):
        hours_status(SHOP, datetime(2026, 12, 7, 9, 0))


@pytest.mark.parametrize(
    "bad",
    [
        {"timezone": "Mars/Olympus"},
        {"weekly": {"mon": [{"opens": "25:00", "closes": "26:00"}]}},
        {"weekly": {"mon": [{"opens": "09:00", "closes": "09:00"}]}},
        {
            "weekly": {
                "mon": [
                    {"opens": "09:00", "closes": "13:00"},
                    {"opens": "12:00", "closes": "14:00"},
                ]
            }
        },
        {"weekly": {"funday": [{"opens": "09:00", "closes": "13:00"}]}},
        {"when_closed": "transfer"},
    ],
)
def test_bad_schedules_are_refused(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        BusinessHours.model_validate(bad)


@pytest.mark.parametrize(
    ("text", "monday", "saturday", "sunday"),
    [
        ("Mon-Fri 9:00-18:00; Sat 10-14", ["09:00-18:00"], ["10:00-14:00"], []),
        (
            "mon to fri 9-13, 15.30-19\nsaturday 9am-1pm",
            ["09:00-13:00", "15:30-19:00"],
            ["09:00-13:00"],
            [],
        ),
        ("Fri-Mon: 18-24", ["18:00-00:00"], ["18:00-00:00"], ["18:00-00:00"]),
    ],
)
def test_old_free_text_is_read(
    text: str, monday: list[str], saturday: list[str], sunday: list[str]
) -> None:
    parsed = parse_hours_text(text)
    assert parsed is not None
    assert [str(i) for i in parsed.weekly.get("mon", ())] == monday
    assert [str(i) for i in parsed.weekly.get("sat", ())] == saturday
    assert [str(i) for i in parsed.weekly.get("sun", ())] == sunday


def test_unreadable_text_is_kept_as_a_note() -> None:
    assert parse_hours_text("Tutti i giorni dalle 9 alle 18") is None
    config = TenantConfig.model_validate({"business_hours": "by appointment only"})
    assert config.business_hours is not None
    assert config.business_hours.note == "by appointment only" and not config.business_hours.is_set
    read = TenantConfig.model_validate({"business_hours": "Mon-Sun 12-15"})
    assert read.business_hours is not None and len(read.business_hours.weekly) == 7


def test_closed_call_gets_the_closed_greeting_and_a_message_prompt() -> None:
    config = TenantConfig(greeting="Pizzeria, hello!", business_hours=SHOP)
    closed, facts = answer_with_hours(config, rome(2026, 12, 7, 20, 0))
    assert facts is not None and not facts.open
    assert closed.greeting.startswith("Thank you for calling. We are closed right now.")
    assert "We open again tomorrow at 9 a.m." in closed.greeting
    assert closed.greeting.endswith(LEAVE_A_MESSAGE)
    assert "are you open" in closed.knowledge_base[0].question.lower()
    open_, facts = answer_with_hours(config, rome(2026, 12, 7, 10, 0))
    assert facts is not None and facts.open and open_.greeting == "Pizzeria, hello!"
    assert open_.knowledge_base[0].answer == "We're open now, until 1 p.m."


def test_closed_transfer_replaces_the_target() -> None:
    sends = SHOP.model_copy(update={"when_closed": "transfer", "closed_transfer_target": "300"})
    config = TenantConfig(transfer_target="200", business_hours=sends)
    closed, _ = answer_with_hours(config, rome(2026, 12, 7, 20, 0))
    assert closed.transfer_target == "300"
    opened, _ = answer_with_hours(config, rome(2026, 12, 7, 10, 0))
    assert opened.transfer_target == "200"


def test_spoken_status_far_ahead() -> None:
    only_january = SHOP.model_copy(
        update={"closed_dates": tuple(date(2026, 12, d) for d in range(1, 32))}
    )
    at = rome(2026, 12, 7, 20, 0)
    status = hours_status(only_january, at)
    assert status is not None
    assert (
        spoken_status(status, at)
        == "We're closed now. We open again on Saturday 2 January at 10 a.m."
    )
