"""The training application end to end: a tiny run on the real Fashion-MNIST (the Debian package's full set:
the test fails, never skips, where it is missing), tiny runs on synthetic data, crash-resume, NaN stop, W&B
offline files and key hygiene, and errors before training starts."""

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import keras
import numpy as np
import pytest

import keras_resnets

from tests.virtual_devices import TWO_CPU_DEVICES
from training.config import apply_overrides, apply_smoke, load_recipe
from training.train import TrainingError, train_and_evaluate

ROOT = Path(__file__).resolve().parents[1]
TINY_MODEL = ["model.kwargs.stage_depths=(1, 1, 1)", "model.kwargs.stage_widths=(4, 8, 8)", "model.kwargs.stem_width=4"]
SYNTHETIC = ["data.name='synthetic'", "data.validation_split=None",
             "data.synthetic={'num_examples': {'train': 96, 'test': 32}, 'image_shape': (12, 12, 1), 'num_classes': 3}"]


def tiny_config(tmp_path, *extra, real_data=False):
    config = apply_smoke(load_recipe("fashion_mnist_resnet20"))
    data = [] if real_data else SYNTHETIC
    return apply_overrides(config, [*TINY_MODEL, *data, "wandb.mode='disabled'",
                                    f"export_dir={str(tmp_path / 'exports')!r}", *extra])


def test_tiny_end_to_end_run_on_real_fashion_mnist(tmp_path, fashion_mnist_dir):
    """The default recipe's data (the Debian package: 55,000 training images, 5,000 for validation, the 10,000
    test images) through the whole app. 60 steps of the tiny model reach 0.45-0.52 test accuracy (seeds 0-2;
    40 steps with Keras' default BatchNorm momentum, 0.99, stayed near chance), so > 0.3 is clearly above
    chance (0.1) and a broken run fails it."""
    config = tiny_config(tmp_path, "steps_per_epoch=30", "batch_size=128", "epochs=2", "eval_batch_size=1000",
                         "model.kwargs.bn_momentum=0.9", real_data=True)
    summary = train_and_evaluate(config, tmp_path / "run", log=lambda *_: None)
    assert summary["steps"] == 60 and summary["test_accuracy"] > 0.3, summary["test_accuracy"]
    workdir = tmp_path / "run"
    for name in ("config.json", "run.json", "history.csv", "summary.json", "best.keras", "final.weights.h5"):
        assert (workdir / name).is_file(), name
    assert (workdir / "tensorboard").is_dir()
    history = (workdir / "history.csv").read_text().splitlines()
    assert len(history) == 3 and "images_per_second" in history[0] and "learning_rate" in history[0]
    export = Path(summary["export_dir"])
    metadata = json.loads((export / "metadata.json").read_text())
    assert metadata["class_names"][0] == "T-shirt/top" and metadata["input_shape"] == [28, 28, 1]
    model = keras.models.load_model(export / "model.keras")  # safe mode
    pixels = np.random.default_rng(0).integers(0, 256, (2, 28, 28, 1)).astype("float32")
    np.testing.assert_allclose(model.predict(pixels, verbose=0).sum(-1), 1.0, rtol=1e-5)
    # The reported test accuracy is the exported model's (raw pixels in) on the package's 10,000 test images.
    from keras_resnets.idx import read_idx
    from tests.real_data import fashion_mnist_file

    images = read_idx(fashion_mnist_file("t10k-images-idx3-ubyte"))[..., None].astype("float32")
    labels = read_idx(fashion_mnist_file("t10k-labels-idx1-ubyte"))
    predictions = model.predict(images, batch_size=1000, verbose=0).argmax(-1)
    assert summary["test_accuracy"] == pytest.approx(np.mean(predictions == labels), abs=1e-4)


