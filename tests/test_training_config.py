"""Recipes resolve (every shipped one, no training) and the config / CLI machinery rejects bad input."""

import json
from pathlib import Path

import keras
import numpy as np
import pytest

import keras_resnets
from training import cli
from training.config import CONFIG_DIR, apply_overrides, apply_smoke, list_recipes, load_recipe, recipe_description
from training.recipe_parts import ThresholdedBinaryCrossentropy, make_loss, make_optimizer, make_schedule

REQUIRED = (
    ["fashion_mnist_resnet20", "fashion_mnist_resnet20_full", "imagenet_resnet50"]
    + [f"cifar10_resnet{d}" for d in (20, 32, 44, 56, 110, 1202)]
    + [f"cifar10_plain{d}" for d in (20, 32, 44, 56, 110)]
    + ["cifar10_preact_resnet164", "cifar10_preact_resnet1001", "cifar10_densenet_bc_100_12",
       "cifar10_densenet_bc_250_24", "cifar10_densenet_bc_190_40", "cifar10_resnext29_8x64d", "cifar10_attention92"]
    + [f"imagenet_resnet50_rsb_{v}" for v in ("a1", "a2", "a3")]
)


def test_every_required_recipe_ships():
    assert set(REQUIRED) <= set(list_recipes())


@pytest.mark.parametrize("name", list_recipes())
def test_recipe_resolves(name):
    config = load_recipe(name)
    keras_resnets.get_model_spec(config.model.name)
    assert config.recipe == name and config.epochs >= 1 and config.batch_size >= 1
    smoke = apply_smoke(config)
    assert smoke.epochs * (smoke.steps_per_epoch or 10**9) <= 10
    schedule = make_schedule(config.schedule, learning_rate=config.optimizer.learning_rate,
                             epochs=config.epochs, steps_per_epoch=100)
    make_optimizer(config.optimizer, schedule)
    make_loss(config.loss)


SNAPSHOT = Path(__file__).parent / "data" / "recipe_configs.json"


def _exact(value):
    """`value` as JSON that keeps what JSON alone would lose: tuples apart from lists, a Config apart from a dict."""
    if isinstance(value, tuple):
        return {"__tuple__": [_exact(v) for v in value]}
    if isinstance(value, list):
        return [_exact(v) for v in value]
    if isinstance(value, dict):
        return {"__type__": type(value).__name__, **{k: _exact(v) for k, v in value.items()}}
    return value


def test_every_recipe_is_the_config_it_was_before_the_tables():
    """tests/data/recipe_configs.json: every shipped recipe's config and `--list` line, dumped (with `_exact`)
    before the recipes that differ only in values became rows of training/configs/_variants.py. Each recipe must
    still give the same keys, in the same order, with the same values and types, and the same description. (Keys
    added since, data.classes / train_per_class, model.stem_whitening, finetune.layer_decay, optimizer.ema_momentum /
    gradient_accumulation_steps / clipnorm / global_clipnorm and the distill section, and the transfer recipes,
    were added to it by re-dumping, after checking that nothing else changed.)"""
    snapshot = json.loads(SNAPSHOT.read_text())
    assert list_recipes() == sorted(snapshot["configs"])
    for name in list_recipes():
        assert json.dumps(_exact(load_recipe(name))) == json.dumps(snapshot["configs"][name]), name
        assert recipe_description(name) == snapshot["descriptions"][name], name


def test_each_recipe_name_is_one_file_or_one_table_row():
    from training.configs import _variants

    rows = [name for family in _variants.FAMILIES for name in family]
    assert len(rows) == len(set(rows)) == len(_variants.VARIANTS)
    files = {p.stem for p in CONFIG_DIR.glob("*.py") if not p.name.startswith("_")}
    assert files and not files & set(rows)
    assert len(list_recipes()) == len(set(list_recipes())) == len(files) + len(rows)
    # Code written when every recipe was a module of training.configs still finds the table's.
    from training.configs import cifar10_resnet56

    config = cifar10_resnet56.get_config()
    config.recipe = "cifar10_resnet56"  # what load_recipe adds
    assert config.model.name == "resnet56" and config == load_recipe("cifar10_resnet56")


