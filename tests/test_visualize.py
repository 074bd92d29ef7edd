"""keras_resnets.visualize: every tool on tiny models with real Fashion-MNIST pixels, checked by value."""

import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

import keras_resnets
from keras_resnets import visualize as V
from keras_resnets.export import load_images, load_labels
from tests.tiny_models import TINY, build

ROOT = Path(__file__).resolve().parents[1]
FM_DIR = Path("/usr/share/datasets/fashion-mnist")
COMMITTED = ROOT / "saved_models" / "fashion_mnist_resnet20" / "model.keras"
TINY_CIFAR = dict(stage_depths=(2, 2, 2), stage_widths=(4, 8, 16), stem_width=4, classes=10)


def _fashion_mnist(count):
    """Real Fashion-MNIST test images (N, 28, 28, 1) in [0, 255] and labels, from the Debian package."""
    images = FM_DIR / "t10k-images-idx3-ubyte.gz"
    if not images.exists():
        pytest.skip(f"Fashion-MNIST is not installed in {FM_DIR} (apt-get install dataset-fashion-mnist)")
    return load_images(images, (28, 28, 1), count), load_labels(FM_DIR / "t10k-labels-idx1-ubyte.gz", count)


def _tiny(name="resnet20", size=28, **kwargs):
    keras.utils.set_random_seed(0)
    return keras_resnets.create_model(name, input_shape=(size, size, 1), **{**TINY_CIFAR, **kwargs})


def _scale_residual(model, block, factor):
    """Multiplies the residual branch of a v1 basic block by `factor` (its last BatchNorm's gamma and beta)."""
    bn = model.get_layer(f"{block}_2_bn")
    gamma, beta, mean, variance = bn.get_weights()
    bn.set_weights([gamma * factor, beta * factor, mean, variance])


@pytest.fixture
def figures(monkeypatch):
    """Captures every figure the plot functions save, to check titles and axis labels."""
    captured = []
    save = V._save

    def capture(figure, path):
        captured.append(figure)
        return save(figure, path)

    monkeypatch.setattr(V, "_save", capture)
    return captured


def _check_figure(figure, path):
    """A PNG, written atomically, with a title, labelled axes, and a labelled colour scale for images."""
    assert Path(path).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(Path(path).parent.glob("*.partial.png"))
    assert figure._suptitle is not None and figure._suptitle.get_text()
    colorbars = [ax for ax in figure.axes if ax.get_label() == "<colorbar>"]
    drawn = [ax for ax in figure.axes if ax not in colorbars and ax.axison]
    assert drawn
    for ax in drawn:
        assert ax.get_xlabel() and ax.get_ylabel(), (path, ax.get_title())
    if any(ax.images for ax in drawn):
        assert colorbars and all(ax.get_ylabel() for ax in colorbars), path


def test_blocks_are_found_in_every_family():
    kinds = {label: [(b.kind, b.shape_preserving) for b in V.find_blocks(build(label))] for label in TINY}
    assert kinds["cifar_resnet_option_a"] == [("residual", True), ("residual", False), ("residual", False)]
    assert kinds["cifar_plain"] == [("plain", True), ("plain", False), ("plain", False)]
    assert len(kinds["resnet_v2"]) == 8 and all(k == "residual" for k, _ in kinds["resnet_v2"])
    assert len(kinds["resnet_bottleneck_keras"]) == 5 and len(kinds["cifar_preact"]) == 3
    assert kinds["densenet"] == [] and kinds["densenet_bc_cifar"] == []
    attention_blocks = [b.name for b in V.find_blocks(build("attention_cifar"))]
    assert attention_blocks and not any("_mask_" in name for name in attention_blocks)
    assert "conv2_attention1_trunk_block1" in attention_blocks
    with pytest.raises(ValueError, match="DenseNets concatenate"):
        V.refinement_statistics(build("densenet"), np.zeros((1, 32, 32, 3)))


