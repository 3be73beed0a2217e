"""One calibration from a response file, in a process of its own (used by bench_calibration.py).

Usage (the benchmark calls it; by hand only to debug)::

    PYTHON benchmarks/_fit_driver.py '{"library": "mirt", "csv": "/tmp/x.csv", "model": "2pl",
                                        "n_points": 61, "se": true, ...}'

``library`` is ``qabilet`` or ``girth`` (run with the repository's ``.venv/bin/python``) or
``mirt`` (run with the peer environment's python, ``benchmarks/.venv-peers``, where only numpy
and mirt are installed). The script imports nothing but the standard library and numpy at the
top, then the one library it measures, so that a process holds one library only and its peak
memory is that library's.

Steps, each timed with ``time.perf_counter``:

1. ``import``: the library (and, for qabilet, its CSV reader).
2. ``read``: the CSV file to the library's input. qabilet reads it with its own
   ``qabilet.itembank.response_file.read_responses_csv``. girth and mirt have no reader, so they get
   :func:`read_matrix` below, a vectorised numpy parser of this benchmark's unquoted layout, then
   each library's own form: mirt a persons × items ``int`` matrix with -1 for a missing cell,
   girth an items × persons matrix with its ``INVALID_RESPONSE`` sentinel.
3. ``fit``: the estimation, and with ``"se": true`` in the spec the standard errors too, each
   library by its own default method, as its users get them: qabilet ``MML(compute_se=True)``
   (``se="louis"``, the inverse observed information in closed form by Louis' identity), mirt
   ``fit_mirt(compute_standard_errors=True)`` (``se_method="auto"``, which is ``"oakes"`` for a
   unidimensional 2PL or GRM: the inverse observed information, also by Louis' identity).
   Without it, standard errors are off in every library. girth computes none (only a
   bootstrap, ``standard_errors_bootstrap``, of 2,000 refits by default): asked for them, the
   driver refuses.

The result is one line of JSON on stdout: the times, the estimates in traditional form (``a``
per item, ``b`` per item and boundary) and their standard errors (``a_se``, ``b_se``: NaN, i.e.
``null``, when not computed) with the library's name for its method (``se_method``), cycles,
convergence, log-likelihood where the library reports it, and the peak resident memory
(``VmHWM``) and CPU seconds of this process after the imports, after the read, and at the end;
the high-water mark is reset between the read and the fit (``/proc/self/clear_refs``), so the
last is the peak of the fit alone (with the data it holds).
"""

from __future__ import annotations

import json
import resource
import sys
import time
from typing import Any

import numpy as np


# --- the peers' CSV reader ---------------------------------------------------------------------
def read_matrix(path: str, chunk_bytes: int = 1 << 22) -> tuple[list[str], np.ndarray]:
    """Header and integer cells (-1 where empty) of an unquoted, comma-separated file.

    Every line, the last one included, ends with ``\n``; cells are unsigned integers or empty.
    The file is parsed with array operations, a block of whole lines (about ``chunk_bytes``) at
    a time so that the scratch arrays stay small next to the result: the positions of the
    separators give every field's start and length, and the digits are accumulated one column of
    characters at a time.
    """
    buf = np.fromfile(path, dtype=np.uint8)
    first_nl = int(np.argmax(buf == ord("\n")))
    header = buf[:first_nl].tobytes().decode("utf-8-sig").split(",")
    body = buf[first_nl + 1:]
    if body.size == 0 or body[-1] != ord("\n"):
        raise ValueError(f"{path}: expected data rows ending with a newline")
    n_cols = len(header)
    line_ends = np.flatnonzero(body == ord("\n"))
    n_lines = line_ends.size
    out = np.empty((n_lines, n_cols), dtype=np.int64)
    # blocks of whole lines: [first line, last line) with roughly chunk_bytes each
    cuts = np.searchsorted(line_ends, np.arange(chunk_bytes, body.size, chunk_bytes))
    bounds = np.unique(np.concatenate([[0], cuts, [n_lines]]))
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        begin = 0 if lo == 0 else int(line_ends[lo - 1]) + 1
        block = body[begin: int(line_ends[hi - 1]) + 1]
        seps = np.flatnonzero((block == ord(",")) | (block == ord("\n")))
        if seps.size != (hi - lo) * n_cols:
            raise ValueError(f"{path}: expected {n_cols} cells on each of rows {lo + 1}..{hi}")
        starts = np.empty_like(seps)
        starts[0] = 0
        starts[1:] = seps[:-1] + 1
        lengths = seps - starts
        values = np.zeros(seps.size, dtype=np.int64)
        for j in range(int(lengths.max(initial=0))):
            has = lengths > j
            digit = block[np.where(has, starts + j, 0)].astype(np.int64) - ord("0")
            if np.any(has & ((digit < 0) | (digit > 9))):
                raise ValueError(f"{path}: expected unsigned integer cells")
            values = np.where(has, values * 10 + digit, values)
        values[lengths == 0] = -1
        out[lo:hi] = values.reshape(hi - lo, n_cols)
    return header, out