@pytest.mark.parametrize("validation_split", [16, None])
def test_curves_come_from_the_validation_split_and_the_test_split_is_evaluated_once(tmp_path, validation_split,
                                                                                   monkeypatch):
    config = tiny_config(tmp_path, "steps_per_epoch=3", "batch_size=16", "epochs=2",
                         f"data.validation_split={validation_split}")
    evaluated = []
    original = keras.Model.evaluate

    def counting(model, *args, **kwargs):
        if not kwargs.get("_use_cached_eval_dataset"):  # fit's own per-epoch validation passes this
            evaluated.append(sum(len(y) for _, y in (args[0] if args else kwargs["x"])))
        return original(model, *args, **kwargs)

    monkeypatch.setattr(keras.Model, "evaluate", counting)
    summary = train_and_evaluate(config, tmp_path / "run", log=lambda *_: None)
    with open(tmp_path / "run" / "history.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 2
    assert evaluated == [32]  # evaluated once after training, on the 32 test images
    if validation_split:
        values = [float(row["val_accuracy"]) for row in rows]
        assert all(v in {k / 16 for k in range(17)} for v in values)  # accuracies of the 16 validation images
        assert all(float(row["epoch_wall_seconds"]) > float(row["epoch_seconds"]) > 0 for row in rows)
        assert summary["validation_accuracy"] == pytest.approx(values[-1], abs=1e-6)
    else:
        # Keras' CSVLogger writes NA in val_* columns when there is no validation data.
        assert all(row.get("val_accuracy", "NA") == "NA" for row in rows) and "validation_accuracy" not in summary
    assert summary["evaluated_on"] == "test"
    # The reported test accuracy is the exported model's on the 32 test images, recomputed here.
    images, labels = _test_split(config)
    exported = keras.models.load_model(Path(summary["export_dir"]) / "model.keras")
    predictions = exported.predict(images, verbose=0).argmax(-1)
    assert len(labels) == 32 and summary["test_accuracy"] == pytest.approx(np.mean(predictions == labels), abs=1e-6)


def test_a_tuning_run_never_evaluates_the_test_split(tmp_path, monkeypatch):
    """evaluate_test=False (scripts/tune.sh): the final evaluation is the validation split's, the test split is
    never evaluated, and the summary and the export's metadata hold no test figure."""
    config = tiny_config(tmp_path, "steps_per_epoch=3", "batch_size=16", "epochs=1", "data.validation_split=16",
                         "eval_flip_tta=True", "evaluate_test=False")
    evaluated = []
    original = keras.Model.evaluate

    def counting(model, *args, **kwargs):
        if not kwargs.get("_use_cached_eval_dataset"):
            evaluated.append(sum(len(y) for _, y in (args[0] if args else kwargs["x"])))
        return original(model, *args, **kwargs)

    monkeypatch.setattr(keras.Model, "evaluate", counting)
    lines = []
    summary = train_and_evaluate(config, tmp_path / "run", log=lines.append)
    # The epoch's flip-TTA pass, then the final evaluation (plain and flip TTA): all on the 16 validation images,
    # never on the 32 test images.
    assert evaluated == [16, 16, 16]
    assert summary["evaluated_on"] == "validation"
    assert not [key for key in summary if key.startswith("test_")], summary
    with open(tmp_path / "run" / "history.csv") as f:
        last = list(csv.DictReader(f))[-1]
    # The final evaluation is of the last epoch's model: the same figures as the epoch's validation pass.
    assert summary["validation_accuracy"] == pytest.approx(float(last["val_accuracy"]), abs=1e-6)
    assert summary["validation_accuracy_flip_tta"] == pytest.approx(float(last["val_flip_tta_accuracy"]), abs=1e-6)
    metadata = json.loads((Path(summary["export_dir"]) / "metadata.json").read_text())
    assert metadata["validation_accuracy"] == summary["validation_accuracy"]
    assert not [key for key in metadata if key.startswith("test_")], metadata
    assert any("test accuracy" in line and "not evaluated" in line for line in lines), lines
    # Without a validation split there is nothing to judge a tuning run on: refused before training.
    from training.config import ConfigError

    with pytest.raises(ConfigError, match="evaluate_test=False needs a validation split"):
        train_and_evaluate(tiny_config(tmp_path, "evaluate_test=False"), tmp_path / "none", log=lambda *_: None)
    assert not (tmp_path / "none").exists() and not (tmp_path / "exports" / "none").exists()


def _test_split(config):
    """The run's test images and labels, as its evaluation pipeline gives them."""
    from training import data as data_lib

    splits, info = data_lib.load_splits(config.data)
    test = data_lib.make_pipeline(splits["test"], info, batch_size=16, training=False, seed=0, one_hot=False)
    return (np.concatenate(parts) for parts in zip(*[(x.numpy(), y.numpy()) for x, y in test]))


def test_eval_flip_tta_logs_a_curve_and_reports_the_exports_flip_tta_accuracy(tmp_path):
    config = tiny_config(tmp_path, "steps_per_epoch=3", "batch_size=16", "epochs=2", "data.validation_split=16",
                         "eval_flip_tta=True")
    summary = train_and_evaluate(config, tmp_path / "run", log=lambda *_: None)
    with open(tmp_path / "run" / "history.csv") as f:
        rows = list(csv.DictReader(f))
    flip_tta = [float(row["val_flip_tta_accuracy"]) for row in rows]
    assert len(rows) == 2 and all(v in {k / 16 for k in range(17)} for v in flip_tta)  # of the 16 validation images
    assert flip_tta[-1] == pytest.approx(summary["validation_accuracy_flip_tta"], abs=1e-6)
    # The same number from the exported (softmax) model wrapped by keras_resnets.flip_tta, on the test split.
    images, labels = _test_split(config)
    exported = keras.models.load_model(Path(summary["export_dir"]) / "model.keras")
    predictions = keras_resnets.flip_tta(exported).predict(images, verbose=0)
    assert np.mean(predictions.argmax(-1) == labels) == pytest.approx(summary["test_accuracy_flip_tta"], abs=1e-6)
    metadata = json.loads((Path(summary["export_dir"]) / "metadata.json").read_text())
    assert metadata["test_accuracy_flip_tta"] == summary["test_accuracy_flip_tta"]
    # Without it, nothing is added.
    plain = train_and_evaluate(tiny_config(tmp_path, "steps_per_epoch=1", "epochs=1"),
                               tmp_path / "plain", log=lambda *_: None)
    assert "test_accuracy_flip_tta" not in plain


def test_ema_weights_are_evaluated_each_epoch_and_exported(tmp_path, monkeypatch):
    """optimizer.ema_momentum: a val_ema_* column beside val_*, and the test split and the export use the averaged
    weights (written once, after the last fit), not the last step's."""
    import training.train as train_module

    captured = {}
    defer = train_module.defer_ema_finalize

    def spy(optimizer, variables):
        write = defer(optimizer, variables)

        def wrapped():
            captured["raw"] = {v.path: keras.ops.convert_to_numpy(v).copy() for v in variables}
            write()
            captured["ema"] = {v.path: keras.ops.convert_to_numpy(v).copy() for v in variables}

        return wrapped

    monkeypatch.setattr(train_module, "defer_ema_finalize", spy)
    config = tiny_config(tmp_path, "steps_per_epoch=3", "batch_size=16", "epochs=2", "data.validation_split=16",
                         "optimizer.ema_momentum=0.5")
    summary = train_and_evaluate(config, tmp_path / "run", log=lambda *_: None)
    with open(tmp_path / "run" / "history.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 2 and all(row["val_ema_accuracy"] and row["val_accuracy"] for row in rows)
    exported = keras.models.load_model(Path(summary["export_dir"]) / "model.keras")
    weights = {v.path: keras.ops.convert_to_numpy(v) for v in exported.trainable_variables}
    differ = 0
    for path, ema in captured["ema"].items():
        np.testing.assert_allclose(weights[path], ema, rtol=1e-6, atol=1e-7, err_msg=path)
        differ += not np.allclose(ema, captured["raw"][path])
    assert differ > len(captured["ema"]) // 2  # the averages are not the last step's weights
    # The last epoch's val_ema_accuracy is the exported (averaged) model's accuracy on the validation split.
    assert float(rows[-1]["val_ema_accuracy"]) == pytest.approx(summary["validation_accuracy"], abs=1e-6)
    assert float(rows[-1]["val_accuracy"]) == pytest.approx(summary["validation_accuracy_without_ema"], abs=1e-6)
    images, labels = _test_split(config)
    accuracy = np.mean(exported.predict(images, verbose=0).argmax(-1) == labels)
    assert accuracy == pytest.approx(summary["test_accuracy"], abs=1e-6)


@pytest.mark.parametrize("steps_per_execution", [1, 4])
def test_images_per_second_counts_every_step_of_an_execution(steps_per_execution):
    """ThroughputLogger: with steps_per_execution > 1 Keras reports one batch end per execution; the epoch's
    images/s still counts every step (it once counted executions: a quarter of the truth at 4)."""
    from training.callbacks import ThroughputLogger

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    model.compile(optimizer="sgd", loss="mse", steps_per_execution=steps_per_execution)
    logger = ThroughputLogger(global_batch_size=8)
    seen = {}

    class Keep(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen.update(logs)

    x, y = np.zeros((64, 4), "float32"), np.zeros((64, 2), "float32")
    model.fit(x, y, batch_size=8, epochs=1, verbose=0, callbacks=[logger, Keep()])
    assert seen["images_per_second"] * seen["epoch_seconds"] == pytest.approx(64)


def test_gradient_clipping_reaches_the_optimizer():
    from training.config import Config
    from training.recipe_parts import make_optimizer

    section = load_recipe("fashion_mnist_resnet20").optimizer
    clipped = make_optimizer(Config({**section, "global_clipnorm": 0.5, "momentum": 0.0, "weight_decay": 0.0}), 1.0)
    variable = keras.Variable(np.zeros((4,), "float32"))
    clipped.apply([np.full((4,), 10.0, "float32")], [variable])
    assert np.linalg.norm(keras.ops.convert_to_numpy(variable)) == pytest.approx(0.5, rel=1e-5)
    assert make_optimizer(Config({**section, "clipnorm": 2.0}), 0.1).clipnorm == 2.0
    plain = make_optimizer(section, 0.1)
    assert plain.clipnorm is None and plain.global_clipnorm is None and not plain.use_ema


def test_gradient_accumulation_over_4_batches_of_8_is_one_update_on_32():
    from training.config import Config
    from training.recipe_parts import make_optimizer

    section = Config({**load_recipe("fashion_mnist_resnet20").optimizer, "weight_decay": 0.0})
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(32, 6)).astype("float32"), np.eye(3, dtype="float32")[rng.integers(0, 3, 32)]

    def trained(batch_size, accumulation):
        keras.utils.set_random_seed(0)
        model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(5, activation="relu"), keras.layers.Dense(3)])
        optimizer = make_optimizer(Config({**section, "gradient_accumulation_steps": accumulation}), 0.5)
        model.compile(optimizer=optimizer, loss=keras.losses.CategoricalCrossentropy(from_logits=True))
        model.fit(x, y, batch_size=batch_size, epochs=1, shuffle=False, verbose=0)
        return [keras.ops.convert_to_numpy(w) for w in model.weights], optimizer

    accumulated, optimizer = trained(8, 4)
    reference, _ = trained(32, None)
    before, _ = trained(8, None)  # four separate updates: a different result, so the test can fail
    for ours, theirs in zip(accumulated, reference):
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)
    assert not all(np.allclose(a, b, atol=1e-4) for a, b in zip(accumulated, before))
    from training.callbacks import trained_batches

    assert int(optimizer.iterations) == 1 and trained_batches(optimizer) == 4


