"""The training app never loses a user's data: hostile run names and workdirs, exports that never replace a
folder, diverged runs that export nothing, --resume without a backup, declared value ranges, empty class
folders and unreadable recipes. Every case checks the user's files byte for byte (tests/safety_helpers.py)."""

import json
import os

import keras
import numpy as np
import pytest

from tests.safety_helpers import snapshot, user_tree
from training import cli
from training.callbacks import CrashBackup, NonFiniteError, NonFiniteLossError, StopOnNonFiniteLoss
from training.config import SCHEMA, ConfigError, Rule, apply_overrides, apply_smoke, check_config, list_recipes, \
    load_recipe
from training.train import TrainingError, train_and_evaluate

TINY = ["model.kwargs.stage_depths=(1, 1, 1)", "model.kwargs.stage_widths=(4, 8, 8)", "model.kwargs.stem_width=4",
        "data.name='synthetic'", "data.validation_split=None",
        "data.synthetic={'num_examples': {'train': 64, 'test': 16}, 'image_shape': (12, 12, 1), 'num_classes': 3}",
        "wandb.mode='disabled'", "epochs=1", "steps_per_epoch=2", "batch_size=16"]


def _recipe(path, *extra):
    """A recipe file for a seconds-long run on synthetic data, exporting under the current folder."""
    path.write_text(
        "from training.config import apply_overrides, apply_smoke, load_recipe\n"
        "def get_config():\n"
        "    config = apply_smoke(load_recipe('fashion_mnist_resnet20'))\n"
        f"    return apply_overrides(config, {[*TINY, *extra]!r})\n")
    return str(path)


@pytest.fixture
def sandbox(tmp_path, monkeypatch):
    """A user's tree (files, a committed-looking export, a link to a folder outside) as the working folder."""
    root = user_tree(tmp_path / "home")
    committed = os.path.join(root, "saved_models", "fashion_mnist_resnet20")
    os.makedirs(committed)
    for name, content in (("model.keras", b"trained weights"), ("README.md", b"the shipped model")):
        with open(os.path.join(committed, name), "wb") as f:
            f.write(content)
    monkeypatch.chdir(root)
    return root


@pytest.mark.parametrize("name", ["..", ".", "", "/tmp", "../outside", "notes/deep", ".hidden", "a..b",
                                  "saved_models/../..", "x" * 129, "name with space", "-dash"])
def test_hostile_run_names_are_refused_before_any_work(sandbox, tmp_path, name, capsys):
    before = snapshot(sandbox)
    recipe = _recipe(tmp_path / "tiny.py")
    assert cli.main([recipe, "--workdir", "runs/w", f"--name={name}"]) == 2
    assert "plain name" in capsys.readouterr().err or name == ""
    assert snapshot(sandbox) == before  # not even the workdir was created


@pytest.mark.parametrize("workdir", [".", "..", "notes", "link_to_outside", "README.md", "/proc/x/run",
                                     "notes/deep/data.bin/run"])
def test_hostile_workdirs_are_refused_and_touch_nothing(sandbox, tmp_path, workdir, capsys):
    before = snapshot(os.path.dirname(sandbox))  # the parent too: `..` is the user's home's parent
    recipe = _recipe(tmp_path.parent / f"{tmp_path.name}-recipe.py")
    assert cli.main([recipe, "--workdir", workdir]) == 2
    err = capsys.readouterr().err
    assert "error:" in err and ("not empty" in err or "not a folder" in err or "not writable" in err), err
    assert snapshot(os.path.dirname(sandbox)) == before


