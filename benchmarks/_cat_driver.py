"""One CAT simulation setting, in a process of its own (used by bench_cat.py).

Usage (the benchmark calls it; by hand only to debug)::

    PYTHON benchmarks/_cat_driver.py '{"library": "catsim", "variant": "components",
                                       "data": "/tmp/dir", "n": 200, "exposure": "none", ...}'

``library`` is ``qabilet`` (run with the repository's ``.venv/bin/python``) or ``catsim`` or
``mirt`` (run with the peer environment's python, ``benchmarks/.venv-peers``). The script imports
nothing but the standard library and numpy at the top, then the one library it measures.

The data directory holds ``a.npy``, ``b.npy`` (the 2PL bank), ``theta.npy`` (true traits) and
``x.npy`` (the full simulees × items 0/1 response matrix, int8); the first ``n`` simulees are used.
Each library gets the bank in its own form, built outside the timer. The simulation itself is
timed with ``time.perf_counter`` (and the process's CPU time with ``resource.getrusage``),
``repeats`` times (fewer once the runs have taken ``budget`` seconds), each run from a fresh
engine and the same seed, so every run gives the same tests.

Variants:

* qabilet ``lockstep``: ``engine.cat.simulate_cat(bank, blueprint, theta=, responses=, rng=)``.
* catsim ``components``: catsim's initializer, selector, estimator and stopper driven by a loop
  that is catsim's ``Simulator.simulate`` loop (same calls in the same order, exposure rates
  updated the same way) except that each answer is read from the response matrix:
  ``Simulator`` draws its own answers from the true θ and has no way to take given ones.
* mirt ``session``: one ``CATEngine`` reused for every simulee, ``run_simulation(θ,
  response_generator=...)`` with a generator that reads the simulee's row of the matrix.
* mirt ``rust`` / ``lockstep``: ``CATEngine.run_batch_simulation(θ)`` with ``use_rust=True`` /
  ``use_rust=False``; these paths draw their own answers from the true θ (no response hook).

The result is one line of JSON on stdout: the run times, CPU times, the final estimates, their
standard errors, the test lengths and the item paths (bank indices, -1 padded), and versions.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np


def _cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def _load(spec: dict[str, Any]) -> dict[str, np.ndarray]:
    d = Path(spec["data"])
    n = int(spec["n"])
    return {"a": np.load(d / "a.npy"), "b": np.load(d / "b.npy"),
            "theta": np.load(d / "theta.npy")[:n], "x": np.load(d / "x.npy")[:n]}


Outcome = tuple[np.ndarray, np.ndarray, list[list[int]]]  # theta, se, item paths


def _repeat(spec: dict[str, Any], run: Callable[[], Outcome]) -> dict[str, Any]:
    """Run the simulation ``repeats`` times (within ``budget`` seconds); keep the last outcome."""
    times: list[float] = []
    cpus: list[float] = []
    spent = 0.0
    outcome: Outcome | None = None
    for _ in range(max(1, int(spec["repeats"]))):
        if times and spent >= float(spec["budget"]):
            break
        c0 = _cpu()
        t0 = time.perf_counter()
        outcome = run()
        elapsed = time.perf_counter() - t0
        cpus.append(_cpu() - c0)
        times.append(elapsed)
        spent += elapsed
    assert outcome is not None
    theta, se, paths = outcome
    max_items = int(spec["max_items"])
    items = np.full((len(paths), max_items), -1, dtype=np.int64)
    for j, path in enumerate(paths):  # output formatting, outside the timer
        items[j, : len(path)] = path
    return {"times": times, "cpu": cpus, "theta": np.asarray(theta, float).tolist(),
            "se": np.asarray(se, float).tolist(),
            "length": [len(p) for p in paths], "items": items.tolist()}


# --- qabilet -------------------------------------------------------------------------------------
def _qabilet(spec: dict[str, Any], data: dict[str, np.ndarray]) -> dict[str, Any]:
    sys.path.insert(0, spec["root"])
    import qabilet
    from qabilet.engine.bank import ItemBank
    from qabilet.engine.cat import Blueprint, simulate_cat
    from qabilet.engine.models import TwoPL

    n_items = data["a"].size
    bank = ItemBank([TwoPL(data["a"], data["b"])], [f"Q{i + 1}" for i in range(n_items)])
    bp = Blueprint(max_items=int(spec["max_items"]), se_target=float(spec["se_target"]),
                   selection="mfi", exposure=spec["exposure"], estimator="eap",
                   n_points=int(spec["n_points"]), bounds=(-6.0, 6.0), start_theta=0.0)
    held: dict[str, Any] = {}

    def run() -> Outcome:
        sim = simulate_cat(bank, bp, theta=data["theta"], responses=data["x"],
                           rng=int(spec["seed"]))
        held["sim"] = sim
        paths = [row[:k].tolist() for row, k in zip(sim.items, sim.length)]
        return sim.theta, sim.se, paths

    out = _repeat(spec, run)
    sim = held["sim"]
    reasons, counts = np.unique(sim.stop_reason, return_counts=True)
    out.update(version=qabilet.__version__, loop_s=float(sim.elapsed_s),
               stop_reasons=dict(zip(reasons.tolist(), counts.tolist())),
               path=f"simulate_cat, {bp.n_points}-node EAP grid on [-6, 6]")
    return out


# --- catsim --------------------------------------------------------------------------------------
def _catsim(spec: dict[str, Any], data: dict[str, np.ndarray]) -> dict[str, Any]:
    import catsim
    from catsim import irt
    from catsim.estimation import NumericalSearchEstimator
    from catsim.initialization import FixedPointInitializer
    from catsim.item_bank import ItemBank
    from catsim.selection import MaxInfoSelector, RandomesqueSelector
    from catsim.stopping import MinErrorStopper

    x, n = data["x"], data["x"].shape[0]
    params = np.column_stack([data["a"], data["b"]])  # a, b; catsim adds c = 0, d = 1
    k = _randomesque_k(spec["exposure"])
    held: dict[str, Any] = {}

    def run() -> Outcome:
        bank = ItemBank(params)
        initializer = FixedPointInitializer(0.0)
        selector = MaxInfoSelector() if k is None else RandomesqueSelector(k)
        estimator = NumericalSearchEstimator()  # bounded ML on [-6, 6], Dodd's heuristic
        stopper = MinErrorStopper(float(spec["se_target"]), max_items=int(spec["max_items"]))
        rng = np.random.default_rng(int(spec["seed"]))
        usage = np.zeros(bank.n_items, dtype=int)
        thetas = np.empty(n)
        paths: list[list[int]] = []
        for j in range(n):
            row = x[j]
            theta = initializer.initialize()
            given: list[int] = []
            answers: list[bool] = []
            while not stopper.stop(_item_bank=bank, administered_items=bank.get_items(given),
                                   theta=theta):
                item = selector.select(item_bank=bank, administered_items=given,
                                       est_theta=theta, rng=rng)
                if item is None:
                    break
                answers.append(bool(row[item]))
                given.append(int(item))
                theta = estimator.estimate(item_bank=bank, administered_items=given,
                                           response_vector=answers, est_theta=theta)
                usage[item] += 1
                bank.update_exposure_rate(int(item), usage[item] / n)
            thetas[j] = theta
            paths.append(given)
        held["bank"] = bank
        return thetas, np.empty(0), paths

    out = _repeat(spec, run)
    bank = held["bank"]
    # the SE catsim's stopper uses: 1 / sqrt(test information at the final estimate)
    out["se"] = [float(irt.see(t, bank.get_items(p[: n_]))) if n_ else float("inf")
                 for t, p, n_ in zip(out["theta"], out["items"], out["length"])]
    out.update(version=catsim.__version__,
               path="Simulator loop from catsim components, answers from the matrix")
    return out


# --- mirt ----------------------------------------------------------------------------------------
def _mirt(spec: dict[str, Any], data: dict[str, np.ndarray]) -> dict[str, Any]:
    import mirt
    from mirt.cat import CATEngine
    from mirt.cat.exposure import Randomesque
    from mirt.models import TwoParameterLogistic

    a, b, theta, x = data["a"], data["b"], data["theta"], data["x"]
    model = TwoParameterLogistic(a.size)
    model.set_parameters(discrimination=a, difficulty=b)
    model._is_fitted = True  # known parameters: mirt has no public "fitted from values" switch
    k = _randomesque_k(spec["exposure"])
    seed = int(spec["seed"])
    variant = spec["variant"]
    held: dict[str, Any] = {}

    def engine() -> Any:
        return CATEngine(model, item_selection="MFI", stopping_rule="SE", scoring_method="EAP",
                         initial_theta=0.0, se_threshold=float(spec["se_target"]),
                         max_items=int(spec["max_items"]), n_quadpts=int(spec["n_points"]),
                         exposure_control=None if k is None else Randomesque(k=k, seed=seed),
                         seed=seed)

    def run() -> Outcome:
        eng = engine()
        if variant == "session":
            results = []
            for j in range(theta.size):
                row = x[j]
                results.append(eng.run_simulation(
                    float(theta[j]), response_generator=lambda item, _t, row=row: int(row[item])))
        else:
            results = eng.run_batch_simulation(theta, use_rust=variant == "rust", vectorized=True)
        held["results"] = results
        return (np.array([r.theta for r in results]),
                np.array([r.standard_error for r in results]),
                [list(r.items_administered) for r in results])

    out = _repeat(spec, run)
    results = held["results"]
    reasons: dict[str, int] = {}
    for r in results:
        reasons[r.stopping_reason] = reasons.get(r.stopping_reason, 0) + 1
    out.update(version=mirt.__version__, stop_reasons=reasons)
    eng = engine()
    if variant == "session":
        out["path"] = "run_simulation per simulee, answers from the matrix"
    elif variant == "rust":
        from mirt._backend_config import should_use_rust

        used = should_use_rust(True) and eng._can_use_rust_simulation()
        if not used or any(r.theta_history for r in results):
            raise RuntimeError("mirt did not take its Rust batch path for this configuration")
        out["path"] = "run_batch_simulation, Rust backend, own answers"
        out["kernel_s"] = _rust_kernel_time(spec, eng, a, b, theta)
    else:
        from mirt.cat._lockstep import supports_lockstep

        if not supports_lockstep(eng) or not all(r.theta_history for r in results):
            raise RuntimeError("mirt did not take its lock-step path for this configuration")
        out["path"] = "run_batch_simulation(use_rust=False), lock-step numpy, own answers"
    return out


def _rust_kernel_time(spec: dict[str, Any], eng: Any, a: np.ndarray, b: np.ndarray,
                      theta: np.ndarray) -> float:
    """Best time of mirt's Rust batch kernel alone, without the Python results it builds."""
    from mirt.backends.rust.cat import cat_simulate_batch_full

    nodes, weights = eng._get_quadrature()
    se_target, max_items, min_items = eng._get_stopping_parameters()
    best = np.inf
    for _ in range(max(1, int(spec["repeats"]))):
        t0 = time.perf_counter()
        cat_simulate_batch_full(np.ascontiguousarray(theta), a.astype(np.float64),
                                b.astype(np.float64), nodes, weights, se_target, max_items,
                                min_items, 1, int(spec["seed"]))
        best = min(best, time.perf_counter() - t0)
    return float(best)


# --- plumbing ----------------------------------------------------------------------------------
def _randomesque_k(exposure: str) -> int | None:
    name, _, k = exposure.partition(":")
    if name == "none":
        return None
    if name != "randomesque" or not k.isdigit():
        raise ValueError(f"exposure: expected none or randomesque:K; got {exposure!r}")
    return int(k)


def main() -> None:
    spec = json.loads(sys.argv[1])
    runner = {"qabilet": _qabilet, "catsim": _catsim, "mirt": _mirt}[spec["library"]]
    data = _load(spec)
    try:
        out = runner(spec, data)
    except ImportError as exc:  # reported as a "not run" row, not a crash
        print(json.dumps({"not_installed": f"{type(exc).__name__}: {exc}"}))
        return
    out["numpy"] = np.__version__
    out["python"] = sys.version.split()[0]
    print(json.dumps(out))


if __name__ == "__main__":
    main()