def _items_only(header: list[str], cells: np.ndarray) -> tuple[list[str], np.ndarray]:
    keep = [j for j, name in enumerate(header) if name != "person_id"]
    return [header[j] for j in keep], np.ascontiguousarray(cells[:, keep])


# --- the libraries -------------------------------------------------------------------------------
def _qabilet(spec: dict[str, Any], clock: dict[str, float]) -> dict[str, Any]:
    sys.path.insert(0, spec["root"])
    t0 = time.perf_counter()
    from qabilet.calibration import MML
    from qabilet.itembank.response_file import read_responses_csv

    clock["import"] = time.perf_counter() - t0
    clock["rusage_imported"] = _usage()

    out: dict[str, Any] = {}

    def read() -> None:
        out["data"] = read_responses_csv(spec["csv"])

    _timed(read, spec, clock, "read")
    data = out["data"]

    est = MML(model=spec["model"], n_points=spec["n_points"], bounds=tuple(spec["bounds"]),
              tol=spec["tol"], max_iter=spec["max_iter"], compute_se=bool(spec.get("se")))

    def fit() -> None:
        out["result"] = est.fit(data.responses, data.observed, item_ids=list(data.item_ids))

    _timed(fit, spec, clock, "fit")
    result = out["result"]
    n_items = data.n_items
    width = int(max(c.size for c in result.categories)) - 1
    a, b = np.full(n_items, np.nan), np.full((n_items, width), np.nan)
    a_se, b_se = np.full(n_items, np.nan), np.full((n_items, width), np.nan)
    for p, item in enumerate(result.items):  # bank order: the data's columns
        names = item.traditional_names  # "a", then "b" or "b[0]", "b[1]", …
        is_b = np.array([n.split("[")[0] == "b" for n in names], dtype=bool)
        is_a = np.array([n == "a" for n in names], dtype=bool)
        a[p], a_se[p] = item.traditional_values[is_a][0], item.traditional_se[is_a][0]
        b[p, : is_b.sum()] = item.traditional_values[is_b]
        b_se[p, : is_b.sum()] = item.traditional_se[is_b]
    return {"a": a, "b": b, "a_se": a_se, "b_se": b_se,
            "se_method": result.se_method if result.se_computed else None,
            "n_iter": result.n_iter, "converged": result.converged, "loglik": result.loglik,
            "version": _version("qabilet", spec["root"])}