def test_he2015_recipe_converts_iterations_to_epochs():
    config = load_recipe("cifar10_resnet110")
    assert config.epochs == 182 and config.schedule.decay_epochs == [91, 137]  # 64k / 32k / 48k iterations
    assert config.data.validation_split == 5000 and config.data.validation_seed == 0  # 45k / 5k
    assert config.schedule.warmup_learning_rate == 0.01
    schedule = make_schedule(config.schedule, learning_rate=0.1, epochs=182, steps_per_epoch=352)
    rates = [float(schedule(step)) for step in (0, 351, 352, 91 * 352 - 1, 91 * 352, 137 * 352 + 1)]
    np.testing.assert_allclose(rates, [0.01, 0.01, 0.1, 0.1, 0.01, 0.001], rtol=1e-6)


def test_rsb_recipes_follow_the_paper():
    a1, a3 = load_recipe("imagenet_resnet50_rsb_a1"), load_recipe("imagenet_resnet50_rsb_a3")
    assert (a1.epochs, a1.optimizer.name, a1.optimizer.learning_rate, a1.optimizer.weight_decay) == (600, "lamb", 5e-3, 0.01)
    assert a1.loss.name == "binary_crossentropy" and a1.loss.bce_target_threshold == 0.2
    assert a1.augment.mixup_alpha == 0.2 and a1.augment.cutmix_alpha == 1.0 and a1.augment.repeated_augmentation
    assert a1.model.kwargs["drop_path_rate"] == 0.05 and a3.model.kwargs["drop_path_rate"] == 0.0
    assert (a3.epochs, a3.optimizer.learning_rate, a3.data.image_size, a3.data.eval_image_size) == (100, 8e-3, 160, 224)
    assert a1.schedule.name == "cosine" and a1.schedule.warmup_epochs == 5
    optimizer = make_optimizer(a1.optimizer, 5e-3)
    assert isinstance(optimizer, keras.optimizers.Lamb)
    model = keras_resnets.create_model("resnet20", stage_depths=(1, 1, 1))
    optimizer.build(model.trainable_variables)
    decayed = {v.path for v in model.trainable_variables if optimizer._use_weight_decay(v)}
    assert decayed and not any(("gamma" in p or "beta" in p or "bias" in p) for p in decayed)


def test_thresholded_bce_binarizes_targets():
    loss = ThresholdedBinaryCrossentropy(threshold=0.2)
    logits = np.array([[4.0, -4.0, 0.0]], "float32")
    soft = np.array([[0.7, 0.1, 0.2]], "float32")  # 0.2 is not above the threshold
    hard = np.array([[1.0, 0.0, 0.0]], "float32")
    np.testing.assert_allclose(loss(soft, logits), loss(hard, logits), rtol=1e-6)


def test_overrides_keep_types_and_reject_unknown_keys():
    config = load_recipe("cifar10_resnet20")
    changed = apply_overrides(config, ["optimizer.learning_rate=0.05", "epochs=3", "optimizer.name=lamb",
                                       "model.kwargs.drop_path_rate=0.1", "augment.random_crop=2"])
    assert changed.optimizer.learning_rate == 0.05 and changed.epochs == 3 and changed.optimizer.name == "lamb"
    assert changed.model.kwargs == {"drop_path_rate": 0.1}
    assert config.epochs == 182  # the recipe itself is untouched
    with pytest.raises(ValueError, match=r"Unknown config key 'optimizer.learning_rat'.*learning_rate"):
        apply_overrides(config, ["optimizer.learning_rat=0.1"])
    with pytest.raises(ValueError, match="is a int"):
        apply_overrides(config, ["epochs=many"])
    with pytest.raises(ValueError, match="key=value"):
        apply_overrides(config, ["epochs"])
    # An augmentation the recipe does not set can be added by name; a misspelt one cannot.
    erased = apply_overrides(config, ["augment.random_erasing={'probability': 0.25}", "augment.mixup_alpha=0.2"])
    assert erased.augment.random_erasing == {"probability": 0.25} and erased.augment.mixup_alpha == 0.2
    with pytest.raises(ValueError, match=r"Unknown config key 'augment.random_erase'.*Keys there"):
        apply_overrides(config, ["augment.random_erase=True"])


