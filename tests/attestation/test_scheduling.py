"""The test-centre scheduler: slots cut from opening hours in each centre's time zone; schedules
that never overfill a slot, place everyone when the seats allow and as many as there are seats
when not, and are lexicographically best — checked against every schedule of small instances;
confirmed assignments kept on rescheduling; bad inputs refused, naming the employee."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, time, timedelta

import numpy as np
import pytest
from scipy.sparse import csr_array
from scipy.sparse.csgraph import maximum_flow

import qabilet.attestation.scheduling as scheduling
from qabilet.attestation.organisation import TestCentre
from qabilet.attestation.scheduling import Assignment, Request, Seat, schedule, slots_of

MONDAY = date(2017, 3, 6)
NAME = {"en": "Centre"}
WEEKDAYS = {d: (time(9), time(18)) for d in ("mon", "tue", "wed", "thu", "fri")}


def centre(cid: str, seats=(("R1", 2),), zone: str = "Asia/Almaty", hours=None) -> TestCentre:
    return TestCentre(id=cid, unit=f"U-{cid}", name=NAME, timezone=zone,
                      rooms=[{"id": r, "seats": n} for r, n in seats],
                      hours=WEEKDAYS if hours is None else hours)


# --- slots ----------------------------------------------------------------------------------------

def test_slots_lie_within_opening_hours_in_each_centres_time_zone():
    hours = {"mon": (time(9), time(18)), "tue": (time(9), time(13)), "sat": (time(10), time(14))}
    aqtobe = centre("TC-AKT", zone="Asia/Aqtobe", hours=hours)
    almaty = centre("TC-ALA", seats=(("R1", 5), ("R2", 3)), zone="Asia/Almaty", hours=hours)
    week = (MONDAY, MONDAY + timedelta(days=6))  # Monday to Sunday
    for c, utc_offset in ((aqtobe, 5), (almaty, 6)):  # Almaty was UTC+6 until 2024, Aqtobe +5
        slots = slots_of(c, *week)
        days = Counter(s.start.date() for s in slots)
        # Monday 09, 11, 13, 15 (17:00 would close at 19:00); Tuesday 09, 11; Saturday 10, 12;
        # Wednesday–Friday and Sunday closed
        assert days == {MONDAY: 4, MONDAY + timedelta(days=1): 2, MONDAY + timedelta(days=5): 2}
        for s in slots:
            opens, closes = hours[("mon", "tue", "wed", "thu", "fri", "sat", "sun")[s.start.weekday()]]
            assert s.start.tzinfo.key == c.timezone and s.end.tzinfo.key == c.timezone
            assert s.start.utcoffset() == timedelta(hours=utc_offset)
            assert opens <= s.start.time() and s.end.time() <= closes
            assert s.end - s.start == timedelta(hours=2) and s.capacity == c.seats
            assert s.id == f"{c.id}/{s.start:%Y-%m-%dT%H:%M}" and s.centre is c
        assert [s.id for s in slots][:2] == [f"{c.id}/2017-03-06T09:00", f"{c.id}/2017-03-06T11:00"]
    # the same local hour is a different instant in the two zones
    first_akt, first_ala = slots_of(aqtobe, *week)[0], slots_of(almaty, *week)[0]
    assert first_akt.start.astimezone(UTC) == datetime(2017, 3, 6, 4, tzinfo=UTC)
    assert first_ala.start.astimezone(UTC) == datetime(2017, 3, 6, 3, tzinfo=UTC)
    assert almaty.seats == 8 and first_ala.capacity == 8


def test_slots_with_a_step_overlap_and_never_run_past_closing():
    c = centre("TC-1", hours={"mon": (time(9), time(12, 30))})
    slots = slots_of(c, MONDAY, MONDAY, length=timedelta(minutes=90), step=timedelta(hours=1))
    assert [s.start.strftime("%H:%M") for s in slots] == ["09:00", "10:00", "11:00"]
    assert slots[-1].end.time() == time(12, 30)
    assert slots_of(c, MONDAY + timedelta(days=1), MONDAY + timedelta(days=6)) == []  # closed
    with pytest.raises(ValueError, match="length"):
        slots_of(c, MONDAY, MONDAY, length=timedelta(0))
    with pytest.raises(ValueError, match="before"):
        slots_of(c, MONDAY, MONDAY - timedelta(days=1))


def test_a_slot_in_a_daylight_saving_gap_is_left_out():
    # Berlin's clocks went from 02:00 to 03:00 on 26 March 2017
    c = centre("TC-BER", zone="Europe/Berlin", hours={"sun": (time(1), time(5))})
    slots = slots_of(c, date(2017, 3, 26), date(2017, 3, 26), length=timedelta(hours=1))
    assert [s.start.strftime("%H:%M") for s in slots] == ["03:00", "04:00"]
    assert slots[0].start.utcoffset() == timedelta(hours=2)


# --- the brute force ------------------------------------------------------------------------------

def every_schedule(slots, requests, anywhere):
    """Every feasible schedule of a small instance, as arrays: the slot of each (−1: none)."""
    options = [[-1] + [j for j, s in enumerate(slots) if s.centre.id in r.centres
                       and (anywhere or s.id in r.proposals)] for r in requests]
    grid = np.stack(np.meshgrid(*[np.arange(len(o)) for o in options], indexing="ij"), -1)
    grid = grid.reshape(-1, len(requests))
    chosen = np.stack([np.asarray(o)[grid[:, e]] for e, o in enumerate(options)], 1)
    used = np.stack([(chosen == j).sum(1) for j in range(len(slots))], 1)
    return chosen[np.all(used <= [s.capacity for s in slots], axis=1)]


def criteria(slots, requests, chosen, proposals_first=False):
    """Per schedule: placed, [in proposals], 1st, 2nd, 3rd choices, −(centre positions)."""
    ids = [s.id for s in slots]
    rank = np.array([[r.proposals.index(i) + 1 if i in r.proposals else 0 for i in ids] + [0]
                     for r in requests])  # the last column: unplaced
    where = np.array([[r.centres.index(s.centre.id) if s.centre.id in r.centres else 0
                       for s in slots] + [0] for r in requests])
    rows = np.arange(len(requests))
    ranks, far = rank[rows, chosen], where[rows, chosen] * (chosen >= 0) * (rank[rows, chosen] == 0)
    columns = [(chosen >= 0).sum(1)]
    if proposals_first:
        columns.append((ranks > 0).sum(1))
    columns += [(ranks == k).sum(1) for k in (1, 2, 3)] + [-far.sum(1)]
    return np.stack(columns, 1)


def achieved(slots, requests, result, proposals_first=False):
    index = {s.id: j for j, s in enumerate(slots)}
    chosen = np.array([[index[a.slot.id] if a.slot else -1 for a in result.assignments]])
    return criteria(slots, requests, chosen, proposals_first)[0]


def tiny_instance(rng):
    """Six employees, four slots of capacity 1–2 at two centres."""
    a = centre("TC-A", seats=(("R1", 1), ("R2", 1)), hours={"mon": (time(9), time(13))})
    b = centre("TC-B", seats=(("R1", 2),), zone="Asia/Aqtobe", hours={"mon": (time(9), time(13))})
    slots = slots_of(a, MONDAY, MONDAY) + slots_of(b, MONDAY, MONDAY)
    slots = [scheduling.Slot(s.centre, s.id, s.start, s.end, int(rng.integers(1, 3)))
             for s in slots]
    requests = []
    for e in range(6):
        centres = [["TC-A"], ["TC-B"], ["TC-B", "TC-A"], ["TC-A", "TC-B"]][rng.integers(4)]
        pool = [s.id for s in slots if s.centre.id in centres]
        k = int(rng.integers(0, min(3, len(pool)) + 1))
        requests.append(Request(f"E{e}", tuple(rng.choice(pool, k, replace=False)), tuple(centres)))
    return slots, requests


# --- schedules ------------------------------------------------------------------------------------

@pytest.mark.parametrize("anywhere", [True, False])
def test_the_schedule_is_lexicographically_best_against_every_schedule(anywhere):
    """The most placed, then the most 1st, 2nd, 3rd choices, then the nearest centres; and the
    first-choice optimum — both against the enumeration of every feasible schedule."""
    rng = np.random.default_rng(7)
    seen_short = seen_first_short = 0
    for _ in range(40):
        slots, requests = tiny_instance(rng)
        every = every_schedule(slots, requests, anywhere)
        for proposals_first in (False, True):
            table = criteria(slots, requests, every, proposals_first)
            best = table[np.lexsort(table.T[::-1])[-1]]
            result = schedule(slots, requests, placed_anywhere=anywhere,
                              proposals_first=proposals_first)
            got = achieved(slots, requests, result, proposals_first)
            assert got.tolist() == best.tolist()
            most = table[:, 0].max()
            assert result.placed == most and result.unplaced == len(requests) - most
            plain = criteria(slots, requests, every)
            assert result.first_choice_optimum == plain[plain[:, 0] == most, 1].max()
            assert result.first_choices == got[2 if proposals_first else 1]
            seen_short += most < len(requests)
            seen_first_short += result.first_choices < result.first_choice_optimum
    assert seen_short > 0  # the instances do run out of seats
    if anywhere:  # and proposals first does cost first choices sometimes
        assert seen_first_short > 0


def test_a_proposal_kept_or_a_first_choice_given():
    """Three slots of one seat; P proposes S1, Q S1 then S2, R S2 then S3. Everyone can sit in a
    slot they proposed only as P S1, Q S2, R S3 (one first choice), but two first choices are
    possible when someone sits in a slot they did not propose (Q S1, R S2, P S3; or P S1, R S2,
    Q S3): the issue's order takes two, ``proposals_first`` keeps the proposals."""
    c = centre("TC-1", seats=(("R1", 1),), hours={"mon": (time(9), time(15))})
    s1, s2, s3 = slots_of(c, MONDAY, MONDAY)
    requests = [Request("P", (s1.id,), ("TC-1",)), Request("Q", (s1.id, s2.id), ("TC-1",)),
                Request("R", (s2.id, s3.id), ("TC-1",))]
    lexicographic = schedule([s1, s2, s3], requests)
    assert lexicographic.placed == 3 and lexicographic.of("R").slot.id == s2.id
    assert sorted(a.rank for a in lexicographic.assignments) == [0, 1, 1]
    assert lexicographic.rank_counts == (2, 0) and lexicographic.first_choice_optimum == 2
    honoured = schedule([s1, s2, s3], requests, proposals_first=True)
    assert [(a.slot.id, a.rank) for a in honoured.assignments] == [
        (s1.id, 1), (s2.id, 2), (s3.id, 2)]
    assert honoured.first_choices == 1 and honoured.first_choice_optimum == 2
    # in proposals only, all three sit only as P S1, Q S2, R S3
    only = schedule([s1, s2, s3], requests, placed_anywhere=False)
    assert only.placed == 3 and only.rank_counts == (1, 2) and only.first_choice_optimum == 1