def test_feature_maps_are_the_stage_activations():
    images, _ = _fashion_mnist(2)
    model = _tiny()
    assert V.stage_outputs(model) == ["conv2_block2_out", "conv3_block2_out", "conv4_block2_out"]
    maps = V.feature_maps(model, images[0])  # one image, no batch axis
    assert {k: v.shape for k, v in maps.items()} == {
        "conv2_block2_out": (1, 28, 28, 4), "conv3_block2_out": (1, 14, 14, 8), "conv4_block2_out": (1, 7, 7, 16)}
    expected = keras.Model(model.inputs[0], model.get_layer("conv3_block2_out").output)(images[:1])
    np.testing.assert_allclose(maps["conv3_block2_out"], keras.ops.convert_to_numpy(expected), atol=1e-6)
    named = V.feature_maps(model, images[:, :, :, 0], layers=["conv1_relu"])  # (N, H, W) grayscale batch
    assert named["conv1_relu"].shape == (2, 28, 28, 4)
    with pytest.raises(ValueError, match="no layer 'conv9'"):
        V.feature_maps(model, images, layers=["conv9"])
    with pytest.raises(ValueError, match=r"shape \(N, 28, 28, 1\).*Received shape \(2, 32, 32, 1\)"):
        V.feature_maps(model, np.zeros((2, 32, 32, 1)))


@pytest.mark.parametrize("method", V.CAM_METHODS)
def test_grad_cam_lights_the_quadrant_that_holds_the_evidence(method):
    """A real garment in one quadrant of a black canvas: with zero input elsewhere (no preprocessing offset,
    BatchNorm at its initial statistics) the logit depends on that quadrant only, and so must the map."""
    images, _ = _fashion_mnist(3)
    model = _tiny(size=112, include_preprocessing=False)
    dense = model.get_layer("predictions")
    kernel, bias = dense.get_weights()
    kernel[:, 3] = 1.0  # class 3's logit is the sum of the pooled features: positive evidence
    dense.set_weights([kernel, bias])
    for garment in images:
        for top, left in [(0, 0), (56, 56), (0, 56)]:
            canvas = np.zeros((112, 112, 1), "float32")
            canvas[top + 14:top + 42, left + 14:left + 42] = garment  # centred in its 56x56 quadrant
            cams, classes, probabilities = V.grad_cam(model, canvas, class_index=3, method=method)
            assert cams.shape == (1, 112, 112) and classes.tolist() == [3] and 0 < probabilities[0] <= 1
            assert cams.max() == pytest.approx(1.0) and cams.min() >= 0
            share = cams[0, top:top + 56, left:left + 56].sum() / cams[0].sum()
            opposite = cams[0, 56 - top:112 - top, 56 - left:112 - left].sum() / cams[0].sum()
            assert share > 0.9 and opposite < 0.01, (top, left, share, opposite)


def test_grad_cam_classes_layers_and_errors():
    images, labels = _fashion_mnist(4)
    model = _tiny()
    cams, classes, probabilities = V.grad_cam(model, images)
    predictions = keras.ops.convert_to_numpy(model(images))
    assert classes.tolist() == predictions.argmax(-1).tolist()
    np.testing.assert_allclose(probabilities, predictions.max(-1), rtol=1e-4)
    _, per_image, _ = V.grad_cam(model, images, class_index=labels, layer="conv3_block2_out")
    assert per_image.tolist() == labels.tolist()
    with pytest.raises(ValueError, match=r"class_index.*\[0, 10\).*Received: class_index=10"):
        V.grad_cam(model, images, class_index=10)
    with pytest.raises(ValueError, match="method"):
        V.grad_cam(model, images, method="cam")
    with pytest.raises(ValueError, match="does not separate"):
        V.grad_cam(model, images, layer="conv3_block2_1_relu")
    with pytest.raises(ValueError, match="classifier"):
        V.grad_cam(_tiny(include_top=False, pooling=None), images)


def test_refinement_ratio_is_exact_and_zero_for_a_silent_block():
    images, _ = _fashion_mnist(16)
    model = _tiny()
    before = {r["block"]: r for r in V.refinement_statistics(model, images, batch_size=7)}
    _scale_residual(model, "conv3_block2", 2.0)
    _scale_residual(model, "conv4_block2", 0.0)
    after = {r["block"]: r for r in V.refinement_statistics(model, images)}
    assert after["conv3_block2"]["ratio"] == pytest.approx(2 * before["conv3_block2"]["ratio"], rel=1e-4)
    assert after["conv4_block2"]["ratio"] == pytest.approx(0.0, abs=1e-7)
    assert after["conv4_block2"]["cosine"] == pytest.approx(1.0, abs=1e-5)  # relu(x + 0) = x for x >= 0
    assert after["conv2_block1"] == pytest.approx(before["conv2_block1"])  # earlier blocks are unaffected
    assert [r["downsampling"] for r in after.values()] == [False, False, True, False, True, False]
    plain = V.refinement_statistics(_tiny("plain20"), images)
    assert [r["kind"] for r in plain] == ["plain"] * 6
    assert np.isnan(plain[2]["ratio"]) and np.isnan(plain[2]["cosine"])  # plain down-sampling: no shortcut
    assert all(np.isfinite(r["ratio"]) and -1 <= r["cosine"] <= 1 for i, r in enumerate(plain) if i not in (2, 4))


