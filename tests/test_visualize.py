"""keras_resnets.visualize: every tool on tiny models with real Fashion-MNIST pixels (the committed sample,
tests/data/), checked by value."""

import json
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

import keras_resnets
from keras_resnets import tool_io
from keras_resnets import visualize as V
from keras_resnets.visualize import plots
from tests.real_data import load_sample
from tests.tiny_models import TINY, build

ROOT = Path(__file__).resolve().parents[1]
COMMITTED = ROOT / "saved_models" / "fashion_mnist_resnet20" / "model.keras"
TINY_CIFAR = dict(stage_depths=(2, 2, 2), stage_widths=(4, 8, 16), stem_width=4, classes=10)


def _fashion_mnist(count):
    """Real Fashion-MNIST test images (N, 28, 28, 1) as float32 in [0, 255] and their labels: the first `count`
    of the committed sample (tests/data/; the first 200 are the test file's first 200)."""
    images, labels = load_sample(count)
    return images.astype("float32"), labels


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
    save = plots.save_png

    def capture(figure, path):
        captured.append(figure)
        return save(figure, path)

    monkeypatch.setattr(plots, "save_png", capture)
    return captured


def _check_figure(figure, path):
    """A PNG, written atomically, with a title, labelled axes, and a labelled colour scale for images."""
    assert Path(path).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not [p.name for p in Path(path).parent.iterdir() if p.name.startswith(".")]  # no temporary files left
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
    images, labels = load_sample(200)
    np.save(tmp_path / "images.npy", images)
    np.save(tmp_path / "labels.npy", labels)
    data = ["--images", tmp_path / "images.npy", "--labels", tmp_path / "labels.npy"]
    run = _cli("lesion", COMMITTED, "--out", tmp_path / "lesion.png", *data, "--json", tmp_path / "l.json")
    assert run.returncode == 0, run.stderr[-2000:]
    study = json.loads((tmp_path / "l.json").read_text())["model"]
    assert study["num_images"] == 200 and study["baseline"] > 0.85 and len(study["rows"]) == 9
    # The baseline is the committed model's own accuracy on those images, computed here.
    predictions = keras.models.load_model(COMMITTED).predict(images.astype("float32"), verbose=0)
    assert study["baseline"] == pytest.approx(np.mean(predictions.argmax(-1) == labels), abs=1e-9)
    assert (tmp_path / "lesion.png").read_bytes()[:4] == b"\x89PNG"
    run = _cli("grad-cam", "resnet20", "--out", tmp_path / "cam.png", "--images", tmp_path / "images.npy",
               "--count", 2, "--method", "gradcam++")
    assert run.returncode == 0, run.stderr[-2000:]
    bad = _cli("lesion", tmp_path / "missing.keras", "--out", tmp_path / "x.png")
    assert bad.returncode == 2 and "Model file not found" in bad.stderr and "Traceback" not in bad.stderr
    bad = _cli("attention", COMMITTED, "--out", tmp_path / "x.png", "--count", 1)
    assert bad.returncode == 2 and "no attention soft masks" in bad.stderr and not (tmp_path / "x.png").exists()


def test_cli_images_default_to_the_debian_test_set(tmp_path, monkeypatch):
    """Without --images the CLI reads the Fashion-MNIST test files of the Debian package's folder, where the
    training app's data sources (training.data) look for it (here a stand-in folder, gzip'd or not); where they
    are missing it says where and how to get them."""
    from training import data

    monkeypatch.setattr(data, "DEBIAN_FASHION_MNIST_DIR", str(tmp_path))
    with pytest.raises(FileNotFoundError, match=f"not in {tmp_path} .*apt-get install dataset-fashion-mnist"):
        V._data_file(None, "images")
    (tmp_path / "t10k-images-idx3-ubyte").write_bytes(b"")
    (tmp_path / "t10k-labels-idx1-ubyte.gz").write_bytes(b"")
    assert V._data_file(None, "images") == str(tmp_path / "t10k-images-idx3-ubyte")
    assert V._data_file(None, "labels") == str(tmp_path / "t10k-labels-idx1-ubyte.gz")
    assert V._data_file("mine.npy", "images") == "mine.npy"