def test_a_run_with_gradient_accumulation_counts_batches_and_checks_the_epoch(tmp_path):
    config = tiny_config(tmp_path, "steps_per_epoch=4", "batch_size=8", "epochs=2", "backup_every_steps=1",
                         "optimizer.gradient_accumulation_steps=2")
    summary = train_and_evaluate(config, tmp_path / "run", log=lambda *_: None)
    assert np.isfinite(summary["test_accuracy"])
    # Backups are named by batches trained (the last two kept), so a resume skips exactly the batches seen.
    assert sorted(os.listdir(tmp_path / "run" / "backup")) == ["latest.json", "step-000000007", "step-000000008"]
    with pytest.raises(TrainingError, match=r"gradient_accumulation_steps=3 must divide the epoch's 4 steps"):
        train_and_evaluate(tiny_config(tmp_path, "steps_per_epoch=4", "optimizer.gradient_accumulation_steps=3"),
                           tmp_path / "bad")


def _teacher(path, classes=3, shape=(12, 12, 1)):
    keras.utils.set_random_seed(7)
    teacher = keras_resnets.create_model("resnet20", input_shape=shape, classes=classes, include_preprocessing=True,
                                         stage_depths=(1, 1, 1), stage_widths=(4, 8, 8), stem_width=4)
    teacher.save(path)
    return teacher


