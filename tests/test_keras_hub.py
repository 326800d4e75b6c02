"""keras-hub ViT and BERT backbones (tiny configs, random weights, nothing downloaded)
through attention_rollout, generic_attention, Integrated Gradients, Grad-CAM and LRP
(the transformer composite, AttnLRP).

keras-hub is an optional extra (``pip install kerascope[hub]``); without it these
tests are skipped."""

import keras
import numpy as np
import pytest

import kerascope
from kerascope import rendering
from kerascope.rendering import sequences

keras_hub = pytest.importorskip(
    "keras_hub", reason="keras_hub is not importable (optional extra: kerascope[hub])")

IMAGE, PATCH, LENGTH, VOCAB = 16, 4, 8, 50


def scaled(model, factor):
    """Weights of rank > 1 multiplied by ``factor``: random tiny transformers attend
    almost uniformly; larger weights give maps worth checking."""
    model.set_weights([w * factor if w.ndim > 1 else w for w in model.get_weights()])
    return model


@pytest.fixture(scope="module")
def vit():
    keras.utils.set_random_seed(0)
    backbone = keras_hub.models.ViTBackbone(
        image_shape=(IMAGE, IMAGE, 3), patch_size=PATCH, num_layers=2, num_heads=2,
        hidden_dim=8, mlp_dim=16)
    images = keras.Input((IMAGE, IMAGE, 3))
    tokens = backbone(images)
    model = keras.Model(images, keras.layers.Dense(3)(tokens[:, 0]))
    x = np.random.default_rng(0).random((2, IMAGE, IMAGE, 3)).astype(np.float32)
    return scaled(model, 3.0), x


@pytest.fixture(scope="module")
def bert():
    keras.utils.set_random_seed(0)
    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=VOCAB, num_layers=2, num_heads=2, hidden_dim=8,
        intermediate_dim=16, max_sequence_length=12)
    ids = keras.Input((LENGTH,), dtype="int32")
    out = backbone({"token_ids": ids, "segment_ids": keras.ops.zeros_like(ids),
                    "padding_mask": keras.ops.not_equal(ids, 0)})["pooled_output"]
    model = keras.Model(ids, keras.layers.Dense(3)(out))
    x = np.random.default_rng(0).integers(1, VOCAB, (2, LENGTH)).astype(np.int32)
    x[:, -2:] = 0  # padding
    return scaled(model, 10.0), x


@pytest.mark.parametrize("name", ["attention_rollout", "generic_attention"])
def test_vit_attention_maps(vit, name):
    model, x = vit
    _, maps = kerascope.explain(name, model, x, 0)
    grid = IMAGE // PATCH
    assert maps.shape == (len(x), IMAGE, IMAGE)
    # one value per patch, the class token dropped
    patches = maps[:, ::PATCH, ::PATCH]
    np.testing.assert_array_equal(np.repeat(np.repeat(patches, PATCH, 1), PATCH, 2), maps)
    _, tokens = kerascope.explain(name, model, x, 0, image_map=False)
    assert tokens.shape == (len(x), 1 + grid * grid)
    np.testing.assert_allclose(tokens[:, 1:].reshape(-1, grid, grid), patches, atol=1e-6)
    assert np.ptp(patches) > 1e-4
    picture = sequences.vit_overlay(x[0], tokens[0])
    np.testing.assert_array_equal(picture, sequences.vit_overlay(x[0], maps[0]))
    assert picture.shape == (IMAGE, IMAGE, 3) and picture.dtype == np.uint8


def test_vit_integrated_gradients_and_grad_cam(vit):
    model, x = vit
    _, ig = kerascope.explain("integrated_gradients", model, x, 0, n_steps=8)
    assert ig.shape == (len(x), IMAGE, IMAGE) and np.isfinite(ig).all() and np.abs(ig).max() > 0
    encoder = next(layer.name for layer in model.layers[1].layers if "encoder" in layer.name)
    _, cam = kerascope.explain("grad_cam", model, x, 0, layer_name=encoder, reshape=True)
    assert cam.shape[0] == len(x) and np.isfinite(cam).all()


