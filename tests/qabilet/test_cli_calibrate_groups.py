"""`qabilet calibrate --groups/--free-items`, `--fixed` and `--prior`: the files written against MML
fits made directly on the same arrays and against the simulated truth; `qabilet score --group`;
the anchors' drift warning; and the errors of the new options (one line, exit status 2)."""

import csv
import io
import json

import numpy as np
import pytest
from typer.testing import CliRunner

from qabilet.calibration import MML
from qabilet.cli import app
from qabilet.engine.bank import ItemBank
from qabilet.engine.latent import LatentDistribution
from qabilet.engine.models import TwoPL
from qabilet.engine.scoring import score
from qabilet.engine.simulation import simulate_responses
from qabilet.itembank.parameter_file import read_parameter_file

runner = CliRunner()

N_PER_GROUP = 1500
ITEMS = [f"Q{j + 1}" for j in range(10)]
# Q1-Q3 are coded 1/2 in the file, the others 0/1
CODES = [[1, 2]] * 3 + [[0, 1]] * 7
FOCAL_MEAN, FOCAL_SD = 0.5, 1.2
FREED = "Q4"
FREED_SHIFT = 0.8  # Q4 reads harder in the focal group ("ru")


def _write_csv(path, person_ids, item_ids, x, observed, codes, groups=None):
    """A response file written here (not by the library); the group column sits between items."""
    header = ["person_id", *item_ids]
    if groups is not None:
        header.insert(3, "lang")
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    for p, pid in enumerate(person_ids):
        cells = [str(codes[j][x[p, j]]) if observed[p, j] else "" for j in range(len(item_ids))]
        row = [pid, *cells]
        if groups is not None:
            row.insert(3, groups[p])
        writer.writerow(row)
    path.write_text(buffer.getvalue(), encoding="utf-8")
    return path


def _rows(text):
    rows = list(csv.reader(io.StringIO(text)))
    return rows[0], rows[1:]


def _record(bank, item_id):
    return bank.to_records()[int(bank.index_of([item_id])[0])]


def _errors_one_line(result, fragment):
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert fragment in lines[0], lines[0]


# -- multi-group calibration ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def two_groups(tmp_path_factory):
    """Two language groups with different latent distributions; Q4 is harder in Russian."""
    tmp = tmp_path_factory.mktemp("groups")
    rng = np.random.default_rng(20170415)
    a = rng.uniform(0.9, 2.0, len(ITEMS))
    b = rng.normal(0.0, 0.8, len(ITEMS))
    theta = np.concatenate([rng.normal(0.0, 1.0, N_PER_GROUP),
                            rng.normal(FOCAL_MEAN, FOCAL_SD, N_PER_GROUP)])
    labels = np.array(["kk"] * N_PER_GROUP + ["ru"] * N_PER_GROUP)
    x = simulate_responses(TwoPL(a, b), theta, rng)
    j = ITEMS.index(FREED)
    shifted = TwoPL(a[j : j + 1], b[j : j + 1] + FREED_SHIFT)
    x[N_PER_GROUP:, j] = simulate_responses(shifted, theta[N_PER_GROUP:], rng)[:, 0]
    observed = rng.random(x.shape) > 0.03
    ids = [f"P{p:04d}" for p in range(x.shape[0])]
    responses = _write_csv(tmp / "responses.csv", ids, ITEMS, x, observed, CODES, labels)
    out = tmp / "params.json"
    result = runner.invoke(app, ["calibrate", str(responses), "--model", "2pl", "--groups",
                                 "lang", "--free-items", FREED, "--out", str(out)])
    direct = MML(model="2pl", group_specific=[FREED]).fit(x, observed, item_ids=ITEMS,
                                                         groups=labels)
    return {"tmp": tmp, "x": x, "observed": observed, "labels": labels, "a": a, "b": b,
            "responses": responses, "out": out, "result": result, "direct": direct}


