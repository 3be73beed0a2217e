"""Seats at the test centres: each employee a slot from their proposals, by a lexicographic assignment.

Employees (or HR for them) propose slots in order of preference; :func:`schedule` gives each a
seat in a slot at one of the centres they may go to — their own unit's, or the nearest ones when
their unit has none, as the caller lists them — never more people in a slot than it has seats.
The :func:`slots_of` a centre are cut from its opening hours, in its time zone.

The problem (issue 21, slice c) is a transportation problem, solved by HiGHS as a network flow
(:func:`scipy.optimize.linprog`: interior point with crossover to a vertex; at 20,000 employees
three times faster than its dual simplex, and as exact, see below). Employee :math:`e` sends one
unit along an arc to a slot :math:`s` it proposed (:math:`x_{es}`, rank :math:`k`), or — with
``placed_anywhere`` — to the *pool* of an eligible centre :math:`c` (:math:`z_{ec}`), from which
arcs lead to every open slot of :math:`c` (:math:`w_{cs}`):

.. math::

    \\sum_{s} x_{es} + \\sum_{c} z_{ec} \\le 1 \\;\\forall e, \\qquad
    \\sum_{e} z_{ec} = \\sum_{s \\in c} w_{cs} \\;\\forall c, \\qquad
    \\sum_{e} x_{es} + w_{c(s)s} \\le \\text{cap}_s - \\text{fixed}_s \\;\\forall s,
    \\qquad x, z, w \\ge 0.

Every column has one +1 and one −1 once the slot and pool rows are multiplied by −1: the matrix
is a network's node–arc incidence matrix, totally unimodular, so every vertex of the polytope is
integral (Ahuja, Magnanti & Orlin 1993, *Network Flows*: the integrality property). The pool
stands for the arcs to the slots one did not propose (all alike to them), so the problem has a
column per proposal and per eligible centre, not per employee and eligible slot: 22,000 columns
for the 5,000 employees of ``benchmarks/bench_scheduler.py`` instead of 260,000.

**The objective is lexicographic**, in the issue's order: (1) the most people placed; (2) among
those schedules, the most first choices; then the most second choices, and so on; last, the
non-proposed placements at the nearest eligible centres (the smallest sum of the centres'
positions in the employees' lists). With ``proposals_first`` a level comes between (1) and (2):
the most people in slots they proposed. Without it, someone whose proposals could have been
honoured may be given a slot they did not propose when that gives others better choices (1 % of
the employees in ``benchmarks/bench_scheduler.py``); with it, never.

One weighted sum would give this order only with weights that grow like :math:`(S + 1)^{L}`
(:math:`S` slots, :math:`L` levels): two schedules differ by alternating cycles, and one cycle
can trade one unit of a level for up to :math:`\\min(n, S + 1)` units of the next, so each
level's weight must exceed that many times the next's. With 800 slots and five levels that is
:math:`10^{11}` and more, beyond what a floating-point solver's tolerances (:math:`10^{-7}`)
separate. So the levels are solved in turn (preemptive optimisation), each on the *optimal face*
of those before: given the level's optimal dual solution :math:`y`, the schedules optimal for the
level are exactly the feasible ones with :math:`x_j = 0` wherever the reduced cost
:math:`c_j - a_j^\\top y > 0` and with equality in every row where :math:`y_i \\ne 0`
(complementary slackness). Removing those columns and turning those rows into equalities keeps
the matrix a network's, so every level is again an LP with integral vertices. At a vertex the
duals are integral too (a unimodular basis, integer costs), so they are rounded and checked as a
certificate in exact integer arithmetic — the rounded schedule feasible, the duals feasible, both
objectives equal (strong duality). Should a level's answer fail the check (none has), that level
and the rest are solved by :func:`scipy.optimize.milp` with the earlier levels' optima as
constraints. The result is checked again — integral, feasible, each level at its optimum —
before seats are given.

``first_choice_optimum`` is the most first choices of any schedule that places as many people
(and keeps the confirmed ones): the second level's optimum, which the schedule reaches; with
``proposals_first``, the optimum of those two levels solved on their own, which the schedule may
fall short of. The tests check both against every schedule of small instances.

Seats are given in a fixed order: rooms in the centre's order and seats in order within a room;
in a slot, first the confirmed (``fixed``) people who keep their seat, then the other confirmed
ones, then the newly placed in the order of the requests.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
from numpy.typing import NDArray

from qabilet.attestation.organisation import WEEKDAYS, TestCentre

__all__ = ["Assignment", "Request", "Schedule", "Seat", "Slot", "schedule", "slots_of"]

Ints = NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class Slot:
    """A sitting at a test centre: its id, local start and end (aware), and its seats.

    ``id`` is the centre's id and the local start, ``"TC-AST/2017-03-06T09:00"``: stable across
    runs, and unique since a centre's id has no ``/``.
    """

    centre: TestCentre = field(compare=False, repr=False)
    id: str
    start: datetime
    end: datetime
    capacity: int


@dataclass(frozen=True, slots=True)
class Seat:
    """A seat in a slot: the room's id and the seat's number in the room (from 1)."""

    room: str
    number: int


@dataclass(frozen=True, slots=True)
class Request:
    """What an employee asks for: ranked slots, and the centres they may sit at.

    ``proposals``: slot ids, first choice first (may be empty); ``centres``: centre ids, nearest
    first — their own unit's, or the nearest ones when their unit has none.
    """

    personal_number: str
    proposals: tuple[str, ...] = ()
    centres: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "personal_number", str(self.personal_number))
        object.__setattr__(self, "proposals", tuple(map(str, self.proposals)))
        object.__setattr__(self, "centres", tuple(map(str, self.centres)))
        who = f"employee {self.personal_number!r}"
        if not self.personal_number:
            raise ValueError("a request without a personal number")
        if not self.centres:
            raise ValueError(f"{who}: no eligible test centre")
        for name, values in (("proposals", self.proposals), ("centres", self.centres)):
            twice = next((v for k, v in enumerate(values) if v in values[:k]), None)
            if twice is not None:
                raise ValueError(f"{who}: {name} name {twice!r} twice")


@dataclass(frozen=True, slots=True)
class Assignment:
    """An employee's place: the slot and seat, and the slot's rank among their proposals.

    ``slot`` and ``seat`` are None when unplaced; ``rank`` is 1 for a first choice, 0 for a slot
    not among their proposals (or none); ``fixed``: confirmed before, kept as it was.
    """

    personal_number: str
    slot: Slot | None
    seat: Seat | None
    rank: int
    fixed: bool = False


@dataclass(frozen=True)
class Schedule:
    """The schedule: an assignment per person, and its counts.

    ``assignments`` follow the requests' order, then the confirmed people without a request.

    Attributes
    ----------
    placed, unplaced : int
        People with a seat, and without (the confirmed ones count as placed).
    first_choices : int
        People in their first choice.
    first_choice_optimum : int
        The most first choices of any schedule that places ``placed`` people and keeps the
        confirmed ones (see the module notes): ``first_choices`` itself, unless
        ``proposals_first`` kept someone's proposal at the cost of another's first choice.
    rank_counts : tuple of int
        People in their 1st, 2nd, … choice.
    """

    assignments: tuple[Assignment, ...]
    placed: int
    unplaced: int
    first_choices: int
    first_choice_optimum: int
    rank_counts: tuple[int, ...]
    _index: dict[str, Assignment] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_index", {a.personal_number: a for a in self.assignments})

    def of(self, personal_number: str) -> Assignment:
        """The assignment of an employee (KeyError when they are not in the schedule)."""
        return self._index[personal_number]


def slots_of(centre: TestCentre, first: date, last: date, *, length: timedelta = timedelta(hours=2),
             step: timedelta | None = None) -> list[Slot]:
    """The slots of a centre on the days ``first`` … ``last``, within its opening hours.

    On each open day a slot starts at opening time and every ``step`` after it (default: the
    slot's ``length``, back to back) while it ends by closing time. Times are the centre's wall
    clock in its ``timezone`` (aware datetimes); a slot whose start or end does not exist there
    (a daylight-saving gap) is left out. Each slot has the centre's seats.

    Examples
    --------
    >>> from datetime import date, time
    >>> aqtobe = TestCentre(id="TC-AKT", unit="U-AKT", name={"en": "Aqtobe"},
    ...                     timezone="Asia/Aqtobe", rooms=[{"id": "R1", "seats": 8}],
    ...                     hours={"mon": (time(9), time(14))})
    >>> [(s.id, s.start.isoformat(), s.capacity)
    ...  for s in slots_of(aqtobe, date(2017, 3, 6), date(2017, 3, 7))]
    [('TC-AKT/2017-03-06T09:00', '2017-03-06T09:00:00+05:00', 8),
     ('TC-AKT/2017-03-06T11:00', '2017-03-06T11:00:00+05:00', 8)]
    """
    step = length if step is None else step
    minute = timedelta(minutes=1)
    for name, value in (("length", length), ("step", step)):
        if value <= timedelta(0) or value % minute:
            raise ValueError(f"{name}: expected a positive whole number of minutes; got {value}")
    if last < first:
        raise ValueError(f"last ({last}) is before first ({first})")
    zone = ZoneInfo(centre.timezone)
    opening = {str(day): hours for day, hours in centre.hours.items()}
    out: list[Slot] = []
    for offset in range((last - first).days + 1):
        day = first + timedelta(days=offset)
        hours = opening.get(WEEKDAYS[day.weekday()])
        if hours is None:
            continue
        start, closes = datetime.combine(day, hours[0]), datetime.combine(day, hours[1])
        while start + length <= closes:
            begins, ends = start.replace(tzinfo=zone), (start + length).replace(tzinfo=zone)
            if _exists(begins) and _exists(ends):
                out.append(Slot(centre, f"{centre.id}/{start:%Y-%m-%dT%H:%M}", begins, ends,
                                centre.seats))
            start += step
    return out


def _exists(moment: datetime) -> bool:
    """Whether a zone's wall-clock time exists (is not in a daylight-saving gap)."""
    back = moment.astimezone(UTC).astimezone(moment.tzinfo)
    return back.replace(tzinfo=None) == moment.replace(tzinfo=None)


def schedule(slots: Sequence[Slot], requests: Sequence[Request], *, placed_anywhere: bool = True,
             proposals_first: bool = False, fixed: Mapping[str, str | Assignment] | None = None,
             excluded: Iterable[str] = ()) -> Schedule:
    """Assign each request a seat in a slot, lexicographically best (see the module notes).

    Parameters
    ----------
    slots : sequence of Slot
        The slots on offer (e.g. :func:`slots_of` of every centre), ids unique.
    requests : sequence of Request
        One per employee to place, personal numbers unique. Every proposal must name a slot of
        ``slots`` at one of the employee's eligible centres (an eligible centre without slots
        here is allowed, and unused).
    placed_anywhere : bool
        When an employee's proposals are full (or they made none), place them in any slot of an
        eligible centre — nearest centres first — rather than not at all.
    proposals_first : bool
        With ``placed_anywhere``: place as many people as possible in slots they proposed before
        counting first choices (a level between the first two), so that no one is moved out of
        their proposals to give someone else a better choice. Off by default: the objective is
        then the issue's — the most placed, then the most first choices, and so on.
    fixed : mapping of personal number to slot id or Assignment, optional
        Confirmed assignments, kept: they take their seats first. An :class:`Assignment` (from
        an earlier schedule) keeps its seat too; a slot id alone takes the next free seat. A
        confirmed person need not have a request; one who has one is not placed again.
    excluded : iterable of str
        Slot ids not to use (cancelled); proposals naming them stay valid and keep their ranks.

    Returns
    -------
    Schedule

    Raises
    ------
    ValueError
        A duplicate slot id or personal number; a proposal or a confirmed assignment naming an
        unknown slot, or a slot at a centre the employee is not eligible for (the message names
        the employee and the slot); a confirmed assignment in an excluded slot, on a seat the
        centre does not have or someone else's; more confirmed people in a slot than seats.
    """
    table = _Slots(slots, excluded)
    numbers = [r.personal_number for r in requests]
    _no_duplicate(numbers, "requests: personal number")
    asked = _Proposals(requests, table)
    confirmed = _Confirmed({} if fixed is None else fixed, table, numbers, requests)
    n_req = len(requests)
    free = np.ones(n_req, dtype=bool)  # the requests to place: not confirmed
    free[confirmed.person[confirmed.person < n_req]] = False
    n_free = int(free.sum())
    person_of = np.cumsum(free) - 1  # request g -> its index p among the free, where free[g]
    room = table.capacity - np.bincount(confirmed.slot, minlength=table.n_slots)
    open_slot = (room > 0) & ~table.excluded
    use = free[asked.g] & open_slot[asked.s]
    arcs = _Arcs(person=person_of[asked.g[use]], slot=asked.s[use], rank=asked.rank[use])
    if placed_anywhere:
        reachable = np.bincount(table.centre[open_slot], minlength=table.n_centres) > 0
        ok = asked.elig_c >= 0
        ok[ok] = reachable[asked.elig_c[ok]] & free[asked.elig_g[ok]]
        arcs.person_b, arcs.centre_b = person_of[asked.elig_g[ok]], asked.elig_c[ok]
        arcs.position_b = asked.elig_pos[ok]
        pooled = np.flatnonzero(np.isin(table.centre, arcs.centre_b) & open_slot)
        arcs.slot_d = pooled[np.argsort(table.centre[pooled], kind="stable")]  # by centre, slot
        arcs.centre_d = table.centre[arcs.slot_d]
    x, first_optimum = _solve(arcs, n_free, table.n_slots, table.n_centres, room,
                              proposals_first)
    # every person in the schedule: the requests, then the confirmed without one
    slot_of = np.full(n_req + confirmed.n_extra, -1, dtype=np.int64)
    slot_of[np.flatnonzero(free)] = _decode(arcs, x, n_free)
    slot_of[confirmed.person] = confirmed.slot
    if np.any(np.bincount(slot_of[slot_of >= 0], minlength=table.n_slots) > table.capacity):
        raise RuntimeError("the schedule exceeds a slot's seats")  # never: the LP's rows
    rank = np.zeros(slot_of.size, dtype=np.int64)
    placed_req = np.flatnonzero(slot_of[:n_req] >= 0)
    hit = _lookup(placed_req * table.n_slots + slot_of[placed_req],
                  asked.g * table.n_slots + asked.s)
    rank[placed_req[hit >= 0]] = asked.rank[hit[hit >= 0]]
    is_fixed = np.zeros(slot_of.size, dtype=bool)
    is_fixed[confirmed.person] = True
    # seats: the kept ones, then the confirmed in their order, then the new in request order
    turn = np.zeros(slot_of.size, dtype=np.int64)
    turn[confirmed.person] = np.arange(confirmed.person.size)
    turn[np.flatnonzero(free)] = confirmed.person.size + np.arange(n_free)
    room_k, number = table.seats(slot_of, table.seat_positions(slot_of, turn, confirmed))
    people = [*numbers, *confirmed.extra_numbers]
    rooms = [[r.id for r in c.rooms] for c in table.centres]
    centre_of = table.centre.tolist()
    assignments = tuple(
        Assignment(pn, None, None, 0, f) if s < 0 else
        Assignment(pn, table.slots[s], Seat(rooms[centre_of[s]][rk], num), k, f)
        for pn, s, rk, num, k, f in zip(people, slot_of.tolist(), room_k.tolist(),
                                        number.tolist(), rank.tolist(), is_fixed.tolist()))
    counts = np.bincount(rank[slot_of >= 0], minlength=asked.max_rank + 1)[1:]
    placed = int((slot_of >= 0).sum())
    first = int(np.sum(rank == 1))
    optimum = first_optimum + int(np.sum((rank == 1) & is_fixed))
    if first > optimum or (first != optimum and not proposals_first):  # never: on that face
        raise RuntimeError(f"the schedule has {first} first choices, the level's optimum {optimum}")
    return Schedule(assignments, placed, slot_of.size - placed, first, optimum,
                    tuple(int(c) for c in counts))


class _Slots:
    """The slots as arrays: ids (and their sorted order for look-ups), centres, capacities."""

    def __init__(self, slots: Sequence[Slot], excluded: Iterable[str]) -> None:
        self.slots = list(slots)
        ids = [s.id for s in self.slots]
        _no_duplicate(ids, "slots: id")
        self.ids = np.array(ids, dtype=str)
        self.n_slots = len(ids)
        self.order = np.argsort(self.ids, kind="stable")
        centres: dict[str, TestCentre] = {}
        for s in self.slots:
            centres.setdefault(s.centre.id, s.centre)
            if not 0 <= s.capacity <= s.centre.seats:
                raise ValueError(f"slot {s.id!r}: capacity {s.capacity} is not within the "
                                 f"centre's {s.centre.seats} seats")
        self.centre_ids = list(centres)
        self.centres = list(centres.values())
        self.n_centres = len(centres)
        self.centre = self.centre_index([s.centre.id for s in self.slots])  # a slot's centre
        self.capacity = np.array([s.capacity for s in self.slots], dtype=np.int64)
        gone = list(excluded)
        at, known = self.find(gone)
        if not known.all():
            unknown = gone[int(np.flatnonzero(~known)[0])]
            raise ValueError(f"excluded: slot {unknown!r} is not among the slots")
        self.excluded = np.zeros(self.n_slots, dtype=bool)
        self.excluded[at] = True
        # a centre's seat positions 0 … seats − 1, room after room: where each room ends
        self.room_seats = [np.array([r.seats for r in c.rooms]) for c in self.centres]
        self.room_ends = [np.cumsum(seats) for seats in self.room_seats]

    def find(self, ids: list[str]) -> tuple[Ints, NDArray[np.bool_]]:
        """Each id's slot index (0 where unknown) and whether it is known."""
        wanted = np.array(ids, dtype=str) if ids else np.zeros(0, dtype=str)
        if self.n_slots == 0:
            return np.zeros(wanted.size, dtype=np.int64), np.zeros(wanted.size, dtype=bool)
        ranked = self.ids[self.order]
        at = np.minimum(np.searchsorted(ranked, wanted), self.n_slots - 1)
        return self.order[at].astype(np.int64), ranked[at] == wanted

    def centre_index(self, ids: list[str]) -> Ints:
        """Each centre id's index among the slots' centres, −1 for a centre without slots."""
        index = {c: k for k, c in enumerate(self.centre_ids)}
        return np.fromiter((index.get(c, -1) for c in ids), np.int64, len(ids))

    def position(self, s: int, seat: Seat) -> int:
        """A seat's position (from 0) in slot ``s``; an error when the slot has no such seat."""
        centre = self.centres[self.centre[s]]
        rooms = [r.id for r in centre.rooms]
        if seat.room not in rooms:
            raise ValueError(f"slot {self.slots[s].id!r}: no room {seat.room!r} at {centre.id!r}")
        k = rooms.index(seat.room)
        start = int(self.room_ends[self.centre[s]][k] - self.room_seats[self.centre[s]][k])
        if not 1 <= seat.number <= centre.rooms[k].seats or start + seat.number > self.capacity[s]:
            raise ValueError(f"slot {self.slots[s].id!r}: no seat {seat.number} in room {seat.room!r}")
        return start + seat.number - 1

    def seat_positions(self, slot_of: Ints, turn: Ints, confirmed: _Confirmed) -> Ints:
        """Each placed person's seat position in their slot: kept seats first, then by ``turn``."""
        pos = np.full(slot_of.size, -1, dtype=np.int64)
        keep = confirmed.position >= 0
        pos[confirmed.person[keep]] = confirmed.position[keep]
        rest = np.flatnonzero((slot_of >= 0) & (pos < 0))
        rest = rest[np.lexsort((turn[rest], slot_of[rest]))]
        s = slot_of[rest]
        in_slot = np.arange(rest.size) - np.searchsorted(s, s)  # 0, 1, … within each slot
        pos[rest] = in_slot
        for t in np.unique(confirmed.slot[keep]).tolist():  # slots with kept seats: the others
            taken = confirmed.position[keep & (confirmed.slot == t)]
            mine = s == t
            pos[rest[mine]] = np.setdiff1d(np.arange(self.capacity[t]), taken)[in_slot[mine]]
        return pos

    def seats(self, slot_of: Ints, pos: Ints) -> tuple[Ints, Ints]:
        """The room (index in its centre) and seat number (from 1) of each seat position."""
        room_k = np.zeros(slot_of.size, dtype=np.int64)
        number = np.zeros(slot_of.size, dtype=np.int64)
        centre = np.where(slot_of >= 0, self.centre[slot_of], -1)
        for c in range(self.n_centres):
            mine = centre == c
            k = np.searchsorted(self.room_ends[c], pos[mine], side="right")
            room_k[mine] = k
            number[mine] = pos[mine] - (self.room_ends[c][k] - self.room_seats[c][k]) + 1
        return room_k, number


class _Proposals:
    """Every request's proposals and eligible centres, flattened and checked (g: the request)."""

    def __init__(self, requests: Sequence[Request], table: _Slots) -> None:
        n_req = len(requests)
        lengths = np.fromiter((len(r.proposals) for r in requests), np.int64, n_req)
        self.max_rank = int(lengths.max(initial=0))
        self.g = np.repeat(np.arange(n_req), lengths)
        ids = list(itertools.chain.from_iterable(r.proposals for r in requests))
        self.s, known = table.find(ids)
        if not known.all():
            k = int(np.flatnonzero(~known)[0])
            raise ValueError(f"employee {requests[int(self.g[k])].personal_number!r}: proposal "
                             f"{ids[k]!r} is not among the slots")
        self.rank = np.arange(self.s.size) - np.repeat(np.cumsum(lengths) - lengths, lengths) + 1
        counts = np.fromiter((len(r.centres) for r in requests), np.int64, n_req)
        self.elig_g = np.repeat(np.arange(n_req), counts)
        self.elig_c = table.centre_index(list(itertools.chain.from_iterable(
            r.centres for r in requests)))
        self.elig_pos = np.arange(self.elig_g.size) - np.repeat(np.cumsum(counts) - counts, counts)
        known_c = self.elig_c >= 0
        allowed = self.elig_g[known_c] * table.n_centres + self.elig_c[known_c]
        bad = _lookup(self.g * table.n_centres + table.centre[self.s], allowed) < 0
        if bad.any():
            k = int(np.flatnonzero(bad)[0])
            r = requests[int(self.g[k])]
            raise ValueError(f"employee {r.personal_number!r}: proposal {ids[k]!r} is at centre "
                             f"{table.centre_ids[table.centre[self.s[k]]]!r}, not one of their "
                             f"eligible centres ({', '.join(r.centres)})")


class _Confirmed:
    """The confirmed assignments: whose, the slot, the kept seat's position (−1 for none).

    ``person``: a request's index, or one after the requests for a confirmed person without one.
    """

    def __init__(self, fixed: Mapping[str, str | Assignment], table: _Slots, numbers: list[str],
                 requests: Sequence[Request]) -> None:
        items = list(fixed.items())
        ids = [v if isinstance(v, str) else v.slot.id if v.slot is not None else ""
               for _, v in items]
        self.slot, known = table.find(ids)
        for k in np.flatnonzero(~known | table.excluded[self.slot]).tolist():
            state = "excluded" if known[k] else "not among the slots"
            raise ValueError(f"employee {str(items[k][0])!r}: confirmed slot {ids[k]!r} is {state}")
        request_of = {n: g for g, n in enumerate(numbers)}
        self.person = np.fromiter((request_of.get(n, -1) for n, _ in items), np.int64, len(items))
        extra = self.person < 0
        self.n_extra = int(extra.sum())
        self.extra_numbers = [n for (n, _), e in zip(items, extra.tolist()) if e]
        self.person[extra] = len(numbers) + np.arange(self.n_extra)
        for k in np.flatnonzero(~extra).tolist():
            r = requests[int(self.person[k])]
            centre = table.centre_ids[table.centre[self.slot[k]]]
            if centre not in r.centres:
                raise ValueError(f"employee {r.personal_number!r}: confirmed slot {ids[k]!r} is at "
                                 f"centre {centre!r}, not one of their eligible centres "
                                 f"({', '.join(r.centres)})")
        over = np.flatnonzero(np.bincount(self.slot, minlength=table.n_slots) > table.capacity)
        if over.size:
            s = int(over[0])
            raise ValueError(f"slot {ids[int(np.flatnonzero(self.slot == s)[0])]!r}: "
                             f"{int(np.sum(self.slot == s))} confirmed people, "
                             f"{table.capacity[s]} seats")
        self.position = np.full(len(items), -1, dtype=np.int64)
        for k, (_, v) in enumerate(items):
            if isinstance(v, Assignment) and v.seat is not None:
                self.position[k] = table.position(int(self.slot[k]), v.seat)
        keep = np.flatnonzero(self.position >= 0)
        key = self.slot[keep] * (int(table.capacity.max(initial=0)) + 1) + self.position[keep]
        values, counts = np.unique(key, return_counts=True)
        if np.any(counts > 1):
            both = [items[k][0] for k in keep[key == values[counts > 1][0]]]
            raise ValueError(f"employees {' and '.join(map(repr, both))}: the same confirmed seat")


@dataclass
class _Arcs:
    """The problem's columns: proposals (a), employee → centre pool (b), pool → slot (d)."""

    person: Ints
    slot: Ints
    rank: Ints
    person_b: Ints = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    centre_b: Ints = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    position_b: Ints = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    slot_d: Ints = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    centre_d: Ints = field(default_factory=lambda: np.zeros(0, dtype=np.int64))


def _solve(arcs: _Arcs, n_people: int, n_slots: int, n_centres: int, room: Ints,
           proposals_first: bool) -> tuple[Ints, int]:
    """The flow on every arc (a, b, d) of the lexicographic optimum, and the first choices'.

    The second is the most first choices among the people placed here, given the most are
    placed: the second level's optimum, or with ``proposals_first`` a problem of its own.
    """
    from scipy import sparse

    n_a, n_b, n_d = arcs.person.size, arcs.person_b.size, arcs.slot_d.size
    n_cols = n_a + n_b + n_d
    if n_people == 0 or n_cols == 0:
        return np.zeros(n_cols, dtype=np.int64), 0
    slot_row, pool_row = n_people, n_people + n_slots  # row blocks: people, slots, pools
    a, b, d = np.arange(n_a), n_a + np.arange(n_b), n_a + n_b + np.arange(n_d)
    rows = np.concatenate([arcs.person, slot_row + arcs.slot, arcs.person_b,
                           pool_row + arcs.centre_b, pool_row + arcs.centre_d,
                           slot_row + arcs.slot_d])
    cols = np.concatenate([a, a, b, b, d, d])
    vals = np.concatenate([np.ones(2 * n_a + 2 * n_b), -np.ones(n_d), np.ones(n_d)])
    matrix = sparse.csc_array((vals, (rows, cols)), shape=(pool_row + n_centres, n_cols))
    rhs = np.concatenate([np.ones(n_people, dtype=np.int64), room,
                          np.zeros(n_centres, dtype=np.int64)])
    equal = np.zeros(rhs.size, dtype=bool)
    equal[pool_row:] = True
    zeros_a, zeros_b, zeros_d = np.zeros(n_a), np.zeros(n_b), np.zeros(n_d)
    placed = np.concatenate([-np.ones(n_a + n_b), zeros_d])  # the most people placed
    in_proposals = np.concatenate([-np.ones(n_a), zeros_b, zeros_d])  # … in their proposals
    ranks = [np.concatenate([-(arcs.rank == k).astype(np.float64), zeros_b, zeros_d])
             for k in range(1, int(arcs.rank.max(initial=0)) + 1)]  # the most k-th choices
    nearest = np.concatenate([zeros_a, arcs.position_b.astype(np.float64), zeros_d])
    first = [placed, *ranks[:1]]
    levels = [placed, *([in_proposals] if proposals_first and n_b else []), *ranks, nearest]
    x, optima = _lexicographic(matrix, rhs, equal, levels)
    if len(levels) > len(ranks) + 2:  # proposals first: the first choices' optimum on its own
        return x, (-_lexicographic(matrix, rhs, equal, first)[1][-1] if ranks else 0)
    return x, (-optima[1] if ranks else 0)


def _decode(arcs: _Arcs, x: Ints, n_people: int) -> Ints:
    """Each person's slot (−1: none): by their proposal's arc, or their centre pool's share."""
    n_a, n_b = arcs.person.size, arcs.person_b.size
    xa, xb, xd = x[:n_a], x[n_a:n_a + n_b], x[n_a + n_b:]
    where = np.full(n_people, -1, dtype=np.int64)
    where[arcs.person[xa == 1]] = arcs.slot[xa == 1]
    # a pool's people (by person) take its slots' shares (by slot), centre by centre: they
    # are alike, and as many (the pool's row)
    waiting = np.flatnonzero(xb == 1)
    waiting = waiting[np.lexsort((arcs.person_b[waiting], arcs.centre_b[waiting]))]
    where[arcs.person_b[waiting]] = np.repeat(arcs.slot_d, xd)
    return where


def _lexicographic(matrix: Any, rhs: Ints, equal: NDArray[np.bool_],
                   levels: list[NDArray[np.float64]]) -> tuple[Ints, list[int]]:
    """Minimise the levels' costs in turn, each on the optimal face of those before.

    ``matrix`` (sparse) and ``rhs``: rows ``≤`` (``=`` where ``equal``), columns ``x ≥ 0``.
    Returns the integral optimum and each level's optimal value.
    """
    from scipy import sparse
    from scipy.optimize import Bounds, LinearConstraint, linprog, milp

    alive = np.ones(matrix.shape[1], dtype=bool)
    equal = equal.copy()
    x = np.zeros(matrix.shape[1], dtype=np.int64)
    optima: list[int] = []
    bound: list[tuple[NDArray[np.float64], int]] = []  # the fallback's levels and their optima
    for cost in levels:
        cols = np.flatnonzero(alive)
        c = cost[cols]
        if not c.any():  # constant on the face: x, optimal so far, stays optimal
            optima.append(int(cost @ x))
            continue
        sub = matrix[:, cols].tocsr()
        if not bound:
            below, even = bool((~equal).any()), bool(equal.any())
            res = linprog(c, A_ub=sub[~equal] if below else None,
                          b_ub=rhs[~equal] if below else None,
                          A_eq=sub[equal] if even else None, b_eq=rhs[equal] if even else None,
                          bounds=(0, None), method="highs-ipm")
            if res.status != 0:
                raise RuntimeError(f"the scheduling LP failed: {res.message}")
            y = np.zeros(rhs.size)
            if below:
                y[~equal] = res.ineqlin.marginals
            if even:
                y[equal] = res.eqlin.marginals
            proof = _certified(sub, rhs, equal, c, res.x, y)
            if proof is not None:
                xs, reduced, dual = proof
                x = np.zeros(matrix.shape[1], dtype=np.int64)
                x[cols] = xs
                optima.append(int(np.rint(c @ xs)))
                alive[cols[reduced > 0]] = False  # zero in every optimum
                equal |= dual != 0  # tight in every optimum
                continue
        # fallback: integer programming, the earlier fallback levels' optima as constraints
        extra = [row[cols] for row, _ in bound]
        values = np.array([value for _, value in bound], dtype=np.float64)
        a = sparse.vstack([sub, sparse.csr_array(np.vstack(extra))]) if extra else sub
        lower = np.concatenate([np.where(equal, rhs, -np.inf), values])
        upper = np.concatenate([rhs.astype(np.float64), values])
        res = milp(c, integrality=np.ones(cols.size), bounds=Bounds(0, np.inf),
                   constraints=LinearConstraint(a, lower, upper))
        if res.x is None:
            raise RuntimeError(f"the scheduling MILP failed: {res.message}")
        x = np.zeros(matrix.shape[1], dtype=np.int64)
        x[cols] = np.rint(res.x).astype(np.int64)
        optima.append(int(np.rint(cost @ x)))
        bound.append((cost, optima[-1]))
    lhs = (matrix @ x).astype(np.int64)
    if x.min(initial=0) < 0 or np.any(lhs[~equal] > rhs[~equal]) or np.any(
            lhs[equal] != rhs[equal]) or [int(np.rint(c @ x)) for c in levels] != optima:
        raise RuntimeError("the scheduling solver's answer is not an integral optimum")  # never
    return x, optima


def _certified(sub: Any, rhs: Ints, equal: NDArray[np.bool_], c: NDArray[np.float64],
               x: NDArray[np.float64], y: NDArray[np.float64]) -> tuple[Ints, Ints, Ints] | None:
    """The rounded primal, reduced costs and duals when they prove optimality exactly, else None.

    Checked in integers: ``x`` integral and feasible, ``y ≤ 0`` on the ``≤`` rows, the reduced
    costs ``c − Aᵀy ≥ 0``, and ``cᵀx = bᵀy`` (strong duality).
    """
    xs, ys = np.rint(x), np.rint(y)
    if np.abs(x - xs).max(initial=0) > 1e-6 or np.abs(y - ys).max(initial=0) > 1e-6:
        return None
    xi, yi, ci = xs.astype(np.int64), ys.astype(np.int64), np.rint(c).astype(np.int64)
    lhs = np.rint(sub @ xi).astype(np.int64)
    reduced = ci - np.rint(sub.T @ yi).astype(np.int64)
    ok = (xi.min(initial=0) >= 0 and np.all(lhs[~equal] <= rhs[~equal])
          and np.all(lhs[equal] == rhs[equal]) and np.all(yi[~equal] <= 0)
          and np.all(reduced >= 0) and int(ci @ xi) == int(rhs @ yi))
    return (xi, reduced, yi) if ok else None


def _lookup(values: Ints, keys: Ints) -> Ints:
    """The index in ``keys`` (any order, unique) of each value, −1 where it is absent."""
    if keys.size == 0:
        return np.full(values.size, -1, dtype=np.int64)
    order = np.argsort(keys, kind="stable")
    at = np.minimum(np.searchsorted(keys[order], values), keys.size - 1)
    return np.where(keys[order][at] == values, order[at], -1).astype(np.int64)


def _no_duplicate(values: list[str], what: str) -> None:
    """Refuse a value listed twice, naming it."""
    if len(set(values)) != len(values):
        twice = next(v for v, n in Counter(values).items() if n > 1)
        raise ValueError(f"{what} {twice!r} twice")
