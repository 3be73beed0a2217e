"""Agreement with R's mirt 1.47 on published data (tests/data/mirt; values mirt computed).

Marginal log-likelihood on mirt's 61-node calibration grid with the fitted latent distribution:
within 1e-6. EAP θ and posterior SD on mirt's 121-node scoring grid: within 1e-4 (the issue's
bound; we observe ~1e-14). MAP: within 1e-4 (mirt's optimiser stops near 1e-6).
"""

import numpy as np
import pytest
from mirt_reference import CASES, load_data, load_fit, model_of

from qabilet.engine.bank import ItemBank
from qabilet.engine.scoring import eap, marginal_loglik, score


@pytest.mark.parametrize("dataset, fit_name", CASES)
def test_marginal_loglik_matches_mirt(dataset, fit_name):
    fit = load_fit(dataset, fit_name)
    model, latent = model_of(fit)
    x = load_data(dataset)
    ll = marginal_loglik(model, x, latent=latent, n_points=61, bounds=(-6, 6))
    assert ll == pytest.approx(fit["logLik"], abs=1e-6)


@pytest.mark.parametrize("dataset, fit_name", CASES)
def test_eap_matches_mirt(dataset, fit_name):
    fit = load_fit(dataset, fit_name)
    model, latent = model_of(fit)
    x = load_data(dataset)[: fit["eap"]["n"]]
    est = eap(model, x, prior=latent, n_points=121, bounds=(-6, 6))
    np.testing.assert_allclose(est.theta, fit["eap"]["theta"], rtol=0, atol=1e-4)
    np.testing.assert_allclose(est.se, fit["eap"]["se"], rtol=0, atol=1e-4)


@pytest.mark.parametrize("dataset, fit_name", CASES)
def test_map_matches_mirt(dataset, fit_name):
    fit = load_fit(dataset, fit_name)
    model, latent = model_of(fit)
    x = load_data(dataset)[: fit["map"]["n"]]
    est = score(model, x, method="map", prior=latent)
    np.testing.assert_allclose(est.theta, fit["map"]["theta"], rtol=0, atol=1e-4)
    np.testing.assert_allclose(est.se, fit["map"]["se"], rtol=0, atol=1e-4)


def test_bank_latent_is_the_default_prior():
    # mirt scores a Rasch fit with its estimated variance; a bank carrying it does the same
    fit = load_fit("lsat7", "Rasch")
    model, latent = model_of(fit)
    x = load_data("lsat7")[:200]
    est = eap(ItemBank([model], latent=latent), x)
    np.testing.assert_allclose(est.theta, fit["eap"]["theta"], atol=1e-4)
    # and the N(0, 1) prior would not match: the comparison above can fail
    assert np.abs(eap(model, x).theta - fit["eap"]["theta"]).max() > 1e-3


def test_mixed_bank_scores_like_its_parts():
    # the Science GRM items as one bank with the LSAT7 2PL items (disjoint persons): the bank's
    # log-likelihood on the grid is the sum of each part's, so scoring in one call must agree
    grm, _ = model_of(load_fit("science", "GRM"))
    tpl, _ = model_of(load_fit("lsat7", "2PL"))
    bank = ItemBank([grm, tpl])
    xs, xl = load_data("science")[:50], load_data("lsat7")[:50]
    both = np.hstack([xs, xl])
    est = eap(bank, both)
    # independent: combine the two parts' likelihoods on the grid by hand
    nodes = np.linspace(-6, 6, 121)

    def loglik(model, x):
        lp = model.log_prob(nodes)  # (Q, I, K)
        obs = ~np.isnan(x)
        xi = np.where(obs, x, 0).astype(int)
        return np.stack(
            [(lp[:, np.arange(x.shape[1]), xi[p]] * obs[p]).sum(1) for p in range(len(x))]
        )

    ll = loglik(grm, xs) + loglik(tpl, xl) - nodes**2 / 2
    w = np.exp(ll - ll.max(1, keepdims=True))
    w /= w.sum(1, keepdims=True)
    np.testing.assert_allclose(est.theta, w @ nodes, atol=1e-12)