def test_group_latents_equal_the_direct_fit_and_the_truth(two_groups):
    result, direct = two_groups["result"], two_groups["direct"]
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    pf = read_parameter_file(two_groups["out"])
    assert pf.reference_group == "kk"  # the first label in sorted order
    assert list(pf.groups) == ["kk", "ru"]
    assert pf.groups["kk"].mean == [0.0] and pf.groups["kk"].cov == [[1.0]]
    assert pf.latent == pf.groups["kk"]
    ru = pf.groups["ru"]
    assert ru.mean[0] == pytest.approx(direct.group("ru").latent.mean[0], abs=1e-8)
    assert ru.cov[0][0] == pytest.approx(direct.group("ru").latent.cov[0, 0], abs=1e-8)
    # the truth, within four standard errors
    assert ru.mean[0] == pytest.approx(FOCAL_MEAN, abs=4 * direct.group("ru").mean_se[0])
    assert ru.cov[0][0] == pytest.approx(FOCAL_SD**2, abs=4 * direct.group("ru").cov_se[0, 0])
    assert 0.02 < direct.group("ru").mean_se[0] < 0.1
    # the group column is not an item; the codes 1/2 are recorded
    assert [item.id for item in pf.items] == ITEMS
    assert pf.recodings() == {i: tuple(c) for i, c in zip(ITEMS, CODES, strict=True)}
    assert "group ru: latent mean estimated, SE" in pf.method


def test_freed_item_has_the_direct_fits_parameters_per_group(two_groups):
    direct = two_groups["direct"]
    pf = read_parameter_file(two_groups["out"])
    by_id = {item.id: item for item in pf.items}
    assert [i for i, item in by_id.items() if item.groups] == [FREED]
    freed = by_id[FREED]
    assert list(freed.groups) == ["ru"]  # the reference group's are the top-level parameters
    kk, ru = _record(direct.group("kk").bank, FREED), _record(direct.group("ru").bank, FREED)
    assert [freed.a, freed.b] == pytest.approx([kk["a"], kk["b"]], abs=1e-8)
    assert [freed.groups["ru"].a, freed.groups["ru"].b] == pytest.approx([ru["a"], ru["b"]],
                                                                          abs=1e-8)
    j = ITEMS.index(FREED)
    se_ru = direct.group("ru").items[j].traditional_se_record()
    assert freed.groups["ru"].se == pytest.approx({"a": se_ru["a"], "b": se_ru["b"]}, abs=1e-8)
    # near the truth: the Russian version is harder by FREED_SHIFT
    assert ru["b"] - kk["b"] == pytest.approx(FREED_SHIFT, abs=0.3)
    # each group's bank built from the file is the direct fit's
    for label in ("kk", "ru"):
        bank = pf.to_bank(label)
        want = direct.group(label).bank
        assert bank.item_ids == want.item_ids
        for got, exp in zip(bank.to_records(), want.to_records(), strict=True):
            assert [got["a"], got["b"]] == pytest.approx([exp["a"], exp["b"]], abs=1e-8)
        np.testing.assert_allclose(bank.latent.mean, want.latent.mean, atol=1e-8)
        np.testing.assert_allclose(bank.latent.cov, want.latent.cov, atol=1e-8)


def test_summary_shows_each_groups_mean_and_variance_with_standard_errors(two_groups):
    direct = two_groups["direct"]
    stdout = two_groups["result"].stdout
    assert stdout == direct.summary(group_column="lang") + "\n"
    assert stdout.startswith(direct.summary().split("\n\n")[0] + "\n\n")
    rows = {line.split()[0]: line.split() for line in stdout.splitlines()
            if line.startswith("  kk ") or line.startswith("  ru ")}
    assert rows["kk"] == ["kk", str(N_PER_GROUP), "0.0000", "(fixed)", "1.0000", "(fixed)"]
    label, n, mean, mean_se, var, var_se = rows["ru"]
    assert int(n) == N_PER_GROUP
    assert float(mean) == pytest.approx(direct.group("ru").latent.mean[0], abs=5e-5)
    assert float(var) == pytest.approx(direct.group("ru").latent.cov[0, 0], abs=5e-5)
    assert float(mean_se.strip("()")) == pytest.approx(direct.group("ru").mean_se[0], abs=5e-5)
    assert float(var_se.strip("()")) == pytest.approx(direct.group("ru").cov_se[0, 0], abs=5e-5)
    # the freed item's parameters in both groups, after the library's table of the reference's
    section = stdout.split("Group-specific items")[1]
    lines = [line.split() for line in section.splitlines() if line.startswith(f"{FREED} ")]
    assert [line[1] for line in lines] == ["kk", "ru"]
    ru = _record(direct.group("ru").bank, FREED)
    assert float(lines[1][3].removeprefix("a=")) == pytest.approx(ru["a"], abs=5e-5)


