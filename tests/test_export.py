"""The export: SavedModel, LiteRT and ONNX files verified against Keras; metadata; atomicity; the CLI."""

import json
import os
import subprocess
import sys
import time

import keras
import numpy as np
import pytest

import keras_resnets
from keras_resnets import export
from keras_resnets import tool_io
from keras_resnets.export import formats
from tests.real_data import load_sample
from tests.test_folding import ALL_FOLDED, NO_BATCH_NORM
from tests.tiny_models import TINY
from tests.tiny_models import build as build_tiny

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FAST = {"benchmark": False, "num_verify": 16, "num_calibration": 16}


def tiny(family="cifar", **kwargs):
    """Tiny models of three families, raw pixels in (preprocessing included)."""
    name, config, shape = {
        "cifar": ("resnet20", {"stage_depths": (1, 1, 1), "stage_widths": (4, 8, 8), "stem_width": 4}, (16, 16, 3)),
        "densenet": ("densenet121", {"block_depths": (1, 1, 1, 1), "growth_rate": 4, "stem_width": 8}, (32, 32, 3)),
        "bottleneck": ("resnet50", {"stage_depths": (1, 1, 1, 1), "stage_widths": (4, 4, 8, 8), "stem_width": 8},
                       (32, 32, 3)),
    }[family]
    return keras_resnets.create_model(name, **config, input_shape=shape, classes=5, include_preprocessing=True,
                                      **kwargs)