def random_instance(rng, n_people, n_centres=3, days=2):
    centres = [centre(f"TC-{k}", seats=(("R1", int(rng.integers(1, 4))), ("R2", int(rng.integers(1, 3)))),
                      zone=("Asia/Almaty", "Asia/Aqtobe")[k % 2]) for k in range(n_centres)]
    slots = [s for c in centres for s in slots_of(c, MONDAY, MONDAY + timedelta(days=days - 1))]
    requests = []
    for e in range(n_people):
        own = int(rng.integers(n_centres))
        centres_of = [f"TC-{own}"] if rng.random() < 0.7 else [f"TC-{own}", f"TC-{(own + 1) % n_centres}"]
        pool = [s.id for s in slots if s.centre.id in centres_of]
        # popular: the mornings of the first day, most of the time
        weights = np.array([4.0 if s.endswith("T09:00") else 1.0 for s in pool])
        k = int(rng.integers(0, 4))
        props = rng.choice(pool, k, replace=False, p=weights / weights.sum())
        requests.append(Request(f"{e:04d}", tuple(props), tuple(centres_of)))
    return slots, requests


def check_schedule(slots, requests, result):
    """Nobody over a slot's seats, seats real and distinct, eligible centres, ranks right."""
    by_id = {r.personal_number: r for r in requests}
    seats = Counter()
    for a in result.assignments:
        if a.slot is None:
            assert a.seat is None and a.rank == 0
            continue
        seats[a.slot.id, a.seat] += 1
        rooms = {r.id: r.seats for r in a.slot.centre.rooms}
        assert 1 <= a.seat.number <= rooms[a.seat.room]
        r = by_id.get(a.personal_number)
        if r is not None:
            assert a.slot.centre.id in r.centres
            assert a.rank == (r.proposals.index(a.slot.id) + 1 if a.slot.id in r.proposals else 0)
    assert max(seats.values(), default=1) == 1
    use = Counter(slot for slot, _ in seats)
    assert all(use[s.id] <= s.capacity for s in slots)
    assert result.placed == sum(use.values())
    assert result.placed + result.unplaced == len(result.assignments)
    return use


