"""Fine-tuning in the training app (training/finetune.py): a tiny "pretrained" ResNet-18 (one block per stage),
saved as a .keras file or as a timm-layout .safetensors checkpoint, fine-tuned on an image folder of real
Fashion-MNIST PNGs (from the committed sample) with a new 3-class head: phase 1 moves the head alone (backbone
weights and BatchNorm statistics untouched), phase 2 the rest; resume across the phase boundary gives the
uninterrupted result; bad settings fail before any work."""

import json
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

import keras_resnets
from tests.real_data import load_sample
from training import finetune
from training.callbacks import CrashBackup
from training.config import ConfigError, apply_overrides, apply_smoke, load_recipe
from training.recipe_parts import make_schedule
from training.train import build_model, train_and_evaluate

ROOT = Path(__file__).resolve().parents[1]
TINY = dict(stage_depths=(1, 1, 1, 1), stage_widths=(8, 8, 16, 16), stem_width=8, bn_momentum=0.9)
SIZE = 32
# Fashion-MNIST classes of the folder: trouser, sneaker, bag (the sample holds 200 of each class in order).
CLASSES = {1: "trouser", 7: "sneaker", 8: "bag"}
HEAD_STEPS = 3  # steps_per_epoch of the runs below; phase 1 is one epoch


def _write_folder(root, per_class_train=20, per_class_test=5):
    """An image folder of real Fashion-MNIST PNGs: train/<class>/ and test/<class>/ (grey PNGs, read as RGB)."""
    from PIL import Image

    images, labels = load_sample()
    for label, name in CLASSES.items():
        # Written at the model's size, so that the pipeline's resize is the identity and a test can read the
        # files as the model sees them.
        picks = np.flatnonzero(labels == label)[: per_class_train + per_class_test]
        for split, chosen in (("train", picks[:per_class_train]), ("test", picks[per_class_train:])):
            folder = root / split / name
            folder.mkdir(parents=True, exist_ok=True)
            for i in chosen:
                Image.fromarray(images[i, ..., 0]).resize((SIZE, SIZE), Image.BILINEAR).save(folder / f"{i}.png")
    return root


def _pretrained(seed=1, classes=10, **overrides):
    """The "pretrained" model: the tiny ResNet-18 for 10 classes, seeded, with random BatchNorm statistics (so a
    loaded model differs from a fresh one everywhere)."""
    keras.utils.set_random_seed(seed)
    model = keras_resnets.create_model("resnet18", input_shape=(SIZE, SIZE, 3), classes=classes,
                                       include_preprocessing=True, **{**TINY, **overrides})
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            n = layer.gamma.shape[0]
            layer.gamma.assign(rng.uniform(0.5, 1.0, n).astype("float32"))
            layer.beta.assign(rng.normal(0, 0.1, n).astype("float32"))
            layer.moving_mean.assign(rng.normal(0, 0.1, n).astype("float32"))
            layer.moving_variance.assign(rng.uniform(0.5, 1.5, n).astype("float32"))
    return model


def _save_safetensors(model, path):
    """`model`'s weights as a timm-layout state dict in a .safetensors file (no torch needed)."""
    import safetensors.numpy

    from tests.test_conversion import _state_for

    safetensors.numpy.save_file({k: np.ascontiguousarray(v) for k, v in _state_for(model).items()}, str(path))
    return str(path)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return _write_folder(tmp_path_factory.mktemp("photos"))


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """(model, .keras path, .safetensors path) of the pretrained model."""
    directory = tmp_path_factory.mktemp("pretrained")
    model = _pretrained()
    model.save(directory / "pretrained.keras")
    return model, str(directory / "pretrained.keras"), _save_safetensors(model, directory / "pretrained.safetensors")


