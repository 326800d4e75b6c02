"""The report of a text model (token ids shown as their words, each method's token map
drawn as the text on a diverging background, everything escaped) and of a ViT-like
model (its maps drawn as image overlays)."""

import html.parser

import keras
import numpy as np
import pytest

import kerascope
from kerascope.report import Explained, MethodRun, explain_text, render_report, write_report

T, VOCAB, D, N = 6, 12, 8, 2
EVIL = "<script>alert(1)</script>"
WORDS = ["[CLS]", "the", "cat", "sat", "on", EVIL, "mat", "a&b", "dog", "ran", "far", "'q'"]


class PositionEmbedding(keras.layers.Layer):
    """Adds a learned (T, D) position embedding."""

    def build(self, shape):
        self.table = self.add_weight(shape=tuple(shape[1:]), initializer="random_normal",
                                     name="table")

    def call(self, x):
        return x + self.table


class ClassToken(keras.layers.Layer):
    """Prepends a learned class token."""

    def build(self, shape):
        self.token = self.add_weight(shape=(1, 1, shape[-1]), initializer="random_normal",
                                     name="token")

    def call(self, x):
        token = keras.ops.broadcast_to(self.token, (keras.ops.shape(x)[0], 1, x.shape[-1]))
        return keras.ops.concatenate([token, x], axis=1)


def block(h):
    n = keras.layers.LayerNormalization(epsilon=1e-5)(h)
    return h + keras.layers.MultiHeadAttention(2, 4)(n, n)


def text_model():
    keras.utils.set_random_seed(0)
    ids = keras.Input((T,), dtype="int32")
    h = PositionEmbedding()(keras.layers.Embedding(VOCAB, D, name="embedding")(ids))
    logits = keras.layers.Dense(3)(block(block(h))[:, 0])
    model = keras.Model(ids, logits, name="tiny_text")
    model.set_weights([w * 3.0 if w.ndim > 1 else w for w in model.get_weights()])
    return model


def vit_model(size=16, patch=4):
    keras.utils.set_random_seed(1)
    images = keras.Input((size, size, 3))
    h = keras.layers.Conv2D(D, patch, strides=patch)(images)
    h = PositionEmbedding()(ClassToken()(keras.layers.Reshape(((size // patch) ** 2, D))(h)))
    model = keras.Model(images, keras.layers.Dense(3)(block(h)[:, 0]), name="tiny_vit")
    model.set_weights([w * 3.0 if w.ndim > 1 else w for w in model.get_weights()])
    return model


class Page(html.parser.HTMLParser):
    """The token spans (their text) and every start tag of a page."""

    def __init__(self):
        super().__init__()
        self.tags, self.tokens, self.inputs, self._in = [], [], [], None

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        cls = dict(attrs).get("class", "")
        if tag == "span" and cls == "ks-token":
            self.tokens.append("")
            self._in = "token"
        elif cls == "text-input":
            self.inputs.append("")
            self._in = "input"

    def handle_endtag(self, tag):
        if tag in ("span", "div"):
            self._in = None

    def handle_data(self, data):
        if self._in == "token":
            self.tokens[-1] += data
        elif self._in == "input":
            self.inputs[-1] += data


@pytest.fixture(scope="module")
def text_page():
    model = text_model()
    ids = np.array([[0, 1, 2, 3, 5, 6], [0, 8, 9, 10, 7, 11]], dtype=np.int32)
    data = explain_text(model, ids, {"generic_attention": {}, "attention_rollout": {},
                                     "integrated_gradients": {"layer": "embedding",
                                                              "n_steps": 16}},
                        vocabulary=WORDS, labels=["neg", "<xss>neu</xss>", "<xss>pos</xss>"])
    page = Page()
    page.feed(render_report(data))
    return data, page


def test_text_report_draws_each_token_of_each_method(text_page):
    data, page = text_page
    assert [run.name for run in data.runs] == ["generic_attention", "attention_rollout",
                                               "integrated_gradients"]
    assert all(np.shape(run.maps[i]) == (1, T) for run in data.runs for i in range(N))
    # every map twice (by input, wide table): one span per token per method
    expected = [WORDS[t] for _ in range(2) for i in range(N) for _ in data.runs
                for t in np.asarray(data.inputs[i]).reshape(-1)]
    assert sorted(page.tokens) == sorted(expected)
    texts = [" ".join(WORDS[t] for t in row.reshape(-1)) for row in data.inputs]
    assert page.inputs == [texts[0], texts[1], texts[0], texts[1]]


def test_text_report_escapes_tokens_and_labels(text_page):
    data, page = text_page
    assert "script" not in page.tags and "xss" not in page.tags  # no planted element
    assert "&lt;xss&gt;" in render_report(data)
    assert EVIL in page.tokens and "a&b" in page.tokens and "'q'" in page.tokens
    tokens_only = Explained(**{**data.__dict__, "vocabulary": None,
                               "tokens": [[WORDS[t] for t in row.reshape(-1)]
                                          for row in data.inputs]})
    again = Page()
    again.feed(render_report(tokens_only))
    assert again.tokens == page.tokens and "script" not in again.tags


def test_vit_maps_are_image_overlays(tmp_path):
    model = vit_model()
    x = np.random.default_rng(0).random((N, 16, 16, 3)).astype(np.float32)
    outputs = keras.ops.convert_to_numpy(model(x))
    targets = outputs.argmax(-1)
    runs = []
    for name in ("generic_attention", "attention_rollout"):
        _, maps = kerascope.explain(name, model, x, targets, verbose=0)
        assert maps.shape == (N, 16, 16)
        runs.append(MethodRun(name=name, maps=[m[None] for m in maps], signed=False))
    data = Explained(names=["a.png", "b.png"], pixels=[(v * 255).astype(np.uint8) for v in x],
                     inputs=[v[None] for v in x], probabilities=keras.ops.convert_to_numpy(
                         keras.ops.softmax(outputs)), targets=targets[:, None], runs=runs,
                     model_name="tiny_vit")
    path = write_report(tmp_path / "vit.html", data)
    page = Page()
    text = path.read_text()
    page.feed(text)
    assert page.tokens == [] and page.inputs == []
    # one overlay per map per view, plus the inputs' images
    assert text.count('<img class="map"') == N * len(runs)
    assert text.count('<img class="map wide"') == N * len(runs)