def test_save_writes_through_a_unique_temporary_file(tmp_path, monkeypatch):
    """`_save` never touches another file (a user's `fig.png.partial.png` survives) and a failed write leaves
    the old figure and no temporary file."""
    (tmp_path / "fig.png.partial.png").write_bytes(b"the user's own file")
    figure = V._figure(2, 2)
    figure.subplots().plot([0, 1])
    V._save(figure, tmp_path / "fig.png")
    assert (tmp_path / "fig.png.partial.png").read_bytes() == b"the user's own file"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fig.png", "fig.png.partial.png"]
    assert oct((tmp_path / "fig.png").stat().st_mode & 0o644) == oct(0o644)
    written = (tmp_path / "fig.png").read_bytes()

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(figure, "savefig", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        V._save(figure, tmp_path / "fig.png")
    assert (tmp_path / "fig.png").read_bytes() == written
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fig.png", "fig.png.partial.png"]


def test_write_atomically_keeps_the_old_file_on_failure(tmp_path):
    (tmp_path / "numbers.json").write_text("old")

    def half_written(f):
        f.write(b'{"partial": ')
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        V._write_atomically(str(tmp_path / "numbers.json"), half_written)
    assert os.listdir(tmp_path) == ["numbers.json"] and (tmp_path / "numbers.json").read_text() == "old"


@pytest.fixture(scope="module")
def cli_files(tmp_path_factory):
    """A tiny classifier (16x16x3 in, 5 classes) as a .keras file, 8 images and labels."""
    folder = tmp_path_factory.mktemp("vis_cli")
    keras.utils.set_random_seed(0)
    keras_resnets.create_model("resnet20", stage_depths=(1, 1, 1), stage_widths=(4, 8, 8), stem_width=4,
                               input_shape=(16, 16, 3), classes=5).save(folder / "model.keras")
    np.save(folder / "images.npy", np.random.default_rng(0).integers(0, 256, (8, 16, 16, 3)).astype("uint8"))
    np.save(folder / "labels.npy", np.arange(8) % 5)
    np.save(folder / "seven_labels.npy", np.arange(7) % 5)
    np.save(folder / "labels_beyond.npy", np.arange(8))
    (folder / "corrupt.npy").write_bytes(b"garbage")
    return folder


def _run(argv, capsys):
    """`visualize._cli(argv)` in-process: the exit code and stderr (one line, no traceback, on an error)."""
    code = V._cli([str(a) for a in argv])
    err = capsys.readouterr().err
    if code:
        assert err.startswith("error: ") and "Traceback" not in err, err
    return code, err


CLI_NUMBERS = [
    (["--count", "0"], "--count: must be an integer >= 1. Received: '0'"),
    (["--count", "-3"], "--count: must be an integer >= 1. Received: '-3'"),
    (["--class-index", "-1"], "--class-index: must be an integer >= 0. Received: '-1'"),
    (["--classes", "0"], "--classes: must be an integer >= 1. Received: '0'"),
    (["--classes", "ten"], "--classes: must be an integer >= 1. Received: 'ten'"),
]


@pytest.mark.parametrize("argv,message", CLI_NUMBERS, ids=[" ".join(a) for a, _ in CLI_NUMBERS])
def test_cli_numbers_are_checked_against_their_range(tmp_path, capsys, argv, message):
    with pytest.raises(SystemExit) as exited:
        V.main(["grad-cam", "resnet20", "--out", str(tmp_path / "x.png"), *argv])
    assert exited.value.code == 2 and message in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists()


def test_every_numeric_cli_argument_has_a_range():
    parser = V.build_parser()
    assert not [a.dest for a in parser._actions if a.type in (int, float)]
    assert "Exit codes: 0" in parser.epilog and "Exit codes: 0" in V.__doc__


def test_cli_inputs_are_checked(tmp_path, cli_files, capsys):
    model, images, out = cli_files / "model.keras", cli_files / "images.npy", tmp_path / "x.png"
    code, err = _run(["grad-cam", model, "--images", images, "--out", out, "--class-index", 5], capsys)
    assert code == 2 and "--class-index must be below the model's 5 classes" in err
    code, err = _run(["lesion", model, "--images", images, "--labels", cli_files / "seven_labels.npy", "--out", out],
                     capsys)
    assert code == 2 and "holds 8 images" in err and "7 labels" in err
    code, err = _run(["lesion", model, "--images", images, "--labels", cli_files / "labels_beyond.npy", "--out",
                      out], capsys)
    assert code == 2 and "class indices in [0, 5)" in err
    code, err = _run(["feature-maps", model, "--images", cli_files / "corrupt.npy", "--out", out], capsys)
    assert code == 2 and "corrupt.npy" in err
    code, err = _run(["feature-maps", model, "--images", images, "--out", out, "--class-index", 1], capsys)
    assert code == 2 and "--class-index applies to grad-cam" in err
    code, err = _run(["feature-maps", model, "--images", images, "--out", out, "--classes", 3], capsys)
    assert code == 2 and "--classes apply to a registered model name" in err
    assert sorted(os.listdir(tmp_path)) == []


def test_cli_outputs_are_checked_before_the_model_is_loaded(tmp_path, cli_files, capsys, monkeypatch):
    def never(*args, **kwargs):
        raise AssertionError("the model was loaded before the outputs were checked")

    monkeypatch.setattr(tool_io, "load_keras_model", never)  # both tools load .keras files through tool_io
    model, images = cli_files / "model.keras", cli_files / "images.npy"
    run = lambda *extra: _run(["feature-maps", model, "--images", images, *extra], capsys)
    code, err = run("--out", tmp_path / "x.png", "--json", "/proc/x/numbers.json")
    assert code == 2 and "--json cannot be written" in err
    code, err = run("--out", tmp_path)
    assert code == 2 and "--out is an existing folder" in err
    code, err = run("--out", tmp_path / "x.jpg")
    assert code == 2 and "must end in .png" in err
    code, err = run("--out", tmp_path / "x.png", "--json", tmp_path / "x.png")
    assert code == 2 and "different files" in err
    (tmp_path / "old.json").write_text("mine")
    code, err = run("--out", tmp_path / "x.png", "--json", tmp_path / "old.json")
    assert code == 2 and "--json exists" in err and "--overwrite" in err
    (tmp_path / "old.png").write_bytes(b"mine")
    code, err = run("--out", tmp_path / "old.png")
    assert code == 2 and "--out exists" in err
    os.symlink(tmp_path / "old.png", tmp_path / "link.png")
    code, err = run("--out", tmp_path / "link.png", "--overwrite")
    assert code == 2 and "symbolic link" in err
    assert sorted(os.listdir(tmp_path)) == ["link.png", "old.json", "old.png"]
    assert (tmp_path / "old.png").read_bytes() == b"mine" and (tmp_path / "old.json").read_text() == "mine"


def test_cli_writes_both_outputs_and_overwrites_only_when_asked(tmp_path, cli_files, capsys, monkeypatch):
    """Both outputs are written atomically; missing parent folders are created for --out and --json alike; an
    existing output needs --overwrite."""
    atomic, write = [], tool_io.write_atomically
    monkeypatch.setattr(tool_io, "write_atomically", lambda path, fn: (atomic.append(os.path.basename(path)),
                                                                       write(path, fn))[1])
    argv = ["grad-cam", cli_files / "model.keras", "--images", cli_files / "images.npy", "--count", 2,
            "--out", tmp_path / "a" / "cam.png", "--json", tmp_path / "b" / "cam.json"]
    assert _run(argv, capsys)[0] == 0
    assert (tmp_path / "a" / "cam.png").read_bytes()[:4] == b"\x89PNG"
    assert len(json.loads((tmp_path / "b" / "cam.json").read_text())["classes"]) == 2
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["a", "b", "cam.json", "cam.png"]
    assert atomic == ["cam.png", "cam.json"]
    (tmp_path / "b" / "cam.json").write_text("edited")
    code, err = _run(argv, capsys)
    assert code == 2 and "--out exists" in err and (tmp_path / "b" / "cam.json").read_text() == "edited"
    assert _run([*argv, "--overwrite"], capsys)[0] == 0
    assert json.loads((tmp_path / "b" / "cam.json").read_text())["classes"]


def test_tools_run_on_the_jax_backend():
    _fashion_mnist(1)  # a missing sample fails here, saying what to do, rather than in the subprocess
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