def _config(tmp_path, folder, weights, *extra):
    """The `finetune` recipe, tiny: the folder at 32x32, the tiny ResNet-18, one head epoch then one more."""
    config = apply_smoke(load_recipe("finetune"))
    return apply_overrides(config, [
        "data.name='folder'", "data.synthetic=None", f"data.path={str(folder / 'train')!r}",
        f"data.test_path={str(folder / 'test')!r}", "data.validation_split=6", f"data.image_size={SIZE}",
        f"data.eval_image_size={SIZE}", "data.crop_fraction=None", "model.name='resnet18'",
        *[f"model.kwargs.{key}={value!r}" for key, value in TINY.items()], f"model.weights={weights!r}",
        "finetune.head_epochs=1", "epochs=2", f"steps_per_epoch={HEAD_STEPS}", "batch_size=8",
        "precision='float32'", "wandb.mode='disabled'", f"export_dir={str(tmp_path / 'exports')!r}",
        "backup_every_steps=1", "augment={'horizontal_flip': True}", *extra])


def _by_path(model, skip=()):
    return {v.path: keras.ops.convert_to_numpy(v).copy() for layer in model.layers if layer.name not in skip
            for v in layer.weights}


def _quiet(*_):
    pass


# ---------------------------------------------------------------------------------------------------------
# Loading the pretrained weights


@pytest.mark.parametrize("kind", ["keras", "safetensors"])
def test_pretrained_weights_load_into_all_but_a_new_head(source, kind):
    model, keras_path, safetensors_path = source
    config = _config(Path("/unused"), Path("/unused"), keras_path if kind == "keras" else safetensors_path)
    built = finetune.build_pretrained(config, (SIZE, SIZE, 3), 3, build_model)
    theirs, ours = _by_path(model, skip=("predictions",)), _by_path(built, skip=("predictions",))
    assert theirs.keys() == ours.keys() and any("moving_variance" in key for key in ours)
    for key in ours:
        np.testing.assert_array_equal(ours[key], theirs[key], err_msg=key)
    # The head is new: sized to the data's 3 classes, freshly initialised (a zero bias).
    assert built.get_layer("predictions").kernel.shape == (16, 3)
    assert not np.any(keras.ops.convert_to_numpy(built.get_layer("predictions").bias))
    # What the export builds the serving model with: the trained model's own preprocessing.
    assert finetune.preprocessing_mode(built) == keras_resnets.preprocessing_mode("resnet18") is not None


def test_a_preset_folder_loads_into_all_but_a_new_head(source, tmp_path):
    model = source[0]
    keras_resnets.save_preset(model, tmp_path / "preset", model_kwargs=TINY)
    config = _config(Path("/unused"), Path("/unused"), str(tmp_path / "preset"))
    assert finetune.weights_kind(config.model.weights) == "preset"
    built = finetune.build_pretrained(config, (SIZE, SIZE, 3), 3, build_model)
    theirs, ours = _by_path(model, skip=("predictions",)), _by_path(built, skip=("predictions",))
    assert theirs.keys() == ours.keys()
    for key in ours:
        np.testing.assert_array_equal(ours[key], theirs[key], err_msg=key)
    # A folder that is not a preset is refused before any work, saying what it lacks.
    (tmp_path / "photos").mkdir()
    with pytest.raises(ConfigError, match=r"model.weights is a folder but not a keras_resnets preset: .* lacks "
                                          r"config.json"):
        train_and_evaluate(_config(tmp_path, tmp_path, str(tmp_path / "photos")), tmp_path / "run", log=_quiet)
    assert not (tmp_path / "run").exists()


def test_a_keras_file_of_another_architecture_is_refused_listing_the_leftovers(tmp_path):
    other = _pretrained(stage_depths=(1, 1, 2, 1))
    other.save(tmp_path / "other.keras")
    config = _config(tmp_path, tmp_path, str(tmp_path / "other.keras"))
    with pytest.raises(ConfigError, match=r"(?s)model.weights=.*other\.keras.*its variables we lack \(\d+\): "
                                          r"\['conv4_block2"):
        finetune.build_pretrained(config, (SIZE, SIZE, 3), 3, build_model)
    # Another input channel count: the stem kernel's shape differs.
    gray_model = keras_resnets.create_model("resnet18", input_shape=(SIZE, SIZE, 1), classes=10, **TINY)
    gray_model.save(tmp_path / "gray.keras")
    with pytest.raises(ConfigError, match=r"shapes that differ.*conv1_conv/kernel \(7, 7, 3, 8\) <- \(7, 7, 1, 8\)"):
        finetune.build_pretrained(_config(tmp_path, tmp_path, str(tmp_path / "gray.keras")), (SIZE, SIZE, 3), 3,
                                  build_model)