def test_distillation_loss_is_the_recipe_loss_mixed_with_the_teachers_softened_kl(tmp_path):
    from training import distill

    teacher = _teacher(tmp_path / "teacher.keras")
    student = keras_resnets.create_model("resnet20", input_shape=(12, 12, 1), classes=3, classifier_activation=None,
                                         stage_depths=(1, 1, 1), stage_widths=(4, 4, 4), stem_width=4)
    student.compile(loss=keras.losses.CategoricalCrossentropy(from_logits=True))
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, (6, 12, 12, 1)).astype("float32")
    y = np.eye(3, dtype="float32")[rng.integers(0, 3, 6)]
    logits = keras.ops.convert_to_numpy(student(x))
    recipe = float(student.compute_loss(x=x, y=y, y_pred=logits, training=True))
    distill.attach(student, teacher, temperature=3.0, weight=0.7)
    mixed = float(student.compute_loss(x=x, y=y, y_pred=logits, training=True))

    def log_softmax(z):
        z = z - z.max(-1, keepdims=True)
        return z - np.log(np.exp(z).sum(-1, keepdims=True))

    taught = log_softmax(np.log(keras.ops.convert_to_numpy(teacher(x))) / 3.0)
    kl = np.mean(np.sum(np.exp(taught) * (taught - log_softmax(logits / 3.0)), -1)) * 9.0
    assert mixed == pytest.approx(0.3 * recipe + 0.7 * kl, rel=1e-4) and kl > 0.01
    # Evaluation keeps the recipe's loss: val_loss is comparable with and without a teacher.
    assert float(student.compute_loss(x=x, y=y, y_pred=logits, training=False)) == pytest.approx(recipe, rel=1e-6)