def test_receptive_field_support_and_growth():
    images, _ = _fashion_mnist(4)
    model = _tiny()
    fields = V.effective_receptive_field(model, images, layers=["conv1_relu", "conv2_block1_out",
                                                                "conv4_block2_out"])
    stem, first_block, last = fields.values()
    assert stem["support_radius"] == 1  # one 3x3 conv: exactly the 3x3 window around the centre
    assert first_block["support_radius"] <= 3  # stem + two 3x3 convs: 7x7
    assert last["radius"] > first_block["radius"] >= stem["radius"]
    for field in fields.values():
        assert field["erf"].shape == (28, 28) and field["erf"].sum() == pytest.approx(1.0, rel=1e-5)
    assert last["stride"] == (4.0, 4.0) and last["centre"] == (3, 3)
    with pytest.raises(ValueError, match="fraction"):
        V.effective_receptive_field(model, images, fraction=0)


def test_lesion_of_a_silent_block_costs_nothing_and_of_a_live_one_does():
    images, labels = _fashion_mnist(64)
    model = _tiny()
    _scale_residual(model, "conv3_block2", 0.0)
    reference = keras.ops.convert_to_numpy(model(images))
    silent = keras.ops.convert_to_numpy(V.lesion(model, ["conv3_block2"])(images))
    np.testing.assert_allclose(silent, reference, atol=1e-6)
    live = keras.ops.convert_to_numpy(V.lesion(model, "conv2_block2")(images))
    assert np.abs(live - reference).max() > 1e-3
    study = V.lesion_study(model, images, labels)
    rows = {r["block"]: r for r in study["rows"]}
    assert rows["conv3_block2"]["drop"] == 0 and rows["conv3_block2"]["accuracy"] == study["baseline"]
    assert study["baseline"] == pytest.approx((reference.argmax(-1) == labels).mean())
    assert len(rows) == 6 and rows["conv3_block1"]["downsampling"] and study["skipped"] == []
    # The original model is untouched by its lesioned copies.
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model(images)), reference, atol=1e-6)
    plain = _tiny("plain20")
    plain_study = V.lesion_study(plain, images, labels)
    assert plain_study["skipped"] == ["conv3_block1", "conv4_block1"] and len(plain_study["rows"]) == 4
    with pytest.raises(ValueError, match="changes the feature-map shape"):
        V.lesion(plain, ["conv3_block1"])
    with pytest.raises(ValueError, match="no block 'conv9_block1'"):
        V.lesion(model, ["conv9_block1"])
    with pytest.raises(ValueError, match="64 integer class indices"):
        V.lesion_study(model, images, labels[:10])


def test_lesion_works_on_a_saved_model(tmp_path):
    images, labels = _fashion_mnist(16)
    path = tmp_path / "tiny.keras"
    _tiny().save(path)
    from keras_resnets.export import load_keras_model

    loaded = load_keras_model(path)
    study = V.lesion_study(loaded, images, labels, blocks=["conv2_block1", "conv4_block2"])
    assert [r["block"] for r in study["rows"]] == ["conv2_block1", "conv4_block2"]


def test_attention_masks_match_the_models_own_mask_outputs():
    images, _ = _fashion_mnist(2)
    name, overrides, _ = TINY["attention_cifar"]
    keras.utils.set_random_seed(0)
    model = keras_resnets.create_model(name, input_shape=(28, 28, 1), classes=10, return_masks=True, **overrides)
    masks = V.attention_masks(model, images)
    assert len(masks) == 3 and all(m.shape == (2, 28, 28) for m in masks.values())
    assert all(0 <= m.min() and m.max() <= 1 for m in masks.values())
    own = model(images)
    first = [k for k in own if k.startswith("mask_")][0]
    own_mean = keras.ops.convert_to_numpy(own[first]).mean(-1)
    ours = list(masks.values())[0]
    np.testing.assert_allclose(ours.mean(), own_mean.mean(), rtol=0.05)  # bilinear resize keeps the mean
    with pytest.raises(ValueError, match="no attention soft masks"):
        V.attention_masks(_tiny(), images)