def test_other_weights_are_passed_to_the_model_factory(tmp_path, monkeypatch):
    """A pretrained tag (anything but a .keras file or a checkpoint) goes to the factory's `weights=`; what the
    factory says of it comes back naming model.weights."""
    seen = {}

    def factory(name, **kwargs):
        seen.update(kwargs, name=name)
        raise ValueError("no such tag here")

    monkeypatch.setattr(keras_resnets, "create_model", factory)
    config = _config(tmp_path, tmp_path, "timm/resnet18.a1_in1k")
    with pytest.raises(ConfigError, match=r"model.weights='timm/resnet18.a1_in1k' cannot be loaded into 'resnet18' "
                                          r"for 3 classes.*no such tag here"):
        finetune.build_pretrained(config, (SIZE, SIZE, 3), 3, build_model)
    assert seen["weights"] == "timm/resnet18.a1_in1k" and seen["classes"] == 3 and seen["name"] == "resnet18"


# ---------------------------------------------------------------------------------------------------------
# What each phase trains


def test_the_last_n_stages_follow_the_layer_names_in_every_family():
    resnet = keras_resnets.create_model("resnet18", input_shape=(SIZE, SIZE, 3), classes=3, **TINY)
    assert finetune.trainable_layers(resnet, "head") == {"predictions"}
    assert finetune.trainable_layers(resnet, "train") == {layer.name for layer in resnet.layers}
    last = finetune.trainable_layers(resnet, "train", 1)
    assert last - {"avg_pool"} == {"predictions"} | {layer.name for layer in resnet.layers
                                                    if layer.name.startswith("conv5_")}
    two = finetune.trainable_layers(resnet, "train", 2)
    assert {name[:6] for name in two - {"predictions", "avg_pool"}} == {"conv4_", "conv5_"}
    with pytest.raises(ConfigError, match=r"at most 'resnet18''s 4 stages. Received: finetune.unfreeze=5"):
        finetune.trainable_layers(resnet, "train", 5)
    # A pre-activation network's final BatchNorm (post_bn) and a DenseNet's (bn) close the last stage; a DenseNet
    # transition (pool<k>_) belongs to its stage.
    wrn = keras_resnets.create_model("wrn16_2", input_shape=(SIZE, SIZE, 3), classes=3)
    assert "post_bn" in finetune.trainable_layers(wrn, "train", 1)
    assert "conv3_block1_1_conv" not in finetune.trainable_layers(wrn, "train", 1)
    dense = keras_resnets.create_model("densenet121", input_shape=(SIZE, SIZE, 3), classes=3,
                                       block_depths=(1, 1, 1, 1))
    stages = finetune.layer_stages(dense)
    assert stages["bn"] == stages["conv5_block1_1_conv"] == 5 and stages["pool4_conv"] == 4
    assert stages["conv1_conv"] == 1
    assert {stages[name] for name in finetune.trainable_layers(dense, "train", 2) - {"predictions"}} == {4, 5}


def test_phase_schedule_runs_the_recipe_schedule_per_phase():
    config = load_recipe("finetune")  # 2 head epochs at 0.01, 8 more at 0.001, each with a 1-epoch warm-up
    schedule = finetune.make_run_schedule(config, 10, make_schedule)
    rates = [float(keras.ops.convert_to_numpy(schedule(step))) for step in (0, 10, 19, 20, 30, 99)]
    assert rates[0] == 0.0 and rates[1] == pytest.approx(0.01) and 0 < rates[2] < 0.01
    assert rates[3] == 0.0 and rates[4] == pytest.approx(0.001) and 0 <= rates[5] < 1e-4
    restored = keras.optimizers.schedules.deserialize(keras.optimizers.schedules.serialize(schedule))
    assert [float(keras.ops.convert_to_numpy(restored(step))) for step in (0, 10, 19, 20, 30, 99)] == rates
    # Without fine-tuning keys: the recipe's schedule over the whole run, as before.
    plain = load_recipe("fashion_mnist_resnet20")
    assert isinstance(finetune.make_run_schedule(plain, 10, make_schedule), keras.optimizers.schedules.CosineDecay)
    assert finetune.describe(plain, 10) == []