def _tflite(path, images):
    """Runs a .tflite file with ai_edge_litert itself (not export.LiteRTRunner, which the export verifies
    with), one thread, (de)quantizing int8 inputs and outputs."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path), num_threads=1)
    given, output = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    interpreter.resize_tensor_input(given["index"], [len(images), *given["shape"][1:]])
    interpreter.allocate_tensors()
    x = np.asarray(images, "float32")
    if given["dtype"] != np.float32:
        scale, zero = given["quantization"]
        x = np.clip(np.round(x / scale + zero), np.iinfo(given["dtype"]).min, np.iinfo(given["dtype"]).max)
    interpreter.set_tensor(given["index"], x.astype(given["dtype"]))
    interpreter.invoke()
    y = interpreter.get_tensor(output["index"])
    if output["dtype"] != np.float32:
        scale, zero = output["quantization"]
        y = (y.astype("float32") - zero) * scale
    return y


def _other_images(model, count=3):
    """Raw-pixel images the export did not verify on (it uses export.random_images with seeds 1 and 2)."""
    return np.random.default_rng(7).uniform(0, 255, (count, *model.input_shape[1:])).astype("float32")


@pytest.fixture(scope="module")
def trained():
    """A tiny ResNet trained for a few seconds on separable synthetic data: confident, meaningful top-1."""
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 4, 512)
    # Each class is a bright quadrant on a noisy background (raw [0, 255] pixels).
    images = rng.uniform(0, 60, (512, 16, 16, 1)).astype("float32")
    for i, c in enumerate(labels):
        r, col = divmod(int(c), 2)
        images[i, r * 8:(r + 1) * 8, col * 8:(col + 1) * 8] += 150
    model = keras_resnets.create_model("resnet20", stage_depths=(1, 1, 1), stage_widths=(4, 8, 8), stem_width=4,
                                       input_shape=(16, 16, 1), classes=4, include_preprocessing=True,
                                       bn_momentum=0.5)
    model.compile(keras.optimizers.Adam(1e-2), "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(images, labels, batch_size=64, epochs=4, verbose=0)
    return model, images, labels


@pytest.mark.parametrize("label", sorted(TINY))
def test_saved_model_and_float32_parity(tmp_path, label):
    """Every family (the tiny variant of each, tests/tiny_models.py) exports with parity."""
    model = build_tiny(label, include_preprocessing=True)
    meta = export.export_model(model, tmp_path / "out", formats=("saved_model", "float32"), **FAST)
    for fmt in ("saved_model", "float32"):
        assert meta["verification"][fmt]["max_abs_diff"] <= 1e-4
        assert meta["verification"][fmt]["passed"]
    # The metadata's figure is the truth: the same comparison, recomputed here on the export's own images.
    verify = export.random_images(model.input_shape[1:], FAST["num_verify"], seed=1)
    float32 = _tflite(tmp_path / "out" / "model_float32.tflite", verify)
    assert np.max(np.abs(float32 - model.predict(verify, verbose=0))) == pytest.approx(
        meta["verification"]["float32"]["max_abs_diff"], rel=1e-6, abs=1e-12)
    # The SavedModel is served with BatchNorms folded into their convolutions (keras_resnets.fold_batch_norm).
    batch_norm = meta["batch_norm"]
    if label in ALL_FOLDED:
        assert batch_norm["folded_in_saved_model"] == batch_norm["in_model"] > 0
    elif label in NO_BATCH_NORM:
        assert batch_norm["folded_in_saved_model"] == batch_norm["in_model"] == 0
    elif label == "densenet_memory_efficient":  # the stem's folds; the dense layers keep theirs inside DenseLayer
        assert batch_norm["folded_in_saved_model"] == batch_norm["in_model"] == 1
    else:  # pre-activation units and DenseNet concatenations keep some
        assert 0 <= batch_norm["folded_in_saved_model"] < batch_norm["in_model"]
    # Named signature, named input, dynamic batch.
    import tensorflow as tf

    serve = tf.saved_model.load(str(tmp_path / "out" / "saved_model")).signatures["serving_default"]
    spec = serve.structured_input_signature[1]["images"]
    assert spec.shape.as_list()[0] is None
    runner = export.LiteRTRunner(tmp_path / "out" / "model_float32.tflite")
    assert runner.input["shape_signature"][0] == -1
    # Both files give the Keras model's outputs within the target (1e-4) on images the export never saw.
    x = _other_images(model)
    expected = model.predict(x, verbose=0)
    np.testing.assert_allclose(serve(images=tf.constant(x))["probabilities"].numpy(), expected, atol=1e-4)
    np.testing.assert_allclose(_tflite(tmp_path / "out" / "model_float32.tflite", x), expected, atol=1e-4)


def test_float16_and_dynamic_int8(tmp_path):
    model = tiny()
    meta = export.export_model(model, tmp_path / "out", formats=("float16", "dynamic_int8"), **FAST)
    assert meta["verification"]["float16"]["max_abs_diff"] <= 1e-2 and meta["verification"]["float16"]["passed"]
    dynamic = meta["verification"]["dynamic_int8"]
    assert dynamic["num_images"] == 16 and np.isfinite(dynamic["max_abs_diff"])
    # Recomputed here: float16 within its target on other images; dynamic int8's figure on the export's images.
    x = _other_images(model)
    np.testing.assert_allclose(_tflite(tmp_path / "out" / "model_float16.tflite", x), model.predict(x, verbose=0),
                               atol=1e-2)
    verify = export.random_images(model.input_shape[1:], FAST["num_verify"], seed=1)
    outputs = _tflite(tmp_path / "out" / "model_dynamic_int8.tflite", verify)
    np.testing.assert_allclose(outputs.sum(-1), 1.0, atol=1e-3)  # still a softmax per image
    assert np.max(np.abs(outputs - model.predict(verify, verbose=0))) == pytest.approx(dynamic["max_abs_diff"],
                                                                                      rel=1e-6, abs=1e-12)


@pytest.mark.parametrize("int8_io", ["float32", "uint8"])
def test_full_int8_agreement_on_trained_model(tmp_path, trained, int8_io):
    model, images, labels = trained
    meta = export.export_model(model, tmp_path / "out", formats=("int8",), calibration_images=images[:64],
                               verify_images=images[256:], verify_labels=labels[256:], num_verify=256,
                               int8_io=int8_io, benchmark=False)
    result = meta["verification"]["int8"]
    assert result["keras_accuracy"] > 0.9, "the test model must be confident for agreement to mean anything"
    assert result["top1_agreement"] >= 0.99 and result["accuracy_drop"] <= 0.005
    runner = export.LiteRTRunner(tmp_path / "out" / "model_int8.tflite")
    assert runner.input["dtype"] == (np.float32 if int8_io == "float32" else np.uint8)
    # The agreement and accuracy, recomputed here with ai_edge_litert on the same 256 images.
    top1 = _tflite(tmp_path / "out" / "model_int8.tflite", images[256:]).argmax(-1)
    keras_top1 = model.predict(images[256:], verbose=0).argmax(-1)
    agreement = np.mean(top1 == keras_top1)
    assert agreement == pytest.approx(result["top1_agreement"]) and agreement >= 0.99
    assert np.mean(keras_top1 == labels[256:]) - np.mean(top1 == labels[256:]) <= 0.005


def test_onnx_parity(tmp_path):
    import onnxruntime  # part of the [test] extra: its absence fails, never skips, the ONNX claim

    model = tiny()
    meta = export.export_model(model, tmp_path / "out", formats=("onnx",), **FAST)
    assert meta["verification"]["onnx"]["max_abs_diff"] <= 1e-4 and meta["verification"]["onnx"]["passed"]

    session = onnxruntime.InferenceSession(str(tmp_path / "out" / "model.onnx"), providers=["CPUExecutionProvider"])
    assert session.get_inputs()[0].name == "images"
    # The Keras model's outputs within the target (1e-4), on images the export never saw, batch of 3.
    x = _other_images(model)
    np.testing.assert_allclose(session.run(None, {"images": x})[0], model.predict(x, verbose=0), atol=1e-4)


def test_metadata_and_benchmark(tmp_path):
    meta = export.export_model(tiny(), tmp_path / "out", formats=("float32",), class_names=list("abcde"),
                               metadata={"model": "resnet20"}, threads=(1, 2), benchmark_repeats=3,
                               num_verify=8)
    with open(tmp_path / "out" / "metadata.json") as f:
        written = json.load(f)
    assert written["model"] == "resnet20" and written["class_names"] == list("abcde")
    assert written["input_shape"] == [16, 16, 3] and written["channel_order"] == "RGB"
    assert written["versions"]["tensorflow"] and written["versions"]["keras"] == keras.__version__
    assert {"model.keras", "model_float32.tflite", "saved_model/saved_model.pb"} <= set(written["files"])
    for rel, entry in written["files"].items():
        path = tmp_path / "out" / rel
        assert entry["bytes"] == os.path.getsize(path) and entry["sha256"] == export.sha256(path)
    bench = written["litert_benchmark"]["float32"]
    assert set(bench) == {"bytes", "1_threads", "2_threads"}
    assert bench["bytes"] == os.path.getsize(tmp_path / "out" / "model_float32.tflite")
    for threads in ("1_threads", "2_threads"):  # the median of the 3 repeats asked for is at least their minimum
        assert bench[threads]["repeats"] == 3 and 0 < bench[threads]["min_ms"] <= bench[threads]["median_ms"]
    assert "float32" in export.format_report(meta)


def test_preprocessing_is_added_to_a_model_without_it(tmp_path):
    plain = keras_resnets.create_model("resnet20", stage_depths=(1, 1, 1), stage_widths=(4, 8, 8), stem_width=4,
                                       input_shape=(16, 16, 3), classes=5)
    with pytest.raises(ValueError, match="ImagePreprocessing"):
        export.export_model(plain, tmp_path / "a", formats=(), **FAST)
    meta = export.export_model(plain, tmp_path / "b", formats=("float32",), preprocessing="tf", **FAST)
    assert meta["verification"]["float32"]["passed"]
    x = export.random_images((16, 16, 3), 2)
    got = export.LiteRTRunner(tmp_path / "b" / "model_float32.tflite")(x)
    np.testing.assert_allclose(got, plain.predict(x / 127.5 - 1, verbose=0), atol=1e-4)


def test_failure_mid_export_leaves_nothing(tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("converter crashed")

    monkeypatch.setattr(formats, "convert_tflite", broken)  # where export_model looks it up
    with pytest.raises(RuntimeError, match="converter crashed"):
        export.export_model(tiny(), tmp_path / "out", formats=("float32",), **FAST)
    assert os.listdir(tmp_path) == []


def test_missed_target_fails_unless_warn_only(tmp_path, monkeypatch):
    monkeypatch.setitem(export.TARGETS, "float32", {"max_abs_diff": -1.0})
    with pytest.raises(export.ExportError, match="float32: max_abs_diff"):
        export.export_model(tiny(), tmp_path / "out", formats=("float32",), **FAST)
    assert os.listdir(tmp_path) == []
    meta = export.export_model(tiny(), tmp_path / "out", formats=("float32",), warn_only=True, **FAST)
    assert meta["verification_misses"] and not meta["verification"]["float32"]["passed"]


def test_existing_dir_needs_overwrite(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep.txt").write_text("x")
    with pytest.raises(FileExistsError, match="overwrite"):
        export.export_model(tiny(), tmp_path / "out", formats=(), **FAST)
    # overwrite replaces only an unchanged earlier export, never a folder of the user's.
    with pytest.raises(FileExistsError, match="Refusing to replace .*not an export"):
        export.export_model(tiny(), tmp_path / "out", formats=(), overwrite=True, **FAST)
    assert os.listdir(tmp_path / "out") == ["keep.txt"]
    export.export_model(tiny(), tmp_path / "earlier", formats=(), **FAST)
    export.export_model(tiny(), tmp_path / "earlier", formats=(), overwrite=True, **FAST)
    assert sorted(os.listdir(tmp_path)) == ["earlier", "out"]


def test_bad_input_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="not found"):
        export.load_keras_model(tmp_path / "missing.keras")
    (tmp_path / "corrupt.keras").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="not a valid"):
        export.load_keras_model(tmp_path / "corrupt.keras")
    (tmp_path / "model.h5").write_bytes(b"x")
    with pytest.raises(ValueError, match=".keras"):
        export.load_keras_model(tmp_path / "model.h5")
    with pytest.raises(ValueError, match="shape"):
        np.save(tmp_path / "x.npy", np.zeros((2, 8, 8, 3)))
        export.load_images(tmp_path / "x.npy", (16, 16, 3))
    with pytest.raises(ValueError, match="Unknown export formats"):
        export.export_model(tiny(), tmp_path / "out", formats=("tflite",))


def test_corrupt_input_files_are_errors_naming_the_file(tmp_path):
    from PIL import Image

    (tmp_path / "folder").mkdir()
    Image.fromarray(np.zeros((8, 8, 3), "uint8")).save(tmp_path / "folder" / "a.png")
    (tmp_path / "folder" / "b.png").write_bytes(b"not a png at all")
    with pytest.raises(ValueError, match=r"Cannot read the image .*b\.png"):
        export.load_images(tmp_path / "folder", (16, 16, 3))
    (tmp_path / "random.npy").write_bytes(os.urandom(256))
    np.save(tmp_path / "good.npy", np.zeros((4, 16, 16, 3), "uint8"))
    (tmp_path / "truncated.npy").write_bytes((tmp_path / "good.npy").read_bytes()[:500])
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    np.save(tmp_path / "strings.npy", np.array(["a", "b"]))
    for name in ("random.npy", "truncated.npy", "objects.npy", "strings.npy"):
        with pytest.raises(ValueError, match=f"{name}.*(not a readable .npy|numeric array)"):
            export.load_images(tmp_path / name, (16, 16, 3))
        with pytest.raises(ValueError, match=name):
            export.load_labels(tmp_path / name)
    (tmp_path / "t10k-images-idx3-ubyte").write_bytes(b"\x00\x00\x08\x03" + bytes(20))
    with pytest.raises(ValueError, match="t10k-images-idx3-ubyte"):
        export.load_images(tmp_path / "t10k-images-idx3-ubyte", (28, 28, 1))
    np.save(tmp_path / "one_hot.npy", np.eye(5)[[0, 1, 2]])
    with pytest.raises(ValueError, match=r"one_hot.npy.*one class index per image.*\(3, 5\)"):
        export.load_labels(tmp_path / "one_hot.npy")
    np.save(tmp_path / "fractions.npy", np.array([0.0, 1.5]))
    with pytest.raises(ValueError, match="fractions.npy.*integer class indices"):
        export.load_labels(tmp_path / "fractions.npy")


@pytest.fixture(scope="module")
def cli_files(tmp_path_factory):
    """A tiny model (16x16x3 in, 5 classes) as a .keras file, 8 images and matching labels."""
    folder = tmp_path_factory.mktemp("cli")
    keras.utils.set_random_seed(0)
    tiny().save(folder / "model.keras")
    np.save(folder / "images.npy", np.random.default_rng(0).integers(0, 256, (8, 16, 16, 3)).astype("uint8"))
    np.save(folder / "labels.npy", np.arange(8) % 5)
    np.save(folder / "seven_labels.npy", np.arange(7) % 5)
    np.save(folder / "labels_beyond.npy", np.arange(8))  # 5, 6, 7 are not classes of the model
    (folder / "corrupt.npy").write_bytes(b"garbage")
    return folder


NUMBERS = [
    (["--num-verify", "0"], "--num-verify: must be an integer >= 1. Received: '0'"),
    (["--num-verify", "-5"], "--num-verify: must be an integer >= 1. Received: '-5'"),
    (["--num-calibration", "0"], "--num-calibration: must be an integer >= 1. Received: '0'"),
    (["--benchmark-repeats", "0"], "--benchmark-repeats: must be an integer >= 1"),
    (["--classes", "0"], "--classes: must be an integer >= 1"),
    (["--classes", "2.5"], "--classes: must be an integer >= 1. Received: '2.5'"),
    (["--threads", "1,0"], "--threads: must be comma-separated integers >= 1, e.g. 1,2. Received: '1,0'"),
    (["--input-shape", "32,32"], "--input-shape: must be 3 comma-separated integers >= 1, e.g. 32,32,3. "
                                 "Received: '32,32'"),
    (["--input-shape", "a,b,c"], "--input-shape: must be 3 comma-separated integers >= 1"),
    (["--input-shape", "32,32,0"], "--input-shape: must be 3 comma-separated integers >= 1"),
    (["--formats", "saved_model,tflite"], "--formats: must be comma-separated formats from saved_model,"),
]


@pytest.mark.parametrize("argv,message", NUMBERS, ids=[" ".join(a) for a, _ in NUMBERS])
def test_cli_numbers_are_checked_against_their_range(tmp_path, capsys, argv, message):
    with pytest.raises(SystemExit) as exited:
        export.main(["resnet20", str(tmp_path / "out"), *argv])
    assert exited.value.code == 2 and message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_every_numeric_cli_argument_has_a_range():
    """No option takes a bare int or float (which would let 0 or -5 through); the range types parse."""
    parser = export.build_parser()
    assert not [a.dest for a in parser._actions if a.type in (int, float)]
    args = parser.parse_args(["m", "o", "--input-shape", "32, 32,3", "--threads", "1,4", "--num-verify", "7"])
    assert args.input_shape == (32, 32, 3) and args.threads == (1, 4) and args.num_verify == 7
    assert parser.parse_args(["m", "o"]).formats == list(export.FORMATS)
    assert "Exit codes: 0" in parser.epilog and "Exit codes: 0" in export.__doc__


def _run(argv, capsys):
    """`_cli(argv)` in-process: the exit code and stderr, which must be one line without a traceback."""
    code = export._cli([str(a) for a in argv])
    err = capsys.readouterr().err
    if code:
        assert err.startswith("error: ") and "Traceback" not in err, err
    return code, err


def test_cli_class_names_must_fit_the_model(tmp_path, cli_files, capsys):
    model, out = cli_files / "model.keras", tmp_path / "out"
    code, err = _run([model, out, "--class-names", "a,b"], capsys)
    assert code == 2 and "gives 2 names but the model has 5 output classes" in err
    code, err = _run([model, out, "--class-names", "a,,b,c,d"], capsys)
    assert code == 2 and "empty at positions [1]" in err
    code, err = _run([model, out, "--class-names", "a,b,a,c,d"], capsys)
    assert code == 2 and "repeated: ['a']" in err
    (tmp_path / "names.txt").write_text("a\nb\nc\n")
    code, err = _run([model, out, "--class-names", tmp_path / "names.txt"], capsys)
    assert code == 2 and "gives 3 names but the model has 5" in err
    code, err = _run([model, out, "--class-names", tmp_path / "missing.txt"], capsys)
    assert code == 2 and "--class-names file not found" in err
    assert not out.exists()


def test_cli_data_errors_exit_2_before_anything_is_written(tmp_path, cli_files, capsys):
    model, out = cli_files / "model.keras", tmp_path / "out"
    images = cli_files / "images.npy"
    code, err = _run([model, out, "--verify-data", images, "--verify-labels", cli_files / "seven_labels.npy"], capsys)
    assert code == 2 and "holds 8 images" in err and "7 labels" in err
    code, err = _run([model, out, "--verify-data", images, "--verify-labels", cli_files / "labels_beyond.npy"],
                     capsys)
    assert code == 2 and "class indices in [0, 5)" in err and "e.g. [5, 6, 7]" in err
    code, err = _run([model, out, "--verify-labels", cli_files / "labels.npy"], capsys)
    assert code == 2 and "--verify-labels needs --verify-data" in err
    code, err = _run([model, out, "--verify-data", cli_files / "corrupt.npy"], capsys)
    assert code == 2 and "corrupt.npy" in err
    code, err = _run([model, out, "--calibration-data", tmp_path / "missing.npy"], capsys)
    assert code == 2 and "--calibration-data not found" in err
    code, err = _run([model, out, "--classes", "3"], capsys)
    assert code == 2 and "--classes apply to a registered model name" in err
    code, err = _run([tmp_path / "missing.keras", out], capsys)
    assert code == 2 and "Model file not found" in err
    (tmp_path / "beside").mkdir()
    (tmp_path / "beside" / "model.keras").write_bytes((cli_files / "model.keras").read_bytes())
    (tmp_path / "beside" / "metadata.json").write_text('{"class_names": ')
    code, err = _run([tmp_path / "beside" / "model.keras", out], capsys)
    assert code == 2 and "metadata.json (the metadata beside the model)" in err
    assert not out.exists()


def test_cli_output_is_checked_before_the_model_is_loaded(tmp_path, cli_files, capsys, monkeypatch):
    def never(*args, **kwargs):
        raise AssertionError("the model was loaded before the output was checked")

    monkeypatch.setattr(tool_io, "load_keras_model", never)  # the command loads .keras files through tool_io
    monkeypatch.setattr(keras_resnets, "create_model", never)
    start = time.monotonic()
    code, err = _run(["resnet20", "/proc/x/out"], capsys)
    assert code == 2 and "/proc does not take new files" in err and time.monotonic() - start < 1
    (tmp_path / "file").write_text("mine")
    code, err = _run([cli_files / "model.keras", tmp_path / "file" / "out"], capsys)
    assert code == 2 and "is not a folder" in err
    code, err = _run([cli_files / "model.keras", tmp_path / "file", "--overwrite"], capsys)
    assert code == 2 and "Refusing to replace" in err and (tmp_path / "file").read_text() == "mine"


def test_cli_failed_work_exits_1(tmp_path, cli_files, capsys, monkeypatch):
    """Non-finite weights and a missed verification target: the work failed (exit 1), nothing written."""
    model = keras.models.load_model(cli_files / "model.keras")
    kernel = model.get_layer("predictions").kernel
    kernel.assign(np.full(kernel.shape, np.nan, "float32"))
    model.save(tmp_path / "nan.keras")
    code, err = _run([tmp_path / "nan.keras", tmp_path / "out", "--formats", "saved_model"], capsys)
    assert code == 1 and "non-finite values" in err
    monkeypatch.setitem(export.TARGETS, "saved_model", {"max_abs_diff": -1.0})
    code, err = _run([cli_files / "model.keras", tmp_path / "out", "--formats", "saved_model", "--no-benchmark",
                      "--num-verify", "4"], capsys)
    assert code == 1 and "verification failed" in err
    assert sorted(os.listdir(tmp_path)) == ["nan.keras"]


def test_cli_and_example_end_to_end(tmp_path):
    model = tiny()
    model.save(tmp_path / "model.keras")
    images = export.random_images((16, 16, 3), 4).astype("uint8")
    np.save(tmp_path / "images.npy", images)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    out = tmp_path / "export"
    cmd = [sys.executable, "-m", "keras_resnets.export", str(tmp_path / "model.keras"), str(out),
           "--formats", "saved_model,float32,int8", "--class-names", "a,b,c,d,e", "--verify-data",
           str(tmp_path / "images.npy"), "--num-calibration", "8", "--benchmark-repeats", "2", "--warn-only"]
    done = subprocess.run(cmd, check=False, capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "model_float32.tflite" in os.listdir(out) and "1_threads ms" in done.stdout
    # Existing directory without --overwrite: a usage error (exit 2) and a one-line message.
    again = subprocess.run(cmd, check=False, capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
    assert again.returncode == 2 and "exists" in again.stderr and "Traceback" not in again.stderr

    example = [sys.executable, os.path.join(ROOT, "examples", "classify_tflite.py"),
               str(out / "model_float32.tflite"), str(tmp_path / "images.npy"), "--top", "2"]
    shown = subprocess.run(example, check=False, capture_output=True, text=True, env=env, timeout=60)
    assert shown.returncode == 0, shown.stderr[-2000:]
    assert shown.stdout.count("\n") >= 4 and any(name in shown.stdout for name in "abcde")


@pytest.mark.slow
@pytest.mark.parametrize("name", ["resnet50", "densenet121", "attention56"])
def test_full_size_export(tmp_path, name):
    model = keras_resnets.create_model(name, include_preprocessing=True)
    meta = export.export_model(model, tmp_path / name, formats=("float32", "float16", "onnx"), num_verify=4,
                               benchmark_repeats=3)
    assert all(r["passed"] for r in meta["verification"].values() if isinstance(r, dict))


ARTIFACT = os.path.join(ROOT, "saved_models", "fashion_mnist_resnet20")


def test_committed_artifact_is_intact_and_accurate():
    """The committed Fashion-MNIST ResNet-20: files match metadata; the Keras model and the int8 file classify
    the 2,000 real test images of the committed sample (tests/data/), and meet the int8 targets on them."""
    meta = json.load(open(os.path.join(ARTIFACT, "metadata.json")))
    for name in ("model.keras", "model_int8.tflite"):
        entry = meta["files"][name]
        path = os.path.join(ARTIFACT, name)
        assert os.path.getsize(path) == entry["bytes"] and export.sha256(path) == entry["sha256"]
    assert meta["verification"]["int8"]["passed"] and len(meta["class_names"]) == 10
    model = keras.models.load_model(os.path.join(ARTIFACT, "model.keras"))  # safe mode
    assert model.input_shape == (None, 28, 28, 1)
    images, labels = load_sample()
    images = images.astype("float32")
    int8_top1 = _tflite(os.path.join(ARTIFACT, "model_int8.tflite"), images).argmax(-1)
    keras_top1 = model.predict(images, batch_size=500, verbose=0).argmax(-1)
    keras_accuracy, int8_accuracy = np.mean(keras_top1 == labels), np.mean(int8_top1 == labels)
    assert keras_accuracy >= 0.9 and int8_accuracy >= 0.9, (keras_accuracy, int8_accuracy)
    targets = export.TARGETS["int8"]
    assert np.mean(int8_top1 == keras_top1) >= targets["top1_agreement"]
    assert keras_accuracy - int8_accuracy <= targets["accuracy_drop"], (keras_accuracy, int8_accuracy)
