"""Test-centre scheduling: the lexicographic assignment against first come, first served.

Run by hand from the repository root (not part of the test suite)::

    .venv/bin/python benchmarks/bench_scheduler.py              # 5,000 employees, 20 centres
    .venv/bin/python benchmarks/bench_scheduler.py --quick      # 500 employees: a smoke run
    .venv/bin/python benchmarks/bench_scheduler.py --no-write

The instance (fixed seed): 26 units at random points of a 1,000 × 1,000 km square, 20 of them
with a test centre (those west of x = 300 km in Asia/Aqtobe, the others in Asia/Almaty), 6
without, whose employees may sit at the 2 nearest centres (nearest first). Employees are spread
over the units by lognormal weights. Each centre is open 09:00–18:00 on weekdays; two weeks of
2-hour slots (09, 11, 13, 15: four a day, 40 per centre, 800 in all). A centre has
⌈1.2 × its expected demand / 40⌉ seats (rooms of at most 12), so the seats exceed the demand by
about 20 %; a centre-less unit's employees count towards their nearest centre at 70 % and the
second at 30 %. Every employee proposes 3 distinct slots drawn without replacement (Gumbel
top-k) with a popularity skew — by time of day (09:00 ×3, 11:00 ×2, 13:00 ×1, 15:00 ×0.6), by
weekday (Tue/Wed ×1.2, Mon ×0.8, Fri ×0.6) and week (the first ×1.3, the second ×0.8) — and at
a second eligible centre with 0.4 times the weight: the popular slots are oversubscribed.

Measured: the wall time of :func:`qabilet.attestation.scheduling.schedule` (``time.perf_counter``,
the best of ``--repeats``), with ``placed_anywhere`` on (the default) and off (proposals only);
and a greedy baseline for context, which lives here only: the employees in a random order of
arrival, each given their highest-ranked proposal with a seat left, else (when placing anywhere)
the earliest slot with a seat at their nearest eligible centre that has one. The table goes to
stdout and to ``benchmarks/results/scheduler.md``.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections import Counter
from datetime import date
from datetime import time as clock
from pathlib import Path

import numpy as np
from _machine import load, publish, python_speed, run_lines, table

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without installing

from qabilet.attestation.organisation import TestCentre  # noqa: E402
from qabilet.attestation.scheduling import Request, Schedule, Slot, schedule, slots_of  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "scheduler.md"
FIRST, LAST = date(2017, 3, 6), date(2017, 3, 17)  # two weeks, Monday to Friday
HOURS = (clock(9), clock(18))
NAME = {"en": "Test centre"}
SETTINGS = [("placed anywhere", {}),
            ("placed anywhere, proposals first", {"proposals_first": True}),
            ("proposals only", {"placed_anywhere": False})]


def instance(n_employees: int, seed: int) -> tuple[list[Slot], list[Request]]:
    """The slots of 20 centres and each employee's request (see the module notes)."""
    rng = np.random.default_rng(seed)
    n_units, n_centres = 26, 20
    where = rng.uniform(0, 1000, (n_units, 2))
    unit = rng.choice(n_units, n_employees, p=_normalised(rng.lognormal(0, 0.6, n_units)))
    distance = np.linalg.norm(where[:, None] - where[None, :n_centres], axis=2)
    nearest = np.argsort(distance, axis=1)[:, :2]  # a unit's two nearest centres
    # expected demand per centre: a centre-less unit's people 70 / 30 over its two nearest
    demand = np.bincount(unit[unit < n_centres], minlength=n_centres).astype(float)
    away = np.bincount(unit[unit >= n_centres], minlength=n_units)[n_centres:]
    np.add.at(demand, nearest[n_centres:, 0], 0.7 * away)
    np.add.at(demand, nearest[n_centres:, 1], 0.3 * away)
    slots: list[Slot] = []
    for c in range(n_centres):
        per_slot = 40  # 10 days × 4 slots
        seats = max(1, math.ceil(1.2 * demand[c] / per_slot))
        rooms = [{"id": f"R{k + 1}", "seats": min(12, seats - 12 * k)}
                 for k in range(math.ceil(seats / 12))]
        centre = TestCentre(id=f"TC-{c + 1:02d}", unit=f"U-{c + 1:02d}", name=NAME,
                            timezone="Asia/Aqtobe" if where[c, 0] < 300 else "Asia/Almaty",
                            rooms=rooms, hours={d: HOURS for d in ("mon", "tue", "wed", "thu", "fri")})
        slots += slots_of(centre, FIRST, LAST)
    # popularity of a centre's 40 slots (they come day by day, hour by hour)
    day = np.array([s.start.weekday() for s in slots[:40]])
    hour = np.array([s.start.hour for s in slots[:40]])
    week = np.array([(s.start.date() - FIRST).days // 7 for s in slots[:40]])
    popularity = (np.select([hour == 9, hour == 11, hour == 13], [3.0, 2.0, 1.0], 0.6)
                  * np.select([day == 0, day == 4, day >= 1], [0.8, 0.6, 1.2], 1.0)
                  * np.where(week == 0, 1.3, 0.8))
    eligible = np.where((unit < n_centres)[:, None], np.stack([unit, np.full_like(unit, -1)], 1),
                        nearest[np.minimum(unit, n_units - 1)])
    eligible[unit < n_centres, 1] = -1
    # Gumbel top-3 over each employee's candidate slots (their centres' 40 or 80)
    weight = np.concatenate([np.tile(popularity, (n_employees, 1)),
                             np.where(eligible[:, 1:] >= 0, 0.4, 0.0) * popularity], axis=1)
    with np.errstate(divide="ignore"):
        keys = np.log(weight) + rng.gumbel(size=weight.shape)
    top = np.argsort(-keys, axis=1)[:, :3]
    centre_of = np.take_along_axis(eligible, top // 40, axis=1)
    chosen = centre_of * 40 + top % 40  # index into slots
    requests = [Request(f"{p:05d}", tuple(slots[j].id for j in chosen[p]),
                        tuple(f"TC-{c + 1:02d}" for c in eligible[p] if c >= 0))
                for p in range(n_employees)]
    return slots, requests


def _normalised(w: np.ndarray) -> np.ndarray:
    return w / w.sum()


def greedy(slots: list[Slot], requests: list[Request], anywhere: bool, seed: int
           ) -> tuple[int, list[int]]:
    """First come, first served: placed, and how many got their 1st, 2nd, 3rd choice."""
    left = {s.id: s.capacity for s in slots}
    by_centre: dict[str, list[str]] = {}
    for s in sorted(slots, key=lambda s: s.start):
        by_centre.setdefault(s.centre.id, []).append(s.id)
    placed, ranks = 0, [0, 0, 0]
    for p in np.random.default_rng(seed).permutation(len(requests)).tolist():
        r = requests[p]
        got = next((k for k, sid in enumerate(r.proposals) if left[sid] > 0), None)
        if got is not None:
            left[r.proposals[got]] -= 1
            placed += 1
            ranks[got] += 1
        elif anywhere:
            sid = next((i for c in r.centres for i in by_centre.get(c, []) if left[i] > 0), None)
            if sid is not None:
                left[sid] -= 1
                placed += 1
    return placed, ranks


def check(result: Schedule, slots: list[Slot]) -> None:
    """No slot over its seats, no seat given twice."""
    seats = [(a.slot.id, a.seat) for a in result.assignments if a.slot is not None]
    assert len(set(seats)) == len(seats), "a seat given twice"
    used: dict[str, int] = {}
    for sid, _ in seats:
        used[sid] = used.get(sid, 0) + 1
    assert all(used.get(s.id, 0) <= s.capacity for s in slots), "a slot over its seats"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--employees", type=int, default=5000)
    parser.add_argument("--quick", action="store_true", help="500 employees")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=21)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    n = 500 if args.quick else args.employees
    speed_before = python_speed()
    slots, requests = instance(n, args.seed)
    seats = sum(s.capacity for s in slots)
    header = ["method", "wall s", "placed / total", "1st choice", "2nd", "3rd", "not proposed",
              "first-choice optimum"]
    rows, notes = [], []

    def share(k: int) -> str:
        return f"{k / n:.1%}"

    for label, options in SETTINGS:
        times = []
        for _ in range(args.repeats):
            started = time.perf_counter()
            result = schedule(slots, requests, **options)
            times.append(time.perf_counter() - started)
        check(result, slots)
        r1, r2, r3 = (list(result.rank_counts) + [0, 0, 0])[:3]
        rows.append([f"`schedule` (HiGHS), {label}", f"{min(times):.2f}",
                     f"{result.placed:,} / {n:,}", share(r1), share(r2), share(r3),
                     share(result.placed - r1 - r2 - r3), share(result.first_choice_optimum)])
        notes.append(f"`schedule`, {label}: {', '.join(f'{t:.2f}' for t in times)} s over "
                     f"{args.repeats} runs (best {min(times):.2f} s; the limit is 60 s).")
    for anywhere in (True, False):
        started = time.perf_counter()
        placed, (g1, g2, g3) = greedy(slots, requests, anywhere, args.seed)
        seconds = time.perf_counter() - started
        rows.append([f"greedy first come, first served, {'anywhere' if anywhere else 'proposals only'}",
                     f"{seconds:.3f}", f"{placed:,} / {n:,}", share(g1), share(g2), share(g3),
                     share(placed - g1 - g2 - g3), ""])
    wanted = Counter(r.proposals[0] for r in requests)
    over = [s for s in slots if wanted[s.id] > s.capacity]
    notes.insert(0, f"{n:,} employees, 20 centres (26 units, 6 without a centre), {len(slots)} slots, "
                    f"{seats:,} seats in all ({seats / n:.2f} per employee), 3 proposals each; "
                    f"{len(over)} slots are the first choice of more people than they seat, "
                    f"{sum(wanted[s.id] for s in over) / n:.0%} of the first choices are in them "
                    f"(for {sum(wanted[s.id] - s.capacity for s in over) / n:.0%} of the "
                    f"employees a first choice is out of reach).")
    notes.append("Shares are of all employees. The first-choice optimum is the most first choices "
                 "of any schedule placing as many people (the second level of the lexicographic "
                 "objective); the issue's order reaches it by construction, proposals first may "
                 "fall short of it.")
    env = [*run_lines(("attestation",)),
           f"- machine speed (`_machine.python_speed`, lower is faster): {speed_before:.0f} ms "
           f"before the run, {python_speed():.0f} ms after",
           f"- load average (1, 5, 15 min) after the run: {load()}",
           f"- numpy {np.__version__}, scipy {__import__('scipy').__version__} (HiGHS by "
           f"`scipy.optimize.linprog`, method highs-ipm with crossover)"]
    publish(RESULTS, "Test-centre scheduling: lexicographic assignment and first come, first served",
            "bench_scheduler.py", argv, [(None, table(header, rows)), (None, notes)], env,
            write=not args.no_write)


if __name__ == "__main__":
    main()