def test_layer_decay_scales_go_down_one_factor_per_stage(source):
    model = source[0]
    scales = finetune.layer_decay_scales(model, 0.5)
    assert "predictions" not in scales and "preprocessing" not in scales  # the classifier keeps the run's rate
    assert scales["conv5_block1_1_conv"] == scales["post_bn" if "post_bn" in scales else "conv5_block1_2_bn"] == 0.5
    assert scales["conv4_block1_1_conv"] == 0.25 and scales["conv2_block1_1_bn"] == 0.5 ** 4
    assert scales["conv1_conv"] == scales["conv1_bn"] == 0.5 ** 5
    assert finetune.layer_decay_scales(model, None) is None and finetune.layer_decay_scales(model, 1.0) is None


def test_layer_scaled_sgd_is_sgd_at_a_learning_rate_per_layer():
    """Two steps of Nesterov SGD with momentum: a variable whose gradient is scaled by 0.25 moves exactly as under
    SGD at a quarter of the learning rate; another keeps the full rate. It saves and loads by name."""
    from training.recipe_parts import LayerScaledSGD

    rng = np.random.default_rng(0)
    start = {name: rng.normal(size=(3, 2)).astype("float32") for name in ("low", "high")}
    grads = [[rng.normal(size=(3, 2)).astype("float32") for _ in range(2)] for _ in range(2)]

    def run(make, names):
        variables = [keras.Variable(start[name], name=name) for name in names]
        optimizers = make()
        for step in range(2):
            for optimizer, subset in optimizers:
                optimizer.apply([grads[step][i] for i in subset], [variables[i] for i in subset])
        return [keras.ops.convert_to_numpy(v) for v in variables]

    kwargs = dict(momentum=0.9, nesterov=True)
    scaled = run(lambda: [(LayerScaledSGD(0.1, scales={"low": 0.25}, **kwargs), [0, 1])], ["low", "high"])
    reference = run(lambda: [(keras.optimizers.SGD(0.025, **kwargs), [0]), (keras.optimizers.SGD(0.1, **kwargs), [1])],
                    ["low", "high"])
    for ours, theirs in zip(scaled, reference):
        np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-7)
    config = LayerScaledSGD(0.1, scales={"low": 0.25}, **kwargs).get_config()
    serialized = keras.saving.serialize_keras_object(LayerScaledSGD.from_config(config))
    again = keras.saving.deserialize_keras_object(serialized)
    assert isinstance(again, LayerScaledSGD) and again.scales == {"low": 0.25} and again.nesterov


# ---------------------------------------------------------------------------------------------------------
# Whole runs


def _spy_on_backups(monkeypatch, record=(), crash_at=None):
    """Wraps `CrashBackup.save`: keeps the model's weights at the optimizer steps in `record` and raises `Crash`
    right after the backup of step `crash_at` (a run killed there)."""
    states = {}
    save = CrashBackup.save

    def spy(self, epoch):
        save(self, epoch)
        step = self._step()
        if step in record and step not in states:
            states[step] = _by_path(self.model)
        if step == crash_at:
            raise Crash(step)

    monkeypatch.setattr(CrashBackup, "save", spy)
    return states


class Crash(Exception):
    pass