@pytest.mark.parametrize("name", ["attention_rollout", "generic_attention"])
def test_bert_attention_maps(bert, name):
    model, x = bert
    _, maps = kerascope.explain(name, model, x, [0, 1])
    assert maps.shape == (len(x), LENGTH) and np.isfinite(maps).all()
    # masked (padding) positions receive no attention, hence nothing from either rule
    np.testing.assert_array_equal(maps[:, -2:], 0.0)
    assert np.ptp(maps[:, 1:-2]) > 1e-4
    if name == "attention_rollout":
        np.testing.assert_allclose(maps.sum(-1), 1.0, atol=1e-5)
    _, dropped = kerascope.explain(name, model, x, [0, 1], drop_token=True)
    np.testing.assert_allclose(dropped, maps[:, 1:], atol=1e-6)
    vocabulary = [f"w{i}" for i in range(VOCAB)]
    page = sequences.attention_html(x[0], dropped[0], vocabulary=vocabulary, method=name)
    assert page.count('class="ks-token"') == LENGTH - 1
    assert f">w{x[0, 1]}<" in page and f">w{x[0, 0]}<" not in page.split("</div>", 1)[1]


def test_bert_integrated_gradients_and_grad_cam(bert):
    model, x = bert
    backbone = model.layers[1] if hasattr(model.layers[1], "token_embedding") else next(
        layer for layer in model.layers if isinstance(layer, keras_hub.models.BertBackbone))
    _, ig = kerascope.explain("integrated_gradients", model, x, 0, n_steps=8,
                              layer="token_embedding")
    assert ig.shape == (len(x), LENGTH) and np.isfinite(ig).all() and np.abs(ig).max() > 0
    _, cam = kerascope.explain("grad_cam", model, x, 0, layer_name="transformer_layer_1")
    assert cam.shape == (len(x), LENGTH) and np.isfinite(cam).all()
    assert backbone is not None


def test_lrp_transformer_composite(vit, bert):
    """keras-hub's layers are covered: attention, LayerNormalization, embeddings (token,
    position, segment, patch), its blocks and their GELU; residuals written inside the
    blocks' ``call`` are not reached (their gradient passes relevance to both sides),
    so the scores are not conserved here; tests/test_attnlrp.py checks the rules."""
    model, x = vit
    _, maps = kerascope.explain("lrp", model, x, 0, composite="transformer")
    assert maps.shape == (len(x), IMAGE, IMAGE) and np.isfinite(maps).all()
    assert np.abs(maps).max() > 0
    model, x = bert
    _, maps = kerascope.explain("lrp", model, x, [0, 1], composite="transformer")
    assert maps.shape == (len(x), LENGTH) and np.isfinite(maps).all()
    # the relevance is read at the token embedding; padding is masked out of attention
    np.testing.assert_array_equal(maps[:, -2:], 0.0)
    assert np.abs(maps[:, :-2]).min(axis=1).max() > 0


def test_hub_tokenizer_words():
    """A keras-hub tokenizer (its id_to_token) names the tokens drawn."""
    tokenizer = keras_hub.tokenizers.WordPieceTokenizer(
        vocabulary=["[PAD]", "[CLS]", "the", "cat", "sat", "[UNK]"])
    page = sequences.attention_html([1, 2, 3, 4], [0.7, 0.1, 0.5, 0.2], tokenizer=tokenizer)
    for word in ("[CLS]", "the", "cat", "sat"):
        assert f">{word}<" in page
    assert rendering.overlay is not None


def test_backbone_dict_output_by_key():
    """A keras-hub backbone's own dict inputs and dict outputs: the output chosen by
    its key (``output_index="pooled_output"``)."""
    keras.utils.set_random_seed(0)
    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=VOCAB, num_layers=2, num_heads=2, hidden_dim=8,
        intermediate_dim=16, max_sequence_length=12)
    ids = np.random.default_rng(0).integers(1, VOCAB, (2, LENGTH)).astype(np.int32)
    x = {"token_ids": ids, "segment_ids": np.zeros_like(ids), "padding_mask": np.ones_like(ids)}
    pooled = keras.ops.convert_to_numpy(backbone(x)["pooled_output"])
    outputs, maps = kerascope.explain("generic_attention", backbone, x, 3,
                                      output_index="pooled_output")
    np.testing.assert_allclose(outputs, pooled, atol=1e-5)
    assert maps.shape == (len(ids), LENGTH) and np.isfinite(maps).all()
    assert (maps[:, 0] >= 1.0 - 1e-6).all()  # R = I + ...: the class token keeps its 1
