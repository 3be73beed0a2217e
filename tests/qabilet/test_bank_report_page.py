"""The technical report as served (GET /v1/admin/versions/{n}/report over real HTTP) and as
written (``qabilet bank report``), read in headless Chromium: every chart present, one language
throughout, its stylesheet allowed by the page's policy, and its numbers the library's."""

from __future__ import annotations

import re

import httpx
import numpy as np
import pytest
from typer.testing import CliRunner

from qabilet.bank_report_html import load_bank_report_texts
from qabilet.calibration import marginal_reliability, rmsd
from qabilet.cli import app
from qabilet.itembank.database import connect
from qabilet.itembank.repository import BankRepository
from qabilet.itembank.versions import scale_bank
from tests.api._server import Server, staff, staff_keys
from tests.delivery.test_report_html import ARTIFACTS, _chromium
from tests.qabilet.test_bank_report import _given_matrix

CYRILLIC = re.compile(r"[\u0400-\u04ff]")
#: per scale: test information, conditional SE, item curves, item information, exposure
CHARTS_PER_SCALE = 5


def _library_figures(url, given):
    """What the library computes here for the first scale: the middle level's marginal
    reliability, and each item's RMSD in the Russian group, on the answers as given."""
    engine = connect(url)
    repo = BankRepository(engine)
    version = repo.version()
    dim = version.dimensions[0]
    items = {i.id: i for i in repo.items(version=version.number)}
    pool = [i for i in version.item_ids if items[i].dimension == dim and "middle" in items[i].levels]
    marginal = marginal_reliability(scale_bank(version.parameters, [dim], pool))
    ids, x = _given_matrix(repo, given, dim)
    keep = ~np.isnan(x).all(axis=1)
    fit = rmsd(scale_bank(version.parameters, [dim], ids), x[keep],
               groups=np.asarray(given.languages)[keep])
    h = list(fit.groups).index("ru")
    fits = {i: fit.rmsd[h, j] for j, i in enumerate(ids) if np.isfinite(fit.rmsd[h, j])}
    names = {d.id: d.name for d in repo.dimensions().values()}
    engine.dispose()
    return dim, marginal, fits, names, len(version.dimensions)


def test_the_served_report_in_chromium(answered):
    playwright = pytest.importorskip("playwright.sync_api")
    exe = _chromium()
    url, given = answered
    dim, marginal, fits, names, n_scales = _library_figures(url, given)
    keys = staff_keys(url)
    running = Server(url).start()
    try:
        base = running.base
        path = "/v1/admin/versions/1/report"
        assert httpx.get(f"{base}{path}", headers=staff(keys)).status_code == 403
        missing = httpx.get(f"{base}/v1/admin/versions/99/report", headers=staff(keys, "psychometrician"))
        assert missing.status_code == 404 and "does not exist" in missing.text
        bad = httpx.get(f"{base}{path}?language=de", headers=staff(keys, "psychometrician"))
        assert bad.status_code == 422 and "language" in bad.text
        tx = load_bank_report_texts()
        with playwright.sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=exe, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1300, "height": 900})
            page.set_extra_http_headers(staff(keys, "psychometrician"))
            blocked: list[str] = []
            page.on("console", lambda m: blocked.append(m.text) if "Content Security" in m.text
                    else None)
            served = page.goto(f"{base}{path}?language=ru", timeout=120_000)
            assert served.status == 200 and served.headers["content-language"] == "ru"
            assert page.title() == tx["ru"]["title"].format(number=1)
            # the stylesheet applies under the page's own policy (its digest)
            assert page.evaluate("getComputedStyle(document.body).maxWidth") == "1248px"
            assert blocked == []
            sections = page.locator("section.scale")
            assert sections.count() == n_scales
            for k in range(n_scales):
                assert sections.nth(k).locator("svg.chart").count() == CHARTS_PER_SCALE
            text = page.inner_text("body")
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "bank_report_ru.png"), full_page=False)
            # one language: the dimensions' Russian names, none of their English ones, and no
            # English sentence of the interface
            assert all(n["ru"] in text for n in names.values())
            assert not any(n["en"] in text for n in names.values())
            for key in ("scales_note", "validity_note", "m_rmsd", "flags_note"):
                assert tx["en"][key] not in text and tx["ru"][key] in text
            # the numbers are the library's
            cell = page.locator(f'td[data-scale="{dim}"][data-level="middle"][data-stat="marginal"]')
            assert cell.inner_text() == f"{marginal:.3f}"
            for item, value in fits.items():
                shown = page.locator(f'td[data-item="{item}"][data-stat="rmsd-ru"]').inner_text()
                assert shown == f"{value:.3f}"
            browser.close()
    finally:
        running.stop()


def test_the_command_writes_the_report_in_english(answered, tmp_path):
    url, given = answered
    out = tmp_path / "report.html"
    done = CliRunner().invoke(app, ["bank", "report", "1", "--out", str(out), "--language", "en",
                                    "--database", url])
    assert done.exit_code == 0, done.output
    assert f"({len(given.sessions)} sessions, 9 scales)" in done.stdout
    page = out.read_text("utf-8")
    visible = re.sub(r"<[^>]+>", " ", re.sub(r"<(style|svg)\b.*?</\1>", " ", page, flags=re.S))
    assert not CYRILLIC.search(visible)
    assert page.count('<svg ') == 9 * CHARTS_PER_SCALE
    refused = CliRunner().invoke(app, ["bank", "report", "5", "--database", url])
    assert refused.exit_code == 2 and "bank version 5 does not exist" in refused.output
