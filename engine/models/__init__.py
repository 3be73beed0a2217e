"""Item response models, registered by the names used in parameter files.

========== ============================================ ==================================
name       class                                        source
========== ============================================ ==================================
rasch      :class:`Rasch`                               Rasch (1960); latent variance free
1pl        :class:`OnePL`                               common slope, θ ~ N(0, 1)
2pl        :class:`TwoPL`                               Birnbaum (1968)
3pl        :class:`ThreePL`                             Birnbaum (1968)
4pl        :class:`FourPL`                              Barton & Lord (1981)
grm        :class:`GradedResponse`                      Samejima (1969)
gpcm       :class:`GeneralizedPartialCredit`            Muraki (1992)
pcm        :class:`PartialCredit`                       Masters (1982)
rsm        :class:`RatingScale`                         Andrich (1978)
nominal    :class:`NominalResponse`                     Bock (1972)
========== ============================================ ==================================

Every model accepts multidimensional (compensatory) items through ``from_slope_intercept`` with
one slope per factor.

Each model class declares its parameters once, in ``PARAMETERS`` (a :class:`ModelParameters` of
:class:`Column` and :class:`Field`); records, parameter files and calibration derive theirs from
it. Adding a model: a registered class with its kernels, conversions, ``PARAMETERS`` and
``from_record_fields``.
"""

from qabilet.engine.models._base import ItemModel, ItemSet
from qabilet.engine.models._declaration import Column, Field, ModelParameters
from qabilet.engine.models.dichotomous import FourPL, OnePL, Rasch, ThreePL, TwoPL
from qabilet.engine.models.graded import GradedResponse
from qabilet.engine.models.nominal import NominalResponse
from qabilet.engine.models.partial_credit import (
    GeneralizedPartialCredit,
    PartialCredit,
    RatingScale,
)
from qabilet.engine.models.registry import get_model, model_names, register

__all__ = [
    "Column",
    "Field",
    "FourPL",
    "GeneralizedPartialCredit",
    "GradedResponse",
    "ItemModel",
    "ItemSet",
    "ModelParameters",
    "NominalResponse",
    "OnePL",
    "PartialCredit",
    "Rasch",
    "RatingScale",
    "ThreePL",
    "TwoPL",
    "get_model",
    "model_names",
    "register",
]
