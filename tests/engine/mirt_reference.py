"""Loading the copied mirt reference fits (tests/data/mirt, see its README for provenance)."""

import csv
import json
from pathlib import Path

import numpy as np

from qabilet.engine.latent import LatentDistribution
from qabilet.engine.models import GeneralizedPartialCredit, GradedResponse, TwoPL

DATA = Path(__file__).resolve().parents[1] / "data" / "mirt"

CASES = [
    ("lsat6", "Rasch"),
    ("lsat6", "2PL"),
    ("lsat7", "Rasch"),
    ("lsat7", "2PL"),
    ("sat12", "2PL"),
    ("science", "GRM"),
    ("science", "GPCM"),
]


def load_data(dataset: str) -> np.ndarray:
    """Responses recoded to 0..K−1 per item in sorted order (as mirt does); NaN = missing."""
    with open(DATA / f"{dataset}.csv", newline="") as fh:
        rows = list(csv.reader(fh))
    raw = np.array([[float(v) if v != "" else np.nan for v in r] for r in rows[1:]])
    out = np.full(raw.shape, np.nan)
    for j in range(raw.shape[1]):
        seen = ~np.isnan(raw[:, j])
        codes = np.unique(raw[seen, j])
        out[seen, j] = np.searchsorted(codes, raw[seen, j])
    return out


def load_fit(dataset: str, fit: str) -> dict:
    with open(DATA / f"{dataset}.json") as fh:
        doc = json.load(fh)
    out = doc["fits"][fit]
    out["columns"] = doc["columns"]
    return out


def model_of(fit: dict):
    """The mirt fit's items (slope-intercept parameters) and latent distribution."""
    si, cols = fit["slope_intercept"], fit["columns"]
    a = [si[c]["a1"] for c in cols]
    kind = fit["itemtype"].lower()
    if kind in ("rasch", "2pl"):
        model = TwoPL.from_slope_intercept(a, [si[c]["d"] for c in cols])
    elif kind == "graded":
        k = fit["n_categories"]
        model = GradedResponse.from_slope_intercept(
            a, [[si[c][f"d{j}"] for j in range(1, k[c])] for c in cols]
        )
    elif kind == "gpcm":
        k = fit["n_categories"]
        model = GeneralizedPartialCredit.from_slope_intercept(
            a, [[si[c][f"d{j}"] for j in range(k[c])] for c in cols]
        )
    else:  # pragma: no cover
        raise ValueError(kind)
    latent = LatentDistribution(fit["group"]["mean"], fit["group"]["cov"])
    return model, latent