def test_a_run_distills_from_a_teacher_and_checks_it_first(tmp_path):
    _teacher(tmp_path / "teacher.keras")
    lines = []
    summary = train_and_evaluate(tiny_config(tmp_path, "steps_per_epoch=2", "epochs=1",
                                             f"distill.teacher={str(tmp_path / 'teacher.keras')!r}"),
                                 tmp_path / "run", log=lines.append)
    assert np.isfinite(summary["test_accuracy"])
    assert any(line.startswith("distillation: from") for line in lines)
    exported = keras.models.load_model(Path(summary["export_dir"]) / "model.keras")
    assert exported.output_shape == (None, 3)  # the student alone
    with pytest.raises(TrainingError, match="distill.teacher must be an existing .keras file"):
        train_and_evaluate(tiny_config(tmp_path, "distill.teacher='missing.keras'"), tmp_path / "a")
    assert not (tmp_path / "a").exists()
    _teacher(tmp_path / "five.keras", classes=5)
    with pytest.raises(TrainingError, match=r"predict its 3 classes; .* predicts 5"):
        train_and_evaluate(tiny_config(tmp_path, f"distill.teacher={str(tmp_path / 'five.keras')!r}"), tmp_path / "b")


def test_a_pretrained_tag_teaches_with_its_weights_and_preprocessing(tmp_path, monkeypatch):
    """`distill.teacher="timm/resnet18.a1_in1k"`: the tag's architecture, loaded from the hub cache, its preprocessing
    inside; checked against the data's classes like any teacher."""
    from tests.test_pretrained import _hub_cache, _timm_file
    from training import distill
    from training.config import ConfigError, check_distill

    _, path = _timm_file(tmp_path, "resnet18")
    _hub_cache(monkeypatch, tmp_path / "hf", "timm/resnet18.a1_in1k", path)
    check_distill({"distill": {"teacher": "timm/resnet18.a1_in1k"}})  # a tag needs no file to pass the config check
    with pytest.raises(ConfigError, match="pretrained tag"):
        check_distill({"distill": {"teacher": "timm/resnet18.no_such_tag"}})
    teacher = distill.load_teacher("timm/resnet18.a1_in1k", (32, 32, 3), 1000)
    assert not teacher.trainable and teacher.get_layer("preprocessing").mode == "torch"
    expected = keras_resnets.create_model("resnet18", weights=path, include_preprocessing="torch",
                                          input_shape=(32, 32, 3))
    x = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(teacher(x)), keras.ops.convert_to_numpy(expected(x)),
                               atol=1e-6)
    with pytest.raises(ConfigError, match=r"predict its 10 classes; .* predicts 1000"):
        distill.load_teacher("resnet18.a1_in1k", (32, 32, 3), 10)


def test_precision_auto_follows_the_hardware(tmp_path):
    from training.train import cpu_flags, resolve_precision

    assert resolve_precision("mixed_float16") == ("mixed_float16", "asked for")
    assert resolve_precision("auto", flags={"avx2", "avx512f", "avx512_bf16"}) == (
        "mixed_bfloat16", "auto: CPU with avx512_bf16")
    assert resolve_precision("auto", flags={"avx2", "amx_bf16", "avx512_bf16"})[1] == "auto: CPU with amx_bf16, avx512_bf16"
    policy, why = resolve_precision("auto", flags={"avx2", "fma"})
    assert policy == "float32" and "without native bfloat16" in why
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512_bf16\nbugs\t\t: none\n")
    assert cpu_flags(cpuinfo) == {"fpu", "sse2", "avx2", "avx512_bf16"}
    assert cpu_flags(tmp_path / "missing") == set()


def test_a_mixed_bfloat16_run_exports_a_float32_model(tmp_path):
    config = tiny_config(tmp_path, "steps_per_epoch=2", "epochs=1", "precision='mixed_bfloat16'")
    summary = train_and_evaluate(config, tmp_path / "run", log=lambda *_: None)
    assert summary["precision"] == "mixed_bfloat16"
    metadata = json.loads((Path(summary["export_dir"]) / "metadata.json").read_text())
    assert metadata["training_precision"] == "mixed_bfloat16"
    exported = keras.models.load_model(Path(summary["export_dir"]) / "model.keras")
    assert {layer.dtype_policy.name for layer in exported.layers} == {"float32"}
    assert exported.output.dtype == "float32"