def test_a_run_never_replaces_an_export_it_did_not_create(sandbox, tmp_path, capsys):
    """`--workdir runs/fashion_mnist_resnet20` names the run like the committed artifact: it exports to a new
    folder and says so; an explicit --name of an existing export fails before training."""
    before = snapshot(sandbox)
    recipe = _recipe(tmp_path / "tiny.py")
    assert cli.main([recipe, "--workdir", "runs/fashion_mnist_resnet20"]) == 0
    out = capsys.readouterr().out
    assert "fashion_mnist_resnet20-2" in out and "never replaced" in out
    outputs = ("runs", os.path.join("saved_models", "fashion_mnist_resnet20-2"))
    assert snapshot(sandbox, skip=outputs) == before
    assert os.path.isfile(os.path.join(sandbox, outputs[1], "model.keras"))
    with open(os.path.join(sandbox, "runs", "fashion_mnist_resnet20", "summary.json")) as f:
        summary = json.load(f)  # where the figures came from: the command, the seed, the machine
    assert summary["command"] == f"python -m training {recipe} --workdir runs/fashion_mnist_resnet20"
    assert summary["seed"] == 0 and summary["machine"]["cpus"] == os.cpu_count() and "date" in summary["machine"]

    after_first = snapshot(sandbox)
    assert cli.main([recipe, "--workdir", "runs/second", "--name", "fashion_mnist_resnet20"]) == 2
    assert "already exists" in capsys.readouterr().err
    assert snapshot(sandbox) == after_first  # failed before training: no workdir either
    # A workdir that is a link to a user's (empty) folder is used as it is; the link itself stays.
    os.makedirs(os.path.join(sandbox, "outside", "empty"))
    os.symlink(os.path.join(sandbox, "outside", "empty"), os.path.join(sandbox, "runs", "linked"))
    assert cli.main([recipe, "--workdir", "runs/linked", "--name", "linked"]) == 0
    assert os.path.islink(os.path.join(sandbox, "runs", "linked"))
    assert os.path.isfile(os.path.join(sandbox, "outside", "empty", "summary.json"))
    assert snapshot(sandbox, skip=("runs", "saved_models", os.path.join("outside", "empty"))) == \
        {k: v for k, v in after_first.items() if not k.startswith(("runs", "saved_models"))}
    with open(os.path.join(sandbox, "saved_models", "fashion_mnist_resnet20", "README.md"), "rb") as f:
        assert f.read() == b"the shipped model"


def test_export_appearing_during_the_run_is_not_replaced(tmp_path):
    config = apply_overrides(apply_smoke(load_recipe("fashion_mnist_resnet20")),
                             [*TINY, f"export_dir={str(tmp_path / 'exports')!r}"])
    from training import run_export  # where the run's export calls export_keras

    original = run_export.export_keras

    def racing_export(model, target, metadata, overwrite):  # someone creates the folder just before us
        if os.path.basename(target) == "run":
            os.makedirs(target)
            with open(os.path.join(target, "mine.txt"), "w") as f:
                f.write("mine")
        return original(model, target, metadata, overwrite=overwrite)

    messages = []
    run_export.export_keras = racing_export
    try:
        summary = train_and_evaluate(config, tmp_path / "run", log=messages.append)
    finally:
        run_export.export_keras = original
    assert summary["export_dir"].endswith("run-2") and any("appeared during the run" in m for m in messages)
    assert os.listdir(tmp_path / "exports" / "run") == ["mine.txt"]


def test_a_diverged_run_exports_nothing_and_fails(tmp_path, capsys):
    """lr 1e9: the loss or the BatchNorm statistics become non-finite. The run ends with exit 1 and a clear
    message; no export is written and every backup left holds finite weights."""
    os.makedirs(tmp_path / "exports")
    recipe = _recipe(tmp_path / "tiny.py", "optimizer.learning_rate=1e9", "epochs=3", "backup_every_steps=1",
                     f"export_dir={str(tmp_path / 'exports')!r}", "schedule.warmup_epochs=0.0")
    assert cli.main([recipe, "--workdir", str(tmp_path / "run")]) == 1
    err = capsys.readouterr().err
    assert "diverged" in err and "Nothing was exported" in err, err
    assert os.listdir(tmp_path / "exports") == []
    state = CrashBackup.latest(tmp_path / "run" / "backup")
    if state is not None:
        import h5py

        with h5py.File(os.path.join(state["path"], "state.weights.h5")) as f:
            arrays = []
            f.visititems(lambda n, o: arrays.append(o[()]) if isinstance(o, h5py.Dataset) else None)
        assert arrays and all(np.all(np.isfinite(a)) for a in arrays)