@pytest.mark.parametrize("anywhere", [True, False])
def test_capacity_is_never_exceeded_and_the_most_are_placed(anywhere):
    """Against an independent maximum flow (scipy's Edmonds–Karp): source → employee → slot
    (their proposals, or every slot of their centres) → sink, seats as capacities."""
    rng = np.random.default_rng(3)
    for n_people in (40, 150):
        slots, requests = random_instance(rng, n_people)
        result = schedule(slots, requests, placed_anywhere=anywhere)
        check_schedule(slots, requests, result)
        n, s = len(requests), len(slots)
        index = {x.id: j for j, x in enumerate(slots)}
        arcs = [(0, 1 + e, 1) for e in range(n)]
        for e, r in enumerate(requests):
            targets = ([j for j, x in enumerate(slots) if x.centre.id in r.centres] if anywhere
                       else [index[i] for i in r.proposals])
            arcs += [(1 + e, 1 + n + j, 1) for j in targets]
        arcs += [(1 + n + j, 1 + n + s, x.capacity) for j, x in enumerate(slots)]
        u, v, cap = map(np.array, zip(*arcs))
        graph = csr_array((cap.astype(np.int32), (u, v)), shape=(n + s + 2, n + s + 2))
        assert result.placed == maximum_flow(graph, 0, n + s + 1).flow_value