def _girth(spec: dict[str, Any], clock: dict[str, float]) -> dict[str, Any]:
    if spec.get("se"):
        raise SystemExit("girth: no standard errors but its bootstrap (standard_errors_bootstrap, "
                         "2,000 refits by default); not measured")
    t0 = time.perf_counter()
    import girth

    clock["import"] = time.perf_counter() - t0
    clock["rusage_imported"] = _usage()

    held: dict[str, Any] = {}

    def read() -> None:
        header, cells = read_matrix(spec["csv"])
        _, x = _items_only(header, cells)
        held["gx"] = np.ascontiguousarray(np.where(x < 0, girth.INVALID_RESPONSE, x).T)

    _timed(read, spec, clock, "read")
    gx = held.pop("gx")

    # girth reports no cycle count: count its one fminbound call per item and cycle
    module = sys.modules["girth.unidimensional.polytomous.grm_mml"]
    inner = module.fminbound
    calls = [0]

    def counting_fminbound(*args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        return inner(*args, **kwargs)

    module.fminbound = counting_fminbound
    options = {"quadrature_n": spec["n_points"], "quadrature_bounds": tuple(spec["bounds"]),
               "max_iteration": spec["max_iter"]}
    fn = girth.twopl_mml if spec["model"] == "2pl" else girth.grm_mml
    out: dict[str, Any] = {}

    def fit() -> None:
        calls[0] = 0
        out.update(fn(gx, options))

    _timed(fit, spec, clock, "fit")
    n_items = gx.shape[0]
    cycles = calls[0] // n_items
    # girth stops when no slope moved 1e-3 in a cycle, or after max_iteration cycles
    return {"a": np.asarray(out["Discrimination"], float),
            "b": np.asarray(out["Difficulty"], float).reshape(n_items, -1),
            "a_se": None, "b_se": None, "se_method": None,
            "n_iter": cycles, "converged": None if cycles >= spec["max_iter"] else True,
            "loglik": None, "version": getattr(girth, "__version__", None) or _dist("girth")}


#: the modules mirt 1.2's ``fit_mirt`` imports on its first call, for a 2PL or a GRM fit
_MIRT_LAZY = (
    "mirt._backend_config", "mirt._categorical", "mirt._classical", "mirt._logistic",
    "mirt._prior_mass", "mirt.backends.rust.estimation", "mirt.backends.rust.patterns",
    "mirt.backends.rust.polytomous", "mirt.backends.rust.polytomous_mstep",
    "mirt.estimation._em_context", "mirt.estimation._item_priors", "mirt.estimation._logistic_newton",
    "mirt.estimation._patterns", "mirt.estimation._refit", "mirt.estimation._shared_step",
    "mirt.estimation.base", "mirt.estimation.bifactor_em", "mirt.estimation.em",
    "mirt.estimation.latent_density", "mirt.estimation.mcmc", "mirt.estimation.standard_errors",
    "mirt.exceptions", "mirt.models._factory", "mirt.models.base", "mirt.models.dichotomous",
    "mirt.models.mixed_format", "mirt.models.polytomous", "mirt.results.fit_result",
    "mirt.scoring", "mirt.scoring._common", "mirt.typing", "mirt.utils.data",
)


def _mirt(spec: dict[str, Any], clock: dict[str, float]) -> dict[str, Any]:
    t0 = time.perf_counter()
    import importlib

    import mirt

    # mirt imports lazily, inside fit_mirt, about a second of modules (scipy.stats, scipy.optimize,
    # its estimators): load them here so that the fit is timed without them
    for name in _MIRT_LAZY:
        try:
            importlib.import_module(name)
        except ImportError:
            pass
    clock["import"] = time.perf_counter() - t0
    clock["rusage_imported"] = _usage()

    held: dict[str, Any] = {}

    def read() -> None:
        header, cells = read_matrix(spec["csv"])
        held["names"], held["x"] = _items_only(header, cells)

    _timed(read, spec, clock, "read")
    names, x = held.pop("names"), held.pop("x")

    out: dict[str, Any] = {}

    def fit() -> None:
        out["result"] = mirt.fit_mirt(
            x, model=spec["model"].upper(), n_quadpts=spec["n_points"], tol=spec["tol"],
            max_iter=spec["max_iter"], compute_standard_errors=bool(spec.get("se")),
            item_names=names, **spec.get("options", {}))

    _timed(fit, spec, clock, "fit")
    res = out["result"]
    n_items = x.shape[1]
    b_name = "difficulty" if spec["model"] == "2pl" else "thresholds"
    params, errors = res.model.parameters, res.standard_errors  # errors: {} when not computed
    a_se, b_se = (np.asarray(errors[name], float).reshape(n_items, -1) if name in errors
                  else None for name in ("discrimination", b_name))
    return {"a": np.asarray(params["discrimination"], float).reshape(-1),
            "b": np.asarray(params[b_name], float).reshape(n_items, -1),
            "a_se": None if a_se is None else a_se.reshape(-1), "b_se": b_se,
            "se_method": res.se_method if errors else None, "n_iter": int(res.n_iterations),
            "converged": bool(res.converged), "loglik": float(res.log_likelihood),
            "version": mirt.__version__}


# --- plumbing ----------------------------------------------------------------------------------
def _timed(step: Any, spec: dict[str, Any], clock: dict[str, Any], name: str) -> None:
    """Run one step (``read`` or ``fit``), timed; under cProfile when the spec asks."""
    if name == "fit":
        clock["rusage_read"] = _usage()
        _reset_peak()
    t0 = time.perf_counter()
    if spec.get("profile"):
        import cProfile
        import pstats

        prof = cProfile.Profile()
        prof.runcall(step)
        clock[name] = time.perf_counter() - t0
        sys.stderr.write(f"\n===== {spec['library']} {name}: {clock[name]:.3f} s under cProfile\n")
        stats = pstats.Stats(prof, stream=sys.stderr)
        stats.sort_stats("cumulative").print_stats(30)
        stats.sort_stats("tottime").print_stats(20)
        return
    step()
    clock[name] = time.perf_counter() - t0


def _reset_peak() -> None:
    """Reset this process's high-water mark of resident memory (Linux: clear_refs 5)."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as fh:
            fh.write("5")
    except OSError:
        pass


def _usage() -> dict[str, float]:
    """Peak resident memory (KiB) and CPU seconds of this process so far.

    The peak is Linux's ``VmHWM``, the high-water mark of this program's own address space.
    ``ru_maxrss`` is not used where ``VmHWM`` exists: Linux carries it over from the parent
    across fork and exec, so a child of a large benchmark process would report the parent's size.
    """
    ru = resource.getrusage(resource.RUSAGE_SELF)
    peak = float(ru.ru_maxrss)
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    peak = float(line.split()[1])
    except OSError:
        pass
    return {"maxrss_kib": peak, "cpu_s": ru.ru_utime + ru.ru_stime}


def _dist(name: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return None


def _version(name: str, root: str) -> str | None:
    try:
        module = __import__(name)
    except ImportError:
        return _dist(name)
    return getattr(module, "__version__", None)


def _jsonable(v: Any) -> Any:
    if isinstance(v, np.ndarray):
        return [_jsonable(x) for x in v.tolist()] if v.ndim else _jsonable(v.item())
    if isinstance(v, list):
        return [_jsonable(x) for x in v]
    if isinstance(v, float) and v != v:
        return None
    if isinstance(v, np.generic):
        return _jsonable(v.item())
    return v


def main() -> None:
    started = time.perf_counter()
    spec = json.loads(sys.argv[1])
    clock: dict[str, Any] = {}
    run = {"qabilet": _qabilet, "girth": _girth, "mirt": _mirt}[spec["library"]]
    result = run(spec, clock)
    result.update(clock)
    result["rusage_end"] = _usage()
    result["driver_s"] = time.perf_counter() - started
    result["numpy"] = np.__version__
    print(json.dumps({k: _jsonable(v) for k, v in result.items()}))


if __name__ == "__main__":
    main()
