"""Structured business hours: the weekly schedule, and whether a business is open at a time.

Owns: the `BusinessHours` model (an IANA timezone, per weekday zero or more open intervals,
closed dates, and what a call gets while the business is closed: `when_closed`), the pure
decisions `hours_status` ("open at this instant? until when? when does it open next?"),
the spoken and written forms of a schedule, and `parse_hours_text`, which reads the
free-text hours of old configurations ("Mon-Fri 9:00-18:00; Sat 10-14").
Must not: read the clock or the database. Time is passed in as an aware `datetime`.

Theory of operation:
- An interval belongs to the weekday it opens on. `closes` after `opens` is a same-day
  interval; `closes` at or before `opens` runs overnight and ends on the next day
  ("20:00-02:00"; "00:00" as `closes` means midnight). `opens == closes` is refused.
- A closed date cancels the intervals that open on that local date (the tail of the night
  before still runs: a bar open Friday 20:00-02:00 serves until 02:00 on a Saturday holiday).
- Local wall times are turned into instants with `zoneinfo` and compared in UTC, so DST
  days are right: on a spring-forward day, an interval ending at 02:30 (a time that does not
  exist) ends at 03:30 local; on the fall-back day a wall time that occurs twice means its
  first occurrence (fold 0). Comparisons are always between UTC instants, never between
  two datetimes of one zone (Python compares those as wall times and ignores `fold`).
- A schedule with no interval on any day is "not set": `hours_status` says nothing
  (None), and the call is answered as if open. Closing all week is done with closed dates.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
#: what a call gets while the business is closed: the closed greeting only (the agent still
#: answers questions), the closed greeting and the caller's message taken as a ticket, or a
#: transfer at once to `closed_transfer_target`
WhenClosed = Literal["greeting", "message", "transfer"]
DEFAULT_TIMEZONE = "Europe/Rome"
DEFAULT_CLOSED_GREETING = "Thank you for calling. We are closed right now."
#: the end of the closed greeting when a message is taken: the offline responder files the
#: caller's next words as a `message` ticket when its last words end with this
LEAVE_A_MESSAGE = "Please leave your message now, and we will pass it on."
_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
_SEARCH_DAYS = 400  # how far ahead "next opening" looks (a year of closed dates and more)


def _clock(value: str) -> time:
    match = _HHMM.match(value)
    if match is None:
        raise ValueError(f"{value!r} is not a time of day (HH:MM, 00:00-23:59)")
    return time(int(match[1]), int(match[2]))


class OpenInterval(BaseModel):
    """One opening on a weekday, as wall-clock times `HH:MM` in the schedule's zone."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    opens: str
    closes: str

    @field_validator("opens", "closes")
    @classmethod
    def _hhmm(cls, value: str) -> str:
        _clock(value)
        return value

    @model_validator(mode="after")
    def _not_empty(self) -> OpenInterval:
        if self.opens == self.closes:
            raise ValueError(f"{self.opens}-{self.closes} opens and closes at the same time")
        return self

    @property
    def overnight(self) -> bool:
        return self.closes <= self.opens

    def __str__(self) -> str:
        return f"{self.opens}-{self.closes}"


class BusinessHours(BaseModel):
    """When a business answers, in its own timezone, and what callers get when it does not."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    timezone: str = Field(DEFAULT_TIMEZONE, min_length=1, max_length=64)
    weekly: dict[Weekday, tuple[OpenInterval, ...]] = Field(default_factory=dict)
    closed_dates: tuple[date, ...] = Field((), max_length=400)
    when_closed: WhenClosed = "message"
    closed_greeting: str = Field(DEFAULT_CLOSED_GREETING, min_length=1, max_length=1000)
    closed_transfer_target: str | None = Field(None, max_length=200)
    #: free text kept from an old configuration that could not be read as a schedule
    note: str = Field("", max_length=2000)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        value = value.strip()
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"{value!r} is not an IANA timezone (e.g. Europe/Rome)") from exc
        return value

    @field_validator("weekly")
    @classmethod
    def _day_intervals(
        cls, value: dict[Weekday, tuple[OpenInterval, ...]]
    ) -> dict[Weekday, tuple[OpenInterval, ...]]:
        for day, intervals in value.items():
            if len(intervals) > 6:
                raise ValueError(f"{day}: at most 6 openings a day")
            ordered = sorted(intervals, key=lambda i: i.opens)
            for before, after in itertools.pairwise(ordered):
                if before.overnight or after.opens < before.closes:
                    raise ValueError(f"{day}: {before} and {after} overlap")
            value[day] = tuple(ordered)
        return {day: value[day] for day in WEEKDAYS if value.get(day)}

    @field_validator("closed_dates")
    @classmethod
    def _dates(cls, value: tuple[date, ...]) -> tuple[date, ...]:
        return tuple(sorted(set(value)))

    @field_validator("closed_transfer_target")
    @classmethod
    def _target(cls, value: str | None) -> str | None:
        return value.strip() or None if value is not None else None

    @model_validator(mode="after")
    def _transfer_needs_target(self) -> BusinessHours:
        if self.when_closed == "transfer" and not self.closed_transfer_target:
            raise ValueError("transfer when closed needs a number or extension to transfer to")
        return self

    @property
    def is_set(self) -> bool:
        return bool(self.weekly)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


@dataclass(frozen=True)
class HoursStatus:
    """Open or closed at one instant; the instants are aware, in the schedule's zone."""

    open: bool
    closes_at: datetime | None  # while open: when this opening ends
    next_opening: datetime | None  # while closed: the next opening (None: none within a year)