def test_unknown_recipe_suggests_close_names():
    with pytest.raises(ValueError, match=r"Did you mean.*cifar10_resnet20"):
        load_recipe("cifar10_resnet2")


def test_recipe_from_a_path(tmp_path):
    path = tmp_path / "my_recipe.py"
    path.write_text(
        "from training.configs import _base\n"
        "def get_config():\n"
        "    c = _base.base_config()\n"
        "    c.model.name = 'resnet32'\n"
        "    return c\n"
    )
    config = load_recipe(str(path))
    assert config.model.name == "resnet32" and config.recipe == "my_recipe"


def test_cli_options_override_the_recipe(capsys):
    args = cli.parse_args(["cifar10_resnet56", "--epochs", "2", "--batch-size", "64", "--wandb", "disabled",
                           "--precision", "mixed_bfloat16", "--seed", "7", "--set", "optimizer.momentum=0.8",
                           "--xla", "--steps-per-execution", "4"])
    config = cli.resolve_config(args)
    assert (config.epochs, config.batch_size, config.wandb.mode, config.precision, config.seed) == (
        2, 64, "disabled", "mixed_bfloat16", 7)
    assert config.optimizer.momentum == 0.8 and config.jit_compile and config.steps_per_execution == 4
    assert cli.main(["--list"]) == 0
    assert "fashion_mnist_resnet20" in capsys.readouterr().out
    assert cli.main(["no_such_recipe"]) == 2
    assert "Unknown recipe" in capsys.readouterr().err


def test_export_formats_are_checked_and_smoke_runs_export_none(monkeypatch, capsys):
    import importlib.util
    import re

    from keras_resnets import export
    from training import config as config_lib
    from training import train

    assert config_lib.EXPORT_FORMATS == tuple(export.FORMATS)
    config = load_recipe("fashion_mnist_resnet20")
    assert config.export_formats == ("saved_model", "int8") and apply_smoke(config).export_formats == ()
    assert apply_overrides(apply_smoke(config), ["export_formats=('int8',)"]).export_formats == ("int8",)
    for bad in (("saved_model", "tflite"), ("INT8",), "int8", None):
        config.export_formats = bad
        with pytest.raises(config_lib.ConfigError, match=r"export_formats must be a list whose items are each one "
                                                         r"of \('saved_model', 'float32', 'float16', 'dynamic_int8', "
                                                         r"'int8', 'onnx'\)\. Received: " + re.escape(repr(bad))):
            config_lib.check_config(config)
    assert cli.main(["fashion_mnist_resnet20", "--wandb", "disabled", "--set", "export_formats=('tflite',)"]) == 2
    assert "export_formats must be a list" in capsys.readouterr().err
    # What the run could not write is refused before any work: another backend, a missing [export] package.
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "ai_edge_litert" else object())
    with pytest.raises(config_lib.ConfigError, match=r"need \['ai_edge_litert'\].*pip install -e '\.\[export\]'"):
        train.check_export_formats(("saved_model", "int8"))
    train.check_export_formats(("saved_model",))
    monkeypatch.setattr(keras.backend, "backend", lambda: "jax")
    with pytest.raises(config_lib.ConfigError, match="need the TensorFlow backend; this run uses 'jax'"):
        train.check_export_formats(("saved_model",))
    train.check_export_formats(())
