"""Token, table and time-series pictures (no Keras backend involved)."""

import re

import numpy as np
import pytest

from kerascope.rendering import sequences as rs


def _backgrounds(fragment):
    return [tuple(map(int, m)) for m in re.findall(r"background:rgb\((\d+),(\d+),(\d+)\)",
                                                    fragment)]


def test_tokens_html_colours_tokens_by_sign_and_escapes_text():
    values = np.array([0.1, 2.0, -1.5, 0.0, 0.05])
    fragment = rs.tokens_html(["the", "<great>", "awful", "<pad>", "film"], values,
                              method="integrated_gradients", target=1,
                              labels=["neg", "pos"], probability=0.93, skip=("<pad>",))
    assert "&lt;great&gt;" in fragment and "<great>" not in fragment
    assert "integrated_gradients · class 1 &#x27;pos&#x27; · p=0.93" in fragment
    spans = re.findall(r'class="ks-token"', fragment)
    assert len(spans) == 4  # the padding token is skipped
    colours = _backgrounds(fragment)[:4]
    red, blue = colours[1], colours[2]
    assert red[0] > red[2] + 50 and red[0] > red[1] + 50      # positive: red
    assert blue[2] > blue[0] + 50                             # negative: blue
    assert all(min(c) > 200 for c in (colours[0], colours[3]))  # near zero: near white
    assert 'title="2"' in fragment and 'class="ks-colorbar"' in fragment
    page = rs.tokens_page([fragment, fragment])
    assert page.startswith("<!DOCTYPE html>") and page.count('class="ks-tokens"') == 2
    ids = rs.tokens_html([3, 1], [0.5, -0.5], vocabulary={1: "one", 3: "three"})
    assert ">three<" in ids and ">one<" in ids
    with pytest.raises(ValueError, match="attributions: 1 values for 2 tokens"):
        rs.tokens_html(["a", "b"], [1.0])


def test_table_figure_orders_bars_by_magnitude():
    values = np.array([0.1, -3.0, 2.0, 0.5, -0.2, 0.01])
    figure = rs.table_figure(values, [f"f{i}" for i in range(6)], np.arange(6), method="lime",
                             target=0, max_features=4)
    axes = figure.axes[0]
    labels = [t.get_text() for t in axes.get_yticklabels()]
    # top of the chart (last tick) is the largest |value|; the rest summed in one bar
    assert labels[::-1] == ["f1 = 1", "f2 = 2", "f3 = 3", "f4 = 4", "2 other features"]
    widths = [patch.get_width() for patch in axes.patches]
    np.testing.assert_allclose(widths[::-1], [-3.0, 2.0, 0.5, -0.2, 0.11])
    colours = [patch.get_facecolor() for patch in axes.patches]
    assert colours[-1][2] > colours[-1][0]   # -3.0 is blue
    assert colours[-2][0] > colours[-2][2]   # 2.0 is red
    assert axes.get_title() == "lime · class 0"
    png = rs.figure_png(figure)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="feature_names: 2 names for 6"):
        rs.table_figure(values, ["a", "b"])


def test_series_figure(tmp_path):
    rng = np.random.default_rng(0)
    series = rng.normal(size=(40, 2))
    values = np.zeros(40)
    values[10:15] = 1.0
    figure = rs.series_figure(series, values, method="occlusion", target=1, probability=0.8,
                              channel_names=["x", "y"])
    top, strip, bar = figure.axes
    assert top.get_title() == "occlusion · class 1 · p=0.80"
    assert len(top.lines) == 2 and len(strip.patches) == 40
    shaded = [p.get_facecolor() for p in top.patches]
    assert shaded[12][0] > shaded[12][2] + 0.3              # attributed steps: red
    assert min(shaded[0][:3]) > 0.9                        # the rest: white
    path = rs.save_figure(figure, tmp_path / "series.png")
    assert path.read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(ValueError, match="attributions: 39 values for a series of 40 steps"):
        rs.series_figure(series, values[:39])