def _run_cli(args, env=None, **kwargs):
    base = {k: v for k, v in os.environ.items() if not k.startswith("WANDB_")}  # no inherited W&B settings
    env = dict(base, TF_CPP_MIN_LOG_LEVEL="3", **(env or {}))
    return subprocess.Popen([sys.executable, "-m", "training", *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kwargs)


def _recipe_file(tmp_path, extra):
    """A recipe file: the tiny deterministic run, as the CLI would load it."""
    overrides = [*TINY_MODEL, *SYNTHETIC, "wandb.mode='disabled'", f"export_dir={str(tmp_path / 'exports')!r}",
                 "epochs=3", "steps_per_epoch=6", "batch_size=16", "backup_every_steps=2", "deterministic=True",
                 "augment={'random_crop': 1, 'horizontal_flip': True}", *extra]
    path = tmp_path / "tiny_recipe.py"
    path.write_text(
        "from training.config import apply_overrides, apply_smoke, load_recipe\n"
        "def get_config():\n"
        "    config = apply_smoke(load_recipe('fashion_mnist_resnet20'))\n"
        f"    return apply_overrides(config, {overrides!r})\n"
    )
    return path


def test_resume_after_sigkill_gives_the_uninterrupted_result(tmp_path):
    recipe = _recipe_file(tmp_path, [])
    straight = _run_cli([str(recipe), "--workdir", str(tmp_path / "straight"), "--name", "straight"])
    out, _ = straight.communicate(timeout=300)
    assert straight.returncode == 0, out[-3000:]

    crashed = _run_cli([str(recipe), "--workdir", str(tmp_path / "crashed"), "--name", "crashed"])
    pointer = tmp_path / "crashed" / "backup" / "latest.json"
    deadline = time.monotonic() + 240
    while not pointer.exists() and crashed.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    crashed.send_signal(signal.SIGKILL)
    crashed.wait(timeout=60)
    assert crashed.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    backup = tmp_path / "crashed" / "backup" / json.loads(pointer.read_text())["backup"]
    step = json.loads((backup / "state.json").read_text())["global_step"]
    assert 0 < step < 18

    resumed = _run_cli([str(recipe), "--workdir", str(tmp_path / "crashed"), "--name", "crashed", "--resume"])
    out, _ = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, out[-3000:]
    assert "resumed from" in out

    def weights(run):
        import keras_resnets  # noqa: F401  (registers the custom layers the saved model uses)

        return keras.models.load_model(tmp_path / "exports" / run / "model.keras").get_weights()

    for a, b in zip(weights("straight"), weights("crashed")):
        np.testing.assert_array_equal(a, b)


def test_nan_loss_stops_the_run_and_keeps_the_last_good_backup(tmp_path):
    config = tiny_config(tmp_path, "epochs=2", "steps_per_epoch=6", "backup_every_steps=1",
                         "optimizer.learning_rate=1e12", "schedule.name='constant'", "optimizer.momentum=0.0")
    with pytest.raises(TrainingError, match="NaN") as err:
        train_and_evaluate(config, tmp_path / "run", log=lambda *_: None)
    assert "--resume" in str(err.value)
    backup = tmp_path / "run" / "backup"
    latest = json.loads((backup / "latest.json").read_text())["backup"]
    import h5py

    with h5py.File(backup / latest / "state.weights.h5") as f:
        arrays = []
        f.visititems(lambda name, obj: arrays.append(obj[()]) if isinstance(obj, h5py.Dataset) else None)
    assert arrays and all(np.all(np.isfinite(a)) for a in arrays)


def test_wandb_offline_keeps_files_in_the_workdir_and_never_writes_the_key(tmp_path, monkeypatch):
    secret = "wandb-secret-key-0123456789abcdef0123456789abcdef01234567"
    home = tmp_path / "home"
    home.mkdir()
    recipe = _recipe_file(tmp_path, ["wandb.mode='offline'", "epochs=1", "steps_per_epoch=2", "deterministic=False"])
    run = _run_cli([str(recipe), "--workdir", str(tmp_path / "run")],
                   env={"WANDB_API_KEY": secret, "HOME": str(home)})
    out, _ = run.communicate(timeout=300)
    assert run.returncode == 0, out[-3000:]
    assert secret not in out
    runs = list((tmp_path / "run" / "wandb").glob("offline-run-*"))
    assert runs and list(runs[0].glob("*.wandb"))
    for path in (tmp_path / "run").rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path
    assert not (home / ".config" / "wandb").exists() and not (home / "wandb").exists()
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert secret not in json.dumps(config)


def test_bad_setups_fail_before_training(tmp_path):
    with pytest.raises(ValueError, match="Unknown model"):
        train_and_evaluate(tiny_config(tmp_path, "model.name='resnet5'"), tmp_path / "a")
    with pytest.raises(ValueError, match="Unknown dataset name"):
        train_and_evaluate(tiny_config(tmp_path, "data.name='imagenet'"), tmp_path / "b")
    empty = tmp_path / "empty"
    empty.mkdir()
    start = time.monotonic()
    with pytest.raises(ValueError, match="cifar10"):
        train_and_evaluate(tiny_config(tmp_path, "data.name='cifar10'", "data.synthetic=None",
                                       f"data.data_dir={str(empty)!r}"), tmp_path / "c")
    assert time.monotonic() - start < 30
    readonly = tmp_path / "readonly"
    readonly.mkdir()
    readonly.chmod(0o500)
    if os.access(readonly, os.W_OK):  # root ignores permissions: use a path under a file instead
        blocker = tmp_path / "blocker"
        blocker.write_text("x")
        readonly = blocker
    with pytest.raises(TrainingError, match="not writable"):
        train_and_evaluate(tiny_config(tmp_path), readonly / "run")
    with pytest.raises(TrainingError, match="positive integer"):
        train_and_evaluate(tiny_config(tmp_path, "epochs=0"), tmp_path / "d")
    bad = tiny_config(tmp_path)
    bad.eval_flip_tta = "yes"  # a recipe file can set any value; --set checks the type already
    with pytest.raises(TrainingError, match="eval_flip_tta must be True or False. Received: 'yes'"):
        train_and_evaluate(bad, tmp_path / "e")
    for extra, message in ((["optimizer.ema_momentum=1.0"], r"optimizer.ema_momentum must be a number in \(0, 1\)"),
                           (["optimizer.clipnorm=1.0", "optimizer.global_clipnorm=1.0"], "Set one of"),
                           (["optimizer.ema_momentum=0.99", "finetune.head_epochs=1"], "cannot be combined")):
        with pytest.raises(TrainingError, match=message):
            train_and_evaluate(tiny_config(tmp_path, *extra), tmp_path / "f")
    assert not (tmp_path / "f").exists()


def test_existing_backup_needs_resume(tmp_path):
    config = tiny_config(tmp_path, "epochs=1", "steps_per_epoch=2")
    train_and_evaluate(config, tmp_path / "run", log=lambda *_: None)
    with pytest.raises(TrainingError, match="--resume"):
        train_and_evaluate(config, tmp_path / "run", log=lambda *_: None)


def test_training_app_on_jax_with_data_parallel_over_two_devices(tmp_path):
    recipe = _recipe_file(tmp_path, ["epochs=1", "steps_per_epoch=3", "deterministic=False"])
    run = _run_cli([str(recipe), "--workdir", str(tmp_path / "run")],
                   env={"KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu", "XLA_FLAGS": TWO_CPU_DEVICES})
    out, _ = run.communicate(timeout=600)
    assert run.returncode == 0, out[-3000:]
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["replicas"] == 2 and summary["steps"] == 3


def test_training_app_with_two_workers_on_localhost(tmp_path):
    """The whole app (callbacks, backups, export) under MultiWorkerMirroredStrategy: two processes on
    127.0.0.1 finish with identical weights; only the chief exports."""
    import socket

    sockets = [socket.socket() for _ in range(2)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    cluster = {"worker": [f"127.0.0.1:{port}" for port in ports]}
    # Synchronized BatchNorm: with per-replica BN the (non-trainable) moving statistics are each worker's
    # own; everything else is identical either way.
    recipe = _recipe_file(tmp_path, ["epochs=2", "steps_per_epoch=3", "deterministic=False", "sync_batch_norm=True"])
    runs = [
        _run_cli([str(recipe), "--workdir", str(tmp_path / "run"), "--name", "mw", "--strategy", "multi_worker"],
                 env={"TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": i}})})
        for i in range(2)
    ]
    try:
        outputs = [run.communicate(timeout=300)[0] for run in runs]
    finally:
        for run in runs:
            run.kill()
    assert [run.returncode for run in runs] == [0, 0], "\n".join(out[-2000:] for out in outputs)
    import h5py

    def arrays(path):
        found = []
        with h5py.File(path) as f:
            f.visititems(lambda n, o: found.append((n, o[()])) if isinstance(o, h5py.Dataset) else None)
        return found

    a = arrays(tmp_path / "run" / "final.weights.h5")
    b = arrays(tmp_path / "run" / "worker-1" / "final.weights.h5")
    assert [n for n, _ in a] == [n for n, _ in b]
    for (_, x), (_, y) in zip(a, b):
        np.testing.assert_array_equal(x, y)
    assert (tmp_path / "exports" / "mw" / "model.keras").is_file()
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["replicas"] == 2


