"""``kerascope evaluate`` and ``kerascope sanity``: on the demo they write the values of
the Python API (metrics.json, sanity.json) and the report's sections; bad input (an
unknown metric, masks of the wrong shape, a method whose maps have the wrong shape)
exits 2 with one line and writes nothing."""

import json
import pathlib
import re

import keras
import numpy as np
import pytest

from kerascope import cli, metrics
from kerascope.methods import registry
from kerascope.methods.base import Method
from kerascope.metrics import randomization as sanity


# The command line is the same code on every backend, and the API tests cover each
# backend: these tests run on TensorFlow only (CI's 35-minute budget for three
# backends), except those named here, which check the command against the API on
# every backend.
_EVERY_BACKEND = set()


@pytest.fixture(autouse=True)
def _once(request):
    if keras.backend.backend() != "tensorflow" and request.node.originalname not in _EVERY_BACKEND:
        pytest.skip("command-line test: run on the TensorFlow backend only")


def run(args, capsys):
    """``(exit code, stdout, stderr)`` of ``kerascope ARGS`` run in this process."""
    code = cli.main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_rejected(code, err, out_dir, *needles):
    """Exit 2, one line on stderr naming the problem, no traceback, nothing in --out."""
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, err
    assert len(lines) == 1, err
    assert lines[0].startswith("kerascope: error: ")
    assert "Traceback" not in err
    for needle in needles:
        assert needle in lines[0], lines[0]
    out_dir = pathlib.Path(out_dir)
    assert not out_dir.exists() or not any(out_dir.iterdir())
    assert not list(out_dir.parent.glob(".kerascope-*"))  # no stage left behind


def _demo(n):
    """The demo the commands run on (the colour demo with masks when bundled):
    ``(model, x, masks or None, names)`` of its first ``n`` inputs."""
    from kerascope.cli.demo import demo_inputs

    model, inputs, _, _ = demo_inputs()
    masks = None if inputs.masks is None else np.stack(inputs.masks[:n])
    return model, np.concatenate(inputs.x[:n]), masks, inputs.names[:n]


def _images_in(page):
    return re.findall(r'<img [^>]*src="data:image/png;base64,', page)


def test_evaluate_on_the_demo_writes_the_api_values_table_and_curves(tmp_path, capsys):
    out = tmp_path / "evaluation"
    code, stdout, err = run(["evaluate", "--demo", "--num-images", "2",
                             "-m", "vanilla_gradients", "-m", "gradients_inputs",
                             "--metric", "deletion,insertion", "--metric", "sparseness",
                             "--out", out], capsys)
    assert code == 0, err
    assert sorted(p.name for p in out.iterdir()) == ["metrics.json", "report.html"]
    # The printed table: one line per (method, metric) under a header.
    lines = [line for line in stdout.splitlines() if line.strip()]
    assert lines[0].split()[:3] == ["method", "metric", "value"]
    assert sum(line.split()[0] in ("vanilla_gradients", "gradients_inputs")
               for line in lines[1:7]) == 6
    record = json.loads((out / "metrics.json").read_text())
    got = {(r["method"], r["metric"]): r for r in record["rows"]}
    model, x, _, names = _demo(2)
    assert len(got) == 6 and record["inputs"] == names
    # The values are those of the Python API on the same inputs and classes.
    rows = metrics.evaluate(model, x, "predicted",
                            methods=["vanilla_gradients", "gradients_inputs"],
                            metrics=["deletion", "insertion", "sparseness"])
    for row in rows:
        assert got[(row["method"], row["metric"])]["value"] == pytest.approx(row["value"],
                                                                              abs=1e-5)
    # Curve metrics carry their mean curve; it starts at the score of the whole input.
    curve = np.asarray(got[("vanilla_gradients", "deletion")]["mean_curve"])
    assert curve.shape == (len(got[("vanilla_gradients", "deletion")]["curve_x"]),)
    assert "mean_curve" not in got[("vanilla_gradients", "sparseness")]
    page = (out / "report.html").read_text()
    assert "<h2>Metrics</h2>" in page and "<h2>Curves</h2>" in page
    assert page.count("<section class=\"metric-family\"") == 2  # faithfulness, complexity
    assert "<h3>faithfulness</h3>" in page and "<h3>complexity</h3>" in page
    for name, direction in (("deletion", "lower"), ("insertion", "higher"),
                            ("sparseness", "higher")):
        assert re.search(f"<th>{name}</th><td class=\"dir\">[↑↓] {direction} is better</td>",
                         page), name
    assert len(_images_in(page)) == 2  # deletion and insertion curves, embedded
    assert "http" not in page.replace("arXiv", "")  # self-contained