def _instant(day: date, at: time, zone: ZoneInfo) -> datetime:
    """A wall time on a local date as a UTC instant (DST gaps move forward, folds take 0)."""
    return datetime.combine(day, at, tzinfo=zone).astimezone(UTC)


def _openings(hours: BusinessHours, first: date, days: int) -> list[tuple[datetime, datetime]]:
    """(start, end) UTC instants of every opening that starts on the local dates given."""
    zone = hours.zone
    closed = set(hours.closed_dates)
    found: list[tuple[datetime, datetime]] = []
    for offset in range(days):
        day = first + timedelta(days=offset)
        if day in closed:
            continue
        for interval in hours.weekly.get(WEEKDAYS[day.weekday()], ()):
            end_day = day + timedelta(days=1) if interval.overnight else day
            start = _instant(day, _clock(interval.opens), zone)
            end = _instant(end_day, _clock(interval.closes), zone)
            if end > start:  # a DST gap can swallow a tiny interval whole
                found.append((start, end))
    return found


def hours_status(hours: BusinessHours | None, at: datetime) -> HoursStatus | None:
    """Whether the business is open at instant `at` (aware); None when no schedule is set."""
    if hours is None or not hours.is_set:
        return None
    if at.tzinfo is None:
        raise ValueError("hours_status needs an aware datetime")
    now = at.astimezone(UTC)
    zone = hours.zone
    today = now.astimezone(zone).date()
    # from yesterday (an overnight opening may still run) on, in order of start: a fortnight
    # answers nearly every call; a year only when closed dates cover the next two weeks
    openings = sorted(_openings(hours, today - timedelta(days=1), 16))
    if not any(start > now for start, _ in openings):
        openings = sorted(_openings(hours, today - timedelta(days=1), _SEARCH_DAYS))
    for start, end in openings:
        if start <= now < end:
            # back-to-back openings (23:00-00:00 then 00:00-02:00) are one stretch
            until = end
            for next_start, next_end in openings:
                if next_start == until:
                    until = next_end
            return HoursStatus(True, until.astimezone(zone), None)
    upcoming = next((start for start, _ in openings if start > now), None)
    return HoursStatus(False, None, upcoming.astimezone(zone) if upcoming else None)


def _spoken_time(at: datetime) -> str:
    """ "9 a.m.", "7:30 p.m.": what a caller hears (and speech recognisers hear back right)."""
    hour = at.hour % 12 or 12
    half = "a.m." if at.hour < 12 else "p.m."
    return f"{hour}:{at.minute:02d} {half}" if at.minute else f"{hour} {half}"


def spoken_status(status: HoursStatus, at: datetime) -> str:
    """One sentence for a caller: "We're open now, until 7 p.m." / "We open again …"."""
    if status.open and status.closes_at is not None:
        return f"We're open now, until {_spoken_time(status.closes_at)}"
    if status.next_opening is None:
        return "We're closed now."
    local_now = at.astimezone(status.next_opening.tzinfo)
    days = (status.next_opening.date() - local_now.date()).days
    when = (
        "today"
        if days == 0
        else "tomorrow"
        if days == 1
        else f"on {DAY_NAMES[status.next_opening.weekday()]}"
        if days < 7
        else f"on {DAY_NAMES[status.next_opening.weekday()]} "
        f"{status.next_opening.day} {status.next_opening.strftime('%B')}"
    )
    return f"We're closed now. We open again {when} at {_spoken_time(status.next_opening)}"