@pytest.mark.parametrize("recipe", ["imagenet_resnet50_rsb_a1", "cifar10_densenet_bc_100_12"])
def test_recipe_smoke_runs(recipe, tmp_path):
    """The smoke override runs the recipe's real code path on synthetic data of the recipe's shape (RSB A1:
    LAMB, thresholded BCE, Mixup/CutMix, RandAugment, repeated augmentation, random-resized crops, stochastic
    depth, bfloat16, a different test resolution)."""
    config = apply_overrides(apply_smoke(load_recipe(recipe)),
                             ["wandb.mode='disabled'", f"export_dir={str(tmp_path / 'exports')!r}"])
    summary = train_and_evaluate(config, tmp_path / "run", log=lambda *_: None)
    assert summary["steps"] == 2 and np.isfinite(summary["test_loss"])


def test_export_formats_write_a_verified_saved_model_and_int8_file(tmp_path):
    """`export_formats` (the shipped recipes: SavedModel + full-int8 LiteRT) are written beside model.keras,
    calibrated and verified on validation images, and listed with their verification in summary.json."""
    from keras_resnets import export
    from training import data as data_lib

    assert load_recipe("fashion_mnist_resnet20").export_formats == ("saved_model", "int8")
    config = tiny_config(tmp_path, "steps_per_epoch=6", "batch_size=16", "epochs=2", "data.validation_split=32",
                         "export_formats=('saved_model', 'int8')")
    summary = train_and_evaluate(config, tmp_path / "run", log=lambda *_: None)
    report = summary["export"]
    assert report["passed"] and "error" not in report and set(report["verification"]) == {"saved_model", "int8"}
    assert report["verified_on"] == report["calibrated_on"] == {"split": "validation", "images": 32}
    assert report["files"] == ["metadata.json", "model.keras", "model_int8.tflite", "saved_model"]
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["export"] == report
    out = Path(summary["export_dir"])
    metadata = json.loads((out / "metadata.json").read_text())
    assert metadata["verification_misses"] == [] and metadata["class_names"] == ["class_0", "class_1", "class_2"]
    assert metadata["recipe"] == "fashion_mnist_resnet20" and metadata["calibration"]["num_images"] == 32
    # The files load and agree with the Keras model on validation images.
    splits, info = data_lib.load_splits(config.data)
    images = splits["validation"][0][:8].astype("float32")
    reference = keras.models.load_model(out / "model.keras").predict(images, verbose=0)
    np.testing.assert_allclose(export.run_saved_model(str(out / "saved_model"), images), reference, atol=1e-4)
    int8 = export.LiteRTRunner(out / "model_int8.tflite")  # ai_edge_litert
    assert int8.input["dtype"] == np.float32  # int8 inside, float32 raw pixels in and probabilities out
    assert any(tensor["dtype"] == np.int8 for tensor in int8.interpreter.get_tensor_details())
    assert int8(images).argmax(-1).tolist() == reference.argmax(-1).tolist()


def test_a_missed_export_target_fails_the_run_and_keeps_its_other_outputs(tmp_path, monkeypatch):
    from keras_resnets import export

    monkeypatch.setitem(export.TARGETS, "saved_model", {"max_abs_diff": -1.0})  # no file can meet it
    config = tiny_config(tmp_path, "steps_per_epoch=2", "epochs=1", "data.validation_split=16",
                         "export_formats=('saved_model',)")
    with pytest.raises(TrainingError, match=r"(?s)export of its saved_model files failed.*saved_model: max_abs_diff") \
            as failed:
        train_and_evaluate(config, tmp_path / "run", log=lambda *_: None)
    assert not isinstance(failed.value, ValueError)  # the command line's exit 1 (the run failed), not 2
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["export"]["passed"] is False and "misses the target" in summary["export"]["error"]
    out = Path(summary["export_dir"])
    assert summary["export"]["files"] == sorted(os.listdir(out)) == ["metadata.json", "model.keras"]
    assert "misses the target" in json.loads((out / "metadata.json").read_text())["export_error"]
    assert all((tmp_path / "run" / name).is_file() for name in ("final.weights.h5", "best.keras", "history.csv"))