def test_phase_one_trains_the_head_alone_and_phase_two_the_backbone(tmp_path, folder, source, monkeypatch):
    model, keras_path, _ = source
    states = _spy_on_backups(monkeypatch, record=(1, HEAD_STEPS, 2 * HEAD_STEPS))
    lines = []
    summary = train_and_evaluate(_config(tmp_path, folder, keras_path), tmp_path / "run", log=lines.append)
    assert f"weights: {keras_path} in all but a new classifier (keras loader)" in lines
    assert ("phase head: epochs 1-1 (from step 0) train the classifier alone, the rest frozen (BatchNorm in "
            "inference mode) at 0.01") in lines
    assert f"phase train: epochs 2-2 (from step {HEAD_STEPS}) train every layer at 0.001" in lines
    pretrained = _by_path(model, skip=("predictions",))
    boundary, end = states[HEAD_STEPS], states[2 * HEAD_STEPS]
    # Phase 1: every backbone variable, BatchNorm statistics included, is the pretrained one.
    for key, value in pretrained.items():
        np.testing.assert_array_equal(boundary[key], value, err_msg=key)
    # The head trained during phase 1 (from its zero bias).
    assert not np.array_equal(states[1]["predictions/kernel"], boundary["predictions/kernel"])
    assert np.any(boundary["predictions/bias"])
    # Phase 2: kernels and BatchNorm moving statistics moved.
    for key in ("conv1_conv/kernel", "conv5_block1_2_conv/kernel", "conv1_bn/moving_mean",
                "conv5_block1_2_bn/moving_variance", "conv3_block1_1_bn/gamma"):
        assert not np.array_equal(end[key], pretrained[key]), key
    assert summary["evaluated_on"] == "test" and summary["steps"] == 2 * HEAD_STEPS
    history = (tmp_path / "run" / "history.csv").read_text().splitlines()
    assert len(history) == 3  # one line per epoch across the two phases
    metadata = json.loads((Path(summary["export_dir"]) / "metadata.json").read_text())
    assert metadata["class_names"] == sorted(CLASSES.values())


@pytest.mark.parametrize("crash_at", [2, HEAD_STEPS + 1])
def test_resume_across_the_phase_boundary_gives_the_uninterrupted_result(tmp_path, folder, source, crash_at,
                                                                         monkeypatch):
    """Killed in phase 1 (resumed there, then crossing into phase 2) or in phase 2 (resumed without the head
    phase ever being entered again): the same final weights as a run never stopped."""
    _, _, checkpoint = source
    straight, crashed = _config(tmp_path, folder, checkpoint), _config(tmp_path, folder, checkpoint)
    straight.run_name, crashed.run_name = "straight", "crashed"
    train_and_evaluate(straight, tmp_path / "straight", log=_quiet)
    with monkeypatch.context() as patch:
        _spy_on_backups(patch, crash_at=crash_at)
        with pytest.raises(Crash):
            train_and_evaluate(crashed, tmp_path / "crashed", log=_quiet)
    lines = []
    train_and_evaluate(crashed, tmp_path / "crashed", resume=True, log=lines.append)
    assert any(f"(step {crash_at})" in line for line in lines), lines

    def weights(run):
        return keras.models.load_model(tmp_path / "exports" / run / "model.keras").get_weights()

    for a, b in zip(weights("straight"), weights("crashed"), strict=True):
        np.testing.assert_array_equal(a, b)


# ---------------------------------------------------------------------------------------------------------
# Errors before any work


@pytest.mark.parametrize("extra, message", [
    (["finetune.head_epochs=3"], r"finetune.head_epochs must be at most epochs \(2\)"),
    (["finetune.unfreeze='some'"], r"finetune.unfreeze must be 'all' or a positive integer .* Received: 'some'"),
    (["finetune.unfreeze=0"], r"finetune.unfreeze must be 'all' or a positive integer .* Received: 0"),
    (["finetune.learning_rate=0.0"], r"finetune.learning_rate must be a number > 0 or None. Received: 0.0"),
    (["model.weights=None"], r"set model.weights .* Received: model.weights=None, finetune.head_epochs=1"),
    (["finetune.layer_decay=0.0"], r"finetune.layer_decay must be a number in \(0, 1\] or None"),
    (["finetune.layer_decay=0.7", "optimizer.name='adamw'"],
     r"finetune.layer_decay needs optimizer.name='sgd'.*"
     r"Received: finetune.layer_decay=0.7 with optimizer.name='adamw'"),
    (["model.weights='missing.safetensors'"], r"model.weights file does not exist. Received: "
                                              r"model.weights='missing.safetensors'"),
    (["model.weights='model.weights.h5'"], r"\.weights\.h5 / \.h5 file holds weights for one architecture"),
])
def test_bad_finetune_settings_fail_before_any_work(tmp_path, folder, source, extra, message):
    config = _config(tmp_path, folder, source[2], *extra)
    with pytest.raises(ConfigError, match=message):
        train_and_evaluate(config, tmp_path / "run", log=_quiet)
    assert not (tmp_path / "run").exists() and not (tmp_path / "exports").exists()


