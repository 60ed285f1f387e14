"""The media clock's slot schedule: never early, nothing lost, overdue items not skipped."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from frontdesk.calls.media_schedule import SlotSchedule


def test_items_come_out_in_their_slot_and_not_before() -> None:
    schedule: SlotSchedule[str] = SlotSchedule(0.010)
    schedule.add("a", 1.000)
    schedule.add("b", 1.004)
    schedule.add("c", 1.021)
    assert schedule.pop_due(0.999) == []
    assert schedule.pop_due(1.000) == ["a"]
    assert schedule.pop_due(1.009) == []
    assert schedule.pop_due(1.010) == ["b"]
    assert schedule.pop_due(1.031) == ["c"]
    assert len(schedule) == 0


def test_overdue_items_go_to_the_next_pop() -> None:
    schedule: SlotSchedule[str] = SlotSchedule(0.010)
    schedule.add("a", 1.0)
    assert schedule.pop_due(1.0) == ["a"]
    schedule.add("late", 0.5)  # due long ago
    assert schedule.pop_due(1.01) == ["late"]


def test_a_long_stall_pops_everything_due() -> None:
    schedule: SlotSchedule[int] = SlotSchedule(0.010)
    schedule.pop_due(0.0)
    for index in range(100):
        schedule.add(index, 0.02 + index * 0.5)
    assert schedule.pop_due(1000.0) == list(range(100))


@given(st.lists(st.floats(min_value=0, max_value=100, allow_nan=False), max_size=50))
def test_every_item_popped_once_at_or_after_its_time(dues: list[float]) -> None:
    schedule: SlotSchedule[int] = SlotSchedule(0.010)
    for index, due in enumerate(dues):
        schedule.add(index, due)
    seen: list[int] = []
    now = 0.0
    while now <= 100.02:
        for index in schedule.pop_due(now):
            assert dues[index] <= now + 1e-9
            seen.append(index)
        now += 0.0073  # ticks that do not line up with the slots
    assert sorted(seen) == list(range(len(dues)))