def test_divergence_is_told_by_its_exception_type_not_by_words(tmp_path, monkeypatch):
    """A NaN or infinite loss raises `NonFiniteLossError` (a `NonFiniteError`, as CrashBackup's), which the run
    turns into "diverged"; any other error, even one whose message says NaN, goes on as it is."""
    stop = StopOnNonFiniteLoss()
    stop.on_train_batch_end(0, {"loss": 1.0})
    stop.on_train_batch_end(1, {})
    for loss in (float("nan"), float("inf"), -float("inf")):
        with pytest.raises(NonFiniteLossError, match=r"The loss became NaN or infinite"):
            stop.on_train_batch_end(2, {"loss": loss})
    assert issubclass(NonFiniteLossError, NonFiniteError)

    from training import train

    class Unrelated(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            raise RuntimeError("a NaN check of someone else's failed (nan)")

    original = train._callbacks
    monkeypatch.setattr(train, "_callbacks", lambda *args, **kwargs: [Unrelated(), *original(*args, **kwargs)])
    config = apply_overrides(apply_smoke(load_recipe("fashion_mnist_resnet20")),
                             [*TINY, f"export_dir={str(tmp_path / 'exports')!r}"])
    with pytest.raises(RuntimeError, match="someone else's") as raised:
        train_and_evaluate(config, tmp_path / "run", log=lambda *_: None)
    assert not isinstance(raised.value, TrainingError)


def test_backups_and_exports_refuse_non_finite_weights(tmp_path):
    """Infinite BatchNorm statistics behind a finite loss (what lr 1e9 leaves): no backup, no export."""
    import keras_resnets
    from keras_resnets import export

    model = keras_resnets.create_model("resnet20", stage_depths=(1, 1, 1), input_shape=(8, 8, 1), classes=2)
    variance = next(v for v in model.weights if "moving_variance" in v.path)
    variance.assign(np.full(variance.shape, np.inf, "float32"))
    backup = CrashBackup(tmp_path / "backup", every_steps=1)
    backup.set_model(model)
    model.compile(keras.optimizers.SGD(), "mse")
    with pytest.raises(NonFiniteError, match="moving_variance"):
        backup.save(epoch=0)
    assert os.listdir(tmp_path / "backup") == []
    with pytest.raises(NonFiniteError, match="val_loss"):
        backup.on_epoch_end(0, {"loss": 1.0, "val_loss": float("nan")})
    with pytest.raises(export.ExportError, match="non-finite"):
        export.export_keras(model, tmp_path / "out", {})
    with pytest.raises(export.ExportError, match="non-finite"):
        export.export_model(model, tmp_path / "out2", formats=(), preprocessing="none", benchmark=False)
    assert sorted(os.listdir(tmp_path)) == ["backup"]


def test_backups_prune_only_their_own_folders(tmp_path):
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(), "mse")
    directory = tmp_path / "backup"
    directory.mkdir()
    (directory / "step-notmine").mkdir()
    (directory / "step-000000000").mkdir()  # named like a backup, but not one (no state files)
    (directory / "step-000000000" / "keep.txt").write_text("mine")
    backup = CrashBackup(directory, every_steps=1, keep=1)
    backup.set_model(model)
    for step in range(1, 4):
        model.optimizer.iterations.assign(step)
        backup.save(epoch=0)
    assert sorted(os.listdir(directory)) == ["latest.json", "step-000000000", "step-000000003", "step-notmine"]
    assert (directory / "step-000000000" / "keep.txt").read_text() == "mine"


@pytest.mark.parametrize("workdir", ["nothere", "empty", "no_backup"])
def test_resume_without_a_backup_is_an_error_naming_what_was_looked_for(tmp_path, workdir, capsys):
    (tmp_path / "empty").mkdir()
    (tmp_path / "no_backup").mkdir()
    (tmp_path / "no_backup" / "run.json").write_text(json.dumps({"run_id": "x", "run_name": "x"}))
    recipe = _recipe(tmp_path / "tiny.py", f"export_dir={str(tmp_path / 'exports')!r}")
    assert cli.main([recipe, "--workdir", str(tmp_path / workdir), "--resume"]) == 2
    err = capsys.readouterr().err
    assert "found no run to continue" in err and os.path.join(str(tmp_path / workdir), "backup", "latest.json") in err
    assert not (tmp_path / "exports").exists() and not (tmp_path / "nothere").exists()


def _bad_value(rule: Rule):
    """A value just outside `rule`'s range (or of the wrong kind)."""
    if rule.choices is not None:
        return "not-a-choice"
    if rule.kind is bool:
        return "yes"
    if rule.kind is list:
        return [None]
    if rule.kind is str:
        return ""
    if rule.low is not None:
        return rule.low if rule.low_open else rule.low - 1
    return rule.high + 1


@pytest.mark.parametrize("key", sorted(SCHEMA))
def test_every_declared_key_refuses_a_value_outside_its_range(key):
    config = load_recipe("fashion_mnist_resnet20")
    section = config
    *parents, last = key.split(".")
    for part in parents:
        section = section[part]
    section[last] = _bad_value(SCHEMA[key])
    with pytest.raises(ConfigError, match=f"{key} must be .*Received"):
        check_config(config)