def test_everyone_is_placed_when_the_seats_allow():
    rng = np.random.default_rng(11)
    slots, requests = random_instance(rng, 60, days=3)
    assert sum(s.capacity for s in slots) >= 2 * len(requests)
    result = schedule(slots, requests)
    check_schedule(slots, requests, result)
    assert result.placed == len(requests) and result.unplaced == 0
    # most get their first choice; whoever proposed nothing sits at their nearest centre
    assert result.first_choices == result.first_choice_optimum
    for r, a in zip(requests, result.assignments):
        if not r.proposals:
            assert a.rank == 0 and a.slot.centre.id == r.centres[0]


def test_when_seats_are_short_exactly_as_many_as_seats_are_placed():
    c1 = centre("TC-1", seats=(("R1", 2), ("R2", 1)), hours={"mon": (time(9), time(13))})
    c2 = centre("TC-2", seats=(("R1", 1),), zone="Asia/Aqtobe", hours={"mon": (time(9), time(11))})
    slots = slots_of(c1, MONDAY, MONDAY) + slots_of(c2, MONDAY, MONDAY)
    seats = sum(s.capacity for s in slots)
    assert seats == 7
    # eight want the first slot (3 seats), four propose nothing
    requests = [Request(f"E{k}", (slots[0].id,) if k < 8 else (), ("TC-1", "TC-2"))
                for k in range(12)]
    result = schedule(slots, requests)
    check_schedule(slots, requests, result)
    assert result.placed == seats and result.unplaced == 12 - seats
    assert result.first_choices == result.first_choice_optimum == 3
    only = schedule(slots, requests, placed_anywhere=False)
    check_schedule(slots, requests, only)
    assert only.placed == 3 and only.unplaced == 9