def test_score_with_a_groups_parameters_and_the_common_prior(two_groups):
    direct, x, observed = two_groups["direct"], two_groups["x"], two_groups["observed"]
    args = ["score", str(two_groups["out"]), str(two_groups["responses"]), "--exclude", "lang"]
    # a group's items, with the prior everyone gets (docs/design.md §5): the reference N(0, 1)
    chosen = runner.invoke(app, [*args, "--group", "ru"])
    assert chosen.exit_code == 0, chosen.output
    assert chosen.stderr == ""
    bank_ru = direct.group("ru").bank.with_latent(LatentDistribution([0.0], [[1.0]]))
    want = score(bank_ru, x, observed, method="eap")
    _, rows = _rows(chosen.stdout)
    np.testing.assert_allclose([float(r[1]) for r in rows], want.theta, atol=1e-6)
    np.testing.assert_allclose([float(r[2]) for r in rows], want.se, atol=1e-6)
    # without --group: the reference group's parameters, and a warning that says so
    default = runner.invoke(app, args)
    assert default.exit_code == 0, default.output
    assert default.stderr.startswith("warning: ") and f"parameters for {FREED}" in default.stderr
    assert "--group LABEL" in default.stderr
    want_kk = score(direct.group("kk").bank, x, observed, method="eap")
    _, rows_kk = _rows(default.stdout)
    np.testing.assert_allclose([float(r[1]) for r in rows_kk], want_kk.theta, atol=1e-6)
    # the groups differ only in Q4, so only persons who answered it get another score
    moved = np.abs(np.array([float(r[1]) for r in rows]) - want_kk.theta) > 1e-9
    np.testing.assert_array_equal(moved, observed[:, ITEMS.index(FREED)])


def test_score_rejects_an_unknown_group(two_groups, tmp_path):
    result = runner.invoke(app, ["score", str(two_groups["out"]), str(two_groups["responses"]),
                                 "--exclude", "lang", "--group", "en"])
    _errors_one_line(result, "--group: 'en' is not a group of")
    assert "expected one of kk, ru" in result.stderr
    single = tmp_path / "single.json"
    single.write_text(json.dumps({"model": "2pl", "latent": {"mean": [0.0], "cov": [[1.0]]},
                                  "items": [{"id": "Q1", "a": 1.0, "b": 0.0}]}), encoding="utf-8")
    result = runner.invoke(app, ["score", str(single), str(two_groups["responses"]), "--group",
                                 "kk"])
    _errors_one_line(result, "the file has no groups")


def test_mirt_table_lists_every_groups_items(two_groups):
    result = runner.invoke(app, ["calibrate", str(two_groups["responses"]), "-m", "2pl",
                                 "--groups", "lang", "--free-items", FREED, "-f", "mirt"])
    assert result.exit_code == 0, result.output
    header, rows = _rows(result.stdout)
    assert header == ["group", "item", "a1", "d", "g", "u"]
    assert [r[0] for r in rows] == ["kk"] * len(ITEMS) + ["ru"] * len(ITEMS)
    direct = two_groups["direct"]
    for row in rows:
        want = _record(direct.group(row[0]).bank, row[1])
        a1, d = float(row[2]), float(row[3])
        assert a1 == pytest.approx(want["a"], abs=1e-8)
        assert d == pytest.approx(-want["a"] * want["b"], abs=1e-8)


def _one_group(path):
    text = path.read_text(encoding="utf-8").replace(",ru,", ",kk,")
    path.write_text(text, encoding="utf-8")


def _empty_label(path):
    lines = path.read_text(encoding="utf-8").splitlines()
    cells = lines[7].split(",")
    cells[3] = ""
    lines[7] = ",".join(cells)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


