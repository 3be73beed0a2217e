"""One small instance of every registered model, uni- and multidimensional (the model zoo of the
engine's tests, and of calibration's and the parameter files' tests of the declarations)."""

import numpy as np

from qabilet.engine.bank import ItemBank
from qabilet.engine.models import (
    FourPL,
    GeneralizedPartialCredit,
    GradedResponse,
    NominalResponse,
    OnePL,
    PartialCredit,
    Rasch,
    RatingScale,
    ThreePL,
    TwoPL,
    model_names,
)


def make_models(three_each: bool = False) -> dict[str, object]:
    """Every registered model, with parameters away from any special case.

    Three items each with ``three_each``; else ``3pl``, ``4pl``, ``gpcm``, ``pcm`` and
    ``nominal`` have the first two of them.
    """
    m = {
        "rasch": Rasch([-1.0, 0.2, 1.5]),
        "1pl": OnePL(1.3, [-0.5, 0.0, 0.8]),
        "2pl": TwoPL([0.7, 1.4, 2.2], [-1.2, 0.3, 1.1]),
        "3pl": ThreePL([1.1, 1.8, 0.9], [0.0, 0.9, -0.4], [0.2, 0.15, 0.1]),
        "4pl": FourPL([1.3, 0.9, 1.1], [-0.4, 0.6, 0.0], [0.1, 0.05, 0.2], [0.95, 0.9, 0.97]),
        "grm": GradedResponse([1.2, 0.8, 1.7], [[-1.5, -0.2, 0.9, 2.0], [-0.5, 0.5], [0.1]]),
        "gpcm": GeneralizedPartialCredit([0.9, 1.6, 1.1], [[-1.0, 0.4, 0.2], [0.5, -0.3], [0.0]]),
        "pcm": PartialCredit([[-0.7, 0.6], [0.2, 1.0, -0.4], [0.3]]),
        "rsm": RatingScale([-0.3, 0.4, 1.0], [-1.1, 0.1, 1.2]),
        "nominal": NominalResponse([[0.0, 0.4, 1.3, -0.6], [0.0, 1.1, 0.8], [0.0, 0.7]],
                                   [[0.0, 0.5, -0.3, 0.2], [0.0, -0.4, 0.6], [0.0, 0.3]]),
    }
    assert set(m) == set(model_names()), "a registered model is missing from the fixtures"
    if not three_each:
        for name in ("3pl", "4pl", "gpcm", "pcm", "nominal"):
            m[name] = m[name].subset([0, 1])
    return m


def make_multidimensional() -> dict[str, object]:
    """Compensatory multidimensional items: simple structure and within-item loadings."""
    a = np.array([[1.2, 0.0], [0.0, 0.9], [0.7, 0.8]])
    return {
        "m2pl": TwoPL.from_slope_intercept(a, [0.3, -0.5, 0.1]),
        "m3pl": ThreePL.from_slope_intercept(a[:2], [0.2, -0.1], c=[0.2, 0.1]),
        "mgrm": GradedResponse.from_slope_intercept(a, [[1.0, -0.5], [0.5, 0.0], [2.0, 0.4]]),
        "mgpcm": GeneralizedPartialCredit.from_slope_intercept(
            a[:2], [[0.0, 0.4, 0.1], [0.0, -0.2]]
        ),
        "mnominal": NominalResponse.from_slope_intercept(
            a[1:], [[0.0, 1.0, 2.0], [0.0, 0.6, 2.0]], [[0.0, 0.3, -0.2], [0.0, 0.1, 0.4]]
        ),
        "m4d": TwoPL.from_slope_intercept(
            [
                [1.0, 0.0, 0.0, 0.0],
                [0.0, 1.1, 0.0, 0.0],
                [0.0, 0.0, 0.9, 0.0],
                [0.0, 0.0, 0.0, 1.3],
                [0.5, 0.5, 0.5, 0.5],
            ],
            [0.0, 0.2, -0.2, 0.4, 0.0],
        ),
    }


def make_two_factor() -> dict[str, object]:
    """Every model that has a slope-intercept form but ``1pl`` (one common slope), two items on
    two factors."""
    a = np.array([[1.2, 0.0], [0.5, 0.9]])
    return {
        "rasch": Rasch.from_slope_intercept(np.ones((2, 2)), [0.3, -0.5]),
        "2pl": TwoPL.from_slope_intercept(a, [0.3, -0.5]),
        "3pl": ThreePL.from_slope_intercept(a, [0.2, -0.1], c=[0.2, 0.1]),
        "4pl": FourPL.from_slope_intercept(a, [0.2, -0.1], c=[0.2, 0.1], u=[0.9, 0.95]),
        "grm": GradedResponse.from_slope_intercept(a, [[1.0, -0.5], [0.5, 0.0]]),
        "gpcm": GeneralizedPartialCredit.from_slope_intercept(a, [[0.0, 0.4, 0.1], [0.0, -0.2]]),
        "pcm": PartialCredit.from_slope_intercept(np.ones((2, 2)), [[0.0, 0.4], [0.0, -0.2]]),
        "nominal": NominalResponse.from_slope_intercept(a, [[0.0, 1.0, 2.0], [0.0, 0.6, 2.0]],
                                                        [[0.0, 0.3, -0.2], [0.0, 0.1, 0.4]]),
    }


def make_mixed_bank() -> ItemBank:
    """One bank of several models, in interleaved order."""
    ms = make_models()
    blocks = [ms["2pl"], ms["grm"], ms["nominal"], ms["3pl"]]
    positions = [[0, 3, 7], [1, 4, 8], [2, 9], [5, 6]]
    ids = [f"I{k}" for k in range(10)]
    return ItemBank(blocks, ids, positions=positions)


ALL_UNI = make_models()
ALL_MULTI = make_multidimensional()