def test_sanity_on_the_demo_writes_the_randomization_table_and_figures(tmp_path, capsys):
    out = tmp_path / "sanity"
    code, stdout, err = run(["sanity", "--num-images", "2", "-m", "vanilla_gradients",
                             "--check", "cascading", "--measure", "spearman_abs",
                             "--out", out], capsys)
    assert code == 0, err
    assert sorted(p.name for p in out.iterdir()) == ["report.html", "sanity.json"]
    model, x, _, _ = _demo(2)
    layers = [layer.name for layer in sanity.randomizable_layers(model)]
    record = json.loads((out / "sanity.json").read_text())
    (result,) = record["results"]
    assert result["method"] == "vanilla_gradients" and result["check"] == "cascading"
    steps = result["rows"]
    assert [row["label"] for row in steps] == ["original"] + layers[::-1]
    assert steps[0]["spearman_abs"] == pytest.approx(1.0)
    expected = sanity.cascading_randomization(model, x, "predicted",
                                              "vanilla_gradients", measures=("spearman_abs",))
    assert [row["spearman_abs"] for row in steps] == pytest.approx(
        [row["spearman_abs"] for row in expected.rows()], abs=1e-5)
    assert steps[-1]["spearman_abs"] < 0.9  # randomizing the model changes its gradients
    assert "vanilla_gradients: cascading" in stdout and "spearman_abs" in stdout
    page = (out / "report.html").read_text()
    assert "<h2>Sanity checks</h2>" in page and "vanilla_gradients: cascading" in page
    assert len(_images_in(page)) == 2  # the paper's figure and the map strip