def test_every_recipe_passes_and_every_key_has_a_declared_range():
    for name in list_recipes():
        check_config(load_recipe(name))
        check_config(apply_smoke(load_recipe(name)))
    undeclared = load_recipe("fashion_mnist_resnet20")
    undeclared.optimizer["new_knob"] = 3
    with pytest.raises(ConfigError, match="optimizer.new_knob.*no declared range"):
        check_config(undeclared)


@pytest.mark.parametrize("args, message", [
    (["--set", "optimizer.learning_rate=-0.1"], "optimizer.learning_rate must be a number > 0"),
    (["--set", "loss.label_smoothing=1.5"], "loss.label_smoothing must be a number in [0, 1)"),
    (["--set", "backup_every_steps=0"], "backup_every_steps must be a positive integer"),
    (["--set", "eval_batch_size=0"], "eval_batch_size must be a positive integer or None"),
    (["--steps-per-execution", "0"], "steps_per_execution must be a positive integer"),
    (["--epochs", "-1"], "epochs must be a positive integer"),
    (["--batch-size", "0"], "batch_size must be a positive integer"),
    (["--seed", "-3"], "seed must be an integer in [0, 4294967295]"),
    (["--set", "model.kwargs.foo=1"], "'resnet20' has no argument(s) ['foo']"),
    (["--set", "model.kwargs.classes=3"], "set by the training app"),
    (["--set", "augment.random_crop=-2"], "random_crop"),
])
def test_cli_values_are_checked_at_parse_time(args, message, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert cli.main(["fashion_mnist_resnet20", "--wandb", "disabled", *args]) == 2
    assert message in capsys.readouterr().err
    assert os.listdir(tmp_path) == []


def test_unreadable_recipes_are_one_line_errors(tmp_path, capsys):
    broken = tmp_path / "broken.py"
    broken.write_text("def get_config(:\n    pass\n")
    assert cli.main([str(broken)]) == 2
    assert "syntax error at line 1" in capsys.readouterr().err
    failing = tmp_path / "failing.py"
    failing.write_text("def get_config():\n    return 1 / 0\n")
    assert cli.main([str(failing)]) == 2
    assert "ZeroDivisionError" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="must return a Config"):
        (tmp_path / "list.py").write_text("def get_config():\n    return [1]\n")
        load_recipe(str(tmp_path / "list.py"))


def test_an_empty_class_folder_is_an_error_unless_kept(tmp_path):
    import tensorflow as tf

    from training import data

    root = tmp_path / "train"
    for cls, count in (("cat", 2), ("dog", 2), ("empty", 0)):
        (root / cls).mkdir(parents=True)
        for i in range(count):
            image = np.random.default_rng(i).integers(0, 256, (8, 8, 3), dtype=np.uint8)
            tf.io.write_file(str(root / cls / f"{i}.png"), tf.io.encode_png(image))
    (root / "empty" / "notes.txt").write_text("not an image")  # unreadable: the class is still empty
    with pytest.raises(ValueError, match=r"1 of the 3 class folders .* \['empty'\].*keep_empty_classes"):
        data.load_splits({"name": "folder", "path": str(root)})
    _, info = data.load_splits({"name": "folder", "path": str(root), "keep_empty_classes": True})
    assert info.class_names == ["cat", "dog", "empty"] and info.num_examples["train"] == 4


def test_config_errors_are_also_training_errors():
    """API users who catch TrainingError keep catching every refusal; the CLI tells them apart by ValueError."""
    assert issubclass(ConfigError, TrainingError) and issubclass(ConfigError, ValueError)


def test_in_memory_images_and_labels_must_match():
    from training import data

    splits, info = data.load_splits({"name": "synthetic", "synthetic": {"num_examples": 16,
                                                                        "image_shape": (8, 8, 1)}})
    images, labels = splits["train"]
    with pytest.raises(ValueError, match="one label per image. Received 16 images and labels of shape \\(15,\\)"):
        data.make_pipeline((images, labels[:-1]), info, batch_size=4, training=False, seed=0)
    with pytest.raises(ValueError, match=r"class indices in \[0, 10\)"):
        data.make_pipeline((images, labels + 10), info, batch_size=4, training=False, seed=0)