def test_freezing_phases_are_refused_on_jax_before_any_work(tmp_path, folder, source, monkeypatch):
    """Keras 3's JAX optimizer updates exactly the variables it was built with (`stateless_apply`), so a phase that
    trains a subset cannot run there; every layer training (head_epochs=0, unfreeze='all') still can."""
    import training.config

    monkeypatch.setattr(training.config, "_backend", lambda: "jax")
    with pytest.raises(ConfigError, match=r"JAX backend cannot train here.*KERAS_BACKEND=tensorflow.*Received: "
                                          r"finetune.head_epochs=1, finetune.unfreeze='all' on JAX"):
        train_and_evaluate(_config(tmp_path, folder, source[2]), tmp_path / "run", log=_quiet)
    assert not (tmp_path / "run").exists()
    training.config.check_config(_config(tmp_path, folder, source[2], "finetune.head_epochs=0"))


def test_unfreeze_takes_a_count_or_all_from_the_command_line(tmp_path, source):
    config = _config(tmp_path, tmp_path, source[2], "finetune.unfreeze=2")
    assert config.finetune.unfreeze == 2
    assert apply_overrides(config, ["finetune.unfreeze=all"]).finetune.unfreeze == "all"


def test_the_one_command_on_a_timm_checkpoint(tmp_path, folder):
    """The README's command, on a .safetensors written by timm (resnet18 with one block per stage), with only the
    last stage unfrozen and layer-wise learning-rate decay: the run ends with an exported model that classifies the
    test images as summary.json says, and its LiteRT file classifies the folder's PNG files as the Keras model
    does."""
    from tests.test_conversion import _import_timm, _save

    timm = _import_timm()
    import torch

    torch.manual_seed(0)
    checkpoint = _save(timm.create_model("resnet18", pretrained=False, layers=(1, 1, 1, 1)), tmp_path, "safetensors")
    sets = [f"data.path={folder / 'train'}", "model.name=resnet18", f"model.weights={checkpoint}",
            "model.kwargs.stage_depths=(1,1,1,1)", f"data.test_path={folder / 'test'}", "data.validation_split=6",
            f"data.image_size={SIZE}", f"data.eval_image_size={SIZE}", "epochs=2", "finetune.head_epochs=1",
            "finetune.unfreeze=1", "finetune.layer_decay=0.7", "steps_per_epoch=2", "batch_size=8", "precision=float32",
            "wandb.mode=disabled",
            f"export_dir={tmp_path / 'exports'}", "export_formats=('float32',)"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("WANDB_")}
    run = subprocess.run([sys.executable, "-m", "training", "finetune", "--workdir", str(tmp_path / "run"),
                          *[arg for item in sets for arg in ("--set", item)]], cwd=ROOT, capture_output=True,
                         text=True, timeout=600, env=dict(env, TF_CPP_MIN_LOG_LEVEL="3"))
    assert run.returncode == 0, (run.stdout + run.stderr)[-3000:]
    assert "layer-wise learning-rate decay 0.7" in run.stdout
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    exported = keras.models.load_model(Path(summary["export_dir"]) / "model.keras")
    # Only the last stage and the head trained: the stem is timm's.
    import safetensors.numpy

    stem = safetensors.numpy.load_file(checkpoint)["conv1.weight"].transpose(2, 3, 1, 0)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(exported.get_layer("conv1_conv").kernel), stem)
    from PIL import Image

    paths = sorted((folder / "test").glob("*/*.png"))
    pixels = np.stack([np.asarray(Image.open(p).convert("RGB"), "float32") for p in paths])
    labels = np.array([sorted(CLASSES.values()).index(p.parent.name) for p in paths])
    probabilities = exported.predict(pixels, verbose=0)
    accuracy = float(np.mean(probabilities.argmax(-1) == labels))
    assert summary["test_accuracy"] == pytest.approx(accuracy, abs=1e-6)
    from keras_resnets.export.formats import LiteRTRunner

    litert = LiteRTRunner(Path(summary["export_dir"]) / "model_float32.tflite")(pixels)
    np.testing.assert_array_equal(litert.argmax(-1), probabilities.argmax(-1))
    np.testing.assert_allclose(litert, probabilities, atol=1e-4)