def test_evaluate_scores_localization_with_the_demo_masks_or_a_masks_file(tmp_path, capsys):
    model, x, demo_masks, _ = _demo(2)
    # A mask file: the left half of each image; the demo's own masks when it has them.
    left = np.zeros(x.shape[:3], dtype=bool)
    left[:, :, : x.shape[2] // 2] = True
    np.save(tmp_path / "left.npy", left)
    cases = [(["--masks", tmp_path / "left.npy"], left)]
    if demo_masks is not None:
        cases.append(([], demo_masks))
    for extra, masks in cases:
        out = tmp_path / f"out{len(extra)}"
        code, _, err = run(["evaluate", "--num-images", "2", "-m", "gradients_inputs",
                            "--metric", "pointing_game,relevance_mass", *extra, "--out", out],
                           capsys)
        assert code == 0, err
        got = {r["metric"]: r["value"] for r in json.loads((out / "metrics.json").read_text())
               ["rows"]}
        rows = metrics.evaluate(model, x, "predicted", methods=["gradients_inputs"],
                                metrics=["pointing_game", "relevance_mass"], masks=masks)
        assert {r["metric"]: r["value"] for r in rows} == pytest.approx(got, abs=1e-6)
        assert "<th>pointing_game</th><td class=\"dir\">↑ higher is better</td>" in \
            (out / "report.html").read_text()


# -- bad input --------------------------------------------------------------------------------
class WrongShapeTest(Method):
    """A test method whose maps lose a row and a column: the wrong shape."""

    name = "wrong_shape_test"
    family = "gradients"
    summary = "Maps of the wrong shape (test suite)."
    paper = "none (test)"
    evaluates_inputs = True
    channel_reduction = "sum"

    def attribute(self, ctx, x, row_targets):
        passes = ctx.backprop(x, row_targets)
        return passes.input_grads[:, 1:, 1:], passes


@pytest.fixture
def wrong_shape_method():
    yield WrongShapeTest.name
    registry._CLASSES.pop(WrongShapeTest.name, None)
    registry._ALIASES.pop(WrongShapeTest.name, None)


def test_an_unknown_metric_is_rejected(tmp_path, capsys):
    out = tmp_path / "out"
    code, _, err = run(["evaluate", "--metric", "deletion,no_such_metric", "--out", out], capsys)
    assert_rejected(code, err, out, "--metric", "no_such_metric")


def test_masks_of_the_wrong_shape_are_rejected(tmp_path, capsys):
    out = tmp_path / "out"
    _, x, _, _ = _demo(2)
    height, width = x.shape[1:3]
    masks = tmp_path / "masks.npy"
    np.save(masks, np.ones((2, height - 1, width), dtype=bool))
    code, _, err = run(["evaluate", "--num-images", "2", "-m", "vanilla_gradients",
                        "--metric", "pointing_game", "--masks", masks, "--out", out], capsys)
    assert_rejected(code, err, out, "--masks", f"(2, {height - 1}, {width})",
                    f"(2, {height}, {width})")


def test_a_localization_metric_without_masks_is_rejected(tmp_path, capsys):
    folder = tmp_path / "files"
    folder.mkdir()
    model, x, _, _ = _demo(2)
    model.save(folder / "model.keras")
    np.save(folder / "images.npy", x)
    out = tmp_path / "out"
    code, _, err = run(["evaluate", folder / "model.keras", folder / "images.npy",
                        "-m", "vanilla_gradients", "--metric", "relevance_mass", "--out", out],
                       capsys)
    assert_rejected(code, err, out, "--masks", "relevance_mass")


@pytest.mark.parametrize("command", ["evaluate", "sanity"])
def test_a_method_returning_the_wrong_shape_is_rejected(command, wrong_shape_method, tmp_path,
                                                        capsys):
    out = tmp_path / "out"
    extra = ["--metric", "deletion"] if command == "evaluate" else ["--measure", "spearman_abs"]
    code, _, err = run([command, "--num-images", "2", "-m", wrong_shape_method, *extra,
                        "--out", out], capsys)
    assert_rejected(code, err, out, wrong_shape_method, "shape")


def test_other_bad_arguments_are_rejected(tmp_path, capsys):
    out = tmp_path / "out"
    for args, needles in (
            (["sanity", "--check", "shuffle"], ("--check", "shuffle")),
            (["sanity", "--measure", "psnr"], ("--measure", "psnr")),
            (["evaluate", "--target", "top-2"], ("--target",)),
            (["evaluate", "--demo", str(tmp_path / "model.keras")], ("--demo",)),
    ):
        code, _, err = run([*args, "--out", out], capsys)
        assert_rejected(code, err, out, *needles)


def test_metric_options_reach_the_metric_and_bad_ones_are_rejected(tmp_path, capsys):
    out = tmp_path / "out"
    code, _, err = run(["evaluate", "--num-images", "1", "-m", "vanilla_gradients",
                        "--metric", "deletion", "--metric-option", "deletion.steps=4",
                        "--out", out], capsys)
    assert code == 0, err
    (row,) = json.loads((out / "metrics.json").read_text())["rows"]
    assert len(row["curve_x"]) == 5 and row["curve_x"][-1] == pytest.approx(1.0)
    # The demo's folder holds only a previous run's files: a rerun replaces them.
    code, _, err = run(["evaluate", "--num-images", "1", "-m", "vanilla_gradients",
                        "--metric", "sparseness", "--out", out], capsys)
    assert code == 0, err
    assert [r["metric"] for r in json.loads((out / "metrics.json").read_text())["rows"]] == [
        "sparseness"]
    bad = tmp_path / "bad"
    for option, needles in (("deletion.stepz=4", ("stepz",)), ("nope.steps=4", ("nope",)),
                            ("deletion=4", ("--metric-option",))):
        code, _, err = run(["evaluate", "--num-images", "1", "-m", "vanilla_gradients",
                            "--metric", "deletion", "--metric-option", option, "--out", bad],
                           capsys)
        assert_rejected(code, err, bad, *needles)


def test_evaluate_metric_all_runs_every_metric_the_demo_allows(tmp_path, capsys):
    """``--metric all`` on the demo (which brings masks) runs every registered metric,
    the slow per-feature ones with the command's cheaper options, recorded as such."""
    from kerascope.cli.metric_defaults import metric_defaults

    out = tmp_path / "all"
    code, _, err = run(["evaluate", "--demo", "--metric", "all", "-m", "vanilla_gradients",
                        "--num-images", "2", "--out", out], capsys)
    assert code == 0, err
    record = json.loads((out / "metrics.json").read_text())
    _, x, masks, _ = _demo(2)
    assert masks is not None  # the colour demo: the masked metrics (focus too) apply
    expected = set(metrics.REGISTRY)
    assert {row["metric"] for row in record["rows"]} == expected
    assert all(row["method"] == "vanilla_gradients" and row["n"] == 2
               for row in record["rows"])
    assert len(record["rows"]) == len(expected)
    # The command's defaults (not the API's Quantus ones) are recorded and used.
    defaults = metric_defaults(x.shape[1] * x.shape[2])
    assert record["metric_options"] == defaults
    assert defaults["monotonicity_correlation"]["features_in_step"] > 1
    page = (out / "report.html").read_text()
    families = {metrics.REGISTRY[name].family for name in expected}
    assert page.count("<section class=\"metric-family\"") == len(families)
    for name in expected:
        direction = "higher" if metrics.REGISTRY[name].higher_is_better else "lower"
        assert re.search(f"<th>{name}</th><td class=\"dir\">[↑↓] {direction} is better</td>",
                         page), name
    assert "monotonicity_correlation (features_in_step=" in page


def test_metric_options_override_the_command_defaults():
    from kerascope.cli.metric_defaults import effective_options, metric_defaults

    defaults = metric_defaults(64 * 64)
    assert defaults["faithfulness_estimate"] == {"features_in_step": 64}
    assert metric_defaults(10)["sensitivity_n"] == {"features_in_step": 1}
    got = effective_options(["monotonicity_correlation", "deletion"],
                            {"monotonicity_nguyen": {"nr_samples": 3},
                             "deletion": {"steps": 4}},
                            64 * 64, metrics.ALIASES)
    assert got == {"monotonicity_correlation": {"features_in_step": 64, "nr_samples": 3},
                   "deletion": {"steps": 4}}


def test_the_metrics_section_groups_by_family_with_each_direction_escaped():
    import dataclasses

    from kerascope.report.trust import metrics_section

    infos = {name: metrics.get(name) for name in ("deletion", "sparseness", "complexity",
                                                  "pointing_game")}
    infos["odd<metric>"] = dataclasses.replace(metrics.get("complexity"), name="odd<metric>",
                                               family="fam&ily", summary="a <b>bold</b> claim")
    rows = [{"method": method, "metric": metric, "value": value, "std": 0.1, "n": 2}
            for metric in infos for method, value in (("m<1>", 0.25), ("plain", 0.75))]
    page = metrics_section(rows, infos, {})
    sections = re.findall(r'<section class="metric-family" data-family="([^"]*)">'
                          r'<h3>([^<]*)</h3>(.*?)</section>', page, re.S)
    assert [(a, b) for a, b, _ in sections] == [
        ("faithfulness", "faithfulness"), ("complexity", "complexity"),
        ("localization", "localization"), ("fam&amp;ily", "fam&amp;ily")]
    body = dict((family, text) for family, _, text in sections)
    # Each metric sits in its family's block, its direction next to it.
    assert "<th>deletion</th><td class=\"dir\">↓ lower is better</td>" in body["faithfulness"]
    assert "<th>sparseness</th><td class=\"dir\">↑ higher is better</td>" in body["complexity"]
    assert "<th>complexity</th><td class=\"dir\">↓ lower is better</td>" in body["complexity"]
    assert "<th>pointing_game</th><td class=\"dir\">↑ higher is better</td>" in \
        body["localization"]
    assert "<th>odd&lt;metric&gt;</th>" in body["fam&amp;ily"]
    assert "<b>" not in page and "m&lt;1&gt;" in page and "a &lt;b&gt;bold" in page
    # The best method is in bold per the direction: lower deletion, higher sparseness.
    assert re.search(r'<th>deletion</th>.*?<td class="num best">0\.2500', body["faithfulness"],
                     re.S)
    assert re.search(r'<th>sparseness</th>.*?<td class="num">0\.2500.*?'
                     r'<td class="num best">0\.7500', body["complexity"], re.S)
