"""Profiles with reverse-keyed items (negative slopes, issue 17).

Truth by an exact reparametrisation: a graded item whose categories are listed in the opposite
order, with its slopes negated and its intercepts reversed and negated
(a → −a, d_k → −d_{K−k}), gives every answer code the same probability at every θ, since
P(X ≥ k) = σ(aθ + d_k) becomes 1 − σ(−aθ − d_k). A version written that way — its Likert items
now reverse-keyed — must turn the same answers into the same profile.
"""

from __future__ import annotations

import numpy as np
import pytest

from qabilet.delivery.profiles import build_profile
from qabilet.demo_session import session_plan, simulate_candidate


def _reflected(version):
    """The version with every graded item written reverse-keyed (the same model)."""
    items = []
    for item in version.parameters.items:
        if item.model == "grm":
            codes = item.categories or list(range(len(item.d) + 1))  # absent: 0 … K−1
            item = item.model_copy(update={
                "a": [-a for a in item.a] if isinstance(item.a, list) else -item.a,
                "d": [-d for d in reversed(item.d)],
                "categories": codes[::-1],
                "se": None})
        items.append(item)
    return version.model_copy(update={"parameters": version.parameters.model_copy(
        update={"items": items})})


@pytest.mark.parametrize("theta", [-1.0, 1.2])
def test_a_reverse_keyed_version_gives_the_same_profile(demo_repo, theta):
    version = demo_repo.version()
    reflected = _reflected(version)
    bank = reflected.parameters.to_bank()
    assert np.array_equal(bank.reverse_keyed, np.array(bank.model_names) == "grm")
    items = {i.id: i for i in demo_repo.items()}
    plan = session_plan(demo_repo, "middle")
    answers = simulate_candidate(plan, dict.fromkeys(version.dimensions, theta), seed=3,
                                 items=items, language="en").answers

    def profile(v):
        return build_profile(version=v, norm_set=demo_repo.norm_set(), items=items,
                             dimensions=demo_repo.dimensions(),
                             recommendations=demo_repo.recommendations(), level="middle",
                             language="en", answers=answers, candidate_id="C1",
                             software_version="test")

    same, other = profile(version), profile(reflected)
    for a, b in zip(same.professional + same.personal, other.professional + other.personal,
                    strict=True):
        assert a.dimension == b.dimension
        np.testing.assert_allclose([b.theta, b.sd, b.percentile], [a.theta, a.sd, a.percentile],
                                   rtol=1e-7, atol=1e-7)
        assert a.band == b.band