GROUP_ERRORS = {
    "free items without groups": (None, ["--free-items", FREED],
                                  "--free-items needs --groups COL"),
    "reference without groups": (None, ["--reference-group", "kk"],
                                 "--reference-group needs --groups COL"),
    "unknown reference": (None, ["--groups", "lang", "--reference-group", "en"],
                          "--reference-group: 'en' is not a group of column 'lang'; expected one "
                          "of kk, ru"),
    "unknown free item": (None, ["--groups", "lang", "--free-items", "Q99"],
                          "--free-items: 'Q99' is not an item column of"),
    "unknown group column": (None, ["--groups", "language"],
                             "row 0, column 'language': group column is not in the header"),
    "one group": (_one_group, ["--groups", "lang"],
                  "--groups: column 'lang' of"),
    "empty label": (_empty_label, ["--groups", "lang"],
                    "row 7, column 'lang': expected a group label; the cell is empty"),
}


@pytest.mark.parametrize("case", sorted(GROUP_ERRORS))
def test_group_option_errors(two_groups, tmp_path, case):
    edit, args, fragment = GROUP_ERRORS[case]
    responses = tmp_path / "responses.csv"
    responses.write_text(two_groups["responses"].read_text(encoding="utf-8"), encoding="utf-8")
    if edit is not None:
        edit(responses)
    out = tmp_path / "params.json"
    result = runner.invoke(app, ["calibrate", str(responses), "-m", "2pl", *args, "--out",
                                 str(out)])
    _errors_one_line(result, fragment)
    assert not out.exists()


# -- anchor calibration -------------------------------------------------------------------------------
ANCHOR_A = [1.4, 0.9, 1.8, 1.1, 1.6, 1.2, 2.0, 0.8]
ANCHOR_B = [-1.2, -0.6, -0.2, 0.0, 0.3, 0.7, 1.1, 1.6]
ANCHORS = [f"A{j}" for j in range(8)]
NEW = [f"N{j}" for j in range(4)]
NEW_A = [1.3, 1.7, 1.0, 1.5]
NEW_B = [-0.8, 0.1, 0.6, 1.3]


def _anchor_file(path):
    """A parameter file written by hand: A0-A3 recorded with codes 1/2, the others 0/1."""
    items = [{"id": i, "a": a, "b": b, **({"categories": [1, 2]} if j < 4 else {})}
             for j, (i, a, b) in enumerate(zip(ANCHORS, ANCHOR_A, ANCHOR_B, strict=True))]
    path.write_text(json.dumps({"model": "2pl", "latent": {"mean": [0.0], "cov": [[1.0]]},
                                "items": items}), encoding="utf-8")
    return path


def _anchor_data(tmp, rng, n, b_anchor, name):
    truth = TwoPL(ANCHOR_A + NEW_A, list(b_anchor) + NEW_B)
    x = simulate_responses(truth, rng.normal(0.4, 1.2, n), rng)
    observed = np.ones(x.shape, dtype=bool)
    codes = [[1, 2]] * 4 + [[0, 1]] * 4 + [[3, 5]] * 4  # the new items coded 3/5
    path = _write_csv(tmp / name, [f"P{p}" for p in range(n)], ANCHORS + NEW, x, observed, codes)
    return x, path