def weekly_text(hours: BusinessHours) -> str:
    """The schedule in one line per day, for the model's instructions and for pages."""
    lines = []
    for day, name in zip(WEEKDAYS, DAY_NAMES, strict=True):
        intervals = hours.weekly.get(day, ())
        lines.append(f"{name}: {', '.join(map(str, intervals)) if intervals else 'closed'}")
    if hours.closed_dates:
        lines.append("Closed on: " + ", ".join(d.isoformat() for d in hours.closed_dates))
    lines.append(f"(times in {hours.timezone})")
    return "\n".join(lines)


# --- reading old free text --------------------------------------------------------------

_DAY = r"(mon|tue|wed|thu|fri|sat|sun)[a-z]*\.?"
_DAYS = re.compile(rf"^{_DAY}(?:\s*(?:-|–|to)\s*{_DAY})?$")
_TIME = r"(\d{1,2})(?:[:.](\d{2}))?\s*(am|pm)?"
_RANGE = re.compile(rf"^{_TIME}\s*(?:-|–|to)\s*{_TIME}$")
_SEGMENT = re.compile(r"^(?P<days>[a-z.,\s–-]+?)\s*:?\s+(?P<times>\d.*|closed)$")


def _hhmm(hour: str, minute: str | None, half: str | None) -> str:
    h, m = int(hour), int(minute or 0)
    if half == "pm" and h < 12:
        h += 12
    elif half == "am" and h == 12:
        h = 0
    if h == 24 and m == 0:
        h = 0  # "24:00": midnight
    if not (0 <= h <= 23 and 0 <= m <= 59):
        raise ValueError("no such time")
    return f"{h:02d}:{m:02d}"


def _day_set(text: str) -> list[str]:
    days: list[str] = []
    for part in re.split(r"\s*(?:,|&|\band\b)\s*", text.strip()):
        match = _DAYS.match(part.strip())
        if match is None:
            raise ValueError(part)
        first = WEEKDAYS.index(match[1])
        last = WEEKDAYS.index(match[2]) if match[2] else first
        span = (last - first) % 7
        days.extend(WEEKDAYS[(first + i) % 7] for i in range(span + 1))
    return days


def parse_hours_text(text: str) -> BusinessHours | None:
    """The schedule in an old free-text `business_hours` value, or None when it is not one.

    Read: segments separated by `;` or new lines, each "DAYS TIMES": days as English names
    or their first three letters, alone, as ranges (`Mon-Fri`, `mon to fri`) or lists
    (`Sat, Sun`); times as `9-18`, `9:00-18:00`, `9.30-13`, `9am-1pm`, several joined by
    `,` or `and`, or `closed`. Anything else (other languages, "by appointment") is not
    guessed at: the caller keeps the text as a note.
    """
    weekly: dict[str, list[dict[str, str]]] = {}
    segments = [s.strip() for s in re.split(r"[;\n]+", text.lower()) if s.strip()]
    if not segments:
        return None
    try:
        for segment in segments:
            match = _SEGMENT.match(segment)
            if match is None:
                return None
            days = _day_set(match["days"].rstrip(":, "))
            ranges: list[dict[str, str]] = []
            if match["times"] != "closed":
                for part in re.split(r"\s*(?:,|\band\b|&)\s*", match["times"].strip()):
                    found = _RANGE.match(part)
                    if found is None:
                        return None
                    ranges.append(
                        {
                            "opens": _hhmm(found[1], found[2], found[3]),
                            "closes": _hhmm(found[4], found[5], found[6]),
                        }
                    )
            for day in days:
                weekly.setdefault(day, []).extend(ranges)
        hours = BusinessHours.model_validate({"weekly": weekly})
    except ValueError:  # pydantic's ValidationError is one
        return None
    return hours if hours.is_set else None


def hours_from_stored(value: Any) -> Any:
    """A stored or submitted `business_hours` value: old free text becomes a schedule or note."""
    if isinstance(value, str):
        if not value.strip():
            return None
        parsed = parse_hours_text(value)
        return parsed if parsed is not None else BusinessHours(note=value.strip()[:2000])
    return value


def known_timezones() -> list[str]:
    """The IANA zone names this machine knows, sorted (for the settings page's list)."""
    return sorted(z for z in available_timezones() if "/" in z and not z.startswith("Etc/"))
