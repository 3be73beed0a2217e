"""Fixtures over every registered model (see model_zoo)."""

import pytest
from model_zoo import ALL_MULTI, ALL_UNI, make_mixed_bank


@pytest.fixture(params=sorted(ALL_UNI) + ["mixed_bank"])
def uni_model(request):
    if request.param == "mixed_bank":
        return make_mixed_bank()
    return ALL_UNI[request.param]


@pytest.fixture(params=sorted(ALL_MULTI))
def multi_model(request):
    return ALL_MULTI[request.param]