def test_seats_fill_the_rooms_in_order():
    c = centre("TC-1", seats=(("A", 2), ("B", 1)), hours={"mon": (time(9), time(11))})
    (slot,) = slots_of(c, MONDAY, MONDAY)
    requests = [Request(p, (slot.id,), ("TC-1",)) for p in ("x", "y", "z", "w")]
    result = schedule([slot], requests)  # one of the four is left out (all alike)
    seats = [a.seat for a in result.assignments if a.slot is not None]
    assert seats == [Seat("A", 1), Seat("A", 2), Seat("B", 1)]  # in request order
    assert result.unplaced == 1 and result.rank_counts == (3,)


def test_confirmed_assignments_are_kept_when_no_shows_are_rescheduled():
    rng = np.random.default_rng(5)
    slots, requests = random_instance(rng, 80, days=2)
    first = schedule(slots, requests)
    placed = [a for a in first.assignments if a.slot is not None]
    no_shows = {a.personal_number for a in placed[::4]}
    cancelled = placed[1].slot.id  # its people are rescheduled too
    kept = {a.personal_number: a for a in placed
            if a.personal_number not in no_shows and a.slot.id != cancelled}
    by_id = {r.personal_number: r for r in requests}
    again = [Request(p, tuple(i for i in by_id[p].proposals if i != cancelled), by_id[p].centres)
             for p in sorted(set(by_id) - set(kept))]
    # a person confirmed by slot only, without a request, and one kept with a request of theirs
    one_kept = next(iter(kept))
    taken = Counter(a.slot.id for a in kept.values())
    extra_slot = next(s for s in slots if s.id != cancelled and taken[s.id] < s.capacity)
    fixed = {**kept, "X-1": extra_slot.id}
    second = schedule(slots, [*again, by_id[one_kept]], fixed=fixed, excluded=[cancelled])
    use = check_schedule(slots, [*again, by_id[one_kept]], second)
    assert use[cancelled] == 0
    for p, a in kept.items():  # slot and seat as confirmed
        b = second.of(p)
        assert (b.slot.id, b.seat, b.fixed) == (a.slot.id, a.seat, True)
    assert second.of(one_kept).rank == first.of(one_kept).rank
    x = second.of("X-1")
    assert x.fixed and x.slot.id == extra_slot.id and x.rank == 0
    assert all(not second.of(r.personal_number).fixed for r in again)
    assert second.placed == len(kept) + 1 + sum(second.of(r.personal_number).slot is not None
                                                for r in again)
    assert len(second.assignments) == len(again) + 1 + len(kept)


def test_the_integer_programming_fallback_gives_the_same_optimum(monkeypatch):
    """Should HiGHS's duals fail the certificate, the levels are solved by milp: same criteria."""
    rng = np.random.default_rng(9)
    slots, requests = random_instance(rng, 50)
    expected = schedule(slots, requests)
    calls = []
    monkeypatch.setattr(scheduling, "_certified", lambda *a: calls.append(1))
    fallback = schedule(slots, requests)
    assert calls  # the fallback did run
    check_schedule(slots, requests, fallback)
    assert achieved(slots, requests, fallback).tolist() == achieved(slots, requests,
                                                                     expected).tolist()
    assert fallback.first_choice_optimum == expected.first_choice_optimum