def test_every_plot_has_titles_axes_and_units(tmp_path, figures):
    images, labels = _fashion_mnist(64)
    model = _tiny()
    plain = _tiny("plain20")
    cams, classes, probabilities = V.grad_cam(model, images[:3])
    paths = [
        V.plot_feature_maps(V.feature_maps(model, images[:1]), images[0], tmp_path / "maps.png", channels=3),
        V.plot_grad_cam(images[:3], cams, tmp_path / "cam.png", classes=classes, probabilities=probabilities,
                        labels=labels[:3], class_names=[f"c{i}" for i in range(10)]),
        V.plot_refinement(V.refinement_statistics(model, images), tmp_path / "refine.png",
                          contrast=V.refinement_statistics(plain, images)),
        V.plot_receptive_fields(V.effective_receptive_field(model, images[:4]), tmp_path / "erf.png"),
        V.plot_lesions(V.lesion_study(model, images, labels), tmp_path / "lesion.png",
                       contrast=V.lesion_study(plain, images, labels)),
    ]
    name, overrides, _ = TINY["attention_cifar"]
    attention = keras_resnets.create_model(name, input_shape=(28, 28, 1), classes=10, **overrides)
    paths.append(V.plot_attention_masks(images[:2], V.attention_masks(attention, images[:2]), tmp_path / "att.png"))
    assert len(figures) == len(paths) == 6
    for figure, path in zip(figures, paths):
        _check_figure(figure, path)
    with pytest.raises(ValueError, match=r"must end in \.png"):
        V.plot_receptive_fields(V.effective_receptive_field(model, images[:1]), tmp_path / "erf.jpg")


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "keras_resnets.visualize", *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})


def test_command_line_on_the_committed_model(tmp_path):
    _fashion_mnist(1)
    run = _cli("lesion", COMMITTED, "--out", tmp_path / "lesion.png", "--count", 200, "--json", tmp_path / "l.json")
    assert run.returncode == 0, run.stderr[-2000:]
    import json

    study = json.loads((tmp_path / "l.json").read_text())["model"]
    assert study["num_images"] == 200 and study["baseline"] > 0.85 and len(study["rows"]) == 9
    assert (tmp_path / "lesion.png").read_bytes()[:4] == b"\x89PNG"
    run = _cli("grad-cam", "resnet20", "--out", tmp_path / "cam.png", "--count", 2, "--method", "gradcam++")
    assert run.returncode == 0, run.stderr[-2000:]
    bad = _cli("lesion", tmp_path / "missing.keras", "--out", tmp_path / "x.png")
    assert bad.returncode == 1 and "Model file not found" in bad.stderr
    bad = _cli("attention", COMMITTED, "--out", tmp_path / "x.png", "--count", 1)
    assert bad.returncode == 1 and "no attention soft masks" in bad.stderr and not (tmp_path / "x.png").exists()


def test_tools_run_on_the_jax_backend():
    _fashion_mnist(1)
    code = (
        "import numpy as np, keras_resnets\n"
        "from keras_resnets import visualize as V\n"
        "from tests.test_visualize import _fashion_mnist, _tiny\n"
        "images, labels = _fashion_mnist(8)\n"
        "model = _tiny()\n"
        "cams, classes, _ = V.grad_cam(model, images, method='gradcam++')\n"
        "assert cams.shape == (8, 28, 28) and 0 <= cams.min() and cams.max() <= 1\n"
        "fields = V.effective_receptive_field(model, images[:2], layers=['conv1_relu'])\n"
        "assert fields['conv1_relu']['support_radius'] == 1\n"
        "assert len(V.lesion_study(model, images, labels)['rows']) == 6\n"
        "print('jax ok')\n"
    )
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300,
                         env={**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"})
    assert run.returncode == 0 and "jax ok" in run.stdout, run.stderr[-3000:]