@pytest.fixture(scope="module")
def anchored(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("anchors")
    rng = np.random.default_rng(2006)
    params = _anchor_file(tmp / "anchors.json")
    x, responses = _anchor_data(tmp, rng, 3000, ANCHOR_B, "responses.csv")
    out = tmp / "params.json"
    result = runner.invoke(app, ["calibrate", str(responses), "-m", "2pl", "--fixed", str(params),
                                 "--out", str(out)])
    fixed = ItemBank([TwoPL(ANCHOR_A, ANCHOR_B)], ANCHORS)
    direct = MML(model="2pl", fixed=fixed).fit(x, item_ids=ANCHORS + NEW)
    return {"tmp": tmp, "x": x, "params": params, "responses": responses, "out": out,
            "result": result, "direct": direct}


def test_anchors_are_unchanged_and_new_items_match_the_direct_fit(anchored):
    result, direct = anchored["result"], anchored["direct"]
    assert result.exit_code == 0, result.output
    assert result.stderr == ""  # no drift
    written = json.loads(anchored["out"].read_text(encoding="utf-8"))
    given = json.loads(anchored["params"].read_text(encoding="utf-8"))
    by_id = {item["id"]: item for item in written["items"]}
    assert list(by_id) == ANCHORS + NEW
    for item in given["items"]:  # the very numbers and codes of the anchor file, and no SE
        mine = by_id[item["id"]]
        assert {k: mine[k] for k in ("a", "b")} == {k: item[k] for k in ("a", "b")}
        assert mine.get("categories") == item.get("categories")
        assert "se" not in mine
    for j, item_id in enumerate(NEW):
        mine, want = by_id[item_id], _record(direct.bank, item_id)
        assert [mine["a"], mine["b"]] == pytest.approx([want["a"], want["b"]], abs=1e-8)
        assert mine["categories"] == [3, 5]
        se = direct.items[len(ANCHORS) + j].traditional_se_record()
        assert [mine["se"]["a"], mine["se"]["b"]] == pytest.approx([se["a"], se["b"]], abs=1e-8)
        assert mine["b"] == pytest.approx(NEW_B[j], abs=0.25)  # on the anchors' scale
    latent = written["latent"]
    assert latent["mean"][0] == pytest.approx(direct.latent.mean[0], abs=1e-8)
    assert latent["cov"][0][0] == pytest.approx(direct.latent.cov[0, 0], abs=1e-8)
    assert latent["mean"][0] == pytest.approx(0.4, abs=0.1)
    assert latent["cov"][0][0] == pytest.approx(1.44, rel=0.15)
    assert "8 anchor item(s) fixed at their parameters in" in written["method"]
    assert "latent mean estimated, SE" in written["method"]
    assert "drifted: none" in result.stdout
    assert "Latent distribution (estimated on the anchors' scale)" in result.stdout


def test_scoring_with_the_anchored_file_applies_every_recoding(anchored):
    result = runner.invoke(app, ["score", str(anchored["out"]), str(anchored["responses"])])
    assert result.exit_code == 0, result.output
    want = score(anchored["direct"].bank, anchored["x"], method="eap")
    _, rows = _rows(result.stdout)
    np.testing.assert_allclose([float(r[1]) for r in rows], want.theta, atol=1e-6)


def test_a_drifted_anchor_is_warned_about_and_the_file_still_written(anchored, tmp_path):
    rng = np.random.default_rng(2007)
    b = list(ANCHOR_B)
    b[5] += 1.2  # A5 became much harder
    _, responses = _anchor_data(tmp_path, rng, 2000, b, "drifted.csv")
    out = tmp_path / "params.json"
    result = runner.invoke(app, ["calibrate", str(responses), "-m", "2pl", "--fixed",
                                 str(anchored["params"]), "--no-se", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert result.stderr.startswith("warning: anchor item(s) A5 drifted")
    assert len(result.stderr.splitlines()) == 1
    assert "drifted: A5" in result.stdout and "A5             RMSD" in result.stdout
    assert read_parameter_file(out).to_bank().item_ids == tuple(ANCHORS + NEW)


def _bad_anchor_code(path):
    lines = path.read_text(encoding="utf-8").splitlines()
    cells = lines[4].split(",")
    cells[1] = "0"  # A0 is coded 1/2 in the anchor file
    lines[4] = ",".join(cells)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_anchor_errors(anchored, two_groups, tmp_path):
    responses = tmp_path / "responses.csv"
    responses.write_text(anchored["responses"].read_text(encoding="utf-8"), encoding="utf-8")
    _bad_anchor_code(responses)
    result = runner.invoke(app, ["calibrate", str(responses), "-m", "2pl", "--fixed",
                                 str(anchored["params"])])
    _errors_one_line(result, "row 4, column 'A0': expected one of this item's codes [1, 2] (from "
                             "the parameter file); got 0")
    # no common item
    result = runner.invoke(app, ["calibrate", str(two_groups["responses"]), "-m", "2pl",
                                 "--exclude", "lang", "--fixed", str(anchored["params"])])
    _errors_one_line(result, "--fixed: no item column of")
    # an item with per-group parameters cannot anchor one scale
    result = runner.invoke(app, ["calibrate", str(two_groups["responses"]), "-m", "2pl",
                                 "--exclude", "lang", "--fixed", str(two_groups["out"])])
    _errors_one_line(result, f"--fixed: item '{FREED}' has group-specific parameters in")


# -- priors ------------------------------------------------------------------------------------------
def test_priors_reach_the_estimator(anchored, monkeypatch):
    """The parsed priors are the library's objects, added to the model's defaults."""
    from qabilet.calibration.priors import Beta, LogitNormal, LogNormal, Normal

    seen = []

    def fake_fit(self, *args, **kwargs):
        seen.append(self.priors)
        raise SystemExit(0)  # stop before calibrating: only the arguments matter here

    monkeypatch.setattr(MML, "fit", fake_fit)
    cases = [
        ([], "3pl", None),
        (["none"], "3pl", {}),
        (["a=lognormal(0,0.5)"], "3pl", {"c": Beta(5, 17), "a": LogNormal(0, 0.5)}),
        (["c=none", " d = normal(0, 3) "], "3pl", {"d": Normal(0, 3)}),
        (["c=beta(4,16)", "u=logitnormal(1.5,1)"], "4pl",
         {"c": Beta(4, 16), "u": LogitNormal(1.5, 1)}),
        (["A=LogNormal(0.1,1e-1)"], "2pl", {"a": LogNormal(0.1, 0.1)}),
    ]
    for specs, model, want in cases:
        args = [arg for spec in specs for arg in ("--prior", spec)]
        runner.invoke(app, ["calibrate", str(anchored["responses"]), "-m", model, *args])
        assert seen.pop() == want, (specs, model)


PRIOR_ERRORS = {
    "unknown kind": (["g=beta(5,17)"], "unknown parameter kind 'g'; expected one of a (slopes)"),
    "unknown distribution": (["a=gamma(1,2)"], "unknown distribution 'gamma'; expected one of "
                             "normal(mean,sd), lognormal(meanlog,sdlog)"),
    "too few arguments": (["a=lognormal(0)"], "lognormal takes 2 arguments (meanlog, sdlog); "
                          "got 1"),
    "too many arguments": (["d=normal(0,1,2)"], "normal takes 2 arguments (mean, sd); got 3"),
    "no arguments": (["a=lognormal"], "got 0"),
    "negative sd": (["a=lognormal(0,-0.5)"], "sdlog must be positive; got -0.5"),
    "zero sd": (["d=normal(0,0)"], "sd must be positive; got 0"),
    "non-positive beta": (["c=beta(5,0)"], "beta must be positive; got 0"),
    "not a number": (["d=normal(zero,1)"], "mean must be a finite number; got 'zero'"),
    "infinite": (["d=normal(0,inf)"], "sd must be a finite number; got 'inf'"),
    "no equals sign": (["lognormal(0,1)"], "expected KIND=DISTRIBUTION(ARGS)"),
    "distribution unfit for the kind": (["a=beta(2,2)"], "a beta prior does not suit slopes (a); "
                                        "use normal or lognormal"),
    "kind the model lacks": (["u=beta(17,5)"], "3pl items have no estimated upper asymptotes (u)"),
    "kind given twice": (["a=lognormal(0,1)", "a=normal(1,1)"], "a second prior on a"),
    "none with others": (["none", "a=lognormal(0,1)"], "--prior none means no priors at all"),
}


@pytest.mark.parametrize("case", sorted(PRIOR_ERRORS))
def test_prior_errors(anchored, case):
    specs, fragment = PRIOR_ERRORS[case]
    args = [arg for spec in specs for arg in ("--prior", spec)]
    result = runner.invoke(app, ["calibrate", str(anchored["responses"]), "-m", "3pl", *args])
    _errors_one_line(result, fragment)
    assert result.stderr.startswith("error: --prior ")