# --- bad inputs -----------------------------------------------------------------------------------

@pytest.fixture
def two_centres():
    a = centre("TC-A", hours={"mon": (time(9), time(13))})
    b = centre("TC-B", hours={"mon": (time(9), time(13))})
    return slots_of(a, MONDAY, MONDAY) + slots_of(b, MONDAY, MONDAY)


def test_bad_requests_are_refused_naming_the_employee_and_the_slot(two_centres):
    slots = two_centres
    a1, b1 = slots[0].id, slots[2].id
    with pytest.raises(ValueError, match=r"employee '0042': proposal 'TC-A/2017-03-07T09:00' is "
                                         r"not among the slots"):
        schedule(slots, [Request("0001", (a1,), ("TC-A",)),
                         Request("0042", ("TC-A/2017-03-07T09:00",), ("TC-A",))])
    with pytest.raises(ValueError, match=rf"employee '0042': proposal '{b1}' is at centre 'TC-B', "
                                         r"not one of their eligible centres \(TC-A\)"):
        schedule(slots, [Request("0001", (b1,), ("TC-B",)), Request("0042", (a1, b1), ("TC-A",))])
    with pytest.raises(ValueError, match="personal number '0042' twice"):
        schedule(slots, [Request("0042", (), ("TC-A",)), Request("0042", (), ("TC-B",))])
    with pytest.raises(ValueError, match=f"employee '0042': proposals name '{a1}' twice"):
        Request("0042", (a1, a1), ("TC-A",))
    with pytest.raises(ValueError, match="employee '0042': no eligible test centre"):
        Request("0042", (), ())
    with pytest.raises(ValueError, match="slots: id .* twice"):
        schedule([*slots, slots[0]], [])
    with pytest.raises(ValueError, match="excluded: slot 'TC-C/x' is not among the slots"):
        schedule(slots, [], excluded=["TC-C/x"])


def test_bad_confirmed_assignments_are_refused(two_centres):
    slots = two_centres
    a1, a2, b1 = slots[0].id, slots[1].id, slots[2].id
    people = [Request("0001", (a1,), ("TC-A",))]
    with pytest.raises(ValueError, match="employee '0009': confirmed slot 'TC-A/x' is not among"):
        schedule(slots, people, fixed={"0009": "TC-A/x"})
    with pytest.raises(ValueError, match=f"employee '0009': confirmed slot '{a2}' is excluded"):
        schedule(slots, people, fixed={"0009": a2}, excluded=[a2])
    with pytest.raises(ValueError, match=f"employee '0001': confirmed slot '{b1}' is at centre "
                                         "'TC-B', not one of their eligible centres"):
        schedule(slots, people, fixed={"0001": b1})
    with pytest.raises(ValueError, match=f"slot '{a1}': 3 confirmed people, 2 seats"):
        schedule(slots, people, fixed={"0007": a1, "0008": a1, "0009": a1})
    taken = Assignment("0008", slots[0], Seat("R1", 2), 1)
    with pytest.raises(ValueError, match="employees '0008' and '0009': the same confirmed seat"):
        schedule(slots, people, fixed={"0008": taken, "0009": Assignment(
            "0009", slots[0], Seat("R1", 2), 1)})
    with pytest.raises(ValueError, match=f"slot '{a1}': no seat 3 in room 'R1'"):
        schedule(slots, people, fixed={"0008": Assignment("0008", slots[0], Seat("R1", 3), 1)})
    # a kept seat stays, and the next person takes the other
    result = schedule(slots, people, fixed={"0008": taken})
    assert result.of("0008").seat == Seat("R1", 2) and result.of("0001").seat == Seat("R1", 1)
